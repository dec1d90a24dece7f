// SPDX-License-Identifier: MIT
// Tests of include/ovlcore/xattr_view.hpp: what getxattr/listxattr show on an overlay object
// (spec §2.1 names and escaping, "getxattr reads upper else top lower", §6 no lazy resolution).
// Expected values: spec §2.1, and for the escaping table Linux 6.18 itself (recorded by hand on a
// `mount -t overlay -o ro,lowerdir=L:L2` and `...,userxattr,...` of the same lower file, caller
// root; see the comment at the top of xattr_view.hpp).
#include <catch2/catch.hpp>

#include <ovlcore/backend/memory.hpp>
#include <ovlcore/backend/posix.hpp>
#include <ovlcore/layer_stack.hpp>
#include <ovlcore/overlay.hpp>
#include <ovlcore/xattr_view.hpp>

#include "support/string_makers.hpp"
#include "support/temp_dir.hpp"

#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

using namespace ovlcore;

namespace {

using strings = std::vector<std::string>;

using ovlcore::test::sorted;

// The lower file of the kernel recording: /r/L/f with these xattrs, and an empty second lower.
memory_fs recorded_fs() {
    memory_fs fs;
    fs.add_file("/r/L/f", "")
        .set_xattr("/r/L/f", "trusted.overlay.overlay.foo", "1")
        .set_xattr("/r/L/f", "trusted.overlay.overlayfoo", "2")
        .set_xattr("/r/L/f", "trusted.overlay.bar", "3")
        .set_xattr("/r/L/f", "trusted.other", "4")
        .set_xattr("/r/L/f", "user.x", "5")
        .set_xattr("/r/L/f", "user.overlay.y", "6")
        .set_xattr("/r/L/f", "user.overlay.overlay.z", "7")
        .set_xattr("/r/L/f", "user.overlay.overlayq", "8")
        .add_dir("/r/L2")
        .set_cwd("/r");
    return fs;
}

layer_stack<memory_fs> stack_of(const memory_fs& fs, std::string_view options) {
    auto stack = make_layer_stack(fs, options);
    REQUIRE(stack);
    return std::move(*stack);
}

std::optional<std::string> get(const overlay<memory_fs>& ov, std::string_view path,
                               std::string_view name) {
    auto v = get_overlay_xattr(ov, path, name);
    REQUIRE(v);
    return *v;
}

} // namespace

TEST_CASE("2.1 xattr view: trusted mode hides private names and unescapes overlay.overlay.*",
          "[spec.2.1][xattr_view]") {
    const memory_fs fs = recorded_fs();
    const overlay<memory_fs> ov(fs, stack_of(fs, "lowerdir=L:L2"));
    auto names = list_overlay_xattrs(ov, "/f");
    REQUIRE(names);
    // Linux 6.18: ['trusted.overlay.foo', 'user.x', 'user.overlay.y', 'user.overlay.overlayq',
    //              'user.overlay.overlay.z', 'trusted.other'] (ext4's order; compared as a set)
    CHECK(sorted(*names) ==
          sorted({"trusted.overlay.foo", "user.x", "user.overlay.y", "user.overlay.overlayq",
                  "user.overlay.overlay.z", "trusted.other"}));

    CHECK(get(ov, "/f", "trusted.overlay.foo") == "1");
    CHECK(get(ov, "/f", "trusted.overlay.overlayfoo") ==
          std::nullopt);                                         // reads ...overlay.overlayfoo
    CHECK(get(ov, "/f", "trusted.overlay.bar") == std::nullopt); // private: never readable
    CHECK(get(ov, "/f", "trusted.overlay.overlay.foo") == std::nullopt); // escaped twice
    CHECK(get(ov, "/f", "trusted.overlay.oo") == std::nullopt);
    CHECK(get(ov, "/f", "trusted.other") == "4");
    CHECK(get(ov, "/f", "user.overlay.y") == "6"); // the other namespace is plain in trusted mode
    const auto bare = get_overlay_xattr(ov, "/f", "trusted.overlay.");
    REQUIRE(!bare);
    CHECK(bare.error() == std::errc::invalid_argument);
}

TEST_CASE("2.1 xattr view: userxattr mode escapes user.overlay.* and passes trusted.* through",
          "[spec.2.1][xattr_view]") {
    const memory_fs fs = recorded_fs();
    const overlay<memory_fs> ov(fs, stack_of(fs, "lowerdir=L:L2,userxattr"));
    auto names = list_overlay_xattrs(ov, "/f");
    REQUIRE(names);
    // Linux 6.18: ['trusted.overlay.overlay.foo', 'trusted.overlay.overlayfoo', 'user.x',
    //              'user.overlay.z', 'trusted.other', 'trusted.overlay.bar']
    CHECK(sorted(*names) ==
          sorted({"trusted.overlay.overlay.foo", "trusted.overlay.overlayfoo", "user.x",
                  "user.overlay.z", "trusted.other", "trusted.overlay.bar"}));
    CHECK(get(ov, "/f", "user.overlay.y") == std::nullopt);
    CHECK(get(ov, "/f", "user.overlay.z") == "7");
    CHECK(get(ov, "/f", "user.overlay.overlayq") == std::nullopt);
    CHECK(get(ov, "/f", "user.x") == "5");
    CHECK(get(ov, "/f", "trusted.overlay.bar") == "3");
}

