// SPDX-License-Identifier: MIT
// Tests of ovlcore/option_parsing.hpp: the option table, its values and defaults, and the order
// of parse-time errors and per-path checks (spec §1.1, §1.3). Expected values come from the spec
// and from mount(2).
#include <catch2/catch.hpp>

#include <ovlcore/options.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

#include "support/option_outcome.hpp"
#include "support/string_makers.hpp"

using namespace ovlcore;
using namespace ovlcore::test;

// ---------------------------------------------------------------------------------------------
// §1.1 option table
// ---------------------------------------------------------------------------------------------

TEST_CASE("1.1 options: unknown key rejected", "[spec.1.1][options]") {
    CHECK(parse("foo").code == einval);
    CHECK(parse("foo").message == "overlay: Unknown parameter 'foo'");
    CHECK(parse("nouserxattr").message == "overlay: Unknown parameter 'nouserxattr'");
    CHECK(parse("LOWERDIR=A:B").message == "overlay: Unknown parameter 'LOWERDIR'");
}

TEST_CASE("1.1 options: flags given a value rejected", "[spec.1.1][options]") {
    for (const char* key : {"userxattr", "default_permissions", "volatile", "override_creds"}) {
        CHECK(parse(std::string(key) + "=1").message ==
              "overlay: Unexpected value for '" + std::string(key) + "'");
        CHECK(parse(std::string(key) + "=").code == einval);
    }
}

TEST_CASE("1.1 options: bad enum values rejected", "[spec.1.1][options]") {
    CHECK(parse("redirect_dir=bogus").message == "overlay: Bad value for 'redirect_dir'");
    CHECK(parse("metacopy").message == "overlay: Bad value for 'metacopy'");
    CHECK(parse("metacopy=").message == "overlay: Bad value for 'metacopy'");
    CHECK(parse("index=ON").message == "overlay: Bad value for 'index'");
    CHECK(parse("uuid=x").message == "overlay: Bad value for 'uuid'");
    CHECK(parse("xino=").message == "overlay: Bad value for 'xino'");
    CHECK(parse("verity=maybe").message == "overlay: Bad value for 'verity'");
    CHECK(parse("fsync=ordered").message == "overlay: Bad value for 'fsync'");
}

TEST_CASE("1.1 options: path options need a value", "[spec.1.1][options]") {
    CHECK(parse("upperdir=").message == "overlay: Bad value for 'upperdir'");
    CHECK(parse("workdir").message == "overlay: Bad value for 'workdir'");
    CHECK(parse("lowerdir").message == "overlay: Bad value for 'lowerdir'");
    CHECK(parse("lowerdir+=").message == "overlay: Bad value for 'lowerdir+'");
    CHECK(parse("datadir+").message == "overlay: Bad value for 'datadir+'");
}

TEST_CASE("1.1 options: every value is accepted", "[spec.1.1][options]") {
    auto p = parse(
        "lowerdir=A:B,upperdir=U,workdir=W,redirect_dir=nofollow,index=on,uuid=null,"
        "nfs_export=off,xino=on,metacopy=on,verity=require,fsync=strict,userxattr,"
        "default_permissions,nooverride_creds");
    REQUIRE(p.code == std::errc{});
    CHECK(p.cfg.redirect == redirect_mode::nofollow);
    CHECK(p.cfg.index);
    CHECK(p.cfg.uuid == uuid_mode::null);
    CHECK_FALSE(p.cfg.nfs_export);
    CHECK(p.cfg.xino == xino_mode::on);
    CHECK(p.cfg.metacopy);
    CHECK(p.cfg.verity == verity_mode::require);
    CHECK(p.cfg.fsync == fsync_mode::strict);
    CHECK(p.cfg.userxattr);
    CHECK(p.cfg.default_permissions);
    CHECK_FALSE(p.cfg.override_creds);
    CHECK(p.cfg.set.redirect);
    CHECK(p.cfg.set.index);
    CHECK(p.cfg.set.nfs_export);
    CHECK(p.cfg.set.metacopy);
}

TEST_CASE("1.1 options: defaults come from the module parameters",
          "[spec.1.1][spec.1.4][options]") {
    auto stock = parse("lowerdir=A:B").cfg;
    CHECK(stock.redirect == redirect_mode::follow);
    CHECK_FALSE(stock.index);
    CHECK_FALSE(stock.metacopy);
    CHECK_FALSE(stock.nfs_export);
    CHECK(stock.uuid == uuid_mode::auto_);
    CHECK(stock.xino == xino_mode::off);
    CHECK(stock.verity == verity_mode::off);
    CHECK(stock.fsync == fsync_mode::auto_);
    module_defaults all_on{true, true, true, true, true, true};
    auto on = parse("lowerdir=A:B", all_on).cfg;
    CHECK(on.redirect == redirect_mode::on);
    CHECK(on.index);
    CHECK(on.metacopy);
    CHECK(on.nfs_export);
    CHECK(on.xino == xino_mode::auto_);
    module_defaults no_follow;
    no_follow.redirect_always_follow = false;
    CHECK(parse("lowerdir=A:B", no_follow).cfg.redirect == redirect_mode::nofollow);
}

