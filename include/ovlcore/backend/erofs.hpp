// SPDX-License-Identifier: MIT
// ovlcore/backend/erofs.hpp: erofs_fs, a read-only backing filesystem over one EROFS image file,
// read without mounting it (docs/erofs.md; spec §0, §5.1, §6). Users include it; it needs
// POSIX open/pread (Linux), so it stays out of the umbrella header.
//
// Design:
// - An image is opened once; the descriptor (or, for open_bytes, an in-memory copy) is shared by
//   every copy of the erofs_fs through a shared_ptr and only read with pread, so const calls are
//   thread-safe. Nothing is cached but the superblock, the long xattr prefixes, 256 recently
//   read 4 KiB pages and 16 parsed directory blocks (behind mutexes; the image is read-only,
//   erofs.md §1).
// - A handle is a reference-counted node {parent node, name, parsed inode}; path_of walks the
//   parents, lookup_beneath's ".." goes to the parent node. A layer is an inode number (nid).
// - Every offset, length, nid and name read from the image is checked before use: a corrupt
//   image gives EUCLEAN (erofs.md §9), never a read outside the image, a huge allocation or an
//   unbounded loop. Features this reader does not implement give EOPNOTSUPP with a reason.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../backend.hpp"
#include "../detail/path.hpp"
#include "../detail/unique_fd.hpp"
#include "../result.hpp"
#include "../types.hpp"

