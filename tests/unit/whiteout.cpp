// SPDX-License-Identifier: MIT
// Tests of ovlcore/whiteout.hpp: whiteout predicates and the opaque value (spec §3, §2.1).
#include <catch2/catch.hpp>

#include <optional>
#include <string_view>

#include <ovlcore/backend/memory.hpp>
#include <ovlcore/backend/posix.hpp>
#include <ovlcore/whiteout.hpp>

#include "support/fs_tree.hpp"

using namespace ovlcore;

namespace {
stat_info device(file_type t, std::uint32_t major, std::uint32_t minor, std::uint32_t mode = 0) {
    stat_info st;
    st.type = t;
    st.rdev_major = major;
    st.rdev_minor = minor;
    st.mode = mode;
    return st;
}
} // namespace

TEST_CASE("3 whiteout: a char device 0:0 of any mode or owner is a whiteout",
          "[spec.3][whiteout]") {
    CHECK(is_char_whiteout(device(file_type::char_device, 0, 0)));
    auto st = device(file_type::char_device, 0, 0, 0644);
    st.uid = 1000;
    CHECK(is_char_whiteout(st));
}

TEST_CASE("3 whiteout: block 0:0, char 1:3 and char 0:1 are not whiteouts", "[spec.3][whiteout]") {
    CHECK_FALSE(is_char_whiteout(device(file_type::block_device, 0, 0)));
    CHECK_FALSE(is_char_whiteout(device(file_type::char_device, 1, 3)));
    CHECK_FALSE(is_char_whiteout(device(file_type::char_device, 0, 1)));
}

TEST_CASE("2.1 opaque: only the single byte y or x has an effect (12.7)",
          "[spec.2.1][spec.3][opaque]") {
    CHECK(interpret_opaque(std::string_view("y")) == opaque_value::y);
    CHECK(interpret_opaque(std::string_view("x")) == opaque_value::x);
    for (std::string_view v : {"yes", "Y", "n", "", "yy", "X"})
        CHECK(interpret_opaque(v) == opaque_value::none);
    CHECK(interpret_opaque(std::nullopt) == opaque_value::none);
}

TEMPLATE_TEST_CASE("3 whiteout: xwhiteout = zero-size regular file with the whiteout xattr",
                   "[spec.3][whiteout]", memory_fs, posix_fs) {
    test::fs_tree<TestType> t;
    if (!t.privileged()) return;
    t.add_file("L/xw", "")
        .set_xattr("L/xw", "trusted.overlay.whiteout", "")
        .add_file("L/sized", "data")
        .set_xattr("L/sized", "trusted.overlay.whiteout", "")
        .add_dir("L/dir")
        .set_xattr("L/dir", "trusted.overlay.whiteout", "")
        .add_file("L/plain", "")
        .add_whiteout("L/chr");
    const auto layer = t.layer("L");
    const auto check = [&](std::string_view path, bool userxattr) {
        const auto obj = ovlcore::walk(t.fs(), layer, path);
        REQUIRE(obj.has_value());
        return is_whiteout(t.fs(), obj->handle, obj->st, userxattr);
    };
    CHECK(check("xw", false));
    CHECK_FALSE(check("sized", false)); // size != 0: an ordinary file
    CHECK_FALSE(check("dir", false));   // on a dir: an ordinary dir
    CHECK_FALSE(check("plain", false));
    CHECK(check("chr", false));
    CHECK_FALSE(check("xw", true)); // userxattr reads user.overlay.whiteout only
}

TEMPLATE_TEST_CASE("2.1 opaque: read_opaque reads P opaque of a real dir", "[spec.2.1][opaque]",
                   memory_fs, posix_fs) {
    test::fs_tree<TestType> t;
    if (!t.privileged()) return;
    t.add_dir("L/y").set_xattr("L/y", "trusted.overlay.opaque", "y");
    t.add_dir("L/x").set_xattr("L/x", "trusted.overlay.opaque", "x");
    t.add_dir("L/yes").set_xattr("L/yes", "trusted.overlay.opaque", "yes");
    t.add_dir("L/u").set_xattr("L/u", "user.overlay.opaque", "y");
    const auto layer = t.layer("L");
    const auto opaque = [&](std::string_view path, bool userxattr) {
        const auto dir = ovlcore::walk(t.fs(), layer, path);
        REQUIRE(dir.has_value());
        return read_opaque(t.fs(), dir->handle, userxattr);
    };
    CHECK(opaque("y", false) == opaque_value::y);
    CHECK(opaque("x", false) == opaque_value::x);
    CHECK(opaque("yes", false) == opaque_value::none);
    CHECK(opaque("u", false) == opaque_value::none);
    CHECK(opaque("u", true) == opaque_value::y);
}
