// SPDX-License-Identifier: MIT
// ovlcore/dump.hpp: the canonical tree dump (dump-format.md): walk any tree view (an overlay<B>,
// a mounted directory) and produce the JSON Lines records the kernel oracle compares. Users include
// it (through ovlcore.hpp). Spec: dump-format.md; §6 (open resolves lazy lowerdata), §9 (stat).
// The content hash is pluggable (content_hasher; the built-in SHA-256 by default, the tools use
// OpenSSL's), and holes of sparse files are hashed without reading them where the view can tell.
#pragma once

#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "backend.hpp"
#include "detail/json.hpp"
#include "detail/sha256.hpp"
#include "mount_error.hpp"
#include "result.hpp"
#include "types.hpp"

namespace ovlcore {

namespace detail {
template <class View>
using tree_open_result_t = decltype(std::declval<View&>().open(std::string_view{}));
} // namespace detail

/// The open-file handle type of a tree view (what open() returns inside its result).
template <class View>
using tree_file_t = typename detail::tree_open_result_t<View>::value_type;

/// Anything that can be walked like a read-only file tree. Paths are "/" for the root and "/a/b"
/// below it; lstat and read_link never follow the last component; read_dir lists a directory
/// without "." and ".."; open gives read-only access to a regular file and read(file, offset, buf)
/// returns the number of bytes read (0 at end of file). Modelled by overlay<B> (overlay.hpp) and
/// mounted_tree (backend/posix_tree.hpp).
template <class View>
concept tree_view = requires(View& view, std::string_view path) {
    { view.lstat(path) } -> std::same_as<result<stat_info>>;
    { view.read_dir(path) } -> std::same_as<result<std::vector<dir_entry>>>;
    { view.read_link(path) } -> std::same_as<result<std::string>>;
    { view.open(path) } -> std::same_as<result<tree_file_t<View>>>;
}
&&requires(View& view, const tree_file_t<View>& file, std::uint64_t offset,
           std::span<char> buffer) {
    { view.read(file, offset, buffer) } -> std::same_as<result<std::size_t>>;
};

namespace detail {
/// Does the view know where the holes of its open files are (backend.hpp's optional next_data,
/// e.g. overlay<posix_fs>, mounted_tree)?
template <class View>
concept tree_has_next_data = requires(View& view, const tree_file_t<View>& file,
                                      std::uint64_t offset) {
    { view.next_data(file, offset) } -> std::same_as<result<data_extent>>;
};
} // namespace detail

/// What computes the dump's `sha256` field: a fresh default-constructed object per file, update()
/// with the content in order (split anywhere), then final() once, which returns the SHA-256
/// digest. builtin_sha256 is the default (no dependency); the tools plug in OpenSSL's
/// (tools/common/evp_sha256.hpp). Any model must give the same digest (dump-format.md).
template <class H>
concept content_hasher = std::default_initializable<H> &&
    requires(H& hash, std::span<const char> data) {
    hash.update(data);
    { hash.final() } -> std::same_as<std::array<std::uint8_t, 32>>;
};

/// The built-in SHA-256 (detail/sha256.hpp) as a content_hasher; about 130 MB/s.
class builtin_sha256 {
public:
    void update(std::span<const char> data) noexcept {
        m_hash.update(std::string_view(data.data(), data.size()));
    }
    [[nodiscard]] std::array<std::uint8_t, 32> final() noexcept { return m_hash.digest(); }

private:
    detail::sha256 m_hash;
};
static_assert(content_hasher<builtin_sha256>);

/// How dump_records describes regular files.
struct dump_options {
    /// true (default): open and read every regular file for its `sha256` (resolving lazy
    /// lowerdata, §6). false: regular files are never opened, so lazy lowerdata stays unresolved
    /// and their records carry neither `sha256` nor an open/read `error` (dump-format.md "Dumps
    /// without data": not comparable with a full dump).
    bool content = true;
};

/// A chr/blk device number as the dump prints it ("MAJ:MIN").
struct device_number {
    std::uint32_t major = 0;
    std::uint32_t minor = 0;
    friend constexpr bool operator==(const device_number&, const device_number&) = default;
};

/// One line of the canonical dump. Fields are set exactly when dump-format.md's table says so:
/// `type`, `mode`, `uid`, `gid` when lstat succeeded; otherwise only `error`.
struct dump_record {
    std::string path;              ///< "/" or "/a/b"
    std::optional<file_type> type; ///< set iff lstat succeeded
    std::uint32_t mode = 0;        ///< st_mode & 07777 (meaningful with type)
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    std::optional<std::uint64_t> size; ///< reg and lnk: st_size
    std::optional<std::string> sha256; ///< reg whose whole content was read (not with --no-data)
    std::optional<std::errc> error;    ///< lstat failed, or reg open/read (lnk: readlink) failed
    std::optional<std::string> target; ///< lnk
    std::optional<device_number> rdev; ///< chr and blk
    std::optional<std::errc> readdir_error; ///< dir whose listing failed (children absent)
    friend bool operator==(const dump_record&, const dump_record&) = default;
};

namespace detail {

[[nodiscard]] inline std::string join_dump_path(std::string_view dir, std::string_view name) {
    std::string out;
    out.reserve(dir.size() + 1 + name.size());
    out += dir;
    if (out.empty() || out.back() != '/') out.push_back('/');
    out += name;
    return out;
}

/// Feeds `count` zero bytes to `hash` (a hole of a sparse file), from `zeros` (allocated once).
template <content_hasher Hasher>
void hash_zeros(Hasher& hash, std::uint64_t count, std::vector<char>& zeros) {
    if (count == 0) return;
    if (zeros.empty()) zeros.assign(std::size_t{1} << 18, '\0');
    while (count > 0) {
        const std::size_t n = count < zeros.size() ? static_cast<std::size_t>(count) : zeros.size();
        hash.update(std::span<const char>(zeros.data(), n));
        count -= n;
    }
}

/// Hashes the whole content of a regular file through the view: sha256 hex, or the errno. Where
/// the view knows the file's holes (next_data), they are hashed as zeros without being read; if
/// it cannot tell (next_data fails), the rest is read.
template <content_hasher Hasher, tree_view View>
[[nodiscard]] result<std::string> hash_content(View& view, std::string_view path) {
    OVLCORE_TRY_ASSIGN(file, view.open(path)); // §6: this is where lazy lowerdata is resolved
    Hasher hash;
    std::vector<char> buffer(std::size_t{1} << 16);
    std::uint64_t offset = 0;
    // Reads [offset, end) (end of file at the latest); false when the file ended before `end`.
    const auto read_until = [&](std::uint64_t end) -> result<bool> {
        while (offset < end) {
            const std::uint64_t left = end - offset;
            const std::size_t want =
                left < buffer.size() ? static_cast<std::size_t>(left) : buffer.size();
            OVLCORE_TRY_ASSIGN(got, view.read(file, offset, std::span<char>(buffer.data(), want)));
            if (got == 0) return false;
            hash.update(std::span<const char>(buffer.data(), got));
            offset += got;
        }
        return true;
    };
    if constexpr (tree_has_next_data<View>) {
        std::vector<char> zeros;
        for (;;) {
            const auto extent = view.next_data(file, offset);
            if (!extent || extent->begin < offset || extent->end < extent->begin) break;
            // A hole that runs to the end of the file counts only as far as reads reach: an
            // overlay metacopy file may claim a larger size than its data file holds (§6), and
            // its reads stop at the data's end. One byte read at the hole's end tells.
            if (extent->begin == extent->end && extent->begin > offset) {
                char last = 0;
                OVLCORE_TRY_ASSIGN(got,
                                   view.read(file, extent->begin - 1, std::span<char>(&last, 1)));
                if (got != 1 || last != 0) break;
            }
            hash_zeros(hash, extent->begin - offset, zeros);
            offset = extent->begin;
            if (extent->begin == extent->end) break; // no data after the hole: end of file
            OVLCORE_TRY_ASSIGN(complete, read_until(extent->end));
            if (!complete) break;
        }
    }
    // Everything left (all of it without next_data): read to the end of the file.
    OVLCORE_TRY(read_until(~std::uint64_t{0}));
    return hex_digest(hash.final());
}

/// The record of one path: lstat, then the per-type extras. Does not list directories.
template <content_hasher Hasher, tree_view View>
[[nodiscard]] dump_record describe_path(View& view, std::string path, const dump_options& options) {
    dump_record rec;
    rec.path = std::move(path);
    auto st = view.lstat(rec.path);
    if (!st) {
        rec.error = st.error();
        return rec;
    }
    rec.type = st->type;
    rec.mode = st->mode & 07777U;
    rec.uid = st->uid;
    rec.gid = st->gid;
    switch (st->type) {
    case file_type::regular: {
        rec.size = st->size;
        if (!options.content) break; // not opened: no sha256, lazy lowerdata unresolved (§6)
        auto digest = hash_content<Hasher>(view, rec.path);
        if (digest)
            rec.sha256 = std::move(*digest);
        else
            rec.error = digest.error();
        break;
    }
    case file_type::symlink: {
        rec.size = st->size;
        auto target = view.read_link(rec.path);
        if (target)
            rec.target = std::move(*target);
        else
            rec.error = target.error();
        break;
    }
    case file_type::char_device:
    case file_type::block_device:
        rec.rdev = device_number{.major = st->rdev_major, .minor = st->rdev_minor};
        break;
    default: break;
    }
    return rec;
}

} // namespace detail

/// Walks `view` from "/" through every directory's listing (children visited in byte order of
/// their names), then gives each path in `probes` that the walk did not reach a record of its own
/// (an absent one: `error` "ENOENT"). Probed directories are not listed. The result is sorted by
/// the path's bytes. Reading every regular file opens it, which resolves lazy lowerdata (§6);
/// `options.content = false` opens none. `Hasher` computes `sha256` (builtin_sha256 by default).
/// @see dump-format.md
template <content_hasher Hasher = builtin_sha256, tree_view View>
[[nodiscard]] std::vector<dump_record> dump_records(View& view,
                                                    std::span<const std::string> probes = {},
                                                    const dump_options& options = {}) {
    std::vector<dump_record> records;
    std::set<std::string> seen;
    std::vector<std::string> pending{"/"};
    seen.insert("/");
    while (!pending.empty()) {
        std::string path = std::move(pending.back());
        pending.pop_back();
        dump_record rec = detail::describe_path<Hasher>(view, path, options);
        if (rec.type == file_type::directory) {
            auto listing = view.read_dir(path);
            if (!listing) {
                rec.readdir_error = listing.error();
            } else {
                std::vector<std::string> children;
                for (const dir_entry& entry : *listing) {
                    if (entry.name.empty() || entry.name == "." || entry.name == "..") continue;
                    std::string child = detail::join_dump_path(path, entry.name);
                    if (seen.insert(child).second) children.push_back(std::move(child));
                }
                std::sort(children.begin(), children.end());
                // Pushed in reverse so that the walk visits them in order (depth first).
                pending.insert(pending.end(), std::make_move_iterator(children.rbegin()),
                               std::make_move_iterator(children.rend()));
            }
        }
        records.push_back(std::move(rec));
    }
    for (const std::string& probe : probes)
        if (seen.insert(probe).second)
            records.push_back(detail::describe_path<Hasher>(view, probe, options));
    std::sort(records.begin(), records.end(),
              [](const dump_record& a, const dump_record& b) { return a.path < b.path; });
    return records;
}

/// The record as one JSON object (no newline), keys in dump-format.md's table order.
[[nodiscard]] inline std::string to_json(const dump_record& rec) {
    std::string out;
    detail::json_object_writer obj(out);
    obj.string_field("path", rec.path);
    if (rec.type) {
        const std::uint32_t m = rec.mode & 07777U;
        const char mode[5] = {
            static_cast<char>('0' + ((m >> 9) & 7U)), static_cast<char>('0' + ((m >> 6) & 7U)),
            static_cast<char>('0' + ((m >> 3) & 7U)), static_cast<char>('0' + (m & 7U)), '\0'};
        obj.string_field("type", dump_name(*rec.type))
            .string_field("mode", mode)
            .number_field("uid", rec.uid)
            .number_field("gid", rec.gid);
    }
    if (rec.size) obj.number_field("size", *rec.size);
    if (rec.sha256) obj.string_field("sha256", *rec.sha256);
    if (rec.error) obj.string_field("error", errno_name(*rec.error));
    if (rec.target) obj.string_field("target", *rec.target);
    if (rec.rdev)
        obj.string_field("rdev",
                         std::to_string(rec.rdev->major) + ":" + std::to_string(rec.rdev->minor));
    if (rec.readdir_error) obj.string_field("readdir_error", errno_name(*rec.readdir_error));
    obj.close();
    return out;
}

/// The whole dump as JSON Lines (one record per line, each ending in '\n').
[[nodiscard]] inline std::string to_jsonl(std::span<const dump_record> records) {
    std::string out;
    for (const dump_record& rec : records) {
        out += to_json(rec);
        out.push_back('\n');
    }
    return out;
}

/// The single line that stands for a refused mount: {"mount_error": "EINVAL", "message": "..."}
/// (no newline). @see dump-format.md "Rejected stacks"
[[nodiscard]] inline std::string mount_error_json(std::errc code, std::string_view message) {
    std::string out;
    detail::json_object_writer(out)
        .string_field("mount_error", errno_name(code))
        .string_field("message", message)
        .close();
    return out;
}

/// The same line for a refused make_layer_stack: `mount_error_json(stack.error())`.
[[nodiscard]] inline std::string mount_error_json(const mount_error& error) {
    return mount_error_json(error.code, error.message);
}

} // namespace ovlcore
