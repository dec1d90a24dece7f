// SPDX-License-Identifier: MIT
// Tests of include/ovlcore/backend/memory.hpp that only the memory backend has: the builder API
// (defaults, parents, replacement, insertion order), mounts (st_dev, mount id, read-only,
// name_max, EXDEV for lookup_beneath, spec §1.5 and §6), the working directory. The behaviour
// both backends share is tested in backend_common.cpp.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <ovlcore/backend/memory.hpp>

#include "support/string_makers.hpp"

using ovlcore::file_type;
using ovlcore::memory_fs;

namespace {

using ovlcore::test::err;

std::vector<std::string> names_of(const std::vector<ovlcore::dir_entry>& list) {
    std::vector<std::string> out;
    for (const auto& e : list) out.push_back(e.name);
    return out;
}

} // namespace

static_assert(ovlcore::backing_filesystem<memory_fs>);

TEST_CASE("0 memory_fs: an empty filesystem is a root directory", "[backend][memory][spec.0]") {
    const memory_fs fs;
    auto root = fs.resolve_dir("/");
    REQUIRE(err(root) == "ok");
    CHECK(root->st.type == file_type::directory);
    CHECK(root->st.mode == 0755u);
    CHECK(root->st.uid == 0u);
    CHECK(root->st.nlink == 2u);
    CHECK(root->ancestors.empty());
    auto list = ovlcore::read_dir_path(fs, root->ref, "");
    REQUIRE(err(list) == "ok");
    CHECK(list->empty());
    // The working directory is "/": "." is the root.
    auto dot = fs.resolve_dir(".");
    REQUIRE(err(dot) == "ok");
    CHECK(dot->st.ino == root->st.ino);
    // ".." of the root is the root.
    auto dotdot = fs.resolve_dir("/../..");
    REQUIRE(err(dotdot) == "ok");
    CHECK(dotdot->st.ino == root->st.ino);
}

TEST_CASE("0 memory_fs builder: parents, defaults and insertion order",
          "[backend][memory][spec.0]") {
    memory_fs fs;
    fs.add_file("/x/y/z", "content", {.mode = 0600u, .uid = 3, .gid = 4})
        .add_file("/x/b", "")
        .add_dir("/x/a")
        .add_symlink("/x/c", "y/z")
        .add_fifo("/x/0");
    auto x = fs.resolve_dir("/x");
    REQUIRE(err(x) == "ok");
    // Missing parents: 0755 directories owned by 0:0.
    CHECK(x->st.mode == 0755u);
    CHECK(x->st.uid == 0u);
    auto y = ovlcore::lstat_path(fs, x->ref, "y");
    REQUIRE(err(y) == "ok");
    CHECK(y->type == file_type::directory);
    CHECK(y->mode == 0755u);
    CHECK(y->gid == 0u);
    auto z = ovlcore::lstat_path(fs, x->ref, "y/z");
    REQUIRE(err(z) == "ok");
    CHECK(z->mode == 0600u);
    CHECK(z->uid == 3u);
    CHECK(z->gid == 4u);
    CHECK(z->size == 7u);
    auto fifo = ovlcore::lstat_path(fs, x->ref, "0");
    REQUIRE(err(fifo) == "ok");
    CHECK(fifo->mode == 0644u);
    // read_dir lists in insertion order (documented in memory.hpp).
    auto list = ovlcore::read_dir_path(fs, x->ref, "");
    REQUIRE(err(list) == "ok");
    CHECK(names_of(*list) == std::vector<std::string>{"y", "b", "a", "c", "0"});
    // nlink of /x: 2 + two subdirectories (y, a).
    CHECK(x->st.nlink == 4u);
}

