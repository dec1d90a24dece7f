// SPDX-License-Identifier: MIT
// ovlcore/readdir.hpp: directory listings of overlay dirs: merged vs raw mode, the union of the
// layers with first occurrence winning, whiteout and xwhiteout filtering, the kernel's entry
// order (spec §8, §3). Users normally go through overlay.hpp.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "detail/listed_names.hpp"
#include "lookup.hpp"
#include "result.hpp"
#include "stat.hpp"
#include "whiteout.hpp"
#include "xattr.hpp"

namespace ovlcore {

/// How a directory is listed (spec §8.1).
enum class readdir_mode : std::uint8_t {
    merged, ///< union of the layers, whiteouts removed
    raw,    ///< the single real dir's entries unchanged, whiteouts included
};

/// Merged mode for a merged dir, the root, or a dir whose real dir has an `origin` xattr (any
/// value, even empty); raw mode otherwise (spec §8.1, §12 case 10). A failing read of `origin`
/// reads as "none" (raw) and sets `*backend_failed` if given (spec §5.6.1).
template <backing_filesystem B>
[[nodiscard]] readdir_mode select_readdir_mode(const lookup_engine<B>& engine,
                                               const overlay_entry<B>& dir, bool is_root,
                                               bool* backend_failed = nullptr) {
    if (is_root || dir.is_merged_dir()) return readdir_mode::merged;
    const auto& real = dir.real();
    const auto origin =
        engine.fs().get_xattr(real.handle, xattr_name(ovl_xattr::origin, engine.userxattr()));
    if (!origin && backend_failed) *backend_failed = true;
    return origin && origin->has_value() ? readdir_mode::merged : readdir_mode::raw;
}

namespace detail {

/// A name of a merged listing: its first occurrence (entry, real dir) and its list placement.
template <class B>
struct merge_candidate {
    static constexpr std::size_t in_main = std::numeric_limits<std::size_t>::max();
    dir_entry entry;
    const real_entry<B>* dir = nullptr;   ///< the real dir of the first occurrence
    std::size_t front_position = in_main; ///< position in the lowest layer's order, if any
};

/// Is the first occurrence of this name a char 0:0 whiteout the merged listing drops (spec §8.2
/// step 4)? Checked in the real dir of that occurrence; an lstat error keeps the entry, as the
/// kernel ignores a failing lookup there (noted in `backend_failed`, spec §5.6.1).
template <backing_filesystem B>
[[nodiscard]] bool hidden_in_merged_listing(const lookup_engine<B>& engine,
                                            const merge_candidate<B>& c, bool& backend_failed) {
    const auto& e = c.entry;
    if (e.type != file_type::char_device) return false;
    const auto obj = engine.fs().lookup(c.dir->handle, e.name);
    if (!obj) backend_failed = true;
    return obj && is_char_whiteout(obj->st);
}

/// Does the first occurrence of this name get the xwhiteout check (spec §3, §8.2 step 5)? A
/// regular file (d_type DT_REG) from a lower dir whose `opaque=x` marker the lookup read. The
/// check is the overlay lookup of the name (see read_merged_dir), not an xattr read.
template <class B>
[[nodiscard]] bool needs_xwhiteout_check(const merge_candidate<B>& c) noexcept {
    return c.entry.type == file_type::regular && c.dir->xwhiteouts;
}

/// The outcome of the overlay lookup of a listed name: positive (true), negative (false), or the
/// lookup's errno. `is_positive` may return `bool` (an older contract: false = negative) or
/// `result<bool>`.
template <class IsPositive>
[[nodiscard]] result<bool> listed_lookup(IsPositive& is_positive, std::string_view name) {
    return result<bool>(is_positive(name));
}

/// For "." and ".." of the real dir `dir`, how many of its entries come before each: {0, 0}
/// (dots first, as on tmpfs and memory_fs) unless the backend says otherwise; a failing call
/// reads as {0, 0} (noted in `backend_failed`, spec §5.6.1).
template <backing_filesystem B>
[[nodiscard]] std::array<std::size_t, 2> dot_positions(const B& fs, const real_entry<B>& dir,
                                                       bool& backend_failed) {
    if constexpr (knows_dot_positions<B>) {
        const auto pos = fs.dot_positions(dir.handle);
        if (!pos) backend_failed = true;
        return pos ? *pos : std::array<std::size_t, 2>{};
    } else {
        return {};
    }
}

/// The upper dir is marked `impure=y` (copied-up or renamed entries inside): the kernel recomputes
/// d_ino of its upper entries through overlay lookups (spec §8.2 step 6). A failing read reads
/// as "not impure", as the kernel's (noted in `backend_failed`, spec §5.6.1).
template <backing_filesystem B>
[[nodiscard]] bool upper_is_impure(const lookup_engine<B>& engine, const overlay_entry<B>& dir,
                                   bool& backend_failed) {
    if (!dir.upper) return false;
    const auto value =
        engine.fs().get_xattr(dir.upper->handle, xattr_name(ovl_xattr::impure, engine.userxattr()));
    if (!value) backend_failed = true;
    return value && value->has_value() && **value == "y";
}

} // namespace detail

/// The merged listing of spec §8.2 (without "." and ".."): layers are the dir's upper, then its
/// lower stack (never data-only layers). Every layer but the lowest adds its new names in native
/// order to `main`; the lowest layer's names, known or new, form `front` in its native order;
/// the result is `front` then the rest of `main`. A name keeps the d_type and d_ino of its first
/// (topmost) occurrence; names whose first occurrence is a whiteout are dropped (xwhiteouts per
/// spec §3). Some names are looked up through the overlay (`is_positive(name)`: true positive,
/// false negative, or the lookup's errno): DT_REG names of x-marked lower dirs (the xwhiteout
/// check) and, on a single-filesystem stack, names first found in an `impure=y` upper dir. A
/// negative name is dropped; a failing one is dropped, or fails the whole listing when nothing
/// was emitted before it in the same getdents(2) call (see the body; spec §8.2 steps 5-6, where
/// the kernel deviates from the spec text). d_ino is passed through from the real entry (xino not
/// emulated).
/// `names`, if given, records every real dir's names (upper first, then the lower stack) for the
/// lookups that follow the listing (spec §5.1 step 2). `backend_failed`, if given, is set when a
/// backend call failed and the listing (if any) was read through that failure: it must not be
/// cached (spec §5.6.1); `is_positive` reports its own lookups' failures.
/// @see spec §8.2, §3, §12 cases 9, 10, 22
template <backing_filesystem B, class IsPositive>
[[nodiscard]] result<std::vector<dir_entry>>
read_merged_dir(const lookup_engine<B>& engine, const overlay_entry<B>& dir,
                IsPositive&& is_positive, detail::listed_names* names = nullptr,
                bool* backend_failed = nullptr) {
    bool failed_call = false;
    const auto note = [&] {
        if (backend_failed && failed_call) *backend_failed = true;
    };
    using candidate = detail::merge_candidate<B>;
    std::vector<const real_entry<B>*> layers;
    if (dir.upper) layers.push_back(&*dir.upper);
    for (const auto& l : dir.lowers) layers.push_back(&l);

    std::vector<candidate> candidates;
    std::unordered_map<std::string, std::size_t> seen;
    std::size_t front_count = 0;
    for (std::size_t k = 0; k < layers.size(); ++k) {
        const bool lowest = k + 1 == layers.size();
        auto entries = engine.fs().read_dir(layers[k]->handle);
        if (!entries) {
            if (backend_failed) *backend_failed = true;
            return fail(entries.error());
        }
        if (names) names->add(k, layers[k]->st, *entries);
        for (auto& e : *entries) {
            const auto [it, fresh] = seen.try_emplace(e.name, candidates.size());
            if (fresh) candidates.push_back(candidate{std::move(e), layers[k]});
            if (lowest) candidates[it->second].front_position = front_count++;
        }
    }

    std::vector<const candidate*> ordered(front_count, nullptr);
    std::vector<const candidate*> rest;
    for (const auto& c : candidates) {
        if (c.front_position == candidate::in_main)
            rest.push_back(&c);
        else
            ordered[c.front_position] = &c;
    }
    ordered.insert(ordered.end(), rest.begin(), rest.end());

    // Names the kernel looks up through the overlay while it emits the list (spec §8.2 steps 5-6):
    // DT_REG names of x-marked lower dirs (the xwhiteout check, whatever the filesystems), and,
    // when every layer is on one filesystem, the names first found in an impure upper dir (d_ino
    // recomputation; across filesystems without xino the kernel keeps the real d_ino and looks
    // nothing up). Negative: the name is dropped. Failing: the kernel marks the name dropped and
    // returns the errno from that getdents(2) call; the call still returns what it had emitted
    // before, and then the errno is lost, so a failure only surfaces when nothing ("." and ".."
    // included) was emitted earlier in the same call, i.e. since the start of the listing or since
    // the previous swallowed failure, which ends a call. Modelled with one getdents(2) call
    // holding the whole listing (the 32 KiB buffers of readdir(3) and posix_fs hold any small
    // dir). The spec's step 6 ("a failing lookup drops the entry") holds only for a failure after
    // an emitted entry; the kernel (Linux 6.18, recorded in tests/data/extra/readdir_*) wins.
    // "." and ".." sit in the lowest dir's native order, which on ext4 is hash order (not always
    // first, not always together): the backend says where (dot_positions), asked only when a
    // failure could surface.
    const bool impure =
        detail::upper_is_impure(engine, dir, failed_call) && identity_of(engine.stack(), 0).samefs;
    std::vector<dir_entry> out;
    out.reserve(ordered.size());
    std::optional<std::array<std::size_t, 2>> dots; // positions of "." and ".." among the front
    std::size_t call_start = 0; // sequence index where the current getdents call began
    bool emitted = false;       // the current call has emitted an entry
    for (std::size_t i = 0; i < ordered.size(); ++i) {
        const candidate* c = ordered[i];
        if (detail::hidden_in_merged_listing(engine, *c, failed_call)) continue;
        const bool upper_entry = dir.upper && c->dir == &*dir.upper;
        if ((impure && upper_entry) || detail::needs_xwhiteout_check(*c)) {
            const auto found = detail::listed_lookup(is_positive, std::string_view(c->entry.name));
            if (found && !*found) continue; // negative: a stale entry (e.g. an xwhiteout)
            if (!found) {
                if (!emitted) {
                    if (!dots)
                        dots = detail::dot_positions(engine.fs(), *layers.back(), failed_call);
                    const auto in_call = [&](std::size_t d) { return call_start <= d && d <= i; };
                    if (!in_call((*dots)[0]) && !in_call((*dots)[1])) {
                        note();
                        return fail(found.error());
                    }
                }
                call_start = i + 1; // swallowed: the name is dropped and a new call begins
                emitted = false;
                continue;
            }
        }
        out.push_back(c->entry);
        emitted = true;
    }
    note();
    return out;
}

/// The listing of an overlay dir in the mode spec §8.1 selects; `is_positive(name)` is the overlay
/// lookup used by read_merged_dir and, for an impure upper dir listed raw, to fail the listing
/// with the errno of the first failing lookup; `names`, if given, records the names of the real dirs read.
/// `backend_failed`, if given, is set when a backend call failed (read_merged_dir).
/// @see spec §8
template <backing_filesystem B, class IsPositive>
[[nodiscard]] result<std::vector<dir_entry>>
read_overlay_dir(const lookup_engine<B>& engine, const overlay_entry<B>& dir, bool is_root,
                 IsPositive&& is_positive, detail::listed_names* names = nullptr,
                 bool* backend_failed = nullptr) {
    if (!dir.is_dir) return fail(std::errc::not_a_directory);
    if (select_readdir_mode(engine, dir, is_root, backend_failed) == readdir_mode::merged)
        return read_merged_dir(engine, dir, std::forward<IsPositive>(is_positive), names,
                               backend_failed);
    // Raw mode: a dir that is not merged has exactly one real dir (spec §8.1), position 0.
    const auto& real = dir.real();
    auto read = engine.fs().read_dir(real.handle);
    if (!read) {
        if (backend_failed) *backend_failed = true;
        return fail(read.error());
    }
    auto& entries = *read;
    if (names) names->add(0, real.st, entries);
    // An impure upper dir on a single-filesystem stack: before passing the real entries through,
    // the kernel looks every name up through the overlay to recompute d_ino; the first failing
    // lookup fails the whole listing with its errno, while a negative one (a whiteout, listed
    // raw) changes nothing (spec §8.2 step 6 says "dropped": the kernel wins, Linux 6.18,
    // tests/data/extra/readdir_impure_*).
    bool impure_unread = false;
    const bool impure = dir.upper && detail::upper_is_impure(engine, dir, impure_unread);
    if (impure_unread && backend_failed) *backend_failed = true;
    if (impure && identity_of(engine.stack(), 0).samefs) {
        for (const auto& e : entries) {
            const auto found = detail::listed_lookup(is_positive, std::string_view(e.name));
            if (!found) return fail(found.error());
        }
    }
    return std::move(entries);
}

} // namespace ovlcore
