// SPDX-License-Identifier: MIT
// Lazy lowerdata, proved by counting backend calls (spec §6, docs/contributing.md §25): on a
// composefs-like stack (a metacopy layer over a data-only layer, memory backend) a full stat walk
// never calls into the data-only layer; open resolves the data once per object, concurrent openers
// share one resolution, and a failed resolution is not cached (the next open retries).
#include <catch2/catch.hpp>

#include <atomic>
#include <barrier>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <ovlcore/backend/memory.hpp>
#include <ovlcore/layer_stack.hpp>
#include <ovlcore/overlay.hpp>

#include "support/counting_fs.hpp"
#include "support/overlay_fixture.hpp"
#include "support/string_makers.hpp"

using namespace ovlcore;
using ovlcore::test::counting_fs;
using ovlcore::test::failing_fs;
using ovlcore::test::failure_plan;
using ovlcore::test::fs_op;
using ovlcore::test::make_overlay;

namespace {

constexpr std::string_view composefs_like_options =
    "lowerdir=/ROOT/M::/ROOT/D"; // §6: A::C, metacopy off is fine

/// A composefs-like image: /ROOT/M holds the tree as metacopy files (empty metacopy xattr,
/// absolute redirect into the data-only layer /ROOT/D, st_size of the real file), symlinks and
/// dirs; /ROOT/D holds the file contents under content-addressed names.
memory_fs composefs_like() {
    memory_fs fs;
    const auto meta = [&fs](std::string_view path, std::string_view redirect, std::uint64_t size) {
        memory_fs::entry_attrs a;
        a.size = size;
        fs.add_file(path, "", a)
            .set_xattr(path, "trusted.overlay.metacopy", "")
            .set_xattr(path, "trusted.overlay.redirect", redirect);
    };
    fs.add_dir("/ROOT/M/usr/bin");
    meta("/ROOT/M/usr/bin/tool", "/ab/cdef01", 9);
    meta("/ROOT/M/usr/bin/other", "/12/345678", 5000);
    meta("/ROOT/M/etc/conf", "/ab/cdef01", 9); // two metacopies may share one data file
    meta("/ROOT/M/missing", "/ff/000000", 3);  // data absent: stat works, open fails (§12.18)
    fs.add_symlink("/ROOT/M/usr/lib", "bin");
    fs.add_file("/ROOT/M/plain", "plain data\n"); // an ordinary file of the metacopy layer
    fs.add_file("/ROOT/D/ab/cdef01", "tool-data");
    fs.add_file("/ROOT/D/12/345678", std::string(5000, 'x'));
    fs.add_file("/ROOT/D/visible-only-in-data", "never listed\n");
    return fs;
}

/// lstat (and readlink / readdir) of every path reachable from "/", plus `extra` paths.
template <class View>
std::size_t stat_walk(const View& view, const std::vector<std::string>& extra = {}) {
    std::size_t visited = 0;
    std::vector<std::string> pending{"/"};
    while (!pending.empty()) {
        const std::string path = pending.back();
        pending.pop_back();
        auto st = view.lstat(path);
        ++visited;
        if (!st) continue;
        if (st->type == file_type::symlink) static_cast<void>(view.read_link(path));
        if (st->type != file_type::directory) continue;
        auto listing = view.read_dir(path);
        if (!listing) continue;
        for (const auto& e : *listing) pending.push_back((path == "/" ? "" : path) + "/" + e.name);
    }
    for (const auto& p : extra) {
        static_cast<void>(view.lstat(p));
        ++visited;
    }
    return visited;
}

std::string read_all(const overlay<counting_fs<memory_fs>>& ov, std::string_view path) {
    auto f = ov.open(path);
    REQUIRE(f.has_value());
    std::string out;
    char buf[1024];
    for (std::uint64_t off = 0;;) {
        auto n = ov.read(*f, off, std::span<char>(buf));
        REQUIRE(n.has_value());
        if (*n == 0) break;
        out.append(buf, *n);
        off += *n;
    }
    return out;
}

} // namespace

static_assert(backing_filesystem<counting_fs<memory_fs>>);
static_assert(backing_filesystem<failing_fs<memory_fs>>);

TEST_CASE("6 lazy lowerdata: a stat walk makes no call into the data-only layer",
          "[spec.6][lowerdata][counting]") {
    const memory_fs base = composefs_like();
    const counting_fs<memory_fs> fs(base);
    const auto data_root = fs.root_id("/ROOT/D");
    const auto meta_root = fs.root_id("/ROOT/M");
    REQUIRE(data_root.has_value());
    REQUIRE(meta_root.has_value());
    auto ov = make_overlay(fs, composefs_like_options);
    fs.reset(); // mount-time resolution of the layer roots is allowed to touch every layer

    const std::size_t visited =
        stat_walk(ov, {"/visible-only-in-data", "/ab", "/ab/cdef01", "/missing", "/usr/lib/x"});
    INFO(fs.report());
    CHECK(visited >= 9);
    CHECK(fs.counts(*meta_root).total() > 0); // the walk did read the metacopy layer
    CHECK(fs.counts(*data_root).total() == 0);

    SECTION("stat answers come from the metacopy files (§6, §9)") {
        auto st = ov.lstat("/usr/bin/other");
        REQUIRE(st.has_value());
        CHECK(st->type == file_type::regular);
        CHECK(st->size == 5000);
        // §6: before resolution st_blocks = round_up(st_size, st_blksize) / 512
        CHECK(st->blocks == (5000 + st->blksize - 1) / st->blksize * st->blksize / 512);
        auto missing = ov.lstat("/missing");
        REQUIRE(missing.has_value()); // §12.18: stat works although the data is absent
        CHECK(missing->size == 3);
        // §6, §12.22: names only in a data-only layer are invisible
        CHECK(ov.lstat("/visible-only-in-data").error() == std::errc::no_such_file_or_directory);
        CHECK(fs.counts(*data_root).total() == 0);
    }
}