TEST_CASE("0 memory_fs builder: re-adding a path", "[backend][memory][spec.0]") {
    memory_fs fs;
    fs.add_file("/L/f", "old").add_file("/L/g", "g").add_dir("/L/d").add_file("/L/d/in", "1");
    fs.add_file("/L/f", "new!", {.mode = 0600u});  // replaces, keeps its place in the listing
    fs.add_dir("/L/d", {.mode = 0700u, .uid = 9}); // existing dir: attributes only
    fs.add_dir("/L/g");                            // a file replaced by a directory
    auto L = fs.resolve_dir("/L");
    REQUIRE(err(L) == "ok");
    auto list = ovlcore::read_dir_path(fs, L->ref, "");
    REQUIRE(err(list) == "ok");
    CHECK(names_of(*list) == std::vector<std::string>{"f", "g", "d"});
    auto f = ovlcore::lstat_path(fs, L->ref, "f");
    REQUIRE(err(f) == "ok");
    CHECK(f->size == 4u);
    CHECK(f->mode == 0600u);
    auto d = ovlcore::lstat_path(fs, L->ref, "d");
    REQUIRE(err(d) == "ok");
    CHECK(d->mode == 0700u);
    CHECK(d->uid == 9u);
    auto in = ovlcore::lstat_path(fs, L->ref, "d/in");
    CHECK(err(in) == "ok");
    auto g = ovlcore::lstat_path(fs, L->ref, "g");
    REQUIRE(err(g) == "ok");
    CHECK(g->type == file_type::directory);
    CHECK(L->st.nlink == 4u); // d and g are directories now
}

TEST_CASE("0 memory_fs builder: set_xattr replaces a value and keeps the order",
          "[backend][memory][spec.2.1]") {
    memory_fs fs;
    fs.add_file("/f", "")
        .set_xattr("/f", "trusted.overlay.metacopy", "")
        .set_xattr("/f", "trusted.overlay.redirect", "/a")
        .set_xattr("/f", "trusted.overlay.metacopy", "x");
    auto root = fs.resolve_dir("/");
    REQUIRE(err(root) == "ok");
    auto names = ovlcore::list_xattr_path(fs, root->ref, "f");
    REQUIRE(err(names) == "ok");
    CHECK(*names ==
          std::vector<std::string>{"trusted.overlay.metacopy", "trusted.overlay.redirect"});
    auto v = ovlcore::get_xattr_path(fs, root->ref, "f", "trusted.overlay.metacopy");
    REQUIRE(err(v) == "ok");
    REQUIRE(v->has_value());
    CHECK(**v == "x");
}

TEST_CASE("0 memory_fs: entry_attrs.mtime sets the timestamps", "[backend][memory][spec.9]") {
    memory_fs fs;
    fs.add_file("/f", "x", {.mtime = ovlcore::timestamp{.sec = 1700000000, .nsec = 5}})
        .add_file("/g", "y");
    auto root = fs.resolve_dir("/");
    REQUIRE(err(root) == "ok");
    auto f = ovlcore::lstat_path(fs, root->ref, "f");
    REQUIRE(err(f) == "ok");
    CHECK(f->mtime == ovlcore::timestamp{.sec = 1700000000, .nsec = 5});
    CHECK(f->ctime == f->mtime);
    CHECK(f->atime == f->mtime);
    auto g = ovlcore::lstat_path(fs, root->ref, "g");
    REQUIRE(err(g) == "ok");
    CHECK(g->mtime == ovlcore::timestamp{});
}

TEST_CASE("1.3 memory_fs: set_cwd anchors relative resolve_dir paths",
          "[backend][memory][spec.1.3]") {
    memory_fs fs;
    fs.add_dir("/work/layers/A").add_dir("/other/A").set_cwd("/work/layers");
    auto a = fs.resolve_dir("A");
    auto abs = fs.resolve_dir("/work/layers/A");
    REQUIRE(err(a) == "ok");
    REQUIRE(err(abs) == "ok");
    CHECK(a->st.ino == abs->st.ino);
    auto up = fs.resolve_dir("../../other/A");
    auto other = fs.resolve_dir("/other/A");
    REQUIRE(err(up) == "ok");
    REQUIRE(err(other) == "ok");
    CHECK(up->st.ino == other->st.ino);
    CHECK(fs.cwd() == fs.resolve_dir("/work/layers")->ref);
    // set_cwd creates a missing directory.
    fs.set_cwd("/new/cwd");
    auto made = fs.resolve_dir(".");
    REQUIRE(err(made) == "ok");
    CHECK(made->st.type == file_type::directory);
    CHECK(made->ancestors.size() == 2u); // /new, /
}

