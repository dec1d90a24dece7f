// SPDX-License-Identifier: MIT
// ovlcore/backend/memory.hpp: memory_fs, an in-memory backing filesystem with a fluent builder, for
// tests, fuzzing and embedding (spec §0, §1.3, §1.5, §3, §6). Users include it.
//
// Model (documented choices; the POSIX backend on ext4 behaves the same way where it matters):
// - One tree rooted at "/". Every object gets a unique inode number (root = 2, then 3, 4, ...,
//   never reused). Mount points (add_mount) start a new mount: a new st_dev and mount id for the
//   subtree; the root mount is dev 0x10000 with mount id 100, the n-th added mount dev 0x10000+n
//   with id 100+n.
// - Directories list their entries in insertion order (read_dir), st_nlink = 2 + subdirectories,
//   st_size 4096, st_blocks 8. Symlinks: st_size = target length, st_blocks 0 (8 if the target has
//   60 bytes or more, as ext4 stores long targets in a block). Devices, fifos, sockets: size 0.
// - Regular files: st_size = the content length unless entry_attrs::size is given. A size smaller
//   than the content truncates it; a larger size reads as the content followed by zeros up to size
//   (a truncate-extended sparse file). st_blocks = ceil(stored content bytes / 4096) * 8 (ext4
//   may add a block for extended attributes that do not fit in the inode; this model does not).
// - Default modes: 0644 files/devices/fifos/sockets, 0755 directories, 0777 symlinks; owner 0:0;
//   all timestamps 0 unless entry_attrs::mtime is given.
// - Path walks follow the kernel: absolute symlink targets restart at "/", at most 40 symlinks
//   (ELOOP), a non-directory in the middle gives ENOTDIR, a trailing '/' requires a directory and
//   follows a final symlink, a component longer than the mount's name_max gives ENAMETOOLONG.
//   resolve_dir walks paths that way; the handle calls follow nothing (lookup is one step,
//   lookup_beneath follows none, spec §6).
// - Handles (backend.hpp): a handle names a node, the directory slot it was reached through (so
//   path_of names a hard-linked file by the name it was looked up with) and its layer's root.
//   Nodes are never freed, so a handle stays valid as long as the memory_fs lives.
// - Thread safety: the builder functions (add_*, set_*) are NOT thread-safe and must all run before
//   the filesystem is used; after that every const member function may be called concurrently
//   (they only read).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../backend.hpp"
#include "../config.hpp"
#include "../detail/path.hpp"
#include "../result.hpp"
#include "../types.hpp"

namespace ovlcore {

namespace detail {
// Defined outside memory_fs so that `= {}` default arguments work inside the class.
struct memory_entry_attrs {
    std::optional<std::uint32_t> mode{}; ///< permission bits incl. suid/sgid/sticky (07777)
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    std::optional<std::uint64_t> size{}; ///< regular files: st_size differing from the content
    std::optional<timestamp> mtime{};    ///< atime = mtime = ctime (default 0)
};
struct memory_mount_attrs {
    bool read_only = false;
    std::uint64_t fs_magic = 0xEF53; ///< statfs f_type (EXT4_SUPER_MAGIC by default)
    std::uint32_t name_max = 255;    ///< statfs f_namelen
};
} // namespace detail

/// An in-memory filesystem tree satisfying backing_filesystem. Build it with the fluent add_*
/// functions (absolute paths, missing parents created as 0755 directories owned by 0:0), then use
/// it read-only. Adding a path that exists replaces it (add_dir on a directory only updates its
/// attributes); a non-directory where a parent directory is needed is replaced by a 0755
/// directory. Builder misuse (a relative path, "..", set_xattr on a missing path) is an assertion.
/// @see spec §0 (layers), §6 (lookup_beneath walk)
class memory_fs {
public:
    /// A layer: an object (normally a directory) of this filesystem. Cheap to copy.
    struct layer_ref {
        std::size_t node = 0;
        friend bool operator==(const layer_ref&, const layer_ref&) = default;
    };

