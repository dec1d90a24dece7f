// SPDX-License-Identifier: MIT
// ovl-tree: show the merged tree that a `mount -t overlay -o OPTIONS` would show, computed by
// ovlcore without mounting anything; or dump any mounted tree the same way (--walk).
//
//   ovl-tree -o OPTIONS [--format jsonl] [--probe PATH]... [--module-defaults=stock|sysfs]
//            [--resolve-data] [--data-redirects=kernel|scoped|strict]
//   ovl-tree -o OPTIONS --explain PATH [--format jsonl] [--data-redirects=...]
//   ovl-tree --walk MOUNTPOINT [--format jsonl] [--probe PATH]...
//
// --format jsonl prints the canonical dump (dump-format.md) that tools/kernel_oracle.py records
// from a real mount, so the two can be compared record by record. Without --format the tree is
// printed for people: type, mode, owner and size of every path, and which layer gives its
// metadata and which its data (spec §0, §6, §9). Layer paths in OPTIONS are resolved against the
// working directory, as mount(2) does. A stack the kernel would refuse prints
// {"mount_error": "EINVAL", "message": "..."} (jsonl) or the error on stderr, and exits 2.
// --explain PATH prints every step of the lookup of PATH (and of its lazy data, spec §5, §6):
// which layer was consulted for which name and what it held (explain.hpp); as JSON Lines with
// --format jsonl. --data-redirects selects the ovlcore extension of extensions.hpp (default:
// kernel, i.e. exactly Linux 6.18); the dump format is the same in every mode.
// Exit status: 0 success, 1 usage or environment error, 2 refused stack.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <ovlcore/backend/posix.hpp>
#include <ovlcore/backend/posix_tree.hpp>
#include <ovlcore/dump.hpp>
#include <ovlcore/explain.hpp>
#include <ovlcore/extensions.hpp>
#include <ovlcore/layer_stack.hpp>
#include <ovlcore/overlay.hpp>
#include <ovlcore/version.hpp>

#include "stack_cli.hpp"

