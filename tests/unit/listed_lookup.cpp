// SPDX-License-Identifier: MIT
// Listing-driven negative lookups, proved by counting backend calls (spec §5.1 step 2, §8.2,
// docs/contributing.md §25): once a dir has been listed, a lookup in it skips the lstat of every
// real dir whose listing lacks the name (that lstat would fail with ENOENT: "not found, continue"),
// and every answer stays the one of spec §5.3. Also: cached lookups from many threads at once.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <ovlcore/backend/memory.hpp>
#include <ovlcore/layer_stack.hpp>
#include <ovlcore/overlay.hpp>
#include <ovlcore/trace.hpp>

#include "support/counting_fs.hpp"
#include "support/overlay_fixture.hpp"
#include "support/string_makers.hpp"

using namespace ovlcore;
using ovlcore::test::counting_fs;
using ovlcore::test::fs_op;
using ovlcore::test::make_overlay;

namespace {

constexpr std::string_view three_lowers_options = "lowerdir=/ROOT/l0:/ROOT/l1:/ROOT/l2";

/// Three lowers sharing /d: a file in each layer alone, one in two layers, a whiteout hiding a
/// lower file, a subdir in the bottom layer.
memory_fs three_lowers() {
    memory_fs fs;
    fs.add_file("/ROOT/l0/d/top", "top\n");
    fs.add_whiteout("/ROOT/l0/d/wh");
    fs.add_file("/ROOT/l1/d/mid", "mid\n");
    fs.add_file("/ROOT/l1/d/wh", "hidden\n");
    fs.add_file("/ROOT/l2/d/bottom", "bottom\n");
    fs.add_file("/ROOT/l2/d/mid", "older\n");
    fs.add_dir("/ROOT/l2/d/sub");
    return fs;
}

struct layer_roots {
    file_id l0, l1, l2;
};

layer_roots roots_of(const counting_fs<memory_fs>& fs) {
    const auto l0 = fs.root_id("/ROOT/l0"), l1 = fs.root_id("/ROOT/l1"),
               l2 = fs.root_id("/ROOT/l2");
    REQUIRE(l0.has_value());
    REQUIRE(l1.has_value());
    REQUIRE(l2.has_value());
    return {*l0, *l1, *l2};
}

/// lookup calls (one stat each) per layer made by one overlay lstat of `path`.
template <class Ov>
std::vector<std::uint64_t> lstats_for(const Ov& ov, const counting_fs<memory_fs>& fs,
                                      const layer_roots& r, std::string_view path,
                                      result<stat_info>* answer = nullptr) {
    fs.reset();
    auto st = ov.lstat(path);
    if (answer) *answer = st;
    return {fs.calls(r.l0, fs_op::lookup), fs.calls(r.l1, fs_op::lookup),
            fs.calls(r.l2, fs_op::lookup)};
}

using counts = std::vector<std::uint64_t>;

} // namespace

TEST_CASE("5.1 lookup: after a listing, real dirs lacking the name are not probed",
          "[spec.5.1][spec.8.2][lookup][counting]") {
    const memory_fs base = three_lowers();
    const counting_fs<memory_fs> fs(base);
    const auto r = roots_of(fs);
    auto ov = make_overlay(fs, three_lowers_options);
    REQUIRE(ov.read_dir("/d").has_value());

    result<stat_info> st = fail(std::errc::io_error);
    // §5.1 step 2 "not found, continue": only the bottom layer holds it.
    CHECK(lstats_for(ov, fs, r, "/d/bottom", &st) == counts{0, 0, 1});
    REQUIRE(st.has_value());
    CHECK(st->type == file_type::regular);
    CHECK(st->size == 7);
    // §5.1 step 6: the first regular file found ends the search (the older copy is not probed).
    CHECK(lstats_for(ov, fs, r, "/d/mid", &st) == counts{0, 1, 0});
    REQUIRE(st.has_value());
    CHECK(st->size == 4);
    // §5.1 step 4: a whiteout ends the search: ENOENT.
    CHECK(lstats_for(ov, fs, r, "/d/wh", &st) == counts{1, 0, 0});
    CHECK(st.error() == std::errc::no_such_file_or_directory);
    // A name in no listing: ENOENT without any lstat.
    CHECK(lstats_for(ov, fs, r, "/d/nothing", &st) == counts{0, 0, 0});
    CHECK(st.error() == std::errc::no_such_file_or_directory);
    // §5.3: a name longer than the stack's name_max is ENAMETOOLONG, listing or not.
    CHECK(lstats_for(ov, fs, r, "/d/" + std::string(300, 'x'), &st) == counts{0, 0, 0});
    CHECK(st.error() == std::errc::filename_too_long);
    // Dirs still merge every layer that holds them (§5.1 step 7): here only the bottom one.
    CHECK(lstats_for(ov, fs, r, "/d/sub", &st) == counts{0, 0, 1});
    REQUIRE(st.has_value());
    CHECK(st->type == file_type::directory);
}

