// SPDX-License-Identifier: MIT
// ovlcore/extensions.hpp: opt-in ovlcore behaviour that Linux 6.18 does not have, kept apart from
// the mount options (feature_set) so that the two are never confused: data-only-scoped redirects
// (`//path`) and the strict variant for image builders (spec §2.3, §5.1 step 8, §5.3, §6, §10 Q1).
// Users include it (through overlay.hpp) to choose an extension; the default is the kernel.
//
// Data-only-scoped redirects ("scoped redirects").
//   Problem (spec §10 Q1, §12 case 16): with `lowerdir=A:B::C` a metacopy file in A whose
//   redirect is `/some/file` is meant to take its data from the data-only layer C, but the kernel
//   first walks the normal lowers: a regular `B/some/file` silently wins, and a mere directory
//   `B/some` makes the lookup fail with EIO.
//
//   data_redirect_scope::kernel (default): exactly Linux 6.18. A redirect value starting with
//   `//` is invalid (EINVAL, spec §2.3) wherever the kernel reads it.
//
//   data_redirect_scope::scoped: a redirect value `//c1/.../cn` (the rest, `/c1/.../cn`, a valid
//   absolute redirect of spec §2.3) read from a metacopy regular file found in a NORMAL LOWER
//   layer means "look `/c1/.../cn` up in the data-only layers only". The lookup of that name then
//   stops searching the normal lowers below (no layer below the metacopy file is consulted for
//   it) and ends in the lazy data slot of spec §5.3: the data is resolved at first open in the
//   data-only layers, in mount order, with the walk rules and errnos of spec §6 (no symlinks,
//   never above the layer root, first regular file wins, errno of the last layer tried), through
//   the same per-object cache; stat never resolves it. Everywhere else the kernel is kept:
//     - a `//` value on a directory (upper or lower) or on an upper metacopy file: EINVAL, as in
//       the kernel (an upper metacopy never reaches data-only layers directly: spec §6);
//     - where the kernel does not read a redirect at all (a non-metacopy file, an opaque dir, the
//       last searched layer without data-only layers, spec §5.3), the value is not read either;
//     - `//`, `///x`, `//x/`, `//x//y`: EINVAL (the rest must be a valid absolute redirect);
//     - a stack without data-only layers: nothing can hold the data, so the lookup ends as a
//       metacopy without data: EIO, or EPERM where the options refuse the metacopy or redirect
//       (the kernel's checks of spec §5.3, unchanged);
//     - permissions: like the kernel's lower->data case (6.16, spec §5.3), which is the same
//       situation, a scoped redirect needs neither metacopy=on nor redirect following; a
//       metacopy or redirect seen ABOVE it (e.g. an upper metacopy under metacopy=off) is
//       still refused with EPERM, as in the kernel;
//     - redirect_dir=off/nofollow and userxattr change nothing: the value is read from
//       `user.overlay.redirect` under userxattr, and directory redirects follow spec §5.4;
//     - absolute (`/x`) and relative redirects keep their kernel meaning.
//
//   data_redirect_scope::strict: for image builders checking what an existing image would do
//   under scoping. Like `scoped`, and in addition an absolute redirect `/x` read from a metacopy
//   file in a normal lower layer is taken as `//x`. Upper metacopy files and directories keep the
//   kernel's meaning.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "result.hpp"
#include "xattr.hpp"

