// SPDX-License-Identifier: MIT
// Tests of ovlcore/fmt.hpp (the opt-in {fmt} formatters) and of the Catch StringMakers built on it
// (tests/support/string_makers.hpp). Every expected string is written out by hand.
#include <catch2/catch.hpp>

#include <cerrno>
#include <string>
#include <system_error>
#include <vector>

#include <ovlcore/fmt.hpp>
#include <ovlcore/options.hpp>
#include <ovlcore/result.hpp>
#include <ovlcore/types.hpp>

#include "support/string_makers.hpp"

using namespace ovlcore;

namespace {

stat_info regular_file() {
    return stat_info{.type = file_type::regular,
                     .mode = 0644,
                     .uid = 1000,
                     .gid = 100,
                     .size = 7,
                     .nlink = 1,
                     .ino = 12,
                     .dev = 2049,
                     .blocks = 8,
                     .blksize = 4096,
                     .atime = timestamp{.sec = 1700000000, .nsec = 5},
                     .mtime = timestamp{.sec = 1700000001, .nsec = 123456789},
                     .ctime = timestamp{.sec = 0, .nsec = 0}};
}

} // namespace

TEST_CASE("fmt: std::errc prints its errno name", "[fmt]") {
    CHECK(fmt::format("{}", std::errc::no_such_file_or_directory) == "ENOENT");
    CHECK(fmt::format("{}", std::errc::cross_device_link) == "EXDEV");
    CHECK(fmt::format("{}", static_cast<std::errc>(100000)) == "EUNKNOWN");
    // the string format spec applies to the name
    CHECK(fmt::format("[{:>7}]", std::errc::io_error) == "[    EIO]");
    CHECK(fmt::format("[{:<7}]", std::errc::io_error) == "[EIO    ]");
}

TEST_CASE("fmt: enums print their names", "[fmt]") {
    CHECK(fmt::format("{}", file_type::regular) == "reg");
    CHECK(fmt::format("{}", file_type::directory) == "dir");
    CHECK(fmt::format("{}", file_type::symlink) == "lnk");
    CHECK(fmt::format("{}", file_type::char_device) == "chr");
    CHECK(fmt::format("{}", file_type::block_device) == "blk");
    CHECK(fmt::format("{}", file_type::fifo) == "fifo");
    CHECK(fmt::format("{}", file_type::socket) == "sock");
    CHECK(fmt::format("{}", file_type::unknown) == "unknown");
    CHECK(fmt::format("{:^7}", file_type::fifo) == " fifo  ");

    CHECK(fmt::format("{}", layer_kind::upper) == "upper");
    CHECK(fmt::format("{}", layer_kind::lower) == "lower");
    CHECK(fmt::format("{}", layer_kind::data_only) == "data-only");

    CHECK(fmt::format("{} {} {}", redirect_mode::on, redirect_mode::follow,
                      redirect_mode::nofollow) == "on follow nofollow");
    CHECK(fmt::format("{} {} {}", verity_mode::off, verity_mode::on, verity_mode::require) ==
          "off on require");
    CHECK(fmt::format("{} {} {} {}", uuid_mode::off, uuid_mode::null, uuid_mode::auto_,
                      uuid_mode::on) == "off null auto on");
    CHECK(fmt::format("{} {} {}", xino_mode::off, xino_mode::auto_, xino_mode::on) ==
          "off auto on");
    CHECK(fmt::format("{} {} {}", fsync_mode::volatile_, fsync_mode::auto_, fsync_mode::strict) ==
          "volatile auto strict");
}

TEST_CASE("fmt: timestamp is seconds and nine digits of nanoseconds", "[fmt]") {
    CHECK(fmt::format("{}", timestamp{.sec = 5, .nsec = 7}) == "5.000000007");
    CHECK(fmt::format("{}", timestamp{.sec = -1, .nsec = 999999999}) == "-1.999999999");
    CHECK(fmt::format("{}", timestamp{}) == "0.000000000");
}

TEST_CASE("fmt: stat_info compact and full", "[fmt]") {
    const stat_info st = regular_file();
    CHECK(fmt::format("{}", st) == "reg 0644 1000:100 size=7 nlink=1 ino=12 dev=2049");
    CHECK(fmt::format("{:f}", st) ==
          "reg 0644 1000:100 size=7 nlink=1 ino=12 dev=2049 rdev=0:0 blocks=8 blksize=4096 "
          "atime=1700000000.000000005 mtime=1700000001.123456789 ctime=0.000000000");

    const stat_info dir{
        .type = file_type::directory, .mode = 01777, .size = 4096, .nlink = 3, .ino = 2, .dev = 42};
    CHECK(fmt::format("{}", dir) == "dir 1777 0:0 size=4096 nlink=3 ino=2 dev=42");

    const stat_info null_dev{
        .type = file_type::char_device, .mode = 0666, .rdev_major = 1, .rdev_minor = 3};
    // a device shows its rdev in the compact form too
    CHECK(fmt::format("{}", null_dev) == "chr 0666 0:0 size=0 nlink=1 ino=0 dev=0 rdev=1:3");
    // a whiteout is a 0:0 character device
    const stat_info whiteout{.type = file_type::char_device};
    CHECK(fmt::format("{}", whiteout) == "chr 0000 0:0 size=0 nlink=1 ino=0 dev=0 rdev=0:0");

    CHECK_THROWS_AS(fmt::format(fmt::runtime("{:x}"), st), fmt::format_error);
}

