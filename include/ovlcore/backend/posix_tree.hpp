// SPDX-License-Identifier: MIT
// ovlcore/backend/posix_tree.hpp: mounted_tree, a tree_view (dump.hpp) over a real directory such
// as a kernel overlay mount, so that `ovl-tree --walk` and the kernel-differential tests dump it
// exactly as they dump an overlay<B>. Linux only; users include it explicitly (not part of
// ovlcore.hpp). Spec: dump-format.md.
//
// Every call goes through posix_fs handles (backend/posix.hpp), one component at a time, so trees
// of any depth are walked with a bounded number of descriptors. The directories of the last path
// asked for are remembered (a cursor: one handle per level), so a walk in path order looks each
// directory up once; the final component is always looked up afresh (one statx). A final symlink
// is never followed. A path that goes through a symlink (or names "." or "..") is handed to the
// kernel in one piece relative to the root descriptor, as lstat(2) walks it, like the kernel
// oracle's os.lstat(mountpoint + path); the walk itself never produces such paths.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
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
/// directory itself) or "/a/b" below it. All members are const and thread-safe.
class mounted_tree {
public:
    using file = posix_fs::file;
    using handle = posix_fs::handle;

    /// Opens `dir` (relative to the working directory, symlinks in it followed as by cd) as the
    /// root of the view. Errors: the path walk's errno; ENOTDIR when it is not a directory.
    [[nodiscard]] static result<mounted_tree> open_root(std::string_view dir,
                                                        const posix_options& options = {}) {
        posix_fs fs(options);
        OVLCORE_TRY_ASSIGN(root, fs.resolve_dir(dir));
        if (root.st.type != file_type::directory) return fail(std::errc::not_a_directory);
        return mounted_tree(std::move(fs), std::move(root.ref));
    }