namespace ovlcore {

/// How redirects of lower metacopy files reach data-only layers (see the header comment).
enum class data_redirect_scope : std::uint8_t {
    kernel, ///< Linux 6.18: `//` is invalid, `/x` searches the normal lowers first (spec §5.3)
    scoped, ///< `//x` on a lower metacopy file: data-only layers only (ovlcore extension)
    strict, ///< as scoped, and `/x` on a lower metacopy file is read as `//x`
};

[[nodiscard]] constexpr std::string_view to_string(data_redirect_scope s) noexcept {
    switch (s) {
    case data_redirect_scope::kernel: return "kernel";
    case data_redirect_scope::scoped: return "scoped";
    case data_redirect_scope::strict: return "strict";
    }
    return "?";
}

/// "kernel", "scoped" or "strict" (the `--data-redirects=` values of ovl-tree and ovl-lint).
[[nodiscard]] constexpr std::optional<data_redirect_scope>
parse_data_redirect_scope(std::string_view text) noexcept {
    if (text == "kernel") return data_redirect_scope::kernel;
    if (text == "scoped") return data_redirect_scope::scoped;
    if (text == "strict") return data_redirect_scope::strict;
    return std::nullopt;
}

/// ovlcore behaviour beyond the kernel's. Not mount options: a layer_stack's feature_set never
/// holds them, and the default-constructed value is exactly Linux 6.18.
struct extensions {
    data_redirect_scope data_redirects = data_redirect_scope::kernel;
    friend constexpr bool operator==(const extensions&, const extensions&) = default;
};

/// What a redirect value read by the lookup means (spec §2.3 and the scoped extension).
enum class redirect_form : std::uint8_t {
    relative,  ///< replaces the current name within the same parent (spec §2.3)
    absolute,  ///< restarts from the normal lower roots (spec §5.4)
    data_only, ///< scoped: the absolute `path` is looked up in the data-only layers only
};

struct parsed_redirect {
    redirect_form form = redirect_form::relative;
    std::string_view path; ///< relative name, or absolute path with a single leading '/'
    friend constexpr bool operator==(const parsed_redirect&, const parsed_redirect&) = default;
};

/// Validates and classifies a redirect xattr value read from a real entry (spec §2.3), under the
/// extension `scope`. `lower_metacopy` says the value was read from a metacopy regular file in a
/// normal lower layer, the only place a data-only scope is recognised. Under `kernel`, or for any
/// other entry, this is validate_redirect() exactly (so `//x` is EINVAL).
/// @see spec §2.3, extensions.hpp header comment
[[nodiscard]] constexpr result<parsed_redirect>
parse_redirect(std::string_view raw, data_redirect_scope scope, bool lower_metacopy) noexcept {
    if (scope != data_redirect_scope::kernel && lower_metacopy && !raw.empty()) {
        const std::string_view text = redirect_text(raw);
        if (text.starts_with("//")) {
            const std::string_view rest = text.substr(1);
            if (!is_valid_absolute_redirect(rest)) return fail(std::errc::invalid_argument);
            return parsed_redirect{.form = redirect_form::data_only, .path = rest};
        }
    }
    OVLCORE_TRY_ASSIGN(text, validate_redirect(raw));
    if (!is_absolute_redirect(text))
        return parsed_redirect{.form = redirect_form::relative, .path = text};
    if (scope == data_redirect_scope::strict && lower_metacopy)
        return parsed_redirect{.form = redirect_form::data_only, .path = text};
    return parsed_redirect{.form = redirect_form::absolute, .path = text};
}

namespace detail {
constexpr bool redirect_form_is(std::string_view raw, data_redirect_scope s, bool lower_mc,
                                redirect_form form, std::string_view path) {
    const auto r = parse_redirect(raw, s, lower_mc);
    return r.has_value() && r->form == form && r->path == path;
}
constexpr bool redirect_invalid(std::string_view raw, data_redirect_scope s, bool lower_mc) {
    return !parse_redirect(raw, s, lower_mc).has_value();
}
} // namespace detail

// The definition above, checked at compile time.
static_assert(detail::redirect_invalid("//d/f", data_redirect_scope::kernel, true));
static_assert(detail::redirect_form_is("//d/f", data_redirect_scope::scoped, true,
                                       redirect_form::data_only, "/d/f"));
static_assert(detail::redirect_invalid("//d/f", data_redirect_scope::scoped, false));
static_assert(detail::redirect_invalid("//", data_redirect_scope::scoped, true));
static_assert(detail::redirect_invalid("///d", data_redirect_scope::scoped, true));
static_assert(detail::redirect_invalid("//d/", data_redirect_scope::scoped, true));
static_assert(detail::redirect_invalid("//d//f", data_redirect_scope::scoped, true));
static_assert(detail::redirect_invalid("", data_redirect_scope::scoped, true));
static_assert(detail::redirect_form_is("/d/f", data_redirect_scope::scoped, true,
                                       redirect_form::absolute, "/d/f"));
static_assert(detail::redirect_form_is("/d/f", data_redirect_scope::strict, true,
                                       redirect_form::data_only, "/d/f"));
static_assert(detail::redirect_form_is("/d/f", data_redirect_scope::strict, false,
                                       redirect_form::absolute, "/d/f"));
static_assert(detail::redirect_form_is("f", data_redirect_scope::strict, true,
                                       redirect_form::relative, "f"));
static_assert(detail::redirect_form_is(std::string_view("//d\0/", 5), data_redirect_scope::scoped,
                                       true, redirect_form::data_only, "/d"));

} // namespace ovlcore