TEST_CASE("1.3 memory_fs: absolute symlink targets start at the root",
          "[backend][memory][spec.1.3]") {
    memory_fs fs;
    fs.add_dir("/data/x").add_symlink("/a/b/link", "/data").add_symlink("/a/rel", "b/link/x");
    auto via = fs.resolve_dir("/a/rel");
    auto x = fs.resolve_dir("/data/x");
    REQUIRE(err(via) == "ok");
    REQUIRE(err(x) == "ok");
    CHECK(via->st.ino == x->st.ino);
    CHECK(via->ancestors == x->ancestors);
    fs.add_symlink("/empty", "");
    CHECK(err(fs.resolve_dir("/empty")) == "ENOENT"); // an empty target does not resolve
}

TEST_CASE("1.5 memory_fs: mounts have their own st_dev, mount id and attributes",
          "[backend][memory][spec.1.5]") {
    memory_fs fs;
    fs.add_dir("/base/L/sub")
        .add_file("/base/L/f", "x")
        .add_mount("/ro", {.read_only = true})
        .add_file("/ro/lower/f", "y")
        .add_mount("/short", {.fs_magic = 0x01021994, .name_max = 14})
        .add_dir("/short/L");
    auto base = fs.resolve_dir("/base/L");
    auto ro = fs.resolve_dir("/ro/lower");
    auto shortfs = fs.resolve_dir("/short/L");
    auto root = fs.resolve_dir("/");
    REQUIRE(err(base) == "ok");
    REQUIRE(err(ro) == "ok");
    REQUIRE(err(shortfs) == "ok");
    REQUIRE(err(root) == "ok");

    CHECK(base->mount_id == root->mount_id);
    CHECK(base->st.dev == root->st.dev);
    CHECK(ro->mount_id != root->mount_id);
    CHECK(ro->st.dev != root->st.dev);
    CHECK(shortfs->mount_id != ro->mount_id);
    CHECK(!base->read_only);
    CHECK(ro->read_only);
    CHECK(!shortfs->read_only);
    CHECK(base->name_max == 255u);
    CHECK(shortfs->name_max == 14u);
    CHECK(shortfs->fs_magic == 0x01021994u);
    CHECK(base->fs_magic == 0xEF53u);

    // Files inside a mount carry its device.
    auto f = ovlcore::lstat_path(fs, ro->ref, "f");
    REQUIRE(err(f) == "ok");
    CHECK(f->dev == ro->st.dev);
    // Ancestors cross the mount: the mount root, then "/".
    auto ro_root = fs.resolve_dir("/ro");
    REQUIRE(err(ro_root) == "ok");
    REQUIRE(ro->ancestors.size() == 2u);
    CHECK(ro->ancestors[0] == ovlcore::file_id_of(ro_root->st));
    CHECK(ro->ancestors[1] == ovlcore::file_id_of(root->st));

    // A name longer than the mount's name_max.
    CHECK(err(ovlcore::lstat_path(fs, shortfs->ref, "fifteen-chars-x")) == "ENAMETOOLONG");
    CHECK(err(ovlcore::lstat_path(fs, shortfs->ref, "fourteen-chars")) == "ENOENT");
    CHECK(err(ovlcore::lstat_path(fs, base->ref, std::string(256, 'n'))) == "ENAMETOOLONG");
    CHECK(err(ovlcore::lstat_path(fs, base->ref, std::string(255, 'n'))) == "ENOENT");

    // add_mount("/") changes the root mount.
    fs.add_mount("/", {.read_only = true});
    auto root2 = fs.resolve_dir("/base");
    REQUIRE(err(root2) == "ok");
    CHECK(root2->read_only);
}

