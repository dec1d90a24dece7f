// SPDX-License-Identifier: MIT
// Tests of include/ovlcore/backend/{memory,posix}.hpp that run the same assertions on both
// backends (docs/contributing.md §20): every backing_filesystem operation, the §6 lookup_beneath
// errno table (each row verified against openat2 on Linux 6.18.44), xattrs, devices and whiteouts
// (§3), file sizes that differ from the content. Expected values come from the spec and from what
// the kernel (ext4) reports, never from running ovlcore.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include <ovlcore/backend/memory.hpp>
#include <ovlcore/backend/posix.hpp>

#include "support/fs_tree.hpp"
#include "support/string_makers.hpp"

using ovlcore::file_type;
using ovlcore::memory_fs;
using ovlcore::posix_fs;
using ovlcore::test::fs_tree;

namespace {

using ovlcore::test::err;

/// Reads a whole file through the backend (1000-byte chunks).
template <class B>
std::string read_all(const B& fs, const typename B::handle& h) {
    auto f = fs.open_file(h);
    REQUIRE(err(f) == "ok");
    std::string out;
    char buf[1000];
    for (std::uint64_t off = 0;;) {
        auto n = fs.read(*f, off, std::span<char>(buf, sizeof buf));
        REQUIRE(err(n) == "ok");
        if (*n == 0) break;
        out.append(buf, *n);
        off += *n;
    }
    return out;
}

template <class B>
std::string read_all(const B& fs, const typename B::layer_ref& layer, std::string_view path) {
    auto obj = ovlcore::walk(fs, layer, path);
    REQUIRE(err(obj) == "ok");
    return read_all(fs, obj->handle);
}

using ovlcore::test::sorted;

template <class T>
bool skip_unprivileged() {
    if (fs_tree<T>::privileged()) return false;
    WARN("SKIPPED: needs root (mknod, chown or trusted.* xattrs on disk)");
    return true;
}

} // namespace

TEMPLATE_TEST_CASE("0 backend lstat: regular files, directories and symlinks", "[backend][spec.0]",
                   memory_fs, posix_fs) {
    fs_tree<TestType> t;
    t.add_file("L/f", "hello", {.mode = 0640u})
        .add_dir("L/d", {.mode = 0700u})
        .add_dir("L/d/s1")
        .add_dir("L/d/s2")
        .add_file("L/d/x", "")
        .add_symlink("L/lnk", "f")
        .add_symlink("L/dangling", "nowhere/at/all");
    const auto& fs = t.fs();
    const auto L = t.layer("L");

    auto f = ovlcore::lstat_path(fs, L, "f");
    REQUIRE(err(f) == "ok");
    CHECK(f->type == file_type::regular);
    CHECK(f->mode == 0640u);
    CHECK(f->size == 5u);
    CHECK(f->nlink == 1u);
    CHECK(f->blocks == 8u); // one 4 KiB block, in 512-byte units
    CHECK(f->blksize == 4096u);

    auto d = ovlcore::lstat_path(fs, L, "d");
    REQUIRE(err(d) == "ok");
    CHECK(d->type == file_type::directory);
    CHECK(d->mode == 0700u);
    CHECK(d->nlink == 4u); // ".", the entry in L, ".." of s1 and of s2

    auto root = ovlcore::lstat_path(fs, L, "");
    REQUIRE(err(root) == "ok");
    CHECK(root->type == file_type::directory);
    CHECK(root->mode == 0755u); // missing parents are 0755
    CHECK(root->nlink == 3u);   // one subdirectory: d

    auto l = ovlcore::lstat_path(fs, L, "lnk");
    REQUIRE(err(l) == "ok");
    CHECK(l->type == file_type::symlink); // not followed
    CHECK(l->mode == 0777u);
    CHECK(l->size == 1u); // the target's length

    auto dl = ovlcore::lstat_path(fs, L, "dangling");
    REQUIRE(err(dl) == "ok");
    CHECK(dl->type == file_type::symlink);
    CHECK(dl->size == 14u);

    CHECK(err(ovlcore::lstat_path(fs, L, "missing")) == "ENOENT");
    CHECK(err(ovlcore::lstat_path(fs, L, "f/x")) == "ENOTDIR");
    CHECK(err(ovlcore::lstat_path(fs, L, "d/missing/x")) == "ENOENT");

    // Unique inode numbers, one device for the whole tree.
    std::set<std::uint64_t> inos{f->ino, d->ino, root->ino, l->ino, dl->ino};
    CHECK(inos.size() == 5u);
    CHECK(f->dev == root->dev);
    CHECK(l->dev == root->dev);
}

