// SPDX-License-Identifier: MIT
// ovl-fuse: mount the merged view of an overlayfs layer stack, as Linux 6.18 would show it,
// read-only through FUSE (libfuse3 low-level API), computed by ovlcore (spec §1-§9).
//
//   ovl-fuse -o OPTIONS [-f] [-d] [-s] [--module-defaults=stock|sysfs] MOUNTPOINT
//
// Manual: docs/tools/ovl-fuse.md (the same text as --help); conventions: docs/cli.md.
// Any stack ovlcore accepts can be mounted, including data-only layers (`lowerdir=A::D`,
// `datadir+=`) and lazy lowerdata (spec §6), which fuse-overlayfs does not implement. Overlay keys
// of -o go to ovlcore, FUSE keys (allow_other, fsname=, ...) to libfuse, ovl-fuse's own
// (readdirplus=unaliased|known|eager|preload, noauto_unmount) to neither; see --help. The mount point is
// checked as mount(2) checks it (fuse::check_mountpoint, docs/fuse.md §6), and auto_unmount is on
// unless -o noauto_unmount, so a killed ovl-fuse leaves no dead mount. A stack the kernel would
// refuse is reported with the same errno and message as ovl-tree, exit status 2 (exit_codes.hpp).
//
// Limits: read-only (the FUSE mount is always `ro`: writes fail with EROFS, as on an overlay
// without upperdir; an upperdir is read but never written); the layers must not change while
// mounted (everything is cached for a day, as the kernel's dcache would keep it); st_dev is the
// FUSE device; the overlay mount's own d_type/f_type details (e.g. OVERLAYFS_SUPER_MAGIC) are not
// reproduced; trusted.* xattrs are listed for callers with uid 0 (FUSE does not tell the caller's
// capabilities, the kernel asks for CAP_SYS_ADMIN).
//
// This file is the command line only: the file system is ovlcore's FUSE adapter
// (include/ovlcore/fuse/, docs/fuse.md) serving an overlay<posix_fs>. The default readdirplus mode
// answers every listed name that cannot alias another (docs/fuse.md §4); readdirplus=eager and
// =preload (opt-in) trade spec §10 Q2's access order for listing order.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <ovlcore/backend/posix.hpp>
#include <ovlcore/fuse/options.hpp>
#include <ovlcore/fuse/preload.hpp>
#include <ovlcore/fuse/server.hpp>
#include <ovlcore/fuse/session.hpp>
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

template <class B>
using overlay_type = ovlcore::overlay<B>;
template <class B>
using server_type = ovlcore::fuse::server<B>;
using ovlcore::fuse::readdirplus_mode;

constexpr std::string_view tool = "ovl-fuse";

// --- command line ----------------------------------------------------------------------------

namespace exit_code = ovlcore::cli::exit_code;

