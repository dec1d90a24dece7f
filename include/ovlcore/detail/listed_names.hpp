// SPDX-License-Identifier: MIT
// ovlcore/detail/listed_names.hpp: the names each real dir of an overlay dir held when the dir
// was listed (spec §8.2), so that a later lookup in that dir skips the lstat of a name a real dir
// does not hold: it would fail with ENOENT, "not found, continue" (spec §5.1 step 2).
// Internal: used by overlay.hpp, lookup.hpp and readdir.hpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "../types.hpp"
#include "name_table.hpp"

namespace ovlcore::detail {

/// The names of the real dirs of one overlay dir, as the listing of spec §8 read them. Positions
/// number those real dirs top to bottom: the upper dir (if any), then the lower stack, which are
/// exactly the real dirs lookup(dir, name) consults for a relative name (spec §5.3). Built once by
/// the listing, immutable once published; its memory is that of the names listed (one string per
/// distinct name, one position per real dir that holds it). Valid while the layers do not change,
/// the assumption under which the overlay caches lookups at all.
///
/// A listing proves absence only where a name lookup could not fail otherwise: a real dir that
/// some user may not search (a mode without all three x bits) may answer EACCES to the lstat of
/// a name it lacks, so its listing is not used (POSIX ACLs and LSMs are not modelled).
class listed_names {
public:
    /// Records the listing of the real dir at `position` whose stat is `dir`. Positions are added
    /// in increasing order.
    void add(std::size_t position, const stat_info& dir, std::span<const dir_entry> entries) {
        m_known.resize(std::max(m_known.size(), position + 1), false);
        if ((dir.mode & 0111) != 0111) return; // not searchable by all: lookups keep their lstat
        m_known[position] = true;
        m_names.reserve(m_names.size() + entries.size());
        for (const auto& e : entries)
            m_names[e.name].push_back(static_cast<std::uint32_t>(position));
    }

    /// Number of real dirs recorded (positions 0 .. real_dirs() - 1).
    [[nodiscard]] std::size_t real_dirs() const noexcept { return m_known.size(); }
    /// Is the listing of the real dir at `position` (< real_dirs()) usable for absence?
    [[nodiscard]] bool known(std::size_t position) const noexcept { return m_known[position]; }

    /// The positions of the real dirs that hold `name`, increasing; nullptr when none does.
    [[nodiscard]] const std::vector<std::uint32_t>* positions(std::string_view name) const {
        const auto it = m_names.find(name);
        return it == m_names.end() ? nullptr : &it->second;
    }

private:
    std::vector<bool> m_known; ///< per position: listed and searchable by all
    std::unordered_map<std::string, std::vector<std::uint32_t>, string_hash, std::equal_to<>>
        m_names;
};

/// Can a listing prove this search name absent? Only a plain name can be: not empty, "." or ".."
/// (refused by name lookup with EACCES, spec §5.1 step 2, e.g. after a relative redirect to
/// "."), without '/' or NUL (never a listed name, yet the lstat of such a path may find
/// something).
[[nodiscard]] constexpr bool is_plain_name(std::string_view name) noexcept {
    return !name.empty() && name != "." && name != ".." &&
           name.find_first_of(std::string_view("/\0", 2)) == std::string_view::npos;
}

/// One lookup's view of the parent's listed names: answers "is this name absent from the real dir
/// at this position?" with one hash lookup per distinct search name (a redirect changes the name),
/// whatever the number of layers.
class listed_names_probe {
public:
    explicit listed_names_probe(const listed_names* names) noexcept : m_names(names) {}

    /// True only when the listing of the real dir at `position` is known and lacks `name`.
    [[nodiscard]] bool absent(std::string_view name, std::size_t position) {
        return next_candidate(name, position) != position;
    }

    /// The first position from `position` on whose real dir may hold `name`: one that holds it,
    /// or the first one whose listing is unknown (possibly past the last real dir).
    [[nodiscard]] std::size_t next_candidate(std::string_view name, std::size_t position) {
        if (!m_names || position >= m_names->real_dirs() || !is_plain_name(name)) return position;
        if (!m_name || *m_name != name) {
            m_name = std::string(name);
            m_positions = m_names->positions(name);
        }
        std::size_t holder = m_names->real_dirs();
        if (m_positions) {
            const auto it = std::lower_bound(m_positions->begin(), m_positions->end(),
                                             static_cast<std::uint32_t>(position));
            if (it != m_positions->end()) holder = *it;
        }
        while (position < holder && m_names->known(position)) ++position;
        return position;
    }

private:
    const listed_names* m_names;
    std::optional<std::string> m_name; ///< the name m_positions answers for
    const std::vector<std::uint32_t>* m_positions = nullptr;
};

} // namespace ovlcore::detail
