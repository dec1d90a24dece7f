// SPDX-License-Identifier: MIT
// ovl-tree: show the merged tree that a `mount -t overlay -o OPTIONS` would show, computed by
// ovlcore without mounting anything; or dump any mounted tree the same way (--walk). Manual:
// docs/tools/ovl-tree.md (the same text as --help); conventions: docs/cli.md.
//
// --format=jsonl prints the canonical dump (docs/dump-format.md) that tools/kernel_oracle.py
// records from a real mount, so the two can be compared record by record. Without it the tree is
// printed for people: type, mode, owner and size of every path, and which layer gives its
// metadata and which its data (spec §0, §6, §9). --explain=PATH prints every step of the lookup
// of PATH (explain.hpp). --data-redirects selects the ovlcore extension of extensions.hpp
// (default: kernel, i.e. exactly Linux 6.18); the dump format is the same in every mode.
// Exit status (exit_codes.hpp): 0 success, 1 failure, 2 refused stack, 64 usage error.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <ovlcore/backend/posix.hpp>
#include <ovlcore/backend/posix_tree.hpp>
#include <ovlcore/dump.hpp>
#include <ovlcore/explain.hpp>
#include <ovlcore/extensions.hpp>
#include <ovlcore/layer_stack.hpp>
#include <ovlcore/overlay.hpp>
#include <ovlcore/quote.hpp>
#include <ovlcore/version.hpp>

#include "common/cli.hpp"
#include "common/evp_sha256.hpp"
#include "common/exit_codes.hpp"
#include "common/images_cli.hpp"
#include "common/stack_cli.hpp"