    /// lstat(2) of `path` (a final symlink is not followed).
    [[nodiscard]] result<stat_info> lstat(std::string_view path) const {
        OVLCORE_TRY_ASSIGN(obj, resolve(path, true));
        if (obj.via_path) return lstat_by_path(path);
        return obj.object.st;
    }
    /// The directory's entries without "." and "..", in the filesystem's order.
    [[nodiscard]] result<std::vector<dir_entry>> read_dir(std::string_view path) const {
        OVLCORE_TRY_ASSIGN(obj, resolve(path, false));
        if (obj.via_path) {
            OVLCORE_TRY_ASSIGN(fd, open_by_path(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
            return detail::read_dir_fd(fd.get());
        }
        return m_fs->read_dir(obj.object.handle);
    }
    /// The target text of the symlink at `path` (EINVAL for a non-symlink).
    [[nodiscard]] result<std::string> read_link(std::string_view path) const {
        OVLCORE_TRY_ASSIGN(obj, resolve(path, true));
        if (obj.via_path) return read_link_by_path(path);
        return m_fs->read_link(obj.object.handle);
    }
    /// Opens the regular file at `path` for reading; on an overlay mount this is the open that
    /// resolves lazy lowerdata (spec §6).
    [[nodiscard]] result<file> open(std::string_view path) const {
        OVLCORE_TRY_ASSIGN(obj, resolve(path, true));
        if (obj.via_path) return open_file_by_path(path);
        return m_fs->open_file(obj.object.handle);
    }
    /// Up to buffer.size() bytes at `offset`; 0 at end of file.
    [[nodiscard]] result<std::size_t> read(const file& f, std::uint64_t offset,
                                           std::span<char> buffer) const {
        return m_fs->read(f, offset, buffer);
    }
    /// The first stored range at or after `offset` (posix_fs::next_data: SEEK_DATA/SEEK_HOLE).
    [[nodiscard]] result<data_extent> next_data(const file& f, std::uint64_t offset) const {
        return m_fs->next_data(f, offset);
    }

    // The node-level view (dump.hpp's node_tree_view): a walk object by object, one lookup per
    // entry, whatever the depth. A node is a posix_fs handle with the lstat its lookup saw.
    using node = real_object<handle>;

    /// The root directory (stat fresh).
    [[nodiscard]] result<node> root() const { return m_fs->root(m_root); }
    /// `name` in the directory `dir`, not followed: ENOENT when absent, ENOTDIR when `dir` is not
    /// a directory.
    [[nodiscard]] result<node> lookup(const node& dir, std::string_view name) const {
        return m_fs->lookup(dir.handle, name);
    }
    /// The lstat the lookup saw.
    [[nodiscard]] result<stat_info> stat(const node& n) const { return n.st; }
    [[nodiscard]] result<std::vector<dir_entry>> read_dir(const node& dir) const {
        return m_fs->read_dir(dir.handle);
    }
    [[nodiscard]] result<std::string> read_link(const node& n) const {
        return m_fs->read_link(n.handle);
    }
    [[nodiscard]] result<file> open(const node& n) const { return m_fs->open_file(n.handle); }

    /// The posix_fs behind the view (xattrs, path_of, its descriptor cache).
    [[nodiscard]] const posix_fs& fs() const noexcept { return *m_fs; }

private:
    mounted_tree(posix_fs fs, posix_fs::layer_ref root)
        : m_fs(std::make_unique<posix_fs>(std::move(fs))), m_root(std::move(root)),
          m_cursor(std::make_unique<cursor>()) {}

    /// The directories of the last path resolved: dirs[i] is the directory whose path is
    /// path.substr(0, ends[i]) (ends[0] == 0: the root).
    struct cursor {
        std::mutex mutex;
        std::string path;
        std::vector<std::size_t> ends;
        std::vector<handle> dirs;
    };

    struct resolved {
        real_object<handle> object;
        bool via_path = false; ///< a symlink, "." or ".." on the way: use the path calls
    };

    /// The object at `path`. `fresh`: look the final component up again even when the cursor
    /// holds it (lstat must see the object as it is now).
    [[nodiscard]] result<resolved> resolve(std::string_view path, bool fresh) const {
        // "/a//b/" -> components; the cursor keys use the normalised "/a/b".
        std::string norm;
        norm.reserve(path.size());
        {
            std::size_t pos = 0;
            for (auto c = detail::next_component(path, pos); !c.empty();
                 c = detail::next_component(path, pos)) {
                if (c == "." || c == "..") return resolved{.object = {}, .via_path = true};
                norm += '/';
                norm += c;
            }
        }
        // The longest directory prefix the cursor knows.
        handle dir;
        std::size_t done = 0; // norm.substr(0, done) is `dir`
        {
            const std::lock_guard lock(m_cursor->mutex);
            const auto& cur = *m_cursor;
            const std::size_t common = static_cast<std::size_t>(
                std::mismatch(norm.begin(), norm.end(), cur.path.begin(), cur.path.end()).first -
                norm.begin());
            // Largest i with ends[i] <= common and a component boundary in norm at ends[i].
            std::size_t i = static_cast<std::size_t>(
                std::upper_bound(cur.ends.begin(), cur.ends.end(), common) - cur.ends.begin());
            while (i > 0) {
                const std::size_t e = cur.ends[i - 1];
                if (e == norm.size() || norm[e] == '/') break;
                --i;
            }
            if (i > 0) {
                // Keep the final component's own entry only when it may be reused.
                if (cur.ends[i - 1] == norm.size() && fresh && i > 1) --i;
                if (!(cur.ends[i - 1] == norm.size() && fresh)) {
                    dir = cur.dirs[i - 1];
                    done = cur.ends[i - 1];
                }
            }
        }
        real_object<handle> obj;
        if (!dir) {
            OVLCORE_TRY_ASSIGN(root, m_fs->root(m_root));
            obj = std::move(root);
            done = 0;
        } else {
            obj.handle = std::move(dir);
            obj.st.type = file_type::directory;
            // A cached directory that is the final component (not fresh): its stat is not
            // needed by read_dir, the only caller that passes fresh = false.
        }
        std::vector<std::pair<std::size_t, handle>> found; // new directories, for the cursor
        std::size_t pos = done;
        for (auto c = detail::next_component(norm, pos); !c.empty();
             c = detail::next_component(norm, pos)) {
            if (obj.st.type == file_type::symlink) return resolved{.object = {}, .via_path = true};
            OVLCORE_TRY_ASSIGN(next, m_fs->lookup(obj.handle, c));
            obj = std::move(next);
            if (obj.st.type == file_type::directory) found.emplace_back(pos, obj.handle);
        }
        if (!found.empty() || done == 0) {
            const std::lock_guard lock(m_cursor->mutex);
            auto& cur = *m_cursor;
            // Keep the entries of the prefix this walk started from, add the new ones.
            std::size_t keep = static_cast<std::size_t>(
                std::upper_bound(cur.ends.begin(), cur.ends.end(), done) - cur.ends.begin());
            if (keep > 0 &&
                (cur.path.size() < done || cur.path.compare(0, done, norm, 0, done) != 0))
                keep = 0; // another thread moved the cursor meanwhile: start over
            cur.ends.resize(keep);
            cur.dirs.resize(keep);
            if (keep == 0) {
                OVLCORE_TRY_ASSIGN(root, m_fs->root(m_root));
                cur.ends.push_back(0);
                cur.dirs.push_back(std::move(root.handle));
                if (done != 0) found.clear(); // their prefix is not in the cursor
            }
            for (auto& [end, h] : found) {
                cur.ends.push_back(end);
                cur.dirs.push_back(std::move(h));
            }
            cur.path = norm.substr(0, cur.ends.back());
        }
        return resolved{.object = std::move(obj), .via_path = false};
    }

    // The path calls for a path through a symlink (rare: probes, never the walk itself).
    [[nodiscard]] static std::string relative(std::string_view path) {
        while (!path.empty() && path.front() == '/') path.remove_prefix(1);
        return path.empty() ? std::string(".") : std::string(path);
    }
    [[nodiscard]] result<stat_info> lstat_by_path(std::string_view path) const {
        OVLCORE_TRY_ASSIGN(sx, detail::statx_at(m_root.fd(), relative(path)));
        return detail::from_statx(sx);
    }
    [[nodiscard]] result<detail::unique_fd> open_by_path(std::string_view path, int flags) const {
        const std::string rel = relative(path);
        detail::unique_fd fd(detail::retry_eintr(
            [&] { return ::openat(m_root.fd(), rel.c_str(), flags | O_CLOEXEC); }));
        if (!fd.valid()) return fail_errno(detail::last_errno());
        return fd;
    }
    [[nodiscard]] result<std::string> read_link_by_path(std::string_view path) const {
        const std::string rel = relative(path);
        std::string buf(detail::path_max, '\0');
        const ssize_t n = ::readlinkat(m_root.fd(), rel.c_str(), buf.data(), buf.size());
        if (n < 0) return fail_errno(detail::last_errno());
        buf.resize(static_cast<std::size_t>(n));
        return buf;
    }
    [[nodiscard]] result<file> open_file_by_path(std::string_view path) const {
        // Look first, open for reading only a regular file, and check it is the one looked at
        // (as posix_fs::open_file).
        OVLCORE_TRY_ASSIGN(probe, open_by_path(path, O_PATH | O_NOFOLLOW));
        OVLCORE_TRY_ASSIGN(sx, detail::statx_at(probe.get(), ""));
        if (const auto refused = open_file_refusal(detail::type_from_mode(sx.stx_mode)))
            return fail(*refused);
        OVLCORE_TRY_ASSIGN(fd, open_by_path(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY));
        struct stat st {};
        if (::fstat(fd.get(), &st) != 0) return fail_errno(detail::last_errno());
        if (st.st_ino != sx.stx_ino || major(st.st_dev) != sx.stx_dev_major ||
            minor(st.st_dev) != sx.stx_dev_minor)
            return fail_errno(ESTALE);
        return file(std::move(fd));
    }

    std::unique_ptr<posix_fs> m_fs; // stable address for handles held in the cursor
    posix_fs::layer_ref m_root;
    std::unique_ptr<cursor> m_cursor;
};

static_assert(tree_view<mounted_tree>);
static_assert(tree_view<const mounted_tree>);
static_assert(node_tree_view<const mounted_tree>, "the dump walks a mounted tree object by object");

} // namespace ovlcore
