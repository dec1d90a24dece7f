// SPDX-License-Identifier: MIT
// tools/common/cli.hpp: the command-line conventions every ovlcore tool follows (docs/cli.md):
// CLI11 parses, this file renders the man-page-style --help (NAME, SYNOPSIS, DESCRIPTION, OPTIONS,
// EXIT STATUS, EXAMPLES, SEE ALSO) and defines the shared options once: -o OPTIONS (repeatable,
// joined with ',' in order, as mount(8) does), --module-defaults (spec §1.4), --data-redirects
// (extensions.hpp), -h/--help, -V/--version; `--` ends the options (CLI11). Usage errors print
// "<tool>: <message>" and the synopsis on stderr and exit 64 (exit_codes.hpp).
#pragma once

#include <cstdio>
#include <exception>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include <ovlcore/extensions.hpp>
#include <ovlcore/lowerdata.hpp>
#include <ovlcore/quote.hpp>

#include "common/exit_codes.hpp"
#include "common/stack_cli.hpp"

namespace ovlcore::cli {

/// One line of EXIT STATUS: a code of exit_code_table and, when the tool says more than the
/// table, its own words.
struct exit_doc {
    int code;
    std::string_view meaning = {};
};

/// A manual section besides the standard ones (e.g. ovl-fuse's OPTION ROUTING).
struct man_section {
    std::string_view title;
    std::string_view text;
};

/// The hand-written parts of a tool's manual; OPTIONS is generated from the parser, so the help
/// cannot list an option that does not exist. Text is lines separated by '\n', indented by the
/// renderer.
struct man_page {
    std::string_view name;        ///< "ovl-tree"
    std::string_view summary;     ///< NAME: "<name> - <summary>"
    std::string_view synopsis;    ///< one usage form per line, each starting with the name
    std::string_view description; ///< DESCRIPTION
    std::vector<man_section> extra_sections = {}; ///< printed after OPTIONS
    std::vector<exit_doc> exit_status = {};       ///< EXIT STATUS, in this order
    std::string_view examples = {};
    std::string_view see_also = {};
};

/// Appends `text` with every non-empty line indented by `indent` spaces.
inline void append_indented(std::string& out, std::string_view text, std::size_t indent) {
    while (!text.empty()) {
        const auto nl = text.find('\n');
        const std::string_view line = text.substr(0, nl);
        if (!line.empty()) out.append(indent, ' ').append(line);
        out += '\n';
        if (nl == std::string_view::npos) break;
        text.remove_prefix(nl + 1);
    }
}

/// A tool's command line: a CLI11 app with the shared options and the manual. Not copyable
/// (options bind to its members).
class command_line {
public:
    explicit command_line(man_page page) : page_(std::move(page)), app_(std::string(page_.name)) {
        app_.set_help_flag(); // our own --help, rendered from page_
        app_.allow_extras();  // reported by parse() in our words
        version_ = version_text(page_.name);
        help_ = app_.add_flag("-h,--help", help_given_, "print this manual and exit");
        version_flag_ = app_.add_flag("-V,--version", version_given_,
                                      "print the versions of the tool, of ovlcore and of the\n"
                                      "kernel whose overlayfs semantics it follows, and exit");
    }
    command_line(const command_line&) = delete;
    command_line& operator=(const command_line&) = delete;

    [[nodiscard]] CLI::App& app() noexcept { return app_; }
    [[nodiscard]] std::string_view name() const noexcept { return page_.name; }

    /// Replaces the --version line (default: version_text(name)).
    void set_version(std::string line) { version_ = std::move(line); }

    /// -o OPTIONS / --options=OPTIONS, repeatable: after parse(), `joined` holds the values
    /// joined with ',' in the order given (mount(8)); returns the option (count() says whether
    /// any was given).
    CLI::Option* add_mount_options(std::string& joined, const std::string& description) {
        joined_ = &joined;
        return app_
            .add_option(
                "-o,--options", mount_options_,
                description +
                    ";\nrepeatable: the values are joined with ',' in order, as by mount(8)")
            ->type_name("OPTIONS")
            ->allow_extra_args(false) // one value per -o, as mount(8)
            ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    }