TEST_CASE("2.1 xattr view: trusted.* is listed only for CAP_SYS_ADMIN callers",
          "[spec.2.1][xattr_view]") {
    const memory_fs fs = recorded_fs();
    const overlay<memory_fs> ov(fs, stack_of(fs, "lowerdir=L:L2"));
    auto names = list_overlay_xattrs(ov, "/f", /*caller_sees_trusted=*/false);
    REQUIRE(names);
    CHECK(sorted(*names) ==
          sorted({"user.x", "user.overlay.y", "user.overlay.overlayq", "user.overlay.overlay.z"}));
}

TEST_CASE("2.1 xattr view: a zero-size listxattr answers the unfiltered size",
          "[spec.2.1][xattr_view]") {
    const memory_fs fs = recorded_fs();
    const overlay<memory_fs> ov(fs, stack_of(fs, "lowerdir=L:L2"));
    auto n = ov.resolve("/f");
    REQUIRE(n);
    auto capacity = overlay_xattr_list_capacity(ov, *n);
    REQUIRE(capacity);
    std::size_t expected = 0;
    for (const char* name : {"trusted.overlay.overlay.foo", "trusted.overlay.overlayfoo",
                             "trusted.overlay.bar", "trusted.other", "user.x", "user.overlay.y",
                             "user.overlay.overlay.z", "user.overlay.overlayq"})
        expected += std::string_view(name).size() + 1;
    CHECK(*capacity == expected);
}

TEST_CASE("2.1 xattr view: the top lower entry supplies the xattrs, lower ones are not merged",
          "[spec.2.1][xattr_view]") {
    memory_fs fs;
    fs.add_file("/r/A/f", "a").set_xattr("/r/A/f", "user.top", "A");
    fs.add_file("/r/B/f", "b").set_xattr("/r/B/f", "user.bottom", "B");
    fs.add_dir("/r/A/d").set_xattr("/r/A/d", "user.dir", "A");
    fs.add_dir("/r/B/d").set_xattr("/r/B/d", "user.dir", "B").set_xattr("/r/B/d", "user.only", "B");
    fs.set_cwd("/r");
    const overlay<memory_fs> ov(fs, stack_of(fs, "lowerdir=A:B"));
    auto names = list_overlay_xattrs(ov, "/f");
    REQUIRE(names);
    CHECK(*names == strings{"user.top"});
    CHECK(get(ov, "/f", "user.bottom") == std::nullopt);
    // A merged dir: the top lower dir's xattrs only (spec §2.1, §9 "real" entry).
    auto dir_names = list_overlay_xattrs(ov, "/d");
    REQUIRE(dir_names);
    CHECK(*dir_names == strings{"user.dir"});
    CHECK(get(ov, "/d", "user.dir") == "A");
    CHECK(get(ov, "/d", "user.only") == std::nullopt);
}

TEST_CASE("2.1 xattr view: the upper entry supplies the xattrs when there is one",
          "[spec.2.1][xattr_view]") {
    memory_fs fs;
    fs.add_file("/r/U/f", "u").set_xattr("/r/U/f", "user.upper", "U");
    fs.add_file("/r/A/f", "a").set_xattr("/r/A/f", "user.lower", "A");
    fs.add_dir("/r/W");
    fs.set_cwd("/r");
    const overlay<memory_fs> ov(fs, stack_of(fs, "lowerdir=A,upperdir=U,workdir=W"));
    auto names = list_overlay_xattrs(ov, "/f");
    REQUIRE(names);
    CHECK(*names == strings{"user.upper"});
    CHECK(get(ov, "/f", "user.lower") == std::nullopt);
}