    /// An object of a layer: its node, the entry (directory node, position in its listing) that
    /// named it, and the layer's root node. Cheap to copy; valid as long as the memory_fs lives.
    struct handle {
        std::uint32_t node = 0;
        std::uint32_t dir = 0;                        ///< the directory `node` was found in
        std::uint32_t slot = no_slot;                 ///< its position in that dir's listing
        std::uint32_t layer = 0;                      ///< the layer's root node
        static constexpr std::uint32_t no_slot = ~0u; ///< the layer root (or "/")
        friend bool operator==(const handle&, const handle&) = default;
    };

    /// An open regular file. Valid as long as the memory_fs lives.
    struct file {
        std::size_t node = 0;
    };

    /// Attributes of a new entry; unset fields take the defaults described at the top.
    using entry_attrs = detail::memory_entry_attrs;
    /// Properties of a mount (add_mount).
    using mount_attrs = detail::memory_mount_attrs;

    /// An empty filesystem: root directory "/" (0755, 0:0), working directory "/".
    memory_fs() {
        node root;
        root.type = file_type::directory;
        root.mode = 0755;
        root.ino = m_next_ino++;
        root.mount_root = true;
        m_nodes.push_back(std::move(root));
        m_mounts.push_back(mount{0x10000, 100, mount_attrs{}});
    }

    // ---- builder -------------------------------------------------------------------------------

    /// mkdir -p: creates the directory (and missing parents). On an existing directory, applies
    /// `attrs` (mode if set, uid, gid, mtime if set) and keeps its entries; replaces anything else.
    memory_fs& add_dir(std::string_view path, const entry_attrs& attrs = {}) {
        const auto parts = builder_split(path);
        if (parts.empty()) {
            apply_attrs(m_nodes[0], attrs);
            return *this;
        }
        const std::size_t parent = make_parents(parts);
        if (auto idx = child_of(parent, parts.back());
            idx && m_nodes[*idx].type == file_type::directory) {
            apply_attrs(m_nodes[*idx], attrs);
            return *this;
        }
        node n = make_node(file_type::directory, 0755, attrs);
        link_new(parent, parts.back(), std::move(n));
        return *this;
    }

    /// A regular file with `content` (see the class comment for attrs.size).
    memory_fs& add_file(std::string_view path, std::string_view content,
                        const entry_attrs& attrs = {}) {
        node n = make_node(file_type::regular, 0644, attrs);
        n.size = attrs.size.value_or(content.size());
        n.data.assign(content.substr(
            0, static_cast<std::size_t>(std::min<std::uint64_t>(content.size(), n.size))));
        place(path, std::move(n));
        return *this;
    }

    /// A symbolic link whose text is `target` (not checked, may dangle).
    memory_fs& add_symlink(std::string_view path, std::string_view target,
                           const entry_attrs& attrs = {}) {
        node n = make_node(file_type::symlink, 0777, attrs);
        n.data.assign(target);
        n.size = target.size();
        place(path, std::move(n));
        return *this;
    }

    /// A character or block device node major:minor.
    memory_fs& add_device(std::string_view path, file_type type, std::uint32_t major,
                          std::uint32_t minor, const entry_attrs& attrs = {}) {
        OVLCORE_PRECONDITION(type == file_type::char_device || type == file_type::block_device);
        node n = make_node(type, 0644, attrs);
        n.rdev_major = major;
        n.rdev_minor = minor;
        place(path, std::move(n));
        return *this;
    }

    /// A whiteout as overlayfs creates it: character device 0:0, mode 0000 (spec §3).
    memory_fs& add_whiteout(std::string_view path, const entry_attrs& attrs = {}) {
        entry_attrs a = attrs;
        if (!a.mode) a.mode = 0;
        return add_device(path, file_type::char_device, 0, 0, a);
    }

    memory_fs& add_fifo(std::string_view path, const entry_attrs& attrs = {}) {
        place(path, make_node(file_type::fifo, 0644, attrs));
        return *this;
    }

    memory_fs& add_socket(std::string_view path, const entry_attrs& attrs = {}) {
        place(path, make_node(file_type::socket, 0644, attrs));
        return *this;
    }

