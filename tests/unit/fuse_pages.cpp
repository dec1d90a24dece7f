// SPDX-License-Identifier: MIT
// fuse::release_whole_pages (ovlcore/fuse/pages.hpp, docs/fuse.md §3): after a BATCH_FORGET the
// server gives the whole pages of the request's array back to the system, leaving the partial
// pages at either end (other data may share them) and small ranges alone.
#include <catch2/catch.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <vector>

#include <ovlcore/fuse/pages.hpp>

namespace {

/// An anonymous private mapping of `pages` pages, every byte 0xab (so every page is resident).
struct mapping {
    explicit mapping(std::size_t pages)
        : page(static_cast<std::size_t>(::sysconf(_SC_PAGESIZE))), size(pages * page),
          base(static_cast<unsigned char*>(
              ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))) {
        REQUIRE(static_cast<void*>(base) != MAP_FAILED);
        std::memset(base, 0xab, size);
    }
    mapping(const mapping&) = delete;
    mapping& operator=(const mapping&) = delete;
    ~mapping() { ::munmap(base, size); }

    /// Which pages are resident (mincore).
    [[nodiscard]] std::vector<bool> resident() const {
        std::vector<unsigned char> v(size / page);
        REQUIRE(::mincore(base, size, v.data()) == 0);
        std::vector<bool> out;
        for (const unsigned char c : v) out.push_back((c & 1) != 0);
        return out;
    }

    std::size_t page;
    std::size_t size;
    unsigned char* base;
};

} // namespace

TEST_CASE("release_whole_pages drops the whole pages of a range, not its partial ends",
          "[fuse][memory]") {
    mapping m(16);
    // From the middle of page 1 to the middle of page 14: pages 2..13 are whole.
    const std::size_t from = m.page + 100, to = 14 * m.page + 100;
    CHECK(ovlcore::fuse::release_whole_pages(m.base + from, to - from) == 12 * m.page);
    const std::vector<bool> resident = m.resident();
    for (std::size_t p = 0; p < 16; ++p) {
        INFO("page " << p);
        CHECK(resident[p] == (p < 2 || p > 13));
    }
    // The partial pages keep their bytes; the released ones read as zeros.
    CHECK(m.base[from] == 0xab);
    CHECK(m.base[2 * m.page - 1] == 0xab);
    CHECK(m.base[2 * m.page] == 0);
    CHECK(m.base[14 * m.page - 1] == 0);
    CHECK(m.base[14 * m.page] == 0xab);
    CHECK(m.base[to - 1] == 0xab);
}

TEST_CASE("release_whole_pages leaves ranges below its minimum alone", "[fuse][memory]") {
    mapping m(8);
    CHECK(ovlcore::fuse::release_whole_pages(m.base + 1, 4 * m.page) == 0); // 3 whole pages
    CHECK(ovlcore::fuse::release_whole_pages(m.base + 10, 100) == 0);
    CHECK(ovlcore::fuse::release_whole_pages(m.base, 0) == 0);
    for (const bool r : m.resident()) CHECK(r);
    CHECK(m.base[2 * m.page] == 0xab);
    CHECK(ovlcore::fuse::release_whole_pages(m.base + 1, 4 * m.page, 3) == 3 * m.page);
    CHECK(m.base[2 * m.page] == 0);
}
