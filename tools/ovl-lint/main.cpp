// SPDX-License-Identifier: MIT
// ovl-lint: scan a whole overlayfs layer stack, as `mount -t overlay -o OPTIONS` would show it, and
// report per path what is probably not what the image builder meant: data redirects caught by
// normal lower layers or blocked by their directories (spec §10 Q1), dangling or invalid
// redirects, metacopy files without data or refused by the options, names listed but not found,
// order-dependent lookups (§10 Q2), malformed metacopy digests; a refused stack too (§1).
// Manual: docs/tools/ovl-lint.md (the same text as --help); conventions: docs/cli.md.
//
// The library does the work (ovlcore/lint.hpp); this file only parses arguments and prints.
// Exit status (exit_codes.hpp): 0 clean (or infos only), 1 failure, 2 the kernel would refuse
// the stack, 3 warnings, 4 errors, 64 usage error.
#include <cstdio>
#include <string>
#include <string_view>
#include <variant>

#include <ovlcore/backend/posix.hpp>
#include <ovlcore/extensions.hpp>
#include <ovlcore/lint.hpp>
#include <ovlcore/version.hpp>

#include "common/cli.hpp"
#include "common/evp_sha256.hpp"
#include "common/exit_codes.hpp"
#include "common/images_cli.hpp"
#include "common/stack_cli.hpp"