const ovlcore::cli::man_page manual{
    .name = "ovl-fuse",
    .summary = "mount an overlayfs layer stack read-only through FUSE, as Linux 6.18 shows it",
    .synopsis =
        "ovl-fuse -o OPTIONS [-o OPTIONS]... [-f] [-d] [-s] [--module-defaults=stock|sysfs]\n"
        "         [--images] [--verity-digests=none|kernel|compute] [--] MOUNTPOINT\n"
        "ovl-fuse --help | --version",
    .description =
        "Computes the merged tree that `mount -t overlay overlay -o OPTIONS MOUNTPOINT` would "
        "show\n"
        "(ovlcore: whiteouts, opaque dirs, redirects, metacopy, data-only layers with lazy\n"
        "lowerdata, the kernel's errno for every broken object) and serves it through FUSE.\n"
        "The mount is read-only: writes fail with EROFS. Layer paths are resolved against the\n"
        "working directory, as by mount(2); with --images, a layer path naming a regular\n"
        "file is an EROFS image read without mounting it (composefs's\n"
        "lowerdir=IMAGE::OBJECTS). MOUNTPOINT is checked first, as mount(2) checks it:\n"
        "missing (ENOENT), not a directory (ENOTDIR) or not searchable by the caller (EACCES)\n"
        "is refused before any layer is read, nothing is mounted, exit 1, e.g.\n"
        "\"ovl-fuse: cannot mount on /srv/file: ENOTDIR: Not a directory\". Then the stack.\n"
        "Stop it with `fusermount3 -u MOUNTPOINT`, SIGTERM, SIGINT or SIGHUP (the mount is\n"
        "removed cleanly, exit 0). auto_unmount is on by default: if ovl-fuse dies without\n"
        "unmounting (SIGKILL, a crash), fusermount3 removes the mount at once instead of\n"
        "leaving one that answers \"Transport endpoint is not connected\"; libfuse then mounts\n"
        "through fusermount3, also as root. -o noauto_unmount turns it off.",
    .extra_sections =
        {{.title = "READDIRPLUS MODES",
          .text = "-o readdirplus=unaliased|known|eager|preload\n"
                  "    what a directory listing tells the kernel (ovl-fuse's own option:\n"
                  "    handed to neither ovlcore nor libfuse; any other value is refused)\n"
                  "\n"
                  "    unaliased (default): every listed name is looked up while listing and\n"
                  "    sent with its attributes, so a first walk (list, then stat every\n"
                  "    entry) costs one round trip per listing reply (a few dozen names)\n"
                  "    instead of one per name, except the names that could alias another:\n"
                  "    two names can share one overlay inode (hardlinks, redirects, an upper\n"
                  "    metacopy and its lower file), and then the one looked up first decides\n"
                  "    what both show (spec §10 Q2). Those are left to a LOOKUP at their first\n"
                  "    access, in the caller's order, as on the kernel's overlay, so every\n"
                  "    answer is the kernel's in any access order. Which names could alias is\n"
                  "    decided per directory from the mount options and, when redirects are\n"
                  "    followed, from a census of the redirects in the layers above it, read\n"
                  "    once before the mount is made (docs/fuse.md §4).\n"
                  "\n"
                  "    known: attributes only for names the kernel has already looked up, so\n"
                  "    every name costs one LOOKUP round trip at its first access.\n"
                  "\n"
                  "    eager: every listed name is looked up while listing, aliases included:\n"
                  "    the kernel decides aliases in access order, eager in listing order, so\n"
                  "    results can differ where two names alias and a listed name is not\n"
                  "    accessed before its alias is. A listing that is not followed by stats\n"
                  "    costs more time and memory: every name is looked up.\n"
                  "\n"
                  "    preload: eager, and before the mount is made the whole merged tree is\n"
                  "    looked up and stat'ed (depth first, each directory's names in listing\n"
                  "    order; lazy data is left unresolved). Listing and stat then never\n"
                  "    touch the layers (opening and reading still do). Mounting takes about\n"
                  "    as long as a stat walk of the stack (0.75 s for 100,000 objects on a\n"
                  "    2-vCPU machine), and every object stays cached (about 1.5 KiB each).\n"
                  "    Aliases are decided in that order, whatever is accessed later."},
         {.title = "OPTION ROUTING",
          .text =
              "Each -o item whose key is a FUSE or mount option goes to libfuse:\n"
              "    allow_other allow_root auto_unmount fsname= subtype= max_read= blkdev blksize=\n"
              "    context= fscontext= defcontext= rootcontext= ro nodev dev nosuid suid noexec "
              "exec\n"
              "    sync async atime noatime diratime nodiratime relatime norelatime strictatime\n"
              "    nostrictatime lazytime nolazytime dirsync debug clone_fd max_idle_threads=\n"
              "readdirplus=, nosplice and noopen are ovl-fuse's own (READDIRPLUS MODES, READS).\n"
              "Every other item is an overlay mount option handed to ovlcore (lowerdir=,\n"
              "lowerdir+=, datadir+=, upperdir=, workdir=,\n"
              "redirect_dir=, metacopy=, index=, nfs_export=, xino=, uuid=, verity=, fsync=, "
              "volatile,\n"
              "userxattr, default_permissions), so an unknown key is refused as the kernel refuses "
              "it\n"
              "(EINVAL \"Unknown parameter\", exit status 2). `rw` is refused (a usage error): "
              "the\n"
              "mount is always `ro`. FUSE's default_permissions is always on, so the kernel "
              "checks\n"
              "permissions against the overlay's modes as it does for an overlay mount.\n"
              "auto_unmount is on by default (a killed ovl-fuse leaves no dead mount);\n"
              "noauto_unmount turns it off (the last of the two wins)."},
         {.title = "READS",
          .text =
              "The layers must not change while mounted, so the kernel keeps a file's pages\n"
              "across opens (keep_cache; a metacopy whose data file is not st_size bytes long is\n"
              "read directly instead), close(2) costs no FLUSH round trip, SEEK_DATA/SEEK_HOLE\n"
              "ask the data file (holes are not read through the mount), and READ replies are\n"
              "spliced from the data file's descriptor into /dev/fuse where the kernel allows it.\n"
              "-o nosplice: READ replies through a buffer instead. --stats prints, at exit, how\n"
              "many requests of each kind were answered (the round trips of a walk or a read).\n"
              "-o noopen: the kernel opens files without asking ovl-fuse (no OPEN, no RELEASE),\n"
              "so a re-read costs what it costs on the kernel's overlay; not exact: an open the\n"
              "kernel's overlay refuses (a lazy metacopy whose data is missing or fails its\n"
              "fs-verity check) succeeds and its reads fail with that errno, and a metacopy\n"
              "whose data is not st_size bytes long is read through the page cache (up to\n"
              "st_size; shorter data ends the file early)."},
         {.title = "LIMITS",
          .text =
              "Read-only; layers must not change while mounted (entries and attributes are cached\n"
              "for a day); st_dev is the FUSE device; trusted.* xattrs are listed to uid 0 only."}},
    .exit_status = {{.code = exit_code::success,
                     .meaning = "unmounted cleanly (fusermount3 -u, SIGTERM, SIGINT or SIGHUP)"},
                    {.code = exit_code::failure,
                     .meaning =
                         "the mount point is missing, not a directory or not searchable\n"
                         "(\"ovl-fuse: cannot mount on PATH: ERRNO: text\", nothing mounted),\n"
                         "the FUSE session or mount cannot be made, /sys cannot be read\n"
                         "(--module-defaults=sysfs), the FUSE loop failed"},
                    {.code = exit_code::refused,
                     .meaning =
                         "the kernel would refuse the stack (stderr: \"ovl-fuse: the kernel\n"
                         "would refuse this mount: ERRNO: message\", as ovl-tree says it)"},
                    {.code = exit_code::usage,
                     .meaning = "usage error, including a bad readdirplus= or max_idle_threads=\n"
                                "and rw"}},
    .examples =
        "ovl-fuse -o lowerdir=meta:base::objects,metacopy=on /mnt/merged\n"
        "ovl-fuse -f -o lowerdir=top:bottom -o allow_other,readdirplus=eager /mnt/merged\n"
        "ovl-tree --walk=/mnt/merged --format=jsonl    # the same dump as ovl-tree -o ...\n"
        "fusermount3 -u /mnt/merged",
    .see_also = "ovl-tree(1), fusermount3(1), docs/tools/ovl-fuse.md, docs/fuse.md, docs/cli.md",
};

