// SPDX-License-Identifier: MIT
// ovlcore/stat.hpp: attribute composition of overlay objects: which real entry supplies which
// stat field, st_nlink of merged dirs, st_blocks of metacopy files, st_ino/st_dev (spec §9, §6).
// Users normally go through overlay.hpp.
#pragma once

#include <cstdint>
#include <optional>

#include "layer_stack.hpp"
#include "lookup.hpp"
#include "types.hpp"

namespace ovlcore {

/// How overlay objects are identified (spec §9).
struct overlay_identity {
    std::uint64_t overlay_dev = 0; ///< the overlay's own st_dev
    /// Upper and every normal lower layer on one filesystem (data-only layers never count).
    bool samefs = true;
};

/// The identity rules that apply to `stack`: samefs iff the upper and normal lower layer roots
/// share one st_dev (spec §9).
template <backing_filesystem B>
[[nodiscard]] overlay_identity identity_of(const layer_stack<B>& stack, std::uint64_t overlay_dev) {
    overlay_identity id{.overlay_dev = overlay_dev, .samefs = true};
    std::optional<std::uint64_t> dev;
    const auto same = [&](const auto& l) {
        if (!dev) dev = l.id.dev;
        return *dev == l.id.dev;
    };
    if (const auto* up = stack.upper()) id.samefs = same(*up);
    for (const auto& l : stack.lowers()) id.samefs = id.samefs && same(l);
    return id;
}

/// st_blocks of a metacopy file whose data is not resolved yet: round_up(size, blksize) / 512
/// (spec §6, §12 case 21).
[[nodiscard]] constexpr std::uint64_t estimated_blocks(std::uint64_t size,
                                                       std::uint32_t blksize) noexcept {
    const std::uint64_t unit = blksize != 0 ? blksize : 512;
    return (size + unit - 1) / unit * unit / 512;
}

static_assert(estimated_blocks(200, 4096) == 8);
static_assert(estimated_blocks(0, 4096) == 0);
static_assert(estimated_blocks(4097, 4096) == 16);

namespace detail {

/// st_ino/st_dev (spec §9). Samefs: the overlay device everywhere; the root keeps the upper root's
/// ino; an upper object with a lower keeps the lower ("origin") ino when it is a dir or the lower
/// has one link; otherwise the real entry's ino. Different filesystems (no xino, which ovlcore
/// does not implement): dirs get the overlay device with the real ino standing in for the
/// kernel's private, non-persistent one; non-dirs keep the real entry's ino and device (the
/// kernel reports a per-filesystem anonymous device there).
template <class B>
void compose_identity(stat_info& st, const overlay_entry<B>& e, const overlay_identity& id,
                      bool is_root) {
    if (!id.samefs) {
        if (e.is_dir) st.dev = id.overlay_dev;
        return;
    }
    st.dev = id.overlay_dev;
    if (is_root || !e.upper || e.lowers.empty()) return; // real ino
    const auto& origin = e.lowers.front();
    if (e.is_dir || origin.st.nlink == 1) st.ino = origin.st.ino;
}

} // namespace detail

/// The stat of an overlay object (spec §9): the real entry (upper, else top lower; for a lower
/// metacopy the metacopy file) supplies mode, owner, size, times, rdev, blksize, nlink, blocks;
/// a merged dir has nlink 1; a metacopy file takes st_blocks from its data entry `data` when known
/// (resolved), else the estimate of spec §6. Data-only layers never supply identity or attributes.
/// @see spec §9, §6, §12 cases 21, 23
template <class B>
[[nodiscard]] stat_info compose_stat(const overlay_entry<B>& e, const real_entry<B>* data,
                                     const overlay_identity& id, bool is_root) {
    stat_info st = e.real().st;
    if (e.is_merged_dir()) st.nlink = 1;
    if (e.metacopy) st.blocks = data ? data->st.blocks : estimated_blocks(st.size, st.blksize);
    detail::compose_identity(st, e, id, is_root);
    return st;
}

} // namespace ovlcore