    /// A second name `link_path` for the existing non-directory `existing` (st_nlink grows).
    memory_fs& add_hardlink(std::string_view existing, std::string_view link_path) {
        const auto idx = builder_find(existing);
        OVLCORE_PRECONDITION(idx.has_value());
        OVLCORE_PRECONDITION(m_nodes[*idx].type != file_type::directory);
        const auto parts = builder_split(link_path);
        OVLCORE_PRECONDITION(!parts.empty());
        const std::size_t parent = make_parents(parts);
        set_child(parent, parts.back(), *idx);
        return *this;
    }

    /// Sets (or replaces) an extended attribute on the existing object at `path` (not followed).
    memory_fs& set_xattr(std::string_view path, std::string_view name, std::string_view value) {
        const auto idx = builder_find(path);
        OVLCORE_PRECONDITION(idx.has_value());
        auto& xs = m_nodes[*idx].xattrs;
        for (auto& [k, v] : xs) {
            if (k == name) {
                v.assign(value);
                return *this;
            }
        }
        xs.emplace_back(std::string(name), std::string(value));
        return *this;
    }

    /// The working directory for relative resolve_dir paths (created like add_dir if missing).
    memory_fs& set_cwd(std::string_view path) {
        const auto idx = builder_find(path);
        if (!idx || m_nodes[*idx].type != file_type::directory) add_dir(path);
        m_cwd = *builder_find(path);
        return *this;
    }

    /// Makes the directory at `path` (created if missing) the root of a new mount: a new st_dev
    /// and mount id for its subtree, a mount boundary for lookup_beneath (EXDEV). "/" changes
    /// the attributes of the root mount.
    memory_fs& add_mount(std::string_view path, const mount_attrs& attrs = {}) {
        const auto existing = builder_find(path);
        if (!existing || m_nodes[*existing].type != file_type::directory) add_dir(path);
        const std::size_t idx = *builder_find(path);
        if (idx == 0) {
            m_mounts[0].attrs = attrs;
            return *this;
        }
        const std::size_t m = m_mounts.size();
        m_mounts.push_back(mount{.dev = 0x10000 + m, .id = 100 + m, .attrs = attrs});
        m_nodes[idx].mount_root = true;
        assign_mount(idx, m);
        return *this;
    }

    // ---- backing_filesystem --------------------------------------------------------------------

    /// Resolves a mount-option path as mount(2) does: relative to the working directory, every
    /// symlink followed. Errors: ENOENT (also for ""), ENOTDIR, ELOOP, ENAMETOOLONG.
    /// @see spec §1.3
    [[nodiscard]] result<resolved_dir<layer_ref>> resolve_dir(std::string_view path) const {
        if (path.empty()) return fail(std::errc::no_such_file_or_directory);
        OVLCORE_TRY_ASSIGN(hit, walk(m_cwd, path, true));
        resolved_dir<layer_ref> out;
        out.ref = layer_ref{hit.node};
        out.st = stat_of(hit.node);
        std::size_t p = hit.node;
        if (m_nodes[p].type != file_type::directory) {
            p = hit.dir;
            out.ancestors.push_back(id_of(p));
        }
        while (p != 0) {
            p = m_nodes[p].parent;
            out.ancestors.push_back(id_of(p));
        }
        const mount& m = m_mounts[m_nodes[hit.node].mount];
        out.mount_id = m.id;
        out.read_only = m.attrs.read_only;
        out.name_max = m.attrs.name_max;
        out.fs_magic = m.attrs.fs_magic;
        return out;
    }

    /// The layer's root object.
    [[nodiscard]] result<real_object<handle>> root(const layer_ref& layer) const {
        return object(dir_handle(layer.node, layer.node));
    }

    /// `name` in the directory `dir`, not followed. ENOTDIR if `dir` is not a directory,
    /// ENAMETOOLONG above its mount's name_max, ENOENT when absent.
    [[nodiscard]] result<real_object<handle>> lookup(const handle& dir,
                                                     std::string_view name) const {
        const node& d = m_nodes[dir.node];
        if (d.type != file_type::directory) return fail(std::errc::not_a_directory);
        OVLCORE_TRY_ASSIGN(slot, look_up(d, name));
        return object(handle{.node = small(d.children[slot].second),
                             .dir = dir.node,
                             .slot = small(slot),
                             .layer = dir.layer});
    }

