// SPDX-License-Identifier: MIT
// ovlcore/xattr_view.hpp: the extended attributes an overlay object shows to getxattr(2) and
// listxattr(2): those of its upper entry, else of its top lower entry (for a lower metacopy the
// metacopy file, never the data file), with the overlay's own `P*` xattrs hidden and the escaped
// `P` + "overlay." + X presented as `P` + X (spec §2.1, §6, §9). Users include it (e.g. a FUSE
// server such as the adapter in ovlcore/fuse/); it is part of ovlcore.hpp.
//
// Checked against Linux 6.18 (ext4 layers, caller root):
//   real xattrs of a lower file          listxattr on the overlay (trusted mode)
//   trusted.overlay.overlay.foo          trusted.overlay.foo
//   trusted.overlay.overlayfoo           (hidden: no "." after the second "overlay")
//   trusted.overlay.bar                  (hidden: private)
//   trusted.other, user.*                unchanged (trusted.* only for CAP_SYS_ADMIN callers)
// getxattr(P + X) reads the real P + "overlay." + X, so a private name is never readable;
// getxattr(P) with nothing after the prefix is EINVAL (the VFS refuses an empty suffix).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "backend.hpp"
#include "overlay.hpp"
#include "result.hpp"
#include "xattr.hpp"

namespace ovlcore {

/// Longest xattr name the kernel accepts (XATTR_NAME_MAX).
inline constexpr std::size_t xattr_name_max = 255;

/// The real xattr that getxattr(`name`) on an overlay object reads (spec §2.1): P + X is read as
/// P + "overlay." + X (the overlay's own handler, which escapes every name under its prefix);
/// any other name is read as it is. Errors: EINVAL for the bare prefix P (empty suffix),
/// EOPNOTSUPP when the escaped name would exceed 255 bytes.
/// @see spec §2.1 "Escaping"
[[nodiscard]] inline result<std::string> overlay_xattr_read_name(std::string_view name,
                                                                 bool userxattr) {
    const std::string_view prefix = xattr_prefix(userxattr);
    if (!name.starts_with(prefix)) return std::string(name);
    if (name.size() == prefix.size()) return fail(std::errc::invalid_argument);
    std::string real = escape_xattr_name(name, userxattr);
    if (real.size() > xattr_name_max) return fail(std::errc::operation_not_supported);
    return real;
}

/// How listxattr on an overlay object shows the real xattr `real_name` (spec §2.1): nullopt when
/// hidden (an unescaped P* name, or a trusted.* name for a caller without CAP_SYS_ADMIN), else the
/// presented name (escaped P + "overlay." + X shown as P + X, everything else unchanged).
/// @see spec §2.1 "Escaping"
[[nodiscard]] inline std::optional<std::string>
overlay_xattr_list_name(std::string_view real_name, bool userxattr, bool caller_sees_trusted) {
    auto shown = unescape_xattr_name(real_name, userxattr);
    if (!shown) return std::nullopt;
    // Other trusted.* names are listed only for CAP_SYS_ADMIN (an escaped trusted.overlay.overlay.X
    // is a trusted.* name too).
    if (!caller_sees_trusted && real_name.starts_with("trusted.")) return std::nullopt;
    return shown;
}

namespace detail {

/// The real entry whose xattrs an overlay object shows: upper, else the top lower (spec §2.1).
template <class Overlay>
[[nodiscard]] const auto& xattr_source(const Overlay& ov,
                                       typename Overlay::node_handle n) noexcept {
    return ov.entry(n).real();
}

} // namespace detail

/// getxattr(2) of the overlay object `n`: the value, or nullopt when the attribute is absent
/// (ENODATA). Reads the upper entry, else the top lower entry, never the data file of a metacopy,
/// and never resolves lazy lowerdata (spec §6: getxattr does not trigger it).
/// @see spec §2.1, §6
template <backing_filesystem B, class Trace>
[[nodiscard]] result<std::optional<std::string>>
get_overlay_xattr(const overlay<B, Trace>& ov, typename overlay<B, Trace>::node_handle n,
                  std::string_view name) {
    OVLCORE_TRY_ASSIGN(real_name, overlay_xattr_read_name(name, ov.stack().features().userxattr));
    const auto& real = detail::xattr_source(ov, n);
    return ov.engine().fs().get_xattr(real.handle, real_name);
}

/// getxattr(2) of the overlay object at `path` ("/" or "/a/b", last component not followed).
template <backing_filesystem B, class Trace>
[[nodiscard]] result<std::optional<std::string>>
get_overlay_xattr(const overlay<B, Trace>& ov, std::string_view path, std::string_view name) {
    OVLCORE_TRY_ASSIGN(n, ov.resolve(path));
    return get_overlay_xattr(ov, n, name);
}

/// The names listxattr(2) shows for the overlay object `n`, in the real entry's order (spec
/// §2.1). `caller_sees_trusted`: the caller has CAP_SYS_ADMIN, so trusted.* names other than the
/// overlay's own are listed.
/// @see spec §2.1
template <backing_filesystem B, class Trace>
[[nodiscard]] result<std::vector<std::string>>
list_overlay_xattrs(const overlay<B, Trace>& ov, typename overlay<B, Trace>::node_handle n,
                    bool caller_sees_trusted = true) {
    const auto& real = detail::xattr_source(ov, n);
    OVLCORE_TRY_ASSIGN(names, ov.engine().fs().list_xattr(real.handle));
    const bool userxattr = ov.stack().features().userxattr;
    std::vector<std::string> shown;
    shown.reserve(names.size());
    for (const std::string& name : names)
        if (auto s = overlay_xattr_list_name(name, userxattr, caller_sees_trusted))
            shown.push_back(std::move(*s));
    return shown;
}

/// listxattr(2) at `path`.
template <backing_filesystem B, class Trace>
[[nodiscard]] result<std::vector<std::string>>
list_overlay_xattrs(const overlay<B, Trace>& ov, std::string_view path,
                    bool caller_sees_trusted = true) {
    OVLCORE_TRY_ASSIGN(n, ov.resolve(path));
    return list_overlay_xattrs(ov, n, caller_sees_trusted);
}

/// What listxattr(2) with a zero-size buffer answers for `n`: the byte size of the real entry's
/// unfiltered name list (each name plus its NUL), an upper bound of the filtered list. The
/// kernel filters only when it has a buffer, and a buffer smaller than this unfiltered size gets
/// ERANGE from the real filesystem even if the filtered list would fit.
template <backing_filesystem B, class Trace>
[[nodiscard]] result<std::size_t>
overlay_xattr_list_capacity(const overlay<B, Trace>& ov,
                            typename overlay<B, Trace>::node_handle n) {
    const auto& real = detail::xattr_source(ov, n);
    OVLCORE_TRY_ASSIGN(names, ov.engine().fs().list_xattr(real.handle));
    std::size_t size = 0;
    for (const std::string& name : names) size += name.size() + 1;
    return size;
}

} // namespace ovlcore
