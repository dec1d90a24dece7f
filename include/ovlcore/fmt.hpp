// SPDX-License-Identifier: MIT
// ovlcore/fmt.hpp: opt-in {fmt} (9 or later) formatters for ovlcore's value types. Not part of the
// umbrella ovlcore.hpp and the only ovlcore header that includes <fmt/format.h>: include it (and
// link fmt::fmt) only if you use {fmt}.
//
//   fmt::format("{}", std::errc::no_such_file_or_directory)  "ENOENT"       (errno_name)
//   fmt::format("{}", file_type::directory)                  "dir"          (dump_name)
//   fmt::format("{}", layer_kind::data_only)                 "data-only"    (to_string)
//   fmt::format("{}", redirect_mode::nofollow)               "nofollow"     (to_string; likewise
//                                                                            verity_mode,
//                                                                            uuid_mode, xino_mode,
//                                                                            fsync_mode)
//   fmt::format("{}", timestamp{5, 7})                       "5.000000007"
//   fmt::format("{}", st)    "reg 0644 0:0 size=7 nlink=1 ino=12 dev=2049"  (+ " rdev=1:3" for a
//                            chr/blk device)
//   fmt::format("{:f}", st)  every field: "... dev=2049 rdev=0:0 blocks=8 blksize=4096
//                            atime=S.N mtime=S.N ctime=S.N" (what operator== compares)
//   fmt::format("{}", e)     dir_entry: "\"name\" reg ino=12" (the name quoted and escaped)
//   fmt::format("{}", r)     result<T>: the value, formatted with T's formatter and the same
//                            format spec ("{:f}" of a result<stat_info>), or the errno name;
//                            result<void>: "ok" or the errno name
// The names (enums, std::errc) honour the string format spec: "{:>6}" pads, as for a string.
#pragma once

#include <string_view>
#include <system_error>
#include <type_traits>

#include <fmt/format.h>

#include "options.hpp"
#include "result.hpp"
#include "types.hpp"

namespace ovlcore::detail {

// The text fmt.hpp shows for each named value.
[[nodiscard]] inline std::string_view fmt_name(std::errc e) noexcept { return errno_name(e); }
[[nodiscard]] constexpr std::string_view fmt_name(file_type t) noexcept { return dump_name(t); }
[[nodiscard]] constexpr std::string_view fmt_name(layer_kind k) noexcept { return to_string(k); }
[[nodiscard]] constexpr std::string_view fmt_name(redirect_mode m) noexcept { return to_string(m); }
[[nodiscard]] constexpr std::string_view fmt_name(verity_mode m) noexcept { return to_string(m); }
[[nodiscard]] constexpr std::string_view fmt_name(uuid_mode m) noexcept { return to_string(m); }
[[nodiscard]] constexpr std::string_view fmt_name(xino_mode m) noexcept { return to_string(m); }
[[nodiscard]] constexpr std::string_view fmt_name(fsync_mode m) noexcept { return to_string(m); }

/// A value shown as its name, with the format spec of a string.
template <class E>
struct fmt_name_formatter : fmt::formatter<std::string_view> {
    template <class FormatContext>
    auto format(E value, FormatContext& ctx) const -> decltype(ctx.out()) {
        return fmt::formatter<std::string_view>::format(fmt_name(value), ctx);
    }
};

/// A format spec with no options: "{}".
struct fmt_no_spec {
    constexpr auto parse(fmt::format_parse_context& ctx) -> decltype(ctx.begin()) {
        auto it = ctx.begin();
        if (it != ctx.end() && *it != '}') FMT_THROW(fmt::format_error("invalid format spec"));
        return it;
    }
};

} // namespace ovlcore::detail

template <>
struct fmt::formatter<std::errc> : ovlcore::detail::fmt_name_formatter<std::errc> {};
template <>
struct fmt::formatter<ovlcore::file_type>
    : ovlcore::detail::fmt_name_formatter<ovlcore::file_type> {};
template <>
struct fmt::formatter<ovlcore::layer_kind>
    : ovlcore::detail::fmt_name_formatter<ovlcore::layer_kind> {};
