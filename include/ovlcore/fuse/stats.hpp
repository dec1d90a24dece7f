// SPDX-License-Identifier: MIT
// ovlcore/fuse/stats.hpp: how many requests of each kind a fuse::server answered, so that the
// round trips of a walk or of reading a file can be counted (ovl-fuse --stats prints them).
// Implements docs/fuse.md §2 (request counts).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ovlcore::fuse {

/// The requests a fuse::server answers (docs/fuse.md §2).
enum class request : std::uint8_t {
    lookup,
    forget, ///< FORGET and BATCH_FORGET requests (not the inodes they name)
    getattr,
    readlink,
    opendir,
    readdir,
    readdirplus,
    releasedir,
    open,
    read,
    flush,
    lseek,
    release,
    statfs,
    getxattr,
    listxattr,
};

inline constexpr std::size_t request_kinds = static_cast<std::size_t>(request::listxattr) + 1;

/// The request's name as the FUSE protocol spells it, lower case ("lookup", ...).
[[nodiscard]] constexpr std::string_view to_string(request r) noexcept {
    constexpr std::array<std::string_view, request_kinds> names = {
        "lookup",      "forget",     "getattr",  "readlink", "opendir", "readdir",
        "readdirplus", "releasedir", "open",     "read",     "flush",   "lseek",
        "release",     "statfs",     "getxattr", "listxattr"};
    return names[static_cast<std::size_t>(r)];
}

/// Counts of answered requests by kind. Thread-safe (relaxed atomic increments).
class request_stats {
public:
    void count(request r) noexcept {
        m_counts[static_cast<std::size_t>(r)].fetch_add(1, std::memory_order_relaxed);
    }
    [[nodiscard]] std::uint64_t operator[](request r) const noexcept {
        return m_counts[static_cast<std::size_t>(r)].load(std::memory_order_relaxed);
    }
    /// "lookup 3, open 1, read 1, ..." (kinds with a count of zero left out; "none" if all are).
    [[nodiscard]] std::string summary() const {
        std::string out;
        for (std::size_t i = 0; i < request_kinds; ++i) {
            const std::uint64_t n = m_counts[i].load(std::memory_order_relaxed);
            if (n == 0) continue;
            if (!out.empty()) out += ", ";
            out += to_string(static_cast<request>(i));
            out += ' ';
            out += std::to_string(n);
        }
        return out.empty() ? std::string("none") : out;
    }

private:
    std::array<std::atomic<std::uint64_t>, request_kinds> m_counts{};
};

} // namespace ovlcore::fuse