TEMPLATE_TEST_CASE("0 backend handles: root, lookup one name, path_of", "[backend][spec.0]",
                   memory_fs, posix_fs) {
    // backend.hpp: lookup(dir, name) is one step, never followed; ENOENT absent, ENOTDIR when the
    // handle is not a dir (a symlink to a dir included), ENAMETOOLONG above NAME_MAX (ext4: 255).
    fs_tree<TestType> t;
    t.add_file("L/d/e/f", "deep")
        .add_symlink("L/s", "d")
        .add_file("L/g", "g")
        .add_hardlink("L/g", "L/d/g2");
    const auto& fs = t.fs();
    const auto L = t.layer("L");
    auto root = fs.root(L);
    REQUIRE(err(root) == "ok");
    CHECK(root->st.type == file_type::directory);
    CHECK(fs.path_of(root->handle).empty());
    auto d = fs.lookup(root->handle, "d");
    REQUIRE(err(d) == "ok");
    auto e = fs.lookup(d->handle, "e");
    REQUIRE(err(e) == "ok");
    auto f = fs.lookup(e->handle, "f");
    REQUIRE(err(f) == "ok");
    CHECK(f->st.type == file_type::regular);
    CHECK(f->st.size == 4);
    CHECK(fs.path_of(d->handle) == "d");
    CHECK(fs.path_of(f->handle) == "d/e/f");
    CHECK(read_all(fs, f->handle) == "deep");
    // A copy of a handle names the same object, after the original is gone.
    auto copy = [&] {
        auto tmp = fs.lookup(d->handle, "e");
        REQUIRE(err(tmp) == "ok");
        return tmp->handle;
    }();
    auto again = fs.lookup(copy, "f");
    REQUIRE(err(again) == "ok");
    CHECK(again->st.ino == f->st.ino);
    // A hard link is named by the name it was looked up with.
    auto g = fs.lookup(root->handle, "g");
    auto g2 = fs.lookup(d->handle, "g2");
    REQUIRE(err(g) == "ok");
    REQUIRE(err(g2) == "ok");
    CHECK(g->st.ino == g2->st.ino);
    CHECK(fs.path_of(g->handle) == "g");
    CHECK(fs.path_of(g2->handle) == "d/g2");
    // Errors.
    CHECK(err(fs.lookup(root->handle, "missing")) == "ENOENT");
    CHECK(err(fs.lookup(f->handle, "x")) == "ENOTDIR");
    auto s = fs.lookup(root->handle, "s");
    REQUIRE(err(s) == "ok");
    CHECK(s->st.type == file_type::symlink); // not followed
    CHECK(err(fs.lookup(s->handle, "e")) == "ENOTDIR");
    CHECK(err(fs.lookup(root->handle, std::string(256, 'n'))) == "ENAMETOOLONG");
    CHECK(err(fs.read_dir(f->handle)) == "ENOTDIR");
    // The path convenience is one lookup per component and follows nothing.
    CHECK(err(ovlcore::walk(fs, L, "d/e/f")) == "ok");
    CHECK(err(ovlcore::walk(fs, L, "s/e")) == "ENOTDIR");
    CHECK(err(ovlcore::walk(fs, L, "d/../d")) == "EINVAL");
}

TEMPLATE_TEST_CASE("0 backend lstat: owners, defaults and special bits", "[backend][spec.0]",
                   memory_fs, posix_fs) {
    if (skip_unprivileged<TestType>()) return;
    fs_tree<TestType> t;
    t.add_file("L/owned", "x", {.mode = 04755u, .uid = 1000, .gid = 100})
        .add_file("L/plain", "x")
        .add_dir("L/sticky", {.mode = 01777u, .uid = 5, .gid = 6})
        .add_symlink("L/lnk", "plain", {.uid = 7, .gid = 8});
    const auto L = t.layer("L");
    auto o = ovlcore::lstat_path(t.fs(), L, "owned");
    REQUIRE(err(o) == "ok");
    CHECK(o->mode == 04755u);
    CHECK(o->uid == 1000u);
    CHECK(o->gid == 100u);
    auto p = ovlcore::lstat_path(t.fs(), L, "plain");
    REQUIRE(err(p) == "ok");
    CHECK(p->mode == 0644u);
    CHECK(p->uid == 0u);
    CHECK(p->gid == 0u);
    auto s = ovlcore::lstat_path(t.fs(), L, "sticky");
    REQUIRE(err(s) == "ok");
    CHECK(s->mode == 01777u);
    CHECK(s->uid == 5u);
    CHECK(s->gid == 6u);
    auto l = ovlcore::lstat_path(t.fs(), L, "lnk");
    REQUIRE(err(l) == "ok");
    CHECK(l->uid == 7u);
    CHECK(l->gid == 8u);
}

TEMPLATE_TEST_CASE("3 backend: whiteouts, devices, fifos and sockets", "[backend][spec.3]",
                   memory_fs, posix_fs) {
    if (skip_unprivileged<TestType>()) return;
    fs_tree<TestType> t;
    t.add_whiteout("L/wh")
        .add_device("L/null", file_type::char_device, 1, 3)
        .add_device("L/loop", file_type::block_device, 7, 0, {.mode = 0660u})
        .add_device("L/blk00", file_type::block_device, 0, 0)
        .add_fifo("L/fifo")
        .add_socket("L/sock");
    const auto& fs = t.fs();
    const auto L = t.layer("L");

    auto wh = ovlcore::lstat_path(fs, L, "wh"); // spec §3: char device 0:0, mode 0000
    REQUIRE(err(wh) == "ok");
    CHECK(wh->type == file_type::char_device);
    CHECK(wh->rdev_major == 0u);
    CHECK(wh->rdev_minor == 0u);
    CHECK(wh->mode == 0u);
    CHECK(wh->size == 0u);

    auto null = ovlcore::lstat_path(fs, L, "null");
    REQUIRE(err(null) == "ok");
    CHECK(null->type == file_type::char_device);
    CHECK(null->rdev_major == 1u);
    CHECK(null->rdev_minor == 3u);
    CHECK(null->mode == 0644u);

    auto loop = ovlcore::lstat_path(fs, L, "loop");
    REQUIRE(err(loop) == "ok");
    CHECK(loop->type == file_type::block_device);
    CHECK(loop->rdev_major == 7u);
    CHECK(loop->rdev_minor == 0u);
    CHECK(loop->mode == 0660u);

    auto b00 = ovlcore::lstat_path(fs, L, "blk00");
    REQUIRE(err(b00) == "ok");
    CHECK(b00->type == file_type::block_device);

    auto fifo = ovlcore::lstat_path(fs, L, "fifo");
    REQUIRE(err(fifo) == "ok");
    CHECK(fifo->type == file_type::fifo);
    CHECK(fifo->rdev_major == 0u);
    auto sock = ovlcore::lstat_path(fs, L, "sock");
    REQUIRE(err(sock) == "ok");
    CHECK(sock->type == file_type::socket);

    // d_type in the listing
    auto list = ovlcore::read_dir_path(fs, L, "");
    REQUIRE(err(list) == "ok");
    for (const auto& e : *list) {
        auto st = ovlcore::lstat_path(fs, L, e.name);
        REQUIRE(err(st) == "ok");
        CHECK(e.type == st->type);
        CHECK(e.ino == st->ino);
    }
    CHECK(list->size() == 6u);

    // Only regular files can be opened for reading; nothing else is opened.
    CHECK(err(ovlcore::open_file_path(fs, L, "wh")) == "ENXIO");
    CHECK(err(ovlcore::open_file_path(fs, L, "null")) == "ENXIO");
    CHECK(err(ovlcore::open_file_path(fs, L, "loop")) == "ENXIO");
    CHECK(err(ovlcore::open_file_path(fs, L, "fifo")) == "ENXIO");
    CHECK(err(ovlcore::open_file_path(fs, L, "sock")) == "ENXIO");
}