namespace {

// --- command line (docs/tools/ovl-tree.md) ------------------------------------------------------

using ovlcore::cli::defaults_source;
namespace exit_code = ovlcore::cli::exit_code;
using ovlcore::cli::write_out;

const ovlcore::cli::man_page manual{
    .name = "ovl-tree",
    .summary = "show an overlayfs layer stack's merged tree as Linux 6.18 would, unmounted",
    .synopsis =
        "ovl-tree -o OPTIONS [--format=jsonl|tree] [--probe=PATH]... [--no-data]\n"
        "         [--module-defaults=stock|sysfs] [--resolve-data] [--images]\n"
        "         [--data-redirects=kernel|scoped|strict] [--verity-digests=none|kernel|compute]\n"
        "ovl-tree -o OPTIONS --explain=PATH [--format=jsonl|tree] [--data-redirects=...]\n"
        "         [--images]\n"
        "ovl-tree --walk=MOUNTPOINT [--format=jsonl|tree] [--probe=PATH]... [--no-data]\n"
        "ovl-tree --help | --version",
    .description =
        "With -o, computes the merged tree that `mount -t overlay overlay -o OPTIONS` would\n"
        "show (ovlcore, nothing is mounted) and prints it: by default as a readable tree with\n"
        "type, mode, owner and size of every path and which layer gives its metadata and which\n"
        "its data (spec §0, §6, §9); with --format=jsonl as the canonical dump of\n"
        "docs/dump-format.md, the format tools/kernel_oracle.py records from a real mount, so\n"
        "the two can be compared record by record. Layer paths in OPTIONS are resolved against\n"
        "the working directory, as by mount(2). With --images, a layer path naming a\n"
        "regular file is an EROFS image read without mounting it (composefs's\n"
        "lowerdir=IMAGE::OBJECTS); without it such a layer is the kernel's mount error.\n"
        "\n"
        "With --walk, dumps an existing directory tree (e.g. a kernel overlay mount or an\n"
        "ovl-fuse mount) the same way.\n"
        "\n"
        "The jsonl dump hashes every regular file with SHA-256 (OpenSSL); the holes of sparse\n"
        "files are hashed as zeros without being read. --no-data opens no file: no sha256,\n"
        "lazy data unresolved; such a dump is not comparable with a full dump.\n"
        "\n"
        "With --explain, prints every step of the lookup of one path (and of its lazy data,\n"
        "spec §5, §6): which layer was consulted for which name and what it held.\n"
        "\n"
        "A stack the kernel would refuse prints {\"mount_error\": \"EINVAL\", \"message\": ...}\n"
        "(jsonl) or the error on stderr, and exits 2.",
    .exit_status = {{.code = exit_code::success},
                    {.code = exit_code::failure,
                     .meaning = "a layer or the walked tree cannot be opened, /sys cannot be\n"
                                "read (--module-defaults=sysfs), stdout cannot be written"},
                    {.code = exit_code::refused,
                     .meaning = "the kernel would refuse this mount (stderr, or the\n"
                                "mount_error record with --format=jsonl)"},
                    {.code = exit_code::usage}},
    .examples =
        "ovl-tree -o lowerdir=meta:base::objects,metacopy=on\n"
        "ovl-tree -o lowerdir=upper:lower -o redirect_dir=on --format=jsonl\n"
        "ovl-tree -o lowerdir=meta:base::objects --explain=/usr/bin/tool\n"
        "ovl-tree --images -o lowerdir=image.erofs::objects,metacopy=on,redirect_dir=on\n"
        "ovl-tree --walk=/mnt/merged --format=jsonl > kernel.jsonl",
    .see_also =
        "ovl-lint(1), ovl-fuse(1), docs/tools/ovl-tree.md, docs/dump-format.md,\n"
        "docs/cli.md",
};

enum class output_format { tree, jsonl };

struct cli_options {
    std::optional<std::string> mount_options;
    std::optional<std::string> walk;
    output_format format = output_format::tree;
    std::vector<std::string> probes;
    defaults_source defaults = defaults_source::automatic;
    bool resolve_data = false;
    bool no_data = false;
    bool images = false;
    std::optional<std::string> explain;
    ovlcore::data_redirect_scope scope = ovlcore::data_redirect_scope::kernel;
    ovlcore::verity_support verity = ovlcore::verity_support::unavailable;
};

[[noreturn]] void die(int status, std::string_view message) {
    const std::string text = ovlcore::shell_escape_text(message); // docs/cli.md §9
    std::fprintf(stderr, "ovl-tree: %s\n", text.c_str());
    std::exit(status);
}

/// Parses argv: the options, or the status to exit with (help, version, usage error).
std::variant<cli_options, int> parse_args(int argc, char** argv) {
    ovlcore::cli::command_line cl(manual);
    cli_options out;
    std::string joined, format = "tree", walk, explain;
    const auto* o = cl.add_mount_options(
        joined,
        "overlay mount options, e.g. lowerdir=meta:base::objects; layer paths are\n"
        "resolved against the working directory, as by mount(2)");
    const auto* walk_opt =
        cl.app()
            .add_option("--walk", walk,
                        "dump an existing directory tree (e.g. a kernel overlay mount)\n"
                        "instead of computing one")
            ->type_name("MOUNTPOINT");
    cl.add_choice("--format", format, {"jsonl", "tree"},
                  "jsonl: the canonical dump, one JSON object per path; tree (default): the\n"
                  "readable tree");
    cl.app()
        .add_option("--probe", out.probes,
                    "also report PATH (\"/a/b\") even if no listing shows it (repeatable)")
        ->type_name("PATH")
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    cl.app().add_flag("--no-data", out.no_data,
                      "jsonl: open no regular file (no sha256 fields, lazy data not\n"
                      "resolved); not comparable with a full dump");
    cl.add_module_defaults(out.defaults);
    cl.app().add_flag("--resolve-data", out.resolve_data,
                      "readable tree: open regular files, so that lazy data in data-only\n"
                      "layers is looked up and shown (default: shown as pending)");
    const auto* explain_opt =
        cl.app()
            .add_option("--explain", explain,
                        "show every step of the lookup of PATH (\"/etc/x\"): layers consulted,\n"
                        "whiteouts, opaque dirs, redirects, metacopy, where the data comes\n"
                        "from, why it fails; JSON Lines with --format=jsonl")
            ->type_name("PATH");
    cl.add_data_redirects(out.scope);
    cl.add_verity_digests(out.verity);
    cl.app().add_flag("--images", out.images, ovlcore::cli::images_help);
    const auto* defaults_opt = cl.app().get_option("--module-defaults");
    if (const auto status = cl.parse(argc, argv)) return *status;

    if (o->count() > 0) out.mount_options = joined;
    if (walk_opt->count() > 0) out.walk = walk;
    if (explain_opt->count() > 0) out.explain = explain;
    out.format = format == "jsonl" ? output_format::jsonl : output_format::tree;
    for (const auto& p : out.probes)
        if (p.empty() || p.front() != '/')
            return cl.usage_error("--probe needs an absolute overlay path such as /a/b, not '" + p +
                                  "'");
    if (out.explain && (out.explain->empty() || out.explain->front() != '/'))
        return cl.usage_error("--explain needs an absolute overlay path such as /a/b");
    if (out.mount_options.has_value() == out.walk.has_value())
        return cl.usage_error(out.walk ? "-o and --walk exclude each other"
                                       : "give -o OPTIONS or --walk MOUNTPOINT");
    if (out.walk && out.images) return cl.usage_error("--images applies to -o only");
    if (out.walk && defaults_opt->count() > 0)
        return cl.usage_error("--module-defaults applies to -o only");
    if (out.walk && out.resolve_data)
        return cl.usage_error("--resolve-data applies to -o only (a mounted tree shows no layers)");
    if (out.walk && (out.explain || out.scope != ovlcore::data_redirect_scope::kernel))
        return cl.usage_error("--explain and --data-redirects apply to -o only");
    if (out.explain && (out.resolve_data || !out.probes.empty() || out.no_data))
        return cl.usage_error("--explain takes no --resolve-data, --probe or --no-data");
    if (out.no_data && out.format != output_format::jsonl)
        return cl.usage_error(
            "--no-data applies to --format=jsonl (the readable tree reads no data)");
    if (out.resolve_data && out.format == output_format::jsonl)
        return cl.usage_error(
            "--resolve-data applies to the readable tree (the jsonl dump reads "
            "data unless --no-data)");
    return out;
}

// --- the readable tree ---------------------------------------------------------------------------

std::string mode_text(std::uint32_t mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", mode & 07777U);
    return buf;
}

/// Prints the rows of the readable tree with the info column aligned: the tree part padded to
/// the widest one, capped at 60 columns. Rows are held only until one reaches the cap (the width
/// is then known) or the end, so a deep tree streams.
class tree_printer {
public:
    void add(std::string tree, std::string info) {
        const std::size_t cols = columns(tree);
        if (m_streaming) {
            print(tree, cols, info);
            return;
        }
        m_width = std::max(m_width, cols);
        m_held.push_back({std::move(tree), std::move(info)});
        if (m_width >= max_width) finish();
    }