TEST_CASE("6 memory_fs lookup_beneath: crossing into a mount is EXDEV",
          "[backend][memory][spec.6]") {
    // RESOLVE_NO_XDEV (spec §6 "no mount crossing"); the posix test checks the kernel.
    memory_fs fs;
    fs.add_file("/C/data", "d").add_mount("/C/mnt").add_file("/C/mnt/inner", "i");
    auto C = fs.resolve_dir("/C");
    REQUIRE(err(C) == "ok");
    CHECK(err(fs.lookup_beneath(C->ref, "/data")) == "ok");
    CHECK(err(fs.lookup_beneath(C->ref, "/mnt")) == "EXDEV");
    CHECK(err(fs.lookup_beneath(C->ref, "/mnt/inner")) == "EXDEV");
    CHECK(err(fs.lookup_beneath(C->ref, "/mnt/../data")) == "EXDEV");
    // A layer whose root is the mount root works inside it.
    auto M = fs.resolve_dir("/C/mnt");
    REQUIRE(err(M) == "ok");
    auto inner = fs.lookup_beneath(M->ref, "/inner");
    REQUIRE(err(inner) == "ok");
    CHECK(inner->st.dev == M->st.dev);
    CHECK(err(fs.lookup_beneath(M->ref, "/../data")) == "EXDEV");
    // lookup (and the path convenience over it) crosses mounts, as a name lookup does on Linux.
    CHECK(err(ovlcore::lstat_path(fs, C->ref, "mnt/inner")) == "ok");
}

TEST_CASE("6 memory_fs lookup_beneath: a non-directory layer root", "[backend][memory][spec.6]") {
    memory_fs fs;
    fs.add_file("/f", "x");
    auto f = fs.resolve_dir("/f");
    REQUIRE(err(f) == "ok");
    CHECK(f->st.type == file_type::regular);
    auto self = fs.lookup_beneath(f->ref, "/");
    REQUIRE(err(self) == "ok");
    CHECK(self->st.type == file_type::regular);
    CHECK(err(fs.lookup_beneath(f->ref, "/x")) == "ENOTDIR");
    CHECK(err(ovlcore::lstat_path(fs, f->ref, "")) == "ok");
    CHECK(err(ovlcore::read_dir_path(fs, f->ref, "")) == "ENOTDIR");
}

TEST_CASE("0 memory_fs handles: path_of is relative to the layer the handle came from",
          "[backend][memory][spec.0]") {
    // One object seen from two nested layers is named from each one's root (backend.hpp).
    memory_fs fs;
    fs.add_file("/A/B/c", "x");
    auto A = fs.resolve_dir("/A");
    auto B = fs.resolve_dir("/A/B");
    REQUIRE(err(A) == "ok");
    REQUIRE(err(B) == "ok");
    auto via_a = ovlcore::walk(fs, A->ref, "B/c");
    auto via_b = ovlcore::walk(fs, B->ref, "c");
    REQUIRE(err(via_a) == "ok");
    REQUIRE(err(via_b) == "ok");
    CHECK(via_a->st.ino == via_b->st.ino);
    CHECK(fs.path_of(via_a->handle) == "B/c");
    CHECK(fs.path_of(via_b->handle) == "c");
    // lookup_beneath's ".." keeps the names right.
    auto back = fs.lookup_beneath(A->ref, "/B/../B/./c");
    REQUIRE(err(back) == "ok");
    CHECK(fs.path_of(back->handle) == "B/c");
    auto dir = fs.lookup_beneath(A->ref, "/B/..");
    REQUIRE(err(dir) == "ok");
    CHECK(fs.path_of(dir->handle).empty());
}

TEST_CASE("0 memory_fs: symlink st_blocks follow ext4 (long targets take a block)",
          "[backend][memory][spec.0]") {
    memory_fs fs;
    fs.add_symlink("/short", std::string(59, 's')).add_symlink("/long", std::string(60, 'l'));
    auto root = fs.resolve_dir("/");
    REQUIRE(err(root) == "ok");
    CHECK(ovlcore::lstat_path(fs, root->ref, "short")->blocks == 0u);
    CHECK(ovlcore::lstat_path(fs, root->ref, "long")->blocks == 8u);
}
