// SPDX-License-Identifier: MIT
// ovlcore/option_splitting.hpp: splits a mount(2) data string into options and a `lowerdir=`
// value into layers, and escapes/unescapes paths, as Linux 6.18 does (spec §1.2). Users include
// it via options.hpp.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "mount_error.hpp"
#include "result.hpp"

namespace ovlcore {

/// OVL_MAX_STACK: at most this many lower layers, normal and data-only together (spec §0, §1.2).
inline constexpr std::size_t max_lower_layers = 500;

/// mount(2) copies one page of option data and terminates it: only the first 4095 bytes count.
inline constexpr std::size_t mount_data_max = 4095;

/// The option data as mount(2) hands it over: a C string (stops at the first NUL) of at most
/// mount_data_max bytes.
[[nodiscard]] constexpr std::string_view mount_data(std::string_view data) noexcept {
    if (const auto nul = data.find('\0'); nul != std::string_view::npos) data = data.substr(0, nul);
    if (data.size() > mount_data_max) data = data.substr(0, mount_data_max);
    return data;
}

/// End of the option that starts at `begin`: the next ',' not protected by a backslash, or the
/// end of `data` (spec §1.2.1).
[[nodiscard]] constexpr std::size_t option_end(std::string_view data, std::size_t begin) noexcept {
    std::size_t i = begin;
    while (i < data.size()) {
        if (data[i] == '\\') {
            i += 2; // the backslash protects the next character, whatever it is
            continue;
        }
        if (data[i] == ',') return i;
        ++i;
    }
    return data.size();
}

/// Number of items split_options returns: unescaped commas + 1.
[[nodiscard]] constexpr std::size_t count_options(std::string_view data) noexcept {
    std::size_t n = 1;
    for (std::size_t i = option_end(data, 0); i < data.size(); i = option_end(data, i + 1)) ++n;
    return n;
}

/// Splits on unescaped ','. Backslashes stay in the items (spec §1.2.1). Empty items are kept
/// (the kernel skips them later), so joining the items with ',' gives `data` back.
[[nodiscard]] inline std::vector<std::string_view> split_options(std::string_view data) {
    std::vector<std::string_view> out;
    std::size_t begin = 0;
    for (;;) {
        const std::size_t end = option_end(data, begin);
        out.push_back(data.substr(begin, end - begin));
        if (end >= data.size()) break;
        begin = end + 1;
    }
    return out;
}

/// One option item split at its first '=' (not escape-aware, like the kernel).
struct option_item {
    std::string_view key;
    std::optional<std::string_view> value; ///< nullopt for a bare flag ("userxattr")
    friend constexpr bool operator==(const option_item&, const option_item&) = default;
};

/// key[=value]. Items the kernel ignores (empty, or starting with '=') give nullopt.
[[nodiscard]] constexpr std::optional<option_item> split_key_value(std::string_view item) noexcept {
    if (item.empty()) return std::nullopt;
    const auto eq = item.find('=');
    if (eq == std::string_view::npos) return option_item{.key = item, .value = std::nullopt};
    if (eq == 0) return std::nullopt;
    return option_item{.key = item.substr(0, eq), .value = item.substr(eq + 1)};
}

/// Drops every backslash and keeps the character after it; a trailing backslash disappears
/// (spec §1.2.3).
[[nodiscard]] inline std::string unescape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\') {
            if (++i == s.size()) break;
        }
        out.push_back(s[i]);
    }
    return out;
}

/// The inverse of unescape for one path: protects '\\' and ',' and, for a `lowerdir=` element,
/// ':'. (A `lowerdir+`/`datadir+` value is taken literally and cannot carry ',' through mount(2).)
[[nodiscard]] inline std::string escape_path(std::string_view path, bool for_lowerdir = true) {
    std::string out;
    out.reserve(path.size());
    for (const char c : path) {
        if (c == '\\' || c == ',' || (for_lowerdir && c == ':')) out.push_back('\\');
        out.push_back(c);
    }
    return out;
}