    /// --name=VALUE where VALUE is one of `choices` (the last one given wins).
    CLI::Option* add_choice(const std::string& name, std::string& out,
                            std::initializer_list<std::string_view> choices,
                            const std::string& description) {
        std::string names;
        for (const auto c : choices) names += (names.empty() ? "" : "|") + std::string(c);
        std::vector<std::string> allowed(choices.begin(), choices.end());
        return app_.add_option(name, out, description)
            ->type_name(names)
            ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)
            ->check(CLI::Validator(
                [allowed, names](std::string& value) -> std::string {
                    for (const auto& a : allowed)
                        if (value == a) return {};
                    return "unknown value '" + value + "' (" + names + ")";
                },
                ""));
    }

    /// --module-defaults=stock|sysfs (spec §1.4; stack_cli.hpp pick_module_defaults).
    CLI::Option* add_module_defaults(defaults_source& out) {
        return add_choice("--module-defaults", module_defaults_, {"stock", "sysfs"},
                          "overlay module parameters to assume: the running kernel's\n"
                          "(/sys/module/overlay/parameters; the default when readable) or a\n"
                          "stock kernel's (redirect_dir=N, redirect_always_follow=Y, rest N)")
            ->each([&out](const std::string& v) { (void)parse_defaults_source(v, out); });
    }

    /// --data-redirects=kernel|scoped|strict (extensions.hpp; not a mount option).
    CLI::Option* add_data_redirects(data_redirect_scope& out) {
        return add_choice("--data-redirects", data_redirects_, {"kernel", "scoped", "strict"},
                          "kernel (default): Linux 6.18; scoped: a '//path' redirect of a\n"
                          "lower metacopy file looks in the data-only layers only (ovlcore\n"
                          "extension, not a mount option); strict: '/path' counts as '//path'")
            ->each([&out](const std::string& v) {
                if (const auto scope = parse_data_redirect_scope(v)) out = *scope;
            });
    }

    /// --verity-digests=none|kernel|compute (lowerdata.hpp verity_support; docs/cli.md §4): where
    /// verity=on/require (spec §7) gets data files' fs-verity digests.
    CLI::Option* add_verity_digests(verity_support& out) {
        return add_choice("--verity-digests", verity_digests_, {"none", "kernel", "compute"},
                          "where verity=on|require gets data files' fs-verity digests:\n"
                          "none (default: a kernel without fs-verity, every digest EIO);\n"
                          "kernel: FS_IOC_MEASURE_VERITY on the data file; compute: hash\n"
                          "the data in userspace (SHA-256, 4 KiB blocks; ovlcore extension)")
            ->each([&out](const std::string& v) {
                out = v == "kernel"    ? verity_support::measure
                      : v == "compute" ? verity_support::compute
                                       : verity_support::unavailable;
            });
    }

    /// Parses argv. Returns the status to exit with at once: 0 after --help or --version, 64
    /// after a usage error (printed); nullopt when the tool should run.
    [[nodiscard]] std::optional<int> parse(int argc, char** argv) {
        try {
            app_.parse(argc, argv);
        } catch (const CLI::ParseError& e) {
            return usage_error(e.what());
        }
        // Unknown options, and operands the tool does not take (those after `--` included).
        bool after_dashes = false;
        for (const std::string& arg : app_.remaining()) {
            if (arg == "--" && !after_dashes) {
                after_dashes = true;
                continue;
            }
            return usage_error((!after_dashes && arg.size() > 1 && arg.front() == '-'
                                    ? "unknown option '"
                                    : "unexpected argument '") +
                               arg + "'");
        }
        if (joined_ != nullptr) {
            joined_->clear();
            for (std::size_t i = 0; i < mount_options_.size(); ++i)
                *joined_ += (i == 0 ? "" : ",") + mount_options_[i];
        }
        if (help_given_) {
            write_out(help_text());
            return exit_code::success;
        }
        if (version_given_) {
            write_out(version_ + "\n");
            return exit_code::success;
        }
        return std::nullopt;
    }

    /// Prints "<tool>: <message>" (made safe for a terminal, docs/cli.md §9), the synopsis and a
    /// pointer to --help on stderr; returns 64.
    [[nodiscard]] int usage_error(std::string_view message) const {
        std::string out(page_.name);
        out.append(": ").append(shell_escape_text(message)).append("\n").append(usage_text());
        out.append("Try '").append(page_.name).append(" --help' for more information.\n");
        std::fputs(out.c_str(), stderr);
        return exit_code::usage;
    }

