// SPDX-License-Identifier: MIT
// Tests of ovlcore/result.hpp: result<T>, fail(), errno names (spec §5.6 errno catalogue).
// Expected names come from the spec's catalogue and libc's <cerrno> macros, never from our table.
#include <ovlcore/result.hpp>

#include <catch2/catch.hpp>

#include <cerrno>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
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
