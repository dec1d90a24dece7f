// SPDX-License-Identifier: MIT
// ovlcore/options.hpp: overlay mount options, split, parsed and resolved exactly as Linux 6.18 does
// for a mount(2) data string (spec §1.1, §1.2, §1.4). Users include it (also via layer_stack.hpp).
//
// Everything here is pure: paths are handed to a caller-supplied resolver in the kernel's order,
// so a path error and a syntax error in a later option are reported in the same order as mount(2).
// layer_stack.hpp plugs a backing_filesystem in as that resolver.
#pragma once

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include "result.hpp"

namespace ovlcore {

/// OVL_MAX_STACK: at most this many lower layers, normal and data-only together (spec §0, §1.2).
inline constexpr std::size_t max_lower_layers = 500;

/// mount(2) copies one page of option data and terminates it: only the first 4095 bytes count.
inline constexpr std::size_t mount_data_max = 4095;

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
    case redirect_mode::on:
        return "on";
    case redirect_mode::follow:
        return "follow";
    case redirect_mode::nofollow:
        return "nofollow";
    }
    return "?";
}
[[nodiscard]] constexpr std::string_view to_string(verity_mode m) noexcept {
    switch (m) {
    case verity_mode::off:
        return "off";
    case verity_mode::on:
        return "on";
    case verity_mode::require:
        return "require";
    }
    return "?";
}
[[nodiscard]] constexpr std::string_view to_string(uuid_mode m) noexcept {
    switch (m) {
    case uuid_mode::off:
        return "off";
    case uuid_mode::null:
        return "null";
    case uuid_mode::auto_:
        return "auto";
    case uuid_mode::on:
        return "on";
    }
    return "?";
}
[[nodiscard]] constexpr std::string_view to_string(xino_mode m) noexcept {
    switch (m) {
    case xino_mode::off:
        return "off";
    case xino_mode::auto_:
        return "auto";
    case xino_mode::on:
        return "on";
    }
    return "?";
}
[[nodiscard]] constexpr std::string_view to_string(fsync_mode m) noexcept {
    switch (m) {
    case fsync_mode::volatile_:
        return "volatile";
    case fsync_mode::auto_:
        return "auto";
    case fsync_mode::strict:
        return "strict";
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

    /// Reads /sys/module/overlay/parameters (or `dir`): each file holds "Y" or "N". A missing
    /// directory or file gives its errno (ENOENT when the overlay module is not loaded).
    [[nodiscard]] static result<module_defaults>
    from_sysfs(std::string_view dir = "/sys/module/overlay/parameters") {
        module_defaults out;
        const std::pair<const char*, bool module_defaults::*> params[] = {
            {"redirect_dir", &module_defaults::redirect_dir},
            {"redirect_always_follow", &module_defaults::redirect_always_follow},
            {"index", &module_defaults::index},
            {"metacopy", &module_defaults::metacopy},
            {"nfs_export", &module_defaults::nfs_export},
            {"xino_auto", &module_defaults::xino_auto},
        };
        for (const auto& [name, member] : params) {
            std::ifstream in(std::string(dir) + "/" + name);
            if (!in) return fail(std::errc::no_such_file_or_directory);
            std::string value;
            in >> value;
            if (value != "Y" && value != "N") return fail(std::errc::invalid_argument);
            out.*member = value == "Y";
        }
        return out;
    }

    friend constexpr bool operator==(const module_defaults&, const module_defaults&) = default;
};

/// Why a mount would fail: the errno mount(2) returns and the kernel's log line, with its prefix
/// ("overlayfs: " for pr_err lines, "overlay: " for fs-context messages), e.g.
/// {ELOOP, "overlayfs: conflicting lowerdir path"}.
struct mount_error {
    std::errc code{};
    std::string message;
};

/// The options that name a directory (spec §1.1).
enum class layer_option : std::uint8_t { lowerdir, lowerdir_add, datadir_add, upperdir, workdir };

[[nodiscard]] constexpr std::string_view to_string(layer_option o) noexcept {
    switch (o) {
    case layer_option::lowerdir:
        return "lowerdir";
    case layer_option::lowerdir_add:
        return "lowerdir+";
    case layer_option::datadir_add:
        return "datadir+";
    case layer_option::upperdir:
        return "upperdir";
    case layer_option::workdir:
        return "workdir";
    }
    return "?";
}

// ---------------------------------------------------------------------------------------------
// Splitting and escaping (spec §1.2)
// ---------------------------------------------------------------------------------------------

/// The option data as mount(2) hands it over: a C string (stops at the first NUL) of at most
/// mount_data_max bytes.
[[nodiscard]] constexpr std::string_view mount_data(std::string_view data) noexcept {
    if (const auto nul = data.find('\0'); nul != std::string_view::npos) data = data.substr(0, nul);
    if (data.size() > mount_data_max) data = data.substr(0, mount_data_max);
    return data;
}

/// End of the option that starts at `begin`: the next ',' not protected by a backslash, or the
/// end of `data` (spec §1.2.1).
[[nodiscard]] constexpr std::size_t option_end(std::string_view data, std::size_t begin) noexcept {
    std::size_t i = begin;
    while (i < data.size()) {
        if (data[i] == '\\') {
            i += 2; // the backslash protects the next character, whatever it is
            continue;
        }
        if (data[i] == ',') return i;
        ++i;
    }
    return data.size();
}

/// Number of items split_options returns: unescaped commas + 1.
[[nodiscard]] constexpr std::size_t count_options(std::string_view data) noexcept {
    std::size_t n = 1;
    for (std::size_t i = option_end(data, 0); i < data.size(); i = option_end(data, i + 1)) ++n;
    return n;
}

/// Splits on unescaped ','. Backslashes stay in the items (spec §1.2.1). Empty items are kept
/// (the kernel skips them later), so joining the items with ',' gives `data` back.
[[nodiscard]] inline std::vector<std::string_view> split_options(std::string_view data) {
    std::vector<std::string_view> out;
    std::size_t begin = 0;
    for (;;) {
        const std::size_t end = option_end(data, begin);
        out.push_back(data.substr(begin, end - begin));
        if (end >= data.size()) break;
        begin = end + 1;
    }
    return out;
}

/// One option item split at its first '=' (not escape-aware, like the kernel).
struct option_item {
    std::string_view key;
    std::optional<std::string_view> value; ///< nullopt for a bare flag ("userxattr")
    friend constexpr bool operator==(const option_item&, const option_item&) = default;
};

/// key[=value]. Items the kernel ignores (empty, or starting with '=') give nullopt.
[[nodiscard]] constexpr std::optional<option_item> split_key_value(std::string_view item) noexcept {
    if (item.empty()) return std::nullopt;
    const auto eq = item.find('=');
    if (eq == std::string_view::npos) return option_item{item, std::nullopt};
    if (eq == 0) return std::nullopt;
    return option_item{item.substr(0, eq), item.substr(eq + 1)};
}

/// Drops every backslash and keeps the character after it; a trailing backslash disappears
/// (spec §1.2.3).
[[nodiscard]] inline std::string unescape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\') {
            if (++i == s.size()) break;
        }
        out.push_back(s[i]);
    }
    return out;
}

