// SPDX-License-Identifier: MIT
// ovlcore/overlay.hpp: overlay<B>, the read-only merged view of a layer stack: path and node
// lookup with a per-overlay object cache, lstat, readlink, readdir, open/read with lazy lowerdata,
// and provenance (spec §5, §6, §8, §9). Users include it (or ovlcore.hpp).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "backend.hpp"
#include "config.hpp"
#include "detail/listed_names.hpp"
#include "detail/name_table.hpp"
#include "detail/path.hpp"
#include "extensions.hpp"
#include "layer_stack.hpp"
#include "lookup.hpp"
#include "lowerdata.hpp"
#include "readdir.hpp"
#include "result.hpp"
#include "stat.hpp"
#include "trace.hpp"
#include "types.hpp"

namespace ovlcore {

/// Knobs that are not mount options.
struct overlay_options {
    /// fs-verity measurement (spec §7); `unavailable` = this machine's kernel (EIO for digests).
    verity_support verity = verity_support::unavailable;
    /// The st_dev overlay objects report (spec §9); the kernel uses an anonymous device.
    std::uint64_t overlay_dev = 0;
    /// ovlcore extensions beyond the kernel (extensions.hpp), e.g. scoped data redirects.
    /// Default: none, exactly Linux 6.18.
    extensions ext{};
};

/// Which layers an overlay object comes from, without resolving lazy data (spec §0, §6, §9).
/// Layer numbers follow spec §0: 0 upper, 1..N normal lowers, N+1.. data-only lowers.
struct provenance {
    file_type type = file_type::unknown;
    std::size_t metadata_layer = 0;        ///< supplies the attributes (spec §9)
    std::optional<std::size_t> data_layer; ///< regular files: where the bytes come from, if known
    std::optional<std::string> pending_lowerdata; ///< unresolved lazy data: the absolute redirect
    std::vector<std::size_t> dir_layers;          ///< dirs: every real dir merged, top to bottom
    bool metacopy = false;
};

template <backing_filesystem B, class Trace = null_trace>
class overlay;

namespace detail {

/// An overlay inode: the object a lookup produced, shared by every name that resolves to it
/// (spec §10 Q2), with its lazy lowerdata cache (§6), its listing cache (§8.2) and, once listed,
/// the names of its real dirs that let lookups skip absent names (§5.1 step 2).
template <class LayerRef>
struct overlay_inode {
    overlay_inode(overlay_entry<LayerRef> e, const overlay_identity& id, bool is_root)
        : entry(std::move(e)),
          fixed_stat(entry.lazy_data ? std::nullopt
                                     : std::optional<stat_info>(
                                           compose_stat(entry, entry.known_data(), id, is_root))) {}
    const overlay_entry<LayerRef> entry;
    /// The stat (spec §9) when it cannot change: no lazy data slot whose resolution fills blocks.
    const std::optional<stat_info> fixed_stat;
    mutable lowerdata_cache<LayerRef> lowerdata;
    mutable std::mutex listing_mutex;
    mutable std::optional<std::vector<dir_entry>> listing;     ///< guarded by listing_mutex
    mutable std::unique_ptr<const listed_names> names_storage; ///< guarded by listing_mutex
    mutable std::atomic<const listed_names*> names{nullptr};   ///< published names_storage
};

/// One name of the overlay (the kernel's dentry), kept for the overlay's lifetime. Children are
/// looked up once and kept, errors included: the layers are assumed not to change while the
/// overlay exists (as for a mounted overlay). An answer a failing backend call shaped is not kept
/// (spec §5.6.1). A cached child is found without a lock.
/// Opaque to callers: they hold an overlay<B>::node_handle and ask the overlay (is_dir(n),
/// entry(n), ...).
template <class LayerRef>
class overlay_node {
public:
    overlay_node(const overlay_node* parent_node, std::shared_ptr<const overlay_inode<LayerRef>> i)
        : parent(parent_node), inode(std::move(i)), is_dir(inode->entry.is_dir) {}

private:
    template <backing_filesystem, class>
    friend class ovlcore::overlay;