TEMPLATE_TEST_CASE("0 backend: a regular file's size may differ from its content",
                   "[backend][spec.0][spec.6]", memory_fs, posix_fs) {
    // A metacopy file (spec §2.2, §6) has st_size from the original and no data: content written
    // first, then truncate to `size` (a sparse extension reads as zeros).
    fs_tree<TestType> t;
    t.add_file("L/longer", "abc", {.size = 10000u})
        .add_file("L/shorter", "hello world", {.size = 5u})
        .add_file("L/meta", "", {.size = 1048576u})
        .add_file("L/empty", "")
        .add_file("L/big", std::string(5000, 'x'));
    const auto& fs = t.fs();
    const auto L = t.layer("L");

    auto longer = ovlcore::lstat_path(fs, L, "longer");
    REQUIRE(err(longer) == "ok");
    CHECK(longer->size == 10000u);
    CHECK(longer->blocks == 8u); // only the first block holds data
    CHECK(read_all(fs, L, "longer") == "abc" + std::string(10000 - 3, '\0'));

    auto shorter = ovlcore::lstat_path(fs, L, "shorter");
    REQUIRE(err(shorter) == "ok");
    CHECK(shorter->size == 5u);
    CHECK(read_all(fs, L, "shorter") == "hello");

    auto meta = ovlcore::lstat_path(fs, L, "meta");
    REQUIRE(err(meta) == "ok");
    CHECK(meta->size == 1048576u);
    CHECK(meta->blocks == 0u); // fully sparse
    const std::string zeros = read_all(fs, L, "meta");
    CHECK(zeros.size() == 1048576u);
    CHECK(zeros.find_first_not_of('\0') == std::string::npos);

    auto empty = ovlcore::lstat_path(fs, L, "empty");
    REQUIRE(err(empty) == "ok");
    CHECK(empty->size == 0u);
    CHECK(empty->blocks == 0u);
    CHECK(read_all(fs, L, "empty").empty());

    auto big = ovlcore::lstat_path(fs, L, "big");
    REQUIRE(err(big) == "ok");
    CHECK(big->blocks == 16u); // two 4 KiB blocks
}

TEMPLATE_TEST_CASE("0 backend open_file/read: offsets, short buffers, end of file",
                   "[backend][spec.0]", memory_fs, posix_fs) {
    fs_tree<TestType> t;
    t.add_file("L/f", "0123456789").add_dir("L/d").add_symlink("L/lnk", "f");
    const auto& fs = t.fs();
    const auto L = t.layer("L");
    auto f = ovlcore::open_file_path(fs, L, "f");
    REQUIRE(err(f) == "ok");
    char buf[4];
    auto n = fs.read(*f, 0, std::span<char>(buf, 4));
    REQUIRE(err(n) == "ok");
    CHECK(std::string(buf, *n) == "0123");
    n = fs.read(*f, 8, std::span<char>(buf, 4));
    REQUIRE(err(n) == "ok");
    CHECK(std::string(buf, *n) == "89");
    n = fs.read(*f, 10, std::span<char>(buf, 4));
    REQUIRE(err(n) == "ok");
    CHECK(*n == 0u);
    n = fs.read(*f, 1000, std::span<char>(buf, 4));
    REQUIRE(err(n) == "ok");
    CHECK(*n == 0u);
    n = fs.read(*f, 3, std::span<char>(buf, 0));
    REQUIRE(err(n) == "ok");
    CHECK(*n == 0u);

    // The file handle is movable and keeps working.
    typename TestType::file moved = std::move(*f);
    n = fs.read(moved, 5, std::span<char>(buf, 4));
    REQUIRE(err(n) == "ok");
    CHECK(std::string(buf, *n) == "5678");

    CHECK(err(ovlcore::open_file_path(fs, L, "d")) == "EISDIR");
    CHECK(err(ovlcore::open_file_path(fs, L, "")) == "EISDIR");
    CHECK(err(ovlcore::open_file_path(fs, L, "lnk")) == "ELOOP"); // O_NOFOLLOW
    CHECK(err(ovlcore::open_file_path(fs, L, "missing")) == "ENOENT");
    CHECK(err(ovlcore::open_file_path(fs, L, "f/x")) == "ENOTDIR");
}