TEST_CASE("6 lazy lowerdata: open resolves the data in the data-only layer",
          "[spec.6][lowerdata][counting]") {
    const memory_fs base = composefs_like();
    const counting_fs<memory_fs> fs(base);
    const auto data_root = fs.root_id("/ROOT/D");
    REQUIRE(data_root.has_value());
    auto ov = make_overlay(fs, composefs_like_options);
    fs.reset();

    CHECK(read_all(ov, "/usr/bin/tool") == "tool-data");
    INFO(fs.report());
    const auto after_first = fs.counts(*data_root);
    CHECK(after_first.succeeded(fs_op::lookup_beneath) == 1);
    CHECK(after_first.of(fs_op::open_file) == 1);
    CHECK(after_first.of(fs_op::read) >= 1);

    // Success is cached for the object's lifetime: a second open does not look up again.
    CHECK(read_all(ov, "/usr/bin/tool") == "tool-data");
    CHECK(fs.counts(*data_root).of(fs_op::lookup_beneath) == 1);

    // Another metacopy sharing the data file is another object: its own resolution.
    CHECK(read_all(ov, "/etc/conf") == "tool-data");
    CHECK(fs.counts(*data_root).succeeded(fs_op::lookup_beneath) == 2);

    SECTION("after resolution st_blocks comes from the data file (§6, §10 Q3)") {
        auto before = ov.lstat("/usr/bin/other");
        REQUIRE(before.has_value());
        const std::uint64_t estimate =
            (5000 + before->blksize - 1) / before->blksize * before->blksize / 512;
        CHECK(before->blocks == estimate);
        CHECK(read_all(ov, "/usr/bin/other") == std::string(5000, 'x'));
        auto data_st = ovlcore::lstat_path(base, base.resolve_dir("/ROOT/D")->ref, "12/345678");
        REQUIRE(data_st.has_value());
        auto after = ov.lstat("/usr/bin/other");
        REQUIRE(after.has_value());
        CHECK(after->blocks == data_st->blocks);
        CHECK(after->size == 5000); // size still from the metacopy file (§9)
    }
}

TEST_CASE("6 lazy lowerdata: concurrent opens share one resolution",
          "[spec.6][lowerdata][counting][threads][concurrency]") {
    constexpr int threads = 8;
    const memory_fs base = composefs_like();
    for (int round = 0; round < 20; ++round) {
        const counting_fs<memory_fs> fs(base);
        const auto data_root = fs.root_id("/ROOT/D");
        REQUIRE(data_root.has_value());
        auto ov = make_overlay(fs, composefs_like_options);
        // look the file up first, so that every thread races on the same object's data slot
        REQUIRE(ov.lstat("/usr/bin/tool").has_value());
        fs.reset();

        std::barrier start(threads);
        std::atomic<int> opened{0};
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t)
            pool.emplace_back([&] {
                start.arrive_and_wait();
                if (ov.open("/usr/bin/tool").has_value()) ++opened;
            });
        for (auto& th : pool) th.join();

        INFO("round " << round << "\n" << fs.report());
        CHECK(opened == threads);
        CHECK(fs.counts(*data_root).succeeded(fs_op::lookup_beneath) == 1);
        CHECK(fs.counts(*data_root).of(fs_op::lookup_beneath) == 1);
        CHECK(fs.counts(*data_root).of(fs_op::open_file) == threads);
    }
}

TEST_CASE("6 lazy lowerdata: concurrent first lookups and opens share one resolution",
          "[spec.6][lowerdata][counting][threads][concurrency]") {
    constexpr int threads = 8;
    const memory_fs base = composefs_like();
    for (int round = 0; round < 20; ++round) {
        const counting_fs<memory_fs> fs(base);
        const auto data_root = fs.root_id("/ROOT/D");
        REQUIRE(data_root.has_value());
        auto ov = make_overlay(fs, composefs_like_options);
        fs.reset();
        std::barrier start(threads);
        std::atomic<int> opened{0};
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t)
            pool.emplace_back([&] {
                start.arrive_and_wait(); // the path lookup itself races too
                if (ov.open("/usr/bin/tool").has_value()) ++opened;
            });
        for (auto& th : pool) th.join();
        INFO("round " << round << "\n" << fs.report());
        CHECK(opened == threads);
        CHECK(fs.counts(*data_root).succeeded(fs_op::lookup_beneath) == 1);
    }
}