/// FUSE and generic mount option keys: these go to libfuse, everything else to ovlcore.
constexpr std::string_view fuse_keys[] = {
    "allow_other", "allow_root", "auto_unmount", "fsname",      "subtype",       "max_read",
    "blkdev",      "blksize",    "context",      "fscontext",   "defcontext",    "rootcontext",
    "ro",          "nodev",      "dev",          "nosuid",      "suid",          "noexec",
    "exec",        "sync",       "async",        "atime",       "noatime",       "diratime",
    "nodiratime",  "relatime",   "norelatime",   "strictatime", "nostrictatime", "lazytime",
    "nolazytime",  "dirsync",    "debug",
};

struct cli_options {
    std::string overlay_options; ///< joined overlay items, escapes kept
    std::vector<std::string> fuse_items;
    std::optional<std::string> mountpoint;
    bool foreground = false;
    bool debug = false;
    bool single_thread = false;
    bool clone_fd = false;
    bool auto_unmount = true; ///< -o auto_unmount (the default) / -o noauto_unmount
    unsigned max_idle_threads = 10;
    readdirplus_mode readdirplus = readdirplus_mode::unaliased; ///< docs/fuse.md §4
    bool splice = true;                                         ///< -o nosplice: false
    bool open_requests = true;                                  ///< -o noopen: false
    bool stats = false;                                         ///< --stats
    ovlcore::cli::defaults_source defaults = ovlcore::cli::defaults_source::automatic;
    /// --images: layer paths naming regular files are EROFS images (images_cli.hpp)
    bool images = false;
    ovlcore::verity_support verity = ovlcore::verity_support::unavailable; ///< --verity-digests
};