TEST_CASE("6 xattr view: a lower metacopy shows its own xattrs, not the data file's, lazily",
          "[spec.2.1][spec.6][xattr_view]") {
    memory_fs fs;
    fs.add_file("/r/A/meta", "", {.size = 7})
        .set_xattr("/r/A/meta", "trusted.overlay.metacopy", "")
        .set_xattr("/r/A/meta", "trusted.overlay.redirect", "/data")
        .set_xattr("/r/A/meta", "user.meta", "m");
    fs.add_file("/r/C/data", "C:data\n").set_xattr("/r/C/data", "user.data", "d");
    fs.set_cwd("/r");
    const overlay<memory_fs> ov(fs, stack_of(fs, "lowerdir=A::C,metacopy=on"));
    auto n = ov.resolve("/meta");
    REQUIRE(n);
    REQUIRE(ov.which_layers(*n).pending_lowerdata.has_value());
    auto names = list_overlay_xattrs(ov, *n);
    REQUIRE(names);
    CHECK(*names == strings{"user.meta"}); // trusted.overlay.* of the metacopy are private
    CHECK(get(ov, "/meta", "user.meta") == "m");
    CHECK(get(ov, "/meta", "user.data") == std::nullopt);
    // §6: getxattr does not resolve lazy lowerdata.
    CHECK(ov.which_layers(*n).pending_lowerdata.has_value());
}

TEST_CASE("2.1 xattr view: name mapping helpers", "[spec.2.1][xattr_view]") {
    CHECK(*overlay_xattr_read_name("trusted.overlay.opaque", false) ==
          "trusted.overlay.overlay.opaque");
    CHECK(*overlay_xattr_read_name("user.overlay.opaque", false) == "user.overlay.opaque");
    CHECK(*overlay_xattr_read_name("user.overlay.opaque", true) == "user.overlay.overlay.opaque");
    CHECK(overlay_xattr_read_name("user.overlay.", true).error() == std::errc::invalid_argument);
    // 16 + 8 + 232 = 256 > XATTR_NAME_MAX
    const std::string long_name = "trusted.overlay." + std::string(232, 'x');
    CHECK(overlay_xattr_read_name(long_name, false).error() == std::errc::operation_not_supported);
    CHECK(overlay_xattr_list_name("trusted.overlay.opaque", false, true) == std::nullopt);
    CHECK(overlay_xattr_list_name("trusted.overlay.overlay.opaque", false, true) ==
          "trusted.overlay.opaque");
    CHECK(overlay_xattr_list_name("trusted.overlay.overlay.opaque", false, false) == std::nullopt);
    CHECK(overlay_xattr_list_name("security.selinux", false, false) == "security.selinux");
}

TEST_CASE("2.1 xattr view on posix_fs: the kernel recording, on real files",
          "[spec.2.1][xattr_view][posix_fs]") {
    if (::geteuid() != 0) {
        WARN("not run: trusted.* xattrs on real files need root");
        return;
    }
    const test::temp_dir root("ovlcore-xattr-view-");
    std::filesystem::create_directories(root / "L");
    std::filesystem::create_directories(root / "L2");
    const std::string file = (root / "L" / "f").string();
    std::ofstream(file).close();
    for (const auto& [name, value] : {std::pair{"trusted.overlay.overlay.foo", "1"},
                                      {"trusted.overlay.overlayfoo", "2"},
                                      {"trusted.overlay.bar", "3"},
                                      {"trusted.other", "4"},
                                      {"user.x", "5"},
                                      {"user.overlay.y", "6"},
                                      {"user.overlay.overlay.z", "7"},
                                      {"user.overlay.overlayq", "8"}}) {
        const std::string_view v = value;
        if (::setxattr(file.c_str(), name, v.data(), v.size(), 0) != 0) {
            WARN("not run: setxattr " << name << " failed (filesystem without xattrs?)");
            return;
        }
    }
    auto fs = posix_fs::with_working_dir(root.str());
    REQUIRE(fs);
    SECTION("trusted mode") {
        auto stack = make_layer_stack(*fs, "lowerdir=L:L2");
        REQUIRE(stack);
        const overlay<posix_fs> ov(*fs, std::move(*stack));
        auto names = list_overlay_xattrs(ov, "/f");
        REQUIRE(names);
        CHECK(sorted(*names) ==
              sorted({"trusted.overlay.foo", "user.x", "user.overlay.y", "user.overlay.overlayq",
                      "user.overlay.overlay.z", "trusted.other"}));
        auto foo = get_overlay_xattr(ov, "/f", "trusted.overlay.foo");
        REQUIRE(foo);
        CHECK(*foo == "1");
        auto bar = get_overlay_xattr(ov, "/f", "trusted.overlay.bar");
        REQUIRE(bar);
        CHECK(*bar == std::nullopt);
    }
    SECTION("userxattr mode") {
        auto stack = make_layer_stack(*fs, "lowerdir=L:L2,userxattr");
        REQUIRE(stack);
        const overlay<posix_fs> ov(*fs, std::move(*stack));
        auto names = list_overlay_xattrs(ov, "/f");
        REQUIRE(names);
        CHECK(sorted(*names) ==
              sorted({"trusted.overlay.overlay.foo", "trusted.overlay.overlayfoo", "user.x",
                      "user.overlay.z", "trusted.other", "trusted.overlay.bar"}));
        auto z = get_overlay_xattr(ov, "/f", "user.overlay.z");
        REQUIRE(z);
        CHECK(*z == "7");
    }
}