/// One element of a `lowerdir=` value, still escaped (as the kernel prints it in messages).
struct lowerdir_element {
    std::string_view raw;
    bool data_only = false; ///< introduced by "::"
    friend constexpr bool operator==(const lowerdir_element&, const lowerdir_element&) = default;
};

namespace detail {

/// The lowerdir scan of spec §1.2.2. Calls `emit(element)` for each element and returns nullopt,
/// or returns the failing rule's message (EINVAL). Does not check the leading ':' or the count.
template <class Emit>
constexpr std::optional<std::string_view> scan_lowerdir(std::string_view value, Emit&& emit) {
    std::size_t colons = 0; // unescaped colons just seen
    std::size_t start = 0;  // start of the current element
    bool data_only = false; // the current element follows "::"
    for (std::size_t i = 0;; ++i) {
        if (i < value.size() && value[i] == '\\') {
            ++i; // keep the backslash; the next character is taken as it is (or is the end)
        } else if (i < value.size() && value[i] == ':') {
            const bool next_colon = i + 1 < value.size() && value[i + 1] == ':';
            ++colons;
            if (colons == 2 && next_colon)
                return "overlayfs: only single ':' or double '::' sequences of unescaped colons in "
                       "lowerdir mount option allowed.";
            if (colons == 1) emit(lowerdir_element{value.substr(start, i - start), data_only});
            if (!next_colon) {
                data_only = colons == 2;
                start = i + 1;
            }
            continue;
        }
        if (i >= value.size()) {
            if (colons != 0)
                return "overlayfs: unescaped trailing colons in lowerdir mount option.";
            emit(lowerdir_element{value.substr(start), data_only});
            return std::nullopt;
        }
        colons = 0;
    }
}

} // namespace detail

/// Splits a `lowerdir=` value into elements (spec §1.2.2): ':' separates normal layers, "::"
/// starts a data-only layer, "\x" is kept. An empty value gives no element. Errors (EINVAL, with
/// the kernel's message): leading ':', three or more colons, trailing colons, more than 500
/// elements. The rule "regular layers cannot follow data layers" is checked while resolving (see
/// parse_mount_options).
[[nodiscard]] inline result<std::vector<lowerdir_element>, mount_error>
split_lowerdir(std::string_view value) {
    std::vector<lowerdir_element> out;
    if (value.empty()) return out;
    if (value.front() == ':')
        return fail(detail::mount_einval("overlayfs: cannot append lower layer"));
    if (const auto bad =
            detail::scan_lowerdir(value, [&](lowerdir_element e) { out.push_back(e); }))
        return fail(detail::mount_einval(std::string(*bad)));
    if (out.size() > max_lower_layers)
        return fail(detail::mount_einval("overlayfs: too many lower directories, limit is 500"));
    return out;
}

/// Number of lowerdir elements, or -1 when split_lowerdir would fail. constexpr for static_assert.
[[nodiscard]] constexpr long count_lowerdir(std::string_view value) noexcept {
    if (value.empty()) return 0;
    if (value.front() == ':') return -1;
    long n = 0;
    if (detail::scan_lowerdir(value, [&](lowerdir_element) { ++n; })) return -1;
    return n > static_cast<long>(max_lower_layers) ? -1 : n;
}

static_assert(count_options("") == 1 && count_options("a,b") == 2 && count_options("a\\,b") == 1);
static_assert(count_options("a\\\\,b") == 2 && count_options("a\\") == 1);
static_assert(count_lowerdir("A:B::C") == 3 && count_lowerdir("A\\:B") == 1);
static_assert(count_lowerdir(":A") == -1 && count_lowerdir("A:::B") == -1);
static_assert(count_lowerdir("A:") == -1 && count_lowerdir("A::") == -1 &&
              count_lowerdir("A:\\") == -1);
static_assert(split_key_value("=x") == std::nullopt && split_key_value("k=v=w")->value == "v=w");

} // namespace ovlcore