/// Splits an -o value on unescaped commas; a backslash protects the next character and is kept
/// (spec §1.2 step 1), so re-joining the items with commas gives back the same text.
std::vector<std::string> split_items(std::string_view text) {
    std::vector<std::string> out;
    std::string current;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\\' && i + 1 < text.size()) {
            current += text[i];
            current += text[++i];
        } else if (text[i] == ',') {
            out.push_back(std::move(current));
            current.clear();
        } else {
            current += text[i];
        }
    }
    out.push_back(std::move(current));
    return out;
}

/// Routes the items of one -o value (see OPTION ROUTING in --help).
bool route_items(std::string_view value, cli_options& out, std::string& error) {
    for (std::string& item : split_items(value)) {
        if (item.empty()) continue;
        const std::string_view key = std::string_view(item).substr(0, item.find('='));
        if (key == "rw") {
            error = "ovl-fuse mounts read-only; 'rw' is not supported";
            return false;
        }
        if (key == "clone_fd") {
            out.clone_fd = true;
        } else if (key == "nosplice") {
            out.splice = false;
        } else if (key == "noopen") {
            out.open_requests = false;
        } else if (key == "auto_unmount" || key == "noauto_unmount") {
            out.auto_unmount = key == "auto_unmount"; // the last one wins, as in mount(8)
        } else if (key == "max_idle_threads") {
            const auto eq = item.find('=');
            const char* digits = eq == std::string::npos ? "" : item.c_str() + eq + 1;
            char* end = nullptr;
            const unsigned long n = std::strtoul(digits, &end, 10);
            if (*digits == '\0' || *end != '\0' || n == 0 || n > 1000) {
                error = "max_idle_threads needs a number from 1 to 1000";
                return false;
            }
            out.max_idle_threads = static_cast<unsigned>(n);
        } else if (key == "readdirplus") {
            // ovl-fuse's own: neither an overlay option nor libfuse's.
            const auto eq = item.find('=');
            const auto mode =
                eq == std::string::npos
                    ? std::nullopt
                    : ovlcore::fuse::parse_readdirplus_mode(std::string_view(item).substr(eq + 1));
            if (mode) {
                out.readdirplus = *mode;
            } else {
                error = "bad option '" + item +
                        "': readdirplus is unaliased (the default), known, eager or preload";
                return false;
            }
        } else if (std::find(std::begin(fuse_keys), std::end(fuse_keys), key) !=
                   std::end(fuse_keys)) {
            out.fuse_items.push_back(std::move(item));
        } else {
            if (!out.overlay_options.empty()) out.overlay_options += ',';
            out.overlay_options += item;
        }
    }
    return true;
}