/// The inverse of unescape for one path: protects '\\' and ',' and, for a `lowerdir=` element,
/// ':'. (A `lowerdir+`/`datadir+` value is taken literally and cannot carry ',' through mount(2).)
[[nodiscard]] inline std::string escape_path(std::string_view path, bool for_lowerdir = true) {
    std::string out;
    out.reserve(path.size());
    for (const char c : path) {
        if (c == '\\' || c == ',' || (for_lowerdir && c == ':')) out.push_back('\\');
        out.push_back(c);
    }
    return out;
}

/// One element of a `lowerdir=` value, still escaped (as the kernel prints it in messages).
struct lowerdir_element {
    std::string_view raw;
    bool data_only = false; ///< introduced by "::"
    friend constexpr bool operator==(const lowerdir_element&, const lowerdir_element&) = default;
};

namespace detail {

/// The lowerdir scan of spec §1.2.2. Calls `emit(element)` for each element and returns nullopt,
/// or returns the failing rule's message (EINVAL). Does not check the leading ':' or the count.
template <class Emit>
constexpr std::optional<std::string_view> scan_lowerdir(std::string_view value, Emit&& emit) {
    std::size_t colons = 0; // unescaped colons just seen
    std::size_t start = 0;  // start of the current element
    bool data_only = false; // the current element follows "::"
    for (std::size_t i = 0;; ++i) {
        if (i < value.size() && value[i] == '\\') {
            ++i; // keep the backslash; the next character is taken as it is (or is the end)
        } else if (i < value.size() && value[i] == ':') {
            const bool next_colon = i + 1 < value.size() && value[i + 1] == ':';
            ++colons;
            if (colons == 2 && next_colon)
                return "overlayfs: only single ':' or double '::' sequences of unescaped colons in "
                       "lowerdir mount option allowed.";
            if (colons == 1) emit(lowerdir_element{value.substr(start, i - start), data_only});
            if (!next_colon) {
                data_only = colons == 2;
                start = i + 1;
            }
            continue;
        }
        if (i >= value.size()) {
            if (colons != 0)
                return "overlayfs: unescaped trailing colons in lowerdir mount option.";
            emit(lowerdir_element{value.substr(start), data_only});
            return std::nullopt;
        }
        colons = 0;
    }
}

} // namespace detail

