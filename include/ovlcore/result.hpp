// SPDX-License-Identifier: MIT
// ovlcore/result.hpp: result<T, E>, a value or the error the kernel would report: by default the
// errno (spec §5.6), for mount-time failures a mount_error (spec §1). Users include it.
//
// The API is a subset of C++23 std::expected<T, E>: has_value(), operator bool, value(),
// operator*, operator->, error(), value_or(); fail() plays std::unexpected. ENOENT, EIO, EPERM...
// are answers, not exceptions.
#pragma once

#include <cerrno>
#include <concepts>
#include <optional>
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
[[nodiscard]] constexpr failure fail_errno(int e) noexcept {
    return failure{static_cast<std::errc>(e)};
}

/// The error half of a result<T, E> whose E is richer than an errno (like C++23 std::unexpected),
/// e.g. `return fail(mount_error{...});`.
template <class E>
struct unexpected {
    E error;
};

[[nodiscard]] constexpr std::errc to_errc(std::errc e) noexcept { return e; }

/// An error type that carries an errno: `to_errc(e)` (found by ADL) gives it. std::errc itself,
/// and mount_error (mount_error.hpp), are such types.
template <class E>
concept errno_carrier = requires(const E& e) {
    { to_errc(e) } -> std::same_as<std::errc>;
};

/// `return fail(mount_error{...});`: the error half of a result<T, mount_error>.
template <class E>
    requires(!std::is_same_v<std::remove_cvref_t<E>, std::errc>)
[[nodiscard]] constexpr unexpected<std::remove_cvref_t<E>> fail(E&& error) {
    return unexpected<std::remove_cvref_t<E>>{std::forward<E>(error)};
}

namespace detail {
template <class U>
inline constexpr bool is_unexpected_v = false;
template <class E>
inline constexpr bool is_unexpected_v<unexpected<E>> = true;
} // namespace detail

/// A T, or the error that explains why there is none: by default the errno (spec §5.6); for
/// mount-time failures a mount_error (errno, the kernel's message and notes, spec §1).
template <class T, class E = std::errc>
class [[nodiscard]] result {
    static_assert(!std::is_reference_v<T>, "result<T&> is not supported; use a pointer");
    static_assert(!std::is_same_v<T, E>, "result<T, T> would be ambiguous");

    /// error(): an errno by value, a richer error by reference.
    using error_return = std::conditional_t<std::is_same_v<E, std::errc>, std::errc, const E&>;

public:
    using value_type = T;
    using error_type = E;

    constexpr result() requires std::is_default_constructible_v<T>
        : m_state(std::in_place_index<0>) {}
    constexpr result(const T& v) : m_state(std::in_place_index<0>, v) {}
    constexpr result(T&& v) : m_state(std::in_place_index<0>, std::move(v)) {}
    template <class U>
        requires(std::is_constructible_v<T, U&&> && !std::is_same_v<std::remove_cvref_t<U>, T> &&
                 !std::is_same_v<std::remove_cvref_t<U>, failure> &&
                 !detail::is_unexpected_v<std::remove_cvref_t<U>> &&
                 !std::is_same_v<std::remove_cvref_t<U>, result>)
    constexpr result(U&& v) : m_state(std::in_place_index<0>, T(std::forward<U>(v))) {}
    /// An errno: only for result<T> (E = std::errc).
    constexpr result(failure f) requires std::is_same_v<E, std::errc>
        : m_state(std::in_place_index<1>, f.code) {}
    constexpr result(unexpected<E> u) : m_state(std::in_place_index<1>, std::move(u.error)) {}
    /// A richer error into result<T>: keeps the errno only (what OVLCORE_TRY needs).
    template <class G>
        requires(std::is_same_v<E, std::errc> && !std::is_same_v<G, std::errc> && errno_carrier<G>)
    constexpr result(const unexpected<G>& u) : m_state(std::in_place_index<1>, to_errc(u.error)) {}

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

    /// The error (the errno for result<T>). Precondition: !has_value().
    [[nodiscard]] constexpr error_return error() const& noexcept {
        OVLCORE_ASSERT(!has_value());
        return *std::get_if<1>(&m_state);
    }
    /// Moves a richer error out (an errno is copied).
    [[nodiscard]] constexpr E error() && noexcept(std::is_nothrow_move_constructible_v<E>) {
        OVLCORE_ASSERT(!has_value());
        return std::move(*std::get_if<1>(&m_state));
    }

    template <class U>
    [[nodiscard]] constexpr T value_or(U&& fallback) const& {
        return has_value() ? value() : static_cast<T>(std::forward<U>(fallback));
    }

private:
    std::variant<T, E> m_state;
};

/// result<void, E>: success, or an error (by default an errno).
template <class E>
class [[nodiscard]] result<void, E> {
    using error_return = std::conditional_t<std::is_same_v<E, std::errc>, std::errc, const E&>;

public:
    using value_type = void;
    using error_type = E;
    constexpr result() noexcept = default;
    constexpr result(failure f) noexcept requires std::is_same_v<E, std::errc> : m_error(f.code) {}
    constexpr result(unexpected<E> u) : m_error(std::move(u.error)) {}
    template <class G>
        requires(std::is_same_v<E, std::errc> && !std::is_same_v<G, std::errc> && errno_carrier<G>)
    constexpr result(const unexpected<G>& u) : m_error(to_errc(u.error)) {}

    [[nodiscard]] constexpr bool has_value() const noexcept { return !m_error.has_value(); }
    constexpr explicit operator bool() const noexcept { return has_value(); }
    constexpr void value() const { OVLCORE_ASSERT(has_value()); }
    [[nodiscard]] constexpr error_return error() const& noexcept {
        OVLCORE_ASSERT(!has_value());
        return *m_error;
    }
    [[nodiscard]] constexpr E error() && noexcept(std::is_nothrow_move_constructible_v<E>) {
        OVLCORE_ASSERT(!has_value());
        return std::move(*m_error);
    }

private:
    std::optional<E> m_error;
};

/// Propagates the error of a result into the enclosing function's result (an errno, or a richer
/// error when both sides carry the same error type).
// `var` names a new variable, so it cannot be parenthesised.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define OVLCORE_TRY_ASSIGN(var, expr)                                                              \
  auto var##_ovlcore_result = (expr);                                                              \
  if (!var##_ovlcore_result) return ::ovlcore::fail(std::move(var##_ovlcore_result).error());      \
  auto var = std::move(*var##_ovlcore_result)
// NOLINTEND(bugprone-macro-parentheses)

#define OVLCORE_TRY(expr)                                                                          \
  do {                                                                                             \
    auto ovlcore_try_result_ = (expr);                                                             \
    if (!ovlcore_try_result_) return ::ovlcore::fail(std::move(ovlcore_try_result_).error());      \
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

/// The errno of a richer error (e.g. a mount_error): `return errno_value(stack.error());`
template <errno_carrier E>
    requires(!std::is_same_v<E, std::errc>)
[[nodiscard]] constexpr int errno_value(const E& e) noexcept {
    return static_cast<int>(to_errc(e));
}

/// The errno name of a richer error (e.g. a mount_error): "EINVAL".
template <errno_carrier E>
    requires(!std::is_same_v<E, std::errc>)
[[nodiscard]] std::string_view errno_name(const E& e) noexcept { return errno_name(to_errc(e)); }

} // namespace ovlcore