TEST_CASE("1.1 options: the last occurrence wins", "[spec.1.1][options]") {
    auto p = parse(
        "lowerdir=A:B,lowerdir=B:C,upperdir=U1,upperdir=U2,workdir=W1,workdir=W2,"
        "xino=on,xino=off,fsync=strict,volatile");
    REQUIRE(p.code == std::errc{});
    CHECK(names(p.cfg) == std::vector<std::string>{"B", "C"});
    CHECK(p.cfg.upper->path == "U2");
    CHECK(p.cfg.work->path == "W2");
    CHECK(p.cfg.xino == xino_mode::off);
    CHECK(p.cfg.fsync == fsync_mode::volatile_);
    CHECK(parse("volatile,fsync=auto").cfg.fsync == fsync_mode::auto_);
}

TEST_CASE("1.1 options: redirect_dir=off is rewritten at parse time",
          "[spec.1.1][spec.1.4][options]") {
    CHECK(parse("redirect_dir=off").cfg.redirect == redirect_mode::follow);
    module_defaults no_follow;
    no_follow.redirect_always_follow = false;
    CHECK(parse("redirect_dir=off", no_follow).cfg.redirect == redirect_mode::nofollow);
}

TEST_CASE("1.1 options: generic VFS flags and source", "[spec.1.1][options]") {
    CHECK(parse("ro,lowerdir=A:B").cfg.read_only);
    CHECK(parse("ro=5,rw,sync,async,dirsync,lazytime,nolazytime,mand,nomand").code == std::errc{});
    CHECK(parse("silent").message == "overlay: Unknown parameter 'silent'");
    CHECK(parse("source=x").message == "Multiple sources");
    CHECK(parse("source").message == "Non-string source");
}

TEST_CASE("1.1 options: the first error in option order wins", "[spec.1.1][spec.1.3][options]") {
    // A resolver that knows only A and B.
    auto known = [](const path_request& r, std::monostate&) -> std::optional<mount_error> {
        if (r.path == "A" || r.path == "B") return std::nullopt;
        return mount_error{.code = std::errc::no_such_file_or_directory,
                           .message = "missing " + std::string(r.path),
                           .notes = {}};
    };
    const auto error_of = [&](std::string_view options) {
        auto r = parse_mount_options(options, {}, known);
        return r ? mount_error{} : r.error();
    };
    CHECK(error_of("foo,lowerdir=X:A").code == einval);
    CHECK(error_of("foo,lowerdir=X:A").message == "overlay: Unknown parameter 'foo'");
    // The resolver's error is the mount's, message included.
    CHECK(error_of("lowerdir=X:A,foo") == mount_error{.code = std::errc::no_such_file_or_directory,
                                                      .message = "missing X",
                                                      .notes = {}});
    // A path in an option that is overridden later still fails the mount (§1.3).
    CHECK(error_of("lowerdir=X:A,lowerdir=A:B").code == std::errc::no_such_file_or_directory);
    // lowerdir+ resolves before the ordering rule is checked.
    CHECK(error_of("lowerdir=A:B,lowerdir+=X").code == std::errc::no_such_file_or_directory);
    // The data-then-regular rule fires before the next element is resolved.
    CHECK(error_of("lowerdir=A::B:X").code == einval);
    CHECK(error_of("lowerdir=A::X:B").code == std::errc::no_such_file_or_directory);
}

TEST_CASE("1.1 options: every key of the option table is known to the parser",
          "[spec.1.1][options]") {
    // Keys that take no value parse bare; enumerations need a value; directory keys need a path.
    for (const auto& k : detail::option_table<std::monostate>) {
        const std::string key(k.key);
        INFO(key);
        const auto bare = parse(key);
        switch (k.kind) {
        case detail::option_kind::sb_flag:
        case detail::option_kind::flag: CHECK(bare.code == std::errc{}); break;
        case detail::option_kind::enumeration:
        case detail::option_kind::layer_dir:
        case detail::option_kind::lowerdir:
            CHECK(bare.message == "overlay: Bad value for '" + key + "'");
            break;
        case detail::option_kind::source: CHECK(bare.message == "Non-string source"); break;
        }
    }
    // Keys are unique: a key found twice would shadow the second entry.
    for (const auto& a : detail::option_table<std::monostate>) {
        int same = 0;
        for (const auto& b : detail::option_table<std::monostate>) same += a.key == b.key;
        CHECK(same == 1);
    }
}