namespace ovlcore {

/// statfs f_type of a mounted EROFS filesystem (EROFS_SUPER_MAGIC_V1), reported as fs_magic.
inline constexpr std::uint64_t erofs_super_magic = 0xE0F5E1E2;

namespace detail {

// ---- on-disk constants (docs/erofs.md) --------------------------------------------------------
/// EUCLEAN (the kernel's EFSCORRUPTED): every corruption this reader detects (erofs.md §9).
inline constexpr std::errc erofs_corrupt = static_cast<std::errc>(EUCLEAN);
inline constexpr std::uint64_t erofs_sb_offset = 1024;
inline constexpr std::uint32_t erofs_compat_sb_chksum = 0x1;
inline constexpr std::uint32_t erofs_compat_plain_xattr_pfx = 0x10;
inline constexpr std::uint32_t erofs_incompat_lz4_0padding = 0x1;
inline constexpr std::uint32_t erofs_incompat_compr_cfgs = 0x2;
inline constexpr std::uint32_t erofs_incompat_chunked_file = 0x4;
inline constexpr std::uint32_t erofs_incompat_device_table = 0x8;
inline constexpr std::uint32_t erofs_incompat_ztailpacking = 0x10;
inline constexpr std::uint32_t erofs_incompat_fragments = 0x20;
inline constexpr std::uint32_t erofs_incompat_xattr_prefixes = 0x40;
/// The incompatible features this reader implements (erofs.md §2).
inline constexpr std::uint32_t erofs_incompat_supported =
    erofs_incompat_chunked_file | erofs_incompat_xattr_prefixes;
inline constexpr std::uint32_t erofs_incompat_compression =
    erofs_incompat_lz4_0padding | erofs_incompat_compr_cfgs | erofs_incompat_ztailpacking |
    erofs_incompat_fragments;

inline constexpr unsigned erofs_layout_flat_plain = 0;
inline constexpr unsigned erofs_layout_compressed_full = 1;
inline constexpr unsigned erofs_layout_flat_inline = 2;
inline constexpr unsigned erofs_layout_compressed_compact = 3;
inline constexpr unsigned erofs_layout_chunk_based = 4;
inline constexpr unsigned erofs_iformat_all = 0x1f;   // version, layout, nlink-1 / dot-omitted
inline constexpr unsigned erofs_iformat_bit4 = 0x10;  // nlink 1 (non-dirs), "." omitted (dirs)
inline constexpr unsigned erofs_chunk_blkbits = 0x1f; // chunk format: size shift over the block
inline constexpr unsigned erofs_chunk_indexes = 0x20; // 8-byte indexes instead of a block map
inline constexpr unsigned erofs_chunk_48bit = 0x40;   // 48-bit block numbers (not supported)
inline constexpr std::uint32_t erofs_null_block = 0xFFFFFFFFu; // a hole (erofs.md §6)
inline constexpr std::size_t erofs_dirent_size = 12;
inline constexpr std::size_t erofs_xattr_header_size = 12;
inline constexpr std::size_t erofs_symlink_max = 4095; // PATH_MAX - 1

[[nodiscard]] inline std::uint16_t erofs_le16(const unsigned char* p) noexcept {
    return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}
[[nodiscard]] inline std::uint32_t erofs_le32(const unsigned char* p) noexcept {
    return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
           (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}
[[nodiscard]] inline std::uint64_t erofs_le64(const unsigned char* p) noexcept {
    return static_cast<std::uint64_t>(erofs_le32(p)) |
           (static_cast<std::uint64_t>(erofs_le32(p + 4)) << 32);
}

/// CRC-32C (Castagnoli, reflected), seeded by the caller, without the final inversion: the form
/// the superblock checksum uses (erofs.md §2).
[[nodiscard]] inline std::uint32_t erofs_crc32c(std::uint32_t crc, const unsigned char* p,
                                                std::size_t n) noexcept {
    for (std::size_t i = 0; i < n; ++i) {
        crc ^= p[i];
        for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return crc;
}

/// The bytes of one image: a descriptor read with pread, or a copy in memory (open_bytes).
/// Reads of up to a page go through a cache of the image's 4 KiB pages (erofs.md §1): a lookup
/// reads a few bytes at a time from the same directory, inode and shared-xattr pages.
class erofs_source {
public:
    erofs_source(unique_fd fd, std::uint64_t size) noexcept : m_fd(std::move(fd)), m_size(size) {}
    explicit erofs_source(std::string bytes) noexcept
        : m_bytes(std::move(bytes)), m_size(m_bytes.size()) {}
    erofs_source(const erofs_source&) = delete;
    erofs_source& operator=(const erofs_source&) = delete;
    erofs_source(erofs_source&&) = delete;
    erofs_source& operator=(erofs_source&&) = delete;

    [[nodiscard]] std::uint64_t size() const noexcept { return m_size; }

    /// Exactly out.size() bytes at `offset`: EUCLEAN when they lie (partly) outside the image
    /// (erofs.md §9), EIO when the file cannot be read.
    [[nodiscard]] result<void> read(std::uint64_t offset, std::span<unsigned char> out) const {
        if (offset > m_size || out.size() > m_size - offset) return fail(erofs_corrupt);
        if (!m_fd.valid()) {
            if (!out.empty())
                std::memcpy(out.data(), m_bytes.data() + static_cast<std::size_t>(offset),
                            out.size());
            return {};
        }
        // File data (larger than a page) is not cached; the rest spans at most two pages.
        if (out.size() > page_size) return read_file(offset, out);
        for (std::size_t done = 0; done < out.size();) {
            const std::uint64_t at = offset + done;
            const auto in_page = static_cast<std::size_t>(at % page_size);
            const std::size_t n = std::min(out.size() - done, page_size - in_page);
            OVLCORE_TRY(read_cached(at / page_size, in_page, out.subspan(done, n)));
            done += n;
        }
        return {};
    }

    /// Pages held in the cache (tests, diagnostics).
    [[nodiscard]] std::size_t cached_pages() const {
        const std::lock_guard lock(m_mutex);
        return static_cast<std::size_t>(
            std::count_if(m_tags.begin(), m_tags.end(), [](std::uint64_t t) { return t != 0; }));
    }
    /// Frees the page cache (allocated again by the next read).
    void release_pages() const noexcept {
        std::unique_ptr<unsigned char[]> pages;
        const std::lock_guard lock(m_mutex);
        pages.swap(m_pages);
        m_tags.fill(0);
    }

private:
    static constexpr std::size_t page_size = 4096;
    static constexpr std::size_t cache_pages = 256; // 1 MiB, allocated by the first read

    [[nodiscard]] result<void> read_file(std::uint64_t offset, std::span<unsigned char> out) const {
        std::size_t done = 0;
        while (done < out.size()) {
            const ssize_t n = ::pread(m_fd.get(), out.data() + done, out.size() - done,
                                      static_cast<off_t>(offset + done));
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return fail(std::errc::io_error);
            if (n == 0) return fail(erofs_corrupt); // file shrank
            done += static_cast<std::size_t>(n);
        }
        return {};
    }

    /// out.size() bytes at `in_page` of page `page` (within the image), from the cache (one
    /// direct-mapped slot per page; the image is read-only, so a cached page stays valid).
    [[nodiscard]] result<void> read_cached(std::uint64_t page, std::size_t in_page,
                                           std::span<unsigned char> out) const {
        const auto slot = static_cast<std::size_t>(page % cache_pages);
        {
            const std::lock_guard lock(m_mutex);
            if (m_tags[slot] == page + 1) {
                std::memcpy(out.data(), m_pages.get() + slot * page_size + in_page, out.size());
                return {};
            }
        }
        std::array<unsigned char, page_size> buf; // filled by read_file before use
        const std::uint64_t start = page * page_size;
        const auto len =
            static_cast<std::size_t>(std::min<std::uint64_t>(page_size, m_size - start));
        OVLCORE_TRY(read_file(start, std::span(buf).first(len)));
        std::memcpy(out.data(), buf.data() + in_page, out.size());
        const std::lock_guard lock(m_mutex);
        // Not zero-filled: only the pages read in become resident (many images, erofs.md §1).
        if (!m_pages)
            m_pages = std::make_unique_for_overwrite<unsigned char[]>(cache_pages * page_size);
        std::memcpy(m_pages.get() + slot * page_size, buf.data(), len);
        std::memset(m_pages.get() + slot * page_size + len, 0, page_size - len);
        m_tags[slot] = page + 1;
        return {};
    }

    unique_fd m_fd; // not valid: the image is m_bytes
    std::string m_bytes;
    std::uint64_t m_size = 0;
    mutable std::mutex m_mutex; // guards the page cache
    mutable std::unique_ptr<unsigned char[]> m_pages;
    mutable std::array<std::uint64_t, cache_pages> m_tags{}; // page number + 1 per slot, 0: empty
};

/// One parsed on-disk inode (erofs.md §4).
struct erofs_inode {
    std::uint64_t nid = 0;
    std::uint64_t pos = 0; ///< byte offset of the inode in the image
    stat_info st;
    unsigned layout = 0;
    bool extended = false;
    bool bit4 = false;            ///< nlink 1 (non-dirs) or "." omitted (dirs)
    std::uint32_t raw = 0;        ///< the i_u word: start block, or chunk format
    std::uint32_t isize = 0;      ///< 32 or 64
    std::uint32_t xattr_size = 0; ///< bytes of the inline xattr area (0 without xattrs)
    /// Where the inline area after the inode and its xattrs starts (tail data, chunk map).
    [[nodiscard]] std::uint64_t inline_pos() const noexcept { return pos + isize + xattr_size; }
};

/// A handle's node: the inode, the name it was found by and the directory it was found in.
struct erofs_node {
    std::shared_ptr<const erofs_node> parent; ///< null for a layer root
    std::string name;
    erofs_inode ino;
};

/// What open refuses an image with: the errno and a sentence.
struct erofs_refusal {
    std::errc code;
    std::string reason;
};

/// The superblock and derived state, shared by every copy of an erofs_fs.
struct erofs_image {
    std::string path;
    std::unique_ptr<erofs_source> src;
    unsigned blkbits = 12;
    std::uint64_t blksz = 4096;
    std::uint64_t root_nid = 0;
    std::uint64_t meta_pos = 0;  ///< meta_blkaddr in bytes
    std::uint64_t xattr_pos = 0; ///< xattr_blkaddr in bytes
    std::uint64_t epoch = 0;     ///< compact inodes' base time (seconds)
    std::uint32_t epoch_nsec = 0;
    std::uint64_t dev = 0; ///< st_dev reported for every object
    std::uint64_t mount_id = 0;
    std::vector<std::string> long_prefixes; ///< full prefix text ("trusted.overlay.")
};

} // namespace detail

/// One EROFS image file, read-only, as a backing_filesystem (docs/erofs.md). Cheap to copy:
/// copies share the open image. All const members are thread-safe.
/// @see docs/erofs.md, spec §0, §5.1, §6
class erofs_fs {
public:
    /// A layer: a directory (or other object) inside the image, by inode number.
    struct layer_ref {
        std::uint64_t nid = 0;
        friend bool operator==(const layer_ref&, const layer_ref&) = default;
    };

    /// An object of a layer: a shared node (see the top of this file).
    class handle {
    public:
        handle() = default;
        [[nodiscard]] std::uint64_t nid() const noexcept { return m_node ? m_node->ino.nid : 0; }

    private:
        friend class erofs_fs;
        explicit handle(std::shared_ptr<const detail::erofs_node> n) noexcept
            : m_node(std::move(n)) {}
        std::shared_ptr<const detail::erofs_node> m_node;
    };

    /// An open regular file: its inode.
    struct file {
        detail::erofs_inode ino;
    };

    /// Opens the image at `image_path`. Errors: ENOENT/EACCES/... from open(2); EINVAL when the
    /// file is not an EROFS image (no magic); EOPNOTSUPP for features this reader does not
    /// implement (compression, extra devices, unknown incompatible bits, ...); EUCLEAN for a
    /// corrupt superblock or root; EIO when the file cannot be read. `reason`, when given, gets a
    /// sentence explaining the refusal. @see docs/erofs.md §2
    [[nodiscard]] static result<erofs_fs> open(const std::string& image_path,
                                               std::string* reason = nullptr) {
        const int fd = ::open(image_path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            const int err = errno;
            if (reason) *reason = image_path + ": cannot open: " + std::strerror(err);
            return fail_errno(err);
        }
        return adopt(fd, image_path, reason);
    }

    /// The image behind `fd`, an open descriptor (readable) that the erofs_fs takes over: it is
    /// closed when the last copy goes, or at once when the image is refused. The file is never
    /// looked up by name again (erofs.md §1), so a path replaced after it was opened cannot change
    /// which file is read. `image_path` only names it in image_path() and reasons. Errors as
    /// open's, from fstat(2) on; EINVAL for a descriptor that is not a regular file.
    [[nodiscard]] static result<erofs_fs> adopt(int fd, const std::string& image_path,
                                                std::string* reason = nullptr) {
        if (fd < 0) return fail(std::errc::bad_file_descriptor);
        // Owned from here: closed on every way out, std::bad_alloc from the allocations below
        // included (docs/contributing.md §13); the erofs_source takes it over once allocated.
        detail::unique_fd owned(fd);
        struct stat st {};
        if (::fstat(fd, &st) != 0) return fail_errno(errno);
        if (!S_ISREG(st.st_mode)) {
            owned.reset(); // closed at once, as documented
            if (reason) *reason = image_path + ": not a regular file";
            return fail(std::errc::invalid_argument);
        }
        return make(image_path,
                    std::make_unique<detail::erofs_source>(std::move(owned),
                                                           static_cast<std::uint64_t>(st.st_size)),
                    reason);
    }

    /// An image held in memory (tests, fuzzing); `name` is reported as image_path().
    [[nodiscard]] static result<erofs_fs> open_bytes(std::string bytes, std::string name = "",
                                                     std::string* reason = nullptr) {
        return make(std::move(name), std::make_unique<detail::erofs_source>(std::move(bytes)),
                    reason);
    }

    /// The optional backend call release_cached() (backend.hpp): frees the page cache and the
    /// parsed directory blocks (erofs.md §1); copies share both.
    void release_cached() const noexcept {
        m_img->src->release_pages();
        std::array<std::shared_ptr<const dir_block>, dir_block_memo::slots> blocks;
        const std::lock_guard lock(m_dir_blocks->mutex);
        blocks.swap(m_dir_blocks->blocks);
        m_dir_blocks->keys.fill({});
    }

    /// Image pages held in the read cache (tests, diagnostics; copies share the cache).
    [[nodiscard]] std::size_t cached_pages() const { return m_img->src->cached_pages(); }

    /// The path the image was opened from.
    [[nodiscard]] const std::string& image_path() const noexcept { return m_img->path; }
    /// The image's block size in bytes.
    [[nodiscard]] std::uint64_t block_size() const noexcept { return m_img->blksz; }
    /// The root directory's layer.
    [[nodiscard]] layer_ref image_root() const noexcept { return layer_ref{m_img->root_nid}; }

    /// Resolves `path` inside the image ("" or "/" = the image root; absolute or relative, both
    /// from the image root), symlinks followed as mount(2) would (absolute targets from the image
    /// root, at most 40), ".." stopping at the root. The object may be a non-directory.
    /// @see spec §1.3, docs/erofs.md §1
    [[nodiscard]] result<resolved_dir<layer_ref>> resolve_dir(std::string_view path) const {
        if (path.size() >= detail::path_max) return fail(std::errc::filename_too_long);
        OVLCORE_TRY_ASSIGN(root_ino, read_inode(m_img->root_nid));
        if (root_ino.st.type != file_type::directory) return fail(detail::erofs_corrupt);
        // The walk keeps the stack of directories from the root to the current one.
        std::vector<detail::erofs_inode> stack{root_ino};
        std::optional<detail::erofs_inode> final_obj;
        const bool must_dir = detail::has_trailing_slash(path);
        struct pending {
            std::string text;
            std::size_t pos = 0;
        };
        std::vector<pending> todo{pending{std::string(path), 0}};
        int followed = 0;
        while (!todo.empty()) {
            pending& top = todo.back();
            const std::string_view text = top.text;
            std::size_t& pos = top.pos;
            while (pos < text.size() && text[pos] == '/') ++pos;
            if (pos >= text.size()) {
                todo.pop_back();
                continue;
            }
            const std::size_t start = pos;
            while (pos < text.size() && text[pos] != '/') ++pos;
            const std::string comp(text.substr(start, pos - start));
            if (final_obj) return fail(std::errc::not_a_directory); // a non-dir mid-path
            if (comp == ".") continue;
            if (comp == "..") {
                if (stack.size() > 1) stack.pop_back();
                continue;
            }
            if (comp.size() > detail::name_max) return fail(std::errc::filename_too_long);
            OVLCORE_TRY_ASSIGN(ent, find_entry(stack.back(), comp));
            OVLCORE_TRY_ASSIGN(child, read_inode(ent));
            if (child.st.type == file_type::symlink) { // followed, even the final one
                if (++followed > detail::max_symlinks)
                    return fail(std::errc::too_many_symbolic_link_levels);
                OVLCORE_TRY_ASSIGN(target, link_text(child));
                if (target.empty()) return fail(std::errc::no_such_file_or_directory);
                if (target.front() == '/') stack.resize(1);
                todo.push_back(pending{std::move(target), 0});
                continue;
            }
            if (child.st.type == file_type::directory) {
                stack.push_back(child);
            } else {
                final_obj = child;
            }
        }
        if (final_obj && must_dir) return fail(std::errc::not_a_directory);
        resolved_dir<layer_ref> out;
        if (final_obj) {
            out.ref = layer_ref{final_obj->nid};
            out.st = final_obj->st;
            for (std::size_t i = stack.size(); i-- > 0;)
                out.ancestors.push_back(file_id_of(stack[i].st));
        } else {
            out.ref = layer_ref{stack.back().nid};
            out.st = stack.back().st;
            for (std::size_t i = stack.size() - 1; i-- > 0;)
                out.ancestors.push_back(file_id_of(stack[i].st));
        }
        out.mount_id = m_img->mount_id;
        out.read_only = true;
        out.name_max = 255;
        out.fs_magic = erofs_super_magic;
        return out;
    }

    /// The layer's root object and its lstat.
    [[nodiscard]] result<real_object<handle>> root(const layer_ref& layer) const {
        OVLCORE_TRY_ASSIGN(ino, read_inode(layer.nid));
        auto node = std::make_shared<detail::erofs_node>(
            detail::erofs_node{.parent = nullptr, .name = {}, .ino = ino});
        stat_info st = node->ino.st;
        return real_object<handle>{.handle = handle(std::move(node)), .st = st};
    }

    /// `name` in the directory `dir`, not followed: a binary search of the sorted entries
    /// (erofs.md §5). ENOTDIR, ENAMETOOLONG above 255 bytes, ENOENT; ELOOP when a directory
    /// entry names one of the directories it was reached through (a cycle, erofs.md §9).
    [[nodiscard]] result<real_object<handle>> lookup(const handle& dir,
                                                     std::string_view name) const {
        const detail::erofs_inode& d = dir.m_node->ino;
        if (d.st.type != file_type::directory) return fail(std::errc::not_a_directory);
        if (name.size() > detail::name_max) return fail(std::errc::filename_too_long);
        if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos)
            return fail(std::errc::invalid_argument);
        OVLCORE_TRY_ASSIGN(nid, find_entry(d, name));
        OVLCORE_TRY_ASSIGN(ino, read_inode(nid));
        if (ino.st.type == file_type::directory)
            for (const detail::erofs_node* n = dir.m_node.get(); n != nullptr; n = n->parent.get())
                if (n->ino.nid == nid) return fail(std::errc::too_many_symbolic_link_levels);
        auto node = std::make_shared<detail::erofs_node>(
            detail::erofs_node{.parent = dir.m_node, .name = std::string(name), .ino = ino});
        stat_info st = node->ino.st;
        return real_object<handle>{.handle = handle(std::move(node)), .st = st};
    }

    /// The entries in the image's order (byte order), without "." and "..". ENOTDIR.
    [[nodiscard]] result<std::vector<dir_entry>> read_dir(const handle& dir) const {
        std::vector<dir_entry> out;
        OVLCORE_TRY(list(dir.m_node->ino, &out, nullptr));
        return out;
    }

    /// How many read_dir entries come before "." and before ".." (erofs.md §5: EROFS keeps them
    /// at their sorted places; an omitted "." counts as first).
    [[nodiscard]] result<std::array<std::size_t, 2>> dot_positions(const handle& dir) const {
        std::array<std::size_t, 2> dots{0, 0};
        OVLCORE_TRY(list(dir.m_node->ino, nullptr, &dots));
        return dots;
    }

    /// The value of the attribute `name`, or nullopt when absent (or in a namespace EROFS cannot
    /// store). ERANGE for an empty or over-long name. @see docs/erofs.md §7
    [[nodiscard]] result<std::optional<std::string>> get_xattr(const handle& h,
                                                               std::string_view name) const {
        if (name.empty() || name.size() > 255) return fail(std::errc::result_out_of_range);
        std::optional<std::string> found;
        auto match = [&](std::string_view n, std::uint64_t vpos,
                         std::uint32_t vlen) -> result<bool> {
            if (n != name) return true;
            std::string value(vlen, '\0');
            OVLCORE_TRY(m_img->src->read(
                vpos, std::span<unsigned char>(reinterpret_cast<unsigned char*>(value.data()),
                                               value.size())));
            found = std::move(value);
            return false;
        };
        OVLCORE_TRY(for_each_xattr(h.m_node->ino, match));
        return found;
    }

    /// Every attribute name: the inline ones, then the shared ones (the kernel's order).
    [[nodiscard]] result<std::vector<std::string>> list_xattr(const handle& h) const {
        std::vector<std::string> out;
        OVLCORE_TRY(for_each_xattr(
            h.m_node->ino, [&](std::string_view n, std::uint64_t, std::uint32_t) -> result<bool> {
                out.emplace_back(n);
                return true;
            }));
        return out;
    }

    /// A symlink's target. EINVAL for a non-symlink.
    [[nodiscard]] result<std::string> read_link(const handle& h) const {
        return link_text(h.m_node->ino);
    }

    /// The data-only walk of spec §6 from the layer root: no symlink followed (middle: ELOOP,
    /// final: returned as is; with a trailing '/': ELOOP), "." and ".." physical, ".." above the
    /// layer root: EXDEV; ENOENT, ENOTDIR. @see spec §6
    [[nodiscard]] result<real_object<handle>> lookup_beneath(const layer_ref& layer,
                                                             std::string_view path) const {
        if (path.size() >= detail::path_max) return fail(std::errc::filename_too_long);
        const bool trailing = detail::has_trailing_slash(path);
        const auto comps = detail::split_path(path);
        OVLCORE_TRY_ASSIGN(cur, root(layer));
        for (std::size_t i = 0; i < comps.size(); ++i) {
            const std::string_view comp = comps[i];
            if (cur.st.type != file_type::directory) return fail(std::errc::not_a_directory);
            if (comp == ".") continue;
            if (comp == "..") {
                const auto& parent = cur.handle.m_node->parent;
                if (!parent) return fail(std::errc::cross_device_link);
                cur = real_object<handle>{.handle = handle(parent), .st = parent->ino.st};
                continue;
            }
            OVLCORE_TRY_ASSIGN(next, lookup(cur.handle, comp));
            const bool last = i + 1 == comps.size();
            if (next.st.type == file_type::symlink && (!last || trailing))
                return fail(std::errc::too_many_symbolic_link_levels);
            cur = std::move(next);
        }
        if (trailing && cur.st.type != file_type::directory)
            return fail(std::errc::not_a_directory);
        return cur;
    }

    /// Opens a regular file (refused as open_file_refusal says). EOPNOTSUPP for a compressed
    /// file (erofs.md §6).
    [[nodiscard]] result<file> open_file(const handle& h) const {
        const detail::erofs_inode& ino = h.m_node->ino;
        if (const auto refused = open_file_refusal(ino.st.type)) return fail(*refused);
        OVLCORE_TRY(check_layout(ino));
        return file{ino};
    }

    /// Up to buffer.size() bytes at `offset`; holes read as zeros; 0 at or after the end.
    [[nodiscard]] result<std::size_t> read(const file& f, std::uint64_t offset,
                                           std::span<char> buffer) const {
        return read_data(f.ino, offset,
                         std::span<unsigned char>(reinterpret_cast<unsigned char*>(buffer.data()),
                                                  buffer.size()));
    }

    /// The first stored range at or after `offset` (backend.hpp): chunk-based files have holes
    /// (erofs.md §6); flat files are data throughout.
    [[nodiscard]] result<data_extent> next_data(const file& f, std::uint64_t offset) const {
        const detail::erofs_inode& ino = f.ino;
        const std::uint64_t size = ino.st.size;
        if (offset >= size) {
            const std::uint64_t end = std::max(size, offset);
            return data_extent{.begin = end, .end = end};
        }
        if (ino.layout != detail::erofs_layout_chunk_based)
            return data_extent{.begin = offset, .end = size};
        OVLCORE_TRY_ASSIGN(bits, chunk_bits(ino));
        const std::uint64_t chunks = chunk_count(size, bits);
        std::uint64_t c = offset >> bits;
        while (c < chunks) {
            OVLCORE_TRY_ASSIGN(blk, chunk_block(ino, c));
            if (blk) break;
            ++c;
        }
        if (c >= chunks) return data_extent{.begin = size, .end = size};
        const std::uint64_t begin = std::max(offset, c << bits);
        std::uint64_t e = c + 1;
        while (e < chunks) {
            OVLCORE_TRY_ASSIGN(blk, chunk_block(ino, e));
            if (!blk) break;
            ++e;
        }
        return data_extent{.begin = begin, .end = std::min(size, e << bits)};
    }

    /// The object's path relative to its layer root ("" for the root).
    [[nodiscard]] std::string path_of(const handle& h) const {
        std::vector<std::string_view> names;
        for (const detail::erofs_node* n = h.m_node.get(); n != nullptr && n->parent;
             n = n->parent.get())
            names.push_back(n->name);
        std::string out;
        for (std::size_t i = names.size(); i-- > 0;) {
            out += names[i];
            if (i != 0) out += '/';
        }
        return out;
    }

private:
    std::shared_ptr<const detail::erofs_image> m_img;

    explicit erofs_fs(std::shared_ptr<const detail::erofs_image> img) noexcept
        : m_img(std::move(img)) {}

    [[nodiscard]] static std::uint64_t next_id() noexcept {
        static std::atomic<std::uint64_t> counter{0};
        return counter.fetch_add(1, std::memory_order_relaxed) + 1;
    }

    // ---- superblock (erofs.md §2) ---------------------------------------------------------------

    [[nodiscard]] static result<erofs_fs>
    make(std::string path, std::unique_ptr<detail::erofs_source> src, std::string* reason) {
        auto refuse = [&](std::errc code, const std::string& why) -> result<erofs_fs> {
            if (reason) *reason = (path.empty() ? std::string("image") : path) + ": " + why;
            return fail(code);
        };
        std::array<unsigned char, 128> sb{};
        if (src->size() < detail::erofs_sb_offset + sb.size())
            return refuse(std::errc::invalid_argument, "not an EROFS image (too small)");
        if (!src->read(detail::erofs_sb_offset, sb))
            return refuse(std::errc::io_error, "cannot read the superblock");
        if (detail::erofs_le32(sb.data()) != erofs_super_magic)
            return refuse(std::errc::invalid_argument, "not an EROFS image (bad magic)");
        const std::uint32_t checksum = detail::erofs_le32(sb.data() + 4);
        const std::uint32_t compat = detail::erofs_le32(sb.data() + 8);
        const unsigned blkbits = sb[12];
        const unsigned extslots = sb[13];
        const std::uint16_t root16 = detail::erofs_le16(sb.data() + 14);
        const std::uint64_t epoch = detail::erofs_le64(sb.data() + 24);
        const std::uint32_t epoch_nsec = detail::erofs_le32(sb.data() + 32);
        const std::uint32_t meta_blk = detail::erofs_le32(sb.data() + 40);
        const std::uint32_t xattr_blk = detail::erofs_le32(sb.data() + 44);
        const std::uint32_t incompat = detail::erofs_le32(sb.data() + 80);
        const std::uint16_t extra_devices = detail::erofs_le16(sb.data() + 86);
        const unsigned dirblkbits = sb[90];
        const unsigned prefix_count = sb[91];
        const std::uint32_t prefix_start = detail::erofs_le32(sb.data() + 92);
        const std::uint64_t packed_nid = detail::erofs_le64(sb.data() + 96);

        if (blkbits < 9 || blkbits > 12)
            return refuse(std::errc::operation_not_supported,
                          "unsupported block size 2^" + std::to_string(blkbits));
        const std::uint64_t blksz = std::uint64_t{1} << blkbits;
        if (128 + extslots * 16u > blksz)
            return refuse(detail::erofs_corrupt, "superblock larger than a block");
        if (compat & detail::erofs_compat_sb_chksum) {
            // CRC-32C of the superblock's block from byte 1024 (the whole block when smaller),
            // checksum field zeroed (erofs.md §2).
            const std::uint64_t len =
                blksz > detail::erofs_sb_offset ? blksz - detail::erofs_sb_offset : blksz;
            std::vector<unsigned char> block(static_cast<std::size_t>(len));
            if (!src->read(detail::erofs_sb_offset, block))
                return refuse(detail::erofs_corrupt, "superblock block truncated");
            std::fill_n(block.begin() + 4, 4, 0);
            if (detail::erofs_crc32c(~0u, block.data(), block.size()) != checksum)
                return refuse(detail::erofs_corrupt, "superblock checksum mismatch");
        }
        if (incompat & detail::erofs_incompat_compression)
            return refuse(std::errc::operation_not_supported,
                          "compressed EROFS images are not supported");
        if (incompat & detail::erofs_incompat_device_table || extra_devices != 0)
            return refuse(std::errc::operation_not_supported,
                          "multi-device EROFS images are not supported");
        if (incompat & ~detail::erofs_incompat_supported)
            return refuse(std::errc::operation_not_supported,
                          "unsupported incompatible features 0x" +
                              to_hex(incompat & ~detail::erofs_incompat_supported));
        if (dirblkbits != 0)
            return refuse(std::errc::operation_not_supported, "unsupported directory block size");

        auto img = std::make_shared<detail::erofs_image>();
        img->path = std::move(path);
        img->src = std::move(src);
        img->blkbits = blkbits;
        img->blksz = blksz;
        img->root_nid = root16;
        img->meta_pos = std::uint64_t{meta_blk} << blkbits;
        img->xattr_pos = std::uint64_t{xattr_blk} << blkbits;
        img->epoch = epoch;
        img->epoch_nsec = epoch_nsec;
        img->dev = (std::uint64_t{0xE0F5} << 32) | next_id();
        img->mount_id = img->dev;
        erofs_fs fs(img);
        if (prefix_count != 0) {
            if (!(incompat & detail::erofs_incompat_xattr_prefixes))
                return refuse(detail::erofs_corrupt,
                              "long xattr prefixes without their feature bit");
            const bool in_packed =
                packed_nid != 0 && !(compat & detail::erofs_compat_plain_xattr_pfx);
            auto loaded = fs.load_prefixes(prefix_count, std::uint64_t{prefix_start} * 4,
                                           in_packed ? std::optional<std::uint64_t>(packed_nid)
                                                     : std::nullopt);
            if (!loaded) return refuse(loaded.error(), "bad long xattr prefix table");
            img->long_prefixes = std::move(*loaded);
        }
        auto root = fs.read_inode(img->root_nid);
        if (!root) return refuse(root.error(), "cannot read the root inode");
        if (root->st.type != file_type::directory)
            return refuse(detail::erofs_corrupt, "the root is not a directory");
        return fs;
    }

    [[nodiscard]] static std::string to_hex(std::uint32_t v) {
        static constexpr char digits[] = "0123456789abcdef";
        std::string out;
        do {
            out.insert(out.begin(), digits[v & 0xf]);
            v >>= 4;
        } while (v != 0);
        return out;
    }

    /// The long xattr name prefixes (erofs.md §7): each a 2-byte length, then the base index
    /// and the infix, 4-byte aligned; in the packed inode's data, or in the image itself.
    [[nodiscard]] result<std::vector<std::string>>
    load_prefixes(unsigned count, std::uint64_t pos, std::optional<std::uint64_t> packed) const {
        std::optional<detail::erofs_inode> holder;
        if (packed) {
            OVLCORE_TRY_ASSIGN(ino, read_inode(*packed));
            if (ino.st.type != file_type::regular) return fail(detail::erofs_corrupt);
            OVLCORE_TRY(check_layout(ino));
            holder = ino;
        }
        auto get = [&](std::uint64_t at, std::span<unsigned char> out) -> result<void> {
            if (!holder) return m_img->src->read(at, out);
            OVLCORE_TRY_ASSIGN(n, read_data(*holder, at, out));
            if (n != out.size()) return fail(detail::erofs_corrupt);
            return {};
        };
        std::vector<std::string> out;
        for (unsigned i = 0; i < count; ++i) {
            pos = (pos + 3) & ~std::uint64_t{3};
            std::array<unsigned char, 2> lenb{};
            OVLCORE_TRY(get(pos, lenb));
            const std::size_t len = detail::erofs_le16(lenb.data());
            if (len < 1 || len > 256) return fail(detail::erofs_corrupt);
            std::vector<unsigned char> body(len);
            OVLCORE_TRY(get(pos + 2, body));
            pos += 2 + len;
            const std::string_view base = short_prefix(body[0]);
            if (base.empty() || base.back() != '.') return fail(detail::erofs_corrupt);
            std::string full(base);
            full.append(reinterpret_cast<const char*>(body.data()) + 1, len - 1);
            out.push_back(std::move(full));
        }
        return out;
    }

    /// The name prefix of a short xattr name index (erofs.md §7); "" for an unknown index. The
    /// ACL indexes name the whole attribute.
    [[nodiscard]] static std::string_view short_prefix(unsigned index) noexcept {
        switch (index) {
        case 1: return "user.";
        case 2: return "system.posix_acl_access";
        case 3: return "system.posix_acl_default";
        case 4: return "trusted.";
        case 6: return "security.";
        default: return "";
        }
    }

    // ---- inodes (erofs.md §3 and erofs.md §4) ---------------------------------------------------

    [[nodiscard]] result<detail::erofs_inode> read_inode(std::uint64_t nid) const {
        const detail::erofs_image& img = *m_img;
        if (nid > (img.src->size() >> 5)) return fail(detail::erofs_corrupt);
        detail::erofs_inode ino;
        ino.nid = nid;
        ino.pos = img.meta_pos + nid * 32;
        std::array<unsigned char, 64> raw{};
        OVLCORE_TRY(img.src->read(ino.pos, std::span(raw).first(32)));
        const unsigned format = detail::erofs_le16(raw.data());
        if (format & ~detail::erofs_iformat_all) return fail(std::errc::operation_not_supported);
        ino.extended = (format & 1u) != 0;
        ino.layout = (format >> 1) & 7u;
        ino.bit4 = (format & detail::erofs_iformat_bit4) != 0;
        if (ino.layout > detail::erofs_layout_chunk_based)
            return fail(std::errc::operation_not_supported);
        ino.isize = ino.extended ? 64 : 32;
        if (ino.extended) OVLCORE_TRY(img.src->read(ino.pos + 32, std::span(raw).subspan(32)));
        const unsigned icount = detail::erofs_le16(raw.data() + 2);
        ino.xattr_size = icount == 0 ? 0 : static_cast<std::uint32_t>(12 + 4 * (icount - 1));
        const unsigned mode = detail::erofs_le16(raw.data() + 4);
        ino.raw = detail::erofs_le32(raw.data() + 16);
        stat_info& st = ino.st;
        switch (mode & S_IFMT) {
        case S_IFREG: st.type = file_type::regular; break;
        case S_IFDIR: st.type = file_type::directory; break;
        case S_IFLNK: st.type = file_type::symlink; break;
        case S_IFCHR: st.type = file_type::char_device; break;
        case S_IFBLK: st.type = file_type::block_device; break;
        case S_IFIFO: st.type = file_type::fifo; break;
        case S_IFSOCK: st.type = file_type::socket; break;
        default: return fail(detail::erofs_corrupt);
        }
        st.mode = mode & 07777;
        if (ino.extended) {
            st.size = detail::erofs_le64(raw.data() + 8);
            st.uid = detail::erofs_le32(raw.data() + 24);
            st.gid = detail::erofs_le32(raw.data() + 28);
            st.mtime.sec = static_cast<std::int64_t>(detail::erofs_le64(raw.data() + 32));
            st.mtime.nsec = detail::erofs_le32(raw.data() + 40);
            st.nlink = detail::erofs_le32(raw.data() + 44);
        } else {
            st.size = detail::erofs_le32(raw.data() + 8);
            st.uid = detail::erofs_le16(raw.data() + 24);
            st.gid = detail::erofs_le16(raw.data() + 26);
            // Modulo 2^64, as the kernel adds them.
            st.mtime.sec =
                static_cast<std::int64_t>(img.epoch + detail::erofs_le32(raw.data() + 12));
            st.mtime.nsec = img.epoch_nsec;
            st.nlink = (ino.bit4 && st.type != file_type::directory)
                           ? 1
                           : detail::erofs_le16(raw.data() + 6);
        }
        if (st.mtime.nsec >= 1000000000u) return fail(detail::erofs_corrupt);
        st.atime = st.ctime = st.mtime;
        st.ino = nid;
        st.dev = img.dev;
        st.blksize = static_cast<std::uint32_t>(img.blksz);
        if (st.type == file_type::char_device || st.type == file_type::block_device) {
            // The kernel's "new" dev_t encoding (erofs.md §4).
            st.rdev_major = (ino.raw & 0xfff00u) >> 8;
            st.rdev_minor = (ino.raw & 0xffu) | ((ino.raw >> 12) & 0xfff00u);
        }
        // Every type reports the size the inode records, and blocks from it, as the kernel does
        // (devices, fifos and sockets included: mkfs.erofs records 0); a size that is negative
        // as a signed 64-bit number is corrupt (erofs.md §4).
        if (st.size >= (std::uint64_t{1} << 63)) return fail(detail::erofs_corrupt);
        st.blocks = ((st.size + img.blksz - 1) >> img.blkbits) << (img.blkbits - 9);
        return ino;
    }

    /// EOPNOTSUPP for data this reader cannot decode (erofs.md §6).
    [[nodiscard]] static result<void> check_layout(const detail::erofs_inode& ino) {
        if (ino.layout == detail::erofs_layout_compressed_full ||
            ino.layout == detail::erofs_layout_compressed_compact)
            return fail(std::errc::operation_not_supported);
        if (ino.layout == detail::erofs_layout_chunk_based) {
            const unsigned fmt = ino.raw & 0xffffu;
            if (fmt & ~(detail::erofs_chunk_blkbits | detail::erofs_chunk_indexes))
                return fail(std::errc::operation_not_supported);
        }
        return {};
    }

    // ---- data (erofs.md §6) ---------------------------------------------------------------------

    [[nodiscard]] result<unsigned> chunk_bits(const detail::erofs_inode& ino) const {
        OVLCORE_TRY(check_layout(ino));
        const unsigned bits = m_img->blkbits + (ino.raw & detail::erofs_chunk_blkbits);
        if (bits > 62) return fail(detail::erofs_corrupt);
        return bits;
    }

    [[nodiscard]] static std::uint64_t chunk_count(std::uint64_t size, unsigned bits) noexcept {
        return (size >> bits) + ((size & ((std::uint64_t{1} << bits) - 1)) != 0 ? 1 : 0);
    }

    /// The image byte offset of chunk `c`, or nullopt for a hole.
    [[nodiscard]] result<std::optional<std::uint64_t>> chunk_block(const detail::erofs_inode& ino,
                                                                   std::uint64_t c) const {
        const bool indexes = (ino.raw & detail::erofs_chunk_indexes) != 0;
        const std::uint64_t unit = indexes ? 8 : 4;
        const std::uint64_t table = (ino.inline_pos() + unit - 1) & ~(unit - 1);
        if (c > m_img->src->size() / unit) return fail(detail::erofs_corrupt);
        std::array<unsigned char, 8> e{};
        OVLCORE_TRY(m_img->src->read(table + c * unit, std::span(e).first(unit)));
        // An 8-byte index: 16 high block bits, a 16-bit device id, 32 low block bits. Without
        // 48-bit chunks (refused, erofs.md §6) only the low 32 bits count, and the device id is
        // masked by "extra devices, rounded up to a power of two, minus one", which is 0 for the
        // single-device images read here: both are ignored, as the kernel ignores them.
        const std::uint32_t blk = detail::erofs_le32(e.data() + (indexes ? 4 : 0));
        if (blk == detail::erofs_null_block) return std::optional<std::uint64_t>();
        return std::optional<std::uint64_t>(std::uint64_t{blk} << m_img->blkbits);
    }

    /// Reads the data of `ino` at `offset` (flat plain, flat inline, chunk-based). Returns the
    /// bytes read: min(out.size(), size - offset).
    [[nodiscard]] result<std::size_t> read_data(const detail::erofs_inode& ino,
                                                std::uint64_t offset,
                                                std::span<unsigned char> out) const {
        const detail::erofs_image& img = *m_img;
        const std::uint64_t size = ino.st.size;
        if (offset >= size) return std::size_t{0};
        const auto count =
            static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), size - offset));
        out = out.first(count);
        OVLCORE_TRY(check_layout(ino));
        if (ino.layout == detail::erofs_layout_chunk_based) {
            OVLCORE_TRY_ASSIGN(bits, chunk_bits(ino));
            const std::uint64_t csize = std::uint64_t{1} << bits;
            std::size_t done = 0;
            while (done < count) {
                const std::uint64_t at = offset + done;
                const std::uint64_t c = at >> bits;
                const std::uint64_t within = at & (csize - 1);
                const auto n =
                    static_cast<std::size_t>(std::min<std::uint64_t>(count - done, csize - within));
                OVLCORE_TRY_ASSIGN(blk, chunk_block(ino, c));
                if (!blk)
                    std::fill_n(out.begin() + static_cast<std::ptrdiff_t>(done), n, 0);
                else
                    OVLCORE_TRY(img.src->read(*blk + within, out.subspan(done, n)));
                done += n;
            }
            return count;
        }
        const std::uint64_t blocks = (size + img.blksz - 1) >> img.blkbits;
        const std::uint64_t plain_end =
            ino.layout == detail::erofs_layout_flat_inline ? (blocks - 1) << img.blkbits : size;
        const std::uint64_t base = std::uint64_t{ino.raw} << img.blkbits;
        std::size_t done = 0;
        if (offset < plain_end) {
            const auto n =
                static_cast<std::size_t>(std::min<std::uint64_t>(count, plain_end - offset));
            OVLCORE_TRY(img.src->read(base + offset, out.first(n)));
            done = n;
        }
        if (done < count) {
            // The tail sits right after the inode and its xattrs, in the same block.
            const std::uint64_t tail_pos = ino.inline_pos();
            const std::uint64_t tail_len = size - plain_end;
            if ((tail_pos & (img.blksz - 1)) + tail_len > img.blksz)
                return fail(detail::erofs_corrupt);
            OVLCORE_TRY(img.src->read(tail_pos + (offset + done - plain_end), out.subspan(done)));
        }
        return count;
    }

    [[nodiscard]] result<std::string> link_text(const detail::erofs_inode& ino) const {
        if (ino.st.type != file_type::symlink) return fail(std::errc::invalid_argument);
        if (ino.st.size == 0 || ino.st.size > detail::erofs_symlink_max)
            return fail(detail::erofs_corrupt);
        std::string text(static_cast<std::size_t>(ino.st.size), '\0');
        OVLCORE_TRY_ASSIGN(
            n, read_data(ino, 0,
                         std::span<unsigned char>(reinterpret_cast<unsigned char*>(text.data()),
                                                  text.size())));
        text.resize(n);
        if (text.find('\0') != std::string::npos) return fail(detail::erofs_corrupt);
        return text;
    }

    // ---- directories (erofs.md §5) --------------------------------------------------------------

    /// One directory block's entries: offsets checked, names cut at their end (erofs.md §5).
    struct dir_block {
        std::vector<unsigned char> bytes;
        std::size_t count = 0;
        [[nodiscard]] std::uint64_t nid(std::size_t i) const noexcept {
            return detail::erofs_le64(bytes.data() + i * detail::erofs_dirent_size);
        }
        [[nodiscard]] unsigned type(std::size_t i) const noexcept {
            return bytes[i * detail::erofs_dirent_size + 10];
        }
        std::vector<std::string_view> names;
    };

    /// Directory blocks find_entry parsed lately, shared by copies: a walk looks the names of
    /// one directory up one after another, and every binary search starts at the same blocks.
    struct dir_block_memo {
        static constexpr std::size_t slots = 16;
        std::mutex mutex;
        std::array<std::shared_ptr<const dir_block>, slots> blocks;
        std::array<std::pair<std::uint64_t, std::uint64_t>, slots> keys{}; ///< (dir nid, block)
    };
    std::shared_ptr<dir_block_memo> m_dir_blocks = std::make_shared<dir_block_memo>();

    /// load_dir_block through m_dir_blocks (the image is read-only: a parsed block stays valid).
    [[nodiscard]] result<std::shared_ptr<const dir_block>>
    memo_dir_block(const detail::erofs_inode& dir, std::uint64_t index) const {
        auto& memo = *m_dir_blocks;
        const auto slot = static_cast<std::size_t>((dir.nid * 31 + index) % dir_block_memo::slots);
        {
            const std::lock_guard lock(memo.mutex);
            if (memo.blocks[slot] && memo.keys[slot] == std::pair(dir.nid, index))
                return memo.blocks[slot];
        }
        OVLCORE_TRY_ASSIGN(blk, load_dir_block(dir, index));
        auto parsed = std::make_shared<const dir_block>(std::move(blk));
        const std::lock_guard lock(memo.mutex);
        memo.blocks[slot] = parsed;
        memo.keys[slot] = {dir.nid, index};
        return parsed;
    }

    [[nodiscard]] result<dir_block> load_dir_block(const detail::erofs_inode& dir,
                                                   std::uint64_t index) const {
        const std::uint64_t start = index << m_img->blkbits;
        const auto len =
            static_cast<std::size_t>(std::min<std::uint64_t>(m_img->blksz, dir.st.size - start));
        dir_block b;
        b.bytes.resize(len);
        OVLCORE_TRY_ASSIGN(n, read_data(dir, start, b.bytes));
        if (n != len || len < detail::erofs_dirent_size) return fail(detail::erofs_corrupt);
        const std::size_t first = detail::erofs_le16(b.bytes.data() + 8);
        if (first < detail::erofs_dirent_size || first >= len ||
            first % detail::erofs_dirent_size != 0)
            return fail(detail::erofs_corrupt);
        b.count = first / detail::erofs_dirent_size;
        b.names.reserve(b.count);
        for (std::size_t i = 0; i < b.count; ++i) {
            const std::size_t off = detail::erofs_le16(b.bytes.data() + i * 12 + 8);
            const std::size_t end =
                i + 1 < b.count ? detail::erofs_le16(b.bytes.data() + (i + 1) * 12 + 8) : len;
            if (off < first || end > len || end <= off) return fail(detail::erofs_corrupt);
            std::string_view name(reinterpret_cast<const char*>(b.bytes.data()) + off, end - off);
            if (i + 1 == b.count) name = name.substr(0, name.find('\0'));
            if (name.empty() || name.size() > detail::name_max ||
                name.find('/') != std::string_view::npos ||
                name.find('\0') != std::string_view::npos)
                return fail(detail::erofs_corrupt);
            b.names.push_back(name);
        }
        return b;
    }

    [[nodiscard]] static file_type dirent_type(unsigned t) noexcept {
        switch (t) {
        case 1: return file_type::regular;
        case 2: return file_type::directory;
        case 3: return file_type::char_device;
        case 4: return file_type::block_device;
        case 5: return file_type::fifo;
        case 6: return file_type::socket;
        case 7: return file_type::symlink;
        default: return file_type::unknown;
        }
    }

    [[nodiscard]] result<std::uint64_t> dir_blocks(const detail::erofs_inode& dir) const {
        if (dir.st.type != file_type::directory) return fail(std::errc::not_a_directory);
        OVLCORE_TRY(check_layout(dir));
        return (dir.st.size + m_img->blksz - 1) >> m_img->blkbits;
    }

    /// The entries (without "." and "..") into `out` and/or the dots' positions into `dots`.
    [[nodiscard]] result<void> list(const detail::erofs_inode& dir, std::vector<dir_entry>* out,
                                    std::array<std::size_t, 2>* dots) const {
        OVLCORE_TRY_ASSIGN(blocks, dir_blocks(dir));
        std::size_t seen = 0; // "." omitted (bit 4): it counts as first, position 0
        // Names strictly increasing in byte order across the whole directory (erofs.md §5): else
        // corrupt, which also stops blocks mapped again and again from listing without end.
        std::string previous;
        for (std::uint64_t b = 0; b < blocks; ++b) {
            OVLCORE_TRY_ASSIGN(blk, load_dir_block(dir, b));
            for (std::size_t i = 0; i < blk.count; ++i) {
                const std::string_view name = blk.names[i];
                if ((b != 0 || i != 0) && !(std::string_view(previous) < name))
                    return fail(detail::erofs_corrupt);
                previous.assign(name);
                if (name == "." || name == "..") {
                    if (dots) (*dots)[name.size() - 1] = seen;
                    continue;
                }
                ++seen;
                if (out)
                    out->push_back(dir_entry{.name = std::string(name),
                                             .type = dirent_type(blk.type(i)),
                                             .ino = blk.nid(i)});
            }
        }
        return {};
    }

    /// The nid of `name` in `dir`: a binary search over the blocks by their first name, then
    /// within the block (erofs.md §5). ENOENT when absent.
    [[nodiscard]] result<std::uint64_t> find_entry(const detail::erofs_inode& dir,
                                                   std::string_view name) const {
        OVLCORE_TRY_ASSIGN(blocks, dir_blocks(dir));
        std::uint64_t lo = 0;
        std::uint64_t hi = blocks; // search the last block whose first name <= name
        std::shared_ptr<const dir_block> cand;
        while (lo < hi) {
            const std::uint64_t mid = lo + (hi - lo) / 2;
            OVLCORE_TRY_ASSIGN(blk, memo_dir_block(dir, mid));
            const std::string_view first = blk->names.front();
            if (first == name) return blk->nid(0);
            if (first < name) {
                const std::string_view last = blk->names.back();
                if (name <= last) {
                    cand = std::move(blk);
                    break;
                }
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if (!cand) return fail(std::errc::no_such_file_or_directory);
        const auto& names = cand->names;
        const auto it = std::lower_bound(names.begin(), names.end(), name);
        if (it == names.end() || *it != name) return fail(std::errc::no_such_file_or_directory);
        return cand->nid(static_cast<std::size_t>(it - names.begin()));
    }

    // ---- xattrs (erofs.md §7) -------------------------------------------------------------------

    /// The full name of an entry with `index` and `suffix`; nullopt for a namespace the kernel
    /// does not expose.
    [[nodiscard]] std::optional<std::string> xattr_name(unsigned index,
                                                        std::string_view suffix) const {
        if (index & 0x80u) {
            const unsigned i = index & 0x7fu;
            if (i >= m_img->long_prefixes.size()) return std::nullopt;
            return m_img->long_prefixes[i] + std::string(suffix);
        }
        const std::string_view prefix = short_prefix(index);
        if (prefix.empty()) return std::nullopt;
        if (index == 2 || index == 3) {
            if (!suffix.empty()) return std::nullopt;
            return std::string(prefix);
        }
        if (suffix.empty()) return std::nullopt;
        return std::string(prefix) + std::string(suffix);
    }

    /// Parses one entry at `pos` (within [pos, limit)); calls fn(name, value_pos, value_len).
    /// Returns the entry's aligned size, or 0 after fn asked to stop.
    template <class Fn>
    [[nodiscard]] result<std::uint64_t> xattr_entry(std::uint64_t pos, std::uint64_t limit,
                                                    Fn& fn) const {
        if (pos + 4 > limit) return fail(detail::erofs_corrupt);
        std::array<unsigned char, 4 + 255> head{};
        OVLCORE_TRY(m_img->src->read(pos, std::span(head).first(4)));
        const unsigned name_len = head[0];
        const unsigned index = head[1];
        const std::uint32_t value_len = detail::erofs_le16(head.data() + 2);
        const std::uint64_t total = (4u + name_len + value_len + 3u) & ~std::uint64_t{3};
        if (pos + total > limit) return fail(detail::erofs_corrupt);
        OVLCORE_TRY(m_img->src->read(pos + 4, std::span(head).subspan(4, name_len)));
        const std::string_view suffix(reinterpret_cast<const char*>(head.data()) + 4, name_len);
        if (auto full = xattr_name(index, suffix)) {
            OVLCORE_TRY_ASSIGN(more, fn(std::string_view(*full), pos + 4 + name_len, value_len));
            if (!more) return std::uint64_t{0};
        }
        return total;
    }

    /// Calls fn(name, value_pos, value_len) -> result<bool> (false: stop) for the inline
    /// entries, then the shared ones.
    template <class Fn>
    [[nodiscard]] result<void> for_each_xattr(const detail::erofs_inode& ino, Fn&& fn) const {
        if (ino.xattr_size == 0) return {};
        const std::uint64_t start = ino.pos + ino.isize;
        const std::uint64_t limit = start + ino.xattr_size;
        if (ino.xattr_size < detail::erofs_xattr_header_size || limit > m_img->src->size())
            return fail(detail::erofs_corrupt);
        std::array<unsigned char, detail::erofs_xattr_header_size> header{};
        OVLCORE_TRY(m_img->src->read(start, header));
        const unsigned shared = header[4];
        std::uint64_t pos = start + detail::erofs_xattr_header_size + std::uint64_t{4} * shared;
        if (pos > limit) return fail(detail::erofs_corrupt);
        while (pos < limit) {
            OVLCORE_TRY_ASSIGN(step, xattr_entry(pos, limit, fn));
            if (step == 0) return {};
            pos += step;
        }
        for (unsigned i = 0; i < shared; ++i) {
            std::array<unsigned char, 4> idb{};
            OVLCORE_TRY(m_img->src->read(
                start + detail::erofs_xattr_header_size + std::uint64_t{4} * i, idb));
            const std::uint64_t at =
                m_img->xattr_pos + std::uint64_t{detail::erofs_le32(idb.data())} * 4;
            OVLCORE_TRY_ASSIGN(step, xattr_entry(at, m_img->src->size(), fn));
            if (step == 0) return {};
        }
        return {};
    }
};

static_assert(backing_filesystem<erofs_fs>);
static_assert(knows_dot_positions<erofs_fs>);
static_assert(detail::has_next_data<erofs_fs>);

} // namespace ovlcore
