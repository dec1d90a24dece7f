// SPDX-License-Identifier: MIT
// Tests of include/ovlcore/backend/erofs.hpp over images mkfs.erofs makes at test time: every
// backend call equals posix_fs on the source tree (docs/erofs.md), resolve_dir and the
// data-only walk (spec §1.3, §6), refused features (erofs.md §2) and hostile images
// (erofs.md §9).
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ovlcore/backend/erofs.hpp>
#include <ovlcore/backend/posix.hpp>

#include "support/erofs_tree.hpp"
#include "support/string_makers.hpp"
#include "support/temp_dir.hpp"

using ovlcore::erofs_fs;
using ovlcore::file_type;
using ovlcore::test::err;
using ovlcore::test::temp_dir;
namespace et = ovlcore::test::erofs;
using et::fix_checksum;
using et::le32;
using et::put_le32;

namespace {

bool skip_without_mkfs() {
    if (!et::mkfs_path().empty()) return false;
    WARN("SKIPPED: mkfs.erofs is missing (scripts/setup-deps.sh installs erofs-utils)");
    return true;
}

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// A tree, and its image made with `options`.
struct image_fixture {
    temp_dir dir{"ovlcore-erofs-"};
    std::filesystem::path src = dir / "src";
    std::filesystem::path img = dir / "image.erofs";
    std::string made;

    explicit image_fixture(const std::vector<std::string>& options,
                           void (*fill)(const std::filesystem::path&) = et::make_feature_tree) {
        std::filesystem::create_directory(src);
        fill(src);
        made = et::mkfs(img, src, options);
    }
};

/// Exercises every call on every object reachable from the root (errors allowed, nothing else):
/// what a hostile image must survive. Bounded: at most `budget` objects.
void exercise(const erofs_fs& fs, int budget = 200) {
    auto root = fs.root(fs.image_root());
    if (!root) return;
    std::vector<ovlcore::real_object<erofs_fs::handle>> todo{*root};
    std::vector<char> buf(8192);
    while (!todo.empty() && budget-- > 0) {
        auto obj = todo.back();
        todo.pop_back();
        (void)fs.list_xattr(obj.handle);
        (void)fs.get_xattr(obj.handle, "user.shared");
        (void)fs.get_xattr(obj.handle, "trusted.overlay.opaque");
        (void)fs.read_link(obj.handle);
        (void)fs.path_of(obj.handle);
        if (auto f = fs.open_file(obj.handle)) {
            for (std::uint64_t off = 0; off < 200000; off += buf.size()) {
                auto n = fs.read(*f, off, buf);
                if (!n || *n == 0) break;
            }
            (void)fs.next_data(*f, 0);
        }
        (void)fs.dot_positions(obj.handle);
        if (auto entries = fs.read_dir(obj.handle)) {
            for (const auto& e : *entries) {
                if (auto c = fs.lookup(obj.handle, e.name)) todo.push_back(*c);
            }
        }
        (void)fs.lookup(obj.handle, "small");
    }
    (void)fs.resolve_dir("/d/sub/../../abs/deeper");
    (void)fs.lookup_beneath(fs.image_root(), "d/sub/big");
}

} // namespace

TEST_CASE("erofs: every call equals posix_fs on the source tree", "[erofs]") {
    if (skip_without_mkfs()) return;
    for (const auto& options : et::mkfs_variants()) {
        std::string label;
        for (const auto& o : options) label += o + " ";
        INFO("mkfs.erofs " << label);
        image_fixture fx(options);
        REQUIRE(fx.made.empty());
        std::size_t objects = 0;
        const bool fixed_time = options.size() == 1 && options[0] == "-T0";
        const auto diffs = et::compare(
            fx.img, fx.src, fixed_time ? et::against::source_without_times : et::against::source,
            &objects);
        for (const auto& d : diffs) UNSCOPED_INFO(d);
        CHECK(diffs.empty());
        CHECK(objects >= 20);
    }
}

TEST_CASE("erofs: random trees equal posix_fs on the source tree", "[erofs]") {
    if (skip_without_mkfs()) return;
    for (unsigned seed = 1; seed <= 6; ++seed) {
        INFO("seed " << seed);
        temp_dir dir{"ovlcore-erofs-"};
        std::filesystem::create_directory(dir / "src");
        et::make_random_tree(dir / "src", seed, 120);
        REQUIRE(et::mkfs(dir / "img", dir / "src",
                         seed % 2 ? std::vector<std::string>{}
                                  : std::vector<std::string>{"--chunksize=4096"})
                    .empty());
        const auto diffs = et::compare(dir / "img", dir / "src", et::against::source);
        for (const auto& d : diffs) UNSCOPED_INFO(d);
        CHECK(diffs.empty());
    }
}

