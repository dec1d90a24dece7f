// SPDX-License-Identifier: MIT
// examples/stack_cli.hpp: what the command-line tools (ovl-tree, ovl-lint, ovl-fuse) share: the
// module defaults to assume when they build a layer stack (spec §1.4), the words for a stack the
// kernel would refuse (spec §1, dump-format.md "Rejected stacks"), and the --help / --version
// output. Not part of the library; included by the examples only.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>
#include <system_error>

#include <ovlcore/layer_stack.hpp>
#include <ovlcore/result.hpp>
#include <ovlcore/version.hpp>

namespace ovlcore::cli {

/// Where the overlay module parameters come from (spec §1.4).
enum class defaults_source { automatic, stock, sysfs };

/// Parses the value of --module-defaults ("stock" or "sysfs").
[[nodiscard]] inline bool parse_defaults_source(std::string_view text, defaults_source& out) {
    if (text == "stock") out = defaults_source::stock;
    else if (text == "sysfs") out = defaults_source::sysfs;
    else return false;
    return true;
}

/// The module defaults to use: stock values, the running kernel's (/sys/module/overlay/
/// parameters), or (automatic) the running kernel's when readable, else stock. Only `sysfs`
/// can fail: the errno of reading sysfs, with `error` set to a sentence for the user.
[[nodiscard]] inline result<module_defaults> pick_module_defaults(defaults_source source,
                                                                  std::string& error) {
    if (source == defaults_source::stock) return module_defaults{};
    auto sysfs = module_defaults::from_sysfs();
    if (sysfs) return *sysfs;
    if (source == defaults_source::sysfs) {
        error = "cannot read /sys/module/overlay/parameters: " +
                std::string(errno_name(sysfs.error())) +
                " (is the overlay module loaded? --module-defaults=stock avoids it)";
        return fail(sysfs.error());
    }
    return module_defaults{};
}

/// The errno a refused stack reports: the mount_error's, else the result's.
[[nodiscard]] inline std::errc refusal_code(const mount_error& error, std::errc fallback) noexcept {
    return error.code != std::errc{} ? error.code : fallback;
}

/// The stderr line for a refused stack, "<tool>: the kernel would refuse this mount: EINVAL:
/// <message>" (no newline); tools exit with status 2 after printing it.
[[nodiscard]] inline std::string refusal_text(std::string_view tool, std::errc code,
                                              std::string_view message) {
    std::string out(tool);
    out += ": the kernel would refuse this mount: ";
    out += errno_name(code);
    out += ": ";
    out += message;
    return out;
}

/// Writes text to stdout as it is.
inline void write_out(std::string_view text) { std::fwrite(text.data(), 1, text.size(), stdout); }

/// --help: the usage lines, a blank line, then the help text.
inline void print_help(std::string_view usage, std::string_view help) {
    write_out(usage);
    write_out("\n");
    write_out(help);
}

/// The --version line without its newline: "<tool> (ovlcore X.Y.Z), overlayfs semantics of Linux
/// A.B"; a tool may append its own components.
[[nodiscard]] inline std::string version_text(std::string_view tool) {
    char line[160];
    std::snprintf(line, sizeof line, "%.*s (ovlcore %d.%d.%d), overlayfs semantics of Linux %d.%d",
                  static_cast<int>(tool.size()), tool.data(), OVLCORE_VERSION_MAJOR,
                  OVLCORE_VERSION_MINOR, OVLCORE_VERSION_PATCH, kernel_baseline_major,
                  kernel_baseline_minor);
    return line;
}

} // namespace ovlcore::cli
