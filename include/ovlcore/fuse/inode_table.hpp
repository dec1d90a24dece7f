// SPDX-License-Identifier: MIT
// ovlcore/fuse/inode_table.hpp: FUSE inode numbers for overlay nodes and the kernel's lookup
// count of each (LOOKUP and readdirplus add, FORGET subtracts). Implements docs/fuse.md §3
// (reference counting); spec §10 Q2 (one node per looked-up name).
#pragma once

#include <cstdint>
#include <mutex>
#include <type_traits>
#include <unordered_map>

#include "libfuse.hpp"

namespace ovlcore::fuse {

/// The node ids the kernel knows and how many references it holds on each.
///
/// A node id is the node handle itself (stable for the overlay's lifetime, spec §10 Q2), the root
/// is FUSE_ROOT_ID. Every reply that gives the kernel a node id (a positive LOOKUP entry, a
/// readdirplus entry with attributes) adds one reference; FORGET takes `nlookup` back; the
/// kernel never holds a reference on the root. A node whose count drops to zero leaves the table,
/// so the table holds exactly the nodes the kernel may still name (docs/fuse.md §3). Overlay nodes
/// themselves live as long as the overlay (its object cache), so nothing is freed here.
/// Thread-safe.
template <class NodeHandle>
class inode_table {
    static_assert(std::is_pointer_v<NodeHandle> && sizeof(std::uintptr_t) <= sizeof(fuse_ino_t),
                  "node ids are node handles: pointer-sized");

public:
    /// `root`: the overlay's root node, nullptr when its layer roots could not be read.
    explicit inode_table(NodeHandle root) noexcept : m_root(root) {}
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

    /// `count` more kernel references to `n` (a LOOKUP reply, a readdirplus entry).
    void remember(NodeHandle n, std::uint64_t count = 1) {
        if (n == nullptr || n == m_root || count == 0) return;
        const std::lock_guard lock(m_mutex);
        m_counts[n] += count;
    }

    /// The kernel drops `count` references (FORGET, BATCH_FORGET, or a reply that never arrived).
    void forget(NodeHandle n, std::uint64_t count) {
        if (n == nullptr || n == m_root) return;
        const std::lock_guard lock(m_mutex);
        const auto it = m_counts.find(n);
        if (it == m_counts.end()) return;
        if (it->second <= count)
            m_counts.erase(it);
        else
            it->second -= count;
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

private:
    NodeHandle m_root;
    mutable std::mutex m_mutex;
    std::unordered_map<NodeHandle, std::uint64_t> m_counts;
};

} // namespace ovlcore::fuse