TEMPLATE_TEST_CASE("0 backend read_dir: entries without . and .., d_type and d_ino",
                   "[backend][spec.8]", memory_fs, posix_fs) {
    fs_tree<TestType> t;
    t.add_file("L/a", "1")
        .add_dir("L/b")
        .add_symlink("L/c", "b")
        .add_file("L/b/inner", "2")
        .add_dir("L/empty");
    const auto& fs = t.fs();
    const auto L = t.layer("L");

    auto list = ovlcore::read_dir_path(fs, L, "");
    REQUIRE(err(list) == "ok");
    std::vector<std::string> names;
    for (const auto& e : *list) {
        names.push_back(e.name);
        auto st = ovlcore::lstat_path(fs, L, e.name);
        REQUIRE(err(st) == "ok");
        CHECK(e.type == st->type);
        CHECK(e.ino == st->ino);
    }
    CHECK(sorted(names) == std::vector<std::string>{"a", "b", "c", "empty"});

    auto sub = ovlcore::read_dir_path(fs, L, "b");
    REQUIRE(err(sub) == "ok");
    REQUIRE(sub->size() == 1u);
    CHECK((*sub)[0].name == "inner");
    CHECK((*sub)[0].type == file_type::regular);

    auto empty = ovlcore::read_dir_path(fs, L, "empty");
    REQUIRE(err(empty) == "ok");
    CHECK(empty->empty());

    CHECK(err(ovlcore::read_dir_path(fs, L, "a")) == "ENOTDIR");
    CHECK(err(ovlcore::read_dir_path(fs, L, "c")) ==
          "ENOTDIR"); // O_DIRECTORY | O_NOFOLLOW on a symlink
    CHECK(err(ovlcore::read_dir_path(fs, L, "missing")) == "ENOENT");
}

TEMPLATE_TEST_CASE("0 backend read_dir: large directories are listed completely",
                   "[backend][spec.8]", memory_fs, posix_fs) {
    fs_tree<TestType> t;
    std::vector<std::string> expected;
    for (int i = 0; i < 1500; ++i) {
        std::string name = "entry-with-a-long-name-to-fill-buffers-" + std::to_string(i);
        t.add_file("L/" + name, "");
        expected.push_back(name);
    }
    auto list = ovlcore::read_dir_path(t.fs(), t.layer("L"), "");
    REQUIRE(err(list) == "ok");
    std::vector<std::string> names;
    for (const auto& e : *list) names.push_back(e.name);
    CHECK(sorted(names) == sorted(expected));
}

TEMPLATE_TEST_CASE("0 backend read_link", "[backend][spec.0]", memory_fs, posix_fs) {
    fs_tree<TestType> t;
    const std::string long_target(3000, 'x');
    t.add_symlink("L/rel", "../some/where")
        .add_symlink("L/abs", "/etc/passwd")
        .add_symlink("L/long", long_target)
        .add_file("L/f", "x")
        .add_dir("L/d");
    const auto& fs = t.fs();
    const auto L = t.layer("L");
    auto rel = ovlcore::read_link_path(fs, L, "rel");
    REQUIRE(err(rel) == "ok");
    CHECK(*rel == "../some/where");
    auto abs = ovlcore::read_link_path(fs, L, "abs");
    REQUIRE(err(abs) == "ok");
    CHECK(*abs == "/etc/passwd");
    auto lg = ovlcore::read_link_path(fs, L, "long");
    REQUIRE(err(lg) == "ok");
    CHECK(*lg == long_target);
    auto lgst = ovlcore::lstat_path(fs, L, "long");
    REQUIRE(err(lgst) == "ok");
    CHECK(lgst->size == 3000u);
    CHECK(err(ovlcore::read_link_path(fs, L, "f")) == "EINVAL");
    CHECK(err(ovlcore::read_link_path(fs, L, "d")) == "EINVAL");
    CHECK(err(ovlcore::read_link_path(fs, L, "")) == "EINVAL");
    CHECK(err(ovlcore::read_link_path(fs, L, "missing")) == "ENOENT");
}

TEMPLATE_TEST_CASE("2.1 backend xattrs: values, absence, binary data, listing",
                   "[backend][spec.2.1]", memory_fs, posix_fs) {
    fs_tree<TestType> t;
    const std::string binary("\0\x01\xfb\x00z", 5);
    t.add_dir("L/d").add_file("L/f", "x").add_file("L/plain", "y");
    t.set_xattr("L/d", "user.overlay.opaque", "y")
        .set_xattr("L/f", "user.overlay.redirect", "/a/b")
        .set_xattr("L/f", "user.bin", binary)
        .set_xattr("L/f", "user.empty", "")
        .set_xattr("L", "user.root", "R");
    const auto& fs = t.fs();
    const auto L = t.layer("L");

    auto opaque = ovlcore::get_xattr_path(fs, L, "d", "user.overlay.opaque");
    REQUIRE(err(opaque) == "ok");
    REQUIRE(opaque->has_value());
    CHECK(**opaque == "y");
    auto bin = ovlcore::get_xattr_path(fs, L, "f", "user.bin");
    REQUIRE(err(bin) == "ok");
    REQUIRE(bin->has_value());
    CHECK(**bin == binary);
    auto empty =
        ovlcore::get_xattr_path(fs, L, "f", "user.empty"); // present but empty is not absent
    REQUIRE(err(empty) == "ok");
    REQUIRE(empty->has_value());
    CHECK((*empty)->empty());
    auto root = ovlcore::get_xattr_path(fs, L, "", "user.root");
    REQUIRE(err(root) == "ok");
    REQUIRE(root->has_value());
    CHECK(**root == "R");

    auto absent = ovlcore::get_xattr_path(fs, L, "plain", "user.overlay.opaque");
    REQUIRE(err(absent) == "ok");
    CHECK(!absent->has_value());
    CHECK(err(ovlcore::get_xattr_path(fs, L, "missing", "user.x")) == "ENOENT");
    CHECK(err(ovlcore::get_xattr_path(fs, L, "f", "")) ==
          "ERANGE"); // getxattr(2) with an empty name

    auto names = ovlcore::list_xattr_path(fs, L, "f");
    REQUIRE(err(names) == "ok");
    CHECK(sorted(*names) ==
          std::vector<std::string>{"user.bin", "user.empty", "user.overlay.redirect"});
    auto none = ovlcore::list_xattr_path(fs, L, "plain");
    REQUIRE(err(none) == "ok");
    CHECK(none->empty());
    CHECK(err(ovlcore::list_xattr_path(fs, L, "missing")) == "ENOENT");
}

