// SPDX-License-Identifier: MIT
// ovlcore/result.hpp: result<T>, a value or the errno the kernel would report (spec §5.6). Users include it.
//
// The API is a subset of C++23 std::expected<T, std::errc>: has_value(), operator bool, value(),
// operator*, operator->, error(), value_or(). ENOENT, EIO, EPERM... are answers, not exceptions.
#pragma once

#include <cerrno>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include "config.hpp"

namespace ovlcore {

/// The error half of a result: an errno value. Implicitly converts to any result<T>.
struct failure {
    std::errc code;
};

/// Shorthand: `return fail(std::errc::io_error);`
[[nodiscard]] constexpr failure fail(std::errc code) noexcept { return failure{code}; }

/// From a raw errno value (e.g. after a failed syscall). Precondition: e > 0.
[[nodiscard]] constexpr failure fail_errno(int e) noexcept { return failure{static_cast<std::errc>(e)}; }

/// A T, or the errno that explains why there is none.
template <class T>
class [[nodiscard]] result {
    static_assert(!std::is_reference_v<T>, "result<T&> is not supported; use a pointer");

public:
    using value_type = T;

    constexpr result() requires std::is_default_constructible_v<T> : m_state(std::in_place_index<0>) {}
    constexpr result(const T& v) : m_state(std::in_place_index<0>, v) {}
    constexpr result(T&& v) : m_state(std::in_place_index<0>, std::move(v)) {}
    template <class U>
        requires(std::is_constructible_v<T, U&&> && !std::is_same_v<std::remove_cvref_t<U>, T> &&
                 !std::is_same_v<std::remove_cvref_t<U>, failure> &&
                 !std::is_same_v<std::remove_cvref_t<U>, result>)
    constexpr result(U&& v) : m_state(std::in_place_index<0>, T(std::forward<U>(v))) {}
    constexpr result(failure f) : m_state(std::in_place_index<1>, f.code) {}

    [[nodiscard]] constexpr bool has_value() const noexcept { return m_state.index() == 0; }
    constexpr explicit operator bool() const noexcept { return has_value(); }

    [[nodiscard]] constexpr T& value() & {
        OVLCORE_ASSERT(has_value());
        return *std::get_if<0>(&m_state);
    }
    [[nodiscard]] constexpr const T& value() const& {
        OVLCORE_ASSERT(has_value());
        return *std::get_if<0>(&m_state);
    }
    [[nodiscard]] constexpr T&& value() && {
        OVLCORE_ASSERT(has_value());
        return std::move(*std::get_if<0>(&m_state));
    }
    constexpr T& operator*() & { return value(); }
    constexpr const T& operator*() const& { return value(); }
    constexpr T&& operator*() && { return std::move(*this).value(); }
    constexpr T* operator->() { return &value(); }
    constexpr const T* operator->() const { return &value(); }

    /// The errno. Precondition: !has_value().
    [[nodiscard]] constexpr std::errc error() const noexcept {
        OVLCORE_ASSERT(!has_value());
        return *std::get_if<1>(&m_state);
    }

    template <class U>
    [[nodiscard]] constexpr T value_or(U&& fallback) const& {
        return has_value() ? value() : static_cast<T>(std::forward<U>(fallback));
    }

private:
    std::variant<T, std::errc> m_state;
};

/// result<void>: success, or an errno.
template <>
class [[nodiscard]] result<void> {
public:
    using value_type = void;
    constexpr result() noexcept = default;
    constexpr result(failure f) noexcept : m_error(f.code), m_ok(false) {}

