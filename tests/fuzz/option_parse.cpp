// SPDX-License-Identifier: MIT
// Fuzz target for the whole mount-option pipeline (ovlcore/options.hpp, spec §1.1-§1.5):
// splitting, unescaping, parse_mount_options with path resolvers, resolve_options, and
// make_layer_stack over a fixed in-memory tree. Checks only what the headers and the spec promise.
//
// Input: byte 0 selects the module defaults (bits 0-5) and which paths the failing resolver
// refuses (bit 6: paths containing 'x'; else paths containing 'b'); the rest is the data string.
#include <ovlcore/backend/memory.hpp>
#include <ovlcore/layer_stack.hpp>
#include <ovlcore/options.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

using ovlcore::layer_option;
using ovlcore::mount_config;
using ovlcore::mount_error;

bool starts_with(std::string_view s, std::string_view prefix) { return s.starts_with(prefix); }

// A parse-time failure (§1.1-§1.3 with paths accepted): EINVAL, the kernel's line with its prefix
// (mount_error.hpp) or one of the VFS "source" lines (option_parsing.hpp), and no notes.
void check_parse_error(const mount_error& e) {
    check(e.code == std::errc::invalid_argument);
    check(starts_with(e.message, "overlay: ") || starts_with(e.message, "overlayfs: ") ||
          e.message == "Multiple sources" || e.message == "Non-string source");
    check(e.notes.empty());
}

// Records what the parser hands to the resolver and checks each request (§1.2.3, §1.3): the
// "empty lowerdir" rule runs first, lowerdir/upperdir/workdir paths are unescaped, lowerdir+ and
// datadir+ are taken literally.
struct recording_resolver {
    std::vector<std::pair<layer_option, std::string>>* seen;
    std::optional<mount_error> operator()(const ovlcore::path_request& req, std::monostate&) const {
        check(!req.path.empty());
        if (req.option == layer_option::lowerdir_add || req.option == layer_option::datadir_add)
            check(req.path == req.name);
        else
            check(req.path == ovlcore::unescape(req.name));
        seen->emplace_back(req.option, std::string(req.path));
        return std::nullopt;
    }
};

// Refuses every path containing `bad` with the message of a failed resolution (§1.3).
struct failing_resolver {
    char bad;
    std::optional<mount_error> operator()(const ovlcore::path_request& req, std::monostate&) const {
        if (req.path.find(bad) == std::string_view::npos) return std::nullopt;
        return mount_error{.code = std::errc::no_such_file_or_directory,
                           .message =
                               "overlayfs: failed to resolve '" + std::string(req.path) + "': -2",
                           .notes = {}};
    }
};

ovlcore::redirect_mode initial_redirect(const ovlcore::module_defaults& d) {
    return d.redirect_dir             ? ovlcore::redirect_mode::on
           : d.redirect_always_follow ? ovlcore::redirect_mode::follow
                                      : ovlcore::redirect_mode::nofollow;
}

// The structure of an accepted mount_config (option_parsing.hpp, §1.1, §1.2).
void check_config(const mount_config<>& cfg, const ovlcore::module_defaults& d) {
    check(cfg.lowers.size() <= ovlcore::max_lower_layers);
    check(cfg.data_count <= cfg.lowers.size());
    const std::size_t normal = cfg.lowers.size() - cfg.data_count;
    for (std::size_t i = 0; i < cfg.lowers.size(); ++i) {
        const auto& l = cfg.lowers[i];
        check(!l.path.empty());
        check(l.data_only == (i >= normal)); // normal lowers, then data-only lowers
        if (cfg.lowerdir) {
            check(l.option == layer_option::lowerdir);
            check(l.path == ovlcore::unescape(l.name));
            // unescape is the inverse of escape_path (§1.2.3).
            check(ovlcore::unescape(ovlcore::escape_path(l.path)) == l.path);
        } else {
            check(l.option ==
                  (l.data_only ? layer_option::datadir_add : layer_option::lowerdir_add));
            check(l.path == l.name);
        }
    }
    if (cfg.lowerdir) {
        check(!cfg.lowerdir->empty());
        auto elements = ovlcore::split_lowerdir(*cfg.lowerdir);
        check(elements.has_value() && elements->size() == cfg.lowers.size());
        check(ovlcore::count_lowerdir(*cfg.lowerdir) == static_cast<long>(cfg.lowers.size()));
        for (std::size_t i = 0; i < elements->size(); ++i) {
            check((*elements)[i].raw == cfg.lowers[i].name);
            check((*elements)[i].data_only == cfg.lowers[i].data_only);
        }
    }
    if (cfg.upper) check(cfg.upper->option == layer_option::upperdir && !cfg.upper->path.empty());
    if (cfg.work) check(cfg.work->option == layer_option::workdir && !cfg.work->path.empty());
    // Options not given keep the module defaults (§1.1, §1.4).
    if (!cfg.set.redirect) check(cfg.redirect == initial_redirect(d));
    if (!cfg.set.index) check(cfg.index == d.index);
    if (!cfg.set.nfs_export) check(cfg.nfs_export == d.nfs_export);
    if (!cfg.set.metacopy) check(cfg.metacopy == d.metacopy);
}

