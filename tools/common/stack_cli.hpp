// SPDX-License-Identifier: MIT
// tools/common/stack_cli.hpp: what the tools that build a layer stack (ovl-tree, ovl-lint,
// ovl-fuse) share: the module defaults to assume (spec §1.4), the words for a stack the kernel
// would refuse (spec §1, docs/dump-format.md "Rejected stacks"; exit status 2, exit_codes.hpp),
// and the --version line (docs/cli.md). Not part of the library.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>
#include <system_error>

#include <ovlcore/backend/module_defaults_sysfs.hpp>
#include <ovlcore/layer_stack.hpp>
#include <ovlcore/quote.hpp>
#include <ovlcore/result.hpp>
#include <ovlcore/version.hpp>

namespace ovlcore::cli {

/// Where the overlay module parameters come from (spec §1.4).
enum class defaults_source { automatic, stock, sysfs };

/// Parses the value of --module-defaults ("stock" or "sysfs").
[[nodiscard]] inline bool parse_defaults_source(std::string_view text, defaults_source& out) {
    if (text == "stock")
        out = defaults_source::stock;
    else if (text == "sysfs")
        out = defaults_source::sysfs;
    else
        return false;
    return true;
}

/// The module defaults to use: stock values, the running kernel's (/sys/module/overlay/
/// parameters), or (automatic) the running kernel's when readable, else stock. Only `sysfs`
/// can fail: the errno of reading sysfs, with `error` set to a sentence for the user.
[[nodiscard]] inline result<module_defaults> pick_module_defaults(defaults_source source,
                                                                  std::string& error) {
    if (source == defaults_source::stock) return module_defaults{};
    auto sysfs = read_module_defaults();
    if (sysfs) return *sysfs;
    if (source == defaults_source::sysfs) {
        error = "cannot read /sys/module/overlay/parameters: " +
                std::string(errno_name(sysfs.error())) +
                " (is the overlay module loaded? --module-defaults=stock avoids it)";
        return fail(sysfs.error());
    }
    return module_defaults{};
}

/// The stderr text for a refused stack (no final newline): first the info lines the kernel logs
/// before refusing (mount_error::notes, §1.4), one "<tool>: overlayfs: <note>" line each, then
/// "<tool>: the kernel would refuse this mount: EINVAL: <message>". Every line is made safe for
/// a terminal by shell_escape_text() (docs/cli.md §9); tools exit with exit_code::refused after
/// printing it.
[[nodiscard]] inline std::string refusal_text(std::string_view tool, const mount_error& error) {
    std::string out;
    for (const auto& note : error.notes) {
        out += tool;
        out += ": overlayfs: ";
        out += shell_escape_text(note);
        out += '\n';
    }
    out += tool;
    out += ": the kernel would refuse this mount: ";
    out += errno_name(error.code);
    out += ": ";
    out += shell_escape_text(error.message);
    return out;
}

/// Writes text to stdout as it is.
inline void write_out(std::string_view text) { std::fwrite(text.data(), 1, text.size(), stdout); }

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
