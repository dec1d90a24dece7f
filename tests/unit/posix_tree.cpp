// SPDX-License-Identifier: MIT
// Tests for ovlcore/backend/posix_tree.hpp: mounted_tree dumps a real directory as dump-format.md
// describes (the same records the kernel oracle writes for a mount). Digests from coreutils
// sha256sum.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "ovlcore/backend/posix_tree.hpp"
#include "ovlcore/dump.hpp"
#include "support/string_makers.hpp"
#include "support/temp_dir.hpp"

namespace {

void write_file(const std::string& path, const std::string& content, mode_t mode) {
    std::ofstream(path, std::ios::binary) << content;
    REQUIRE(::chmod(path.c_str(), mode) == 0);
}

} // namespace

TEST_CASE("dump: mounted_tree walks a real directory without following symlinks",
          "[dump][posix_tree]") {
    const ovlcore::test::temp_dir tmp("ovlcore-posix-tree-");
    const std::string root = tmp.str();
    REQUIRE(::chmod(root.c_str(), 0755) == 0);
    REQUIRE(::mkdir((root + "/d").c_str(), 0700) == 0);
    REQUIRE(::chmod((root + "/d").c_str(), 0710) == 0);
    write_file(root + "/d/f", "posix\n", 0640);
    write_file(root + "/d-f", "", 04711);
    REQUIRE(::symlink("d", (root + "/ld").c_str()) == 0);
    REQUIRE(::symlink("/", (root + "/abs").c_str()) == 0);
    REQUIRE(::mkfifo((root + "/p").c_str(), 0600) == 0);
    REQUIRE(::chmod((root + "/p").c_str(), 0600) == 0);

    auto tree = ovlcore::mounted_tree::open_root(root);
    REQUIRE(tree);
    const std::vector<std::string> probes = {"/ld/f", "/missing", "/d/f/x"};
    std::vector<std::string> lines;
    for (const auto& rec : ovlcore::dump_records(*tree, probes))
        lines.push_back(ovlcore::to_json(rec));
    // Everything here belongs to the caller.
    const std::string ids =
        ", \"uid\": " + std::to_string(::geteuid()) + ", \"gid\": " + std::to_string(::getegid());
    const std::vector<std::string> expected = {
        R"({"path": "/", "type": "dir", "mode": "0755")" + ids + "}",
        R"({"path": "/abs", "type": "lnk", "mode": "0777")" + ids +
            R"(, "size": 1, "target": "/"})",
        R"({"path": "/d", "type": "dir", "mode": "0710")" + ids + "}",
        R"({"path": "/d-f", "type": "reg", "mode": "4711")" + ids +
            R"(, "size": 0, )"
            R"("sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"})",
        R"({"path": "/d/f", "type": "reg", "mode": "0640")" + ids +
            R"(, "size": 6, )"
            R"("sha256": "ceb1effbcc434e5f31864d2ddab4e0b1ae49862085522b1481fc859771f466de"})",
        R"({"path": "/d/f/x", "error": "ENOTDIR"})",
        // A probe through a symlinked directory is walked like lstat(2) walks it.
        R"({"path": "/ld", "type": "lnk", "mode": "0777")" + ids + R"(, "size": 1, "target": "d"})",
        R"({"path": "/ld/f", "type": "reg", "mode": "0640")" + ids +
            R"(, "size": 6, )"
            R"("sha256": "ceb1effbcc434e5f31864d2ddab4e0b1ae49862085522b1481fc859771f466de"})",
        R"({"path": "/missing", "error": "ENOENT"})",
        R"({"path": "/p", "type": "fifo", "mode": "0600")" + ids + "}",
    };
    CHECK(lines == expected);
}

TEST_CASE("dump: mounted_tree refuses a root that is not a directory", "[dump][posix_tree]") {
    const ovlcore::test::temp_dir tmp("ovlcore-posix-tree-");
    write_file(tmp.str() + "/f", "x", 0644);
    const auto tree = ovlcore::mounted_tree::open_root(tmp.str() + "/f");
    REQUIRE_FALSE(tree);
    CHECK(tree.error() == std::errc::not_a_directory);
    CHECK(ovlcore::mounted_tree::open_root(tmp.str() + "/none").error() ==
          std::errc::no_such_file_or_directory);
}