TEMPLATE_TEST_CASE("2.1 backend xattrs: trusted.* and symlinks are read without following",
                   "[backend][spec.2.1]", memory_fs, posix_fs) {
    if (skip_unprivileged<TestType>()) return;
    fs_tree<TestType> t;
    t.add_file("L/target", "x").add_symlink("L/lnk", "target").add_whiteout("L/wh");
    t.set_xattr("L/target", "trusted.overlay.metacopy", "")
        .set_xattr("L/lnk", "trusted.overlay.origin", "lnk-only")
        .set_xattr("L/wh", "trusted.test", "on-whiteout");
    const auto& fs = t.fs();
    const auto L = t.layer("L");
    auto on_link = ovlcore::get_xattr_path(fs, L, "lnk", "trusted.overlay.origin");
    REQUIRE(err(on_link) == "ok");
    REQUIRE(on_link->has_value());
    CHECK(**on_link == "lnk-only");
    auto not_followed = ovlcore::get_xattr_path(fs, L, "lnk", "trusted.overlay.metacopy");
    REQUIRE(err(not_followed) == "ok");
    CHECK(!not_followed->has_value());
    auto mc = ovlcore::get_xattr_path(fs, L, "target", "trusted.overlay.metacopy");
    REQUIRE(err(mc) == "ok");
    REQUIRE(mc->has_value());
    CHECK((*mc)->empty());
    auto wh = ovlcore::get_xattr_path(fs, L, "wh", "trusted.test");
    REQUIRE(err(wh) == "ok");
    REQUIRE(wh->has_value());
    CHECK(**wh == "on-whiteout");
    auto names = ovlcore::list_xattr_path(fs, L, "lnk");
    REQUIRE(err(names) == "ok");
    CHECK(*names == std::vector<std::string>{"trusted.overlay.origin"});
}

TEMPLATE_TEST_CASE("6 backend lookup_beneath: the data-only walk errno table", "[backend][spec.6]",
                   memory_fs, posix_fs) {
    // spec §6: no symlink followed anywhere (middle: ELOOP; final: returned unfollowed), "." and
    // in-root ".." work, ".." above the layer root: EXDEV, missing: ENOENT, file as dir: ENOTDIR.
    // Every row was checked against openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_XDEV,
    // O_PATH|O_NOFOLLOW) on Linux 6.18.44 (ext4).
    fs_tree<TestType> t;
    t.add_file("top/outside", "not in the layer")
        .add_file("top/L/d/f", "data")
        .add_file("top/L/f", "file")
        .add_symlink("top/L/s", "d")
        .add_symlink("top/L/abs", "/")
        .add_symlink("top/L/d/sf", "f")
        .add_symlink("top/L/esc", "../outside")
        .add_dir("top/L/d/e");
    const auto& fs = t.fs();
    const auto L = t.layer("top/L");

    struct row {
        const char* path;
        const char* errno_or_type; // "reg", "dir", "lnk" or an errno name
        const char* normalised;    // path_of the handle found
    };
    const row rows[] = {
        {"/d/f", "reg", "d/f"},
        {"d/f", "reg", "d/f"},
        {"/f", "reg", "f"},
        {"", "dir", ""},
        {"/", "dir", ""},
        {"/d", "dir", "d"},
        {"/d/", "dir", "d"},
        {"/d/.", "dir", "d"},
        {"/d/./f", "reg", "d/f"},
        {"/./d/./f", "reg", "d/f"},
        {"/d/../d/f", "reg", "d/f"},
        {"/d/e/../f", "reg", "d/f"},
        {"//d//f", "reg", "d/f"},
        {"/d/..", "dir", ""},
        {"/s", "lnk", "s"}, // final symlink: returned, not followed
        {"/d/sf", "lnk", "d/sf"},
        {"/esc", "lnk", "esc"},
        {"/s/f", "ELOOP", nullptr}, // symlink in a middle component
        {"/s/", "ELOOP", nullptr},  // a trailing slash asks to follow it
        {"/s/.", "ELOOP", nullptr},
        {"/abs/top", "ELOOP", nullptr},
        {"/esc/x", "ELOOP", nullptr},
        {"/f/x", "ENOTDIR", nullptr},
        {"/f/", "ENOTDIR", nullptr},
        {"/f/.", "ENOTDIR", nullptr},
        {"/f/..", "ENOTDIR", nullptr},
        {"/d/f/x", "ENOTDIR", nullptr},
        {"/missing", "ENOENT", nullptr},
        {"/missing/x", "ENOENT", nullptr},
        {"/d/missing", "ENOENT", nullptr},
        {"/..", "EXDEV", nullptr},
        {"..", "EXDEV", nullptr},
        {"/../x", "EXDEV", nullptr},
        {"/../L/f", "EXDEV", nullptr}, // even when the walk would come back in
        {"/../outside", "EXDEV", nullptr},
        {"/d/../../x", "EXDEV", nullptr},
        {"/d/../..", "EXDEV", nullptr},
    };
    for (const auto& r : rows) {
        INFO("lookup_beneath(\"" << r.path << "\")");
        auto res = fs.lookup_beneath(L, r.path);
        if (r.normalised == nullptr) {
            CHECK(err(res) == r.errno_or_type);
        } else {
            REQUIRE(err(res) == "ok");
            CHECK(std::string(ovlcore::dump_name(res->st.type)) == r.errno_or_type);
            CHECK(fs.path_of(res->handle) == r.normalised);
            // The returned object is the one lstat sees at the normalised path.
            auto st = ovlcore::lstat_path(fs, L, fs.path_of(res->handle));
            REQUIRE(err(st) == "ok");
            CHECK(st->ino == res->st.ino);
            CHECK(st->dev == res->st.dev);
        }
    }
    // The normalised path opens the file, and so does the handle found.
    auto hit = fs.lookup_beneath(L, "/d/../d/./f");
    REQUIRE(err(hit) == "ok");
    CHECK(read_all(fs, L, fs.path_of(hit->handle)) == "data");
    CHECK(read_all(fs, hit->handle) == "data");
}