    struct child {
        std::unique_ptr<overlay_node> node; ///< null for a failed lookup
        std::errc error{};
    };

    [[nodiscard]] const overlay_entry<LayerRef>& entry() const noexcept { return inode->entry; }

    const overlay_node* parent; ///< nullptr for the root
    const std::shared_ptr<const overlay_inode<LayerRef>> inode;
    const bool is_dir; ///< entry().is_dir, kept here for the path walk (one cache line less)
    mutable name_table<child> children;
};

/// Hash of a real object's identity (the key of the overlay's inode cache).
struct file_id_hash {
    [[nodiscard]] std::size_t operator()(const file_id& id) const noexcept {
        return std::hash<std::uint64_t>{}((id.ino * 0x9e3779b97f4a7c15ULL) ^ id.dev);
    }
};

/// Real identity of an optional real entry (nullopt: none).
template <class LayerRef>
[[nodiscard]] std::optional<file_id> id_of(const real_entry<LayerRef>* e) {
    if (!e) return std::nullopt;
    return file_id_of(e->st);
}

/// The kernel's inode verification when a lookup finds an overlay inode already cached under
/// the same key (spec §10 Q2): the cached upper and top lower must be the ones just found; for
/// dirs, missing ones must be missing in the cache too. A failure is ESTALE.
template <class LayerRef>
[[nodiscard]] bool same_inode(const overlay_entry<LayerRef>& cached,
                              const overlay_entry<LayerRef>& found) {
    const auto top_lower = [](const overlay_entry<LayerRef>& e) {
        return e.lowers.empty() ? nullptr : &e.lowers.front();
    };
    const auto upper = [](const overlay_entry<LayerRef>& e) {
        return e.upper ? &*e.upper : nullptr;
    };
    const auto cached_lower = id_of(top_lower(cached)), found_lower = id_of(top_lower(found));
    const auto cached_upper = id_of(upper(cached)), found_upper = id_of(upper(found));
    if (cached.is_dir) {
        if (!found_lower && cached_lower) return false; // a lower dir moved up under us
        if (!found_upper && cached_upper) return false; // an uncovered redirect origin
    }
    if (found_lower && cached_lower != found_lower) return false;
    if (found_upper && cached_upper != found_upper) return false;
    return true;
}

} // namespace detail

/// The key under which the kernel caches the overlay inode of a lookup result (its
/// ovl_hash_bylower), or nullopt if it is not cached: by the top lower entry unless the object is
/// pure upper, or a lower hardlink that copy-up would break (upper mount, index off), or an upper
/// with nfs_export; else by the upper entry. Two lookups with one key share one inode, which
/// makes their answers depend on lookup order (spec §10 Q2).
template <backing_filesystem B>
[[nodiscard]] std::optional<file_id>
overlay_inode_key(const layer_stack<B>& stack, const overlay_entry<typename B::layer_ref>& e) {
    const auto& features = stack.features();
    const auto* lower = e.lowers.empty() ? nullptr : &e.lowers.front();
    bool by_lower = lower != nullptr;
    if (by_lower && stack.upper()) {
        if ((e.upper || !features.index) && !e.is_dir && lower->st.nlink > 1) by_lower = false;
        if (features.nfs_export && e.upper) by_lower = false;
    }
    if (by_lower) return detail::id_of(lower);
    if (e.upper) return detail::id_of(&*e.upper);
    return std::nullopt;
}

/// An open overlay file: the data entry's backend file plus the object it belongs to. Reads
/// return the data file's bytes (for a metacopy: the data file, never the metacopy file).
template <backing_filesystem B>
class basic_overlay_file {
public:
    [[nodiscard]] const typename B::file& backend_file() const noexcept { return m_file; }
    /// st_size of the overlay object (from the metadata entry; may differ from the data size).
    [[nodiscard]] std::uint64_t size() const noexcept { return m_size; }

private:
    template <backing_filesystem, class>
    friend class overlay;
    basic_overlay_file(typename B::file f, std::uint64_t size)
        : m_file(std::move(f)), m_size(size) {}
    typename B::file m_file;
    std::uint64_t m_size = 0;
};

/// The merged, read-only view of a layer stack as Linux 6.18 overlayfs shows it.
///
/// Thread safety: every member function is const and may be called from many threads at once.
/// Looked-up objects are cached per overlay (each child lookup runs without holding a lock; a
/// racing duplicate is discarded; a cached child is found without a lock or an allocation), lazy
/// lowerdata is resolved once per object under that object's own mutex (spec §6). Node handles
/// stay valid for the overlay's lifetime.
///
/// Memory: besides one node per looked-up name, a listed dir keeps its listing (§8.2) and the
/// names of each of its real dirs (one entry per distinct name, one small position per real dir
/// holding it), which later lookups in that dir use to skip the real dirs lacking a name (§5.1
/// step 2). Both are bounded by what has been listed and live as long as the overlay.
/// Not copyable or movable (nodes point into it). `fs` must outlive the overlay.
template <backing_filesystem B, class Trace>
class overlay {
    static_assert(trace_sink<Trace>, "Trace must model trace_sink (see trace.hpp)");

public:
    using backend_type = B;
    using layer_ref = typename B::layer_ref;
    using entry_type = overlay_entry<layer_ref>;
    using overlay_file = basic_overlay_file<B>;
    using node = detail::overlay_node<layer_ref>;
    using inode = detail::overlay_inode<layer_ref>;
    /// A handle for the node-level API (FUSE): stable for the overlay's lifetime, pointer-sized,
    /// comparable and hashable (it may be stored as an integer, e.g. a FUSE inode number, and
    /// cast back). Opaque: what a node is, is asked of the overlay (is_dir(n), entry(n), ...).
    using node_handle = const node*;

