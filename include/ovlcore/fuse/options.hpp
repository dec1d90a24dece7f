// SPDX-License-Identifier: MIT
// ovlcore/fuse/options.hpp: the FUSE adapter's knobs: what readdirplus tells the kernel, how
// long the kernel may cache entries and attributes, how reads are replied. Implements docs/fuse.md §4 (readdirplus
// modes) and §2 (server options); spec §8, §10 Q2.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace ovlcore::fuse {

/// What a readdirplus reply tells the kernel (docs/fuse.md §4).
enum class readdirplus_mode {
    /// Attributes for every listed name whose overlay inode no other name can share, looked up
    /// while listing; the few names that could alias another (spec §10 Q2: hardlinks, redirects,
    /// metacopy) are left to LOOKUP, in the caller's order, as on the kernel's overlay
    /// (aliasing.hpp decides, docs/fuse.md §4).
    unaliased,
    /// Attributes only for names the kernel has already looked up: every name costs one LOOKUP
    /// at its first access, in the caller's order, as on the kernel's overlay (spec §10 Q2).
    known,
    /// Every listed name is looked up while listing and sent with its attributes: one round trip
    /// per reply instead of one per name; aliases (spec §10 Q2) are decided in listing order.
    eager,
    /// eager, and the whole merged tree is looked up and stat'ed before the mount appears
    /// (preload.hpp): listing and stat never touch the layers again; aliases in preload order.
    preload,
};

/// The mode's name as `readdirplus=` takes it ("unaliased", "known", "eager", "preload").
[[nodiscard]] constexpr std::string_view to_string(readdirplus_mode mode) noexcept {
    switch (mode) {
    case readdirplus_mode::known: return "known";
    case readdirplus_mode::eager: return "eager";
    case readdirplus_mode::preload: return "preload";
    case readdirplus_mode::unaliased: break;
    }
    return "unaliased";
}

/// The mode named `text` ("unaliased", "known", "eager" or "preload"), nullopt for anything else.
[[nodiscard]] constexpr std::optional<readdirplus_mode>
parse_readdirplus_mode(std::string_view text) noexcept {
    if (text == "unaliased") return readdirplus_mode::unaliased;
    if (text == "known") return readdirplus_mode::known;
    if (text == "eager") return readdirplus_mode::eager;
    if (text == "preload") return readdirplus_mode::preload;
    return std::nullopt;
}

/// Whether readdirplus looks up every listed name (eager and preload).
[[nodiscard]] constexpr bool looks_up_listed_names(readdirplus_mode mode) noexcept {
    return mode == readdirplus_mode::eager || mode == readdirplus_mode::preload;
}

/// Whether readdirplus looks up listed names the kernel has not asked for (every mode but known):
/// then the kernel is asked for readdirplus on every listing, not adaptively.
[[nodiscard]] constexpr bool answers_unasked_names(readdirplus_mode mode) noexcept {
    return mode != readdirplus_mode::known;
}

/// Knobs of a fuse::server (docs/fuse.md §2).
struct server_options {
    readdirplus_mode readdirplus = readdirplus_mode::unaliased;
    /// Seconds the kernel may keep entries and attributes. The layers must not change while
    /// mounted (as for a kernel overlay), so the default is a day: a warm walk never reaches us.
    double cache_timeout = 86400.0;
    /// readdirplus=unaliased: the most entries the alias census reads in one layer (aliasing.hpp,
    /// docs/fuse.md §4); a layer with more counts as holding redirects. 0: no census.
    std::size_t census_limit = std::size_t{1} << 20;
    /// READ replies splice the data from the backend's file descriptor where the backend has one
    /// and the kernel allows it (docs/fuse.md §2); false: always through a buffer.
    bool splice = true;
    /// false: the first OPEN answers ENOSYS and the kernel then opens files without asking
    /// (FUSE's no-open), so a re-read is served from the page cache without any round trip;
    /// READ opens the data itself. Not exact: an open that fails on the kernel's overlay (lazy
    /// lowerdata not found or failing fs-verity, spec §6, §7) succeeds and its reads fail with
    /// that errno, and data whose size differs from st_size is read through the page cache
    /// (docs/fuse.md §2).
    /// Mount read-only: the kernel no longer asks before a write open.
    bool open_requests = true;
};

} // namespace ovlcore::fuse