    /// Prints what is held; later rows are printed at once.
    void finish() {
        m_width = std::min(m_width, max_width);
        for (const auto& held : m_held) print(held.tree, columns(held.tree), held.info);
        m_held.clear();
        m_streaming = true;
    }

private:
    static constexpr std::size_t max_width = 60;
    struct row {
        std::string tree;
        std::string info;
    };

    // Terminal columns of UTF-8 text: one per code point (the tree glyphs are 3 bytes each).
    static std::size_t columns(std::string_view text) {
        return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
            return (static_cast<unsigned char>(c) & 0xC0U) != 0x80U;
        }));
    }

    void print(const std::string& tree, std::size_t used, const std::string& info) const {
        std::string out = tree;
        if (!info.empty()) {
            out.append(used < m_width ? m_width - used : 0, ' ');
            out += "  ";
            out += ovlcore::shell_escape_text(info); // a net: the parts are quoted already
        }
        out += '\n';
        write_out(out);
    }

    std::vector<row> m_held;
    std::size_t m_width = 0;
    bool m_streaming = false;
};

/// "reg 0644 0:0 48 B" (the columns common to both modes), or the errno; `read_link()` gives a
/// symlink's target.
template <class ReadLink>
std::string stat_text(const ovlcore::result<ovlcore::stat_info>& st, const ReadLink& read_link) {
    if (!st) return std::string(ovlcore::errno_name(st.error()));
    std::string out(ovlcore::dump_name(st->type));
    out +=
        ' ' + mode_text(st->mode) + ' ' + std::to_string(st->uid) + ':' + std::to_string(st->gid);
    switch (st->type) {
    case ovlcore::file_type::regular: out += ' ' + std::to_string(st->size) + " B"; break;
    case ovlcore::file_type::symlink: {
        auto target = read_link();
        out += target ? " -> " + ovlcore::shell_quote(*target)
                      : " -> (" + std::string(ovlcore::errno_name(target.error())) + ")";
        break;
    }
    case ovlcore::file_type::char_device:
    case ovlcore::file_type::block_device:
        out += ' ' + std::to_string(st->rdev_major) + ':' + std::to_string(st->rdev_minor);
        break;
    default: break;
    }
    return out;
}

