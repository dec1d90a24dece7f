// SPDX-License-Identifier: MIT
// Tests of ovlcore/xattr.hpp: overlay xattr names, escaping, metacopy layout, redirect rules
// (spec §2). Expected values come from the spec.
#include <catch2/catch.hpp>

#include <string>
#include <string_view>

#include <ovlcore/xattr.hpp>

#include "support/string_makers.hpp"

using namespace ovlcore;
using namespace std::string_view_literals;

TEST_CASE("2.1 xattr: names use trusted.overlay. by default, user.overlay. with userxattr",
          "[spec.2.1][xattr]") {
    CHECK(xattr_name(ovl_xattr::opaque, false) == "trusted.overlay.opaque");
    CHECK(xattr_name(ovl_xattr::redirect, false) == "trusted.overlay.redirect");
    CHECK(xattr_name(ovl_xattr::metacopy, false) == "trusted.overlay.metacopy");
    CHECK(xattr_name(ovl_xattr::whiteout, false) == "trusted.overlay.whiteout");
    CHECK(xattr_name(ovl_xattr::origin, false) == "trusted.overlay.origin");
    CHECK(xattr_name(ovl_xattr::impure, false) == "trusted.overlay.impure");
    CHECK(xattr_name(ovl_xattr::opaque, true) == "user.overlay.opaque");
    CHECK(xattr_name(ovl_xattr::redirect, true) == "user.overlay.redirect");
}

TEST_CASE("2.1 xattr: overlay.overlay.* is shown with one overlay. removed, other P* names hidden",
          "[spec.2.1][xattr]") {
    CHECK(unescape_xattr_name("trusted.overlay.overlay.opaque", false) == "trusted.overlay.opaque");
    CHECK(unescape_xattr_name("trusted.overlay.overlay.overlay.x", false) ==
          "trusted.overlay.overlay.x");
    CHECK_FALSE(unescape_xattr_name("trusted.overlay.opaque", false).has_value());
    CHECK(unescape_xattr_name("user.foo", false) == "user.foo");
    // With userxattr the private namespace is user.overlay.; trusted.* is passed through.
    CHECK(unescape_xattr_name("user.overlay.overlay.opaque", true) == "user.overlay.opaque");
    CHECK_FALSE(unescape_xattr_name("user.overlay.redirect", true).has_value());
    CHECK(unescape_xattr_name("trusted.overlay.opaque", true) == "trusted.overlay.opaque");
    CHECK(escape_xattr_name("trusted.overlay.opaque", false) == "trusted.overlay.overlay.opaque");
    CHECK(escape_xattr_name("security.selinux", false) == "security.selinux");
}

TEST_CASE("2.2 metacopy: lookup queries only the size; 0 counts as 4, 1..3 bytes are EIO",
          "[spec.2.2][metacopy]") {
    CHECK(metacopy_size_at_lookup(0).value() == 4);
    for (const std::size_t n : {std::size_t{1}, std::size_t{2}, std::size_t{3}}) {
        const auto r = metacopy_size_at_lookup(n);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error() == std::errc::io_error);
    }
    CHECK(metacopy_size_at_lookup(4).value() == 4);
    CHECK(metacopy_size_at_lookup(100).value() == 100); // not parsed at lookup (spec §2.2)
    CHECK_FALSE(metacopy_has_digest(4));
    CHECK(metacopy_has_digest(5));
}

TEST_CASE("2.2 metacopy: open-time parsing: ERANGE above 68 bytes, EIO for version or len",
          "[spec.2.2][metacopy][spec.7]") {
    CHECK(parse_metacopy_at_open("").value() == metacopy_value{}); // emulated empty header
    std::string sha256(4 + 32, '\x11');
    sha256[0] = 0;
    sha256[1] = 36;
    sha256[2] = 0;
    sha256[3] = 1;
    const auto v = parse_metacopy_at_open(sha256);
    REQUIRE(v.has_value());
    CHECK(v->digest_algo == 1);
    CHECK(v->digest.size() == 32);

    std::string max(68, '\0');
    max[1] = 68;
    CHECK(parse_metacopy_at_open(max).has_value());
    std::string over(69, '\0');
    over[1] = 69;
    CHECK(parse_metacopy_at_open(over).error() == std::errc::result_out_of_range);
    CHECK(parse_metacopy_at_open(std::string(100, 'z')).error() == std::errc::result_out_of_range);

    std::string bad_version = sha256;
    bad_version[0] = 1;
    CHECK(parse_metacopy_at_open(bad_version).error() == std::errc::io_error);
    std::string bad_len = sha256;
    bad_len[1] = 4;
    CHECK(parse_metacopy_at_open(bad_len).error() == std::errc::io_error);
    CHECK(parse_metacopy_at_open("\0\0"sv).error() == std::errc::io_error);
}

TEST_CASE("2.3 redirect: validation of absolute and relative values (12.11)",
          "[spec.2.3][redirect]") {
    const auto error_of = [](std::string_view v) { return validate_redirect(v).error(); };
    CHECK(error_of("") == std::errc::invalid_argument);
    CHECK(error_of("//data") == std::errc::invalid_argument);
    CHECK(error_of("/") == std::errc::invalid_argument);
    CHECK(error_of("/a/") == std::errc::invalid_argument);
    CHECK(error_of("/a//b") == std::errc::invalid_argument);
    CHECK(error_of("a/b") == std::errc::invalid_argument);
    CHECK(validate_redirect("/data").value() == "/data");
    CHECK(validate_redirect("/p/q").value() == "/p/q");
    CHECK(validate_redirect("old").value() == "old");
    // "." and ".." pass validation; walking them fails later (EACCES, spec §2.3).
    CHECK(validate_redirect("/./a").has_value());
    CHECK(validate_redirect("/../a").has_value());
    CHECK(validate_redirect("..").has_value());
    CHECK(is_absolute_redirect("/a"));
    CHECK_FALSE(is_absolute_redirect("a"));
}

TEST_CASE("2.3 redirect: the value is used up to the first NUL byte", "[spec.2.3][redirect]") {
    CHECK(validate_redirect("/a\0/junk"sv).value() == "/a");
    CHECK(validate_redirect("old\0/x"sv).value() == "old");
    CHECK(validate_redirect("/a/b\0"sv).value() == "/a/b");
    // Not zero-length, so not "invalid redirect ((null))": the empty relative redirect.
    CHECK(validate_redirect("\0abc"sv).value().empty());
}
