// SPDX-License-Identifier: MIT
// ovlcore/fuse/preload.hpp: readdirplus=preload's walk: look up and stat the whole merged tree
// before the mount appears, so that the overlay's object cache answers every later listing and
// stat. Implements docs/fuse.md §4 (readdirplus=preload); spec §6, §8, §10 Q2.
#pragma once

#include <chrono>
#include <cstddef>
#include <vector>

#include "../overlay.hpp"
#include "../types.hpp"

namespace ovlcore::fuse {

/// What a preload walked.
struct preload_stats {
    std::size_t objects = 0;                    ///< names looked up successfully
    std::chrono::steady_clock::duration time{}; ///< how long the walk took
};

/// Looks up and stats every object of `ov`, depth first, every directory's names in listing
/// order (as a first walk through readdirplus=eager would, spec §8, §10 Q2). Lazy lowerdata is
/// not resolved (spec §6: a stat never touches the data-only layers). Failing names stay cached
/// with their errno, as for any lookup.
template <class Overlay>
preload_stats preload_tree(const Overlay& ov) {
    using node_handle = typename Overlay::node_handle;
    const auto start = std::chrono::steady_clock::now();
    preload_stats stats;
    // Dirs still to walk are held (docs/fuse.md §3): with a bounded cache of unreferenced nodes
    // (overlay_options::max_unreferenced_nodes) the rest is released as the walk goes.
    std::vector<node_handle> pending;
    const std::vector<dir_entry> no_entries;
    if (auto root = ov.root(); root) {
        ov.retain(*root);
        pending.push_back(*root);
    }
    while (!pending.empty()) {
        const node_handle dir = pending.back();
        pending.pop_back();
        const auto listing = ov.read_dir(dir);
        std::vector<node_handle> subdirs;
        for (const auto& entry : listing ? *listing : no_entries) {
            bool backend_failed = false;
            const auto child = ov.lookup_retained(dir, entry.name, backend_failed);
            if (!child) continue;
            ++stats.objects;
            const auto st = ov.stat(*child);
            if (st && st->type == file_type::directory)
                subdirs.push_back(*child);
            else
                ov.forget(*child, 1);
        }
        ov.forget(dir, 1);
        // Pushed in reverse: the first listed subdir is walked first.
        pending.insert(pending.end(), subdirs.rbegin(), subdirs.rend());
    }
    stats.time = std::chrono::steady_clock::now() - start;
    return stats;
}

} // namespace ovlcore::fuse
