// SPDX-License-Identifier: MIT
// ovlcore/overlay.hpp: overlay<B>, the read-only merged view of a layer stack: path and node
// lookup with a per-overlay object cache whose nodes and inodes are released like the kernel's
// dentries and inodes (spec §10 Q2), lstat, readlink, readdir, open/read with lazy lowerdata, and
// provenance (spec §5, §6, §8, §9). Users include it (or ovlcore.hpp).
#pragma once

#include <algorithm>
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
    /// Where data files' fs-verity digests come from (spec §7, lowerdata.hpp); `unavailable` =
    /// this machine's kernel (EIO for digests); `measure` asks the backend, `compute` hashes.
    verity_support verity = verity_support::unavailable;
    /// The SHA-256 of `compute` (hash.hpp); the tools pass OpenSSL's, same digests.
    sha256_function verity_sha256 = &sha256_with<builtin_sha256>;
    /// The st_dev overlay objects report (spec §9); the kernel uses an anonymous device.
    std::uint64_t overlay_dev = 0;
    /// ovlcore extensions beyond the kernel (extensions.hpp), e.g. scoped data redirects.
    /// Default: none, exactly Linux 6.18.
    extensions ext{};
    /// How many unreferenced nodes (dentries) the overlay keeps cached, least recently released
    /// freed first, with their inodes, listings and child names (spec §10 Q2: a released inode
    /// is evicted). `unbounded` (default): every looked-up name stays cached for the overlay's
    /// lifetime and node handles never dangle; with a bound, hold a reference (retain, forget)
    /// on every node used while other threads may release. ovl-fuse sets a small bound.
    std::size_t max_unreferenced_nodes = unbounded;
    static constexpr std::size_t unbounded = static_cast<std::size_t>(-1);
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

/// Hash of a real object's identity (the key of the overlay's inode cache).
struct file_id_hash {
    [[nodiscard]] std::size_t operator()(const file_id& id) const noexcept {
        return std::hash<std::uint64_t>{}((id.ino * 0x9e3779b97f4a7c15ULL) ^ id.dev);
    }
};

/// The listing state of a dir inode (§8.2), allocated for dirs only: the listing, and the names
/// of its real dirs that let lookups skip absent names (§5.1 step 2).
struct dir_listing {
    std::mutex mutex;
    std::optional<std::vector<dir_entry>> listing; ///< guarded by mutex

    /// The names published with the listing, for lookups (which run without `mutex`: read_dir
    /// holds it across its own lookups); null before the first listing and after
    /// overlay::release_cached, while a lookup may still hold the old ones.
    [[nodiscard]] std::shared_ptr<const listed_names> published_names() const {
        const std::lock_guard lock(names_mutex);
        return names;
    }
    void publish(std::shared_ptr<const listed_names> n) {
        const std::lock_guard lock(names_mutex);
        names.swap(n); // the old ones (none) are freed outside the lock
    }
    [[nodiscard]] std::shared_ptr<const listed_names> unpublish() {
        const std::lock_guard lock(names_mutex);
        return std::exchange(names, nullptr);
    }

private:
    mutable std::mutex names_mutex;
    std::shared_ptr<const listed_names> names; ///< guarded by names_mutex
};

/// The lazy lowerdata cache of an object (§6), allocated only when it has a lazy data slot.
template <class B>
class lazy_lowerdata {
public:
    explicit lazy_lowerdata(bool lazy)
        : m_cache(lazy ? std::make_unique<lowerdata_cache<B>>() : nullptr) {}
    [[nodiscard]] const real_entry<B>* peek() const noexcept {
        return m_cache ? m_cache->peek() : nullptr;
    }
    template <class Resolve>
    [[nodiscard]] auto get_or_retry(Resolve&& resolve, std::optional<real_entry<B>>& scratch) {
        return m_cache->get_or_retry(std::forward<Resolve>(resolve), scratch);
    }

private:
    std::unique_ptr<lowerdata_cache<B>> m_cache;
};

template <class B>
struct overlay_inode;

/// Which real entry gives an overlay inode its key in the inode cache (overlay_inode_key).
enum class inode_key : std::uint8_t { none, lower, upper };

/// The overlay's inode cache (spec §10 Q2): overlay inodes by overlay_inode_key, each entry alive
/// only while a node uses it (the kernel evicts an overlay inode with its last dentry), and the
/// count of live nodes. Outlives every node of its overlay.
template <class B>
struct inode_cache {
    std::mutex mutex;
    std::atomic<std::size_t> live_nodes{0};
    std::atomic<std::size_t> live_inodes{0};

    /// The cached inode with `key`, or nullptr (mutex held).
    [[nodiscard]] overlay_inode<B>* find(const file_id& key) const noexcept {
        if (m_slots.empty()) return nullptr;
        const std::size_t mask = m_slots.size() - 1;
        for (std::size_t i = file_id_hash{}(key)&mask;; i = (i + 1) & mask) {
            overlay_inode<B>* at = m_slots[i];
            if (!at) return nullptr;
            if (at != tombstone() && at->key() == key) return at;
        }
    }

