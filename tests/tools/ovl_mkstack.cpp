// SPDX-License-Identifier: MIT
// ovl-mkstack: materialises a scenario JSON's layers on disk and prints the mount options with
// {NAME}/{ROOT} substituted (format: tests/data/kernel/README.md; spec §0, §3).
//
//   ovl-mkstack SCENARIO.json DIR
//
// DIR is created if missing and must be empty. Exit status: 0 success, 1 failure (unreadable
// scenario, non-empty DIR, a file system error such as mknod without root), 2 usage error.
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <string>
#include <string_view>
#include <system_error>

#include "support/scenario.hpp"

namespace {

constexpr std::string_view usage_text =
    "usage: ovl-mkstack SCENARIO.json DIR\n"
    "\n"
    "Creates the layers (and workdirs) of SCENARIO.json as directories DIR/<name>, then prints\n"
    "the scenario's mount options with {NAME} replaced by DIR/<name> and {ROOT} by DIR.\n"
    "DIR is created if missing and must be empty. Device nodes, whiteouts, ownership and\n"
    "trusted.* xattrs need root.\n"
    "\n"
    "exit status: 0 success, 1 failure, 2 usage error\n";

int fail(const std::string& message) {
    std::cerr << "ovl-mkstack: " << message << '\n';
    return 1;
}

} // namespace

int main(int argc, char** argv) {
    if (argc == 2 && (std::string_view(argv[1]) == "-h" || std::string_view(argv[1]) == "--help")) {
        std::cout << usage_text;
        return 0;
    }
    if (argc != 3) {
        std::cerr << "ovl-mkstack: expected 2 arguments, got " << (argc - 1) << "\n\n"
                  << usage_text;
        return 2;
    }
    const std::filesystem::path scenario_file = argv[1];
    const std::filesystem::path dir = argv[2];
    if (dir.empty()) {
        std::cerr << "ovl-mkstack: DIR must not be empty\n\n" << usage_text;
        return 2;
    }

    ovlcore::test::scenario s;
    try {
        s = ovlcore::test::load_scenario(scenario_file);
    } catch (const std::exception& e) {
        return fail(std::string("cannot load scenario: ") + e.what());
    }

    std::error_code ec;
    const auto st = std::filesystem::symlink_status(dir, ec);
    if (std::filesystem::exists(st)) {
        if (!std::filesystem::is_directory(std::filesystem::status(dir, ec)))
            return fail(dir.string() + " exists and is not a directory");
        if (!std::filesystem::is_empty(dir, ec) || ec)
            return fail("refusing to use non-empty directory " + dir.string());
    } else {
        std::filesystem::create_directories(dir, ec);
        if (ec) return fail("cannot create " + dir.string() + ": " + ec.message());
    }
    const auto root = std::filesystem::canonical(dir, ec);
    if (ec) return fail("cannot resolve " + dir.string() + ": " + ec.message());

    try {
        const std::string options = ovlcore::test::build_on_disk(s, root);
        std::cout << options << '\n';
    } catch (const std::exception& e) {
        return fail(scenario_file.string() + ": " + e.what());
    }
    return std::cout.flush() ? 0 : 1;
}
