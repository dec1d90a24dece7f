// SPDX-License-Identifier: MIT
// ovl-lint: scan a whole overlayfs layer stack, as `mount -t overlay -o OPTIONS` would show it, and
// report per path what is probably not what the image builder meant: data redirects caught by
// normal lower layers or blocked by their directories (spec §10 Q1), dangling or invalid
// redirects, metacopy files without data or refused by the options, names listed but not found,
// order-dependent lookups (§10 Q2), malformed metacopy digests; a refused stack too (§1).
//
//   ovl-lint -o OPTIONS [--format jsonl] [--data-redirects=kernel|scoped|strict]
//            [--module-defaults=stock|sysfs]
//
// The library does the work (ovlcore/lint.hpp); this file only parses arguments and prints.
// Exit status: 0 clean (or infos only), 1 warnings, 2 errors (a refused stack included),
// 3 usage or environment error.
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <ovlcore/backend/posix.hpp>
#include <ovlcore/extensions.hpp>
#include <ovlcore/lint.hpp>
#include <ovlcore/version.hpp>

#include "stack_cli.hpp"

namespace {

using ovlcore::cli::write_out;

constexpr std::string_view usage_text =
    "usage: ovl-lint -o OPTIONS [--format jsonl] [--data-redirects=kernel|scoped|strict]\n"
    "                [--module-defaults=stock|sysfs]\n"
    "       ovl-lint --help | --version\n";

constexpr std::string_view help_text =
    "Scan an overlayfs layer stack (Linux 6.18 semantics, nothing is mounted) and report, per\n"
    "path, lookups and data that are probably not what the image builder meant.\n"
    "\n"
    "  -o, --options OPTIONS   overlay mount options, e.g. lowerdir=meta:base::objects\n"
    "  --format jsonl          one JSON object per finding: path, severity, code, message\n"
    "                          [, errno] (default: one line per finding and a summary)\n"
    "  --data-redirects=kernel|scoped|strict\n"
    "                          kernel (default): Linux 6.18; scoped: '//path' redirects of lower\n"
    "                          metacopy files look in data-only layers only (ovlcore extension);\n"
    "                          strict: also read '/path' as '//path' (what scoping would do)\n"
    "  --module-defaults=stock|sysfs\n"
    "                          overlay module parameters to assume (see ovl-tree --help)\n"
    "  -h, --help              this text\n"
    "  --version               ovlcore version and the kernel whose semantics it follows\n"
    "\n"
    "Exit status: 0 clean, 1 warnings only, 2 errors (a stack the kernel would refuse is an\n"
    "error), 3 usage or environment error.\n";

enum class output_format { text, jsonl };

struct cli_options {
    std::optional<std::string> mount_options;
    output_format format = output_format::text;
    ovlcore::data_redirect_scope scope = ovlcore::data_redirect_scope::kernel;
    ovlcore::cli::defaults_source defaults = ovlcore::cli::defaults_source::automatic;
    bool help = false;
    bool version = false;
};

/// Parses argv ("--opt VALUE", "--opt=VALUE", "-oVALUE"); nullopt with `error` set on misuse.
std::optional<cli_options> parse_args(std::span<char*> args, std::string& error) {
    cli_options out;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view arg = args[i];
        std::string_view key = arg;
        std::optional<std::string_view> inline_value;
        if (arg.starts_with("--")) {
            if (const auto eq = arg.find('='); eq != std::string_view::npos) {
                key = arg.substr(0, eq);
                inline_value = arg.substr(eq + 1);
            }
        } else if (arg.starts_with("-o") && arg.size() > 2) {
            key = "-o";
            inline_value = arg.substr(2);
        }
        const auto value = [&]() -> std::optional<std::string> {
            if (inline_value) return std::string(*inline_value);
            if (i + 1 >= args.size()) {
                error = std::string(key) + " needs a value";
                return std::nullopt;
            }
            return std::string(args[++i]);
        };
        if ((key == "-h" || key == "--help" || key == "--version") && inline_value) {
            error = std::string(key) + " takes no value";
            return std::nullopt;
        }
        if (key == "-h" || key == "--help") {
            out.help = true;
            continue;
        }
        if (key == "--version") {
            out.version = true;
            continue;
        }
        if (key != "-o" && key != "--options" && key != "--format" && key != "--data-redirects" &&
            key != "--module-defaults") {
            error = "unknown argument '" + std::string(arg) + "'";
            return std::nullopt;
        }
        auto v = value();
        if (!v) return std::nullopt;
        if (key == "-o" || key == "--options") {
            if (out.mount_options) {
                error = "-o given twice (join the options with commas)";
                return std::nullopt;
            }
            out.mount_options = std::move(*v);
        } else if (key == "--format") {
            if (*v != "jsonl" && *v != "text") {
                error = "unknown --format '" + *v + "' (jsonl or text)";
                return std::nullopt;
            }
            out.format = *v == "jsonl" ? output_format::jsonl : output_format::text;
        } else if (key == "--data-redirects") {
            const auto scope = ovlcore::parse_data_redirect_scope(*v);
            if (!scope) {
                error = "unknown --data-redirects '" + *v + "' (kernel, scoped or strict)";
                return std::nullopt;
            }
            out.scope = *scope;
        } else if (!ovlcore::cli::parse_defaults_source(*v, out.defaults)) {
            error = "unknown --module-defaults '" + *v + "' (stock or sysfs)";
            return std::nullopt;
        }
    }
    if (!out.help && !out.version && !out.mount_options) {
        error = "give -o OPTIONS";
        return std::nullopt;
    }
    return out;
}