namespace {

constexpr std::string_view usage_text =
    "usage: ovl-tree -o OPTIONS [--format jsonl] [--probe PATH]... "
    "[--module-defaults=stock|sysfs]\n"
    "                [--resolve-data] [--data-redirects=kernel|scoped|strict]\n"
    "       ovl-tree -o OPTIONS --explain PATH [--format jsonl] [--data-redirects=...]\n"
    "       ovl-tree --walk MOUNTPOINT [--format jsonl] [--probe PATH]...\n"
    "       ovl-tree --help | --version\n";

constexpr std::string_view help_text =
    "Show the merged tree of an overlayfs layer stack as Linux 6.18 would, without mounting it\n"
    "(ovlcore), or dump a mounted tree the same way.\n"
    "\n"
    "  -o, --options OPTIONS   overlay mount options, e.g. lowerdir=meta:base::objects; layer\n"
    "                          paths are resolved against the working directory, as by mount(2)\n"
    "  --walk MOUNTPOINT       dump an existing directory tree (e.g. a kernel overlay mount)\n"
    "                          instead of computing one\n"
    "  --format jsonl          print the canonical dump, one JSON object per path\n"
    "                          (default: a readable tree)\n"
    "  --probe PATH            also report PATH (\"/a/b\") even if no listing shows it "
    "(repeatable)\n"
    "  --module-defaults=stock|sysfs\n"
    "                          overlay module parameters to assume: the running kernel's\n"
    "                          (/sys/module/overlay/parameters; the default when readable) or a\n"
    "                          stock kernel's (redirect_dir=N, redirect_always_follow=Y, rest N)\n"
    "  --resolve-data          readable tree: open regular files, so that lazy data in data-only\n"
    "                          layers is looked up and shown (default: shown as pending)\n"
    "  --explain PATH          show every step of the lookup of PATH (\"/etc/x\"): layers\n"
    "                          consulted, whiteouts, opaque dirs, redirects, metacopy, where the\n"
    "                          data comes from, why it fails; JSON Lines with --format jsonl\n"
    "  --data-redirects=kernel|scoped|strict\n"
    "                          kernel (default): Linux 6.18; scoped: a '//path' redirect on a\n"
    "                          lower metacopy file looks in the data-only layers only (ovlcore\n"
    "                          extension, not a mount option); strict: '/path' counts as '//path'\n"
    "  -h, --help              this text\n"
    "  --version               ovlcore version and the kernel whose semantics it follows\n"
    "\n"
    "Exit status: 0 success, 1 usage or environment error, 2 the kernel would refuse the stack.\n";

enum class output_format { tree, jsonl };
using ovlcore::cli::defaults_source;
using ovlcore::cli::write_out;

struct cli_options {
    std::optional<std::string> mount_options;
    std::optional<std::string> walk;
    output_format format = output_format::tree;
    std::vector<std::string> probes;
    defaults_source defaults = defaults_source::automatic;
    bool resolve_data = false;
    std::optional<std::string> explain;
    ovlcore::data_redirect_scope scope = ovlcore::data_redirect_scope::kernel;
    bool help = false;
    bool version = false;
};

struct usage_error {
    std::string message;
};

[[noreturn]] void die(int status, std::string_view message) {
    std::fprintf(stderr, "ovl-tree: %.*s\n", static_cast<int>(message.size()), message.data());
    std::exit(status);
}

/// Parses argv. Accepts "--opt VALUE" and "--opt=VALUE", and "-oVALUE".
std::optional<cli_options> parse_args(std::span<char*> args, std::string& error) {
    cli_options out;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view arg = args[i];
        std::optional<std::string_view> inline_value;
        std::string_view key = arg;
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
        const auto flag = [&]() {
            if (inline_value) error = std::string(key) + " takes no value";
            return !inline_value;
        };

        if (key == "-h" || key == "--help") {
            if (!flag()) return std::nullopt;
            out.help = true;
        } else if (key == "--version") {
            if (!flag()) return std::nullopt;
            out.version = true;
        } else if (key == "--resolve-data") {
            if (!flag()) return std::nullopt;
            out.resolve_data = true;
        } else if (key == "-o" || key == "--options" || key == "--walk") {
            auto& slot = key == "--walk" ? out.walk : out.mount_options;
            auto v = value();
            if (!v) return std::nullopt;
            if (slot) {
                error = std::string(key) + " given twice" +
                        (key == "--walk" ? "" : " (join the options with commas)");
                return std::nullopt;
            }
            slot = std::move(*v);
        } else if (key == "--format") {
            auto v = value();
            if (!v) return std::nullopt;
            if (*v == "jsonl")
                out.format = output_format::jsonl;
            else if (*v == "tree")
                out.format = output_format::tree;
            else {
                error = "unknown --format '" + *v + "' (jsonl or tree)";
                return std::nullopt;
            }
        } else if (key == "--explain") {
            auto v = value();
            if (!v) return std::nullopt;
            if (v->empty() || v->front() != '/' || out.explain) {
                error = out.explain ? "--explain given twice"
                                    : "--explain needs an absolute overlay path such as /a/b";
                return std::nullopt;
            }
            out.explain = std::move(*v);
        } else if (key == "--data-redirects") {
            auto v = value();
            if (!v) return std::nullopt;
            const auto scope = ovlcore::parse_data_redirect_scope(*v);
            if (!scope) {
                error = "unknown --data-redirects '" + *v + "' (kernel, scoped or strict)";
                return std::nullopt;
            }
            out.scope = *scope;
        } else if (key == "--probe") {
            auto v = value();
            if (!v) return std::nullopt;
            if (v->empty() || v->front() != '/') {
                error = "--probe needs an absolute overlay path such as /a/b, not '" + *v + "'";
                return std::nullopt;
            }
            out.probes.push_back(std::move(*v));
        } else if (key == "--module-defaults") {
            auto v = value();
            if (!v) return std::nullopt;
            if (!ovlcore::cli::parse_defaults_source(*v, out.defaults)) {
                error = "unknown --module-defaults '" + *v + "' (stock or sysfs)";
                return std::nullopt;
            }
        } else {
            error = "unknown argument '" + std::string(arg) + "'";
            return std::nullopt;
        }
    }
    if (out.help || out.version) return out;
    if (out.mount_options.has_value() == out.walk.has_value()) {
        error =
            out.walk ? "-o and --walk exclude each other" : "give -o OPTIONS or --walk MOUNTPOINT";
        return std::nullopt;
    }
    if (out.walk && out.defaults != defaults_source::automatic) {
        error = "--module-defaults applies to -o only";
        return std::nullopt;
    }
    if (out.walk && out.resolve_data) {
        error = "--resolve-data applies to -o only (a mounted tree shows no layers)";
        return std::nullopt;
    }
    if (out.walk && (out.explain || out.scope != ovlcore::data_redirect_scope::kernel)) {
        error = "--explain and --data-redirects apply to -o only";
        return std::nullopt;
    }
    if (out.explain && (out.resolve_data || !out.probes.empty())) {
        error = "--explain takes no --resolve-data or --probe";
        return std::nullopt;
    }
    if (out.resolve_data && out.format == output_format::jsonl) {
        error = "--resolve-data applies to the readable tree (the jsonl dump always reads data)";
        return std::nullopt;
    }
    return out;
}

