// SPDX-License-Identifier: MIT
// Tests of ovlcore/lowerdata.hpp through overlay<B>: data-only layers, the lazy lowerdata lookup
// at first open, its cache and thread safety, and fs-verity at open (spec §6, §7, §12 cases
// 17-22, 25). Expected values come from the spec.
#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <ovlcore/backend/memory.hpp>
#include <ovlcore/backend/posix.hpp>
#include <ovlcore/lowerdata.hpp>

#include "support/overlay_fixture.hpp"
#include "support/spec_names.hpp"

using namespace ovlcore;

// The file's own namespace: these names stay out of the files compiled next to it
// (docs/contributing.md §18).
namespace lowerdata_test {
using ovlcore::test::spec_names::eio;
using ovlcore::test::spec_names::enoent;
using ovlcore::test::spec_names::mc;
using ovlcore::test::spec_names::redirect;

namespace {

/// A lower metacopy file `A/<name>` of st_size `size` redirecting to `target`.
template <class Tree>
void lazy_file(Tree& t, const std::string& name, const std::string& target,
               std::uint64_t size = 12) {
    t.add_file("A/" + name, "", {.size = size}).set_xattr("A/" + name, mc, "");
    t.set_xattr("A/" + name, redirect, target);
}

/// A metacopy xattr value with a SHA-256 digest (spec §2.2 layout).
std::string sha256_metacopy() {
    std::string v(4 + 32, '\x5a');
    v[0] = 0;
    v[1] = 36;
    v[2] = 0;
    v[3] = 1;
    return v;
}
} // namespace

#define OVL_FIXTURE(f)                                                                             \
  test::overlay_fixture<TestType> f;                                                               \
  if (!f.privileged()) return

TEMPLATE_TEST_CASE("6 data-only: a lower metacopy with an absolute redirect reads data-only data",
                   "[spec.6][dataonly]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("A/meta", "", {.mode = 0600, .uid = 1234, .gid = 99, .size = 100});
    f.tree.set_xattr("A/meta", mc, "").set_xattr("A/meta", redirect, "/data");
    f.tree.add_file("C/data", "C:data\n");
    f.mount("lowerdir=A::C,metacopy=on");
    const auto st = f.ov->lstat("/meta");
    REQUIRE(st);
    CHECK(st->mode == 0600);
    CHECK(st->uid == 1234);
    CHECK(st->size == 100);                  // st_size from the metacopy file
    CHECK(f.content("/meta") == "C:data\n"); // reads end at the data file's end
}

TEMPLATE_TEST_CASE("12.22 data-only: names only in data-only layers are invisible",
                   "[spec.12][spec.6][dataonly]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("A/a", "a").add_file("C/data", "d").add_file("C/some/file", "f");
    f.tree.add_file("D/d/x", "x");
    f.mount("lowerdir=A::C::D,metacopy=on");
    for (const char* p : {"/data", "/some", "/some/file", "/d", "/d/x"}) {
        INFO(p);
        CHECK(f.lstat_error(p) == enoent);
    }
    CHECK(f.names("/") == std::vector<std::string>{"a"});
}

TEMPLATE_TEST_CASE("12.18 data-only: a lazy file stats fine with its data missing; open is ENOENT",
                   "[spec.12][spec.6][dataonly]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    lazy_file(f.tree, "m", "/nowhere");
    f.tree.add_file("C/data", "d");
    f.mount("lowerdir=A::C,metacopy=on");
    CHECK(f.lstat_error("/m") == std::errc{});
    CHECK(f.open_error("/m") == enoent);
}

TEMPLATE_TEST_CASE("12.19 data-only: the lazy walk: symlinks, non-dirs, .. and . in the redirect",
                   "[spec.12][spec.6][dataonly]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    lazy_file(f.tree, "mid_link", "/ln/x");
    lazy_file(f.tree, "final_link", "/fl");
    lazy_file(f.tree, "file_as_dir", "/file/x");
    lazy_file(f.tree, "escape", "/../x");
    lazy_file(f.tree, "inside", "/d/../d/x");
    lazy_file(f.tree, "dot", "/./d/x");
    f.tree.add_symlink("C/ln", "d").add_symlink("C/fl", "d/x").add_file("C/file", "f");
    f.tree.add_file("C/d/x", "C:d/x");
    f.mount("lowerdir=A::C,metacopy=on");
    CHECK(f.open_error("/mid_link") == std::errc::too_many_symbolic_link_levels);
    CHECK(f.open_error("/final_link") == enoent);
    CHECK(f.open_error("/file_as_dir") == std::errc::not_a_directory);
    CHECK(f.open_error("/escape") == std::errc::cross_device_link);
    CHECK(f.content("/inside") == "C:d/x");
    CHECK(f.content("/dot") == "C:d/x");
}

TEMPLATE_TEST_CASE("6 data-only: a dir or whiteout target is ENOENT for that layer",
                   "[spec.6][dataonly]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    lazy_file(f.tree, "to_dir", "/dir");
    lazy_file(f.tree, "to_wh", "/wh");
    f.tree.add_dir("C/dir").add_whiteout("C/wh");
    f.mount("lowerdir=A::C,metacopy=on");
    CHECK(f.open_error("/to_dir") == enoent);
    CHECK(f.open_error("/to_wh") == enoent);
}

TEMPLATE_TEST_CASE("12.20 data-only: all layers failing give the errno of the last one tried",
                   "[spec.12][spec.6][dataonly]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    lazy_file(f.tree, "m", "/ln/x");
    f.tree.add_symlink("C/ln", "x").add_file("D/other", "o"); // C: ELOOP, D: ENOENT
    SECTION("::C::D -> ENOENT") {
        f.mount("lowerdir=A::C::D,metacopy=on");
        CHECK(f.open_error("/m") == enoent);
    }
    SECTION("::D::C -> ELOOP") {
        f.mount("lowerdir=A::D::C,metacopy=on");
        CHECK(f.open_error("/m") == std::errc::too_many_symbolic_link_levels);
    }
    SECTION("the first regular hit wins") {
        f.tree.add_file("D/ln/x", "D:ln/x");
        f.mount("lowerdir=A::C::D,metacopy=on");
        CHECK(f.content("/m") == "D:ln/x");
    }
}

TEMPLATE_TEST_CASE("12.21 data-only: st_blocks is estimated before the first open, real after",
                   "[spec.12][spec.6][spec.9][dataonly]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    lazy_file(f.tree, "m", "/data", 200);
    f.tree.add_file("C/data", std::string(70000, 'd'));
    auto& ov = f.mount("lowerdir=A::C,metacopy=on");
    const auto before = ov.lstat("/m");
    REQUIRE(before);
    CHECK(before->blocks == (200 + before->blksize - 1) / before->blksize * before->blksize / 512);
    REQUIRE(f.open_error("/m") == std::errc{});
    const auto data = ovlcore::lstat_path(f.tree.fs(), f.tree.layer("C"), "data");
    const auto after = ov.lstat("/m");
    REQUIRE(after);
    CHECK(after->blocks == data->blocks);
    CHECK(after->size == 200);
}

TEST_CASE("6 data-only: stat and readdir never touch data-only layers; open resolves once",
          "[spec.6][dataonly][lazy]") {
    test::overlay_fixture<memory_fs, true> f;
    lazy_file(f.tree, "m", "/data");
    f.tree.add_file("C/data", "C:data");
    auto& ov = f.mount("lowerdir=A::C,metacopy=on");
    REQUIRE(ov.lstat("/m"));
    REQUIRE(ov.read_dir("/"));
    REQUIRE(ov.which_layers("/m")->pending_lowerdata == "/data");
    CHECK(f.spy.lookup_beneath_calls == 0);
    CHECK(f.content("/m") == "C:data");
    CHECK(f.content("/m") == "C:data");
    CHECK(f.spy.lookup_beneath_calls == 1); // success is cached for the object's lifetime
    CHECK(ov.which_layers("/m")->data_layer == 2);
}

TEST_CASE("6 data-only: a failed lazy lookup is not cached, every open retries", "[spec.6][lazy]") {
    test::overlay_fixture<memory_fs, true> f;
    lazy_file(f.tree, "m", "/late");
    f.tree.add_file("C/data", "d");
    auto& ov = f.mount("lowerdir=A::C,metacopy=on");
    CHECK(f.open_error("/m") == enoent);
    CHECK(f.open_error("/m") == enoent);
    CHECK(f.spy.lookup_beneath_calls == 2);
    f.tree.add_file("C/late", "arrived"); // appears in the data layer afterwards
    CHECK(f.content("/m") == "arrived");
    CHECK(ov.stat(*ov.resolve("/m")).has_value());
}

TEST_CASE("6 data-only: many threads opening one lazy file resolve it once",
          "[spec.6][lazy][threads][concurrency]") {
    test::overlay_fixture<memory_fs, true> f;
    lazy_file(f.tree, "m", "/data");
    f.tree.add_file("C/data", "C:data");
    auto& ov = f.mount("lowerdir=A::C,metacopy=on");
    std::atomic<int> good{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i)
        threads.emplace_back([&] {
            for (int k = 0; k < 50; ++k) {
                auto file = ov.open("/m");
                char buf[16];
                if (file && ov.read(*file, 0, buf).value_or(0) == 6) ++good;
            }
        });
    for (auto& t : threads) t.join();
    CHECK(good == 400);
    CHECK(f.spy.lookup_beneath_calls == 1);
}

TEMPLATE_TEST_CASE("6 data-only: a metacopy file found in a data layer is used as raw data",
                   "[spec.6][dataonly]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    lazy_file(f.tree, "m", "/data");
    f.tree.add_file("C/data", "", {.size = 4}).set_xattr("C/data", mc, "");
    f.mount("lowerdir=A::C,metacopy=on");
    CHECK(f.content("/m") == std::string(4, '\0'));
}

TEMPLATE_TEST_CASE(
    "6 data-only: upper metacopy direct, relative or no redirect never reach data: EIO",
    "[spec.6][dataonly]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("U/up", "", {.size = 2})
        .set_xattr("U/up", mc, "")
        .set_xattr("U/up", redirect, "/data");
    f.tree.add_dir("W").add_file("A/a", "a").add_file("C/data", "d").add_file("C/rel", "r");
    f.tree.add_file("A/rel", "", {.size = 2})
        .set_xattr("A/rel", mc, "")
        .set_xattr("A/rel", redirect, "rel");
    f.tree.add_file("A/none", "", {.size = 2}).set_xattr("A/none", mc, "");
    f.tree.add_file("C/none", "n");
    f.mount("lowerdir=A::C,upperdir=U,workdir=W,metacopy=on");
    CHECK(f.lstat_error("/up") == eio);
    CHECK(f.lstat_error("/rel") == eio);
    CHECK(f.lstat_error("/none") == eio);
}

TEMPLATE_TEST_CASE("12.25 verity: require + empty metacopy: stat works, open is EIO",
                   "[spec.12][spec.7][verity]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("A/f", "", {.size = 4}).set_xattr("A/f", mc, "").add_file("B/f", "data");
    f.mount("lowerdir=A:B,metacopy=on,verity=require");
    CHECK(f.lstat_error("/f") == std::errc{});
    CHECK(f.open_error("/f") == eio);
}

TEMPLATE_TEST_CASE("12.25 verity: on + an oversized metacopy xattr: open is ERANGE",
                   "[spec.12][spec.7][verity]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("A/f", "", {.size = 4}).set_xattr("A/f", mc, std::string(100, 'z'));
    f.tree.add_file("B/f", "data");
    SECTION("verity=on") {
        f.mount("lowerdir=A:B,metacopy=on,verity=on");
        CHECK(f.lstat_error("/f") == std::errc{});
        CHECK(f.open_error("/f") == std::errc::result_out_of_range);
    }
    SECTION("verity=off never parses the value") {
        f.mount("lowerdir=A:B,metacopy=on");
        CHECK(f.content("/f") == "data");
    }
}

TEMPLATE_TEST_CASE("7 verity: a digest cannot be checked without fs-verity: EIO (a switch)",
                   "[spec.7][verity]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("A/f", "", {.size = 4}).set_xattr("A/f", mc, sha256_metacopy());
    f.tree.add_file("B/f", "data");
    SECTION("verity=on, this kernel (no CONFIG_FS_VERITY)") {
        f.mount("lowerdir=A:B,metacopy=on,verity=on");
        CHECK(f.open_error("/f") == eio);
    }
    SECTION("verity=on, verity_support::assume_match") {
        f.mount("lowerdir=A:B,metacopy=on,verity=on", {.verity = verity_support::assume_match});
        CHECK(f.content("/f") == "data");
    }
    SECTION("verity=off: not checked") {
        f.mount("lowerdir=A:B,metacopy=on");
        CHECK(f.content("/f") == "data");
    }
    SECTION("verity=on, no digest: allowed") {
        f.tree.set_xattr("A/f", mc, "");
        f.mount("lowerdir=A:B,metacopy=on,verity=on");
        CHECK(f.content("/f") == "data");
    }
}

TEMPLATE_TEST_CASE("7 verity: version != 0 or len != size is EIO at open only with verity on",
                   "[spec.7][spec.2.2][verity]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    std::string bad = sha256_metacopy();
    bad[0] = 1;
    f.tree.add_file("A/v", "", {.size = 4}).set_xattr("A/v", mc, bad).add_file("B/v", "data");
    std::string short_len = sha256_metacopy();
    short_len[1] = 20;
    f.tree.add_file("A/l", "", {.size = 4}).set_xattr("A/l", mc, short_len).add_file("B/l", "data");
    SECTION("verity=on") {
        f.mount("lowerdir=A:B,metacopy=on,verity=on");
        CHECK(f.open_error("/v") == eio);
        CHECK(f.open_error("/l") == eio);
    }
    SECTION("verity=off") {
        f.mount("lowerdir=A:B,metacopy=on");
        CHECK(f.content("/v") == "data");
        CHECK(f.content("/l") == "data");
    }
}

TEST_CASE("6 lowerdata_cache: invariant holds before and after resolution", "[spec.6][lazy]") {
    lowerdata_cache<memory_fs> cache;
    CHECK(cache.valid());
    CHECK(cache.peek() == nullptr);
    auto failed =
        cache.get([] { return result<real_entry<memory_fs>>(fail(std::errc::io_error)); });
    CHECK_FALSE(failed.has_value());
    CHECK(cache.peek() == nullptr);
    auto got = cache.get([] { return result<real_entry<memory_fs>>(real_entry<memory_fs>{}); });
    REQUIRE(got.has_value());
    CHECK(cache.peek() == *got);
    CHECK(cache.valid());
}

} // namespace lowerdata_test