    /// Entries in insertion order, without "." and "..". ENOTDIR for a non-directory.
    [[nodiscard]] result<std::vector<dir_entry>> read_dir(const handle& dir) const {
        const node& d = m_nodes[dir.node];
        if (d.type != file_type::directory) return fail(std::errc::not_a_directory);
        std::vector<dir_entry> out;
        out.reserve(d.children.size());
        for (const auto& [name, idx] : d.children)
            out.push_back(
                dir_entry{.name = name, .type = m_nodes[idx].type, .ino = m_nodes[idx].ino});
        return out;
    }

    /// The attribute's value, or nullopt when absent. ERANGE for an empty or over-long name.
    [[nodiscard]] result<std::optional<std::string>> get_xattr(const handle& h,
                                                               std::string_view name) const {
        if (name.empty() || name.size() > 255) return fail(std::errc::result_out_of_range);
        for (const auto& [k, v] : m_nodes[h.node].xattrs)
            if (k == name) return std::optional<std::string>(v);
        return std::optional<std::string>();
    }

    /// Attribute names in the order they were set.
    [[nodiscard]] result<std::vector<std::string>> list_xattr(const handle& h) const {
        std::vector<std::string> out;
        for (const auto& kv : m_nodes[h.node].xattrs) out.push_back(kv.first);
        return out;
    }

    [[nodiscard]] result<std::string> read_link(const handle& h) const {
        const node& n = m_nodes[h.node];
        if (n.type != file_type::symlink) return fail(std::errc::invalid_argument);
        return n.data;
    }

    /// The layer-relative path `h` was reached by ("" for the layer root).
    [[nodiscard]] std::string path_of(const handle& h) const {
        std::vector<std::string_view> names;
        std::uint32_t cur = h.node;
        std::uint32_t dir = h.dir;
        std::uint32_t slot = h.slot;
        while (cur != h.layer && slot != handle::no_slot) {
            names.push_back(m_nodes[dir].children[slot].first);
            cur = dir;
            dir = small(m_nodes[cur].parent);
            slot = m_nodes[cur].parent_slot;
        }
        std::reverse(names.begin(), names.end());
        std::string out;
        for (const auto& name : names) {
            if (!out.empty()) out += '/';
            out += name;
        }
        return out;
    }

    /// The data-only walk of spec §6 from the layer root: no symlink followed (middle: ELOOP,
    /// final: returned as is, a final one with a trailing '/': ELOOP), "." and ".." physical,
    /// ".." above the layer root: EXDEV, entering or leaving a mount: EXDEV, ENOENT, ENOTDIR.
    /// @see spec §6
    [[nodiscard]] result<real_object<handle>> lookup_beneath(const layer_ref& layer,
                                                             std::string_view path) const {
        if (path.size() >= detail::path_max) return fail(std::errc::filename_too_long);
        const bool trailing = detail::has_trailing_slash(path);
        const auto comps = detail::split_path(path);
        std::size_t cur = layer.node;
        handle h = dir_handle(layer.node, layer.node);
        for (std::size_t i = 0; i < comps.size(); ++i) {
            const std::string_view comp = comps[i];
            const node& c = m_nodes[cur];
            if (c.type != file_type::directory) return fail(std::errc::not_a_directory);
            if (comp == ".") continue;
            if (comp == "..") {
                if (cur == layer.node || c.mount_root) return fail(std::errc::cross_device_link);
                cur = c.parent;
                h = dir_handle(cur, layer.node);
                continue;
            }
            OVLCORE_TRY_ASSIGN(slot, look_up(c, comp));
            const std::size_t child = c.children[slot].second;
            const node& n = m_nodes[child];
            if (n.mount_root) return fail(std::errc::cross_device_link);
            const bool last = i + 1 == comps.size();
            if (n.type == file_type::symlink && (!last || trailing))
                return fail(std::errc::too_many_symbolic_link_levels);
            h = handle{.node = small(child),
                       .dir = small(cur),
                       .slot = small(slot),
                       .layer = small(layer.node)};
            cur = child;
        }
        if (trailing && m_nodes[cur].type != file_type::directory)
            return fail(std::errc::not_a_directory);
        return object(h);
    }