    /// Enters `i` (its key not cached yet; mutex held).
    void insert(overlay_inode<B>* i) {
        if ((m_live + m_erased + 1) * 2 > m_slots.size()) rebuild();
        place(i);
        ++m_live;
    }

    /// A node stops using `i`: the last user frees it (and removes it from the cache).
    void release(overlay_inode<B>* i) noexcept {
        if (i->keyed != inode_key::none) {
            const std::lock_guard lock(mutex);
            if (--i->users != 0) return;
            erase(i);
        }
        delete i;
    }

private:
    [[nodiscard]] static overlay_inode<B>* tombstone() noexcept {
        static char marker = 0;
        return reinterpret_cast<overlay_inode<B>*>(&marker);
    }
    void place(overlay_inode<B>* i) noexcept {
        const std::size_t mask = m_slots.size() - 1;
        std::size_t at = file_id_hash{}(i->key()) & mask;
        while (m_slots[at] && m_slots[at] != tombstone()) at = (at + 1) & mask;
        if (m_slots[at] == tombstone()) --m_erased;
        m_slots[at] = i;
    }
    void erase(overlay_inode<B>* i) noexcept {
        if (m_slots.empty()) return;
        const std::size_t mask = m_slots.size() - 1;
        for (std::size_t at = file_id_hash{}(i->key()) & mask;; at = (at + 1) & mask) {
            if (!m_slots[at]) return;
            if (m_slots[at] != i) continue;
            m_slots[at] = tombstone();
            --m_live;
            ++m_erased;
            if (m_slots.size() > 16 && m_live * 8 < m_slots.size()) rebuild(); // shrinks
            return;
        }
    }
    /// A table at most half full with room for one more (at least 16 slots).
    void rebuild() {
        std::size_t size = 16;
        while (size < (m_live + 1) * 2) size *= 2;
        std::vector<overlay_inode<B>*> old(size, nullptr);
        old.swap(m_slots);
        m_erased = 0;
        for (overlay_inode<B>* at : old)
            if (at && at != tombstone()) place(at);
    }

    std::vector<overlay_inode<B>*> m_slots; ///< open addressing by key; guarded by mutex
    std::size_t m_live = 0;
    std::size_t m_erased = 0;
};

/// An overlay inode: the object a lookup produced, shared by every name that resolves to it
/// (spec §10 Q2), with its lazy lowerdata cache (§6) and, for dirs, its listing cache (§8.2).
/// Freed with the last node using it; one in the inode cache is found there until then.
template <class B>
struct overlay_inode {
    overlay_inode(overlay_entry<B> e, inode_cache<B>& c, inode_key k)
        : entry(std::move(e)), lowerdata(entry.lazy_data),
          dir(entry.is_dir ? std::make_unique<dir_listing>() : nullptr), cache(&c), keyed(k) {
        cache->live_inodes.fetch_add(1, std::memory_order_relaxed);
    }
    overlay_inode(const overlay_inode&) = delete;
    overlay_inode& operator=(const overlay_inode&) = delete;
    ~overlay_inode() { cache->live_inodes.fetch_sub(1, std::memory_order_relaxed); }

    const overlay_entry<B> entry;
    mutable lazy_lowerdata<B> lowerdata;
    const std::unique_ptr<dir_listing> dir; ///< dirs only
    inode_cache<B>* const cache;
    /// The entry it is cached by (none: not in the cache, its node is its only user).
    const inode_key keyed;
    /// Its data passed the fs-verity check once (spec §7: remembered per inode).
    mutable std::atomic<bool> verity_checked{false};
    std::uint32_t users = 1; ///< nodes using it; guarded by cache->mutex when keyed

    /// The key it is cached under (keyed != none).
    [[nodiscard]] file_id key() const noexcept {
        return file_id_of(keyed == inode_key::lower ? entry.lowers.front().st : entry.upper->st);
    }
};

/// One name of the overlay (the kernel's dentry). A node is alive while it is referenced (an
/// explicit reference, a lookup in progress, or a child node: each child pins its parent) or,
/// unreferenced, while the overlay keeps it in its bounded cache of unreferenced nodes
/// (overlay_options::max_unreferenced_nodes). Children are looked up once and cached in the
/// parent, errors included (the layers do not change while the overlay exists, as for a mounted
/// overlay); an answer a failing backend call shaped is not entered (spec §5.6.1). Opaque to
/// callers: they hold an overlay<B>::node_handle and ask the overlay (is_dir(n), entry(n), ...).
template <class B>
class overlay_node {
public:
    /// The overlay pins `parent_node` once the node is in use (a child pins its parent).
    overlay_node(const overlay_node* parent_node, overlay_inode<B>* i, bool in_table)
        : parent(parent_node), inode(i), is_dir(i->entry.is_dir), cached(in_table) {
        i->cache->live_nodes.fetch_add(1, std::memory_order_relaxed);
    }
    overlay_node(const overlay_node&) = delete;
    overlay_node& operator=(const overlay_node&) = delete;
    /// Frees the node's own state; the overlay unpins the parent (it may free it in turn).
    ~overlay_node() {
        auto* c = inode->cache;
        delete children.load(std::memory_order_relaxed);
        c->release(inode);
        c->live_nodes.fetch_sub(1, std::memory_order_relaxed);
    }

private:
    template <backing_filesystem, class>
    friend class ovlcore::overlay;