template <>
struct fmt::formatter<ovlcore::redirect_mode>
    : ovlcore::detail::fmt_name_formatter<ovlcore::redirect_mode> {};
template <>
struct fmt::formatter<ovlcore::verity_mode>
    : ovlcore::detail::fmt_name_formatter<ovlcore::verity_mode> {};
template <>
struct fmt::formatter<ovlcore::uuid_mode>
    : ovlcore::detail::fmt_name_formatter<ovlcore::uuid_mode> {};
template <>
struct fmt::formatter<ovlcore::xino_mode>
    : ovlcore::detail::fmt_name_formatter<ovlcore::xino_mode> {};
template <>
struct fmt::formatter<ovlcore::fsync_mode>
    : ovlcore::detail::fmt_name_formatter<ovlcore::fsync_mode> {};

/// "SEC.NSEC", nanoseconds with nine digits.
template <>
struct fmt::formatter<ovlcore::timestamp> : ovlcore::detail::fmt_no_spec {
    template <class FormatContext>
    auto format(const ovlcore::timestamp& t, FormatContext& ctx) const -> decltype(ctx.out()) {
        return fmt::format_to(ctx.out(), "{}.{:09}", t.sec, t.nsec);
    }
};

/// "{}": type, mode (octal), uid:gid, size, nlink, ino, dev, and rdev for a device;
/// "{:f}": every field, in declaration order.
template <>
struct fmt::formatter<ovlcore::stat_info> {
    bool full = false;

    constexpr auto parse(fmt::format_parse_context& ctx) -> decltype(ctx.begin()) {
        auto it = ctx.begin();
        if (it != ctx.end() && *it == 'f') {
            full = true;
            ++it;
        }
        if (it != ctx.end() && *it != '}')
            FMT_THROW(fmt::format_error("invalid format spec for stat_info: {} or {:f}"));
        return it;
    }

    template <class FormatContext>
    auto format(const ovlcore::stat_info& st, FormatContext& ctx) const -> decltype(ctx.out()) {
        auto out =
            fmt::format_to(ctx.out(), "{} {:04o} {}:{} size={} nlink={} ino={} dev={}", st.type,
                           st.mode, st.uid, st.gid, st.size, st.nlink, st.ino, st.dev);
        const bool device = st.type == ovlcore::file_type::char_device ||
                            st.type == ovlcore::file_type::block_device;
        if (full || device) out = fmt::format_to(out, " rdev={}:{}", st.rdev_major, st.rdev_minor);
        if (full)
            out = fmt::format_to(out, " blocks={} blksize={} atime={} mtime={} ctime={}", st.blocks,
                                 st.blksize, st.atime, st.mtime, st.ctime);
        return out;
    }
};

/// The name quoted and escaped as "{:?}" shows a string, then the type and d_ino.
template <>
struct fmt::formatter<ovlcore::dir_entry> : ovlcore::detail::fmt_no_spec {
    template <class FormatContext>
    auto format(const ovlcore::dir_entry& e, FormatContext& ctx) const -> decltype(ctx.out()) {
        return fmt::format_to(ctx.out(), "{:?} {} ino={}", std::string_view(e.name), e.type, e.ino);
    }
};

/// The value with T's formatter (and the same spec), or the errno name.
template <class T>
struct fmt::formatter<ovlcore::result<T>, char, std::enable_if_t<fmt::is_formattable<T>::value>>
    : fmt::formatter<T> {
    template <class FormatContext>
    auto format(const ovlcore::result<T>& r, FormatContext& ctx) const -> decltype(ctx.out()) {
        if (r) return fmt::formatter<T>::format(*r, ctx);
        return fmt::format_to(ctx.out(), "{}", ovlcore::errno_name(r.error()));
    }
};

/// "ok", or the errno name.
template <>
struct fmt::formatter<ovlcore::result<void>> : ovlcore::detail::fmt_no_spec {
    template <class FormatContext>
    auto format(const ovlcore::result<void>& r, FormatContext& ctx) const -> decltype(ctx.out()) {
        return fmt::format_to(ctx.out(), "{}",
                              r ? std::string_view("ok") : ovlcore::errno_name(r.error()));
    }
};