/// Walks `view` like the dump (depth_first_walk: children in byte order, by object, no
/// recursion) and prints one line per path, then the probes; `extra(object, path, stat)` adds
/// the provenance column (`object`: the walk's object, nullptr for a probe).
template <class View, class Extra>
void print_tree(View& view, const std::vector<std::string>& probes, Extra extra) {
    tree_printer out;
    ovlcore::depth_first_walk<View> walk(view);
    std::string indent;                 // the indentation of the current object's row
    std::vector<std::size_t> indent_at; // its length for the rows at each depth
    while (walk.next()) {
        const std::size_t depth = walk.depth();
        std::string label = "/";
        if (depth > 0) {
            indent.resize(indent_at[depth]);
            label = indent + (walk.last() ? "└── " : "├── ") + ovlcore::shell_quote(walk.name());
        }
        const auto st = walk.stat();
        std::string info = stat_text(st, [&] { return walk.read_link(); });
        if (st) {
            const std::string more = extra(&walk.object(), walk.path(), *st);
            if (!more.empty()) info += "   " + more;
        }
        out.add(std::move(label), std::move(info));
        if (!st || st->type != ovlcore::file_type::directory) continue;
        const bool last = walk.last();
        if (depth > 0) indent += last ? "    " : "│   ";
        if (const auto failed = walk.descend()) {
            out.add(indent + "└── (listing failed: " + std::string(ovlcore::errno_name(*failed)) +
                        ")",
                    {});
            continue;
        }
        if (indent_at.size() < depth + 2) indent_at.resize(depth + 2);
        indent_at[depth + 1] = indent.size();
    }
    if (!probes.empty()) {
        const ovlcore::result<typename ovlcore::depth_first_walk<View>::node>* no_object = nullptr;
        out.add("", {});
        out.add("probes:", {});
        for (const auto& p : probes) {
            const auto st = view.lstat(p);
            std::string info = stat_text(st, [&] { return view.read_link(p); });
            if (st) {
                const std::string more = extra(no_object, p, *st);
                if (!more.empty()) info += "   " + more;
            }
            out.add("  " + ovlcore::shell_quote(p), std::move(info));
        }
    }
    out.finish();
}

/// The canonical dump (dump-format.md), one line per record as the walk goes.
template <class View>
void write_dump(View& view, const cli_options& cli) {
    ovlcore::for_each_dump_record<ovlcore::cli::evp_sha256>(
        view, cli.probes, {.content = !cli.no_data}, [](ovlcore::dump_record&& rec) {
            write_out(ovlcore::to_json(rec));
            write_out("\n");
        });
}