// --- the readable tree ---------------------------------------------------------------------------

std::string mode_text(std::uint32_t mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", mode & 07777U);
    return buf;
}

/// One printed line: the tree part (indentation and name) and the columns after it.
struct tree_line {
    std::string tree;
    std::string info;
};

/// Prints the rows with the info column aligned (the tree part padded to the widest, capped).
void print_lines(const std::vector<tree_line>& lines) {
    // Terminal columns of UTF-8 text: one per code point (the tree glyphs are 3 bytes each).
    const auto columns = [](std::string_view text) {
        return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
            return (static_cast<unsigned char>(c) & 0xC0U) != 0x80U;
        }));
    };
    std::size_t width = 0;
    for (const auto& l : lines) width = std::max(width, columns(l.tree));
    width = std::min<std::size_t>(width, 60);
    std::string out;
    for (const auto& l : lines) {
        out += l.tree;
        if (!l.info.empty()) {
            const std::size_t used = columns(l.tree);
            out.append(used < width ? width - used : 0, ' ');
            out += "  ";
            out += l.info;
        }
        out += '\n';
    }
    write_out(out);
}

/// "reg 0644 0:0 48 B" (the columns common to both modes), or the errno.
template <class View>
std::string stat_text(View& view, std::string_view path,
                      const ovlcore::result<ovlcore::stat_info>& st) {
    if (!st) return std::string(ovlcore::errno_name(st.error()));
    std::string out(ovlcore::dump_name(st->type));
    out +=
        ' ' + mode_text(st->mode) + ' ' + std::to_string(st->uid) + ':' + std::to_string(st->gid);
    switch (st->type) {
    case ovlcore::file_type::regular:
        out += ' ' + std::to_string(st->size) + " B";
        break;
    case ovlcore::file_type::symlink: {
        auto target = view.read_link(path);
        out += target ? " -> " + *target
                      : " -> (" + std::string(ovlcore::errno_name(target.error())) + ")";
        break;
    }
    case ovlcore::file_type::char_device:
    case ovlcore::file_type::block_device:
        out += ' ' + std::to_string(st->rdev_major) + ':' + std::to_string(st->rdev_minor);
        break;
    default:
        break;
    }
    return out;
}