TEST_CASE("erofs: resolve_dir, lookup and the data-only walk", "[erofs]") {
    if (skip_without_mkfs()) return;
    image_fixture fx({});
    REQUIRE(fx.made.empty());
    auto fs = erofs_fs::open(fx.img.string());
    REQUIRE(err(fs) == "ok");
    CHECK(fs->image_path() == fx.img.string());

    auto root = fs->resolve_dir("");
    REQUIRE(err(root) == "ok");
    CHECK(root->st.type == file_type::directory);
    CHECK(root->ancestors.empty());
    CHECK(root->read_only);
    CHECK(root->name_max == 255);
    CHECK(root->fs_magic == 0xE0F5E1E2);
    CHECK(root->st.dev == root->mount_id);
    auto slash = fs->resolve_dir("/");
    REQUIRE(err(slash) == "ok");
    CHECK(slash->ref == root->ref);

    auto sub = fs->resolve_dir("/d/sub/");
    REQUIRE(err(sub) == "ok");
    CHECK(sub->ancestors.size() == 2);
    CHECK(sub->ancestors.back() == ovlcore::file_id_of(root->st));
    // Symlinks followed: absolute targets from the image root, relative ones from their dir.
    auto abs = fs->resolve_dir("abs");
    REQUIRE(err(abs) == "ok");
    CHECK(abs->ref == sub->ref);
    auto via = fs->resolve_dir("d/sub/up");
    REQUIRE(err(via) == "ok");
    CHECK(via->st.type == file_type::regular);
    CHECK(via->ancestors.size() == 1);
    CHECK(fs->resolve_dir("d/../d/sub/..//sub")->ref == sub->ref);
    CHECK(fs->resolve_dir("../../d/sub")->ref == sub->ref); // ".." stops at the root
    CHECK(err(fs->resolve_dir("nope")) == "ENOENT");
    CHECK(err(fs->resolve_dir("small/x")) == "ENOTDIR");
    CHECK(err(fs->resolve_dir("small/")) == "ENOTDIR");
    // target "aaa...", one 4095-byte component: ENAMETOOLONG, as the kernel's path walk says
    CHECK(err(fs->resolve_dir("longlink")) == "ENAMETOOLONG");

    // lookup errors.
    auto top = fs->root(sub->ref);
    REQUIRE(err(top) == "ok");
    CHECK(fs->path_of(top->handle).empty());
    CHECK(err(fs->lookup(top->handle, std::string(256, 'n'))) == "ENAMETOOLONG");
    CHECK(err(fs->lookup(top->handle, "missing")) == "ENOENT");
    auto big = fs->lookup(top->handle, "big");
    REQUIRE(err(big) == "ok");
    CHECK(fs->path_of(big->handle) == "big");
    CHECK(err(fs->lookup(big->handle, "x")) == "ENOTDIR");
    CHECK(err(fs->read_dir(big->handle)) == "ENOTDIR");
    CHECK(err(fs->read_link(big->handle)) == "EINVAL");
    CHECK(err(fs->get_xattr(big->handle, "")) == "ERANGE");

    // The data-only walk (spec §6).
    const auto image = fs->image_root();
    auto b = fs->lookup_beneath(image, "/d/sub/../tail");
    REQUIRE(err(b) == "ok");
    CHECK(fs->path_of(b->handle) == "d/tail");
    CHECK(err(fs->lookup_beneath(image, "..")) == "EXDEV");
    CHECK(err(fs->lookup_beneath(sub->ref, "../block")) == "EXDEV");
    CHECK(err(fs->lookup_beneath(image, "abs/big")) == "ELOOP");
    CHECK(err(fs->lookup_beneath(image, "link/")) == "ELOOP");
    auto final_link = fs->lookup_beneath(image, "d/sub/up");
    REQUIRE(err(final_link) == "ok");
    CHECK(final_link->st.type == file_type::symlink);
    CHECK(err(fs->lookup_beneath(image, "small/x")) == "ENOTDIR");
    CHECK(err(fs->lookup_beneath(image, "missing")) == "ENOENT");

    // open_file refusals (backend.hpp's open_file_refusal).
    auto d = fs->lookup_beneath(image, "d");
    REQUIRE(err(d) == "ok");
    CHECK(err(fs->open_file(d->handle)) == "EISDIR");
    CHECK(err(fs->open_file(final_link->handle)) == "ELOOP");
    auto fifo = fs->lookup_beneath(image, "fifo");
    REQUIRE(err(fifo) == "ok");
    CHECK(err(fs->open_file(fifo->handle)) == "ENXIO");

    // Copies share the image; handles outlive the erofs_fs they came from.
    const erofs_fs copy = *fs;
    fs = erofs_fs::open(fx.img.string());
    auto again = copy.lookup(d->handle, "tail");
    CHECK(err(again) == "ok");
}

