// SPDX-License-Identifier: MIT
// ovlcore/backend/posix_tree.hpp: mounted_tree, a tree_view (dump.hpp) over a real directory such
// as a kernel overlay mount, so that `ovl-tree --walk` and the kernel-differential tests dump it
// exactly as they dump an overlay<B>. Linux only; users include it explicitly (not part of
// ovlcore.hpp). Spec: dump-format.md.
//
// Every call goes through posix_fs (backend/posix.hpp) relative to one descriptor of the root
// directory: a final symlink is never followed (AT_SYMLINK_NOFOLLOW, O_NOFOLLOW); middle components
// are walked as lstat(2) walks them, like the kernel oracle's os.lstat(mountpoint + path). The walk
// itself only produces paths whose parents were listed as directories.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../dump.hpp"
#include "../result.hpp"
#include "../types.hpp"
#include "posix.hpp"

namespace ovlcore {

/// A read-only tree_view over a real directory (typically a mount point). Paths are "/" (the
/// directory itself) or "/a/b" below it. All members are const and thread-safe (posix_fs's are).
class mounted_tree {
public:
    using file = posix_fs::file;

    /// Opens `dir` (relative to the working directory, symlinks in it followed as by cd) as the
    /// root of the view. Errors: the path walk's errno; ENOTDIR when it is not a directory.
    [[nodiscard]] static result<mounted_tree> open_root(std::string_view dir) {
        posix_fs fs;
        OVLCORE_TRY_ASSIGN(root, fs.resolve_dir(dir));
        if (root.st.type != file_type::directory) return fail(std::errc::not_a_directory);
        return mounted_tree(std::move(fs), std::move(root.ref));
    }

    /// lstat(2) of `path` (a final symlink is not followed).
    [[nodiscard]] result<stat_info> lstat(std::string_view path) const {
        return m_fs.lstat(m_root, relative(path));
    }
    /// The directory's entries without "." and "..", in the filesystem's order.
    [[nodiscard]] result<std::vector<dir_entry>> read_dir(std::string_view path) const {
        return m_fs.read_dir(m_root, relative(path));
    }
    /// The target text of the symlink at `path` (EINVAL for a non-symlink).
    [[nodiscard]] result<std::string> read_link(std::string_view path) const {
        return m_fs.read_link(m_root, relative(path));
    }
    /// Opens the regular file at `path` for reading; on an overlay mount this is the open that
    /// resolves lazy lowerdata (spec §6).
    [[nodiscard]] result<file> open(std::string_view path) const {
        return m_fs.open_file(m_root, relative(path));
    }
    /// Up to buffer.size() bytes at `offset`; 0 at end of file.
    [[nodiscard]] result<std::size_t> read(const file& f, std::uint64_t offset,
                                           std::span<char> buffer) const {
        return m_fs.read(f, offset, buffer);
    }
    /// The first stored range at or after `offset` (posix_fs::next_data: SEEK_DATA/SEEK_HOLE).
    [[nodiscard]] result<data_extent> next_data(const file& f, std::uint64_t offset) const {
        return m_fs.next_data(f, offset);
    }

private:
    mounted_tree(posix_fs fs, posix_fs::layer_ref root)
        : m_fs(std::move(fs)), m_root(std::move(root)) {}

    /// "/a/b" -> "a/b", "/" -> "" (posix_fs paths are relative to the root descriptor).
    [[nodiscard]] static std::string_view relative(std::string_view path) noexcept {
        while (!path.empty() && path.front() == '/') path.remove_prefix(1);
        return path;
    }

    posix_fs m_fs;
    posix_fs::layer_ref m_root;
};

static_assert(tree_view<mounted_tree>);
static_assert(tree_view<const mounted_tree>);

} // namespace ovlcore
