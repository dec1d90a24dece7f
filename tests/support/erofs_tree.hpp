// SPDX-License-Identifier: MIT
// tests/support/erofs_tree.hpp: test support for erofs_fs (docs/erofs.md): source trees for
// mkfs.erofs, running mkfs.erofs (subprocess.hpp), and a walk that compares erofs_fs over an
// image with posix_fs over the same tree (the source tree, or the image mounted by the kernel).
// Test support only.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <ovlcore/backend/erofs.hpp>
#include <ovlcore/backend/posix.hpp>

#include "subprocess.hpp"

namespace ovlcore::test::erofs {

/// The mkfs.erofs in $PATH, or "" when it is missing.
inline std::string mkfs_path() {
    const char* path = std::getenv("PATH");
    std::string_view rest = path ? path : "/usr/sbin:/usr/bin:/sbin:/bin";
    while (!rest.empty()) {
        const auto colon = rest.find(':');
        const std::string dir(rest.substr(0, colon));
        std::string cand = (dir.empty() ? "." : dir) + "/mkfs.erofs";
        if (::access(cand.c_str(), X_OK) == 0) return cand;
        if (colon == std::string_view::npos) break;
        rest.remove_prefix(colon + 1);
    }
    for (const char* cand : {"/usr/sbin/mkfs.erofs", "/sbin/mkfs.erofs"})
        if (::access(cand, X_OK) == 0) return cand;
    return {};
}

/// Runs mkfs.erofs `options` `image` `src` quietly (stdout to /dev/null, stderr to IMAGE.stderr,
/// removed afterwards); "" on success, else a message with what mkfs.erofs wrote on stderr.
inline std::string mkfs(const std::filesystem::path& image, const std::filesystem::path& src,
                        const std::vector<std::string>& options) {
    const std::string tool = mkfs_path();
    if (tool.empty()) return "mkfs.erofs not found";
    std::vector<std::string> args{tool, "--quiet"};
    args.insert(args.end(), options.begin(), options.end());
    args.push_back(image.string());
    args.push_back(src.string());
    const std::string errors = image.string() + ".stderr";
    std::string message;
    try {
        const auto done =
            ovlcore::test::run(args, {.stdout_file = "/dev/null", .stderr_file = errors});
        if (!done.exit.ok()) {
            std::ifstream in(errors);
            std::string text((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
            while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
            message = "mkfs.erofs failed (exit " + std::to_string(done.exit.code()) + ")" +
                      (text.empty() ? "" : ": " + text);
        }
    } catch (const std::system_error& e) {
        message = std::string("mkfs.erofs not run: ") + e.what();
    }
    std::error_code ec;
    std::filesystem::remove(errors, ec);
    return message;
}

/// The mkfs.erofs option sets every reader test images a tree with: flat inline data (the
/// default), flat plain (noinline_data), chunk-based with and without inline data, fixed
/// timestamps.
inline const std::vector<std::vector<std::string>>& mkfs_variants() {
    static const std::vector<std::vector<std::string>> variants{
        {},
        {"-Enoinline_data"},
        {"--chunksize=4096"},
        {"--chunksize=8192", "-Enoinline_data"},
        {"-T0"}};
    return variants;
}

inline void write_file(const std::filesystem::path& p, std::string_view content) {
    std::ofstream out(p, std::ios::binary);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
}

inline void set_xattr(const std::filesystem::path& p, const std::string& name,
                      std::string_view value) {
    if (::lsetxattr(p.c_str(), name.c_str(), value.data(), value.size(), 0) != 0)
        throw std::system_error(errno, std::generic_category(), "lsetxattr " + name);
}

/// Fills `root` (an existing directory) with every kind of object erofs_fs must read: files of
/// several sizes (inline tails, whole blocks, both), symlinks (short, 4095 bytes), a chr 0:0
/// whiteout and other devices, a fifo, xattrs of the user and trusted namespaces (the escaped
/// trusted.overlay.overlay.* too) and shared ones, names of 1 and 254 bytes, names sorting
/// around "." and "..". Devices and trusted.* only as root.
inline void make_feature_tree(const std::filesystem::path& root) {
    namespace fs = std::filesystem;
    const bool is_root = ::geteuid() == 0;
    std::mt19937 rng(42);
    auto bytes = [&](std::size_t n) {
        std::string s(n, '\0');
        for (auto& c : s) c = static_cast<char>(rng() & 0xff);
        return s;
    };
    fs::create_directories(root / "d/sub/deeper");
    fs::create_directories(root / "empty");
    write_file(root / "zero", "");
    write_file(root / "small", "hello\n");
    write_file(root / "d/block", bytes(4096));
    write_file(root / "d/tail", bytes(4096 * 2 + 100));
    write_file(root / "d/sub/big", bytes(70000));
    write_file(root / "d/sub/deeper/x", "x");
    fs::create_symlink("small", root / "link");
    fs::create_symlink("../../small", root / "d/sub/up");
    fs::create_symlink(std::string(4095, 'a'), root / "longlink");
    fs::create_symlink("/d/sub", root / "abs");
    write_file(root / std::string(254, 'n'), "long name"); // mkfs.erofs 1.5 fails on 255
    write_file(root / "z", "1");
    write_file(root / "!x", "");
    write_file(root / "+z", "");
    write_file(root / "-y", "");
    write_file(root / ".hidden", "h");
    ::mkfifo((root / "fifo").c_str(), 0600);
    ::chmod((root / "small").c_str(), 04751);
    for (const char* n : {"small", "d", "d/tail", "zero"})
        set_xattr(root / n, "user.shared", "the same value everywhere");
    set_xattr(root / "small", "user.a", "1");
    set_xattr(root / "small", "user.empty", "");
    set_xattr(root / "d/tail", "user.big", bytes(3000));
    if (is_root) {
        ::mknod((root / "wh").c_str(), S_IFCHR | 0600, ::makedev(0, 0));
        ::mknod((root / "chr").c_str(), S_IFCHR | 0640, ::makedev(4095, 1048575));
        ::mknod((root / "blk").c_str(), S_IFBLK | 0600, ::makedev(8, 1));
        set_xattr(root / "d", "trusted.overlay.opaque", "y");
        set_xattr(root / "small", "trusted.overlay.overlay.redirect", "/x");
        set_xattr(root / "small", "trusted.overlay.metacopy", "");
        set_xattr(root / "d/sub", "trusted.overlay.redirect", "/elsewhere");
        ::lchown((root / "d/sub/big").c_str(), 1234, 5678);
        ::lchown((root / "link").c_str(), 70000, 80000);
    }
    // Hard links: nlink 2 on both names.
    fs::create_hard_link(root / "d/block", root / "hardlink");
}

/// A random tree of `n` objects (dirs, files, symlinks, devices as root) with xattrs.
inline void make_random_tree(const std::filesystem::path& root, unsigned seed, int n) {
    namespace fs = std::filesystem;
    std::mt19937 rng(seed);
    std::vector<fs::path> dirs{root};
    const bool is_root = ::geteuid() == 0;
    for (int i = 0; i < n; ++i) {
        const fs::path dir = dirs[rng() % dirs.size()];
        std::string name = "n" + std::to_string(rng() % 1000);
        if (rng() % 7 == 0)
            name = std::string(1 + rng() % 200, static_cast<char>('a' + rng() % 26));
        const fs::path p = dir / name;
        if (fs::exists(fs::symlink_status(p))) continue;
        switch (rng() % 6) {
        case 0:
        case 1:
            fs::create_directory(p);
            dirs.push_back(p);
            break;
        case 2: fs::create_symlink(std::string(1 + rng() % 100, 's'), p); break;
        case 3:
            if (is_root) {
                ::mknod(p.c_str(), S_IFCHR, ::makedev(0, 0));
                break;
            }
            [[fallthrough]];
        default: {
            std::string content(rng() % 9000, 'c');
            for (auto& c : content) c = static_cast<char>('a' + rng() % 26);
            write_file(p, content);
        }
        }
        const bool plain =
            fs::is_directory(fs::symlink_status(p)) || fs::is_regular_file(fs::symlink_status(p));
        if (rng() % 3 == 0 && plain)
            set_xattr(p, "user.k" + std::to_string(rng() % 4), std::string(rng() % 50, 'v'));
        if (is_root && rng() % 4 == 0 && plain) set_xattr(p, "trusted.overlay.opaque", "y");
    }
}

inline std::uint32_t le32(const std::string& s, std::size_t at) {
    std::uint32_t v = 0;
    for (std::size_t i = 4; i-- > 0;) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
    return v;
}

inline void put_le32(std::string& s, std::size_t at, std::uint32_t v) {
    for (std::size_t i = 0; i < 4; ++i) s[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

/// Recomputes the superblock checksum (docs/erofs.md §2) after a patch of the first block.
inline void fix_checksum(std::string& image) {
    if ((le32(image, 1024 + 8) & 1) == 0) return;
    std::string block = image.substr(1024, 4096 - 1024);
    put_le32(block, 4, 0);
    put_le32(image, 1024 + 4,
             ovlcore::detail::erofs_crc32c(
                 ~0u, reinterpret_cast<const unsigned char*>(block.data()), block.size()));
}

/// The image with the chunk map of the chunk-based file `nid` (4-byte block map) made all
/// holes, as composefs writes metacopy files (docs/erofs.md §6): st_size without data.
inline std::string all_holes(std::string image, std::uint64_t nid) {
    const std::size_t meta_blk = le32(image, 1024 + 40);
    const std::size_t pos = meta_blk * 4096 + static_cast<std::size_t>(nid) * 32;
    const unsigned format = static_cast<unsigned char>(image[pos]);
    if (((format >> 1) & 7) != 4) throw std::runtime_error("not a chunk-based inode");
    const unsigned icount =
        static_cast<unsigned char>(image[pos + 2]) |
        (static_cast<unsigned>(static_cast<unsigned char>(image[pos + 3])) << 8);
    const std::size_t isize = (format & 1) ? 64 : 32;
    const std::size_t xsize = icount ? 12 + 4 * (icount - 1) : 0;
    const unsigned chunk_format = static_cast<unsigned char>(image[pos + 16]);
    if (chunk_format & 0x20) throw std::runtime_error("chunk indexes, not a block map");
    const std::uint64_t size =
        (format & 1) ? (std::uint64_t{le32(image, pos + 12)} << 32) | le32(image, pos + 8)
                     : le32(image, pos + 8);
    const std::uint64_t chunk = std::uint64_t{4096} << (chunk_format & 0x1f);
    const std::size_t map = (pos + isize + xsize + 3) & ~std::size_t{3};
    for (std::uint64_t c = 0; c * chunk < size; ++c)
        put_le32(image, map + 4 * static_cast<std::size_t>(c), 0xFFFFFFFFu);
    fix_checksum(image);
    return image;
}

/// The image with every inline xattr entry `user.<suffix>` turned into
/// `trusted.overlay.<suffix>` through a long name prefix (docs/erofs.md §7): a prefix table of
/// one record (base index 4, infix "overlay.") in a block appended to the image, the superblock
/// naming it. mkfs.erofs 1.5 cannot write long prefixes; this makes one. Throws when no entry
/// with that suffix is found.
inline std::string with_long_prefix(std::string image, std::string_view suffix) {
    bool found = false;
    for (std::size_t at = 0; (at = image.find(suffix, at)) != std::string::npos; ++at) {
        if (at < 4 || static_cast<unsigned char>(image[at - 4]) != suffix.size() ||
            image[at - 3] != 1)
            continue;
        image[at - 3] = static_cast<char>(0x80); // long prefix 0
        found = true;
    }
    if (!found) throw std::runtime_error("no user." + std::string(suffix) + " entry");
    const std::size_t table = image.size();
    image.resize(table + 4096, '\0');
    const std::string record = std::string("\x09\x00\x04", 3) + "overlay.";
    image.replace(table, record.size(), record);
    const std::size_t sb = 1024;
    put_le32(image, sb + 80, le32(image, sb + 80) | 0x40); // incompat: long xattr prefixes
    image[sb + 91] = 1;                                    // one prefix
    put_le32(image, sb + 92, static_cast<std::uint32_t>(table / 4));
    fix_checksum(image);
    return image;
}

/// How strictly compare() matches: `source` (posix_fs over the tree mkfs.erofs read: only what
/// mkfs.erofs preserves), `source_without_times` (the same for an image made with -T: no mtime),
/// or `mounted` (posix_fs over the image mounted by the kernel: everything but st_dev, in the
/// same order).
enum class against { source, source_without_times, mounted };

namespace detail_cmp {

struct walker {
    const ovlcore::erofs_fs& e;
    const ovlcore::posix_fs& p;
    against mode;
    std::vector<std::string>& diffs;
    std::size_t objects = 0;

    void diff(const std::string& path, const std::string& what) {
        if (diffs.size() < 50) diffs.push_back((path.empty() ? "/" : path) + ": " + what);
    }

    static std::string err(std::errc e) { return std::make_error_code(e).message(); }

    void stats(const std::string& path, const ovlcore::stat_info& a, const ovlcore::stat_info& b) {
        if (a.type != b.type) return diff(path, "type");
        if (a.mode != b.mode) diff(path, "mode");
        if (a.uid != b.uid || a.gid != b.gid) diff(path, "owner");
        if (a.type != ovlcore::file_type::directory && a.size != b.size) diff(path, "size");
        if (a.rdev_major != b.rdev_major || a.rdev_minor != b.rdev_minor) diff(path, "rdev");
        if (a.nlink != b.nlink) diff(path, "nlink");
        if (mode == against::mounted) {
            if (a.size != b.size) diff(path, "dir size");
            if (a.ino != b.ino) diff(path, "ino");
            if (a.blocks != b.blocks) diff(path, "blocks");
            // A block device node's st_blksize comes from the device itself when it exists (the
            // VFS asks the block layer, docs/erofs.md §4): not the image's to say.
            if (a.type != ovlcore::file_type::block_device && a.blksize != b.blksize)
                diff(path, "blksize");
            if (a.mtime != b.mtime || a.atime != b.atime || a.ctime != b.ctime) diff(path, "times");
        } else if (mode == against::source && a.type != ovlcore::file_type::symlink &&
                   a.mtime.sec != b.mtime.sec) {
            diff(path, "mtime");
        }
    }

    template <class EH, class PH>
    void xattrs(const std::string& path, const EH& eh, const PH& ph) {
        auto en = e.list_xattr(eh);
        auto pn = p.list_xattr(ph);
        if (!en || !pn) return diff(path, "list_xattr failed");
        auto a = *en;
        auto b = *pn;
        if (mode != against::mounted) {
            std::sort(a.begin(), a.end());
            std::sort(b.begin(), b.end());
        }
        if (a != b) return diff(path, "xattr names");
        for (const auto& name : a) {
            auto ev = e.get_xattr(eh, name);
            auto pv = p.get_xattr(ph, name);
            if (!ev || !pv || *ev != *pv) diff(path, "xattr value " + name);
        }
        auto missing = e.get_xattr(eh, "user.no-such-attribute");
        if (!missing || missing->has_value()) diff(path, "absent xattr");
    }

    template <class EH, class PH>
    void content(const std::string& path, const EH& eh, const PH& ph, std::uint64_t size) {
        auto ef = e.open_file(eh);
        auto pf = p.open_file(ph);
        if (!ef || !pf) return diff(path, "open_file failed");
        std::vector<char> a(65536);
        std::vector<char> b(65536);
        for (std::uint64_t off = 0;; off += a.size()) {
            auto na = e.read(*ef, off, a);
            auto nb = p.read(*pf, off, b);
            if (!na || !nb) return diff(path, "read failed at " + std::to_string(off));
            if (*na != *nb ||
                !std::equal(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(*na), b.begin()))
                return diff(path, "content at " + std::to_string(off));
            if (*na == 0) break;
        }
        // next_data covers [0, size) with data extents whose complement reads as zeros.
        std::uint64_t at = 0;
        for (int guard = 0; guard < 100000; ++guard) {
            auto ext = e.next_data(*ef, at);
            if (!ext || ext->begin < at || ext->end < ext->begin || ext->end > size)
                return diff(path, "next_data");
            if (ext->begin == ext->end) break;
            at = ext->end;
        }
    }

    template <class EH, class PH>
    void walk(const std::string& path, const EH& eh, const PH& ph, const ovlcore::stat_info& est,
              const ovlcore::stat_info& pst, int depth) {
        ++objects;
        stats(path, est, pst);
        if (est.type != pst.type) return;
        xattrs(path, eh, ph);
        if (e.path_of(eh) != path) diff(path, "path_of " + e.path_of(eh));
        switch (est.type) {
        case ovlcore::file_type::symlink: {
            auto a = e.read_link(eh);
            auto b = p.read_link(ph);
            if (!a || !b || *a != *b) diff(path, "read_link");
            break;
        }
        case ovlcore::file_type::regular: content(path, eh, ph, est.size); break;
        case ovlcore::file_type::directory: {
            if (depth > 64) return diff(path, "too deep");
            auto ea = e.read_dir(eh);
            auto pa = p.read_dir(ph);
            if (!ea || !pa) return diff(path, "read_dir failed");
            auto a = *ea;
            auto b = *pa;
            auto dots = e.dot_positions(eh);
            if (!dots) return diff(path, "dot_positions failed");
            if (mode == against::mounted) {
                if (a != b) diff(path, "read_dir differs");
                auto pd = p.dot_positions(ph);
                if (!pd || *pd != *dots) diff(path, "dot_positions differ");
            } else {
                for (auto& x : a) x.ino = 0;
                for (auto& x : b) x.ino = 0;
                auto by_name = [](const auto& l, const auto& r) { return l.name < r.name; };
                std::sort(b.begin(), b.end(), by_name);
                if (a != b) diff(path, "read_dir differs (sorted)");
                std::array<std::size_t, 2> want{0, 0};
                for (const auto& x : a) {
                    if (x.name < ".") ++want[0];
                    if (x.name < "..") ++want[1];
                }
                if (*dots != want) diff(path, "dot_positions");
            }
            for (const auto& ent : a) {
                const std::string child = path.empty() ? ent.name : path + "/" + ent.name;
                auto ec = e.lookup(eh, ent.name);
                auto pc = p.lookup(ph, ent.name);
                if (!ec || !pc) {
                    diff(child, "lookup failed");
                    continue;
                }
                if (ec->st.ino != (*ea)[static_cast<std::size_t>(&ent - a.data())].ino)
                    diff(child, "d_ino != st_ino");
                if (ent.type != ec->st.type) diff(child, "d_type");
                walk(child, ec->handle, pc->handle, ec->st, pc->st, depth + 1);
            }
            auto none = e.lookup(eh, "no-such-name-here");
            if (none || none.error() != std::errc::no_such_file_or_directory)
                diff(path, "lookup of a missing name");
            break;
        }
        default: break;
        }
    }
};

} // namespace detail_cmp

/// Compares erofs_fs over `image` with posix_fs over `tree` (see `against`); the differences
/// (at most 50), empty when equal. `objects`, when given, gets the number of objects walked.
inline std::vector<std::string> compare(const std::filesystem::path& image,
                                        const std::filesystem::path& tree, against mode,
                                        std::size_t* objects = nullptr) {
    std::vector<std::string> diffs;
    std::string why;
    auto e = ovlcore::erofs_fs::open(image.string(), &why);
    if (!e) return {"erofs_fs::open: " + why};
    ovlcore::posix_fs p;
    auto el = e->resolve_dir("/");
    auto pl = p.resolve_dir(tree.string());
    if (!el || !pl) return {"resolve_dir failed"};
    auto er = e->root(el->ref);
    auto pr = p.root(pl->ref);
    if (!er || !pr) return {"root failed"};
    detail_cmp::walker w{*e, p, mode, diffs};
    w.walk("", er->handle, pr->handle, er->st, pr->st, 0);
    if (objects) *objects = w.objects;
    return diffs;
}

} // namespace ovlcore::test::erofs
