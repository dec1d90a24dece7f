// SPDX-License-Identifier: MIT
// Tests of ovlcore/result.hpp: result<T, E>, fail(), errno names (spec §5.6 errno catalogue).
// Expected names come from the spec's catalogue and libc's <cerrno> macros, never from our table.
#include <ovlcore/result.hpp>

#include <catch2/catch.hpp>

#include <cerrno>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include "support/string_makers.hpp"

namespace {

using ovlcore::errno_from_name;
using ovlcore::errno_name;
using ovlcore::fail;
using ovlcore::result;

struct named_errno {
    int value;
    std::string_view name;
};

// Every errno of the spec's lookup catalogue (§5.6) and the mount-time ones of §1, with the value
// libc gives the macro of that name.
constexpr named_errno spec_errnos[] = {
    {ENOENT, "ENOENT"},   {ENAMETOOLONG, "ENAMETOOLONG"},
    {EINVAL, "EINVAL"},   {EACCES, "EACCES"},
    {EIO, "EIO"},         {EPERM, "EPERM"},
    {ELOOP, "ELOOP"},     {EREMOTE, "EREMOTE"},
    {ESTALE, "ESTALE"},   {ENOTDIR, "ENOTDIR"},
    {EXDEV, "EXDEV"},     {EROFS, "EROFS"},
    {ERANGE, "ERANGE"},   {EBUSY, "EBUSY"},
    {ENODATA, "ENODATA"}, {EOPNOTSUPP, "EOPNOTSUPP"},
};

result<int> half(int v) {
    if (v % 2 != 0) return fail(std::errc::invalid_argument);
    return v / 2;
}

result<int> quarter(int v) {
    OVLCORE_TRY_ASSIGN(h, half(v));
    return half(h);
}

result<void> check_even(int v) {
    OVLCORE_TRY(half(v));
    return {};
}

// A richer error, as mount_error is: an errno plus context. to_errc (found by ADL) exposes the errno.
struct located_error {
    std::errc code{};
    std::string where;
    friend std::errc to_errc(const located_error& e) noexcept { return e.code; }
};

// An error type without an errno: it can never silently become an errno-only result.
struct opaque_error {
    int detail = 0;
};

result<int, located_error> parse_digit(char c) {
    if (c < '0' || c > '9')
        return fail(located_error{.code = std::errc::invalid_argument, .where = std::string(1, c)});
    return c - '0';
}

result<int, located_error> parse_two(const char* s) {
    OVLCORE_TRY_ASSIGN(tens, parse_digit(s[0]));
    OVLCORE_TRY_ASSIGN(ones, parse_digit(s[1]));
    return tens * 10 + ones;
}

// The same error into an errno-only result: only the errno survives.
result<int> parse_two_errno(const char* s) {
    OVLCORE_TRY_ASSIGN(n, parse_two(s));
    return n;
}

result<void, located_error> check_digit(char c) {
    OVLCORE_TRY(parse_digit(c));
    return {};
}

} // namespace

TEST_CASE("5.6 result: errno_name gives the kernel's name for every catalogue errno",
          "[spec.5.6][result]") {
    for (const auto& e : spec_errnos) {
        CAPTURE(e.name);
        CHECK(errno_name(static_cast<std::errc>(e.value)) == e.name);
        CHECK(errno_from_name(e.name) == static_cast<std::errc>(e.value));
    }
}

TEST_CASE("5.6 result: std::errc enumerators map to their errno names", "[spec.5.6][result]") {
    CHECK(errno_name(std::errc::no_such_file_or_directory) == "ENOENT");
    CHECK(errno_name(std::errc::io_error) == "EIO");
    CHECK(errno_name(std::errc::operation_not_permitted) == "EPERM");
    CHECK(errno_name(static_cast<std::errc>(ESTALE)) == "ESTALE");
    CHECK(errno_name(std::errc::too_many_symbolic_link_levels) == "ELOOP");
    CHECK(errno_name(std::errc::not_a_directory) == "ENOTDIR");
    CHECK(errno_name(std::errc::filename_too_long) == "ENAMETOOLONG");
    CHECK(ovlcore::errno_value(std::errc::no_such_file_or_directory) == ENOENT);
}

TEST_CASE("5.6 result: unknown errno values and names", "[spec.5.6][result]") {
    // The header promises a non-empty name for any value; it does not matter which.
    const auto unknown = errno_name(static_cast<std::errc>(100000));
    CHECK_FALSE(unknown.empty());
    CHECK(unknown.front() == 'E');
    CHECK(errno_from_name("ENOSUCHERRNO") == std::errc{});
    CHECK(errno_from_name("") == std::errc{});
    CHECK(errno_from_name("enoent") == std::errc{}); // names are case-sensitive
}

