// SPDX-License-Identifier: MIT
// ovlcore/fuse/aliasing.hpp: which names readdirplus=unaliased may look up while listing: those
// whose overlay inode no other name of the mount can share, so that looking them up early cannot
// change any answer, in any access order. Decided per listed directory from the stack's features,
// the directory's real dirs and a once-per-layer census of redirects. Implements docs/fuse.md §4
// (the rule and its proof); spec §5.1 step 8, §5.3, §10 Q2.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <vector>

#include "../types.hpp"
#include "../xattr.hpp"

namespace ovlcore::fuse {

/// What readdirplus=unaliased may do with the names listed in one directory (docs/fuse.md §4).
enum class listing_verdict : std::uint8_t {
    look_up,     ///< look every name up: no lookup here can give an inode another name shares
    check_upper, ///< the same, except a name whose upper object is a non-dir with nlink > 1
    leave,       ///< look nothing up: the kernel LOOKUPs each name, in its own order
};

/// The alias rule of readdirplus=unaliased (docs/fuse.md §4) for one overlay. An overlay inode is
/// shared only by names with the same overlay_inode_key (spec §10 Q2): the upper object, or the
/// top lower object. A name's key object is reached under its own path in its layer unless a
/// redirect was read in a layer above it (spec §5.1 step 8), and an object has one path unless it
/// is a hardlink. So a listed name is looked up early only when (1) no layer above the deepest
/// real dir of its directory holds a redirect the lookup could read (the census, run once per
/// layer at the first listing that needs it, bounded by `census_limit` entries), and (2) no
/// hardlink can give it a key another name shares with a different answer (per stack features,
/// plus one lstat of the name in an upper dir). Thread-safe; census results are kept.
template <class Overlay>
class alias_guard {
public:
    using node_handle = typename Overlay::node_handle;

    alias_guard(const Overlay& ov, std::size_t census_limit)
        : m_overlay(&ov), m_limit(census_limit),
          m_census(std::make_unique<std::atomic<census>[]>(layer_count(ov))) {
        for (std::size_t i = 0; i < layer_count(ov); ++i)
            m_census[i].store(census::pending, std::memory_order_relaxed);
    }

    /// The verdict for the names listed in the directory `dir` (docs/fuse.md §4).
    [[nodiscard]] listing_verdict verdict(node_handle dir) const {
        const auto& ov = *m_overlay;
        const auto& stack = ov.stack();
        const auto& features = stack.features();
        const auto& e = ov.entry(dir);
        // (2) hardlinks: which keys a hardlinked object can have (overlay_inode_key).
        listing_verdict v = listing_verdict::look_up;
        if (!stack.upper()) {
            // Lower-only: aliases always share the inode (no upper to disagree), with the same
            // answers unless a metacopy finds its data below it by a path (metacopy=on, two or
            // more normal lowers): then the alias's data could differ.
            if (features.metacopy && stack.lowers().size() > 1) return listing_verdict::leave;
        } else if (features.index || features.nfs_export) {
            // Lower hardlinks are keyed by the lower object and can meet an upper copy: only
            // names without a lower object are safe.
            if (!e.lowers.empty()) return listing_verdict::leave;
            v = listing_verdict::check_upper;
        } else if (e.upper) {
            // index=off: a lower hardlink is keyed by the upper (or not at all); an upper hardlink
            // by itself, shared with its other names.
            v = listing_verdict::check_upper;
        }
        // (1) redirects above the directory's deepest real dir (and above its upper dir, where a
        // name's own redirect would pick its top lower).
        std::size_t end = e.upper ? 1 : 0;
        for (const auto& l : e.lowers) end = std::max<std::size_t>(end, l.index);
        if (!clean_above(end)) return listing_verdict::leave;
        return v;
    }

    /// check_upper: whether `name` in `dir` may be looked up early: its upper object (if any) is
    /// a directory or has one link. One lstat in the upper dir; any error but ENOENT: no.
    [[nodiscard]] bool upper_allows(node_handle dir, std::string_view name) const {
        const auto& e = m_overlay->entry(dir);
        if (!e.upper) return true;
        const auto found = m_overlay->engine().fs().lookup(e.upper->handle, name);
        if (!found) return found.error() == std::errc::no_such_file_or_directory;
        return found->st.type == file_type::directory || found->st.nlink <= 1;
    }

    /// Runs the census of every layer a listing may need (the upper and every normal lower but
    /// the bottom one) now, instead of at the first listing that needs it: for a server that
    /// prefers to pay it before mounting (ovl-fuse does). Returns the number of layers whose
    /// census ran and how long they took.
    struct census_stats {
        std::size_t layers = 0;
        std::chrono::steady_clock::duration time{};
    };
    census_stats run_censuses() const {
        const auto start = std::chrono::steady_clock::now();
        census_stats stats;
        const std::size_t count = layer_count(*m_overlay);
        for (std::size_t i = 0; i + 1 < count; ++i) {
            if (m_census[i].load(std::memory_order_acquire) == census::pending &&
                (i != 0 || m_overlay->stack().upper()))
                ++stats.layers;
            (void)state_of(i);
        }
        stats.time = std::chrono::steady_clock::now() - start;
        return stats;
    }

