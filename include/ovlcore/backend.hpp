// SPDX-License-Identifier: MIT
// ovlcore/backend.hpp: the backing_filesystem concept, the contract every backend (memory, POSIX,
// test doubles) fulfils. Users include it when they write a backend (spec §0, §2, §5.1, §6).
//
// Every call names a layer (a `layer_ref` obtained from resolve_dir) and a path relative to that
// layer's root: "" is the root itself, "a/b" a descendant. Relative paths never start or end with
// '/', never contain "//", and are never followed through a symlink: the lookup engine only asks
// for paths whose every parent it has already seen as a directory. All member functions are const
// and must be safe to call from several threads at once.
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

/// What lookup_beneath found: the object (not followed) and its normalised relative path.
struct beneath_result {
    stat_info st;
    std::string path; ///< relative to the layer root, "" for the root; usable with open_file
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
/// `dot_positions(layer, path)`: for each dot, how many of read_dir's entries come before it.
template <class B>
concept knows_dot_positions = requires(const B& fs, const typename B::layer_ref& layer,
                                       std::string_view path) {
    { fs.dot_positions(layer, path) } -> std::same_as<result<std::array<std::size_t, 2>>>;
};

/// The operations overlay lookup needs from the filesystems behind the layers, and no more.
///
/// - resolve_dir(path): resolve a mount-option path as mount(2) does: relative paths against the
///   backend's working directory, symlinks followed. Errors: the path walk's errno (ENOENT, ENOTDIR,
///   ELOOP, EACCES...). A non-directory is returned successfully with its st.type.
/// - lstat(layer, path): stat without following. ENOENT when absent.
/// - read_dir(layer, path): the entries, without "." and "..", in the filesystem's native order.
///   Optional: dot_positions(layer, path) -> result<std::array<std::size_t, 2>>, for "." and
///   ".." how many of those entries come before each in the native order (ext4 hash order need
///   not list them first); without it they are taken to come first (tmpfs, memory_fs). readdir.hpp needs it
///   only when an overlay lookup fails during a listing (spec §8.2 steps 5-6).
/// - get_xattr(layer, path, name): the value, or std::nullopt when the attribute is absent
///   (ENODATA) or the filesystem has no xattrs (EOPNOTSUPP). Other errors propagate.
/// - list_xattr(layer, path): every attribute name.
/// - read_link(layer, path): the target text of a symlink (EINVAL for a non-symlink).
/// - lookup_beneath(layer, path): the data-only walk of spec §6. `path` is absolute ("/d/f") or
///   relative; it is resolved from the layer root with no symlink followed anywhere (a symlink in a
///   middle component: ELOOP; the final component is returned unfollowed), "." and ".." handled
///   physically but never above the root (EXDEV), never crossing a mount (EXDEV). Missing: ENOENT;
///   a non-directory used as a directory: ENOTDIR.
/// - open_file(layer, path) / read(file, offset, buffer): read-only access to a regular file's
///   content; read returns the number of bytes read (0 at end of file).
///   Optional: next_data(file, offset) -> result<data_extent>, the first range of bytes at or
///   after `offset` that is stored (lseek(2) SEEK_DATA, then SEEK_HOLE); every byte before it is
///   a hole and reads as zero. No data after `offset`: {end, end}, `end` the file size. The dump
///   (dump.hpp) hashes holes as zeros without reading them; without it, every byte is read.
///   It must not change what read returns (read is positional, a file offset is not used).
template <class B>
concept backing_filesystem = std::copy_constructible<typename B::layer_ref> &&
    std::movable<typename B::file> &&
    requires(const B& fs, const typename B::layer_ref& layer, std::string_view path,
             std::string_view name, const typename B::file& file, std::uint64_t offset,
             std::span<char> buffer) {
    { fs.resolve_dir(path) } -> std::same_as<result<resolved_dir<typename B::layer_ref>>>;
    { fs.lstat(layer, path) } -> std::same_as<result<stat_info>>;
    { fs.read_dir(layer, path) } -> std::same_as<result<std::vector<dir_entry>>>;
    { fs.get_xattr(layer, path, name) } -> std::same_as<result<std::optional<std::string>>>;
    { fs.list_xattr(layer, path) } -> std::same_as<result<std::vector<std::string>>>;
    { fs.read_link(layer, path) } -> std::same_as<result<std::string>>;
    { fs.lookup_beneath(layer, path) } -> std::same_as<result<beneath_result>>;
    { fs.open_file(layer, path) } -> std::same_as<result<typename B::file>>;
    { fs.read(file, offset, buffer) } -> std::same_as<result<std::size_t>>;
};

namespace detail {
/// Does B provide the optional next_data (sparse files, see backing_filesystem)?
template <class B>
concept has_next_data = requires(const B& fs, const typename B::file& file, std::uint64_t offset) {
    { fs.next_data(file, offset) } -> std::same_as<result<data_extent>>;
};
} // namespace detail

} // namespace ovlcore