    /// Opens a regular file for reading. Like open(O_RDONLY | O_NOFOLLOW) restricted to regular
    /// files: EISDIR for a directory, ELOOP for a symlink, ENXIO for devices, fifos and sockets.
    [[nodiscard]] result<file> open_file(const handle& h) const {
        if (const auto refused = open_file_refusal(m_nodes[h.node].type)) return fail(*refused);
        return file{h.node};
    }

    /// Reads up to buffer.size() bytes at `offset`; 0 at or after the end of the file.
    [[nodiscard]] result<std::size_t> read(const file& f, std::uint64_t offset,
                                           std::span<char> buffer) const {
        OVLCORE_PRECONDITION(f.node < m_nodes.size());
        const node& n = m_nodes[f.node];
        if (offset >= n.size) return std::size_t{0};
        const auto count =
            static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), n.size - offset));
        std::size_t copied = 0;
        if (offset < n.data.size()) {
            copied = std::min(count, n.data.size() - static_cast<std::size_t>(offset));
            std::memcpy(buffer.data(), n.data.data() + offset, copied);
        }
        std::fill(buffer.begin() + static_cast<std::ptrdiff_t>(copied),
                  buffer.begin() + static_cast<std::ptrdiff_t>(count), '\0');
        return count;
    }

    /// The working directory's object (for tests).
    [[nodiscard]] layer_ref cwd() const noexcept { return layer_ref{m_cwd}; }