/// Parses argv: the options, or the status to exit with (help, version, usage error).
std::variant<cli_options, int> parse_args(int argc, char** argv) {
    ovlcore::cli::command_line cl(manual);
    const int fuse = fuse_version(); // e.g. 314 for 3.14
    cl.set_version(ovlcore::cli::version_text("ovl-fuse") + ", libfuse " +
                   std::to_string(fuse / 100) + "." + std::to_string(fuse % 100) + " (API " +
                   std::to_string(FUSE_USE_VERSION) + ")");
    cli_options out;
    std::string joined, mountpoint;
    const auto* o = cl.add_mount_options(
        joined,
        "comma-separated options, split like mount(2) data (a backslash protects\n"
        "the next character, e.g. `\\,` or `\\:` in layer paths); overlay options go\n"
        "to ovlcore, FUSE options to libfuse (OPTION ROUTING), readdirplus= to\n"
        "ovl-fuse (READDIRPLUS MODES)");
    cl.app().add_flag("-f", out.foreground, "stay in the foreground");
    cl.app().add_flag("-d,--debug", out.debug, "FUSE debug output (implies -f)");
    cl.app().add_flag("-s", out.single_thread, "single-threaded (default: multi-threaded)");
    cl.app().add_flag("--stats", out.stats,
                      "print the count of each kind of request answered to stderr at exit");
    cl.add_module_defaults(out.defaults);
    cl.add_verity_digests(out.verity);
    cl.app().add_flag("--images", out.images, ovlcore::cli::images_help);
    const auto* mnt = cl.app()
                          .add_option("MOUNTPOINT", mountpoint, "the directory to mount on")
                          ->type_name("DIR");
    if (const auto status = cl.parse(argc, argv)) return *status;
    if (mnt->count() == 0) return cl.usage_error("no MOUNTPOINT given");
    if (o->count() == 0)
        return cl.usage_error(
            "no -o OPTIONS given (the overlay mount options, e.g. -o lowerdir=A:B)");
    out.mountpoint = mountpoint;
    out.foreground = out.foreground || out.debug;
    if (std::string error; !route_items(joined, out, error)) return cl.usage_error(error);
    return out;
}

// --- main ------------------------------------------------------------------------------------

/// "ovl-fuse: cannot mount on PATH: ENOTDIR: Not a directory"
void report_mount_failure(const std::string& path, std::errc code) {
    const std::string name(ovlcore::errno_name(code));
    const std::string quoted = ovlcore::shell_quote(path); // docs/cli.md §9
    std::fprintf(stderr, "%s: cannot mount on %s: %s: %s\n", tool.data(), quoted.c_str(),
                 name.c_str(), std::strerror(static_cast<int>(code)));
}

template <class B>
int run_on(const B& backend, const cli_options& cli, const char* argv0,
           const std::string& mountpoint);

int run(const cli_options& cli, const char* argv0) {
    // The mount point first, before any layer is read, as mount(2) resolves it first (docs/fuse.md
    // §6): missing, not a directory or not searchable is an operational failure, nothing mounted.
    // libfuse unmounts by path, possibly after a chdir: it gets the resolved absolute path.
    const auto checked = ovlcore::fuse::check_mountpoint(*cli.mountpoint);
    if (!checked) {
        report_mount_failure(*cli.mountpoint, checked.error());
        return exit_code::failure;
    }
    const std::string& mountpoint = *checked;
    // Relative layer paths resolve against the working directory (images_cli.hpp).
    return ovlcore::cli::with_layer_backend(
        cli.images, [&](const auto& backend) { return run_on(backend, cli, argv0, mountpoint); });
}

