// SPDX-License-Identifier: MIT
// ovlcore/detail/path.hpp: small path-string helpers shared by the backends (spec §1.3, §6).
// Internal: users do not include it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace ovlcore::detail {

/// The kernel's limits for a path walk (PATH_MAX, NAME_MAX, MAXSYMLINKS).
inline constexpr std::size_t path_max = 4096;
inline constexpr std::size_t name_max = 255;
inline constexpr int max_symlinks = 40;

/// The next component of `path` at or after `pos`, skipping slashes, and `pos` moved past it;
/// "" when none is left. Walks a path without allocating.
[[nodiscard]] constexpr std::string_view next_component(std::string_view path,
                                                        std::size_t& pos) noexcept {
    while (pos < path.size() && path[pos] == '/') ++pos;
    const std::size_t start = pos;
    while (pos < path.size() && path[pos] != '/') ++pos;
    return path.substr(start, pos - start);
}

/// Splits `path` on '/' into its components, dropping empty ones ("a//b/" -> {"a", "b"}).
/// "." and ".." are kept: the caller decides what they mean.
[[nodiscard]] inline std::vector<std::string_view> split_path(std::string_view path) {
    std::vector<std::string_view> out;
    std::size_t pos = 0;
    for (auto comp = next_component(path, pos); !comp.empty(); comp = next_component(path, pos))
        out.push_back(comp);
    return out;
}

/// True when `path` ends with '/' after at least one non-slash character ("a/", "a//"): the kernel
/// then requires the final object to be a directory and follows a final symlink.
[[nodiscard]] constexpr bool has_trailing_slash(std::string_view path) noexcept {
    if (path.empty() || path.back() != '/') return false;
    return path.find_first_not_of('/') != std::string_view::npos;
}

/// Joins components with '/' ("" for none).
[[nodiscard]] inline std::string join_path(const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& p : parts) {
        if (!out.empty()) out += '/';
        out += p;
    }
    return out;
}

} // namespace ovlcore::detail
