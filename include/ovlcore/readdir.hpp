// SPDX-License-Identifier: MIT
// ovlcore/readdir.hpp: directory listings of overlay dirs: merged vs raw mode, the union of the
// layers with first occurrence winning, whiteout and xwhiteout filtering, the kernel's entry
// order (spec §8, §3). Users normally go through overlay.hpp.
#pragma once

#include <cstddef>
#include <limits>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lookup.hpp"
#include "result.hpp"
#include "whiteout.hpp"
#include "xattr.hpp"

namespace ovlcore {

/// How a directory is listed (spec §8.1).
enum class readdir_mode : std::uint8_t {
    merged, ///< union of the layers, whiteouts removed
    raw,    ///< the single real dir's entries unchanged, whiteouts included
};

/// Merged mode for a merged dir, the root, or a dir whose real dir has an `origin` xattr (any
/// value, even empty); raw mode otherwise (spec §8.1, §12 case 10).
template <backing_filesystem B>
[[nodiscard]] readdir_mode select_readdir_mode(const lookup_engine<B>& engine,
                                               const overlay_entry<typename B::layer_ref>& dir,
                                               bool is_root) {
    if (is_root || dir.is_merged_dir()) return readdir_mode::merged;
    const auto& real = dir.real();
    const auto origin = engine.fs().get_xattr(real.where->ref, real.path,
                                              xattr_name(ovl_xattr::origin, engine.userxattr()));
    return origin && origin->has_value() ? readdir_mode::merged : readdir_mode::raw;
}

namespace detail {

/// A name of a merged listing: its first occurrence (entry, real dir) and its list placement.
template <class LayerRef>
struct merge_candidate {
    static constexpr std::size_t in_main = std::numeric_limits<std::size_t>::max();
    dir_entry entry;
    const real_entry<LayerRef>* dir = nullptr; ///< the real dir of the first occurrence
    std::size_t front_position = in_main;      ///< position in the lowest layer's order, if any
};

/// Is the first occurrence of this name a whiteout the merged listing drops (spec §8.2 step 4-5)?
/// Char 0:0 whiteouts (d_type DT_CHR) always; xwhiteouts (DT_REG) only from a lower dir whose
/// `opaque=x` marker the lookup read (spec §3 table).
template <backing_filesystem B>
[[nodiscard]] bool hidden_in_merged_listing(const lookup_engine<B>& engine,
                                            const merge_candidate<typename B::layer_ref>& c) {
    const auto& e = c.entry;
    if (e.type != file_type::char_device && !(e.type == file_type::regular && c.dir->xwhiteouts))
        return false;
    const std::string path = child_path(c.dir->path, e.name);
    const auto st = engine.fs().lstat(c.dir->where->ref, path);
    if (!st) return false;
    if (e.type == file_type::char_device) return is_char_whiteout(*st);
    return is_whiteout(engine.fs(), c.dir->where->ref, path, *st, engine.userxattr());
}

/// The upper dir is marked `impure=y` (copied-up or renamed entries inside): the kernel recomputes
/// d_ino of its upper entries through overlay lookups (spec §8.2 step 6).
template <backing_filesystem B>
[[nodiscard]] bool upper_is_impure(const lookup_engine<B>& engine,
                                   const overlay_entry<typename B::layer_ref>& dir) {
    if (!dir.upper) return false;
    const auto value = engine.fs().get_xattr(dir.upper->where->ref, dir.upper->path,
                                             xattr_name(ovl_xattr::impure, engine.userxattr()));
    return value && value->has_value() && **value == "y";
}

} // namespace detail

/// The merged listing of spec §8.2 (without "." and ".."): layers are the dir's upper, then its
/// lower stack (never data-only layers). Every layer but the lowest adds its new names in native
/// order to `main`; the lowest layer's names, known or new, form `front` in its native order;
/// the result is `front` then the rest of `main`. A name keeps the d_type and d_ino of its first
/// (topmost) occurrence; names whose first occurrence is a whiteout are dropped (xwhiteouts per
/// spec §3). In a dir whose upper is `impure=y`, names first found in the upper are looked up
/// through the overlay (`is_positive(name)`) and dropped when that lookup is negative or fails
/// (spec §8.2 step 6); d_ino itself is passed through from the real entry (xino not emulated).
/// @see spec §8.2, §3, §12 cases 9, 10, 22
template <backing_filesystem B, class IsPositive>
[[nodiscard]] result<std::vector<dir_entry>>
read_merged_dir(const lookup_engine<B>& engine, const overlay_entry<typename B::layer_ref>& dir,
                IsPositive&& is_positive) {
    using candidate = detail::merge_candidate<typename B::layer_ref>;
    std::vector<const real_entry<typename B::layer_ref>*> layers;
    if (dir.upper) layers.push_back(&*dir.upper);
    for (const auto& l : dir.lowers) layers.push_back(&l);

    std::vector<candidate> candidates;
    std::unordered_map<std::string, std::size_t> seen;
    std::size_t front_count = 0;
    for (std::size_t k = 0; k < layers.size(); ++k) {
        const bool lowest = k + 1 == layers.size();
        OVLCORE_TRY_ASSIGN(entries, engine.fs().read_dir(layers[k]->where->ref, layers[k]->path));
        for (auto& e : entries) {
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

    const bool impure = detail::upper_is_impure(engine, dir);
    std::vector<dir_entry> out;
    out.reserve(ordered.size());
    for (const candidate* c : ordered) {
        if (detail::hidden_in_merged_listing(engine, *c)) continue;
        if (impure && c->dir == &*dir.upper && !is_positive(std::string_view(c->entry.name))) continue;
        out.push_back(c->entry);
    }
    return out;
}

/// The listing of an overlay dir in the mode spec §8.1 selects; `is_positive(name)` is the overlay
/// lookup used by read_merged_dir.
/// @see spec §8
template <backing_filesystem B, class IsPositive>
[[nodiscard]] result<std::vector<dir_entry>>
read_overlay_dir(const lookup_engine<B>& engine, const overlay_entry<typename B::layer_ref>& dir,
                 bool is_root, IsPositive&& is_positive) {
    if (!dir.is_dir) return fail(std::errc::not_a_directory);
    if (select_readdir_mode(engine, dir, is_root) == readdir_mode::merged)
        return read_merged_dir(engine, dir, std::forward<IsPositive>(is_positive));
    const auto& real = dir.real();
    return engine.fs().read_dir(real.where->ref, real.path);
}

} // namespace ovlcore