    /// Builds the root object. If a layer root cannot be read, every call fails with that errno.
    overlay(const B& fs OVLCORE_LIFETIME_BOUND, layer_stack<B> stack, Trace trace = {},
            overlay_options options = {})
        : m_fs(&fs), m_stack(std::move(stack)), m_engine(fs, m_stack, options.ext),
          m_options(options), m_identity(identity_of(m_stack, options.overlay_dev)),
          m_trace(std::move(trace)) {
        auto root = m_engine.make_root();
        if (root)
            m_root = std::make_unique<node>(
                nullptr, std::make_shared<inode>(std::move(*root), m_identity, true));
        else
            m_root_error = root.error();
    }
    overlay(const overlay&) = delete;
    overlay& operator=(const overlay&) = delete;

    // ---- path API ------------------------------------------------------------------------------

    /// lstat of `path` ("/" or "/a/b"): the last component is not followed. ENOENT for an empty
    /// path, ENOTDIR below a non-directory that is not a symlink. ovlcore is not a VFS and never
    /// follows a symlink in the middle of a path: "/lnk/x" and "/lnk/" (lnk a symlink) give ELOOP,
    /// as openat2(2) with RESOLVE_NO_SYMLINKS does. @see spec §5, §9
    [[nodiscard]] result<stat_info> lstat(std::string_view path) const {
        OVLCORE_TRY_ASSIGN(n, resolve(path));
        return stat(n);
    }

    /// The target of the symlink at `path` (EINVAL for a non-symlink). @see spec §9
    [[nodiscard]] result<std::string> read_link(std::string_view path) const {
        OVLCORE_TRY_ASSIGN(n, resolve(path));
        return read_link(n);
    }

    /// The listing of the dir at `path`, without "." and "..". @see spec §8
    [[nodiscard]] result<std::vector<dir_entry>> read_dir(std::string_view path) const {
        OVLCORE_TRY_ASSIGN(n, resolve(path));
        return read_dir(n);
    }

    /// Opens the regular file at `path` for reading, resolving lazy lowerdata (spec §6) and
    /// checking fs-verity (spec §7). Non-regular objects: EISDIR (dir), ELOOP (symlink, not
    /// followed), ENXIO (devices, fifos, sockets).
    [[nodiscard]] result<overlay_file> open(std::string_view path) const {
        OVLCORE_TRY_ASSIGN(n, resolve(path));
        return open(n);
    }