TEST_CASE("result: value or errno, like std::expected", "[result]") {
    const result<int> ok = 42;
    REQUIRE(ok.has_value());
    CHECK(static_cast<bool>(ok));
    CHECK(*ok == 42);
    CHECK(ok.value() == 42);
    CHECK(ok.value_or(7) == 42);

    const result<int> bad = fail(std::errc::no_such_file_or_directory);
    REQUIRE_FALSE(bad.has_value());
    CHECK_FALSE(static_cast<bool>(bad));
    CHECK(bad.error() == std::errc::no_such_file_or_directory);
    CHECK(bad.value_or(7) == 7);

    const result<int> from_errno = ovlcore::fail_errno(ESTALE);
    REQUIRE_FALSE(from_errno);
    CHECK(from_errno.error() == static_cast<std::errc>(ESTALE));

    result<std::string> text = std::string("abc");
    CHECK(text->size() == 3);
    std::string moved = *std::move(text);
    CHECK(moved == "abc");

    // Move-only values and converting construction.
    result<std::unique_ptr<int>> owned = std::make_unique<int>(5);
    REQUIRE(owned);
    CHECK(**owned == 5);
    const result<std::string> converted = "literal";
    CHECK(*converted == "literal");
}

TEST_CASE("result: result<void>", "[result]") {
    const result<void> ok{};
    CHECK(ok.has_value());
    const result<void> bad = fail(std::errc::io_error);
    REQUIRE_FALSE(bad);
    CHECK(bad.error() == std::errc::io_error);
}

TEST_CASE("result: OVLCORE_TRY and OVLCORE_TRY_ASSIGN propagate the first error", "[result]") {
    CHECK(*quarter(8) == 2);
    REQUIRE_FALSE(quarter(6)); // 6 / 2 = 3 is odd
    CHECK(quarter(6).error() == std::errc::invalid_argument);
    REQUIRE_FALSE(quarter(5));
    CHECK(quarter(5).error() == std::errc::invalid_argument);
    CHECK(check_even(4).has_value());
    REQUIRE_FALSE(check_even(3));
    CHECK(check_even(3).error() == std::errc::invalid_argument);
}

TEST_CASE("result: result<T> is result<T, std::errc> and keeps its errno API", "[result]") {
    STATIC_REQUIRE(std::is_same_v<result<int>, result<int, std::errc>>);
    STATIC_REQUIRE(std::is_same_v<result<void>, result<void, std::errc>>);
    STATIC_REQUIRE(std::is_same_v<decltype(std::declval<const result<int>&>().error()), std::errc>);
    STATIC_REQUIRE(std::is_same_v<result<int>::error_type, std::errc>);
    // failure converts to any errno result, never to a result with a richer error.
    STATIC_REQUIRE(std::is_constructible_v<result<int>, ovlcore::failure>);
    STATIC_REQUIRE_FALSE(std::is_constructible_v<result<int, located_error>, ovlcore::failure>);
    STATIC_REQUIRE_FALSE(std::is_constructible_v<result<void, located_error>, ovlcore::failure>);
}

TEST_CASE("result: result<T, E> carries a richer error", "[result]") {
    STATIC_REQUIRE(
        std::is_same_v<decltype(std::declval<const result<int, located_error>&>().error()),
                       const located_error&>);
    const auto ok = parse_digit('7');
    REQUIRE(ok);
    CHECK(*ok == 7);
    CHECK(ok.value_or(-1) == 7);

    const auto bad = parse_digit('x');
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code == std::errc::invalid_argument);
    CHECK(bad.error().where == "x");
    CHECK(bad.value_or(-1) == -1);
    CHECK(ovlcore::errno_value(bad.error()) == EINVAL);
    CHECK(errno_name(bad.error()) == "EINVAL");

    // error() on an rvalue moves the error out.
    auto movable = parse_digit('?');
    const located_error taken = std::move(movable).error();
    CHECK(taken.where == "?");
}

TEST_CASE("result: OVLCORE_TRY carries a richer error, or only its errno into result<T>",
          "[result]") {
    CHECK(*parse_two("42") == 42);
    const auto second = parse_two("4x");
    REQUIRE_FALSE(second);
    CHECK(second.error().where == "x"); // the first failing digit, context intact
    CHECK(parse_two("y2").error().where == "y");

    CHECK(*parse_two_errno("42") == 42);
    CHECK(parse_two_errno("4x").error() == std::errc::invalid_argument);

    CHECK(check_digit('3').has_value());
    REQUIRE_FALSE(check_digit('z'));
    CHECK(check_digit('z').error().where == "z");

    // An error without to_errc cannot be narrowed to an errno.
    STATIC_REQUIRE(std::is_constructible_v<result<int>, ovlcore::unexpected<located_error>>);
    STATIC_REQUIRE_FALSE(std::is_constructible_v<result<int>, ovlcore::unexpected<opaque_error>>);
    STATIC_REQUIRE(
        std::is_constructible_v<result<int, opaque_error>, ovlcore::unexpected<opaque_error>>);
    const result<int, opaque_error> opaque = fail(opaque_error{.detail = 3});
    REQUIRE_FALSE(opaque);
    CHECK(opaque.error().detail == 3);
}

TEST_CASE("result: a value of the error type's shape is still a value", "[result]") {
    // T constructible from E-like input stays a value; only fail() makes an error.
    const result<std::string, located_error> text = "abc";
    REQUIRE(text);
    CHECK(*text == "abc");
    const result<std::string, located_error> refused =
        fail(located_error{.code = std::errc::io_error, .where = "abc"});
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == std::errc::io_error);
}