TEST_CASE("fmt: dir_entry quotes and escapes its name", "[fmt]") {
    CHECK(fmt::format("{}", dir_entry{.name = "a", .type = file_type::regular, .ino = 12}) ==
          "\"a\" reg ino=12");
    CHECK(
        fmt::format("{}", dir_entry{.name = "two words", .type = file_type::directory, .ino = 0}) ==
        "\"two words\" dir ino=0");
    CHECK(fmt::format("{}", dir_entry{.name = "q\"\n", .type = file_type::unknown, .ino = 7}) ==
          "\"q\\\"\\n\" unknown ino=7");
}

TEST_CASE("fmt: result<T> is the value or the errno name", "[fmt]") {
    const result<int> five = 5;
    const result<int> no_entry = fail(std::errc::no_such_file_or_directory);
    CHECK(fmt::format("{}", five) == "5");
    CHECK(fmt::format("{:03}", five) == "005"); // T's spec applies to the value
    CHECK(fmt::format("{}", no_entry) == "ENOENT");
    CHECK(fmt::format("{:03}", no_entry) == "ENOENT");

    const result<stat_info> st = regular_file();
    CHECK(fmt::format("{}", st) == "reg 0644 1000:100 size=7 nlink=1 ino=12 dev=2049");
    CHECK(fmt::format("{:f}", st) ==
          "reg 0644 1000:100 size=7 nlink=1 ino=12 dev=2049 rdev=0:0 blocks=8 blksize=4096 "
          "atime=1700000000.000000005 mtime=1700000001.123456789 ctime=0.000000000");
    const result<stat_info> stale = fail_errno(ESTALE);
    CHECK(fmt::format("{:f}", stale) == "ESTALE");

    const result<file_type> type = file_type::symlink;
    CHECK(fmt::format("{}", type) == "lnk");
    const result<std::string> text = std::string("hello");
    CHECK(fmt::format("{}", text) == "hello");

    CHECK(fmt::format("{}", result<void>{}) == "ok");
    CHECK(fmt::format("{}", result<void>(fail(std::errc::io_error))) == "EIO");

    // formattable only where T is
    struct opaque {};
    STATIC_REQUIRE(fmt::is_formattable<result<int>>::value);
    STATIC_REQUIRE_FALSE(fmt::is_formattable<result<opaque>>::value);
}

TEST_CASE("fmt: Catch prints domain values through the StringMakers", "[fmt][support]") {
    using Catch::Detail::stringify;
    CHECK(stringify(std::errc::permission_denied) == "EACCES");
    CHECK(stringify(file_type::directory) == "dir");
    CHECK(stringify(layer_kind::data_only) == "data-only");
    CHECK(stringify(regular_file()) ==
          "{reg 0644 1000:100 size=7 nlink=1 ino=12 dev=2049 rdev=0:0 blocks=8 blksize=4096 "
          "atime=1700000000.000000005 mtime=1700000001.123456789 ctime=0.000000000}");
    CHECK(stringify(dir_entry{.name = "x", .type = file_type::fifo, .ino = 9}) ==
          "{\"x\" fifo ino=9}");
    CHECK(stringify(
              std::vector<dir_entry>{{"a", file_type::regular, 1}, {"b", file_type::symlink, 2}}) ==
          "{ {\"a\" reg ino=1}, {\"b\" lnk ino=2} }");

    CHECK(stringify(result<int>(7)) == "7");
    CHECK(stringify(result<int>(fail(std::errc::not_a_directory))) == "ENOTDIR");
    CHECK(stringify(result<file_type>(file_type::socket)) == "sock");
    CHECK(stringify(result<std::string>(std::string("ENOENT"))) == "\"ENOENT\""); // a value
    CHECK(stringify(result<void>{}) == "ok");
    CHECK(stringify(result<void>(fail(std::errc::too_many_symbolic_link_levels))) == "ELOOP");

    CHECK(ovlcore::test::err(result<int>(1)) == "ok");
    CHECK(ovlcore::test::err(result<int>(fail(std::errc::filename_too_long))) == "ENAMETOOLONG");
}
