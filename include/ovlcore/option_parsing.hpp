// SPDX-License-Identifier: MIT
// ovlcore/option_parsing.hpp: the overlay option table and the parsing of a mount(2) data string,
// options left to right with each directory handed to a resolver for the per-path checks, as
// Linux 6.18 does (spec §1.1, §1.3). Users include it via options.hpp.
//
// Everything here is pure: paths are handed to a caller-supplied resolver in the kernel's order,
// so a path error and a syntax error in a later option are reported in the same order as mount(2).
// layer_stack.hpp plugs a backing_filesystem in as that resolver.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include "mount_error.hpp"
#include "option_splitting.hpp"
#include "result.hpp"

namespace ovlcore {

/// How directory redirects are handled (spec §1.4, §5.4). `off` is rewritten at parse time.
enum class redirect_mode : std::uint8_t { on, follow, nofollow };
/// fs-verity checking of metacopy data (spec §7).
enum class verity_mode : std::uint8_t { off, on, require };
/// `uuid=` (spec §1.1). `auto_` is the option value "auto".
enum class uuid_mode : std::uint8_t { off, null, auto_, on };
/// `xino=` (spec §1.1).
enum class xino_mode : std::uint8_t { off, auto_, on };
/// `fsync=` (spec §1.1); the `volatile` flag selects `volatile_`.
enum class fsync_mode : std::uint8_t { volatile_, auto_, strict };

[[nodiscard]] constexpr std::string_view to_string(redirect_mode m) noexcept {
    switch (m) {
    case redirect_mode::on: return "on";
    case redirect_mode::follow: return "follow";
    case redirect_mode::nofollow: return "nofollow";
    }
    return "?";
}
[[nodiscard]] constexpr std::string_view to_string(verity_mode m) noexcept {
    switch (m) {
    case verity_mode::off: return "off";
    case verity_mode::on: return "on";
    case verity_mode::require: return "require";
    }
    return "?";
}
[[nodiscard]] constexpr std::string_view to_string(uuid_mode m) noexcept {
    switch (m) {
    case uuid_mode::off: return "off";
    case uuid_mode::null: return "null";
    case uuid_mode::auto_: return "auto";
    case uuid_mode::on: return "on";
    }
    return "?";
}
[[nodiscard]] constexpr std::string_view to_string(xino_mode m) noexcept {
    switch (m) {
    case xino_mode::off: return "off";
    case xino_mode::auto_: return "auto";
    case xino_mode::on: return "on";
    }
    return "?";
}
[[nodiscard]] constexpr std::string_view to_string(fsync_mode m) noexcept {
    switch (m) {
    case fsync_mode::volatile_: return "volatile";
    case fsync_mode::auto_: return "auto";
    case fsync_mode::strict: return "strict";
    }
    return "?";
}

/// The overlay module parameters that act as option defaults (spec header, §1.4). The default
/// value is a stock kernel: redirect_dir=N, redirect_always_follow=Y, everything else N.
struct module_defaults {
    bool redirect_dir = false;
    bool redirect_always_follow = true;
    bool index = false;
    bool metacopy = false;
    bool nfs_export = false;
    bool xino_auto = false;