    /// Reads up to buf.size() bytes of the data entry at `offset` (0 at its end).
    [[nodiscard]] result<std::size_t> read(const overlay_file& file, std::uint64_t offset,
                                           std::span<char> buf) const {
        return m_fs->read(file.m_file, offset, buf);
    }

    /// The first stored range of the data entry at or after `offset`, when the backend can tell
    /// (its optional next_data, backend.hpp): the dump hashes the holes before it as zeros.
    [[nodiscard]] result<data_extent>
    next_data(const overlay_file& file,
              std::uint64_t offset) const requires detail::has_next_data<B> {
        return m_fs->next_data(file.m_file, offset);
    }

    /// Where the object at `path` comes from; never resolves lazy data. @see spec §0, §6
    [[nodiscard]] result<provenance> which_layers(std::string_view path) const {
        OVLCORE_TRY_ASSIGN(n, resolve(path));
        return which_layers(n);
    }

    /// The node of `path` (the path walk of the API above): components are looked up one by one
    /// from the root, "." and ".." as in lookup(). ENOENT for an empty path or a missing
    /// component; ENOTDIR below (or, with a trailing '/', at) a non-directory; ELOOP there when it
    /// is a symlink (never followed, like openat2(2) RESOLVE_NO_SYMLINKS); the lookup errnos of
    /// spec §5.6.
    [[nodiscard]] result<node_handle> resolve(std::string_view path) const {
        if (path.empty()) return fail(std::errc::no_such_file_or_directory);
        OVLCORE_TRY_ASSIGN(current, root());
        std::size_t pos = 0;
        for (auto comp = detail::next_component(path, pos); !comp.empty();
             comp = detail::next_component(path, pos)) {
            // A symlink before the last component is never followed: ELOOP, as openat2(2) with
            // RESOLVE_NO_SYMLINKS reports (lookup() below any non-dir node stays ENOTDIR).
            if (!current->is_dir && current->entry().type() == file_type::symlink)
                return fail(std::errc::too_many_symbolic_link_levels);
            OVLCORE_TRY_ASSIGN(next, lookup(current, comp));
            current = next;
        }
        if (detail::has_trailing_slash(path) && !current->is_dir)
            return fail(current->entry().type() == file_type::symlink
                            ? std::errc::too_many_symbolic_link_levels
                            : std::errc::not_a_directory);
        return current;
    }

    // ---- node API (FUSE) -----------------------------------------------------------------------

    /// The root node (fails only if a layer root could not be read).
    [[nodiscard]] result<node_handle> root() const {
        if (!m_root) return fail(m_root_error);
        return node_handle{m_root.get()};
    }

    /// `name` in the dir `parent` (spec §5.3), cached. "." is the parent itself and ".." its
    /// parent (the root's is the root), as the VFS resolves them before overlayfs sees a name.
    /// ENOTDIR when `parent` is not a dir.
    [[nodiscard]] result<node_handle> lookup(node_handle parent, std::string_view name) const {
        bool backend_failed = false;
        return lookup(parent, name, backend_failed);
    }

    /// lookup(parent, name), setting `backend_failed` when a failing backend call shaped the
    /// answer: that answer (an errno, or an object read through a failure) is returned but not
    /// cached, and the next lookup of the name asks the layers again (spec §5.6.1). The node of
    /// such an answer stays valid for the overlay's lifetime, like every node.
    [[nodiscard]] result<node_handle> lookup(node_handle parent, std::string_view name,
                                             bool& backend_failed) const {
        if (!parent->is_dir) return fail(std::errc::not_a_directory);
        if (name == ".") return parent;
        if (name == "..") return parent->parent ? parent->parent : parent;
        if (const auto* cached = parent->children.find(name)) return child_result(*cached);
        const auto* listed = parent->inode->names.load(std::memory_order_acquire);
        bool failed = false;
        auto looked_up =
            m_engine.lookup(m_root->entry(), parent->entry(), name, m_trace, listed, &failed);
        if (failed) {
            backend_failed = true;
            if (!looked_up) return fail(looked_up.error());
            // Kept apart, out of the name and inode caches (spec §5.6.1).
            auto object = std::make_shared<const inode>(std::move(*looked_up), m_identity, false);
            const std::lock_guard lock(m_uncached_mutex);
            return node_handle{
                m_uncached.emplace_back(std::make_unique<node>(parent, std::move(object))).get()};
        }
        typename node::child fresh;
        if (looked_up) {
            auto object = find_or_add_inode(std::move(*looked_up));
            if (object)
                fresh.node = std::make_unique<node>(parent, std::move(*object));
            else
                fresh.error = object.error();
        } else {
            fresh.error = looked_up.error();
        }
        // A racing lookup of the same name may have won: keep the first answer.
        return child_result(parent->children.insert(name, std::move(fresh)));
    }