TEST_CASE("erofs: open refuses what is not a supported image", "[erofs]") {
    if (skip_without_mkfs()) return;
    temp_dir dir{"ovlcore-erofs-"};
    std::filesystem::create_directory(dir / "src");
    et::write_file(dir / "src/f", std::string(20000, 'a'));
    std::string why;
    CHECK(err(erofs_fs::open((dir / "missing").string(), &why)) == "ENOENT");
    CHECK(why.find("missing") != std::string::npos);
    et::write_file(dir / "text", std::string(5000, 'x'));
    CHECK(err(erofs_fs::open((dir / "text").string(), &why)) == "EINVAL");
    CHECK(why.find("not an EROFS image") != std::string::npos);
    CHECK(err(erofs_fs::open((dir / "src").string())) == "EINVAL"); // a directory
    CHECK(err(erofs_fs::open_bytes("")) == "EINVAL");

    // Compression is refused with a reason (erofs.md §2).
    REQUIRE(et::mkfs(dir / "lz4.img", dir / "src", {"-zlz4"}).empty());
    why.clear();
    CHECK(err(erofs_fs::open((dir / "lz4.img").string(), &why)) == "EOPNOTSUPP");
    CHECK(why.find("compress") != std::string::npos);

    // Unknown incompatible feature bits, a corrupt checksum, a bad block size.
    REQUIRE(et::mkfs(dir / "plain.img", dir / "src", {}).empty());
    const std::string plain = slurp(dir / "plain.img");
    REQUIRE(err(erofs_fs::open_bytes(plain)) == "ok");
    const bool has_checksum = (le32(plain, 1024 + 8) & 1) != 0;
    {
        std::string bad = plain;
        put_le32(bad, 1024 + 80, le32(bad, 1024 + 80) | 0x8000);
        put_le32(bad, 1024 + 8, le32(bad, 1024 + 8) & ~1u); // no checksum to redo
        CHECK(err(erofs_fs::open_bytes(bad, "x", &why)) == "EOPNOTSUPP");
        CHECK(why.find("incompatible") != std::string::npos);
    }
    if (has_checksum) {
        std::string bad = plain;
        bad[1024 + 60] = static_cast<char>(bad[1024 + 60] ^ 1); // in the uuid
        CHECK(err(erofs_fs::open_bytes(bad, "x", &why)) == "EUCLEAN");
        CHECK(why.find("checksum") != std::string::npos);
    }
    {
        std::string bad = plain;
        put_le32(bad, 1024 + 8, le32(bad, 1024 + 8) & ~1u);
        bad[1024 + 12] = 20;
        CHECK(err(erofs_fs::open_bytes(bad)) == "EOPNOTSUPP");
    }
    CHECK(err(erofs_fs::open_bytes(plain.substr(0, 1100))) == "EINVAL");
    CHECK(err(erofs_fs::open_bytes(plain.substr(0, 1024 + 128))) == "EUCLEAN"); // no root
}

