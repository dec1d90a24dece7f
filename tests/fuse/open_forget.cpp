// SPDX-License-Identifier: MIT
// OPEN racing the kernel's FORGET (docs/fuse.md §3): reader processes open, read and close lazy
// metacopy files of a fuse::server mount in a loop while the kernel forgets (drop_caches), over an
// overlay that frees every node the kernel forgets (max_unreferenced_nodes 0). Each first open of
// a lazy file resolves its data (spec §6) and then invalidates the kernel's cached attributes.
// Once the OPEN reply is sent, the reader may close the file and the kernel evict the inode, so
// its FORGET can free the node before the answering worker returns: a handler that still reads the
// node after its reply (as `open` once did) is a use after free, which the asan and tsan lanes
// report (the plain lanes only check the data). Every read must return the file's lazy data, and
// the kernel must have forgotten during the run (else the race was not run).
// The readers are processes, so that a crashing server fails the test instead of hanging it.
//
// Exit status: 0 pass, 1 failure, 77 skipped: not root, no usable /dev/fuse, or mounting is not
// allowed here.
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>

#include <ovlcore/backend/memory.hpp>
#include <ovlcore/fuse/server.hpp>
#include <ovlcore/fuse/session.hpp>
#include <ovlcore/layer_stack.hpp>
#include <ovlcore/overlay.hpp>

#include "fuse/fuse_test_mount.hpp"

namespace {

using ovlcore::test::fail;

constexpr int lazy_files = 64;
constexpr int reader_processes = 3;
// The readers run at least `min_run_time`, and on until the server has answered `enough_forgets`
// FORGET requests (the kernel batches them, so their number varies between runs), at most
// `max_run_time`.
constexpr auto min_run_time = std::chrono::seconds(2);
constexpr auto max_run_time = std::chrono::seconds(10);
constexpr std::uint64_t enough_forgets = 2000;

std::string data_of(int i) { return "lazy data of z" + std::to_string(i); }

/// Opens, reads and closes every file until `stop` (a pipe's read end) has something to read or
/// is closed; the exit status of a reader process: 0, 2 (an open or read failed), 3 (wrong data).
int read_in_loop(const std::string& mnt, int stop) {
    char buf[128];
    for (;;) {
        pollfd p{.fd = stop, .events = POLLIN, .revents = 0};
        if (::poll(&p, 1, 0) != 0) return 0;
        for (int i = 0; i < lazy_files; ++i) {
            const int fd = ::open((mnt + "/z" + std::to_string(i)).c_str(), O_RDONLY);
            if (fd < 0) return 2;
            const ssize_t got = ::read(fd, buf, sizeof buf);
            ::close(fd);
            if (got < 0) return 2;
            if (std::string(buf, static_cast<std::size_t>(got)) != data_of(i)) return 3;
        }
    }
    return 0;
}

} // namespace

int main() {
    if (const int status =
            ovlcore::test::enter_private_mount_ns("needs root (a private mount namespace)"))
        return status;

    ovlcore::memory_fs layers;
    for (int i = 0; i < lazy_files; ++i) {
        const std::string z = "/z" + std::to_string(i);
        layers.add_file("/D/obj" + z, data_of(i))
            .add_file("/A" + z, "", {.size = data_of(i).size()})
            .set_xattr("/A" + z, "trusted.overlay.metacopy", "")
            .set_xattr("/A" + z, "trusted.overlay.redirect", "/obj" + z);
    }
    auto stack = ovlcore::make_layer_stack(layers, "lowerdir=/A::/D,metacopy=on");
    if (!stack) return fail("the stack was refused");
    const ovlcore::overlay ov(layers, std::move(*stack), {}, {.max_unreferenced_nodes = 0});

    char dir_template[] = "/tmp/ovlcore-fuse-open-forget-XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) return fail("mkdtemp failed");
    const std::string work = dir_template;
    const std::string mnt = work + "/mnt";
    if (::mkdir(mnt.c_str(), 0755) != 0) return fail("cannot make " + mnt);
    // Processes first: before the mount and while this process has no other thread.
    ovlcore::test::reader_processes processes;
    int stop[2];
    if (::pipe(stop) != 0) return fail("pipe failed");
    if (const int forked = processes.fork(reader_processes, [&](int /*index*/) {
            ::close(stop[1]);
            return read_in_loop(mnt, stop[0]);
        }))
        return forked;
    ::close(stop[0]);

    ovlcore::fuse::server<ovlcore::memory_fs> server(ov, {.cache_timeout = 0});
    ovlcore::test::fuse_test_mount fuse_mount(mnt);
    if (const int status = fuse_mount.mount(server, {"ovlcore_fuse_open_forget", "-o",
                                                     "ro,default_permissions,fsname=open_forget"}))
        return status;

    fuse_mount.start({.max_idle_threads = 16});
    int status = processes.start() ? 0 : fail("cannot start the reader processes");
    {
        const ovlcore::test::cache_dropper dropper(std::chrono::microseconds(200));
        const auto started = std::chrono::steady_clock::now();
        for (;;) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            const auto ran = std::chrono::steady_clock::now() - started;
            if (ran >= max_run_time ||
                (ran >= min_run_time &&
                 server.stats()[ovlcore::fuse::request::forget] >= enough_forgets))
                break;
        }
        ::close(stop[1]);
        if (processes.wait() != 0)
            status = fail("exit 2: an open or read failed; 3: a read returned other data");
    }
    const std::uint64_t opens = server.stats()[ovlcore::fuse::request::open];
    const std::uint64_t forgets = server.stats()[ovlcore::fuse::request::forget];
    if (const int stopped = fuse_mount.stop()) status = stopped;
    ::rmdir(work.c_str());
    if (forgets == 0) status = fail("the kernel never forgot: the race was not run");
    if (status == 0)
        std::printf("%llu opens of lazy files raced %llu FORGET requests\n",
                    static_cast<unsigned long long>(opens),
                    static_cast<unsigned long long>(forgets));
    return status;
}