/// "3 errors, 1 warning, 0 infos in 120 paths (100 metacopy files, 12 data lookups)".
std::string summary(const ovlcore::lint_report& report) {
    std::size_t counts[3] = {0, 0, 0};
    for (const auto& f : report.findings) ++counts[static_cast<int>(f.severity)];
    const auto plural = [](std::size_t n, std::string_view word) {
        return std::to_string(n) + " " + std::string(word) + (n == 1 ? "" : "s");
    };
    return plural(counts[2], "error") + ", " + plural(counts[1], "warning") + ", " +
           plural(counts[0], "info") + " in " + plural(report.paths, "path") + " (" +
           plural(report.metacopy, "metacopy file") + ", " +
           plural(report.data_lookups, "data lookup") + ")\n";
}

int run(const cli_options& cli) {
    const ovlcore::posix_fs fs; // layer paths resolve against the working directory, as mount(2)
    std::string defaults_error;
    const auto defaults = ovlcore::cli::pick_module_defaults(cli.defaults, defaults_error);
    if (!defaults) {
        std::fprintf(stderr, "ovl-lint: %s\n", defaults_error.c_str());
        return 3;
    }
    ovlcore::lint_options options;
    options.ext.data_redirects = cli.scope;
    const auto report = ovlcore::lint_mount(fs, *cli.mount_options, *defaults, options);
    std::string out;
    for (const auto& f : report.findings) {
        out += cli.format == output_format::jsonl ? ovlcore::to_json(f) : ovlcore::to_text(f);
        out += '\n';
    }
    if (cli.format == output_format::text) out += summary(report);
    write_out(out);
    return report.exit_status();
}

} // namespace

int main(int argc, char** argv) {
    std::string error;
    const auto cli =
        parse_args(std::span<char*>(argv + 1, static_cast<std::size_t>(argc - 1)), error);
    if (!cli) {
        std::fprintf(stderr, "ovl-lint: %s\n%s", error.c_str(), std::string(usage_text).c_str());
        return 3;
    }
    if (cli->help) {
        ovlcore::cli::print_help(usage_text, help_text);
        return 0;
    }
    if (cli->version) {
        std::puts(ovlcore::cli::version_text("ovl-lint").c_str());
        return 0;
    }
    const int status = run(*cli);
    if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
        std::fprintf(stderr, "ovl-lint: error writing to stdout\n");
        return 3;
    }
    return status;
}