    [[nodiscard]] constexpr bool has_value() const noexcept { return m_ok; }
    constexpr explicit operator bool() const noexcept { return m_ok; }
    constexpr void value() const { OVLCORE_ASSERT(m_ok); }
    [[nodiscard]] constexpr std::errc error() const noexcept {
        OVLCORE_ASSERT(!m_ok);
        return m_error;
    }

private:
    std::errc m_error{};
    bool m_ok = true;
};

/// Propagates the error of a result into the enclosing function's result.
#define OVLCORE_TRY_ASSIGN(var, expr)                                                              \
    auto var##_ovlcore_result = (expr);                                                            \
    if (!var##_ovlcore_result) return ::ovlcore::fail(var##_ovlcore_result.error());              \
    auto var = std::move(*var##_ovlcore_result)

#define OVLCORE_TRY(expr)                                                                          \
    do {                                                                                           \
        auto ovlcore_try_result_ = (expr);                                                         \
        if (!ovlcore_try_result_) return ::ovlcore::fail(ovlcore_try_result_.error());            \
    } while (0)

namespace detail {
struct errno_entry {
    int value;
    std::string_view name;
};
// Every Linux errno (x86_64 numbering, from the C library headers), canonical name per value.
inline constexpr errno_entry errno_table[] = {
    {EPERM, "EPERM"},
    {ENOENT, "ENOENT"},
    {ESRCH, "ESRCH"},
    {EINTR, "EINTR"},
    {EIO, "EIO"},
    {ENXIO, "ENXIO"},
    {E2BIG, "E2BIG"},
    {ENOEXEC, "ENOEXEC"},
    {EBADF, "EBADF"},
    {ECHILD, "ECHILD"},
    {EAGAIN, "EAGAIN"},
    {ENOMEM, "ENOMEM"},
    {EACCES, "EACCES"},
    {EFAULT, "EFAULT"},
    {ENOTBLK, "ENOTBLK"},
    {EBUSY, "EBUSY"},
    {EEXIST, "EEXIST"},
    {EXDEV, "EXDEV"},
    {ENODEV, "ENODEV"},
    {ENOTDIR, "ENOTDIR"},
    {EISDIR, "EISDIR"},
    {EINVAL, "EINVAL"},
    {ENFILE, "ENFILE"},
    {EMFILE, "EMFILE"},
    {ENOTTY, "ENOTTY"},
    {ETXTBSY, "ETXTBSY"},
    {EFBIG, "EFBIG"},
    {ENOSPC, "ENOSPC"},
    {ESPIPE, "ESPIPE"},
    {EROFS, "EROFS"},
    {EMLINK, "EMLINK"},
    {EPIPE, "EPIPE"},
    {EDOM, "EDOM"},
    {ERANGE, "ERANGE"},
    {EDEADLK, "EDEADLK"},
    {ENAMETOOLONG, "ENAMETOOLONG"},
    {ENOLCK, "ENOLCK"},
    {ENOSYS, "ENOSYS"},
    {ENOTEMPTY, "ENOTEMPTY"},
    {ELOOP, "ELOOP"},
    {ENOMSG, "ENOMSG"},
    {EIDRM, "EIDRM"},
    {ECHRNG, "ECHRNG"},
    {EL2NSYNC, "EL2NSYNC"},
    {EL3HLT, "EL3HLT"},
    {EL3RST, "EL3RST"},
    {ELNRNG, "ELNRNG"},
    {EUNATCH, "EUNATCH"},
    {ENOCSI, "ENOCSI"},
    {EL2HLT, "EL2HLT"},
    {EBADE, "EBADE"},
    {EBADR, "EBADR"},
    {EXFULL, "EXFULL"},
    {ENOANO, "ENOANO"},
    {EBADRQC, "EBADRQC"},
    {EBADSLT, "EBADSLT"},
    {EBFONT, "EBFONT"},
    {ENOSTR, "ENOSTR"},
    {ENODATA, "ENODATA"},
    {ETIME, "ETIME"},
    {ENOSR, "ENOSR"},
    {ENONET, "ENONET"},
    {ENOPKG, "ENOPKG"},
    {EREMOTE, "EREMOTE"},
    {ENOLINK, "ENOLINK"},
    {EADV, "EADV"},
    {ESRMNT, "ESRMNT"},
    {ECOMM, "ECOMM"},
    {EPROTO, "EPROTO"},
    {EMULTIHOP, "EMULTIHOP"},
    {EDOTDOT, "EDOTDOT"},
    {EBADMSG, "EBADMSG"},
    {EOVERFLOW, "EOVERFLOW"},
    {ENOTUNIQ, "ENOTUNIQ"},
    {EBADFD, "EBADFD"},
    {EREMCHG, "EREMCHG"},
    {ELIBACC, "ELIBACC"},
    {ELIBBAD, "ELIBBAD"},
    {ELIBSCN, "ELIBSCN"},
    {ELIBMAX, "ELIBMAX"},
    {ELIBEXEC, "ELIBEXEC"},
    {EILSEQ, "EILSEQ"},
    {ERESTART, "ERESTART"},
    {ESTRPIPE, "ESTRPIPE"},
    {EUSERS, "EUSERS"},
    {ENOTSOCK, "ENOTSOCK"},
    {EDESTADDRREQ, "EDESTADDRREQ"},
    {EMSGSIZE, "EMSGSIZE"},
    {EPROTOTYPE, "EPROTOTYPE"},
    {ENOPROTOOPT, "ENOPROTOOPT"},
    {EPROTONOSUPPORT, "EPROTONOSUPPORT"},
    {ESOCKTNOSUPPORT, "ESOCKTNOSUPPORT"},
    {EOPNOTSUPP, "EOPNOTSUPP"},
    {EPFNOSUPPORT, "EPFNOSUPPORT"},
    {EAFNOSUPPORT, "EAFNOSUPPORT"},
    {EADDRINUSE, "EADDRINUSE"},
    {EADDRNOTAVAIL, "EADDRNOTAVAIL"},
    {ENETDOWN, "ENETDOWN"},
    {ENETUNREACH, "ENETUNREACH"},
    {ENETRESET, "ENETRESET"},
    {ECONNABORTED, "ECONNABORTED"},
    {ECONNRESET, "ECONNRESET"},
    {ENOBUFS, "ENOBUFS"},
    {EISCONN, "EISCONN"},
    {ENOTCONN, "ENOTCONN"},
    {ESHUTDOWN, "ESHUTDOWN"},
    {ETOOMANYREFS, "ETOOMANYREFS"},
    {ETIMEDOUT, "ETIMEDOUT"},
    {ECONNREFUSED, "ECONNREFUSED"},
    {EHOSTDOWN, "EHOSTDOWN"},
    {EHOSTUNREACH, "EHOSTUNREACH"},
    {EALREADY, "EALREADY"},
    {EINPROGRESS, "EINPROGRESS"},
    {ESTALE, "ESTALE"},
    {EUCLEAN, "EUCLEAN"},
    {ENOTNAM, "ENOTNAM"},
    {ENAVAIL, "ENAVAIL"},
    {EISNAM, "EISNAM"},
    {EREMOTEIO, "EREMOTEIO"},
    {EDQUOT, "EDQUOT"},
    {ENOMEDIUM, "ENOMEDIUM"},
    {EMEDIUMTYPE, "EMEDIUMTYPE"},
    {ECANCELED, "ECANCELED"},
    {ENOKEY, "ENOKEY"},
    {EKEYEXPIRED, "EKEYEXPIRED"},
    {EKEYREVOKED, "EKEYREVOKED"},
    {EKEYREJECTED, "EKEYREJECTED"},
    {EOWNERDEAD, "EOWNERDEAD"},
    {ENOTRECOVERABLE, "ENOTRECOVERABLE"},
    {ERFKILL, "ERFKILL"},
};
} // namespace detail

/// "ENOENT" for ENOENT; "EUNKNOWN" for a value that is no Linux errno. Never empty.
[[nodiscard]] inline std::string_view errno_name(std::errc e) noexcept {
    const int v = static_cast<int>(e);
    for (const auto& entry : detail::errno_table)
        if (entry.value == v) return entry.name;
    return "EUNKNOWN";
}

/// The errno named by `name` ("ENOENT"), or std::errc{} (0) when unknown.
[[nodiscard]] inline std::errc errno_from_name(std::string_view name) noexcept {
    for (const auto& entry : detail::errno_table)
        if (entry.name == name) return static_cast<std::errc>(entry.value);
    return std::errc{};
}

/// The raw errno value, e.g. for a FUSE reply.
[[nodiscard]] constexpr int errno_value(std::errc e) noexcept { return static_cast<int>(e); }

} // namespace ovlcore