/// The stack over `backend`, served until the mount is stopped.
template <class B>
int run_on(const B& backend, const cli_options& cli, const char* argv0,
           const std::string& mountpoint) {
    std::string defaults_error;
    auto defaults = ovlcore::cli::pick_module_defaults(cli.defaults, defaults_error);
    if (!defaults) {
        std::fprintf(stderr, "%s: %s\n", tool.data(), defaults_error.c_str());
        return exit_code::failure;
    }
    auto stack = ovlcore::make_layer_stack(backend, cli.overlay_options, *defaults);
    if (!stack) { // spec §1: refused as mount(2) would refuse it
        const ovlcore::mount_error& error = stack.error();
        ovlcore::cli::report_image_failures(tool, backend);
        std::fprintf(stderr, "%s\n", ovlcore::cli::refusal_text(tool, error).c_str());
        return exit_code::refused;
    }

    // Nodes the kernel forgot are freed beyond a small cache (docs/fuse.md §3); preload keeps
    // the whole tree by design.
    const std::size_t kept_unreferenced =
        cli.readdirplus == readdirplus_mode::preload ? ovlcore::overlay_options::unbounded : 256;
    overlay_type<B> ov(backend, std::move(*stack), {},
                       {.verity = cli.verity,
                        .verity_sha256 = &ovlcore::sha256_with<ovlcore::cli::evp_sha256>,
                        .max_unreferenced_nodes = kept_unreferenced});
    server_type<B> server(
        ov,
        {.readdirplus = cli.readdirplus, .splice = cli.splice, .open_requests = cli.open_requests});

    // libfuse's arguments: always read-only, kernel permission checks on the overlay's modes.
    std::string fuse_opts = "ro,default_permissions";
    bool has_fsname = false, has_subtype = false;
    for (const auto& item : cli.fuse_items) {
        has_fsname = has_fsname || item.starts_with("fsname=");
        has_subtype = has_subtype || item.starts_with("subtype=");
        fuse_opts += ',';
        fuse_opts += item;
    }
    if (!has_fsname) fuse_opts += ",fsname=ovl-fuse";
    if (!has_subtype) fuse_opts += ",subtype=ovl-fuse";
    // A killed server (SIGKILL, a crash) leaves no dead mount: fusermount3 removes it.
    if (cli.auto_unmount) fuse_opts += ",auto_unmount";
    std::vector<std::string> fuse_args = {argv0, "-o", fuse_opts};
    if (cli.debug) fuse_args.emplace_back("-d");

    auto session = ovlcore::fuse::session::create(server, server_type<B>::operations(), fuse_args);
    if (!session) {
        std::fprintf(stderr, "%s: cannot create the FUSE session (options: %s)\n", tool.data(),
                     ovlcore::shell_escape_text(fuse_opts).c_str());
        return exit_code::failure;
    }
    // After the FUSE options were accepted, before the mount appears (readdirplus=preload).
    if (cli.readdirplus == readdirplus_mode::preload) {
        const auto stats = ovlcore::fuse::preload_tree(ov);
        if (cli.foreground || cli.debug) {
            const std::chrono::duration<double, std::milli> ms = stats.time;
            std::fprintf(stderr, "%s: preloaded %zu objects in %.0f ms\n", tool.data(),
                         stats.objects, ms.count());
        }
    }
    // readdirplus=unaliased: the redirect census of the layers (docs/fuse.md §4) before the mount
    // appears, rather than in the first listing of the root.
    if (cli.readdirplus == readdirplus_mode::unaliased) {
        const auto stats = server.aliases().run_censuses();
        if ((cli.foreground || cli.debug) && stats.layers > 0) {
            const std::chrono::duration<double, std::milli> ms = stats.time;
            std::fprintf(stderr, "%s: census of %zu layers in %.0f ms\n", tool.data(), stats.layers,
                         ms.count());
        }
    }
    if (!session->install_signal_handlers()) {
        std::fprintf(stderr, "%s: cannot install the signal handlers\n", tool.data());
        return exit_code::failure;
    }
    if (const auto mounted = session->mount(mountpoint); !mounted) {
        report_mount_failure(*cli.mountpoint, mounted.error());
        return exit_code::failure;
    }
    (void)fuse_daemonize(cli.foreground ? 1 : 0);
    const int rc = session->loop({.single_thread = cli.single_thread,
                                  .clone_fd = cli.clone_fd,
                                  .max_idle_threads = cli.max_idle_threads});
    // A signal (SIGTERM, SIGINT, SIGHUP) ends the loop with its number: a clean stop.
    session->unmount();
    if (cli.stats)
        std::fprintf(stderr, "%s: requests: %s\n", tool.data(), server.stats().summary().c_str());
    return ovlcore::fuse::session::clean_stop(rc) ? exit_code::success : exit_code::failure;
}

} // namespace

int tool_main(int argc, char** argv) {
    const auto parsed = parse_args(argc, argv);
    if (const int* status = std::get_if<int>(&parsed)) return *status;
    return run(std::get<cli_options>(parsed), argv[0]);
}

int main(int argc, char** argv) {
    return ovlcore::cli::guarded_main("ovl-fuse", [&] { return tool_main(argc, argv); });
}