TEST_CASE("erofs: a directory of 100,000 entries", "[erofs]") {
    if (skip_without_mkfs()) return;
    // 100,000 creations take seconds on tmpfs but minutes on some disks: /dev/shm when usable.
    std::optional<temp_dir> shm;
    if (::access("/dev/shm", W_OK | X_OK) == 0 && !std::getenv("TMPDIR")) {
        ::setenv("TMPDIR", "/dev/shm", 1);
        try {
            shm.emplace("ovlcore-erofs-");
        } catch (...) {}
        ::unsetenv("TMPDIR");
    }
    temp_dir dir = shm ? std::move(*shm) : temp_dir{"ovlcore-erofs-"};
    const auto src = dir / "src";
    std::filesystem::create_directories(src / "big");
    constexpr int count = 100000;
    for (int i = 0; i < count; ++i) {
        const std::string p =
            (src / "big" / ("entry-" + std::to_string(i * 7919 % 1000003))).string();
        const int fd = ::open(p.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        REQUIRE(fd >= 0);
        ::close(fd);
    }
    REQUIRE(et::mkfs(dir / "img", src, {"-T0"}).empty());
    auto fs = erofs_fs::open((dir / "img").string());
    REQUIRE(err(fs) == "ok");
    auto big = ovlcore::walk(*fs, fs->image_root(), "big");
    REQUIRE(err(big) == "ok");

    const auto t0 = std::chrono::steady_clock::now();
    auto entries = fs->read_dir(big->handle);
    REQUIRE(err(entries) == "ok");
    REQUIRE(entries->size() == count);
    CHECK(std::is_sorted(entries->begin(), entries->end(),
                         [](const auto& a, const auto& b) { return a.name < b.name; }));
    // Binary search: every 100th name, the first and last, and misses between them.
    for (std::size_t i = 0; i < entries->size(); i += 100) {
        auto hit = fs->lookup(big->handle, (*entries)[i].name);
        REQUIRE(err(hit) == "ok");
        CHECK(hit->st.ino == (*entries)[i].ino);
        CHECK(err(fs->lookup(big->handle, (*entries)[i].name + "~")) == "ENOENT");
    }
    CHECK(err(fs->lookup(big->handle, entries->back().name)) == "ok");
    CHECK(err(fs->lookup(big->handle, "a")) == "ENOENT");
    CHECK(err(fs->lookup(big->handle, "zzz")) == "ENOENT");
    auto dots = fs->dot_positions(big->handle);
    REQUIRE(err(dots) == "ok");
    CHECK((*dots)[0] == 0);
    CHECK((*dots)[1] == 0);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    WARN("100,000-entry directory: read_dir + 2,000 lookups in " << ms << " ms");
}

TEST_CASE("erofs: a composefs-shaped metacopy file (all-hole chunk map)", "[erofs]") {
    if (skip_without_mkfs()) return;
    temp_dir dir{"ovlcore-erofs-"};
    std::filesystem::create_directory(dir / "src");
    et::write_file(dir / "src/meta", std::string(3 * 4096 + 10, 'm'));
    et::write_file(dir / "src/other", "o");
    REQUIRE(et::mkfs(dir / "img", dir / "src", {"--chunksize=4096"}).empty());
    std::string image = slurp(dir / "img");
    std::uint64_t nid = 0;
    {
        auto fs = erofs_fs::open_bytes(image);
        REQUIRE(err(fs) == "ok");
        auto meta = ovlcore::walk(*fs, fs->image_root(), "meta");
        REQUIRE(err(meta) == "ok");
        nid = meta->st.ino;
    }
    // Patch the inode's 4-byte block map to holes (docs/erofs.md §6), as composefs writes it.
    const std::size_t meta_blk = le32(image, 1024 + 40);
    const std::size_t pos = meta_blk * 4096 + static_cast<std::size_t>(nid) * 32;
    const unsigned format = static_cast<unsigned char>(image[pos]);
    REQUIRE(((format >> 1) & 7) == 4); // chunk-based
    const unsigned icount =
        static_cast<unsigned char>(image[pos + 2]) |
        (static_cast<unsigned>(static_cast<unsigned char>(image[pos + 3])) << 8);
    const std::size_t isize = (format & 1) ? 64 : 32;
    const std::size_t xsize = icount ? 12 + 4 * (icount - 1) : 0;
    REQUIRE((static_cast<unsigned char>(image[pos + 16]) & 0x20) == 0); // a block map
    const std::size_t map = (pos + isize + xsize + 3) & ~std::size_t{3};
    for (std::size_t c = 0; c < 4; ++c) put_le32(image, map + 4 * c, 0xFFFFFFFFu);
    fix_checksum(image);

    auto fs = erofs_fs::open_bytes(image);
    REQUIRE(err(fs) == "ok");
    auto meta = ovlcore::walk(*fs, fs->image_root(), "meta");
    REQUIRE(err(meta) == "ok");
    CHECK(meta->st.size == 3 * 4096 + 10);
    auto f = fs->open_file(meta->handle);
    REQUIRE(err(f) == "ok");
    auto ext = fs->next_data(*f, 0);
    REQUIRE(err(ext) == "ok");
    CHECK(*ext == ovlcore::data_extent{.begin = 3 * 4096 + 10, .end = 3 * 4096 + 10});
    std::vector<char> buf(5000, 'x');
    auto n = fs->read(*f, 4000, buf);
    REQUIRE(err(n) == "ok");
    CHECK(*n == 5000);
    CHECK(std::all_of(buf.begin(), buf.end(), [](char c) { return c == 0; }));
    CHECK(err(fs->read(*f, 3 * 4096 + 10, buf)) == "ok");

    // One chunk stored again: next_data finds exactly it.
    {
        std::string partial = slurp(dir / "img");
        for (const std::size_t c : {std::size_t{0}, std::size_t{2}, std::size_t{3}})
            put_le32(partial, map + 4 * c, 0xFFFFFFFFu);
        fix_checksum(partial);
        auto pf = erofs_fs::open_bytes(partial);
        REQUIRE(err(pf) == "ok");
        auto pm = ovlcore::walk(*pf, pf->image_root(), "meta");
        REQUIRE(err(pm) == "ok");
        auto file = pf->open_file(pm->handle);
        REQUIRE(err(file) == "ok");
        auto e1 = pf->next_data(*file, 10);
        REQUIRE(err(e1) == "ok");
        CHECK(*e1 == ovlcore::data_extent{.begin = 4096, .end = 8192});
        auto e2 = pf->next_data(*file, 5000);
        REQUIRE(err(e2) == "ok");
        CHECK(*e2 == ovlcore::data_extent{.begin = 5000, .end = 8192});
        auto n2 = pf->read(*file, 4096, std::span(buf).first(100));
        REQUIRE(err(n2) == "ok");
        CHECK(std::string(buf.data(), 100) == std::string(100, 'm'));
    }
}

TEST_CASE("erofs: a directory cycle is refused, not followed", "[erofs]") {
    if (skip_without_mkfs()) return;
    temp_dir dir{"ovlcore-erofs-"};
    std::filesystem::create_directories(dir / "src/a/b");
    REQUIRE(et::mkfs(dir / "img", dir / "src", {"-T0"}).empty());
    std::string image = slurp(dir / "img");
    auto fs = erofs_fs::open_bytes(image);
    REQUIRE(err(fs) == "ok");
    auto root = fs->root(fs->image_root());
    auto a = fs->lookup(root->handle, "a");
    auto b = fs->lookup(a->handle, "b");
    REQUIRE(err(b) == "ok");
    // Point b's entry in a at the root: a/b is then the root again. a's entries sit inline
    // after its inode and xattrs (docs/erofs.md §5): ".", "..", "b".
    const std::size_t meta_blk = le32(image, 1024 + 40);
    const std::size_t pos = meta_blk * 4096 + static_cast<std::size_t>(a->st.ino) * 32;
    const unsigned format = static_cast<unsigned char>(image[pos]);
    REQUIRE(((format >> 1) & 7) == 2); // flat inline
    REQUIRE(image[pos + 2] == 0);      // no xattrs
    const std::size_t dirents = pos + ((format & 1) ? 64 : 32);
    bool patched = false;
    for (std::size_t i = 0; i < 3; ++i) {
        const std::size_t e = dirents + 12 * i;
        REQUIRE(le32(image, e) != 0);
        if (le32(image, e) == b->st.ino) {
            put_le32(image, e, static_cast<std::uint32_t>(root->st.ino));
            patched = true;
        }
    }
    REQUIRE(patched);
    fix_checksum(image);
    auto cyc = erofs_fs::open_bytes(image);
    REQUIRE(err(cyc) == "ok");
    auto r = cyc->root(cyc->image_root());
    auto ca = cyc->lookup(r->handle, "a");
    REQUIRE(err(ca) == "ok");
    CHECK(err(cyc->lookup(ca->handle, "b")) == "ELOOP");
    CHECK(err(cyc->resolve_dir("a/b/a/b/a")) == "ok"); // a path walk is bounded by the path
}

TEST_CASE("erofs: names out of order are corrupt; a long component is ENAMETOOLONG", "[erofs]") {
    if (skip_without_mkfs()) return;
    temp_dir dir{"ovlcore-erofs-"};
    std::filesystem::create_directories(dir / "src/d");
    et::write_file(dir / "src/d/p1", "1");
    et::write_file(dir / "src/d/p2", "2");
    REQUIRE(et::mkfs(dir / "img", dir / "src", {"-T0"}).empty());
    std::string image = slurp(dir / "img");
    {
        auto fs = erofs_fs::open_bytes(image);
        REQUIRE(err(fs) == "ok");
        auto d = ovlcore::walk(*fs, fs->image_root(), "d");
        REQUIRE(err(d) == "ok");
        CHECK(fs->read_dir(d->handle)->size() == 2u);
        CHECK(err(fs->resolve_dir("d/" + std::string(256, 'n'))) == "ENAMETOOLONG");
        CHECK(err(fs->resolve_dir("d/" + std::string(255, 'n'))) == "ENOENT");
    }
    // d's names sit together in its block (docs/erofs.md §5): ". .. p1 p2". Swapped, they are
    // out of byte order: the listing is EUCLEAN, never a list the kernel's lookup cannot match.
    const auto at = image.find("p1p2");
    REQUIRE(at != std::string::npos);
    REQUIRE(image.find("p1p2", at + 1) == std::string::npos);
    image.replace(at, 4, "p2p1");
    fix_checksum(image);
    auto bad = erofs_fs::open_bytes(image);
    REQUIRE(err(bad) == "ok");
    auto d = ovlcore::walk(*bad, bad->image_root(), "d");
    REQUIRE(err(d) == "ok");
    CHECK(err(bad->read_dir(d->handle)) == "EUCLEAN");
}

TEST_CASE("erofs: hostile images give errors, never a crash, a hang or a huge allocation",
          "[erofs]") {
    if (skip_without_mkfs()) return;
    temp_dir dir{"ovlcore-erofs-"};
    const auto src = dir / "src";
    std::filesystem::create_directories(src / "d/sub");
    et::write_file(src / "small", "hello");
    et::write_file(src / "d/tail", std::string(4096 + 50, 't'));
    std::filesystem::create_symlink("small", src / "link");
    et::set_xattr(src / "small", "user.shared", "v");
    et::set_xattr(src / "d", "user.shared", "v");
    et::set_xattr(src / "d", "user.own", std::string(40, 'o'));
    for (const auto& options :
         {std::vector<std::string>{"-T0"}, std::vector<std::string>{"-T0", "--chunksize=4096"}}) {
        REQUIRE(et::mkfs(dir / "img", src, options).empty());
        const std::string image = slurp(dir / "img");
        REQUIRE(err(erofs_fs::open_bytes(image)) == "ok");
        // Every byte of the superblock and the metadata, flipped (checksum feature off so that
        // the flips reach the reader), and a few values besides.
        std::string base = image;
        put_le32(base, 1024 + 8, le32(base, 1024 + 8) & ~1u);
        const std::size_t meta_end = std::min<std::size_t>(base.size(), std::size_t{3} * 4096);
        std::mt19937 rng(7);
        std::size_t opened = 0;
        for (std::size_t i = 1024; i < meta_end; ++i) {
            if (i >= 1024 + 128 && i < 4096) continue; // unused space after the superblock
            // Odd bytes inverted, even ones random: one image per byte keeps ASan runs short.
            for (const unsigned char v : {i % 2 ? static_cast<unsigned char>(base[i] ^ 0xff)
                                                : static_cast<unsigned char>(rng())}) {
                std::string bad = base;
                bad[i] = static_cast<char>(v);
                auto fs = erofs_fs::open_bytes(std::move(bad));
                if (!fs) continue;
                ++opened;
                exercise(*fs, 40);
            }
        }
        CHECK(opened > 500);
        for (std::size_t len = 0; len < image.size(); len += 509) {
            auto fs = erofs_fs::open_bytes(base.substr(0, len));
            if (fs) exercise(*fs, 40);
        }
    }
}

TEST_CASE("erofs: long xattr name prefixes", "[erofs]") {
    if (skip_without_mkfs()) return;
    temp_dir dir{"ovlcore-erofs-"};
    std::filesystem::create_directory(dir / "src");
    et::write_file(dir / "src/f", "f");
    et::set_xattr(dir / "src/f", "user.redirect", "/objects/ab");
    et::set_xattr(dir / "src/f", "user.plain", "p");
    REQUIRE(et::mkfs(dir / "img", dir / "src", {"-T0"}).empty());
    const std::string image = et::with_long_prefix(slurp(dir / "img"), "redirect");
    auto fs = erofs_fs::open_bytes(image);
    REQUIRE(err(fs) == "ok");
    auto f = ovlcore::walk(*fs, fs->image_root(), "f");
    REQUIRE(err(f) == "ok");
    auto names = fs->list_xattr(f->handle);
    REQUIRE(err(names) == "ok");
    std::sort(names->begin(), names->end());
    CHECK(*names == std::vector<std::string>{"trusted.overlay.redirect", "user.plain"});
    auto v = fs->get_xattr(f->handle, "trusted.overlay.redirect");
    REQUIRE(err(v) == "ok");
    CHECK(v->value_or("absent") == "/objects/ab");
    CHECK(!fs->get_xattr(f->handle, "user.redirect")->has_value());

    // A prefix table that names an unknown base index, or runs off the image: corrupt.
    std::string bad = image;
    const std::size_t table = std::size_t{le32(bad, 1024 + 92)} * 4;
    bad[table + 2] = 9;
    fix_checksum(bad);
    CHECK(err(erofs_fs::open_bytes(bad)) == "EUCLEAN");
    bad = image;
    put_le32(bad, 1024 + 92, static_cast<std::uint32_t>(bad.size() / 4));
    fix_checksum(bad);
    CHECK(err(erofs_fs::open_bytes(bad)) == "EUCLEAN");
}

namespace {
/// Where the inode `nid` of `image` sits, and the byte after its inode and inline xattrs.
struct inode_place {
    std::size_t pos = 0;
    std::size_t body_end = 0;
    bool extended = false;
};
inode_place place_of(const std::string& image, std::uint64_t nid) {
    const std::size_t meta_blk = le32(image, 1024 + 40);
    inode_place p;
    p.pos = meta_blk * 4096 + static_cast<std::size_t>(nid) * 32;
    const unsigned format = static_cast<unsigned char>(image[p.pos]);
    const unsigned icount =
        static_cast<unsigned char>(image[p.pos + 2]) |
        (static_cast<unsigned>(static_cast<unsigned char>(image[p.pos + 3])) << 8);
    p.extended = (format & 1) != 0;
    p.body_end = p.pos + (p.extended ? 64 : 32) + (icount ? 12 + 4 * (icount - 1) : 0);
    return p;
}
} // namespace

TEST_CASE("erofs: adopt reads the descriptor it is given, never the path again", "[erofs]") {
    if (skip_without_mkfs()) return;
    image_fixture fx({});
    REQUIRE(fx.made.empty());
    const int fd = ::open(fx.img.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    // The path now names something else: the opened file is still the one read (erofs.md §1).
    et::write_file(fx.dir / "text", "not an image");
    std::filesystem::rename(fx.dir / "text", fx.img);
    std::string reason;
    auto fs = erofs_fs::adopt(fd, fx.img.string(), &reason);
    INFO(reason);
    REQUIRE(err(fs) == "ok");
    CHECK(fs->image_path() == fx.img.string());
    auto small = ovlcore::walk(*fs, fs->image_root(), "small");
    REQUIRE(err(small) == "ok");
    CHECK(small->st.size == 6);
    // A refused descriptor is closed at once; a bad one is EBADF.
    const int text = ::open(fx.img.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(text >= 0);
    CHECK(err(erofs_fs::adopt(text, fx.img.string())) == "EINVAL");
    CHECK(::fcntl(text, F_GETFD) == -1);
    CHECK(err(erofs_fs::adopt(-1, "none")) == "EBADF");
}

TEST_CASE("erofs: special files report the size their inode records", "[erofs]") {
    // The kernel reports every inode's recorded size, devices, fifos and sockets included, and
    // st_blocks from it (erofs.md §4); mkfs.erofs records 0, so the image is patched.
    if (skip_without_mkfs()) return;
    image_fixture fx({}, [](const std::filesystem::path& root) {
        et::write_file(root / "f", "x");
        REQUIRE(::mkfifo((root / "fifo").c_str(), 0644) == 0);
    });
    REQUIRE(fx.made.empty());
    std::string image = slurp(fx.img);
    std::uint64_t nid = 0;
    {
        auto fs = erofs_fs::open_bytes(image);
        REQUIRE(err(fs) == "ok");
        auto fifo = ovlcore::walk(*fs, fs->image_root(), "fifo");
        REQUIRE(err(fifo) == "ok");
        REQUIRE(fifo->st.type == file_type::fifo);
        CHECK(fifo->st.size == 0);
        nid = fifo->st.ino;
    }
    const inode_place p = place_of(image, nid);
    put_le32(image, p.pos + 8, 5000);
    fix_checksum(image);
    auto fs = erofs_fs::open_bytes(image);
    REQUIRE(err(fs) == "ok");
    auto fifo = ovlcore::walk(*fs, fs->image_root(), "fifo");
    REQUIRE(err(fifo) == "ok");
    CHECK(fifo->st.size == 5000);
    CHECK(fifo->st.blocks == 16); // 8192 bytes in 512-byte units
    if (p.extended) {             // a size negative as a signed number is corrupt
        put_le32(image, p.pos + 12, 0x80000000u);
        fix_checksum(image);
        auto bad = erofs_fs::open_bytes(image);
        REQUIRE(err(bad) == "ok");
        CHECK(err(ovlcore::walk(*bad, bad->image_root(), "fifo")) == "EUCLEAN");
    }
}

TEST_CASE("erofs: a chunk index's device id and high block bits are ignored, as the kernel does",
          "[erofs]") {
    // Single-device images mask the device id to 0, and without 48-bit chunks only the low 32
    // block bits count (erofs.md §6). The 4-byte block map of a one-chunk file is rewritten as
    // an 8-byte index, which fits in the same inode slots.
    if (skip_without_mkfs()) return;
    temp_dir dir{"ovlcore-erofs-"};
    std::filesystem::create_directory(dir / "src");
    et::write_file(dir / "src/one", std::string(4096, 'c'));
    REQUIRE(et::mkfs(dir / "img", dir / "src", {"--chunksize=4096", "-Enoinline_data"}).empty());
    const std::string original = slurp(dir / "img");
    std::uint64_t nid = 0;
    {
        auto fs = erofs_fs::open_bytes(original);
        REQUIRE(err(fs) == "ok");
        auto one = ovlcore::walk(*fs, fs->image_root(), "one");
        REQUIRE(err(one) == "ok");
        nid = one->st.ino;
    }
    const inode_place p = place_of(original, nid);
    REQUIRE(((static_cast<unsigned char>(original[p.pos]) >> 1) & 7) == 4);  // chunk-based
    REQUIRE((static_cast<unsigned char>(original[p.pos + 16]) & 0x20) == 0); // a block map
    const std::size_t map = (p.body_end + 3) & ~std::size_t{3};
    const std::uint32_t blk = le32(original, map);
    const std::size_t table = (p.body_end + 7) & ~std::size_t{7};
    const std::size_t slots_end = p.pos + ((map + 4 - p.pos + 31) & ~std::size_t{31});
    REQUIRE(table + 8 <= slots_end);
    auto with_index = [&](std::uint32_t lo) {
        std::string image = original;
        image[p.pos + 16] = static_cast<char>(image[p.pos + 16] | 0x20); // chunk indexes
        put_le32(image, table, 0x00010005u); // high block bits 5, device id 1
        put_le32(image, table + 4, lo);
        fix_checksum(image);
        return image;
    };
    // The file's bytes and where its data starts, read from `image`.
    auto read_one = [](const std::string& image) -> std::pair<std::string, std::uint64_t> {
        auto fs = erofs_fs::open_bytes(image);
        REQUIRE(err(fs) == "ok");
        auto one = ovlcore::walk(*fs, fs->image_root(), "one");
        REQUIRE(err(one) == "ok");
        auto f = fs->open_file(one->handle);
        REQUIRE(err(f) == "ok");
        std::vector<char> buf(4096);
        auto n = fs->read(*f, 0, buf);
        REQUIRE(err(n) == "ok");
        auto ext = fs->next_data(*f, 0);
        REQUIRE(err(ext) == "ok");
        return {std::string(buf.data(), *n), ext->begin};
    };
    const auto stored = read_one(with_index(blk));
    CHECK(stored.first == std::string(4096, 'c'));
    CHECK(stored.second == 0);
    const auto hole = read_one(with_index(0xFFFFFFFFu)); // a hole, whatever the rest says
    CHECK(hole.first == std::string(4096, '\0'));
    CHECK(hole.second == 4096);
}

TEST_CASE("erofs: release_cached frees the page cache and the directory memo; answers stay",
          "[erofs]") {
    if (skip_without_mkfs()) return;
    image_fixture fx({});
    REQUIRE(fx.made.empty());
    auto fs = erofs_fs::open(fx.img.string());
    REQUIRE(err(fs) == "ok");
    const auto listing = [&] {
        std::vector<std::string> out;
        auto root = fs->root(fs->image_root());
        REQUIRE(err(root) == "ok");
        std::vector<std::pair<std::string, erofs_fs::handle>> todo{{"", root->handle}};
        while (!todo.empty()) {
            const auto [path, dir] = todo.back();
            todo.pop_back();
            auto entries = fs->read_dir(dir);
            if (!entries) {
                out.push_back(path + ": " + err(entries));
                continue;
            }
            for (const auto& e : *entries) {
                const std::string p = path + "/" + e.name;
                auto c = fs->lookup(dir, e.name);
                if (!c) {
                    out.push_back(p + ": " + err(c));
                    continue;
                }
                auto xattrs = fs->list_xattr(c->handle);
                out.push_back(p + ": " + std::to_string(c->st.ino) + " " +
                              std::to_string(c->st.size) + " " + std::to_string(c->st.mode) + " " +
                              std::to_string(xattrs ? xattrs->size() : 0));
                if (c->st.type == file_type::directory) todo.emplace_back(p, c->handle);
            }
        }
        return out;
    };
    const auto before = listing();
    CHECK(before.size() >= 20);
    CHECK(fs->cached_pages() > 0);
    fs->release_cached();
    CHECK(fs->cached_pages() == 0);
    CHECK(listing() == before); // read in again, through a new cache
    CHECK(fs->cached_pages() > 0);
    const erofs_fs copy = *fs; // copies share the caches
    copy.release_cached();
    copy.release_cached(); // nothing left to free
    CHECK(listing() == before);
}