    /// The stat of a node (spec §9). Never resolves lazy data.
    [[nodiscard]] result<stat_info> stat(node_handle n) const {
        if (const auto& fixed = n->inode->fixed_stat) return *fixed;
        const auto& e = n->entry();
        const auto* data = e.lazy_data ? n->inode->lowerdata.peek() : e.known_data();
        return compose_stat(e, data, m_identity, n == m_root.get());
    }

    [[nodiscard]] result<std::string> read_link(node_handle n) const {
        const auto& real = n->entry().real();
        if (real.st.type != file_type::symlink) return fail(std::errc::invalid_argument);
        return m_fs->read_link(real.where->ref, real.path);
    }

    /// The listing of a dir node, computed once (spec §8); a listing read through a failing
    /// backend call is returned but not kept (spec §5.6.1).
    [[nodiscard]] result<std::vector<dir_entry>> read_dir(node_handle n) const {
        const inode& dir = *n->inode;
        if (!dir.entry.is_dir) return fail(std::errc::not_a_directory);
        const std::lock_guard lock(dir.listing_mutex);
        if (!dir.listing) {
            bool backend_failed = false;
            // Positive, negative (ENOENT), or the errno of a failing lookup (spec §8.2 steps 5-6).
            const auto is_positive = [&](std::string_view name) -> result<bool> {
                const auto found = lookup(n, name, backend_failed);
                if (found) return true;
                if (found.error() == std::errc::no_such_file_or_directory) return false;
                return fail(found.error());
            };
            auto names = std::make_unique<detail::listed_names>();
            OVLCORE_TRY_ASSIGN(entries,
                               read_overlay_dir(m_engine, dir.entry, n == m_root.get(), is_positive,
                                                names.get(), &backend_failed));
            if (backend_failed) return entries;
            dir.listing = std::move(entries);
            // Published for the lookups in this dir (spec §5.1 step 2): immutable from now on.
            dir.names_storage = std::move(names);
            dir.names.store(dir.names_storage.get(), std::memory_order_release);
        }
        return *dir.listing;
    }

    [[nodiscard]] result<overlay_file> open(node_handle n) const {
        const auto& e = n->entry();
        // The same refusals as a backend's open_file: EISDIR, ELOOP (never followed), ENXIO.
        if (const auto refusal = open_file_refusal(e.type())) return fail(*refusal);
        std::optional<real_entry<layer_ref>> uncached; // lazy data found through a failure
        OVLCORE_TRY_ASSIGN(data, data_entry(n, uncached));
        OVLCORE_TRY(check_verity(m_engine, e, m_options.verity));
        OVLCORE_TRY_ASSIGN(file, m_fs->open_file(data->where->ref, data->path));
        return overlay_file(std::move(file), e.real().st.size);
    }

    [[nodiscard]] provenance which_layers(node_handle n) const {
        const auto& e = n->entry();
        provenance p;
        p.type = e.type();
        p.metadata_layer = e.real().index;
        p.metacopy = e.metacopy;
        if (e.is_dir) {
            if (e.upper) p.dir_layers.push_back(e.upper->index);
            for (const auto& l : e.lowers) p.dir_layers.push_back(l.index);
        } else if (p.type == file_type::regular) {
            const auto* data = e.lazy_data ? n->inode->lowerdata.peek() : e.known_data();
            if (data)
                p.data_layer = data->index;
            else
                p.pending_lowerdata = e.lowerdata_redirect;
        }
        return p;
    }