TEMPLATE_TEST_CASE("6 backend lookup_beneath: whiteouts and other types are returned as found",
                   "[backend][spec.6][spec.3]", memory_fs, posix_fs) {
    if (skip_unprivileged<TestType>()) return;
    fs_tree<TestType> t;
    t.add_whiteout("L/wh").add_fifo("L/p").add_file("L/meta", "", {.size = 100u});
    const auto L = t.layer("L");
    auto wh = t.fs().lookup_beneath(L, "/wh");
    REQUIRE(err(wh) == "ok");
    CHECK(wh->st.type == file_type::char_device);
    CHECK(wh->st.rdev_major == 0u);
    CHECK(wh->st.rdev_minor == 0u);
    auto p = t.fs().lookup_beneath(L, "/p");
    REQUIRE(err(p) == "ok");
    CHECK(p->st.type == file_type::fifo);
    auto meta = t.fs().lookup_beneath(L, "/meta");
    REQUIRE(err(meta) == "ok");
    CHECK(meta->st.size == 100u);
    CHECK(err(t.fs().lookup_beneath(L, "/wh/x")) == "ENOTDIR");
}

TEMPLATE_TEST_CASE("1.3 backend resolve_dir: symlinks followed, the path walk's errno",
                   "[backend][spec.1.3]", memory_fs, posix_fs) {
    fs_tree<TestType> t;
    t.add_dir("A/sub")
        .add_file("A/file", "x")
        .add_symlink("link", "A")
        .add_symlink("A/up", "..")
        .add_symlink("loop1", "loop2")
        .add_symlink("loop2", "loop1")
        .add_symlink("dangling", "nothing");
    const auto& fs = t.fs();

    auto a = fs.resolve_dir(t.path("A"));
    REQUIRE(err(a) == "ok");
    CHECK(a->st.type == file_type::directory);
    CHECK(a->name_max == 255u);

    // Relative paths resolve against the working directory (the tree root here).
    auto rel = fs.resolve_dir("A");
    REQUIRE(err(rel) == "ok");
    CHECK(rel->st.ino == a->st.ino);
    auto dotted = fs.resolve_dir("./A/sub/../");
    REQUIRE(err(dotted) == "ok");
    CHECK(dotted->st.ino == a->st.ino);

    // Symlinks are followed, also in the final component.
    auto via_link = fs.resolve_dir(t.path("link"));
    REQUIRE(err(via_link) == "ok");
    CHECK(via_link->st.type == file_type::directory);
    CHECK(via_link->st.ino == a->st.ino);
    auto up = fs.resolve_dir(t.path("link/up/A/sub"));
    REQUIRE(err(up) == "ok");
    auto sub = ovlcore::lstat_path(fs, a->ref, "sub");
    REQUIRE(err(sub) == "ok");
    CHECK(up->st.ino == sub->ino);
    // The returned ref is the target directory.
    auto inside = ovlcore::lstat_path(fs, via_link->ref, "file");
    REQUIRE(err(inside) == "ok");
    CHECK(inside->type == file_type::regular);

    // A non-directory is returned with its type (the caller says EINVAL, spec §1.3).
    auto file = fs.resolve_dir(t.path("A/file"));
    REQUIRE(err(file) == "ok");
    CHECK(file->st.type == file_type::regular);

    CHECK(err(fs.resolve_dir("")) == "ENOENT");
    CHECK(err(fs.resolve_dir(t.path("missing"))) == "ENOENT");
    CHECK(err(fs.resolve_dir(t.path("missing/x"))) == "ENOENT");
    CHECK(err(fs.resolve_dir(t.path("dangling"))) == "ENOENT");
    CHECK(err(fs.resolve_dir(t.path("A/file/x"))) == "ENOTDIR");
    CHECK(err(fs.resolve_dir(t.path("A/file/"))) == "ENOTDIR");
    CHECK(err(fs.resolve_dir(t.path("loop1"))) == "ELOOP");
    CHECK(err(fs.resolve_dir(t.path("loop1/x"))) == "ELOOP");
    CHECK(err(fs.resolve_dir(t.path(std::string(256, 'n')))) == "ENAMETOOLONG");
}

