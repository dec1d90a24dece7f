// SPDX-License-Identifier: MIT
// ovlcore/whiteout.hpp: whiteout predicates (char 0:0, xattr whiteouts) and the interpretation of
// the opaque xattr (spec §3, §2.1). Users may include it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "backend.hpp"
#include "result.hpp"
#include "types.hpp"
#include "xattr.hpp"

namespace ovlcore {

/// A character device with rdev 0:0 is a whiteout, whatever its mode or owner (spec §3). A block
/// device 0:0 or a char device 1:3 is not.
[[nodiscard]] constexpr bool is_char_whiteout(const stat_info& st) noexcept {
    return st.type == file_type::char_device && st.rdev_major == 0 && st.rdev_minor == 0;
}

/// Only a regular file of size 0 can be an xattr whiteout ("xwhiteout", spec §3); the whiteout
/// xattr on anything else is ignored.
[[nodiscard]] constexpr bool may_be_xwhiteout(const stat_info& st) noexcept {
    return st.type == file_type::regular && st.size == 0;
}

/// The meaning of an `opaque` xattr value (spec §2.1): exactly one byte `y` or `x`, else none.
enum class opaque_value : std::uint8_t { none, y, x };

[[nodiscard]] constexpr opaque_value
interpret_opaque(std::optional<std::string_view> value) noexcept {
    if (!value || value->size() != 1) return opaque_value::none;
    if ((*value)[0] == 'y') return opaque_value::y;
    if ((*value)[0] == 'x') return opaque_value::x;
    return opaque_value::none;
}

static_assert(interpret_opaque(std::string_view("y")) == opaque_value::y);
static_assert(interpret_opaque(std::string_view("x")) == opaque_value::x);
static_assert(interpret_opaque(std::string_view("yes")) == opaque_value::none);
static_assert(interpret_opaque(std::string_view("Y")) == opaque_value::none);
static_assert(interpret_opaque(std::string_view("n")) == opaque_value::none);
static_assert(interpret_opaque(std::string_view("")) == opaque_value::none);
static_assert(interpret_opaque(std::nullopt) == opaque_value::none);

/// True if the real object `h` with stat `st` is a whiteout of either kind (spec §3).
/// Reading the whiteout xattr fails soft: an error means "not a whiteout", as in the kernel.
template <backing_filesystem B>
[[nodiscard]] bool is_whiteout(const B& fs, const typename B::handle& h, const stat_info& st,
                               bool userxattr) {
    if (is_char_whiteout(st)) return true;
    if (!may_be_xwhiteout(st)) return false;
    const auto value = fs.get_xattr(h, xattr_name(ovl_xattr::whiteout, userxattr));
    return value && value->has_value();
}

/// The opaque value of the real directory `dir`. Errors read as "none" (spec §2.1: any value that
/// is not one byte `y`/`x` has no effect; a failing read has none either).
template <backing_filesystem B>
[[nodiscard]] opaque_value read_opaque(const B& fs, const typename B::handle& dir, bool userxattr) {
    const auto value = fs.get_xattr(dir, xattr_name(ovl_xattr::opaque, userxattr));
    if (!value || !value->has_value()) return opaque_value::none;
    return interpret_opaque(std::string_view(**value));
}

} // namespace ovlcore