    // ---- node accessors ------------------------------------------------------------------------

    /// Whether `n` is a merged directory (lookup() below it is possible).
    [[nodiscard]] bool is_dir(node_handle n) const noexcept { return n->is_dir; }
    /// The file type of `n` (of its upper entry, else its top lower entry; spec §9).
    [[nodiscard]] file_type type(node_handle n) const noexcept { return n->entry().type(); }
    /// The lookup result behind `n` (spec §5): its real entries (upper, lowers, the lazy data
    /// slot), opaque/redirect/metacopy state. Shared by every name of the same object (§10 Q2).
    [[nodiscard]] const entry_type& entry(node_handle n) const noexcept { return n->entry(); }
    /// The dir `n` was looked up in; the root's parent is the root (as lookup(n, "..")).
    [[nodiscard]] node_handle parent(node_handle n) const noexcept {
        return n->parent ? n->parent : n;
    }
    /// Whether `n` is the root node.
    [[nodiscard]] bool is_root(node_handle n) const noexcept { return n->parent == nullptr; }

    // ---- introspection -------------------------------------------------------------------------

    [[nodiscard]] const layer_stack<B>& stack() const noexcept { return m_stack; }
    [[nodiscard]] const lookup_engine<B>& engine() const noexcept { return m_engine; }
    [[nodiscard]] Trace& trace() const noexcept { return m_trace; }

private:
    [[nodiscard]] static result<node_handle> child_result(const typename node::child& c) {
        if (!c.node) return fail(c.error);
        return node_handle{c.node.get()};
    }

    /// The data entry of a regular node, resolving the lazy slot on first use (spec §6); a
    /// resolution a failing backend call shaped is returned in `uncached`, not kept (§5.6.1).
    [[nodiscard]] result<const real_entry<layer_ref>*>
    data_entry(node_handle n, std::optional<real_entry<layer_ref>>& uncached) const {
        const auto& e = n->entry();
        if (!e.lazy_data) {
            const auto* known = e.known_data();
            if (!known) return fail(std::errc::io_error);
            return known;
        }
        return n->inode->lowerdata.get_or_retry(
            [&](bool& keep) {
                bool backend_failed = false;
                auto found =
                    lookup_lowerdata(m_engine, e.lowerdata_redirect, m_trace, &backend_failed);
                keep = !backend_failed;
                return found;
            },
            uncached);
    }

    /// The overlay inode for a lookup result: a cached one with the same key (which must match,
    /// else ESTALE), or a new one (spec §10 Q2: order dependent, like the kernel's inode cache).
    [[nodiscard]] result<std::shared_ptr<const inode>> find_or_add_inode(entry_type found) const {
        const auto key = overlay_inode_key(m_stack, found);
        if (!key) return std::make_shared<const inode>(std::move(found), m_identity, false);
        const std::lock_guard lock(m_inodes_mutex);
        if (auto it = m_inodes.find(*key); it != m_inodes.end()) {
            if (!detail::same_inode(it->second->entry, found)) return fail(errc_stale);
            return std::shared_ptr<const inode>(it->second);
        }
        auto created = std::make_shared<const inode>(std::move(found), m_identity, false);
        m_inodes.emplace(*key, created);
        return created;
    }

    const B* m_fs;
    layer_stack<B> m_stack;
    lookup_engine<B> m_engine;
    overlay_options m_options;
    overlay_identity m_identity;
    [[no_unique_address]] mutable Trace m_trace;
    std::unique_ptr<node> m_root;
    std::errc m_root_error{};
    mutable std::mutex m_inodes_mutex;
    /// The inode cache (spec §10 Q2), by overlay_inode_key.
    mutable std::unordered_map<file_id, std::shared_ptr<const inode>, detail::file_id_hash>
        m_inodes;
    mutable std::mutex m_uncached_mutex;
    /// Nodes of lookups a failing backend call shaped (spec §5.6.1): alive, never found by name.
    mutable std::vector<std::unique_ptr<node>> m_uncached;
};

} // namespace ovlcore
