// SPDX-License-Identifier: MIT
// ovl-mkstack: materialises a scenario JSON's layers on disk and prints the mount options with
// {NAME}/{ROOT} substituted (format: docs/testing.md §1; spec §0, §3). A test and
// development helper: built with the tools or the tests, not installed (docs/tools/ovl-mkstack.md).
// Exit status (exit_codes.hpp): 0 success, 1 failure (unreadable scenario, non-empty DIR, a file
// system error such as mknod without root), 64 usage error.
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <string>
#include <string_view>
#include <system_error>

#include "common/cli.hpp"
#include "common/exit_codes.hpp"
#include <ovlcore/quote.hpp>
#include <ovlcore/testing/scenario.hpp>

namespace {

namespace exit_code = ovlcore::cli::exit_code;

const ovlcore::cli::man_page manual{
    .name = "ovl-mkstack",
    .summary = "create the layers of a scenario file on disk and print its mount options",
    .synopsis =
        "ovl-mkstack [-o OPTIONS]... [--] SCENARIO.json DIR\n"
        "ovl-mkstack --help | --version",
    .description =
        "Creates the layers (and workdirs) of SCENARIO.json (the scenario format of\n"
        "docs/testing.md §1) as directories DIR/<name>, then prints the scenario's\n"
        "mount options with {NAME} replaced by DIR/<name> and {ROOT} by DIR, one line.\n"
        "DIR is created if missing and must be empty. Device nodes, whiteouts, ownership and\n"
        "trusted.* xattrs need root.\n"
        "\n"
        "A test and development helper (the demo, the kernel and FUSE tests use it); it is\n"
        "built with the tools or the tests and not installed.",
    .exit_status = {{.code = exit_code::success},
                    {.code = exit_code::failure,
                     .meaning = "the scenario cannot be read, DIR is not an empty directory,\n"
                                "a file system error (e.g. mknod without root)"},
                    {.code = exit_code::usage}},
    .examples =
        "ovl-mkstack examples/demo/stack.json /tmp/demo\n"
        "ovl-mkstack -o index=off tests/data/kernel/scenarios/merge_two_layers.json /tmp/s\n"
        "ovl-tree -o \"$(ovl-mkstack examples/demo/stack.json /tmp/demo2)\"",
    .see_also = "ovl-tree(1), tools/kernel_oracle.py, docs/tools/ovl-mkstack.md, docs/cli.md",
};

int fail(const std::string& message) {
    std::cerr << "ovl-mkstack: " << ovlcore::shell_escape_text(message) << '\n'; // docs/cli.md §9
    return exit_code::failure;
}

} // namespace

int tool_main(int argc, char** argv) {
    ovlcore::cli::command_line cl(manual);
    std::string extra_options, scenario_arg, dir_arg;
    const auto* extra =
        cl.add_mount_options(extra_options,
                             "more mount options, appended to the scenario's after a comma\n"
                             "({NAME} and {ROOT} are replaced in them too)");
    const auto* scenario_opt =
        cl.app().add_option("SCENARIO.json", scenario_arg, "the scenario file")->type_name("FILE");
    const auto* dir_opt =
        cl.app()
            .add_option("DIR", dir_arg, "where the layers are created (missing or empty)")
            ->type_name("DIR");
    if (const auto status = cl.parse(argc, argv)) return *status;
    if (scenario_opt->count() == 0 || dir_opt->count() == 0)
        return cl.usage_error("expected SCENARIO.json and DIR");
    const std::filesystem::path scenario_file = scenario_arg;
    const std::filesystem::path dir = dir_arg;
    if (dir.empty()) return cl.usage_error("DIR must not be empty");

    ovlcore::testing::scenario s;
    try {
        s = ovlcore::testing::load_scenario(scenario_file);
    } catch (const std::exception& e) {
        return fail(std::string("cannot load scenario: ") + e.what());
    }
    if (extra->count() > 0 && !extra_options.empty())
        s.options += (s.options.empty() ? "" : ",") + extra_options;

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
        const std::string options = ovlcore::testing::build_on_disk(s, root);
        std::cout << options << '\n';
    } catch (const std::exception& e) {
        return fail(scenario_file.string() + ": " + e.what());
    }
    return std::cout.flush() ? exit_code::success : exit_code::failure;
}

int main(int argc, char** argv) {
    return ovlcore::cli::guarded_main("ovl-mkstack", [&] { return tool_main(argc, argv); });
}