/// Splits a `lowerdir=` value into elements (spec §1.2.2): ':' separates normal layers, "::"
/// starts a data-only layer, "\x" is kept. An empty value gives no element. Errors (EINVAL):
/// leading ':', three or more colons, trailing colons, more than 500 elements. The rule
/// "regular layers cannot follow data layers" is checked while resolving (see parse_mount_options).
[[nodiscard]] inline result<std::vector<lowerdir_element>>
split_lowerdir(std::string_view value, mount_error* error = nullptr) {
    const auto reject = [&](std::string_view message) -> failure {
        if (error) *error = mount_error{std::errc::invalid_argument, std::string(message)};
        return fail(std::errc::invalid_argument);
    };
    std::vector<lowerdir_element> out;
    if (value.empty()) return out;
    if (value.front() == ':') return reject("overlayfs: cannot append lower layer");
    if (const auto bad =
            detail::scan_lowerdir(value, [&](lowerdir_element e) { out.push_back(e); }))
        return reject(*bad);
    if (out.size() > max_lower_layers)
        return reject("overlayfs: too many lower directories, limit is 500");
    return out;
}

/// Number of lowerdir elements, or -1 when split_lowerdir would fail. constexpr for static_assert.
[[nodiscard]] constexpr long count_lowerdir(std::string_view value) noexcept {
    if (value.empty()) return 0;
    if (value.front() == ':') return -1;
    long n = 0;
    if (detail::scan_lowerdir(value, [&](lowerdir_element) { ++n; })) return -1;
    return n > static_cast<long>(max_lower_layers) ? -1 : n;
}

static_assert(count_options("") == 1 && count_options("a,b") == 2 && count_options("a\\,b") == 1);
static_assert(count_options("a\\\\,b") == 2 && count_options("a\\") == 1);
static_assert(count_lowerdir("A:B::C") == 3 && count_lowerdir("A\\:B") == 1);
static_assert(count_lowerdir(":A") == -1 && count_lowerdir("A:::B") == -1);
static_assert(count_lowerdir("A:") == -1 && count_lowerdir("A::") == -1 &&
              count_lowerdir("A:\\") == -1);
