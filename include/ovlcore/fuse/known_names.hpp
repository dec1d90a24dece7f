// SPDX-License-Identifier: MIT
// ovlcore/fuse/known_names.hpp: the (directory, name) pairs the kernel has looked up, which
// readdirplus=known may answer with attributes without changing the order of first lookups.
// Implements docs/fuse.md §4 (readdirplus=known); spec §10 Q2.
#pragma once

#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>

namespace ovlcore::fuse {

/// Names looked up through the kernel (LOOKUP requests, positive or not). A readdirplus that
/// looked up a name nobody asked for would decide which of two aliasing names gets an overlay
/// inode in listing order instead of access order (spec §10 Q2); a name in this set has already
/// been looked up, so answering it again changes nothing. Thread-safe.
template <class NodeHandle>
class known_names {
public:
    void mark(NodeHandle parent, std::string_view name) {
        const std::lock_guard lock(m_mutex);
        m_known.emplace(parent, std::string(name));
    }

    /// Forgets `name` in `parent` (the kernel forgot its entry, docs/fuse.md §3).
    void forget(NodeHandle parent, std::string_view name) {
        const std::lock_guard lock(m_mutex);
        m_known.erase({parent, std::string(name)});
    }

    /// Forgets every name marked in `parent` (the kernel forgot the dir, docs/fuse.md §3).
    void forget_dir(NodeHandle parent) {
        const std::lock_guard lock(m_mutex);
        auto it = m_known.lower_bound({parent, std::string()});
        while (it != m_known.end() && it->first == parent) it = m_known.erase(it);
    }

    [[nodiscard]] bool contains(NodeHandle parent, const std::string& name) const {
        const std::lock_guard lock(m_mutex);
        return m_known.count({parent, name}) != 0;
    }

private:
    mutable std::mutex m_mutex;
    std::set<std::pair<NodeHandle, std::string>> m_known;
};

} // namespace ovlcore::fuse