TEST_CASE("5.1 lookup: the listing of a dir not searchable by all does not prove absence",
          "[spec.5.1][lookup][counting]") {
    memory_fs base;
    memory_fs::entry_attrs restricted;
    restricted.mode = 0750; // others may not search it: their lstat there would be EACCES
    base.add_dir("/ROOT/l1/d", restricted);
    base.add_file("/ROOT/l0/d/top", "top\n");
    base.add_file("/ROOT/l2/d/bottom", "bottom\n");
    const counting_fs<memory_fs> fs(base);
    const auto r = roots_of(fs);
    auto ov = make_overlay(fs, three_lowers_options);
    REQUIRE(ov.read_dir("/d").has_value());
    result<stat_info> st = fail(std::errc::io_error);
    CHECK(lstats_for(ov, fs, r, "/d/bottom", &st) == counts{0, 1, 1});
    CHECK(st.has_value());
    CHECK(lstats_for(ov, fs, r, "/d/nothing", &st) == counts{0, 1, 0});
    CHECK(st.error() == std::errc::no_such_file_or_directory);
}

TEST_CASE("5.1 lookup: without a listing every layer is probed, with the same answers",
          "[spec.5.1][lookup][counting]") {
    const memory_fs base = three_lowers();
    const counting_fs<memory_fs> fs(base);
    const auto r = roots_of(fs);
    auto ov = make_overlay(fs, three_lowers_options);
    REQUIRE(ov.lstat("/d").has_value());

    result<stat_info> st = fail(std::errc::io_error);
    CHECK(lstats_for(ov, fs, r, "/d/bottom", &st) == counts{1, 1, 1});
    REQUIRE(st.has_value());
    CHECK(st->size == 7);
    CHECK(lstats_for(ov, fs, r, "/d/mid", &st) == counts{1, 1, 0});
    REQUIRE(st.has_value());
    CHECK(st->size == 4);
    CHECK(lstats_for(ov, fs, r, "/d/nothing", &st) == counts{1, 1, 1});
    CHECK(st.error() == std::errc::no_such_file_or_directory);
}

TEST_CASE("5.1 lookup: a traced lookup after a listing consults every layer, probing none twice",
          "[spec.5.1][lookup][counting][trace]") {
    const memory_fs base = three_lowers();
    const counting_fs<memory_fs> fs(base);
    const auto r = roots_of(fs);
    auto ov = make_overlay<counting_fs<memory_fs>, recording_trace>(fs, three_lowers_options);
    REQUIRE(ov.read_dir("/d").has_value());
    ov.trace().clear();

    result<stat_info> st = fail(std::errc::io_error);
    CHECK(lstats_for(ov, fs, r, "/d/bottom", &st) == counts{0, 0, 1});
    REQUIRE(st.has_value());
    std::size_t consulted = 0;
    for (const auto& e : ov.trace().events()) consulted += e.kind == trace_kind::layer_consulted;
    CHECK(consulted == 3); // the trace still shows the top-down search of §5.3
}

TEST_CASE("5.3 lookup: cached lookups from many threads agree",
          "[spec.5.3][lookup][threads][concurrency]") {
    const memory_fs fs = three_lowers();
    auto ov = make_overlay(fs, three_lowers_options);
    const std::vector<std::string> paths = {"/d/top", "/d/mid",     "/d/bottom", "/d/sub",
                                            "/d/wh",  "/d/nothing", "/d/sub/x",  "/d/top/x"};
    std::vector<std::thread> pool;
    std::vector<int> failures(4, 0);
    for (int t = 0; t < 4; ++t)
        pool.emplace_back([&, t] {
            for (int round = 0; round < 200; ++round)
                for (const auto& p : paths) {
                    const auto st = ov.lstat(p);
                    const bool positive =
                        p == "/d/top" || p == "/d/mid" || p == "/d/bottom" || p == "/d/sub";
                    if (st.has_value() != positive) ++failures[static_cast<std::size_t>(t)];
                }
        });
    for (auto& th : pool) th.join();
    CHECK(failures == std::vector<int>(4, 0));
    // Node handles are stable: the same path gives the same node.
    CHECK(*ov.resolve("/d/mid") == *ov.resolve("//d/./mid"));
}