static_assert(split_key_value("=x") == std::nullopt && split_key_value("k=v=w")->value == "v=w");

// ---------------------------------------------------------------------------------------------
// Parsing (spec §1.1, §1.2, §1.3)
// ---------------------------------------------------------------------------------------------

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

/// Generic superblock flags the VFS takes from the data string before the filesystem sees it
/// (any value is accepted). `read_only`: 1 sets ro, 0 clears it, -1 unrelated.
struct sb_flag {
    std::string_view key;
    int read_only; ///< 1: sets ro, 0: clears ro, -1: unrelated
};
inline constexpr sb_flag sb_flags[] = {{"dirsync", -1},    {"lazytime", -1}, {"mand", -1},
                                       {"ro", 1},          {"sync", -1},     {"async", -1},
                                       {"nolazytime", -1}, {"nomand", -1},   {"rw", 0}};

inline mount_error mount_einval(std::string message) {
    return mount_error{std::errc::invalid_argument, std::move(message)};
}

} // namespace detail

/// A resolver that accepts every path (pure parsing).
struct accept_all_paths {
    std::optional<mount_error> operator()(const path_request&, std::monostate&) const {
        return std::nullopt;
    }
};

/// Parses a mount(2) data string (spec §1.1-1.3), in the kernel's order: options left to right,
/// each directory handed to `resolve(request, handle)` as soon as its option is parsed; the first
/// error wins. The resolver returns a mount_error to fail (it performs the checks of §1.3: resolve,
/// not a directory, and for upperdir/workdir "not supported as upperdir" and "read-only").
/// The data string is taken as mount(2) takes it (mount_data); mount(2) is assumed to have been
/// given a source, so a `source=` option fails with "Multiple sources".
/// @see spec §1.1, §1.2, §1.3
template <class Handle = std::monostate, class Resolver = accept_all_paths>
[[nodiscard]] result<mount_config<Handle>>
parse_mount_options(std::string_view data, const module_defaults& defaults = {},
                    Resolver&& resolve = {}, mount_error* error = nullptr);