// The config written back as a data string: re-parsing it gives the same config (every option's
// meaning is documented in §1.1; escape_path protects what the splitter would cut, §1.2). The
// literal lowerdir+/datadir+ items go last: one ending in an unpaired '\\' would protect the ','
// after it, which only the last item may have (nullopt when another one does).
std::optional<std::string> reserialise(const mount_config<>& cfg) {
    std::string out;
    const auto add = [&](std::string_view item) {
        if (!out.empty()) out += ',';
        out += item;
    };
    if (cfg.upper) add("upperdir=" + ovlcore::escape_path(cfg.upper->path, false));
    if (cfg.work) add("workdir=" + ovlcore::escape_path(cfg.work->path, false));
    if (cfg.set.redirect) add("redirect_dir=" + std::string(to_string(cfg.redirect)));
    if (cfg.set.index) add(cfg.index ? "index=on" : "index=off");
    if (cfg.set.nfs_export) add(cfg.nfs_export ? "nfs_export=on" : "nfs_export=off");
    if (cfg.set.metacopy) add(cfg.metacopy ? "metacopy=on" : "metacopy=off");
    add("uuid=" + std::string(to_string(cfg.uuid)));
    add("xino=" + std::string(to_string(cfg.xino)));
    add("verity=" + std::string(to_string(cfg.verity)));
    add("fsync=" + std::string(to_string(cfg.fsync)));
    if (cfg.userxattr) add("userxattr");
    if (cfg.default_permissions) add("default_permissions");
    add(cfg.override_creds ? "override_creds" : "nooverride_creds");
    if (cfg.read_only) add("ro");
    if (cfg.lowerdir) {
        std::string value;
        for (std::size_t i = 0; i < cfg.lowers.size(); ++i) {
            if (i > 0) value += cfg.lowers[i].data_only ? "::" : ":";
            value += ovlcore::escape_path(cfg.lowers[i].path);
        }
        add("lowerdir=" + value);
    } else {
        for (std::size_t i = 0; i < cfg.lowers.size(); ++i) {
            const auto& l = cfg.lowers[i];
            const std::string item = (l.data_only ? "datadir+=" : "lowerdir+=") + l.path;
            if (i + 1 < cfg.lowers.size() && ovlcore::option_end(item + ",", 0) != item.size())
                return std::nullopt;
            add(item);
        }
    }
    return out;
}

void check_same_config(const mount_config<>& a, const mount_config<>& b) {
    check(a.lowers.size() == b.lowers.size() && a.data_count == b.data_count);
    for (std::size_t i = 0; i < a.lowers.size(); ++i) {
        check(a.lowers[i].option == b.lowers[i].option);
        check(a.lowers[i].path == b.lowers[i].path);
        check(a.lowers[i].data_only == b.lowers[i].data_only);
    }
    check(a.lowerdir.has_value() == b.lowerdir.has_value());
    check(a.upper.has_value() == b.upper.has_value() && a.work.has_value() == b.work.has_value());
    if (a.upper) check(a.upper->path == b.upper->path);
    if (a.work) check(a.work->path == b.work->path);
    check(a.redirect == b.redirect && a.index == b.index && a.nfs_export == b.nfs_export);
    check(a.metacopy == b.metacopy && a.uuid == b.uuid && a.xino == b.xino);
    check(a.verity == b.verity && a.fsync == b.fsync && a.userxattr == b.userxattr);
    check(a.default_permissions == b.default_permissions);
    check(a.override_creds == b.override_creds && a.read_only == b.read_only);
    check(a.set.redirect == b.set.redirect && a.set.index == b.set.index);
    check(a.set.nfs_export == b.set.nfs_export && a.set.metacopy == b.set.metacopy);
}

// resolve_options (§1.4): a conflict is EINVAL "overlayfs: conflicting options: ..."; an accepted
// mount satisfies what steps 1-8 establish.
void check_resolution(mount_config<> cfg) {
    const bool upper = cfg.upper.has_value();
    const mount_config<> before = cfg;
    auto r = ovlcore::resolve_options(cfg);
    if (!r) {
        check(r.error().code == std::errc::invalid_argument);
        check(starts_with(r.error().message, "overlayfs: conflicting options: "));
        return;
    }
    const auto& f = r->features;
    for (const auto& note : r->notes) check(!note.empty());
    if (!upper) { // steps 1-4
        check(!cfg.work);
        check(f.fsync != ovlcore::fsync_mode::volatile_);
        check(f.uuid != ovlcore::uuid_mode::on);
        check(f.redirect != ovlcore::redirect_mode::follow);
    } else {
        check(cfg.work.has_value() == before.work.has_value());
    }
    if (f.metacopy) check(f.redirect == ovlcore::redirect_mode::on); // step 5
    if (f.nfs_export) check(f.index && !f.metacopy);                 // steps 6, 7
    if (f.userxattr) check(f.redirect == ovlcore::redirect_mode::nofollow && !f.metacopy); // 8
    // What option resolution does not touch.
    check(f.userxattr == before.userxattr && f.verity == before.verity && f.xino == before.xino);
    check(f.default_permissions == before.default_permissions);
    check(f.override_creds == before.override_creds);
    check(cfg.lowers.size() == before.lowers.size());
}