    /// The census of layer `index` (spec §0 numbering: 0 upper, 1..N normal lowers): true when it
    /// holds no redirect a lookup could read, false when it does (or could not be read in full,
    /// or exceeded the limit), nullopt before it ran. For tests and diagnostics.
    [[nodiscard]] std::optional<bool> census_of(std::size_t index) const {
        if (index >= layer_count(*m_overlay)) return std::nullopt;
        const census c = m_census[index].load(std::memory_order_acquire);
        if (c == census::pending) return std::nullopt;
        return c == census::clean;
    }

private:
    enum class census : std::uint8_t { pending, clean, holds_redirects };

    [[nodiscard]] static std::size_t layer_count(const Overlay& ov) noexcept {
        return 1 + ov.stack().lowers().size();
    }

    /// Whether every existing layer with index < end holds no redirect (running censuses).
    [[nodiscard]] bool clean_above(std::size_t end) const {
        for (std::size_t i = 0; i < end && i < layer_count(*m_overlay); ++i)
            if (state_of(i) != census::clean) return false;
        return true;
    }

    /// The census of layer `index`, run now if it has not run yet (an absent upper is clean).
    [[nodiscard]] census state_of(std::size_t index) const {
        if (index == 0 && !m_overlay->stack().upper()) return census::clean;
        census c = m_census[index].load(std::memory_order_acquire);
        if (c != census::pending) return c;
        const std::lock_guard lock(m_mutex);
        c = m_census[index].load(std::memory_order_acquire);
        if (c == census::pending) {
            c = run_census(index);
            m_census[index].store(c, std::memory_order_release);
        }
        return c;
    }

    /// Reads layer `index` in full: the redirect xattr of every directory when redirects are
    /// followed (spec §5.4; with nofollow a redirect fails the lookup, EPERM), and in the upper
    /// layer with metacopy=on that of every regular file (an upper metacopy's redirect picks its
    /// top lower; with metacopy=off it fails the lookup; a lower metacopy's redirect only finds
    /// its data, which is not a key). Any error, or more than the limit, counts as a redirect.
    [[nodiscard]] census run_census(std::size_t index) const {
        const auto& engine = m_overlay->engine();
        const auto& stack = m_overlay->stack();
        const auto& fs = engine.fs();
        const bool dirs = engine.redirect_follow();
        const bool files = index == 0 && stack.features().metacopy;
        if (!dirs && !files) return census::clean;
        if (m_limit == 0) return census::holds_redirects;
        const auto& layer = index == 0 ? *stack.upper() : stack.lowers()[index - 1];
        const std::string redirect = xattr_name(ovl_xattr::redirect, engine.userxattr());
        // Present, or unreadable: either way the layer may hold one.
        const auto has_redirect = [&](const auto& handle) {
            const auto value = fs.get_xattr(handle, redirect);
            return !value || value->has_value();
        };
        auto root = fs.root(layer.ref);
        if (!root) return census::holds_redirects;
        using handle_type = std::remove_cvref_t<decltype(root->handle)>;
        std::vector<handle_type> pending{root->handle};
        std::size_t entries = 0;
        while (!pending.empty()) {
            const handle_type dir = std::move(pending.back());
            pending.pop_back();
            if (dirs && has_redirect(dir)) return census::holds_redirects;
            const auto listing = fs.read_dir(dir);
            if (!listing) return census::holds_redirects;
            entries += listing->size();
            if (entries > m_limit) return census::holds_redirects;
            for (const dir_entry& entry : *listing) {
                const bool maybe_dir =
                    entry.type == file_type::directory || entry.type == file_type::unknown;
                const bool maybe_file =
                    files && (entry.type == file_type::regular || entry.type == file_type::unknown);
                if (!maybe_dir && !maybe_file) continue;
                auto object = fs.lookup(dir, entry.name);
                if (!object) return census::holds_redirects;
                if (object->st.type == file_type::directory)
                    pending.push_back(std::move(object->handle));
                else if (files && object->st.type == file_type::regular &&
                         has_redirect(object->handle))
                    return census::holds_redirects;
            }
        }
        return census::clean;
    }

    const Overlay* m_overlay;
    std::size_t m_limit;
    std::unique_ptr<std::atomic<census>[]> m_census; ///< by layer index (0 upper, 1..N lowers)
    mutable std::mutex m_mutex;                      ///< one census at a time
};

} // namespace ovlcore::fuse