/// Walks `view` like dump_records (children in byte order) and collects one line per path;
/// `extra(path, stat)` adds the provenance column.
template <class View, class Extra>
void collect_tree(View& view, const std::string& path, const std::string& indent,
                  const std::string& label, std::vector<tree_line>& lines, Extra& extra) {
    const auto st = view.lstat(path);
    std::string info = stat_text(view, path, st);
    if (st) {
        const std::string more = extra(path, *st);
        if (!more.empty()) info += "   " + more;
    }
    lines.push_back({label, std::move(info)});
    if (!st || st->type != ovlcore::file_type::directory) return;
    auto listing = view.read_dir(path);
    if (!listing) {
        lines.push_back({indent + "└── (listing failed: " +
                             std::string(ovlcore::errno_name(listing.error())) + ")",
                         {}});
        return;
    }
    std::vector<std::string> names;
    for (const auto& e : *listing)
        if (e.name != "." && e.name != "..") names.push_back(e.name);
    std::sort(names.begin(), names.end());
    for (std::size_t i = 0; i < names.size(); ++i) {
        const bool last = i + 1 == names.size();
        const std::string child = ovlcore::detail::join_dump_path(path, names[i]);
        collect_tree(view, child, indent + (last ? "    " : "│   "),
                     indent + (last ? "└── " : "├── ") + names[i], lines, extra);
    }
}

template <class View, class Extra>
void print_tree(View& view, const std::vector<std::string>& probes, Extra extra) {
    std::vector<tree_line> lines;
    collect_tree(view, "/", "", "/", lines, extra);
    if (!probes.empty()) {
        lines.push_back({"", {}});
        lines.push_back({"probes:", {}});
        for (const auto& p : probes) {
            const auto st = view.lstat(p);
            std::string info = stat_text(view, p, st);
            if (st) {
                const std::string more = extra(p, *st);
                if (!more.empty()) info += "   " + more;
            }
            lines.push_back({"  " + p, std::move(info)});
        }
    }
    print_lines(lines);
}

// --- the two modes -----------------------------------------------------------------------------

int run_walk(const cli_options& cli) {
    auto tree = ovlcore::mounted_tree::open_root(*cli.walk);
    if (!tree)
        die(1, "cannot open " + *cli.walk + ": " + std::string(ovlcore::errno_name(tree.error())));
    if (cli.format == output_format::jsonl) {
        write_out(ovlcore::to_jsonl(ovlcore::dump_records(*tree, cli.probes)));
        return 0;
    }
    print_tree(*tree, cli.probes,
               [](const std::string&, const ovlcore::stat_info&) { return std::string(); });
    return 0;
}