// A fixed tree for make_layer_stack: plain dirs, nested dirs, a file, symlinks, a read-only
// mount and an overlayfs mount (§1.3, §1.5).
const ovlcore::memory_fs& tree() {
    static const ovlcore::memory_fs fs = [] {
        ovlcore::memory_fs t;
        t.add_dir("/a").add_dir("/b").add_dir("/c").add_dir("/a/x").add_dir("/u").add_dir("/w");
        t.add_dir("/d:e").add_dir("/d,e").add_dir("/d\\e");
        t.add_file("/f", "file");
        t.add_symlink("/s", "/a").add_symlink("/loop", "/loop");
        t.add_mount("/ro", {.read_only = true}).add_dir("/ro/u").add_dir("/ro/w");
        t.add_mount("/ov", {.fs_magic = ovlcore::overlayfs_super_magic}).add_dir("/ov/u");
        t.add_dir("/ov/w");
        t.add_mount("/m").add_dir("/m/w");
        t.set_cwd("/b");
        return t;
    }();
    return fs;
}

void check_layer_stack(std::string_view data, const ovlcore::module_defaults& d) {
    auto stack = ovlcore::make_layer_stack(tree(), data, d);
    if (!stack) {
        const mount_error& e = stack.error();
        // mount(2)'s errnos for an overlay whose paths resolve in a memory tree (§1.3, §1.5).
        const std::errc c = e.code;
        check(c == std::errc::invalid_argument || c == std::errc::too_many_symbolic_link_levels ||
              c == std::errc::no_such_file_or_directory || c == std::errc::not_a_directory ||
              c == std::errc::filename_too_long);
        check(starts_with(e.message, "overlay: ") || starts_with(e.message, "overlayfs: ") ||
              e.message == "Multiple sources" || e.message == "Non-string source");
        check(ovlcore::errno_name(e) != "EUNKNOWN");
        return;
    }
    check(!stack->lowers().empty() && stack->lowers().size() <= ovlcore::max_lower_layers);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    if (size == 0) return 0;
    const unsigned mode = bytes[0];
    const ovlcore::module_defaults defaults{.redirect_dir = (mode & 1U) != 0,
                                            .redirect_always_follow = (mode & 2U) == 0,
                                            .index = (mode & 4U) != 0,
                                            .metacopy = (mode & 8U) != 0,
                                            .nfs_export = (mode & 16U) != 0,
                                            .xino_auto = (mode & 32U) != 0};
    const char bad = (mode & 64U) != 0 ? 'x' : 'b';
    const std::string_view data(reinterpret_cast<const char*>(bytes) + 1, size - 1);

    // mount(2)'s view of the data string (§1.2): a C string of at most one page.
    const std::string_view cut = ovlcore::mount_data(data);
    check(cut.size() <= ovlcore::mount_data_max && cut.find('\0') == std::string_view::npos);
    check(data.substr(0, cut.size()) == cut);

    std::vector<std::pair<layer_option, std::string>> seen;
    auto parsed = ovlcore::parse_mount_options(data, defaults, recording_resolver{&seen});
    auto failing = ovlcore::parse_mount_options(data, defaults, failing_resolver{bad});
    if (!parsed) {
        check_parse_error(parsed.error());
        // The first error wins: the same syntax error, or a path refused before reaching it.
        check(!failing.has_value());
        check(failing.error() == parsed.error() ||
              (failing.error().code == std::errc::no_such_file_or_directory &&
               starts_with(failing.error().message, "overlayfs: failed to resolve '")));
    } else {
        check_config(*parsed, defaults);
        bool refused = false;
        for (const auto& [option, path] : seen) refused = refused || path.find(bad) != path.npos;
        check(failing.has_value() == !refused);
        if (!failing) check(failing.error().code == std::errc::no_such_file_or_directory);

        // Written back and parsed again (without the page cut): the same config.
        if (const auto again = reserialise(*parsed)) {
            auto reparsed = ovlcore::detail::parse_uncut<std::monostate>(
                *again, defaults, ovlcore::accept_all_paths{});
            check(reparsed.has_value());
            check_same_config(*parsed, *reparsed);
        }
        check_resolution(*parsed);
    }

    check_layer_stack(data, defaults);
    return 0;
}