// --- the two modes -----------------------------------------------------------------------------

int run_walk(const cli_options& cli) {
    auto tree = ovlcore::mounted_tree::open_root(*cli.walk);
    if (!tree)
        die(exit_code::failure, "cannot open " + ovlcore::shell_quote(*cli.walk) + ": " +
                                    std::string(ovlcore::errno_name(tree.error())));
    if (cli.format == output_format::jsonl) {
        write_dump(*tree, cli);
        return exit_code::success;
    }
    print_tree(*tree, cli.probes, [](const auto*, const std::string&, const ovlcore::stat_info&) {
        return std::string();
    });
    return exit_code::success;
}

/// The provenance column of the readable tree: which layers make up `path` (spec §0, §6, §9),
/// each as "<index>:<layer>", followed by "(/real/path)" where a redirect made the real path
/// differ from the overlay path. Lazy data (spec §6) is shown as pending unless `resolve_data`,
/// which opens the file first.
template <class Overlay>
std::string provenance_text(const Overlay& ov, const std::vector<std::string>& labels,
                            const ovlcore::result<typename Overlay::node_handle>& node,
                            const std::string& path, const ovlcore::stat_info& st,
                            bool resolve_data) {
    std::string open_error;
    if (resolve_data && st.type == ovlcore::file_type::regular) {
        auto file = node ? ov.open(*node) : ov.open(path);
        if (!file) open_error = std::string(ovlcore::errno_name(file.error()));
    }
    if (!node) return "[layers: " + std::string(ovlcore::errno_name(node.error())) + "]";
    const auto path_of = [&](const auto& handle) { return ov.engine().fs().path_of(handle); };
    const ovlcore::provenance p = ov.which_layers(*node);
    const auto& entry = ov.entry(*node); // for the real paths and the opaque flag
    std::string_view rel = path; // the overlay path as a layer-relative path ("" for the root)
    while (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
    const auto where = [&](std::size_t index, const std::string& real_path) {
        // real_path: fs.path_of(handle), layer-relative, for display only (backend.hpp)
        std::string out = index < labels.size() ? ovlcore::shell_escape_text(labels[index])
                                                : std::to_string(index) + ":?";
        if (real_path != rel) out += " (" + ovlcore::shell_quote("/" + real_path) + ")";
        return out;
    };

    std::string out = "[";
    if (p.type == ovlcore::file_type::directory) {
        out += p.dir_layers.size() > 1 ? "merged " : "dir ";
        std::string sep;
        if (entry.upper) {
            out += where(entry.upper->index, path_of(entry.upper->handle));
            sep = " ";
        }
        for (const auto& l : entry.lowers) {
            out += sep + where(l.index, path_of(l.handle));
            sep = " ";
        }
        if (entry.upper_opaque) out += ", opaque";
    } else if (p.type == ovlcore::file_type::regular) {
        const auto& meta = entry.real();
        if (p.data_layer && !p.metacopy) {
            out += "meta+data " + where(meta.index, path_of(meta.handle));
        } else {
            out += "meta " + where(meta.index, path_of(meta.handle));
            if (p.metacopy) out += " (metacopy)";
            out += ", data ";
            if (p.data_layer && entry.lazy_data) // found in a data-only layer (spec §6)
                out += where(*p.data_layer, entry.lowerdata_redirect.substr(1));
            else if (p.data_layer)
                out += where(*p.data_layer,
                             entry.known_data() ? path_of(entry.known_data()->handle) : "?");
            else if (!open_error.empty())
                out += open_error + " (lazy " +
                       ovlcore::shell_quote(p.pending_lowerdata.value_or("?")) + ")";
            else if (p.pending_lowerdata)
                out += "pending: lazy " + ovlcore::shell_quote(*p.pending_lowerdata) +
                       " in the data-only layers";
            else
                out += "unknown";
        }
    } else {
        out += "from " + where(entry.real().index, path_of(entry.real().handle));
    }
    if (!open_error.empty() && p.data_layer) out += ", open: " + open_error;
    return out + "]";
}

template <class B>
int run_stack_on(const B& fs, const cli_options& cli) {
    std::string defaults_error;
    const auto defaults = ovlcore::cli::pick_module_defaults(cli.defaults, defaults_error);
    if (!defaults) die(exit_code::failure, defaults_error);
    auto stack = ovlcore::make_layer_stack(fs, *cli.mount_options, *defaults);
    if (!stack) { // spec §1: refused as mount(2) would refuse it
        const ovlcore::mount_error& error = stack.error();
        ovlcore::cli::report_image_failures("ovl-tree", fs);
        if (cli.format == output_format::jsonl) {
            write_out(ovlcore::mount_error_json(error.code, error.message) + "\n");
            // The record has no notes (dump-format.md): they go to stderr, as in text mode.
            for (const auto& note : error.notes)
                std::fprintf(stderr, "ovl-tree: overlayfs: %s\n",
                             ovlcore::shell_escape_text(note).c_str());
        } else
            std::fprintf(stderr, "%s\n", ovlcore::cli::refusal_text("ovl-tree", error).c_str());
        return exit_code::refused;
    }
    ovlcore::overlay_options knobs;
    knobs.ext.data_redirects = cli.scope;
    knobs.verity = cli.verity;
    knobs.verity_sha256 = &ovlcore::sha256_with<ovlcore::cli::evp_sha256>; // OpenSSL, spec §7
    if (cli.explain) {
        const auto story = ovlcore::explain_path(fs, *stack, *cli.explain, knobs);
        write_out(cli.format == output_format::jsonl ? ovlcore::render_jsonl(story)
                                                     : ovlcore::render_text(story));
        return exit_code::success;
    }
    const std::string description = stack->describe();
    const std::vector<std::string> labels = ovlcore::layer_labels(*stack);
    const ovlcore::overlay<B> ov(fs, std::move(*stack), {}, knobs);
    if (cli.format == output_format::jsonl) {
        write_dump(ov, cli);
        return exit_code::success;
    }
    for (std::size_t at = 0; at < description.size();) { // layer paths: one safe line each
        const std::size_t end = std::min(description.find('\n', at), description.size());
        write_out(ovlcore::shell_escape_text(std::string_view(description).substr(at, end - at)) +
                  "\n");
        at = end + 1;
    }
    if (cli.scope != ovlcore::data_redirect_scope::kernel)
        write_out("ovlcore extension (not a mount option): data-redirects=" +
                  std::string(ovlcore::to_string(cli.scope)) + "\n");
    write_out("\n");
    print_tree(ov, cli.probes,
               [&](const auto* object, const std::string& path, const ovlcore::stat_info& st) {
                   // A probe (no object) is looked up by its path.
                   const auto node = object ? *object : ov.resolve(path);
                   return provenance_text(ov, labels, node, path, st, cli.resolve_data);
               });
    return exit_code::success;
}

/// -o: over directories (posix_fs), or with --images over directories and EROFS images.
int run_stack(const cli_options& cli) {
    return ovlcore::cli::with_layer_backend(cli.images,
                                            [&](const auto& fs) { return run_stack_on(fs, cli); });
}

} // namespace

int tool_main(int argc, char** argv) {
    const auto parsed = parse_args(argc, argv);
    if (const int* status = std::get_if<int>(&parsed)) return *status;
    const auto& cli = std::get<cli_options>(parsed);
    const int status = cli.walk ? run_walk(cli) : run_stack(cli);
    if (std::fflush(stdout) != 0 || std::ferror(stdout))
        die(exit_code::failure, "error writing to stdout");
    return status;
}

int main(int argc, char** argv) {
    return ovlcore::cli::guarded_main("ovl-tree", [&] { return tool_main(argc, argv); });
}