TEMPLATE_TEST_CASE("1.3 backend resolve_dir: at most 40 symlinks are followed",
                   "[backend][spec.1.3]", memory_fs, posix_fs) {
    // MAXSYMLINKS is 40 (checked live: a chain of 40 links resolves, 41 give ELOOP).
    fs_tree<TestType> t;
    t.add_dir("d").add_symlink("l41", "d");
    for (int i = 40; i >= 1; --i)
        t.add_symlink("l" + std::to_string(i), "l" + std::to_string(i + 1));
    CHECK(err(t.fs().resolve_dir(t.path("l2"))) == "ok");    // 40 links
    CHECK(err(t.fs().resolve_dir(t.path("l1"))) == "ELOOP"); // 41 links
    CHECK(err(t.fs().resolve_dir(t.path("l2/"))) == "ok");
    CHECK(err(t.fs().resolve_dir(t.path("l1/."))) == "ELOOP");
}

TEMPLATE_TEST_CASE("1.5 backend resolve_dir: ancestors, mount and identity", "[backend][spec.1.5]",
                   memory_fs, posix_fs) {
    fs_tree<TestType> t;
    t.add_dir("a/b/c").add_file("a/b/f", "x").add_symlink("a/lnk", "b/c");
    const auto& fs = t.fs();
    auto top = fs.resolve_dir(t.root());
    auto a = fs.resolve_dir(t.path("a"));
    auto b = fs.resolve_dir(t.path("a/b"));
    auto c = fs.resolve_dir(t.path("a/b/c"));
    auto slash = fs.resolve_dir("/");
    REQUIRE(err(top) == "ok");
    REQUIRE(err(a) == "ok");
    REQUIRE(err(b) == "ok");
    REQUIRE(err(c) == "ok");
    REQUIRE(err(slash) == "ok");
    const auto id = [](const auto& r) { return ovlcore::file_id_of(r->st); };

    // Parent first, then up to and including "/".
    REQUIRE(c->ancestors.size() >= 4u);
    CHECK(c->ancestors[0] == id(b));
    CHECK(c->ancestors[1] == id(a));
    CHECK(c->ancestors[2] == id(top));
    CHECK(c->ancestors.back() == id(slash));
    CHECK(c->ancestors.size() == top->ancestors.size() + 3);
    CHECK(slash->ancestors.empty());

    // Through a symlink: the ancestors of the target.
    auto via = fs.resolve_dir(t.path("a/lnk"));
    REQUIRE(err(via) == "ok");
    CHECK(via->ancestors == c->ancestors);

    // A non-directory: its directory first.
    auto f = fs.resolve_dir(t.path("a/b/f"));
    REQUIRE(err(f) == "ok");
    REQUIRE(!f->ancestors.empty());
    CHECK(f->ancestors[0] == id(b));
    CHECK(f->ancestors.size() == b->ancestors.size() + 1);

    // One filesystem: same mount, not read-only, NAME_MAX 255.
    CHECK(a->mount_id == c->mount_id);
    CHECK(a->mount_id != 0u);
    CHECK(!a->read_only);
    CHECK(c->name_max == 255u);
    CHECK(a->fs_magic == c->fs_magic);
    CHECK(a->fs_magic != 0u);
}

TEMPLATE_TEST_CASE("0 backend: hard links share the inode", "[backend][spec.0]", memory_fs,
                   posix_fs) {
    fs_tree<TestType> t;
    t.add_file("L/f", "shared").add_hardlink("L/f", "L/sub/g");
    const auto L = t.layer("L");
    auto f = ovlcore::lstat_path(t.fs(), L, "f");
    auto g = ovlcore::lstat_path(t.fs(), L, "sub/g");
    REQUIRE(err(f) == "ok");
    REQUIRE(err(g) == "ok");
    CHECK(f->ino == g->ino);
    CHECK(f->nlink == 2u);
    CHECK(g->nlink == 2u);
    CHECK(read_all(t.fs(), L, "sub/g") == "shared");
}

TEMPLATE_TEST_CASE("0 backend: concurrent const calls agree", "[backend][spec.0][concurrency]",
                   memory_fs, posix_fs) {
    fs_tree<TestType> t;
    for (int i = 0; i < 20; ++i) t.add_file("L/d/f" + std::to_string(i), std::to_string(i));
    t.add_symlink("L/s", "d").set_xattr("L/d", "user.k", "v");
    const auto& fs = t.fs();
    const auto L = t.layer("L");
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int th = 0; th < 4; ++th) {
        threads.emplace_back([&, th] {
            for (int i = 0; i < 200; ++i) {
                const std::string name = "d/f" + std::to_string((i + th) % 20);
                auto st = ovlcore::lstat_path(fs, L, name);
                auto list = ovlcore::read_dir_path(fs, L, "d");
                auto x = ovlcore::get_xattr_path(fs, L, "d", "user.k");
                auto b = fs.lookup_beneath(L, "/s/f0");
                auto copy = L; // layer_ref copies are independent
                auto h = fs.lookup_beneath(copy, "/" + name);
                if (!st || !list || list->size() != 20 || !x || !x->has_value() || b ||
                    b.error() != std::errc::too_many_symbolic_link_levels || !h ||
                    h->st.ino != st->ino)
                    ++failures;
            }
        });
    }
    for (auto& th : threads) th.join();
    CHECK(failures.load() == 0);
}

// ---- memory vs POSIX on random trees (docs/contributing.md §23 (a)) -----------------------------

