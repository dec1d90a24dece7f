// SPDX-License-Identifier: MIT
// Tests of ovlcore/readdir.hpp through overlay<B>: merged vs raw listings, first occurrence
// wins, whiteout and xwhiteout filtering, entry order, impure dirs (spec §8, §3, §12 cases 9, 10,
// 22). Expected values come from the spec, and from kernel recordings where they say so.
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include <ovlcore/backend/memory.hpp>
#include <ovlcore/backend/posix.hpp>
#include <ovlcore/readdir.hpp>

#include "support/overlay_fixture.hpp"
#include "support/spec_names.hpp"

using namespace ovlcore;

// The file's own namespace: these names stay out of the files compiled next to it
// (docs/contributing.md §18).
namespace readdir_test {
using ovlcore::test::spec_names::opaque;

namespace {
using name_list = std::vector<std::string>;
constexpr auto wh_xattr = "trusted.overlay.whiteout";

template <class Fixture>
std::map<std::string, file_type> types(const Fixture& f, std::string_view path) {
    std::map<std::string, file_type> out;
    const auto listing = f.ov->read_dir(path);
    for (const auto& e : listing.value()) out[e.name] = e.type;
    return out;
}
} // namespace

#define OVL_FIXTURE(f)                                                                             \
  test::overlay_fixture<TestType> f;                                                               \
  if (!f.privileged()) return

TEMPLATE_TEST_CASE("8.2 readdir: the union of all layers, without . and ..", "[spec.8.2][readdir]",
                   memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("A/f", "A").add_file("A/onlyA", "a").add_file("A/d/a", "a");
    f.tree.add_file("B/f", "B").add_file("B/onlyB", "b").add_file("B/d/b", "b");
    f.tree.add_file("C/d/c", "c");
    f.mount("lowerdir=A:B:C");
    CHECK(f.names("/") == name_list{"d", "f", "onlyA", "onlyB"});
    CHECK(f.names("/d") == name_list{"a", "b", "c"});
}

TEMPLATE_TEST_CASE("8.2 readdir: a name keeps the d_type of its topmost occurrence",
                   "[spec.8.2][readdir]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("U/x", "file").add_dir("W").add_dir("A/x").add_symlink("A/l", "t");
    f.tree.add_dir("B/l");
    f.mount("lowerdir=A:B,upperdir=U,workdir=W");
    const auto t = types(f, "/");
    CHECK(t.at("x") == file_type::regular);
    CHECK(t.at("l") == file_type::symlink);
}

TEMPLATE_TEST_CASE("8.2 readdir: the lowest layer's names come first, in its order",
                   "[spec.8.2][readdir]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("A/a", "a").add_file("B/b", "b");
    f.mount("lowerdir=A:B");
    const auto listing = f.ov->read_dir("/").value();
    REQUIRE(listing.size() == 2);
    CHECK(listing[0].name == "b"); // observed [b, ., .., a] (spec §8.2 step 3)
    CHECK(listing[1].name == "a");
}

TEMPLATE_TEST_CASE("8.2 readdir: char 0:0 whiteouts are dropped and hide the name below",
                   "[spec.8.2][readdir][whiteout]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_whiteout("A/f").add_whiteout("A/d").add_file("A/keep", "k");
    f.tree.add_file("B/f", "f").add_file("B/d/x", "x").add_file("B/keep2", "k");
    f.tree.add_device("B/blk0", file_type::block_device, 0, 0);
    f.mount("lowerdir=A:B");
    CHECK(f.names("/") == name_list{"blk0", "keep", "keep2"});
}

TEMPLATE_TEST_CASE(
    "12.9 readdir: an xwhiteout is listed unless its lower dir has opaque=x and is not lowest",
    "[spec.12][spec.3][readdir][whiteout]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    // marked: A/d has opaque=x and A is not the lowest layer -> filtered.
    f.tree.add_dir("A/marked").set_xattr("A/marked", opaque, "x");
    f.tree.add_file("A/marked/f", "")
        .set_xattr("A/marked/f", wh_xattr, "")
        .add_file("A/marked/a", "a");
    f.tree.add_file("B/marked/f", "B").add_file("B/marked/g", "g");
    // unmarked: no opaque=x -> listed as a regular file although lstat says ENOENT.
    f.tree.add_file("A/plain/f", "")
        .set_xattr("A/plain/f", wh_xattr, "")
        .add_file("B/plain/g", "g");
    // lowest: the marker is never read in the lowest normal layer -> listed.
    f.tree.add_dir("B/low").set_xattr("B/low", opaque, "x");
    f.tree.add_file("B/low/f", "").set_xattr("B/low/f", wh_xattr, "").add_file("A/low/a", "a");
    f.mount("lowerdir=A:B");
    CHECK(f.names("/marked") == name_list{"a", "g"});
    CHECK(f.names("/plain") == name_list{"f", "g"});
    CHECK(types(f, "/plain").at("f") == file_type::regular);
    CHECK(f.lstat_error("/plain/f") == std::errc::no_such_file_or_directory);
    CHECK(f.names("/low") == name_list{"a", "f"});
    CHECK(f.lstat_error("/marked/f") == std::errc::no_such_file_or_directory);
}

TEMPLATE_TEST_CASE("3 readdir: an xwhiteout in the upper layer is listed even under opaque=x",
                   "[spec.3][readdir][whiteout]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_dir("U/d").set_xattr("U/d", opaque, "x").add_dir("W");
    f.tree.add_file("U/d/f", "").set_xattr("U/d/f", wh_xattr, "").add_file("A/d/f", "A");
    f.tree.add_file("A/d/g", "g");
    f.mount("lowerdir=A,upperdir=U,workdir=W");
    CHECK(f.names("/d") == name_list{"f", "g"});
    CHECK(f.lstat_error("/d/f") == std::errc::no_such_file_or_directory);
}

TEMPLATE_TEST_CASE("3 readdir: opaque=x on a non-lowest lower root filters the root listing",
                   "[spec.3][readdir][whiteout]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_dir("A")
        .set_xattr("A", opaque, "x")
        .add_file("A/f", "")
        .set_xattr("A/f", wh_xattr, "");
    f.tree.add_file("B/f", "B").add_file("B/g", "g");
    f.tree.add_dir("C")
        .set_xattr("C", opaque, "x")
        .add_file("C/h", "")
        .set_xattr("C/h", wh_xattr, "");
    f.mount("lowerdir=A:B:C");
    CHECK(f.names("/") == name_list{"g", "h"}); // C is the lowest: its marker is not read
}

TEMPLATE_TEST_CASE(
    "12.10 readdir: a whiteout in a non-merged dir is listed raw; an origin xattr merges",
    "[spec.12][spec.8.1][readdir][whiteout]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_whiteout("A/raw/w").add_file("A/raw/f", "f");
    f.tree.add_whiteout("A/orig/w")
        .add_file("A/orig/f", "f")
        .set_xattr("A/orig", "trusted.overlay.origin", "");
    f.tree.add_file("B/b", "b");
    f.mount("lowerdir=A:B");
    CHECK(f.names("/raw") == name_list{"f", "w"});
    CHECK(types(f, "/raw").at("w") == file_type::char_device);
    CHECK(f.lstat_error("/raw/w") == std::errc::no_such_file_or_directory);
    CHECK(f.names("/orig") == name_list{"f"});
}

TEMPLATE_TEST_CASE("8.1 readdir: the root is always listed merged", "[spec.8.1][readdir]",
                   memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_whiteout("A/w").add_file("A/a", "a").add_file("C/c", "c");
    f.mount("lowerdir=A::C"); // a single normal lower: the root is not a merged dir
    CHECK(f.names("/") == name_list{"a"});
}

TEMPLATE_TEST_CASE("8.2 readdir: an opaque dir lists only its own entries",
                   "[spec.8.2][readdir][opaque]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_dir("U/d").set_xattr("U/d", opaque, "y").add_file("U/d/u", "u").add_dir("W");
    f.tree.add_file("A/d/a", "a");
    f.mount("lowerdir=A,upperdir=U,workdir=W");
    CHECK(f.names("/d") == name_list{"u"});
}

TEMPLATE_TEST_CASE("8.2 readdir: in an impure upper dir, entries whose lookup fails are dropped",
                   "[spec.8.2][readdir]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_dir("U/d").set_xattr("U/d", "trusted.overlay.impure", "y").add_dir("W");
    f.tree.add_file("U/d/u", "u").add_file("U/d/m", "", {.size = 4});
    f.tree.set_xattr("U/d/m", "trusted.overlay.metacopy", "").add_file("A/d/a", "a");
    f.mount("lowerdir=A,upperdir=U,workdir=W,metacopy=on");
    CHECK(f.names("/d") == name_list{"a", "u"}); // /d/m is EIO (metacopy without data)
}

// The kernel looks some names up through the overlay while it lists a dir (spec §8.2 steps 5-6).
// Expected values from Linux 6.18 recordings (tests/data/extra/expected/readdir_*.jsonl); where they
// contradict spec §8.2 step 6 ("a failing lookup drops the entry"), the kernel wins.
constexpr auto metacopy = "trusted.overlay.metacopy";

TEMPLATE_TEST_CASE(
    "8.2 readdir: an impure upper dir listed raw fails with the errno of a failing lookup",
    "[spec.8.2][readdir]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    // readdir_impure_lookup_error, readdir_impure_raw_lookup_eio, readdir_impure_raw_negative_listed
    f.tree.add_dir("U/d").set_xattr("U/d", "trusted.overlay.impure", "y").add_dir("W");
    f.tree.add_file("U/d/m", "").set_xattr("U/d/m", metacopy, "").add_file("U/d/f", "f");
    f.tree.add_dir("U/e").set_xattr("U/e", "trusted.overlay.impure", "y").add_whiteout("U/e/w");
    f.tree.add_file("U/e/x", "").set_xattr("U/e/x", wh_xattr, "").add_file("U/e/f", "f");
    f.tree.add_dir("U/p").add_file("U/p/m", "").set_xattr("U/p/m", metacopy, "");
    f.tree.add_file("A/a", "a");
    f.mount("lowerdir=A,upperdir=U,workdir=W"); // metacopy=off: m is refused (EPERM)
    CHECK(f.ov->read_dir("/d").error() == std::errc::operation_not_permitted);
    CHECK(f.names("/e") == name_list{"f", "w", "x"}); // negative lookups change nothing
    CHECK(f.names("/p") == name_list{"m"});           // not impure: no lookup, m listed
    CHECK(f.lstat_error("/p/m") == std::errc::operation_not_permitted);
}

TEMPLATE_TEST_CASE(
    "8.2 readdir: a failing lookup fails the listing only when it is first in its getdents call",
    "[spec.8.2][readdir]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    // readdir_impure_merged_two_failures: . .. a are emitted, m1's failure is swallowed (dropped),
    // the next getdents call starts with m2 and fails.
    f.tree.add_dir("U/d").set_xattr("U/d", "trusted.overlay.impure", "y").add_dir("W");
    f.tree.add_file("U/d/m1", "").set_xattr("U/d/m1", metacopy, "");
    f.tree.add_file("U/d/m2", "").set_xattr("U/d/m2", metacopy, "").add_file("A/d/a", "a");
    // readdir_xwhiteout_check_error_dropped_subdir: the xwhiteout check of the refused metacopy
    // A/x/b fails after B/x's . and .. were emitted: b is dropped without error.
    f.tree.add_dir("A/x")
        .set_xattr("A/x", opaque, "x")
        .add_file("A/x/b", "")
        .set_xattr("A/x/b", metacopy, "");
    f.tree.add_dir("B/x").add_file("B/b", "b");
    f.mount("lowerdir=A:B,upperdir=U,workdir=W");
    CHECK(f.ov->read_dir("/d").error() == std::errc::operation_not_permitted);
    CHECK(f.names("/x").empty());
    CHECK(f.lstat_error("/x/b") == std::errc::operation_not_permitted);
}

TEST_CASE("8.2 readdir: a failing xwhiteout check in the dir's lowest layer, after . and ..",
          "[spec.8.2][spec.3][readdir]") {
    // memory_fs lists "." and ".." first (as tmpfs): the failure of b is swallowed, b dropped
    // (the kernel on ext4 fails readdir_xwhiteout_check_error_dir_lowest with EPERM because ext4's
    // hash order puts b before the dots; posix_fs reports that order through dot_positions).
    test::overlay_fixture<memory_fs> f;
    f.tree.add_dir("U/a").add_dir("W").add_dir("A/a").set_xattr("A/a", opaque, "x");
    f.tree.add_file("A/a/b", "")
        .set_xattr("A/a/b", metacopy, "")
        .add_file("A/a/c", "c")
        .add_dir("B");
    f.mount("lowerdir=A:B,upperdir=U,workdir=W");
    CHECK(f.names("/a") == name_list{"c"});
}

TEMPLATE_TEST_CASE("3 readdir: only DT_REG names of an x-marked dir get the xwhiteout check",
                   "[spec.3][spec.8.2][readdir][whiteout]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    // readdir_xwhiteout_check_not_regular, readdir_xwhiteout_check_positive_listed,
    // readdir_xwhiteout_unmarked_error_listed
    f.tree.add_dir("A/d")
        .set_xattr("A/d", opaque, "x")
        .add_symlink("A/d/l", "nowhere")
        .add_dir("A/d/s");
    f.tree.add_file("A/d/x", "").set_xattr("A/d/x", wh_xattr, "").add_file("A/d/f", "f");
    f.tree.add_file("B/d/g", "g");
    f.tree.add_file("A/u/b", "").set_xattr("A/u/b", metacopy, "").add_file("B/u/g", "g");
    f.mount("lowerdir=A:B");
    CHECK(f.names("/d") == name_list{"f", "g", "l", "s"});
    CHECK(f.names("/u") == name_list{"b", "g"}); // unmarked: no check, the refused b is listed
    CHECK(f.lstat_error("/u/b") == std::errc::operation_not_permitted);
}

TEMPLATE_TEST_CASE("8 readdir: listing a non-directory is ENOTDIR", "[spec.8][readdir]", memory_fs,
                   posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("A/f", "f").add_file("B/b", "b");
    f.mount("lowerdir=A:B");
    CHECK(f.ov->read_dir("/f").error() == std::errc::not_a_directory);
}

} // namespace readdir_test
