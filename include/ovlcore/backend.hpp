// SPDX-License-Identifier: MIT
// ovlcore/backend.hpp: the backing_filesystem concept, the contract every backend (memory, POSIX,
// test doubles) fulfils, and the path convenience built on it for every backend. Users include it
// when they write a backend (spec §0, §2, §5.1, §6).
//
// Every call names an object by a *handle* (B::handle), never by a path: a layer's root handle
// comes from root(layer), every other one from lookup(dir, name) or lookup_beneath, so no call
// depends on the length of a path or walks one again (any depth works, as in the kernel). A handle
// stays valid as long as a copy of it is held; handles of one layer know that layer, so
// path_of(h) can name the object (layer-relative, "" = the root) for messages, traces and lint.
// A path is never used to address an object. All member functions are const and must be safe
// to call from several threads at once.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "result.hpp"
#include "types.hpp"

namespace ovlcore {

/// What resolve_dir reports about a path given in the mount options (spec §1.3, §1.5).
template <class LayerRef>
struct resolved_dir {
    LayerRef ref;                   ///< usable as the layer for every other call
    stat_info st;                   ///< stat of the object, symlinks followed (may be a non-dir)
    std::vector<file_id> ancestors; ///< parent, grandparent, ... up to the filesystem root
    std::uint64_t mount_id = 0;     ///< the mount the object lives on
    bool read_only = false;         ///< that mount is read-only
    std::uint32_t name_max = 255;   ///< f_namelen of its filesystem
    std::uint64_t fs_magic =
        0; ///< statfs f_type (0 if unknown), e.g. to refuse an overlay as upper
};

/// An object of a layer as lookup found it: its handle and its lstat (not followed).
template <class H>
struct real_object {
    H handle;
    stat_info st;
};

/// What open_file refuses an object of type `t` with, as open(O_RDONLY | O_NOFOLLOW) restricted to
/// regular files would: EISDIR for a directory, ELOOP for a symlink, ENXIO for devices, fifos and
/// sockets (never opened, so no driver runs and no fifo blocks); nullopt for a regular file.
/// Backends share it so that every one refuses alike.
[[nodiscard]] constexpr std::optional<std::errc> open_file_refusal(file_type t) noexcept {
    switch (t) {
    case file_type::regular: return std::nullopt;
    case file_type::directory: return std::errc::is_a_directory;
    case file_type::symlink: return std::errc::too_many_symbolic_link_levels;
    default: return std::errc::no_such_device_or_address;
    }
}

/// A range [begin, end) of a file's offsets that is stored (not a hole); see next_data below.
struct data_extent {
    std::uint64_t begin = 0;
    std::uint64_t end = 0;
    friend constexpr bool operator==(const data_extent&, const data_extent&) = default;
};

/// Backends that know where "." and ".." sit in a dir's native order (posix_fs: the order of
/// getdents64, e.g. ext4 hash order, where they need not come first, nor together) provide
/// `dot_positions(dir)`: for each dot, how many of read_dir(dir)'s entries come before it.
template <class B>
concept knows_dot_positions = requires(const B& fs, const typename B::handle& dir) {
    { fs.dot_positions(dir) } -> std::same_as<result<std::array<std::size_t, 2>>>;
};

/// The operations overlay lookup needs from the filesystems behind the layers, and no more.
///
/// Types: `layer_ref` (copyable: a layer, from resolve_dir), `handle` (copyable and cheap: an
/// object of a layer, see the top of this file), `file` (movable: an open regular file).
/// - resolve_dir(path): resolve a mount-option path as mount(2) does: relative paths against the
///   backend's working directory, symlinks followed. Errors: the path walk's errno (ENOENT, ENOTDIR,
///   ELOOP, EACCES...). A non-directory is returned successfully with its st.type.
/// - root(layer): the layer's root object and its lstat.
/// - lookup(dir, name): the entry `name` (one component, never "." or "..") of the directory
///   `dir`, not followed, with its lstat: one stat (spec §5.1 steps 2-3). ENOENT when absent,
///   ENOTDIR when `dir` is not a directory, ENAMETOOLONG as the filesystem says.
/// - read_dir(dir): the entries, without "." and "..", in the filesystem's native order.
///   Optional: dot_positions(dir) -> result<std::array<std::size_t, 2>>, for "." and ".." how
///   many of those entries come before each in the native order (ext4 hash order need not list
///   them first); without it they are taken to come first (tmpfs, memory_fs). readdir.hpp needs
///   it only when an overlay lookup fails during a listing (spec §8.2 steps 5-6).
/// - get_xattr(h, name): the value, or std::nullopt when the attribute is absent (ENODATA) or the
///   filesystem has no xattrs (EOPNOTSUPP). Other errors propagate.
/// - list_xattr(h): every attribute name.
/// - read_link(h): the target text of a symlink (EINVAL for a non-symlink).
/// - lookup_beneath(layer, path): the data-only walk of spec §6. `path` is absolute ("/d/f") or
///   relative; it is resolved from the layer root with no symlink followed anywhere (a symlink in a
///   middle component: ELOOP; the final component is returned unfollowed), "." and ".." handled
///   physically but never above the root (EXDEV), never crossing a mount (EXDEV). Missing: ENOENT;
///   a non-directory used as a directory: ENOTDIR.
/// - open_file(h) / read(file, offset, buffer): read-only access to a regular file's content
///   (refused as open_file_refusal says); read returns the number of bytes read (0 at end of
///   file).
///   Optional: next_data(file, offset) -> result<data_extent>, the first range of bytes at or
///   after `offset` that is stored (lseek(2) SEEK_DATA, then SEEK_HOLE); every byte before it is
///   a hole and reads as zero. No data after `offset`: {end, end}, `end` the file size. The dump
///   (dump.hpp) hashes holes as zeros without reading them; without it, every byte is read.
///   It must not change what read returns (read is positional, a file offset is not used).
/// - path_of(h): the object's path relative to its layer root ("" for the root), for messages,
///   traces and lint only.
/// Optional: release_cached() (const, noexcept): drop what the backend caches beyond the handles
/// its callers hold (open descriptors, remembered directories, pages). Answers must not change;
/// overlay::release_cached() calls it after freeing its own unreferenced nodes.
template <class B>
concept backing_filesystem = std::copy_constructible<typename B::layer_ref> &&
    std::copy_constructible<typename B::handle> && std::movable<typename B::file> &&
    requires(const B& fs, const typename B::layer_ref& layer, const typename B::handle& h,
             std::string_view path, std::string_view name, const typename B::file& file,
             std::uint64_t offset, std::span<char> buffer) {
    { fs.resolve_dir(path) } -> std::same_as<result<resolved_dir<typename B::layer_ref>>>;
    { fs.root(layer) } -> std::same_as<result<real_object<typename B::handle>>>;
    { fs.lookup(h, name) } -> std::same_as<result<real_object<typename B::handle>>>;
    { fs.read_dir(h) } -> std::same_as<result<std::vector<dir_entry>>>;
    { fs.get_xattr(h, name) } -> std::same_as<result<std::optional<std::string>>>;
    { fs.list_xattr(h) } -> std::same_as<result<std::vector<std::string>>>;
    { fs.read_link(h) } -> std::same_as<result<std::string>>;
    { fs.lookup_beneath(layer, path) } -> std::same_as<result<real_object<typename B::handle>>>;
    { fs.open_file(h) } -> std::same_as<result<typename B::file>>;
    { fs.read(file, offset, buffer) } -> std::same_as<result<std::size_t>>;
    { fs.path_of(h) } -> std::same_as<std::string>;
};

namespace detail {
/// Does B provide the optional next_data (sparse files, see backing_filesystem)?
template <class B>
concept has_next_data = requires(const B& fs, const typename B::file& file, std::uint64_t offset) {
    { fs.next_data(file, offset) } -> std::same_as<result<data_extent>>;
};
/// Does B provide the optional release_cached (see backing_filesystem)?
template <class B>
concept has_release_cached = requires(const B& fs) {
    requires noexcept(fs.release_cached());
};
} // namespace detail

// ---- path convenience: one implementation over the handle calls, for every backend -----------
// For callers (tools, tests) that hold a layer-relative path. `path` is split on '/' (empty
// components and "." skipped); each component is one lookup from the layer root, so nothing is
// followed: a symlink or other non-directory in the middle gives ENOTDIR. ".." is refused
// (EINVAL): use lookup_beneath for the physical walk of spec §6. The engine never uses these.

/// The object at `path` ("" = the root) of `layer`, with its lstat.
template <backing_filesystem B>
[[nodiscard]] result<real_object<typename B::handle>>
walk(const B& fs, const typename B::layer_ref& layer, std::string_view path) {
    OVLCORE_TRY_ASSIGN(cur, fs.root(layer));
    std::size_t pos = 0;
    for (;;) {
        while (pos < path.size() && path[pos] == '/') ++pos;
        const std::size_t start = pos;
        while (pos < path.size() && path[pos] != '/') ++pos;
        const std::string_view comp = path.substr(start, pos - start);
        if (comp.empty()) break;
        if (comp == ".") continue;
        if (comp == "..") return fail(std::errc::invalid_argument);
        OVLCORE_TRY_ASSIGN(next, fs.lookup(cur.handle, comp));
        cur = std::move(next);
    }
    return cur;
}

/// lstat of `path` in `layer` (walk's st).
template <backing_filesystem B>
[[nodiscard]] result<stat_info> lstat_path(const B& fs, const typename B::layer_ref& layer,
                                           std::string_view path) {
    OVLCORE_TRY_ASSIGN(obj, walk(fs, layer, path));
    return obj.st;
}

/// read_dir of the dir at `path` in `layer`.
template <backing_filesystem B>
[[nodiscard]] result<std::vector<dir_entry>>
read_dir_path(const B& fs, const typename B::layer_ref& layer, std::string_view path) {
    OVLCORE_TRY_ASSIGN(obj, walk(fs, layer, path));
    return fs.read_dir(obj.handle);
}

/// get_xattr of the object at `path` in `layer`.
template <backing_filesystem B>
[[nodiscard]] result<std::optional<std::string>>
get_xattr_path(const B& fs, const typename B::layer_ref& layer, std::string_view path,
               std::string_view name) {
    OVLCORE_TRY_ASSIGN(obj, walk(fs, layer, path));
    return fs.get_xattr(obj.handle, name);
}

/// list_xattr of the object at `path` in `layer`.
template <backing_filesystem B>
[[nodiscard]] result<std::vector<std::string>>
list_xattr_path(const B& fs, const typename B::layer_ref& layer, std::string_view path) {
    OVLCORE_TRY_ASSIGN(obj, walk(fs, layer, path));
    return fs.list_xattr(obj.handle);
}

/// read_link of the symlink at `path` in `layer`.
template <backing_filesystem B>
[[nodiscard]] result<std::string> read_link_path(const B& fs, const typename B::layer_ref& layer,
                                                 std::string_view path) {
    OVLCORE_TRY_ASSIGN(obj, walk(fs, layer, path));
    return fs.read_link(obj.handle);
}

/// open_file of the regular file at `path` in `layer`.
template <backing_filesystem B>
[[nodiscard]] result<typename B::file>
open_file_path(const B& fs, const typename B::layer_ref& layer, std::string_view path) {
    OVLCORE_TRY_ASSIGN(obj, walk(fs, layer, path));
    return fs.open_file(obj.handle);
}

/// dot_positions of the dir at `path` in `layer` (backends that know them).
template <backing_filesystem B>
    requires knows_dot_positions<B>
[[nodiscard]] result<std::array<std::size_t, 2>>
dot_positions_path(const B& fs, const typename B::layer_ref& layer, std::string_view path) {
    OVLCORE_TRY_ASSIGN(obj, walk(fs, layer, path));
    return fs.dot_positions(obj.handle);
}

} // namespace ovlcore
