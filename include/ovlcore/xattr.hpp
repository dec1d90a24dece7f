// SPDX-License-Identifier: MIT
// ovlcore/xattr.hpp: overlay xattr names (trusted./user. prefix, overlay.overlay.* escaping), the
// metacopy value layout and the redirect value rules (spec §2.1-§2.3). Pure functions; users may
// include it (e.g. to build layers).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "result.hpp"

namespace ovlcore {

// ---------------------------------------------------------------------------------------------
// §2.1 names

/// The overlay xattrs a reader cares about (spec §2.1 table).
enum class ovl_xattr : std::uint8_t {
    opaque,
    redirect,
    metacopy,
    whiteout,
    origin,
    impure,
    nlink,
    upper,
    uuid,
    protattr,
};

/// The suffix after the prefix: "opaque", "redirect", ...
[[nodiscard]] constexpr std::string_view xattr_suffix(ovl_xattr x) noexcept {
    switch (x) {
    case ovl_xattr::opaque: return "opaque";
    case ovl_xattr::redirect: return "redirect";
    case ovl_xattr::metacopy: return "metacopy";
    case ovl_xattr::whiteout: return "whiteout";
    case ovl_xattr::origin: return "origin";
    case ovl_xattr::impure: return "impure";
    case ovl_xattr::nlink: return "nlink";
    case ovl_xattr::upper: return "upper";
    case ovl_xattr::uuid: return "uuid";
    case ovl_xattr::protattr: return "protattr";
    }
    return "";
}

/// The prefix P: "trusted.overlay." by default, "user.overlay." with `userxattr` (spec §2.1).
[[nodiscard]] constexpr std::string_view xattr_prefix(bool userxattr) noexcept {
    return userxattr ? std::string_view("user.overlay.") : std::string_view("trusted.overlay.");
}

/// The full name P + suffix, e.g. "trusted.overlay.opaque".
[[nodiscard]] inline std::string xattr_name(ovl_xattr x, bool userxattr) {
    std::string name(xattr_prefix(userxattr));
    name += xattr_suffix(x);
    return name;
}

/// How the overlay presents an underlying xattr name (spec §2.1 escaping, 6.7+): P + "overlay." + X
/// is shown as P + X (one level of nesting removed); any other P* name is private to the overlay
/// and hidden (nullopt); every other name is shown unchanged.
[[nodiscard]] inline std::optional<std::string> unescape_xattr_name(std::string_view real_name,
                                                                    bool userxattr) {
    const std::string_view prefix = xattr_prefix(userxattr);
    if (!real_name.starts_with(prefix)) return std::string(real_name);
    const std::string_view rest = real_name.substr(prefix.size());
    if (!rest.starts_with("overlay.")) return std::nullopt;
    std::string shown(prefix);
    shown += rest.substr(std::string_view("overlay.").size());
    return shown;
}

/// The inverse: the underlying name that stores what the overlay shows as `shown_name`
/// (P + X -> P + "overlay." + X; other names unchanged).
[[nodiscard]] inline std::string escape_xattr_name(std::string_view shown_name, bool userxattr) {
    const std::string_view prefix = xattr_prefix(userxattr);
    if (!shown_name.starts_with(prefix)) return std::string(shown_name);
    std::string real(prefix);
    real += "overlay.";
    real += shown_name.substr(prefix.size());
    return real;
}

// ---------------------------------------------------------------------------------------------
// §2.2 metacopy

/// Sizes of the metacopy value (spec §2.2).
inline constexpr std::size_t metacopy_min_size = 4;  ///< header; an empty value counts as this
inline constexpr std::size_t metacopy_max_size = 68; ///< header + SHA-512 digest

/// The metacopy size the lookup records for a regular file whose metacopy xattr has `size` bytes
/// (spec §2.2 "Lookup"): 0 bytes count as 4; 1..3 bytes are EIO (even with metacopy=off); larger
/// values are taken as they are (the contents are not parsed at lookup).
[[nodiscard]] constexpr result<std::uint32_t> metacopy_size_at_lookup(std::size_t size) noexcept {
    if (size == 0) return static_cast<std::uint32_t>(metacopy_min_size);
    if (size < metacopy_min_size) return fail(std::errc::io_error);
    return static_cast<std::uint32_t>(size);
}

/// A metacopy xattr of this recorded size carries a digest ("has digest", spec §2.2, §7).
[[nodiscard]] constexpr bool metacopy_has_digest(std::uint32_t recorded_size) noexcept {
    return recorded_size > metacopy_min_size;
}

/// fs-verity digest algorithms (spec §2.2 digest_algo).
enum class verity_algo : std::uint8_t { none = 0, sha256 = 1, sha512 = 2 };

/// The parsed metacopy value (spec §2.2 table).
struct metacopy_value {
    std::uint8_t version = 0;
    std::uint8_t len = metacopy_min_size;
    std::uint8_t flags = 0;
    std::uint8_t digest_algo = 0;
    std::string digest; ///< len - 4 raw bytes
    friend bool operator==(const metacopy_value&, const metacopy_value&) = default;
};

/// Parses the metacopy value as an open with verity != off does (spec §2.2 "Open"): more than 68
/// bytes -> ERANGE; empty -> the emulated empty header; 1..3 bytes or version != 0 or size != len
/// -> EIO.
[[nodiscard]] inline result<metacopy_value> parse_metacopy_at_open(std::string_view value) {
    if (value.size() > metacopy_max_size) return fail(std::errc::result_out_of_range);
    if (value.empty()) return metacopy_value{};
    if (value.size() < metacopy_min_size) return fail(std::errc::io_error);
    metacopy_value v;
    v.version = static_cast<std::uint8_t>(value[0]);
    v.len = static_cast<std::uint8_t>(value[1]);
    v.flags = static_cast<std::uint8_t>(value[2]);
    v.digest_algo = static_cast<std::uint8_t>(value[3]);
    if (v.version != 0) return fail(std::errc::io_error);
    if (v.len != value.size()) return fail(std::errc::io_error);
    v.digest = std::string(value.substr(metacopy_min_size));
    return v;
}

// ---------------------------------------------------------------------------------------------
// §2.3 redirect

/// The usable part of a redirect value: everything before the first NUL byte (spec §2.3).
[[nodiscard]] constexpr std::string_view redirect_text(std::string_view raw) noexcept {
    return raw.substr(0, raw.find('\0'));
}

/// True for `/c1/c2/...` with every component non-empty.
[[nodiscard]] constexpr bool is_valid_absolute_redirect(std::string_view text) noexcept {
    if (text.size() < 2 || text.front() != '/' || text.back() == '/') return false;
    return text.find("//") == std::string_view::npos;
}

/// Validates a redirect xattr value as the kernel does whenever it reads one (spec §2.3) and
/// returns the text to use. A zero-length value is EINVAL; otherwise the text before the first NUL
/// must be `/c1/c2/...` (absolute, components non-empty) or contain no '/' (relative). "." and
/// ".." pass; walking them fails later (EACCES, §5.1 step 2). Note: a value whose first byte is NUL
/// is not zero-length, so it validates as the empty relative redirect (its walk then gives EACCES).
[[nodiscard]] constexpr result<std::string_view> validate_redirect(std::string_view raw) noexcept {
    if (raw.empty()) return fail(std::errc::invalid_argument);
    const std::string_view text = redirect_text(raw);
    if (!text.empty() && text.front() == '/') {
        if (!is_valid_absolute_redirect(text)) return fail(std::errc::invalid_argument);
    } else if (text.find('/') != std::string_view::npos) {
        return fail(std::errc::invalid_argument);
    }
    return text;
}

/// An absolute redirect restarts the search from the layer roots (spec §2.3, §5.4).
[[nodiscard]] constexpr bool is_absolute_redirect(std::string_view text) noexcept {
    return !text.empty() && text.front() == '/';
}

namespace detail {
constexpr bool redirect_ok(std::string_view raw) { return validate_redirect(raw).has_value(); }
constexpr bool redirect_is(std::string_view raw, std::string_view text) {
    const auto r = validate_redirect(raw);
    return r.has_value() && *r == text;
}
constexpr std::uint32_t lookup_size_or_0(std::size_t size) {
    const auto r = metacopy_size_at_lookup(size);
    return r.has_value() ? *r : 0;
}
} // namespace detail

// §2.3 / §12 case 11, checked at compile time.
static_assert(!detail::redirect_ok(""));
static_assert(!detail::redirect_ok("/"));
static_assert(!detail::redirect_ok("//data"));
static_assert(!detail::redirect_ok("/a/"));
static_assert(!detail::redirect_ok("/a//b"));
static_assert(!detail::redirect_ok("a/b"));
static_assert(detail::redirect_ok("/a"));
static_assert(detail::redirect_ok("/a/b"));
static_assert(detail::redirect_ok("/./a"));
static_assert(detail::redirect_ok("/../a"));
static_assert(detail::redirect_ok("old"));
static_assert(detail::redirect_ok(".."));
static_assert(detail::redirect_is(std::string_view("/a\0/", 4), "/a"));
static_assert(detail::redirect_is(std::string_view("\0x", 2), ""));
// §2.2 lookup-time size rules.
static_assert(detail::lookup_size_or_0(0) == 4);
static_assert(!metacopy_size_at_lookup(1).has_value());
static_assert(!metacopy_size_at_lookup(3).has_value());
static_assert(detail::lookup_size_or_0(4) == 4);
static_assert(detail::lookup_size_or_0(100) == 100);
static_assert(!metacopy_has_digest(4) && metacopy_has_digest(36));
static_assert(xattr_prefix(false) == "trusted.overlay." && xattr_prefix(true) == "user.overlay.");

} // namespace ovlcore