    friend constexpr bool operator==(const module_defaults&, const module_defaults&) = default;
};

/// The options that name a directory (spec §1.1).
enum class layer_option : std::uint8_t { lowerdir, lowerdir_add, datadir_add, upperdir, workdir };

[[nodiscard]] constexpr std::string_view to_string(layer_option o) noexcept {
    switch (o) {
    case layer_option::lowerdir: return "lowerdir";
    case layer_option::lowerdir_add: return "lowerdir+";
    case layer_option::datadir_add: return "datadir+";
    case layer_option::upperdir: return "upperdir";
    case layer_option::workdir: return "workdir";
    }
    return "?";
}

/// A path option handed to the resolver.
struct path_request {
    layer_option option;
    std::string_view path; ///< what to resolve (unescaped, except for lowerdir+/datadir+)
    std::string_view name; ///< the option text, as the kernel quotes it in messages
};

/// A resolved directory option. `handle` is whatever the resolver produced.
template <class Handle>
struct layer_spec {
    layer_option option = layer_option::lowerdir;
    std::string name;       ///< as given (escaped for lowerdir/upperdir/workdir)
    std::string path;       ///< as resolved
    bool data_only = false; ///< a data-only lower (after "::" or from datadir+)
    Handle handle{};
};

/// Which of the interdependent options were given explicitly (spec §1.4).
struct explicit_options {
    bool redirect = false;
    bool index = false;
    bool nfs_export = false;
    bool metacopy = false;
};

/// Everything mount(2) keeps from the option string, before the resolution of spec §1.4.
template <class Handle = std::monostate>
struct mount_config {
    std::vector<layer_spec<Handle>> lowers; ///< normal lowers then data-only lowers, mount order
    std::size_t data_count = 0;             ///< how many of `lowers` are data-only
    std::optional<std::string> lowerdir;    ///< the `lowerdir=` string when lowers came from it
    std::optional<layer_spec<Handle>> upper;
    std::optional<layer_spec<Handle>> work;
    redirect_mode redirect = redirect_mode::follow;
    bool index = false;
    bool nfs_export = false;
    bool metacopy = false;
    uuid_mode uuid = uuid_mode::auto_;
    xino_mode xino = xino_mode::off;
    verity_mode verity = verity_mode::off;
    fsync_mode fsync = fsync_mode::auto_;
    bool userxattr = false;
    bool default_permissions = false;
    bool override_creds = true; ///< `override_creds` / `nooverride_creds` (6.15+)
    bool read_only = false;     ///< generic `ro` / `rw` in the data string
    explicit_options set{};
};

namespace detail {

template <class T>
struct enum_value {
    std::string_view name;
    T value;
};

/// redirect_dir values as given; `off` is not a mode of its own (rewritten at parse time).
enum class redirect_value : std::uint8_t { off, follow, nofollow, on };
inline constexpr enum_value<redirect_value> redirect_values[] = {
    {"off", redirect_value::off},
    {"follow", redirect_value::follow},
    {"nofollow", redirect_value::nofollow},
    {"on", redirect_value::on}};
inline constexpr enum_value<bool> bool_values[] = {{"on", true}, {"off", false}};
inline constexpr enum_value<uuid_mode> uuid_values[] = {{"off", uuid_mode::off},
                                                        {"null", uuid_mode::null},
                                                        {"auto", uuid_mode::auto_},
                                                        {"on", uuid_mode::on}};
inline constexpr enum_value<xino_mode> xino_values[] = {
    {"off", xino_mode::off}, {"auto", xino_mode::auto_}, {"on", xino_mode::on}};
inline constexpr enum_value<verity_mode> verity_values[] = {
    {"off", verity_mode::off}, {"on", verity_mode::on}, {"require", verity_mode::require}};
inline constexpr enum_value<fsync_mode> fsync_values[] = {{"volatile", fsync_mode::volatile_},
                                                          {"auto", fsync_mode::auto_},
                                                          {"strict", fsync_mode::strict}};

template <class T, std::size_t N>
constexpr std::optional<T> lookup_enum(const enum_value<T> (&table)[N], std::string_view v) {
    for (const auto& e : table)
        if (e.name == v) return e.value;
    return std::nullopt;
}

/// How the parser treats a key of the data string (spec §1.1).
enum class option_kind : std::uint8_t {
    sb_flag,     ///< generic superblock flag the VFS takes first; any value is accepted
    flag,        ///< overlay flag; a value is "Unexpected value"
    enumeration, ///< overlay option with a value from a fixed list; else "Bad value"
    lowerdir,    ///< `lowerdir=`: a list of layers (§1.2.2), each resolved in order
    layer_dir,   ///< `lowerdir+`, `datadir+`, `upperdir`, `workdir`: one directory, resolved
    source,      ///< the VFS `source` parameter (mount(2) already gave one)
};

/// One key of the option table. `apply` sets the key's setting in the config: for sb_flag and
/// flag it ignores the value (an sb_flag without one changes nothing ovlcore models); for
/// enumeration it returns false for a value not in the key's list. `layer` is the option of a
/// lowerdir/layer_dir key.
template <class Handle>
struct option_key {
    std::string_view key;
    option_kind kind;
    bool (*apply)(mount_config<Handle>&, std::string_view value, const module_defaults&) = nullptr;
    layer_option layer = layer_option::lowerdir;
};

/// An enumeration handler: looks `value` up in `Table` and hands the result to `Set`.
template <class Handle, const auto& Table, auto Set>
constexpr bool apply_enum(mount_config<Handle>& cfg, std::string_view value,
                          const module_defaults& defaults) {
    const auto v = lookup_enum(Table, value);
    if (!v) return false;
    Set(cfg, *v, defaults);
    return true;
}

/// The option table (spec §1.1): the generic VFS flags, then every overlay parameter of 6.18.
/// A key not in this table is an "Unknown parameter".
template <class Handle>
inline constexpr option_key<Handle> option_table[] = {
    // Generic superblock flags (VFS), whatever the value: only ro/rw change anything.
    {"dirsync", option_kind::sb_flag},
    {"lazytime", option_kind::sb_flag},
    {"mand", option_kind::sb_flag},
    {"ro", option_kind::sb_flag,
     [](mount_config<Handle>& c, std::string_view, const module_defaults&) {
         return c.read_only = true;
     }},
    {"sync", option_kind::sb_flag},
    {"async", option_kind::sb_flag},
    {"nolazytime", option_kind::sb_flag},
    {"nomand", option_kind::sb_flag},
    {"rw", option_kind::sb_flag,
     [](mount_config<Handle>& c, std::string_view, const module_defaults&) {
         c.read_only = false;
         return true;
     }},
    // Overlay directories.
    {"lowerdir", option_kind::lowerdir, nullptr, layer_option::lowerdir},
    {"lowerdir+", option_kind::layer_dir, nullptr, layer_option::lowerdir_add},
    {"datadir+", option_kind::layer_dir, nullptr, layer_option::datadir_add},
    {"upperdir", option_kind::layer_dir, nullptr, layer_option::upperdir},
    {"workdir", option_kind::layer_dir, nullptr, layer_option::workdir},
    // Overlay flags.
    {"default_permissions", option_kind::flag,
     [](mount_config<Handle>& c, std::string_view, const module_defaults&) {
         return c.default_permissions = true;
     }},
    {"userxattr", option_kind::flag,
     [](mount_config<Handle>& c, std::string_view, const module_defaults&) {
         return c.userxattr = true;
     }},
    {"volatile", option_kind::flag,
     [](mount_config<Handle>& c, std::string_view, const module_defaults&) {
         c.fsync = fsync_mode::volatile_;
         return true;
     }},
    {"override_creds", option_kind::flag,
     [](mount_config<Handle>& c, std::string_view, const module_defaults&) {
         return c.override_creds = true;
     }},
    {"nooverride_creds", option_kind::flag,
     [](mount_config<Handle>& c, std::string_view, const module_defaults&) {
         c.override_creds = false;
         return true;
     }},
    // Overlay enumerations.
    {"redirect_dir", option_kind::enumeration,
     apply_enum<Handle, redirect_values,
                [](mount_config<Handle>& c, redirect_value v, const module_defaults& d) {
                    // "off" becomes follow or nofollow at parse time (§1.4).
                    c.redirect = v == redirect_value::on         ? redirect_mode::on
                                 : v == redirect_value::follow   ? redirect_mode::follow
                                 : v == redirect_value::nofollow ? redirect_mode::nofollow
                                 : d.redirect_always_follow      ? redirect_mode::follow
                                                                 : redirect_mode::nofollow;
                    c.set.redirect = true;
                }>},
    {"index", option_kind::enumeration,
     apply_enum<Handle, bool_values,
                [](mount_config<Handle>& c, bool v, const module_defaults&) {
                    c.index = v;
                    c.set.index = true;
                }>},
    {"nfs_export", option_kind::enumeration,
     apply_enum<Handle, bool_values,
                [](mount_config<Handle>& c, bool v, const module_defaults&) {
                    c.nfs_export = v;
                    c.set.nfs_export = true;
                }>},
    {"metacopy", option_kind::enumeration,
     apply_enum<Handle, bool_values,
                [](mount_config<Handle>& c, bool v, const module_defaults&) {
                    c.metacopy = v;
                    c.set.metacopy = true;
                }>},
    {"uuid", option_kind::enumeration,
     apply_enum<Handle, uuid_values,
                [](mount_config<Handle>& c, uuid_mode v, const module_defaults&) { c.uuid = v; }>},
    {"xino", option_kind::enumeration,
     apply_enum<Handle, xino_values,
                [](mount_config<Handle>& c, xino_mode v, const module_defaults&) { c.xino = v; }>},
    {"verity", option_kind::enumeration,
     apply_enum<Handle, verity_values,
                [](mount_config<Handle>& c, verity_mode v, const module_defaults&) {
                    c.verity = v;
                }>},
    {"fsync", option_kind::enumeration,
     apply_enum<Handle, fsync_values,
                [](mount_config<Handle>& c, fsync_mode v, const module_defaults&) {
                    c.fsync = v;
                }>},
    // The VFS parameter.
    {"source", option_kind::source},
};

template <class Handle>
[[nodiscard]] constexpr const option_key<Handle>* find_option_key(std::string_view key) noexcept {
    for (const auto& k : option_table<Handle>)
        if (k.key == key) return &k;
    return nullptr;
}

} // namespace detail

/// A resolver that accepts every path (pure parsing).
struct accept_all_paths {
    std::optional<mount_error> operator()(const path_request&, std::monostate&) const {
        return std::nullopt;
    }
};

namespace detail {

/// parse_mount_options without mount(2)'s page cut (lets tests reach the 500-layer lowerdir+ rule,
/// which no 4095-byte data string can).
template <class Handle, class Resolver>
[[nodiscard]] result<mount_config<Handle>, mount_error>
parse_uncut(std::string_view data, const module_defaults& defaults, Resolver&& resolve) {
    mount_config<Handle> cfg;
    cfg.redirect = defaults.redirect_dir             ? redirect_mode::on
                   : defaults.redirect_always_follow ? redirect_mode::follow
                                                     : redirect_mode::nofollow;
    cfg.index = defaults.index;
    cfg.nfs_export = defaults.nfs_export;
    cfg.metacopy = defaults.metacopy;
    cfg.xino = defaults.xino_auto ? xino_mode::auto_ : xino_mode::off;

    const auto bad_value = [](std::string_view key) {
        return fail(mount_einval("overlay: Bad value for '" + std::string(key) + "'"));
    };
    // Resolves one directory: the "empty lowerdir" rule, then the caller's checks (§1.3).
    const auto resolve_one = [&](layer_option opt, std::string_view path, std::string_view name,
                                 bool data_only) -> result<layer_spec<Handle>, mount_error> {
        if (path.empty()) return fail(mount_einval("overlayfs: empty lowerdir"));
        layer_spec<Handle> spec{.option = opt,
                                .name = std::string(name),
                                .path = std::string(path),
                                .data_only = data_only,
                                .handle = Handle{}};
        if (auto e = resolve(path_request{opt, spec.path, spec.name}, spec.handle))
            return fail(std::move(*e));
        return spec;
    };

    std::size_t begin = 0;
    for (bool more = true; more;) {
        const std::size_t end = option_end(data, begin);
        const auto item = split_key_value(data.substr(begin, end - begin));
        more = end < data.size();
        begin = end + 1;
        if (!item) continue;
        const std::string_view key = item->key;
        const auto& value = item->value;
        const option_key<Handle>* entry = find_option_key<Handle>(key);
        if (!entry)
            return fail(mount_einval("overlay: Unknown parameter '" + std::string(key) + "'"));

        switch (entry->kind) {
        case option_kind::sb_flag:
            if (entry->apply) entry->apply(cfg, value.value_or(""), defaults);
            break;
        case option_kind::flag:
            if (value)
                return fail(
                    mount_einval("overlay: Unexpected value for '" + std::string(key) + "'"));
            entry->apply(cfg, {}, defaults);
            break;
        case option_kind::enumeration:
            // A bare key or an unknown value is a "Bad value".
            if (!value || !entry->apply(cfg, *value, defaults)) return bad_value(key);
            break;
        case option_kind::source:
            return fail(mount_einval(value ? "Multiple sources" : "Non-string source"));
        case option_kind::lowerdir: {
            if (!value) return bad_value(key);
            // Replaces every lower given before (§1.1), even when it then fails.
            cfg.lowers.clear();
            cfg.data_count = 0;
            cfg.lowerdir.reset();
            if (value->empty()) break;
            cfg.lowerdir = std::string(*value);
            OVLCORE_TRY_ASSIGN(elements, split_lowerdir(*value));
            for (const auto& element : elements) {
                if (!element.data_only && cfg.data_count > 0)
                    return fail(mount_einval(
                        "overlayfs: regular lower layers cannot follow data lower layers"));
                OVLCORE_TRY_ASSIGN(spec, resolve_one(layer_option::lowerdir, unescape(element.raw),
                                                     element.raw, element.data_only));
                cfg.lowers.push_back(std::move(spec));
                if (element.data_only) ++cfg.data_count;
            }
            break;
        }
        case option_kind::layer_dir: {
            if (!value || value->empty()) return bad_value(key);
            const layer_option opt = entry->layer;
            const bool upper_side = opt == layer_option::upperdir || opt == layer_option::workdir;
            // lowerdir+/datadir+ are taken literally (§1.2.3).
            OVLCORE_TRY_ASSIGN(spec,
                               resolve_one(opt, upper_side ? unescape(*value) : std::string(*value),
                                           *value, opt == layer_option::datadir_add));
            if (upper_side) {
                (opt == layer_option::upperdir ? cfg.upper : cfg.work) = std::move(spec);
                break;
            }
            // Ordering rules, checked after the path resolved (§1.2.5).
            if (cfg.lowerdir)
                return fail(mount_einval("overlay: lowerdir+ and datadir+ cannot follow lowerdir"));
            if (cfg.data_count > 0 && opt == layer_option::lowerdir_add)
                return fail(
                    mount_einval("overlay: regular lower layers cannot follow data layers"));
            if (cfg.lowers.size() == max_lower_layers)
                return fail(mount_einval("overlay: too many lower directories, limit is 500"));
            cfg.lowers.push_back(std::move(spec));
            if (opt == layer_option::datadir_add) ++cfg.data_count;
            break;
        }
        }
    }
    return cfg;
}

} // namespace detail

/// Parses a mount(2) data string (spec §1.1-1.3), in the kernel's order: options left to right,
/// each directory handed to `resolve(request, handle)` as soon as its option is parsed; the first
/// error wins. The resolver returns a mount_error to fail (it performs the checks of §1.3:
/// resolve, not a directory, and for upperdir/workdir "not supported as upperdir" and
/// "read-only").
/// The data string is taken as mount(2) takes it (mount_data); mount(2) is assumed to have been
/// given a source, so a `source=` option fails with "Multiple sources".
/// @see spec §1.1, §1.2, §1.3
template <class Handle = std::monostate, class Resolver = accept_all_paths>
[[nodiscard]] result<mount_config<Handle>, mount_error>
parse_mount_options(std::string_view data, const module_defaults& defaults = {},
                    Resolver&& resolve = {}) {
    return detail::parse_uncut<Handle>(mount_data(data), defaults, std::forward<Resolver>(resolve));
}

} // namespace ovlcore