    /// "usage: <first form>\n       <second form>\n..."
    [[nodiscard]] std::string usage_text() const {
        std::string out;
        std::string_view rest = page_.synopsis;
        while (!rest.empty()) {
            const auto nl = rest.find('\n');
            out += out.empty() ? "usage: " : "       ";
            out.append(rest.substr(0, nl)).append("\n");
            if (nl == std::string_view::npos) break;
            rest.remove_prefix(nl + 1);
        }
        return out;
    }

    /// The manual: NAME, SYNOPSIS, DESCRIPTION, OPTIONS (from the parser: operands, options,
    /// then -h and -V), the extra sections, EXIT STATUS, EXAMPLES, SEE ALSO.
    [[nodiscard]] std::string help_text() const {
        std::string out = "NAME\n";
        append_indented(out, std::string(page_.name) + " - " + std::string(page_.summary), 4);
        out += "\nSYNOPSIS\n";
        append_indented(out, page_.synopsis, 4);
        out += "\nDESCRIPTION\n";
        append_indented(out, page_.description, 4);
        out += "\nOPTIONS\n";
        for (const CLI::Option* opt : app_.get_options())
            if (opt->get_positional() && !opt->nonpositional()) append_option(out, *opt);
        for (const CLI::Option* opt : app_.get_options())
            if (opt->nonpositional() && opt != help_ && opt != version_flag_)
                append_option(out, *opt);
        out += "    --\n";
        append_indented(out, "end of the options: every later argument is an operand", 8);
        append_option(out, *help_);
        append_option(out, *version_flag_);
        for (const auto& section : page_.extra_sections) {
            out.append("\n").append(section.title).append("\n");
            append_indented(out, section.text, 4);
        }
        out += "\nEXIT STATUS\n";
        for (const auto& e : page_.exit_status) {
            const std::string code = std::to_string(e.code);
            out.append(4, ' ').append(code).append(code.size() < 4 ? 4 - code.size() : 1, ' ');
            std::string_view meaning = e.meaning.empty() ? exit_code_meaning(e.code) : e.meaning;
            // Continuation lines line up under the first.
            std::string text(meaning);
            for (std::size_t p = text.find('\n'); p != std::string::npos;
                 p = text.find('\n', p + 9))
                text.insert(p + 1, 8, ' ');
            out.append(text).append("\n");
        }
        if (!page_.examples.empty()) {
            out += "\nEXAMPLES\n";
            append_indented(out, page_.examples, 4);
        }
        if (!page_.see_also.empty()) {
            out += "\nSEE ALSO\n";
            append_indented(out, page_.see_also, 4);
        }
        return out;
    }

private:
    /// "    -o, --options=OPTIONS" then the description indented by 8.
    static void append_option(std::string& out, const CLI::Option& opt) {
        std::string head;
        const bool takes_value = !opt.get_type_name().empty(); // flags have no type name
        if (!opt.nonpositional()) {
            head = opt.get_name(true, false);
        } else {
            for (const auto& s : opt.get_snames()) head += (head.empty() ? "-" : ", -") + s;
            for (const auto& l : opt.get_lnames()) head += (head.empty() ? "--" : ", --") + l;
            if (takes_value) head += (opt.get_lnames().empty() ? " " : "=") + opt.get_type_name();
        }
        out.append(4, ' ').append(head).append("\n");
        append_indented(out, opt.get_description(), 8);
    }

    man_page page_;
    CLI::App app_;
    std::string version_;
    bool help_given_ = false;
    bool version_given_ = false;
    CLI::Option* help_ = nullptr;
    CLI::Option* version_flag_ = nullptr;
    std::vector<std::string> mount_options_;
    std::string* joined_ = nullptr;
    std::string module_defaults_;
    std::string data_redirects_;
    std::string verity_digests_;
};

/// Runs a tool's `main` body: an exception escaping it (std::bad_alloc, a library error) is
/// reported as "<tool>: <what>" and exit status 1 (docs/cli.md §6) instead of std::terminate.
template <class Body>
int guarded_main(std::string_view tool, Body&& body) noexcept {
    try {
        return std::forward<Body>(body)();
    } catch (const std::exception& e) {
        try {
            std::fprintf(stderr, "%.*s: %s\n", static_cast<int>(tool.size()), tool.data(),
                         shell_escape_text(e.what()).c_str());
        } catch (...) {
            std::fputs("out of memory\n", stderr);
        }
    } catch (...) {
        std::fprintf(stderr, "%.*s: unknown exception\n", static_cast<int>(tool.size()),
                     tool.data());
    }
    return exit_code::failure;
}

} // namespace ovlcore::cli