private:
    struct node {
        file_type type = file_type::unknown;
        std::uint32_t mode = 0;
        std::uint32_t uid = 0;
        std::uint32_t gid = 0;
        std::uint64_t size = 0; // regular: logical size; symlink: target length
        std::string data;       // regular: stored content (<= size); symlink: target
        std::uint32_t rdev_major = 0;
        std::uint32_t rdev_minor = 0;
        std::uint64_t ino = 0;
        std::size_t mount = 0;  // index into m_mounts
        std::size_t parent = 0; // directories: the containing directory (root: itself)
        std::uint32_t parent_slot = handle::no_slot; // directories: position in parent's listing
        std::uint64_t links = 0;                     // non-directories: names referring to it
        std::uint64_t subdirs = 0;                   // directories: number of subdirectories
        bool mount_root = false;
        timestamp time{};
        std::vector<std::pair<std::string, std::size_t>> children; // insertion order
        std::map<std::string, std::size_t, std::less<>> index;     // name -> position in children
        std::vector<std::pair<std::string, std::string>> xattrs;   // insertion order
    };

    struct mount {
        std::uint64_t dev;
        std::uint64_t id;
        mount_attrs attrs;
    };

    struct walk_hit {
        std::size_t node;
        std::size_t dir; // the directory the final name was found in
    };

    std::vector<node> m_nodes;
    std::vector<mount> m_mounts;
    std::size_t m_cwd = 0;
    std::uint64_t m_next_ino = 2;

    /// Node indices and listing positions fit handles' 32-bit fields (a memory_fs holds far
    /// fewer than 2^32 objects).
    [[nodiscard]] static std::uint32_t small(std::size_t v) noexcept {
        OVLCORE_PRECONDITION(v < handle::no_slot);
        return static_cast<std::uint32_t>(v);
    }

    /// The handle of the directory node `idx` (named through its parent) in the layer `layer`.
    [[nodiscard]] handle dir_handle(std::size_t idx, std::size_t layer) const noexcept {
        const bool top = idx == layer || m_nodes[idx].parent_slot == handle::no_slot;
        return handle{.node = small(idx),
                      .dir = small(m_nodes[idx].parent),
                      .slot = top ? handle::no_slot : m_nodes[idx].parent_slot,
                      .layer = small(layer)};
    }

    [[nodiscard]] real_object<handle> object(const handle& h) const {
        return real_object<handle>{.handle = h, .st = stat_of(h.node)};
    }

    [[nodiscard]] file_id id_of(std::size_t idx) const {
        return file_id{.dev = m_mounts[m_nodes[idx].mount].dev, .ino = m_nodes[idx].ino};
    }

    [[nodiscard]] stat_info stat_of(std::size_t idx) const {
        const node& n = m_nodes[idx];
        stat_info st;
        st.type = n.type;
        st.mode = n.mode & 07777;
        st.uid = n.uid;
        st.gid = n.gid;
        st.ino = n.ino;
        st.dev = m_mounts[n.mount].dev;
        st.blksize = 4096;
        st.atime = st.mtime = st.ctime = n.time;
        switch (n.type) {
        case file_type::directory:
            st.size = 4096;
            st.blocks = 8;
            st.nlink = 2 + n.subdirs;
            break;
        case file_type::regular:
            st.size = n.size;
            st.blocks = (n.data.size() + 4095) / 4096 * 8;
            st.nlink = n.links;
            break;
        case file_type::symlink:
            st.size = n.size;
            st.blocks = n.data.size() >= 60 ? 8 : 0;
            st.nlink = n.links;
            break;
        default:
            st.rdev_major = n.rdev_major;
            st.rdev_minor = n.rdev_minor;
            st.nlink = n.links;
            break;
        }
        return st;
    }

    /// The kernel-like path walk for the path-based calls. `follow_final`: follow a final symlink.
    [[nodiscard]] result<walk_hit> walk(std::size_t start, std::string_view path,
                                        bool follow_final) const {
        if (path.size() >= detail::path_max) return fail(std::errc::filename_too_long);
        if (detail::has_trailing_slash(path)) follow_final = true;
        const bool must_dir = detail::has_trailing_slash(path);
        std::size_t cur = (!path.empty() && path.front() == '/') ? 0 : start;
        std::size_t dir = m_nodes[cur].parent;
        // Components still to walk, next one at the back. Views point into `path` or into symlink
        // targets, which do not change while const members run.
        auto todo = detail::split_path(path);
        std::reverse(todo.begin(), todo.end());
        int followed = 0;
        while (!todo.empty()) {
            const std::string_view comp = todo.back();
            todo.pop_back();
            const node& c = m_nodes[cur];
            if (c.type != file_type::directory) return fail(std::errc::not_a_directory);
            if (comp == ".") continue;
            if (comp == "..") {
                cur = c.parent;
                continue;
            }
            OVLCORE_TRY_ASSIGN(slot, look_up(c, comp));
            const std::size_t child = c.children[slot].second;
            const node& n = m_nodes[child];
            if (n.type == file_type::symlink && (!todo.empty() || follow_final)) {
                if (++followed > detail::max_symlinks)
                    return fail(std::errc::too_many_symbolic_link_levels);
                if (n.data.empty()) return fail(std::errc::no_such_file_or_directory);
                auto target = detail::split_path(n.data);
                todo.insert(todo.end(), target.rbegin(), target.rend());
                if (n.data.front() == '/') cur = 0;
                continue;
            }
            dir = cur;
            cur = child;
        }
        if (must_dir && m_nodes[cur].type != file_type::directory)
            return fail(std::errc::not_a_directory);
        return walk_hit{.node = cur, .dir = dir};
    }

    // ---- builder internals ---------------------------------------------------------------------

    [[nodiscard]] static std::vector<std::string_view> builder_split(std::string_view path) {
        OVLCORE_PRECONDITION(!path.empty() && path.front() == '/');
        auto parts = detail::split_path(path);
        std::erase(parts, std::string_view("."));
        for ([[maybe_unused]] auto p : parts) OVLCORE_PRECONDITION(p != "..");
        return parts;
    }

    /// One step of a path walk: the position of the entry `name` in the listing of the directory
    /// `dir`. ENAMETOOLONG above the name_max of its mount, ENOENT when absent.
    [[nodiscard]] result<std::size_t> look_up(const node& dir, std::string_view name) const {
        if (name.size() > m_mounts[dir.mount].attrs.name_max)
            return fail(std::errc::filename_too_long);
        const auto it = dir.index.find(name);
        if (it == dir.index.end()) return fail(std::errc::no_such_file_or_directory);
        return it->second;
    }

    [[nodiscard]] std::optional<std::size_t> child_of(std::size_t dir,
                                                      std::string_view name) const {
        const auto it = m_nodes[dir].index.find(name);
        if (it == m_nodes[dir].index.end()) return std::nullopt;
        return m_nodes[dir].children[it->second].second;
    }

    [[nodiscard]] std::optional<std::size_t> builder_find(std::string_view path) const {
        std::size_t cur = 0;
        for (auto p : builder_split(path)) {
            if (m_nodes[cur].type != file_type::directory) return std::nullopt;
            const auto c = child_of(cur, p);
            if (!c) return std::nullopt;
            cur = *c;
        }
        return cur;
    }

    node make_node(file_type type, std::uint32_t default_mode, const entry_attrs& attrs) {
        node n;
        n.type = type;
        n.mode = default_mode;
        apply_attrs(n, attrs);
        return n;
    }

    static void apply_attrs(node& n, const entry_attrs& attrs) {
        if (attrs.mode) n.mode = *attrs.mode & 07777;
        n.uid = attrs.uid;
        n.gid = attrs.gid;
        if (attrs.mtime) n.time = *attrs.mtime;
    }

    /// Walks to the parent of parts.back(), creating missing directories (0755, 0:0). A
    /// non-directory (symlinks included: the builder never follows them) in the way is replaced
    /// by a new directory, as the scenario loader does on disk.
    std::size_t make_parents(const std::vector<std::string_view>& parts) {
        std::size_t cur = 0;
        for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
            const auto c = child_of(cur, parts[i]);
            if (c && m_nodes[*c].type == file_type::directory) {
                cur = *c;
            } else {
                node d;
                d.type = file_type::directory;
                d.mode = 0755;
                cur = link_new(cur, parts[i], std::move(d));
            }
        }
        return cur;
    }

    void place(std::string_view path, node n) {
        const auto parts = builder_split(path);
        OVLCORE_PRECONDITION(!parts.empty());
        const std::size_t parent = make_parents(parts);
        link_new(parent, parts.back(), std::move(n));
    }

    /// Adds `n` as a new object named `name` in `parent` (replacing an existing name).
    std::size_t link_new(std::size_t parent, std::string_view name, node n) {
        n.ino = m_next_ino++;
        n.mount = m_nodes[parent].mount;
        n.parent = parent;
        const std::size_t idx = m_nodes.size();
        m_nodes.push_back(std::move(n));
        set_child(parent, name, idx);
        return idx;
    }

    /// Points `parent`/`name` at node `idx`, keeping the position of a replaced name.
    void set_child(std::size_t parent, std::string_view name, std::size_t idx) {
        node& p = m_nodes[parent];
        OVLCORE_PRECONDITION(p.type == file_type::directory);
        const auto it = p.index.find(name);
        std::size_t slot = p.children.size();
        if (it != p.index.end()) {
            slot = it->second;
            node& old = m_nodes[p.children[slot].second];
            if (old.type == file_type::directory)
                --p.subdirs;
            else
                --old.links;
            p.children[slot].second = idx;
        } else {
            p.index.emplace(std::string(name), slot);
            p.children.emplace_back(std::string(name), idx);
        }
        node& n = m_nodes[idx];
        if (n.type == file_type::directory) n.parent_slot = small(slot);
        if (n.type == file_type::directory)
            ++m_nodes[parent].subdirs;
        else
            ++n.links;
    }

    void assign_mount(std::size_t idx, std::size_t m) {
        m_nodes[idx].mount = m;
        for (const auto& [name, c] : m_nodes[idx].children) {
            if (m_nodes[c].mount_root) continue;
            if (m_nodes[c].type == file_type::directory)
                assign_mount(c, m);
            else
                m_nodes[c].mount = m;
        }
    }
};

static_assert(backing_filesystem<memory_fs>,
              "memory_fs must model backing_filesystem (ovlcore/backend.hpp)");
static_assert(std::is_trivially_copyable_v<memory_fs::layer_ref>,
              "a backend's layer_ref is copied into every lookup state: keep it cheap to copy");
static_assert(std::is_trivially_copyable_v<memory_fs::handle> && sizeof(memory_fs::handle) == 16,
              "a handle sits in every real entry of every cached object: keep it small");

} // namespace ovlcore
