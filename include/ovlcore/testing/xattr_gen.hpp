// SPDX-License-Identifier: MIT
// ovlcore/testing/xattr_gen.hpp: generators of overlay xattr names and values (spec §2): the
// prefix in force, the ignored namespace and the escaped "overlay.overlay." form (§2.1); redirect
// values, valid and not (§2.3); metacopy values of every size class (§2.2); opaque values (§2.1,
// §3). Values use the scenario spelling ("hex:..." for bytes, ovlcore/testing/scenario.hpp).
// Opt-in (target ovlcore::testing, needs rapidcheck); call them inside a generator.
#pragma once

#include <string>
#include <string_view>

#include "random.hpp"

namespace ovlcore::testing {

/// The overlay xattr namespaces of one layer (spec §2.1).
struct xattr_gen_options {
    std::string prefix = "trusted.overlay.";    ///< the overlay xattr prefix in force
    std::string other_prefix = "user.overlay."; ///< the ignored namespace, used now and then
    bool user_xattrs_only = false;              ///< userxattr: no trusted.* at all
};

/// The name of the overlay xattr `suffix` ("opaque", "redirect", ...): mostly with the prefix in
/// force, sometimes in the ignored namespace or the escaped ("overlay.overlay.") form, which
/// lookups must not honour (§2.1).
inline std::string xattr_name(const xattr_gen_options& o, std::string_view suffix) {
    const int which =
        o.user_xattrs_only ? pick<int>({{20, 0}, {1, 2}}) : pick<int>({{20, 0}, {2, 1}, {1, 2}});
    if (which == 1) return o.other_prefix + std::string(suffix);
    if (which == 2) return o.prefix + "overlay." + std::string(suffix);
    return o.prefix + std::string(suffix);
}

/// A redirect value (§2.3): relative or absolute, valid or not, existing target or not. Metacopy
/// files get absolute ones more often (§5.3).
inline std::string random_redirect(bool metacopy_file) {
    const int kind = metacopy_file ? pick<int>({{45, 1}, {10, 0}, {5, 2}, {3, 3}, {2, 4}})
                                   : pick<int>({{30, 0}, {45, 1}, {8, 2}, {5, 3}, {3, 4}});
    switch (kind) {
    case 0: return random_name();     // relative: same parent, new name
    case 1: return random_abs_path(); // absolute: from the lower roots
    case 2:                           // invalid: EINVAL when read
        return pick<std::string>(
            {{2, ""}, {2, "/"}, {2, "//a"}, {2, "/a/"}, {2, "a/b"}, {1, "/a//b"}});
    case 3: // "." and ".." components: EACCES through normal layers (§2.3)
        return pick<std::string>({{2, "/./a"}, {2, "/../a"}, {1, "."}, {1, ".."}, {1, "/a/../b"}});
    default: // a NUL byte: the value is used up to it (§2.3)
        return pick<std::string>({{2, "hex:2f6100"},     // "/a\0"
                                  {2, "hex:6200"},       // "b\0"
                                  {1, "hex:2f61002f2f"}, // "/a\0//"
                                  {1, "hex:00"}});       // "\0"
    }
}

/// A metacopy xattr value (§2.2): empty (the common case), 1-3 bytes (EIO at lookup), the bare
/// 4-byte header, a SHA-256 digest struct, or junk (never parsed with verity=off).
inline std::string random_metacopy_value() {
    return pick<std::string>(
        {{40, ""},
         {2, "hex:00"},
         {2, "hex:0003"},
         {2, "hex:00040000"},
         {2,
          "hex:0024000111111111111111111111111111111111111111111111111111111111"
          "11111111"},
         {1, "junk-metacopy-value"},
         {1, std::string(80, 'j')}}); // > 68 bytes: ERANGE with verity (§2.2)
}

/// An opaque value (§2.1, §3): "y" stops the lower lookup, "x" marks a dir holding xattr
/// whiteouts (preferred when `has_xwhiteout_child`), anything else is a no-op.
inline std::string random_opaque_value(bool has_xwhiteout_child) {
    return has_xwhiteout_child && chance(600) ? std::string("x")
                                              : pick<std::string>({{10, "y"},
                                                                   {6, "x"},
                                                                   {1, "yes"},
                                                                   {1, "Y"},
                                                                   {1, "n"},
                                                                   {1, ""},
                                                                   {1, "hex:7900"}});
}

} // namespace ovlcore::testing
