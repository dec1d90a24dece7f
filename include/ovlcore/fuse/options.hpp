// SPDX-License-Identifier: MIT
// ovlcore/fuse/options.hpp: the FUSE adapter's knobs: what readdirplus tells the kernel and how
// long the kernel may cache entries and attributes. Implements docs/fuse.md §4 (readdirplus
// modes) and §2 (server options); spec §8, §10 Q2.
#pragma once

#include <optional>
#include <string_view>

namespace ovlcore::fuse {

/// What a readdirplus reply tells the kernel (docs/fuse.md §4).
enum class readdirplus_mode {
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

/// The mode's name as `readdirplus=` takes it ("known", "eager", "preload").
[[nodiscard]] constexpr std::string_view to_string(readdirplus_mode mode) noexcept {
    switch (mode) {
    case readdirplus_mode::eager: return "eager";
    case readdirplus_mode::preload: return "preload";
    case readdirplus_mode::known: break;
    }
    return "known";
}

/// The mode named `text` ("known", "eager" or "preload"), nullopt for anything else.
[[nodiscard]] constexpr std::optional<readdirplus_mode>
parse_readdirplus_mode(std::string_view text) noexcept {
    if (text == "known") return readdirplus_mode::known;
    if (text == "eager") return readdirplus_mode::eager;
    if (text == "preload") return readdirplus_mode::preload;
    return std::nullopt;
}

/// Whether readdirplus looks up every listed name (eager and preload).
[[nodiscard]] constexpr bool looks_up_listed_names(readdirplus_mode mode) noexcept {
    return mode != readdirplus_mode::known;
}

/// Knobs of a fuse::server (docs/fuse.md §2).
struct server_options {
    readdirplus_mode readdirplus = readdirplus_mode::known;
    /// Seconds the kernel may keep entries and attributes. The layers must not change while
    /// mounted (as for a kernel overlay), so the default is a day: a warm walk never reaches us.
    double cache_timeout = 86400.0;
};

} // namespace ovlcore::fuse