TEST_CASE("6 lazy lowerdata: a failed resolution is retried by the next open",
          "[spec.6][lowerdata][counting]") {
    SECTION("data missing: every open looks again and fails with ENOENT") {
        const memory_fs base = composefs_like();
        const counting_fs<memory_fs> fs(base);
        const auto data_root = fs.root_id("/ROOT/D");
        REQUIRE(data_root.has_value());
        auto ov = make_overlay(fs, composefs_like_options);
        fs.reset();
        for (int i = 1; i <= 3; ++i) {
            auto f = ov.open("/missing");
            REQUIRE_FALSE(f.has_value());
            CHECK(f.error() == std::errc::no_such_file_or_directory); // §6, §12.18
            CHECK(fs.counts(*data_root).of(fs_op::lookup_beneath) == static_cast<std::uint64_t>(i));
        }
        CHECK(ov.lstat("/missing").has_value()); // stat still works (§12.18)
    }
    SECTION("a transient backend error is not cached") {
        const memory_fs base = composefs_like();
        failing_fs<memory_fs> failing(base);
        const counting_fs<failing_fs<memory_fs>> fs(failing);
        const auto data_root = fs.root_id("/ROOT/D");
        REQUIRE(data_root.has_value());
        auto ov = make_overlay(fs, composefs_like_options);
        failing.arm(failure_plan{.nth = 1,
                                 .error = std::errc::io_error,
                                 .op = fs_op::lookup_beneath,
                                 .layer = *data_root,
                                 .sticky = false});
        fs.reset();

        auto first = ov.open("/usr/bin/tool");
        REQUIRE_FALSE(first.has_value());
        // §6: with every data layer failing, open fails with the last layer's errno
        CHECK(first.error() == std::errc::io_error);
        CHECK(failing.failed() == 1);

        auto second = ov.open("/usr/bin/tool");
        INFO(fs.report());
        CHECK(second.has_value());
        CHECK(fs.counts(*data_root).of(fs_op::lookup_beneath) == 2);
        CHECK(fs.counts(*data_root).succeeded(fs_op::lookup_beneath) == 1);
    }
}

TEST_CASE("test doubles: failing_fs fails exactly the planned call", "[support][counting]") {
    memory_fs base;
    base.add_file("/L/a", "x").add_file("/L/b", "y");
    failing_fs<memory_fs> fs(base, failure_plan{.nth = 2,
                                                .error = std::errc::permission_denied,
                                                .op = fs_op::lookup,
                                                .layer = {},
                                                .sticky = false});
    auto layer = fs.resolve_dir("/L");
    REQUIRE(layer.has_value());
    auto top = fs.root(layer->ref); // other operations never match
    REQUIRE(top.has_value());
    CHECK(fs.lookup(top->handle, "a").has_value());
    CHECK(fs.lookup(top->handle, "b").error() == std::errc::permission_denied);
    CHECK(fs.lookup(top->handle, "b").has_value());
    CHECK(fs.read_dir(top->handle).has_value()); // other operations never match
    CHECK(fs.matched() == 3);
    CHECK(fs.failed() == 1);

    fs.arm(failure_plan{
        .nth = 1, .error = std::errc::io_error, .op = {}, .layer = {}, .sticky = true});
    CHECK(fs.read_dir(top->handle).error() == std::errc::io_error);
    CHECK(fs.lookup(top->handle, "a").error() == std::errc::io_error);
    fs.disarm();
    CHECK(fs.lookup(top->handle, "a").has_value());
}

TEST_CASE("test doubles: counting_fs attributes calls to layers", "[support][counting]") {
    memory_fs base;
    base.add_file("/L/a", "x").add_file("/M/b", "y");
    const counting_fs<memory_fs> fs(base);
    auto l = fs.resolve_dir("/L");
    auto m = fs.resolve_dir("/M");
    REQUIRE(l.has_value());
    REQUIRE(m.has_value());
    auto l_top = fs.root(l->ref);
    auto m_b = ovlcore::walk(fs, m->ref, "b"); // root + lookup in M
    REQUIRE(l_top.has_value());
    REQUIRE(m_b.has_value());
    CHECK(fs.lookup(l_top->handle, "a").has_value());
    CHECK_FALSE(fs.lookup(l_top->handle, "nope").has_value());
    CHECK(fs.get_xattr(m_b->handle, "user.x").has_value());
    const auto lid = *fs.root_id("/L");
    const auto mid = *fs.root_id("/M");
    CHECK(fs.counts(lid).of(fs_op::lookup) == 2);
    CHECK(fs.counts(lid).failed(fs_op::lookup) == 1);
    CHECK(fs.counts(lid).of(fs_op::root) == 1);
    CHECK(fs.counts(lid).of(fs_op::resolve_dir) == 1);
    CHECK(fs.counts(mid).of(fs_op::get_xattr) == 1);
    CHECK(fs.counts(mid).total_after_mount() == 3);
    CHECK(fs.totals().total() == 8);
    fs.reset();
    CHECK(fs.totals().total() == 0);
}