namespace {

using ovlcore::cli::write_out;
namespace exit_code = ovlcore::cli::exit_code;

const ovlcore::cli::man_page manual{
    .name = "ovl-lint",
    .summary = "report the lookups of an overlayfs layer stack that are probably not meant",
    .synopsis =
        "ovl-lint -o OPTIONS [--format=jsonl|text] [--data-redirects=kernel|scoped|strict]\n"
        "         [--module-defaults=stock|sysfs] [--images]\n"
        "         [--verity-digests=none|kernel|compute]\n"
        "ovl-lint --help | --version",
    .description =
        "Scans the layer stack that `mount -t overlay overlay -o OPTIONS` would use (Linux 6.18\n"
        "semantics, nothing is mounted): looks every listed name up the way a fresh mount\n"
        "would, and reports per path what is probably not what the image builder meant, with\n"
        "a severity (info, warning, error) and a code: data redirects caught by normal lower\n"
        "layers or blocked by their directories (spec §10 Q1), dangling or invalid redirects,\n"
        "metacopy files without data or refused by the options, names listed but not found,\n"
        "order-dependent lookups (§10 Q2), malformed metacopy digests, and a stack the kernel\n"
        "would refuse (§1: code mount-refused, exit status 2). Layer paths in OPTIONS are\n"
        "resolved against the working directory, as by mount(2). File contents are never read,\n"
        "except with --verity-digests=compute, which reads each data object with a digest once\n"
        "(code digest-mismatch when it differs; kernel asks the filesystem instead).\n"
        "With --images, a layer path naming a regular file is an EROFS image read without\n"
        "mounting it (composefs's lowerdir=IMAGE::OBJECTS).",
    .exit_status = {{.code = exit_code::success, .meaning = "no findings, or infos only"},
                    {.code = exit_code::failure,
                     .meaning = "/sys cannot be read (--module-defaults=sysfs), stdout cannot\n"
                                "be written"},
                    {.code = exit_code::refused,
                     .meaning = "the kernel would refuse this mount (one mount-refused\n"
                                "finding, an error)"},
                    {.code = exit_code::lint_warnings},
                    {.code = exit_code::lint_errors},
                    {.code = exit_code::usage}},
    .examples =
        "ovl-lint -o lowerdir=meta:base::objects,metacopy=on,redirect_dir=follow\n"
        "ovl-lint -o lowerdir=meta::objects -o metacopy=on --format=jsonl\n"
        "ovl-lint -o lowerdir=meta::objects,metacopy=on --data-redirects=scoped\n"
        "ovl-lint --images -o lowerdir=image.erofs::objects,metacopy=on,redirect_dir=on",
    .see_also = "ovl-tree(1), docs/tools/ovl-lint.md, docs/cli.md",
};

enum class output_format { text, jsonl };

struct cli_options {
    std::string mount_options;
    output_format format = output_format::text;
    ovlcore::data_redirect_scope scope = ovlcore::data_redirect_scope::kernel;
    ovlcore::cli::defaults_source defaults = ovlcore::cli::defaults_source::automatic;
    bool images = false;
    ovlcore::verity_support verity = ovlcore::verity_support::unavailable;
};

/// Parses argv: the options, or the status to exit with (help, version, usage error).
std::variant<cli_options, int> parse_args(int argc, char** argv) {
    ovlcore::cli::command_line cl(manual);
    cli_options out;
    std::string format = "text";
    const auto* o = cl.add_mount_options(out.mount_options,
                                         "overlay mount options, e.g. lowerdir=meta:base::objects");
    cl.add_choice("--format", format, {"jsonl", "text"},
                  "jsonl: one JSON object per finding: path, severity, code, message\n"
                  "[, errno]; text (default): one line per finding and a summary");
    cl.add_data_redirects(out.scope);
    cl.add_verity_digests(out.verity);
    cl.add_module_defaults(out.defaults);
    cl.app().add_flag("--images", out.images, ovlcore::cli::images_help);
    if (const auto status = cl.parse(argc, argv)) return *status;
    if (o->count() == 0) return cl.usage_error("give -o OPTIONS");
    out.format = format == "jsonl" ? output_format::jsonl : output_format::text;
    return out;
}

/// The exit status of a report (exit_codes.hpp): a refused stack is 2 like in every tool, then
/// errors 4, warnings 3, else 0.
int exit_status(const ovlcore::lint_report& report) {
    if (report.refused()) return exit_code::refused;
    switch (report.worst()) {
    case ovlcore::lint_severity::error: return exit_code::lint_errors;
    case ovlcore::lint_severity::warning: return exit_code::lint_warnings;
    case ovlcore::lint_severity::info: break;
    }
    return exit_code::success;
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

template <class B>
int run_on(const B& fs, const cli_options& cli) {
    std::string defaults_error;
    const auto defaults = ovlcore::cli::pick_module_defaults(cli.defaults, defaults_error);
    if (!defaults) {
        std::fprintf(stderr, "ovl-lint: %s\n", defaults_error.c_str());
        return exit_code::failure;
    }
    ovlcore::lint_options options;
    options.ext.data_redirects = cli.scope;
    options.verity = cli.verity;
    options.verity_sha256 = &ovlcore::sha256_with<ovlcore::cli::evp_sha256>; // OpenSSL, spec §7
    const auto report = ovlcore::lint_mount(fs, cli.mount_options, *defaults, options);
    ovlcore::cli::report_image_failures("ovl-lint", fs);
    std::string out;
    for (const auto& f : report.findings) {
        out += cli.format == output_format::jsonl ? ovlcore::to_json(f) : ovlcore::to_text(f);
        out += '\n';
    }
    if (cli.format == output_format::text) out += summary(report);
    write_out(out);
    return exit_status(report);
}

/// Over directories (posix_fs: layer paths resolve against the working directory, as mount(2)),
/// or with --images over directories and EROFS images.
int run(const cli_options& cli) {
    return ovlcore::cli::with_layer_backend(cli.images,
                                            [&](const auto& fs) { return run_on(fs, cli); });
}

} // namespace

int tool_main(int argc, char** argv) {
    const auto parsed = parse_args(argc, argv);
    if (const int* status = std::get_if<int>(&parsed)) return *status;
    const int status = run(std::get<cli_options>(parsed));
    if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
        std::fprintf(stderr, "ovl-lint: error writing to stdout\n");
        return exit_code::failure;
    }
    return status;
}

int main(int argc, char** argv) {
    return ovlcore::cli::guarded_main("ovl-lint", [&] { return tool_main(argc, argv); });
}
