// SPDX-License-Identifier: MIT
// erofs_fs::adopt takes a descriptor over and closes it on every way out (docs/erofs.md §1),
// std::bad_alloc included (docs/contributing.md §13): each allocation adopt makes is failed in
// turn, and the descriptor must be closed afterwards. Its own executable: it replaces the global
// operator new (docs/contributing.md §31).
#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>

#include <fcntl.h>
#include <unistd.h>

#include <ovlcore/backend/erofs.hpp>

namespace {

std::atomic<long> g_fail_after{-1}; // allocations that still succeed before one fails; -1: none

} // namespace

void* operator new(std::size_t n) {
    if (g_fail_after.load(std::memory_order_relaxed) >= 0 &&
        g_fail_after.fetch_sub(1, std::memory_order_relaxed) == 0)
        throw std::bad_alloc();
    void* p = std::malloc(n != 0 ? n : 1); // NOLINT: failing allocator
    if (p == nullptr) throw std::bad_alloc();
    return p;
}
// Not inlined: g++ would see free() on what operator new returned (-Wmismatched-new-delete).
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); } // NOLINT: see above
[[gnu::noinline]] void operator delete(void* p, std::size_t /*size*/) noexcept {
    std::free(p); // NOLINT: see above
}

int main() {
    // A regular file that is no EROFS image: adopt reads where the superblock would be and
    // refuses it (EINVAL), allocating on the way (the name, the source, the page cache, the
    // reason); the path is long enough not to fit in a std::string's inline buffer.
    const char* tmpdir = std::getenv("TMPDIR");
    std::string path = std::string(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp") +
                       "/ovlcore-adopt-bad-alloc-XXXXXX";
    const int out = ::mkstemp(path.data());
    if (out < 0) {
        std::perror("mkstemp");
        return 1;
    }
    const std::string zeros(8192, '\0');
    const bool written = ::write(out, zeros.data(), zeros.size()) == 8192;
    ::close(out);
    if (!written) {
        std::perror("write");
        ::unlink(path.c_str());
        return 1;
    }

    int leaks = 0;
    long failed = 0; // allocations failed, one per round
    for (long k = 0; k < 10000; ++k) {
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            std::perror("open");
            break;
        }
        std::string reason;
        bool thrown = false;
        bool refused = false;
        g_fail_after.store(k, std::memory_order_relaxed);
        try {
            const auto fs = ovlcore::erofs_fs::adopt(fd, path, &reason);
            refused = !fs && fs.error() == std::errc::invalid_argument;
        } catch (const std::bad_alloc&) {
            thrown = true;
        }
        g_fail_after.store(-1, std::memory_order_relaxed);
        if (::fcntl(fd, F_GETFD) != -1) {
            std::printf("allocation %ld failed: descriptor %d left open\n", k + 1, fd);
            ::close(fd);
            ++leaks;
        }
        if (!thrown) {
            if (!refused) {
                std::printf("adopt did not refuse a file of zeros with EINVAL\n");
                ++leaks;
            }
            break;
        }
        ++failed;
    }
    ::unlink(path.c_str());
    std::printf("erofs_fs::adopt: %ld allocations failed in turn, %d descriptors left open\n",
                failed, leaks);
    return leaks == 0 && failed > 0 ? 0 : 1;
}
