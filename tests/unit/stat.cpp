// SPDX-License-Identifier: MIT
// Tests of ovlcore/stat.hpp through overlay<B>: which real entry supplies the attributes,
// st_nlink of merged dirs, st_blocks of metacopy files, st_ino/st_dev on one filesystem
// (spec §9, §12 cases 21, 23). Expected values come from the spec.
#include <catch2/catch.hpp>

#include <string>

#include <ovlcore/backend/memory.hpp>
#include <ovlcore/backend/posix.hpp>
#include <ovlcore/stat.hpp>

#include "support/overlay_fixture.hpp"

using namespace ovlcore;

#define OVL_FIXTURE(f)                                                                             \
  test::overlay_fixture<TestType> f;                                                               \
  if (!f.privileged()) return

namespace {
template <class Fixture>
stat_info real_stat(const Fixture& f, std::string_view layer, std::string_view path) {
    return ovlcore::lstat_path(f.tree.fs(), f.tree.layer(layer), path).value();
}
constexpr std::uint64_t overlay_dev = 0x0123;
} // namespace

TEMPLATE_TEST_CASE("9 stat: the upper entry supplies every attribute of a file over a lower file",
                   "[spec.9][stat]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("U/f", "upper!", {.mode = 0640, .uid = 5, .gid = 6}).add_dir("W");
    f.tree.add_file("A/f", "lower file", {.mode = 0755, .uid = 7, .gid = 8});
    f.mount("lowerdir=A,upperdir=U,workdir=W");
    const auto st = f.ov->lstat("/f").value();
    CHECK(st.mode == 0640);
    CHECK(st.uid == 5);
    CHECK(st.gid == 6);
    CHECK(st.size == 6);
}

TEMPLATE_TEST_CASE("9 stat: a merged dir shows the top layer's attributes", "[spec.9][stat]",
                   memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_dir("A/d", {.mode = 0700, .uid = 3, .gid = 4}).add_file("A/d/a", "a");
    f.tree.add_dir("B/d", {.mode = 0755}).add_file("B/d/b", "b");
    f.mount("lowerdir=A:B");
    const auto st = f.ov->lstat("/d").value();
    CHECK(st.mode == 0700);
    CHECK(st.uid == 3);
    CHECK(st.gid == 4);
}

TEMPLATE_TEST_CASE("12.23 stat: a merged dir has nlink 1 and the top lower dir's st_ino",
                   "[spec.12][spec.9][stat]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_dir("U/d").add_dir("U/d/sub").add_dir("W").add_dir("A/d").add_dir("A/d/x").add_dir(
        "B/d");
    f.tree.add_dir("U/pure").add_dir("U/pure/s");
    f.mount("lowerdir=A:B,upperdir=U,workdir=W", {.overlay_dev = overlay_dev});
    const auto st = f.ov->lstat("/d").value();
    CHECK(st.nlink == 1);
    CHECK(st.ino == real_stat(f, "A", "d").ino);
    CHECK(st.dev == overlay_dev);
    const auto pure = f.ov->lstat("/pure").value(); // not merged: real nlink, upper ino
    CHECK(pure.nlink == real_stat(f, "U", "pure").nlink);
    CHECK(pure.ino == real_stat(f, "U", "pure").ino);
    CHECK(pure.dev == overlay_dev);
}

TEMPLATE_TEST_CASE("12.23 stat: an upper metacopy reports the lower data's st_ino and its own mode",
                   "[spec.12][spec.9][stat][metacopy]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("U/m", "", {.mode = 0600, .size = 11})
        .set_xattr("U/m", "trusted.overlay.metacopy", "");
    f.tree.add_dir("W").add_file("A/m", "lower data\n", {.mode = 0755});
    f.mount("lowerdir=A,upperdir=U,workdir=W,metacopy=on");
    const auto st = f.ov->lstat("/m").value();
    CHECK(st.mode == 0600);
    CHECK(st.ino == real_stat(f, "A", "m").ino);
    CHECK(st.blocks == real_stat(f, "A", "m").blocks); // blocks of the lower data
    CHECK(f.content("/m") == "lower data\n");
}

TEMPLATE_TEST_CASE("9 stat: without upper the top lower entry's ino is used, root included",
                   "[spec.9][stat]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("A/f", "a").add_file("B/f", "b").add_file("B/g", "g");
    f.mount("lowerdir=A:B", {.overlay_dev = overlay_dev});
    CHECK(f.ov->lstat("/f")->ino == real_stat(f, "A", "f").ino);
    CHECK(f.ov->lstat("/g")->ino == real_stat(f, "B", "g").ino);
    CHECK(f.ov->lstat("/")->ino == real_stat(f, "A", "").ino);
    CHECK(f.ov->lstat("/g")->dev == overlay_dev);
}

TEMPLATE_TEST_CASE("9 stat: the root has the upper root's ino", "[spec.9][stat]", memory_fs,
                   posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_dir("U").add_dir("W").add_file("A/a", "a");
    f.mount("lowerdir=A,upperdir=U,workdir=W");
    CHECK(f.ov->lstat("/")->ino == real_stat(f, "U", "").ino);
}

TEMPLATE_TEST_CASE("9 stat: lower hardlinks keep their shared ino", "[spec.9][stat]", memory_fs,
                   posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("A/f", "a").add_hardlink("A/f", "A/g").add_file("B/b", "b");
    f.mount("lowerdir=A:B");
    CHECK(f.ov->lstat("/f")->ino == f.ov->lstat("/g")->ino);
}

TEMPLATE_TEST_CASE("9 stat: symlinks, devices: size, target and rdev of the real entry",
                   "[spec.9][stat]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_symlink("A/l", "some/target").add_device("A/c", file_type::char_device, 1, 3);
    f.tree.add_device("A/b", file_type::block_device, 7, 0).add_file("B/x", "x");
    f.mount("lowerdir=A:B");
    const auto l = f.ov->lstat("/l").value();
    CHECK(l.type == file_type::symlink);
    CHECK(l.size == 11);
    CHECK(f.ov->read_link("/l").value() == "some/target");
    const auto c = f.ov->lstat("/c").value();
    CHECK(c.type == file_type::char_device);
    CHECK(c.rdev_major == 1);
    CHECK(c.rdev_minor == 3);
    CHECK(f.ov->lstat("/b")->rdev_major == 7);
}

TEST_CASE("9 stat: compose_stat on a hand-built entry (blocks estimate, nlink)",
          "[spec.9][spec.6][stat]") {
    overlay_entry<memory_fs> e;
    real_entry<memory_fs> meta;
    meta.st.type = file_type::regular;
    meta.st.size = 200;
    meta.st.blksize = 4096;
    meta.st.blocks = 0;
    e.lowers.push_back(meta);
    e.metacopy = true;
    e.lazy_data = true;
    const overlay_identity samefs{42, true};
    CHECK(
        compose_stat(e, static_cast<const real_entry<memory_fs>*>(nullptr), samefs, false).blocks ==
        8);
    real_entry<memory_fs> data;
    data.st.blocks = 144;
    CHECK(compose_stat(e, &data, samefs, false).blocks == 144);
    CHECK(compose_stat(e, &data, samefs, false).dev == 42);
}