namespace {

/// One random tree description, applied identically to both backends.
struct random_op {
    int kind; // 0 dir, 1 file, 2 relative symlink, 3 symlink to an absolute path inside the tree
    std::string path;
    std::string arg; // file content or symlink target (relative to the tree's L for kind 3)
};

std::string random_components(std::mt19937& rng, int max, bool dots) {
    static const char* const names[] = {"a", "b", "c", "d"};
    static const char* const with_dots[] = {"a", "b", "c", "d", ".", "a", "b", ".."};
    std::string out;
    const int n = static_cast<int>(rng() % static_cast<unsigned>(max + 1));
    for (int i = 0; i < n; ++i) {
        if (!out.empty()) out += '/';
        out += dots ? with_dots[rng() % 8] : names[rng() % 4];
    }
    return out;
}

template <class B>
void apply(fs_tree<B>& t, const random_op& op) {
    const std::string p = "r/s/L/" + op.path;
    switch (op.kind) {
    case 0: t.add_dir(p); break;
    case 1: t.add_file(p, op.arg); break;
    case 2: t.add_symlink(p, op.arg); break;
    default: t.add_symlink(p, t.path("r/s/L/" + op.arg)); break;
    }
}

template <class B>
std::string outcome_beneath(const B& fs, const typename B::layer_ref& L, const std::string& q) {
    auto r = fs.lookup_beneath(L, q);
    if (!r) return err(r);
    // Sizes of regular files only: absolute symlink targets contain the tree root, which differs.
    return std::string(ovlcore::dump_name(r->st.type)) + " '" + fs.path_of(r->handle) + "' " +
           std::to_string(r->st.type == file_type::regular ? r->st.size : 0);
}

template <class B>
std::string outcome_paths(const B& fs, const typename B::layer_ref& L, const std::string& q,
                          const std::string& root) {
    std::string out;
    auto st = ovlcore::lstat_path(fs, L, q);
    out += "lstat " + err(st);
    if (st) {
        out += std::string(" ") + std::string(ovlcore::dump_name(st->type));
        if (st->type == file_type::regular) out += " " + std::to_string(st->size);
    }
    auto list = ovlcore::read_dir_path(fs, L, q);
    out += " | read_dir " + err(list);
    if (list) {
        std::vector<std::string> names;
        for (const auto& e : *list) names.push_back(e.name);
        for (const auto& n : sorted(names)) out += " " + n;
    }
    out += " | open " + err(ovlcore::open_file_path(fs, L, q));
    auto link = ovlcore::read_link_path(fs, L, q);
    out += " | read_link " + err(link);
    if (link) out += " " + (link->rfind(root, 0) == 0 ? "ROOT" + link->substr(root.size()) : *link);
    return out;
}

template <class B>
std::string outcome_resolve(const fs_tree<B>& t, const std::string& q) {
    auto r = t.fs().resolve_dir(t.path("r/s/L") + "/" + q);
    if (!r) return err(r);
    std::string out(ovlcore::dump_name(r->st.type));
    if (r->st.type == file_type::directory) {
        auto list = ovlcore::read_dir_path(t.fs(), r->ref, "");
        REQUIRE(err(list) == "ok");
        std::vector<std::string> names;
        for (const auto& e : *list) names.push_back(e.name);
        for (const auto& n : sorted(names)) out += " " + n;
    } else if (r->st.type == file_type::regular) {
        out += " " + std::to_string(r->st.size);
    }
    return out;
}

} // namespace

TEST_CASE("6 backends agree: memory_fs and posix_fs on random trees and paths",
          "[backend][spec.6][spec.1.3][differential]") {
    // Symlink targets never contain "..", queries at most two, and L sits three levels below the
    // tree root: no walk leaves the tree, where the two backends legitimately differ.
    for (unsigned seed = 1; seed <= 100; ++seed) {
        std::mt19937 rng(seed);
        std::vector<random_op> ops;
        const int n = 4 + static_cast<int>(rng() % 20);
        for (int i = 0; i < n; ++i) {
            random_op op;
            op.kind = static_cast<int>(rng() % 4);
            op.path = random_components(rng, 3, false);
            if (op.path.empty()) op.path = "a";
            if (op.kind == 1) op.arg = std::string(1 + rng() % 50, 'x');
            if (op.kind >= 2) {
                op.arg = random_components(rng, 3, false);
                if (rng() % 3 == 0) op.arg = op.arg.empty() ? "." : "./" + op.arg;
                if (op.arg.empty()) op.arg = op.kind == 2 ? "." : "";
                if (op.kind == 2 && rng() % 5 == 0) op.arg += "/";
            }
            ops.push_back(op);
        }
        fs_tree<memory_fs> m;
        fs_tree<posix_fs> p;
        m.add_dir("r/s/L");
        p.add_dir("r/s/L");
        std::string description;
        for (const auto& op : ops) {
            apply(m, op);
            apply(p, op);
            description += std::to_string(op.kind) + ":" + op.path + "->" + op.arg + " ";
        }
        const auto mL = m.layer("r/s/L");
        const auto pL = p.layer("r/s/L");
        for (int qi = 0; qi < 30; ++qi) {
            std::string q = random_components(rng, 4, true);
            int dotdots = 0;
            for (auto c : ovlcore::detail::split_path(q)) dotdots += c == "..";
            if (dotdots > 2) continue;
            const bool slash = rng() % 3 == 0;
            const bool trailing = rng() % 4 == 0;
            const std::string beneath_q = (slash ? "/" : "") + q + (trailing ? "/" : "");
            const std::string rel_q = q + (trailing && !q.empty() ? "/" : "");
            INFO("seed " << seed << " tree: " << description);
            INFO("query \"" << beneath_q << "\" / \"" << rel_q << "\"");
            CHECK(outcome_beneath(m.fs(), mL, beneath_q) == outcome_beneath(p.fs(), pL, beneath_q));
            CHECK(outcome_paths(m.fs(), mL, rel_q, m.root()) ==
                  outcome_paths(p.fs(), pL, rel_q, p.root()));
            CHECK(outcome_resolve(m, rel_q) == outcome_resolve(p, rel_q));
        }
    }
}