namespace detail {

/// parse_mount_options without mount(2)'s page cut (lets tests reach the 500-layer lowerdir+ rule,
/// which no 4095-byte data string can).
template <class Handle, class Resolver>
[[nodiscard]] result<mount_config<Handle>> parse_uncut(std::string_view data,
                                                       const module_defaults& defaults,
                                                       Resolver&& resolve, mount_error* error) {
    mount_config<Handle> cfg;
    cfg.redirect = defaults.redirect_dir             ? redirect_mode::on
                   : defaults.redirect_always_follow ? redirect_mode::follow
                                                     : redirect_mode::nofollow;
    cfg.index = defaults.index;
    cfg.nfs_export = defaults.nfs_export;
    cfg.metacopy = defaults.metacopy;
    cfg.xino = defaults.xino_auto ? xino_mode::auto_ : xino_mode::off;

    std::optional<mount_error> err;
    const auto bad_value = [&](std::string_view key) {
        err = detail::mount_einval("overlay: Bad value for '" + std::string(key) + "'");
    };
    // Resolves one directory: the "empty lowerdir" rule, then the caller's checks.
    const auto resolve_one = [&](layer_option opt, std::string path, std::string_view name,
                                 bool data_only) -> std::optional<layer_spec<Handle>> {
        if (path.empty()) {
            err = detail::mount_einval("overlayfs: empty lowerdir");
            return std::nullopt;
        }
        layer_spec<Handle> spec{opt, std::string(name), std::move(path), data_only, Handle{}};
        if (auto e = resolve(path_request{opt, spec.path, spec.name}, spec.handle)) {
            err = std::move(*e);
            return std::nullopt;
        }
        return spec;
    };

    std::size_t begin = 0;
    for (bool more = true; more && !err;) {
        const std::size_t end = option_end(data, begin);
        const auto item = split_key_value(data.substr(begin, end - begin));
        more = end < data.size();
        begin = end + 1;
        if (!item) continue;
        const std::string_view key = item->key;
        const auto& value = item->value;

        // 1. Generic superblock flags (VFS), whatever the value.
        bool handled = false;
        for (const auto& f : detail::sb_flags) {
            if (f.key != key) continue;
            if (f.read_only >= 0) cfg.read_only = f.read_only == 1;
            handled = true;
        }
        if (handled) continue;

        // 2. Overlay parameters (spec §1.1).
        const auto is_flag_key = [&](std::string_view k) {
            return k == "default_permissions" || k == "userxattr" || k == "volatile" ||
                   k == "override_creds";
        };
        if (is_flag_key(key) || key == "nooverride_creds") {
            if (value) {
                err = detail::mount_einval("overlay: Unexpected value for '" + std::string(key) +
                                           "'");
                break;
            }
            if (key == "default_permissions")
                cfg.default_permissions = true;
            else if (key == "userxattr")
                cfg.userxattr = true;
            else if (key == "volatile")
                cfg.fsync = fsync_mode::volatile_;
            else
                cfg.override_creds = key == "override_creds";
            continue;
        }
        if (key == "lowerdir") {
            if (!value) {
                bad_value(key);
                break;
            }
            // Replaces every lower given before (§1.1), even when it then fails.
            cfg.lowers.clear();
            cfg.data_count = 0;
            cfg.lowerdir.reset();
            if (value->empty()) continue;
            cfg.lowerdir = std::string(*value);
            mount_error split_error;
            auto elements = split_lowerdir(*value, &split_error);
            if (!elements) {
                err = std::move(split_error);
                break;
            }
            for (const auto& element : *elements) {
                if (!element.data_only && cfg.data_count > 0) {
                    err = detail::mount_einval(
                        "overlayfs: regular lower layers cannot follow data lower layers");
                    break;
                }
                auto spec = resolve_one(layer_option::lowerdir, unescape(element.raw), element.raw,
                                        element.data_only);
                if (!spec) break;
                cfg.lowers.push_back(std::move(*spec));
                if (element.data_only) ++cfg.data_count;
            }
            continue;
        }
        if (key == "lowerdir+" || key == "datadir+" || key == "upperdir" || key == "workdir") {
            if (!value || value->empty()) {
                bad_value(key);
                break;
            }
            const layer_option opt = key == "lowerdir+"  ? layer_option::lowerdir_add
                                     : key == "datadir+" ? layer_option::datadir_add
                                     : key == "upperdir" ? layer_option::upperdir
                                                         : layer_option::workdir;
            const bool upper_side = opt == layer_option::upperdir || opt == layer_option::workdir;
            // lowerdir+/datadir+ are taken literally (§1.2.3).
            auto spec = resolve_one(opt, upper_side ? unescape(*value) : std::string(*value),
                                    *value, opt == layer_option::datadir_add);
            if (!spec) break;
            if (upper_side) {
                (opt == layer_option::upperdir ? cfg.upper : cfg.work) = std::move(*spec);
                continue;
            }
            // Ordering rules, checked after the path resolved (§1.2.5).
            if (cfg.lowerdir) {
                err =
                    detail::mount_einval("overlay: lowerdir+ and datadir+ cannot follow lowerdir");
                break;
            }
            if (cfg.data_count > 0 && opt == layer_option::lowerdir_add) {
                err =
                    detail::mount_einval("overlay: regular lower layers cannot follow data layers");
                break;
            }
            if (cfg.lowers.size() == max_lower_layers) {
                err = detail::mount_einval("overlay: too many lower directories, limit is 500");
                break;
            }
            cfg.lowers.push_back(std::move(*spec));
            if (opt == layer_option::datadir_add) ++cfg.data_count;
            continue;
        }
        // Enumerations: a bare key or an unknown value is a "Bad value".
        const auto parse_enum = [&](const auto& table) {
            decltype(detail::lookup_enum(table, std::string_view{})) v;
            if (value) v = detail::lookup_enum(table, *value);
            if (!v) bad_value(key);
            return v;
        };
        if (key == "redirect_dir") {
            if (auto v = parse_enum(detail::redirect_values)) {
                // "off" becomes follow or nofollow at parse time (§1.4).
                cfg.redirect = *v == detail::redirect_value::on         ? redirect_mode::on
                               : *v == detail::redirect_value::follow   ? redirect_mode::follow
                               : *v == detail::redirect_value::nofollow ? redirect_mode::nofollow
                               : defaults.redirect_always_follow        ? redirect_mode::follow
                                                                        : redirect_mode::nofollow;
                cfg.set.redirect = true;
            }
            continue;
        }
        if (key == "index" || key == "nfs_export" || key == "metacopy") {
            if (auto v = parse_enum(detail::bool_values)) {
                if (key == "index")
                    cfg.index = *v, cfg.set.index = true;
                else if (key == "nfs_export")
                    cfg.nfs_export = *v, cfg.set.nfs_export = true;
                else
                    cfg.metacopy = *v, cfg.set.metacopy = true;
            }
            continue;
        }
        if (key == "uuid") {
            if (auto v = parse_enum(detail::uuid_values)) cfg.uuid = *v;
            continue;
        }
        if (key == "xino") {
            if (auto v = parse_enum(detail::xino_values)) cfg.xino = *v;
            continue;
        }
        if (key == "verity") {
            if (auto v = parse_enum(detail::verity_values)) cfg.verity = *v;
            continue;
        }
        if (key == "fsync") {
            if (auto v = parse_enum(detail::fsync_values)) cfg.fsync = *v;
            continue;
        }
        // 3. The VFS "source" parameter (mount(2) already gave one), then unknown keys.
        if (key == "source") {
            err = detail::mount_einval(value ? "Multiple sources" : "Non-string source");
            break;
        }
        err = detail::mount_einval("overlay: Unknown parameter '" + std::string(key) + "'");
    }
    if (err) {
        const std::errc code = err->code;
        if (error) *error = std::move(*err);
        return fail(code);
    }
    return cfg;
}

} // namespace detail

