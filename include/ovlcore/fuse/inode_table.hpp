// SPDX-License-Identifier: MIT
// ovlcore/fuse/inode_table.hpp: FUSE inode numbers for overlay nodes and the kernel's lookup
// count of each (LOOKUP and readdirplus add, FORGET subtracts), held as references on the overlay
// nodes. Implements docs/fuse.md §3 (reference counting); spec §10 Q2 (one node per looked-up
// name, released nodes evicted).
#pragma once

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <type_traits>
#include <unordered_map>

#include "libfuse.hpp"

namespace ovlcore::fuse {

/// The node ids the kernel knows and how many references it holds on each.
///
/// A node id is the node handle itself (valid while the kernel holds a reference on it), the root
/// is FUSE_ROOT_ID. Every reply that gives the kernel a node id (a positive LOOKUP entry, a
/// readdirplus entry with attributes) adds one reference; FORGET takes `nlookup` back; the
/// kernel never holds a reference on the root. A node whose count drops to zero leaves the table,
/// so the table holds exactly the nodes the kernel may still name (docs/fuse.md §3). Each counted
/// reference is a reference on the overlay node (overlay::retain/forget, through the two
/// functions given at construction), so a node the kernel forgot can be freed (spec §10 Q2).
/// Thread-safe.
template <class NodeHandle>
class inode_table {
    static_assert(std::is_pointer_v<NodeHandle> && sizeof(std::uintptr_t) <= sizeof(fuse_ino_t),
                  "node ids are node handles: pointer-sized");

public:
    /// Takes (`count` > 0) or drops (`count` < 0) references on a node of `owner`.
    using reference_fn = void (*)(const void* owner, NodeHandle n, std::int64_t count);

    /// `root`: the overlay's root node, nullptr when its layer roots could not be read;
    /// `references`: how to take and drop references on the owner's nodes (nullptr: the nodes
    /// live as long as their owner and are not counted there).
    explicit inode_table(NodeHandle root, const void* owner = nullptr,
                         reference_fn references = nullptr) noexcept
        : m_root(root), m_owner(owner), m_references(references) {}
    inode_table(const inode_table&) = delete;
    inode_table& operator=(const inode_table&) = delete;

    [[nodiscard]] NodeHandle root() const noexcept { return m_root; }

    /// The node id the kernel gets for `n`.
    [[nodiscard]] fuse_ino_t to_ino(NodeHandle n) const noexcept {
        if (n == m_root) return FUSE_ROOT_ID;
        return static_cast<fuse_ino_t>(reinterpret_cast<std::uintptr_t>(n));
    }

    /// The node of a node id; nullptr only for the root of an overlay without a root.
    [[nodiscard]] NodeHandle from_ino(fuse_ino_t ino) const noexcept {
        if (ino == FUSE_ROOT_ID) return m_root;
        return reinterpret_cast<NodeHandle>(static_cast<std::uintptr_t>(ino));
    }

    /// `count` more kernel references to `n` (a LOOKUP reply, a readdirplus entry), taken on the
    /// node too: `n` must be alive (a node the caller holds a reference on).
    void remember(NodeHandle n, std::uint64_t count = 1) {
        if (n == nullptr || n == m_root || count == 0) return;
        reference(n, static_cast<std::int64_t>(count));
        const std::lock_guard lock(m_mutex);
        m_counts[n] += count;
    }

    /// One more kernel reference to `n` whose node reference the caller already took
    /// (overlay::lookup_retained); for the root, that reference is dropped at once.
    void adopt(NodeHandle n) {
        if (n == nullptr) return;
        if (n == m_root) {
            reference(n, -1);
            return;
        }
        const std::lock_guard lock(m_mutex);
        ++m_counts[n];
    }

    /// The kernel drops `count` references (FORGET, BATCH_FORGET, or a reply that never arrived);
    /// returns how many it held (a node it forgets entirely may be freed, docs/fuse.md §3).
    std::uint64_t forget(NodeHandle n, std::uint64_t count) {
        if (n == nullptr || n == m_root) return 0;
        std::uint64_t dropped = 0;
        {
            const std::lock_guard lock(m_mutex);
            const auto it = m_counts.find(n);
            if (it == m_counts.end()) return 0;
            dropped = std::min(count, it->second);
            if (it->second <= count) {
                m_counts.erase(it);
                // The buckets of a table that held many more nodes go too (memory follows what
                // the kernel holds).
                if (m_counts.bucket_count() > 64 && m_counts.size() * 8 < m_counts.bucket_count())
                    m_counts.rehash(0);
            } else {
                it->second -= count;
            }
        }
        reference(n, -static_cast<std::int64_t>(dropped));
        return dropped;
    }

    /// The kernel's current references to `n` (0 for the root and for unknown nodes).
    [[nodiscard]] std::uint64_t lookup_count(NodeHandle n) const {
        const std::lock_guard lock(m_mutex);
        const auto it = m_counts.find(n);
        return it == m_counts.end() ? 0 : it->second;
    }

    /// How many nodes the kernel holds references on (the root not counted).
    [[nodiscard]] std::size_t referenced_nodes() const {
        const std::lock_guard lock(m_mutex);
        return m_counts.size();
    }

    /// Gives back the table's spare buckets (after a mass FORGET, docs/fuse.md §3).
    void compact() {
        const std::lock_guard lock(m_mutex);
        m_counts.rehash(0);
    }

private:
    void reference(NodeHandle n, std::int64_t count) const {
        if (m_references && count != 0) m_references(m_owner, n, count);
    }

    NodeHandle m_root;
    const void* m_owner;
    reference_fn m_references;
    mutable std::mutex m_mutex;
    std::unordered_map<NodeHandle, std::uint64_t> m_counts;
};

} // namespace ovlcore::fuse