    struct child {
        std::unique_ptr<overlay_node> node; ///< null for a failed lookup
        std::errc error{};
    };
    using table_type = name_table<child>;

    [[nodiscard]] const overlay_entry<B>& entry() const noexcept { return inode->entry; }

    /// The child table, created at the first insert (dirs only).
    [[nodiscard]] table_type& table() const {
        if (auto* t = children.load(std::memory_order_acquire)) return *t;
        auto fresh = std::make_unique<table_type>();
        table_type* expected = nullptr;
        if (children.compare_exchange_strong(expected, fresh.get(), std::memory_order_acq_rel))
            return *fresh.release();
        return *expected;
    }

    const overlay_node* const parent; ///< nullptr for the root
    overlay_inode<B>* const inode;
    /// NUL-terminated, in the parent's table (cached nodes; else null), set once at insertion.
    const char* name = nullptr;
    mutable std::atomic<std::uint32_t> refs{0};
    const bool is_dir; ///< entry().is_dir, kept here for the path walk (one cache line less)
    const bool cached; ///< entered in the parent's child table (else a failure answer, §5.6.1)
    mutable bool queued = false;  ///< on an unreferenced list; guarded by the overlay's list mutex
    mutable bool claimed = false; ///< taken off its list to be freed, same guard
    mutable const overlay_node* prev = nullptr; ///< unreferenced list links, same guard
    mutable const overlay_node* next = nullptr;
    mutable std::atomic<table_type*> children{nullptr};
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
[[nodiscard]] std::optional<file_id> overlay_inode_key(const layer_stack<B>& stack,
                                                       const overlay_entry<B>& e) {
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
/// racing duplicate is discarded; a cached child is found without a lock or an allocation while
/// the cache is unbounded, under its dir's shared lock otherwise), lazy lowerdata is resolved once
/// per object under that object's own mutex (spec §6).
///
/// Lifetime (docs/fuse.md §3, spec §10 Q2): a node (the kernel's dentry) lives while it is
/// referenced: by retain()/lookup_retained() until forget(), by a call in progress (the path API
/// holds each node only during the call), or by a child node (each child pins its parent).
/// Unreferenced, it stays cached up to overlay_options::max_unreferenced_nodes, least recently
/// released freed first; an overlay inode is freed with its last node and leaves the inode cache,
/// as the kernel evicts it. With the default unbounded cache nothing cached is ever freed and node
/// handles stay valid for the overlay's lifetime.
///
/// Memory: per looked-up name a node (56 bytes) and, unless an alias shares it, an overlay inode
/// (the lookup result, spec §5); a listed dir keeps its listing (§8.2) and the names of each of
/// its real dirs (one entry per distinct name, one small position per real dir holding it), which
/// later lookups in that dir use to skip the real dirs lacking a name (§5.1 step 2). Both live as
/// long as the dir's inode, the root's until release_cached(). Not copyable or movable (nodes
/// point into it). `fs` must outlive the overlay.
template <backing_filesystem B, class Trace>
class overlay {
    static_assert(trace_sink<Trace>, "Trace must model trace_sink (see trace.hpp)");

public:
    using backend_type = B;
    using layer_ref = typename B::layer_ref;
    using entry_type = overlay_entry<B>;
    using overlay_file = basic_overlay_file<B>;
    using node = detail::overlay_node<B>;
    using inode = detail::overlay_inode<B>;
    /// A handle for the node-level API (FUSE): valid while its node lives (see the class comment:
    /// the overlay's lifetime with the default options), pointer-sized, comparable and hashable
    /// (it may be stored as an integer, e.g. a FUSE inode number, and cast back). Opaque: what a
    /// node is, is asked of the overlay (is_dir(n), entry(n), ...).
    using node_handle = const node*;

    /// Builds the root object. If a layer root cannot be read, every call fails with that errno.
    overlay(const B& fs OVLCORE_LIFETIME_BOUND, layer_stack<B> stack, Trace trace = {},
            overlay_options options = {})
        : m_fs(&fs), m_stack(std::move(stack)), m_engine(fs, m_stack, options.ext),
          m_options(options), m_identity(identity_of(m_stack, options.overlay_dev)),
          m_trace(std::move(trace)) {
        auto root = m_engine.make_root();
        if (root) {
            m_root = std::make_unique<node>(
                nullptr, new inode(std::move(*root), m_inodes, detail::inode_key::none), true);
            m_root->refs.store(1, std::memory_order_relaxed); // the overlay's own, never released
        } else {
            m_root_error = root.error();
        }
    }
    overlay(const overlay&) = delete;
    overlay& operator=(const overlay&) = delete;
    /// Frees every node; a node still referenced (retain without forget) dangles from here on.
    ~overlay() {
        // Unreferenced failure answers, each with the failure answers above it that only it held
        // (the children of a failure answer are failure answers too, §5.6.1).
        for (const node* list : {m_unreferenced.head, m_failed.head})
            while (list) {
                const node* next = list->next;
                for (const node* n = list; n && !n->cached;) {
                    const node* parent = n->parent;
                    delete n;
                    n = parent && parent->refs.fetch_sub(1, std::memory_order_relaxed) == 1
                            ? parent
                            : nullptr;
                }
                list = next;
            }
        // Children first, iteratively (a tree may be deeper than the stack allows recursion).
        std::vector<std::unique_ptr<node>> pending;
        if (m_root) pending.push_back(std::move(m_root));
        while (!pending.empty()) {
            std::unique_ptr<node> n = std::move(pending.back());
            pending.pop_back();
            if (auto* t = n->children.load(std::memory_order_relaxed))
                t->clear([&](typename node::child&& c) {
                    if (c.node) pending.push_back(std::move(c.node));
                });
        }
    }

    // ---- path API ------------------------------------------------------------------------------

    /// lstat of `path` ("/" or "/a/b"): the last component is not followed. ENOENT for an empty
    /// path, ENOTDIR below a non-directory that is not a symlink. ovlcore is not a VFS and never
    /// follows a symlink in the middle of a path: "/lnk/x" and "/lnk/" (lnk a symlink) give ELOOP,
    /// as openat2(2) with RESOLVE_NO_SYMLINKS does. @see spec §5, §9
    [[nodiscard]] result<stat_info> lstat(std::string_view path) const {
        OVLCORE_TRY_ASSIGN(n, resolve_held(path));
        return stat(n.get());
    }

    /// The target of the symlink at `path` (EINVAL for a non-symlink). @see spec §9
    [[nodiscard]] result<std::string> read_link(std::string_view path) const {
        OVLCORE_TRY_ASSIGN(n, resolve_held(path));
        return read_link(n.get());
    }

    /// The listing of the dir at `path`, without "." and "..". @see spec §8
    [[nodiscard]] result<std::vector<dir_entry>> read_dir(std::string_view path) const {
        OVLCORE_TRY_ASSIGN(n, resolve_held(path));
        return read_dir(n.get());
    }

    /// Opens the regular file at `path` for reading, resolving lazy lowerdata (spec §6) and
    /// checking fs-verity (spec §7). Non-regular objects: EISDIR (dir), ELOOP (symlink, not
    /// followed), ENXIO (devices, fifos, sockets).
    [[nodiscard]] result<overlay_file> open(std::string_view path) const {
        OVLCORE_TRY_ASSIGN(n, resolve_held(path));
        return open(n.get());
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
        OVLCORE_TRY_ASSIGN(n, resolve_held(path));
        return which_layers(n.get());
    }

    /// The node of `path` (the path walk of the API above): components are looked up one by one
    /// from the root, "." and ".." as in lookup(). ENOENT for an empty path or a missing
    /// component; ENOTDIR below (or, with a trailing '/', at) a non-directory; ELOOP there when it
    /// is a symlink (never followed, like openat2(2) RESOLVE_NO_SYMLINKS); the lookup errnos of
    /// spec §5.6. The walk holds each node while it looks below it; the node returned is not
    /// referenced (see lookup()).
    [[nodiscard]] result<node_handle> resolve(std::string_view path) const {
        OVLCORE_TRY_ASSIGN(found, resolve_held(path));
        return found.get();
    }

    // ---- node API (FUSE) -----------------------------------------------------------------------

    /// The root node (fails only if a layer root could not be read).
    [[nodiscard]] result<node_handle> root() const {
        if (!m_root) return fail(m_root_error);
        return node_handle{m_root.get()};
    }

    /// `name` in the dir `parent` (spec §5.3), cached. "." is the parent itself and ".." its
    /// parent (the root's is the root), as the VFS resolves them before overlayfs sees a name.
    /// ENOTDIR when `parent` is not a dir. `parent` must be alive (see retain()).
    ///
    /// The node returned is not referenced: it stays valid while it is cached, which with the
    /// default options (max_unreferenced_nodes unbounded) is the overlay's lifetime. With a bound,
    /// or for an answer a failing backend call shaped (next overload), use lookup_retained() when
    /// the node must outlive other threads' releases.
    [[nodiscard]] result<node_handle> lookup(node_handle parent, std::string_view name) const {
        bool backend_failed = false;
        return lookup(parent, name, backend_failed);
    }

    /// lookup(parent, name), setting `backend_failed` when a failing backend call shaped the
    /// answer, here or in `parent` (itself such an answer): that answer (an errno, or an object
    /// read through a failure) is returned but not cached, and the next lookup of the name asks
    /// the layers again (spec §5.6.1). Such a node is freed once unreferenced beyond the last few
    /// (at most 16) such answers.
    [[nodiscard]] result<node_handle> lookup(node_handle parent, std::string_view name,
                                             bool& backend_failed) const {
        OVLCORE_TRY_ASSIGN(found, lookup_held(parent, name, backend_failed));
        return found.get();
    }

    /// lookup(parent, name, backend_failed) with one reference on the answer taken atomically
    /// (the kernel's nlookup of a FUSE LOOKUP reply): the node stays valid until forget(n, 1).
    [[nodiscard]] result<node_handle> lookup_retained(node_handle parent, std::string_view name,
                                                      bool& backend_failed) const {
        OVLCORE_TRY_ASSIGN(found, lookup_held(parent, name, backend_failed));
        return found.release();
    }

    /// `count` more references to `n`, which the caller knows alive (it holds a reference, or
    /// the cache is unbounded). A referenced node and its ancestors are never freed.
    void retain(node_handle n, std::uint64_t count = 1) const {
        if (count == 0) return;
        if (n->refs.fetch_add(static_cast<std::uint32_t>(count), std::memory_order_relaxed) == 0)
            unqueue(n);
    }

    /// Drops `count` references to `n` (FUSE FORGET). Unreferenced, a cached node waits in the
    /// cache of unreferenced nodes (overlay_options::max_unreferenced_nodes) and is freed beyond
    /// it, least recently released first; its inode goes with its last node, so the next lookup
    /// of any alias builds a new one, as after the kernel evicts it (spec §10 Q2).
    void forget(node_handle n, std::uint64_t count) const { unpin(n, count); }

    /// Frees every unreferenced node the bounded cache keeps (with the default unbounded cache
    /// nothing is freed), including nodes lookup() or resolve() returned without a reference,
    /// and the root's listing (the root lives as long as the overlay; its next listing is read
    /// again, spec §8), then lets the backend release what no handle holds (its optional
    /// release_cached(), backend.hpp). For an embedder whose kernel dropped its own caches
    /// (docs/fuse.md §3). Later lookups answer as the kernel does after dropping its caches:
    /// names that can alias one overlay inode get it in the new order of access (§10 Q2).
    void release_cached() const {
        if (m_root && m_root->inode->dir) {
            std::optional<std::vector<dir_entry>> listing; // both freed outside the lock
            std::shared_ptr<const detail::listed_names> names;
            detail::dir_listing& dir = *m_root->inode->dir;
            const std::lock_guard lock(dir.mutex);
            listing.swap(dir.listing);
            names = dir.unpublish();
        }
        if (evicts()) {
            std::vector<const node*> victims;
            {
                const std::lock_guard lock(m_lists_mutex);
                victims.reserve(m_unreferenced.size + m_failed.size);
                for (node_list* list : {&m_unreferenced, &m_failed})
                    while (list->size > 0) claim_oldest(*list, victims);
            }
            // A parent left unreferenced by a freed child goes too, and nothing else: lists that
            // other threads fill meanwhile are left to the bound.
            free_victims(victims, /*claim_parents=*/true);
        }
        if constexpr (detail::has_release_cached<B>) m_fs->release_cached();
    }

    /// The stat of a node (spec §9). Never resolves lazy data.
    [[nodiscard]] result<stat_info> stat(node_handle n) const {
        const auto& e = n->entry();
        const auto* data = e.lazy_data ? n->inode->lowerdata.peek() : e.known_data();
        return compose_stat(e, data, m_identity, n->parent == nullptr);
    }

    [[nodiscard]] result<std::string> read_link(node_handle n) const {
        const auto& real = n->entry().real();
        if (real.st.type != file_type::symlink) return fail(std::errc::invalid_argument);
        return m_fs->read_link(real.handle);
    }

    /// The listing of a dir node, computed once (spec §8); a listing read through a failing
    /// backend call is returned but not kept (spec §5.6.1).
    [[nodiscard]] result<std::vector<dir_entry>> read_dir(node_handle n) const {
        if (!n->inode->entry.is_dir) return fail(std::errc::not_a_directory);
        detail::dir_listing& dir = *n->inode->dir;
        const std::lock_guard lock(dir.mutex);
        if (!dir.listing) {
            bool backend_failed = false;
            // Positive, negative (ENOENT), or the errno of a failing lookup (spec §8.2 steps 5-6).
            const auto is_positive = [&](std::string_view name) -> result<bool> {
                const auto found = lookup_held(n, name, backend_failed);
                if (found) return true;
                if (found.error() == std::errc::no_such_file_or_directory) return false;
                return fail(found.error());
            };
            auto names = std::make_shared<detail::listed_names>();
            OVLCORE_TRY_ASSIGN(entries,
                               read_overlay_dir(m_engine, n->entry(), n->parent == nullptr,
                                                is_positive, names.get(), &backend_failed));
            if (backend_failed) return entries;
            dir.listing = std::move(entries);
            // Published for the lookups in this dir (spec §5.1 step 2): immutable from now on.
            dir.publish(std::move(names));
        }
        return *dir.listing;
    }

    [[nodiscard]] result<overlay_file> open(node_handle n) const {
        const auto& e = n->entry();
        // The same refusals as a backend's open_file: EISDIR, ELOOP (never followed), ENXIO.
        if (const auto refusal = open_file_refusal(e.type())) return fail(*refusal);
        std::optional<real_entry<B>> uncached; // lazy data found through a failure
        OVLCORE_TRY_ASSIGN(data, data_entry(n, uncached));
        // A check of data that is not cached (found through a failure) is not remembered either.
        OVLCORE_TRY(check_verity(m_engine, e, *data, m_options.verity,
                                 uncached ? nullptr : &n->inode->verity_checked,
                                 m_options.verity_sha256));
        OVLCORE_TRY_ASSIGN(file, m_fs->open_file(data->handle));
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
    /// The name `n` was looked up by in parent(n) ("" for the root and for an answer a failing
    /// backend call shaped, which is not cached under its name).
    [[nodiscard]] std::string_view name(node_handle n) const noexcept {
        return n->name ? std::string_view(n->name) : std::string_view();
    }

    // ---- introspection -------------------------------------------------------------------------

    [[nodiscard]] const layer_stack<B>& stack() const noexcept { return m_stack; }
    [[nodiscard]] const lookup_engine<B>& engine() const noexcept { return m_engine; }
    [[nodiscard]] Trace& trace() const noexcept { return m_trace; }
    /// Nodes alive (the root included): referenced, or cached unreferenced.
    [[nodiscard]] std::size_t live_nodes() const noexcept {
        return m_inodes.live_nodes.load(std::memory_order_relaxed);
    }
    /// Overlay inodes alive (each used by one node or more, spec §10 Q2).
    [[nodiscard]] std::size_t live_inodes() const noexcept {
        return m_inodes.live_inodes.load(std::memory_order_relaxed);
    }
    /// Unreferenced nodes kept in the cache (overlay_options::max_unreferenced_nodes); with the
    /// default unbounded cache, nodes are not counted here (none is ever freed).
    [[nodiscard]] std::size_t unreferenced_nodes() const {
        const std::lock_guard lock(m_lists_mutex);
        return m_unreferenced.size;
    }

private:
    /// One reference on a node for the length of a call (released by the destructor).
    class held {
    public:
        held(const overlay& ov, node_handle n) noexcept : m_ov(&ov), m_node(n) {}
        held(held&& other) noexcept : m_ov(other.m_ov), m_node(std::exchange(other.m_node, {})) {}
        held(const held&) = delete;
        held& operator=(const held&) = delete;
        held& operator=(held&& other) noexcept {
            if (this != &other) {
                if (m_node) m_ov->unpin(m_node, 1);
                m_ov = other.m_ov;
                m_node = std::exchange(other.m_node, {});
            }
            return *this;
        }
        ~held() {
            if (m_node) m_ov->unpin(m_node, 1);
        }
        [[nodiscard]] node_handle get() const noexcept { return m_node; }
        [[nodiscard]] node_handle release() noexcept { return std::exchange(m_node, {}); }

    private:
        const overlay* m_ov;
        node_handle m_node;
    };

    /// An intrusive list of unreferenced nodes, oldest first (guarded by m_lists_mutex).
    struct node_list {
        const node* head = nullptr;
        const node* tail = nullptr;
        std::size_t size = 0;
        void push_back(const node* n) noexcept {
            n->prev = tail;
            n->next = nullptr;
            (tail ? tail->next : head) = n;
            tail = n;
            ++size;
        }
        void unlink(const node* n) noexcept {
            (n->prev ? n->prev->next : head) = n->next;
            (n->next ? n->next->prev : tail) = n->prev;
            n->prev = n->next = nullptr;
            --size;
        }
    };

    [[nodiscard]] bool evicts() const noexcept {
        return m_options.max_unreferenced_nodes != overlay_options::unbounded;
    }

    /// The walk of resolve(), holding each node while it looks below it.
    [[nodiscard]] result<held> resolve_held(std::string_view path) const {
        if (path.empty()) return fail(std::errc::no_such_file_or_directory);
        OVLCORE_TRY_ASSIGN(start, root());
        retain(start);
        held current(*this, start);
        std::size_t pos = 0;
        for (auto comp = detail::next_component(path, pos); !comp.empty();
             comp = detail::next_component(path, pos)) {
            const node_handle at = current.get();
            // A symlink before the last component is never followed: ELOOP, as openat2(2) with
            // RESOLVE_NO_SYMLINKS reports (lookup() below any non-dir node stays ENOTDIR).
            if (!at->is_dir && at->entry().type() == file_type::symlink)
                return fail(std::errc::too_many_symbolic_link_levels);
            bool backend_failed = false;
            OVLCORE_TRY_ASSIGN(next, lookup_held(at, comp, backend_failed));
            current = std::move(next);
        }
        const node_handle at = current.get();
        if (detail::has_trailing_slash(path) && !at->is_dir)
            return fail(at->entry().type() == file_type::symlink
                            ? std::errc::too_many_symbolic_link_levels
                            : std::errc::not_a_directory);
        return current;
    }

    /// The answer of a cached child with one reference taken (under the table's lock when
    /// nodes can be freed); `revived` when it was unreferenced (to be taken off its list).
    [[nodiscard]] static result<node_handle> take(const typename node::child& c, bool& revived) {
        if (!c.node) return fail(c.error);
        revived = c.node->refs.fetch_add(1, std::memory_order_relaxed) == 0;
        return node_handle{c.node.get()};
    }

    /// lookup() with one reference held on the answer (spec §5.3, §5.6.1, §10 Q2).
    [[nodiscard]] result<held> lookup_held(node_handle parent, std::string_view name,
                                           bool& backend_failed) const {
        if (!parent->is_dir) return fail(std::errc::not_a_directory);
        if (name == "." || name == "..") {
            const node_handle n = name == "." || !parent->parent ? parent : parent->parent;
            retain(n); // `parent` is alive, so is its parent
            return held(*this, n);
        }
        result<node_handle> answer = fail(std::errc::no_such_file_or_directory);
        bool revived = false, hit = false;
        if (auto* t = parent->children.load(std::memory_order_acquire)) {
            if (evicts()) {
                hit = t->find_locked(name, [&](const auto& c) { answer = take(c, revived); });
            } else if (const auto* c = t->find(name)) {
                hit = true;
                answer = take(*c, revived);
            }
        }
        if (!hit) {
            const auto listed = parent->inode->dir->published_names();
            bool failed = false;
            auto looked_up = m_engine.lookup(m_root->entry(), parent->entry(), name, m_trace,
                                             listed.get(), &failed);
            if (failed || !parent->cached) {
                backend_failed = true; // sticky: read_dir passes one flag for all its lookups
                if (!looked_up) return fail(looked_up.error());
                // Shaped by a failure, here or in the failure answer `parent` (never cached, so
                // neither is anything below it): out of the name and inode caches, checked
                // against the latter (spec §5.6.1, §10 Q2); freed once unreferenced beyond the
                // last few such answers.
                OVLCORE_TRY_ASSIGN(object, inode_for(std::move(*looked_up), false));
                auto* n = new node(parent, object, false);
                n->refs.store(1, std::memory_order_relaxed);
                parent->refs.fetch_add(1, std::memory_order_relaxed); // a child pins its parent
                return held(*this, n);
            }
            typename node::child fresh;
            if (looked_up) {
                auto object = inode_for(std::move(*looked_up), true);
                if (object)
                    fresh.node = std::make_unique<node>(parent, *object, true);
                else if (evicts()) // depends on what is cached, which can change (§10 Q2)
                    return fail(object.error());
                else
                    fresh.error = object.error();
            } else {
                fresh.error = looked_up.error();
            }
            // A racing lookup of the same name may have won: keep the first answer.
            const node* mine = fresh.node.get();
            parent->table().insert(name, std::move(fresh),
                                   [&](const typename node::child& c, std::string_view key) {
                                       if (mine && c.node.get() == mine) {
                                           c.node->name = key.data(); // NUL-terminated
                                           parent->refs.fetch_add(1, std::memory_order_relaxed);
                                       }
                                       answer = take(c, revived);
                                   });
        }
        if (!answer) return fail(answer.error());
        if (revived) unqueue(*answer);
        return held(*this, *answer);
    }

    /// Takes a node that just became referenced off its unreferenced list.
    void unqueue(node_handle n) const {
        if (!evicts() && n->cached) return;
        const std::lock_guard lock(m_lists_mutex);
        unlink_queued(n);
    }
    /// Under the list mutex: takes `n` off its unreferenced list if it is on one.
    void unlink_queued(const node* n) const noexcept {
        if (!n->queued) return;
        (n->cached ? m_unreferenced : m_failed).unlink(n);
        n->queued = false;
    }

    /// Drops `count` references; frees what no one holds beyond the unreferenced caches.
    void unpin(node_handle n, std::uint64_t count) const {
        if (count == 0) return;
        const auto c = static_cast<std::uint32_t>(count);
        if (!evicts() && n->cached) { // cached for the overlay's lifetime
            n->refs.fetch_sub(c, std::memory_order_relaxed);
            return;
        }
        std::vector<const node*> victims;
        release_locked(n, c, victims);
        free_victims(victims);
    }

    /// Drops references under the list mutex; an unreferenced node joins its list, whose oldest
    /// members beyond the bound become `victims` (freed by the caller outside the lock).
    void release_locked(const node* n, std::uint32_t count,
                        std::vector<const node*>& victims) const {
        if (!evicts() && n->cached) {
            n->refs.fetch_sub(count, std::memory_order_relaxed);
            return;
        }
        const std::lock_guard lock(m_lists_mutex);
        if (n->refs.fetch_sub(count, std::memory_order_relaxed) != count || !n->parent) return;
        node_list& list = n->cached ? m_unreferenced : m_failed;
        const std::size_t bound =
            n->cached ? m_options.max_unreferenced_nodes
                      : std::min<std::size_t>(m_options.max_unreferenced_nodes, failed_nodes_kept);
        if (!n->queued && !n->claimed) { // a claimed node is freed by its claimer
            list.push_back(n);
            n->queued = true;
        }
        while (list.size > bound) claim_oldest(list, victims);
    }

    /// Under the list mutex: takes the oldest node off `list` for the caller to free.
    static void claim_oldest(node_list& list, std::vector<const node*>& victims) {
        const node* oldest = list.head;
        victims.push_back(oldest); // first: a failed allocation leaves the node queued
        list.unlink(oldest);
        oldest->queued = false;
        oldest->claimed = true;
    }

    /// Drops the reference a freed child held on `n`; if that was the last, claims `n` for the
    /// caller to free (off its list if it was queued) instead of caching it (release_cached).
    void claim_if_unreferenced(const node* n, std::vector<const node*>& victims) const {
        victims.reserve(victims.size() + 1); // before the count drops: nothing to undo
        const std::lock_guard lock(m_lists_mutex);
        if (n->refs.fetch_sub(1, std::memory_order_relaxed) != 1 || !n->parent || n->claimed)
            return;
        unlink_queued(n);
        n->claimed = true;
        victims.push_back(n);
    }

    /// Frees the claimed `victims`. A parent they were the last to hold is released like any
    /// node (cached up to the bound), or with `claim_parents` freed too (release_cached).
    void free_victims(std::vector<const node*>& victims, bool claim_parents = false) const {
        while (!victims.empty()) {
            const node* v = victims.back();
            victims.pop_back();
            const node* parent = free_node(v);
            if (!parent) continue;
            if (claim_parents)
                claim_if_unreferenced(parent, victims);
            else
                release_locked(parent, 1, victims);
        }
    }

    /// Frees the claimed `v` if it is still unreferenced (it may have been found again
    /// meanwhile: then it is unclaimed, and queued again once released); returns its parent
    /// then, which loses the reference `v` held.
    [[nodiscard]] const node* free_node(const node* v) const {
        const node* parent = v->parent;
        const auto unused = [&] {
            const std::lock_guard lock(m_lists_mutex);
            if (v->refs.load(std::memory_order_relaxed) == 0) return true;
            v->claimed = false;
            return false;
        };
        if (v->cached) {
            // Under the parent's table lock held exclusively, so no lookup finds it meanwhile.
            const bool freed = parent->table().erase_if(
                std::string_view(v->name),
                [&](const typename node::child& c) { return c.node.get() == v && unused(); });
            return freed ? parent : nullptr;
        }
        if (!unused()) return nullptr;
        delete v;
        return parent;
    }

    /// The overlay inode for a lookup result: a cached one with the same key (which must match,
    /// else ESTALE), or a new one entered in the cache when `enter` (spec §10 Q2: order dependent,
    /// like the kernel's inode cache, which forgets an inode with its last dentry).
    [[nodiscard]] result<inode*> inode_for(entry_type found, bool enter) const {
        using detail::inode_key;
        const auto key = overlay_inode_key(m_stack, found);
        if (!key) return new inode(std::move(found), m_inodes, inode_key::none);
        const std::lock_guard lock(m_inodes.mutex);
        if (inode* cached = m_inodes.find(*key)) {
            if (!detail::same_inode(cached->entry, found)) return fail(errc_stale);
            ++cached->users;
            return cached;
        }
        if (!enter) return new inode(std::move(found), m_inodes, inode_key::none);
        const bool by_lower = !found.lowers.empty() && file_id_of(found.lowers.front().st) == *key;
        auto* created =
            new inode(std::move(found), m_inodes, by_lower ? inode_key::lower : inode_key::upper);
        m_inodes.insert(created);
        return created;
    }

    /// The data entry of a regular node, resolving the lazy slot on first use (spec §6); a
    /// resolution a failing backend call shaped is returned in `uncached`, not kept (§5.6.1).
    [[nodiscard]] result<const real_entry<B>*>
    data_entry(node_handle n, std::optional<real_entry<B>>& uncached) const {
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

    const B* m_fs;
    layer_stack<B> m_stack;
    lookup_engine<B> m_engine;
    overlay_options m_options;
    overlay_identity m_identity;
    [[no_unique_address]] mutable Trace m_trace;
    /// The inode cache (spec §10 Q2) and node counts; declared before the nodes, which use it.
    mutable detail::inode_cache<B> m_inodes;
    std::unique_ptr<node> m_root;
    std::errc m_root_error{};
    /// Unreferenced failure answers kept (spec §5.6.1): enough for a caller of lookup() to use
    /// the node it just got.
    static constexpr std::size_t failed_nodes_kept = 16;
    mutable std::mutex m_lists_mutex;
    mutable node_list m_unreferenced; ///< cached unreferenced nodes, when the cache is bounded
    mutable node_list m_failed;       ///< unreferenced failure answers (never cached)
};

} // namespace ovlcore