template <class Handle, class Resolver>
result<mount_config<Handle>> parse_mount_options(std::string_view data,
                                                 const module_defaults& defaults,
                                                 Resolver&& resolve, mount_error* error) {
    return detail::parse_uncut<Handle>(mount_data(data), defaults, std::forward<Resolver>(resolve),
                                       error);
}

// ---------------------------------------------------------------------------------------------
// Resolution (spec §1.4)
// ---------------------------------------------------------------------------------------------

/// The features a mount ends up with after spec §1.4.
struct feature_set {
    redirect_mode redirect = redirect_mode::follow;
    bool metacopy = false;
    bool index = false;
    bool nfs_export = false;
    bool userxattr = false;
    verity_mode verity = verity_mode::off;
    xino_mode xino = xino_mode::off;
    uuid_mode uuid = uuid_mode::auto_;
    fsync_mode fsync = fsync_mode::auto_;
    bool default_permissions = false;
    bool override_creds = true;
    friend constexpr bool operator==(const feature_set&, const feature_set&) = default;
};

/// Applies the 6.16+ option resolution of spec §1.4 to `cfg` (drops a useless workdir) and
/// returns the resulting features. Silent adjustments are appended to `notes` (the kernel's
/// info lines, without prefix); conflicts fail with EINVAL and the kernel's message.
/// The mounter is assumed to have CAP_SYS_ADMIN (spec §0), so step 9 never fails.
/// @see spec §1.4
template <class Handle>
[[nodiscard]] result<feature_set> resolve_features(mount_config<Handle>& cfg,
                                                   std::vector<std::string>* notes = nullptr,
                                                   mount_error* error = nullptr) {
    const auto note = [&](std::string text) {
        if (notes) notes->push_back(std::move(text));
    };
    const auto conflict = [&](std::string what) -> failure {
        if (error) *error = detail::mount_einval("overlayfs: conflicting options: " + what);
        return fail(std::errc::invalid_argument);
    };
    explicit_options set = cfg.set;
    const bool upper = cfg.upper.has_value();

    // Steps 1-4: options that mean nothing without an upper layer.
    if (!upper) {
        if (cfg.work) {
            note("option \"workdir=" + cfg.work->name +
                 "\" is useless in a non-upper mount, ignore");
            cfg.work.reset();
        }
        if (cfg.index && set.index) {
            note("option \"index=on\" is useless in a non-upper mount, ignore");
            set.index = false;
        }
        cfg.index = false;
        if (cfg.fsync == fsync_mode::volatile_) {
            note("option \"volatile\" is meaningless in a non-upper mount, ignoring it.");
            cfg.fsync = fsync_mode::auto_;
        }
        if (cfg.uuid == uuid_mode::on) {
            note("option \"uuid=on\" requires an upper fs, falling back to uuid=null.");
            cfg.uuid = uuid_mode::null;
        }
        if (cfg.redirect == redirect_mode::follow) cfg.redirect = redirect_mode::on;
    }
    // Step 5: metacopy needs redirect_dir=on.
    if (cfg.metacopy && cfg.redirect != redirect_mode::on) {
        const auto mode = std::string(to_string(cfg.redirect));
        if (set.metacopy && set.redirect) return conflict("metacopy=on,redirect_dir=" + mode);
        if (set.redirect) {
            note("disabling metacopy due to redirect_dir=" + mode);
            cfg.metacopy = false;
        } else {
            cfg.redirect = redirect_mode::on;
        }
    }
    // Step 6: nfs_export needs index.
    if (cfg.nfs_export && !cfg.index) {
        if (!upper && cfg.redirect != redirect_mode::nofollow) {
            note("NFS export requires \"redirect_dir=nofollow\" on non-upper mount, falling back "
                 "to nfs_export=off.");
            cfg.nfs_export = false;
        } else if (set.nfs_export && set.index) {
            return conflict("nfs_export=on,index=off");
        } else if (set.index) {
            note("disabling nfs_export due to index=off");
            cfg.nfs_export = false;
        } else {
            cfg.index = true;
        }
    }
    // Step 7: nfs_export excludes metacopy and verity.
    if (cfg.nfs_export && cfg.metacopy) {
        if (set.nfs_export && set.metacopy) return conflict("nfs_export=on,metacopy=on");
        if (set.metacopy) {
            note("disabling nfs_export due to metacopy=on");
            cfg.nfs_export = false;
        } else if (cfg.verity != verity_mode::off) {
            note("disabling nfs_export due to verity=" + std::string(to_string(cfg.verity)));
            cfg.nfs_export = false;
        } else {
            note("disabling metacopy due to nfs_export=on");
            cfg.metacopy = false;
        }
    }
    // Step 8: userxattr excludes redirect and metacopy.
    if (cfg.userxattr) {
        if (set.redirect && cfg.redirect != redirect_mode::nofollow)
            return conflict("userxattr,redirect_dir=" + std::string(to_string(cfg.redirect)));
        if (cfg.metacopy && set.metacopy) return conflict("userxattr,metacopy=on");
        cfg.redirect = redirect_mode::nofollow;
        cfg.metacopy = false;
    }
    feature_set f;
    f.redirect = cfg.redirect;
    f.metacopy = cfg.metacopy;
    f.index = cfg.index;
    f.nfs_export = cfg.nfs_export;
    f.userxattr = cfg.userxattr;
    f.verity = cfg.verity;
    f.xino = cfg.xino;
    f.uuid = cfg.uuid;
    f.fsync = cfg.fsync;
    f.default_permissions = cfg.default_permissions;
    f.override_creds = cfg.override_creds;
    return f;
}

} // namespace ovlcore