/// The provenance column of the readable tree: which layers make up `path` (spec §0, §6, §9),
/// each as "<index>:<layer>", followed by "(/real/path)" where a redirect made the real path
/// differ from the overlay path. Lazy data (spec §6) is shown as pending unless `resolve_data`,
/// which opens the file first.
template <class Overlay>
std::string provenance_text(const Overlay& ov, const std::vector<std::string>& labels,
                            const std::string& path, const ovlcore::stat_info& st,
                            bool resolve_data) {
    std::string open_error;
    if (resolve_data && st.type == ovlcore::file_type::regular) {
        auto file = ov.open(path);
        if (!file) open_error = std::string(ovlcore::errno_name(file.error()));
    }
    const auto node = ov.resolve(path);
    if (!node) return "[layers: " + std::string(ovlcore::errno_name(node.error())) + "]";
    const ovlcore::provenance p = ov.which_layers(*node);
    const auto& entry = (*node)->entry(); // for the real paths and the opaque flag
    std::string_view rel = path; // the overlay path as a layer-relative path ("" for the root)
    while (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
    const auto where = [&](std::size_t index, const std::string& real_path) {
        std::string out = index < labels.size() ? labels[index] : std::to_string(index) + ":?";
        if (real_path != rel) out += " (/" + real_path + ")";
        return out;
    };

    std::string out = "[";
    if (p.type == ovlcore::file_type::directory) {
        out += p.dir_layers.size() > 1 ? "merged " : "dir ";
        std::string sep;
        if (entry.upper) {
            out += where(entry.upper->index, entry.upper->path);
            sep = " ";
        }
        for (const auto& l : entry.lowers) {
            out += sep + where(l.index, l.path);
            sep = " ";
        }
        if (entry.upper_opaque) out += ", opaque";
    } else if (p.type == ovlcore::file_type::regular) {
        const auto& meta = entry.real();
        if (p.data_layer && !p.metacopy) {
            out += "meta+data " + where(meta.index, meta.path);
        } else {
            out += "meta " + where(meta.index, meta.path);
            if (p.metacopy) out += " (metacopy)";
            out += ", data ";
            if (p.data_layer && entry.lazy_data) // found in a data-only layer (spec §6)
                out += where(*p.data_layer, entry.lowerdata_redirect.substr(1));
            else if (p.data_layer)
                out += where(*p.data_layer, entry.known_data() ? entry.known_data()->path : "?");
            else if (!open_error.empty())
                out += open_error + " (lazy " + p.pending_lowerdata.value_or("?") + ")";
            else if (p.pending_lowerdata)
                out += "pending: lazy " + *p.pending_lowerdata + " in the data-only layers";
            else
                out += "unknown";
        }
    } else {
        out += "from " + where(entry.real().index, entry.real().path);
    }
    if (!open_error.empty() && p.data_layer) out += ", open: " + open_error;
    return out + "]";
}

int run_stack(const cli_options& cli) {
    const ovlcore::posix_fs fs; // relative layer paths resolve against the working directory
    std::string defaults_error;
    const auto defaults = ovlcore::cli::pick_module_defaults(cli.defaults, defaults_error);
    if (!defaults) die(1, defaults_error);
    ovlcore::mount_error error;
    auto stack = ovlcore::make_layer_stack(fs, *cli.mount_options, *defaults, &error);
    if (!stack) {
        const std::errc code = ovlcore::cli::refusal_code(error, stack.error());
        if (cli.format == output_format::jsonl)
            write_out(ovlcore::mount_error_json(code, error.message) + "\n");
        else
            std::fprintf(stderr, "%s\n",
                         ovlcore::cli::refusal_text("ovl-tree", code, error.message).c_str());
        return 2;
    }
    ovlcore::overlay_options knobs;
    knobs.ext.data_redirects = cli.scope;
    if (cli.explain) {
        const auto story = ovlcore::explain_path(fs, *stack, *cli.explain, knobs);
        write_out(cli.format == output_format::jsonl ? ovlcore::render_jsonl(story)
                                                     : ovlcore::render_text(story));
        return 0;
    }
    const std::string description = stack->describe();
    const std::vector<std::string> labels = ovlcore::layer_labels(*stack);
    const ovlcore::overlay<ovlcore::posix_fs> ov(fs, std::move(*stack), {}, knobs);
    if (cli.format == output_format::jsonl) {
        write_out(ovlcore::to_jsonl(ovlcore::dump_records(ov, cli.probes)));
        return 0;
    }
    write_out(description);
    if (cli.scope != ovlcore::data_redirect_scope::kernel)
        write_out("ovlcore extension (not a mount option): data-redirects=" +
                  std::string(ovlcore::to_string(cli.scope)) + "\n");
    write_out("\n");
    print_tree(ov, cli.probes, [&](const std::string& path, const ovlcore::stat_info& st) {
        return provenance_text(ov, labels, path, st, cli.resolve_data);
    });
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    std::string error;
    const auto cli =
        parse_args(std::span<char*>(argv + 1, static_cast<std::size_t>(argc - 1)), error);
    if (!cli) {
        std::fprintf(stderr, "ovl-tree: %s\n%s", error.c_str(), std::string(usage_text).c_str());
        return 1;
    }
    if (cli->help) {
        ovlcore::cli::print_help(usage_text, help_text);
        return 0;
    }
    if (cli->version) {
        std::puts(ovlcore::cli::version_text("ovl-tree").c_str());
        return 0;
    }
    const int status = cli->walk ? run_walk(*cli) : run_stack(*cli);
    if (std::fflush(stdout) != 0 || std::ferror(stdout)) die(1, "error writing to stdout");
    return status;
}
