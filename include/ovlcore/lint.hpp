// SPDX-License-Identifier: MIT
// ovlcore/lint.hpp: a linter for whole layer stacks, over any backend: walks the merged tree once,
// looks every listed name up the way a fresh mount would, and reports per path, with a severity
// and a stable code, what the kernel would do that an image builder probably did not mean: data
// redirects caught by normal lowers (spec §5.3, §10 Q1), dangling or invalid redirects (§2.3, §6),
// metacopy without data or refused by the options (§5.3, §5.5), names listed but not found (§3,
// §8), order-dependent lookups (§10 Q2), malformed metacopy digests (§2.2, §7), data that does not
// match its digest (§7, when lint_options::verity measures or computes digests) and refused mounts
// (§1). Users include it (ovl-lint is a thin command line over it). For composefs's shape
// (lowerdir=IMAGE::OBJECTS): missing objects are dangling-data-redirect, redirects a normal lower
// captures are data-redirect-in-lower/-shadowed or dir-blocks-data-redirect.
//
// Cost: one lookup per listed name (no overlay cache, so each answer is a first lookup), one
// data-only lookup per distinct data redirect (cached: an object of the data store is looked up
// at most once however many metacopy files share it), one extra xattr read per metacopy file with
// a digest. File contents are never read, except with lint_options::verity = compute: then each
// distinct data object with a digest is read once (its fs-verity digest; measure asks the backend
// instead). Failing lookups (rare) are repeated once with a recording trace to say why.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "backend.hpp"
#include "detail/json.hpp"
#include "dump.hpp"
#include "explain.hpp"
#include "extensions.hpp"
#include "layer_stack.hpp"
#include "lookup.hpp"
#include "lowerdata.hpp"
#include "overlay.hpp"
#include "quote.hpp"
#include "readdir.hpp"
#include "result.hpp"
#include "trace.hpp"
#include "types.hpp"
#include "verity.hpp"
#include "xattr.hpp"

namespace ovlcore {

enum class lint_severity : std::uint8_t { info, warning, error };

[[nodiscard]] constexpr std::string_view to_string(lint_severity s) noexcept {
    switch (s) {
    case lint_severity::info: return "info";
    case lint_severity::warning: return "warning";
    case lint_severity::error: return "error";
    }
    return "?";
}

/// What a finding is about. The to_string() names are stable identifiers (JSON `code`).
enum class lint_code : std::uint8_t {
    mount_refused,            ///< error: the kernel would refuse the mount (§1), with its errno
    data_redirect_in_lower,   ///< warning: a lower metacopy's absolute redirect finds its data in a
                              ///< normal lower although data-only layers exist (§5.3); scoping
                              ///< would find no data there
    data_redirect_shadowed,   ///< warning: as above, and the data-only layers hold that path too:
                              ///< under scoping the data would come from them (§10 Q1)
    dir_blocks_data_redirect, ///< error: a directory in a normal lower ends a data redirect with
                              ///< EIO instead of reaching the data-only layers (§10 Q1)
    dangling_data_redirect,   ///< error: lazy data found in no data-only layer: open fails (§6)
    invalid_redirect,         ///< error: EINVAL redirect value (§2.3), incl. `//` in kernel mode
    metacopy_without_data,    ///< error: metacopy chain without data: EIO (§5.5)
    refused_by_options,       ///< error: metacopy or redirect refused by the options: EPERM (§5.3)
    malformed_metacopy,       ///< error: metacopy xattr of 1..3 bytes: EIO at lookup (§2.2)
    malformed_digest,         ///< metacopy digest that an open with verity would refuse (§2.2,
                              ///< §7): error under verity=on/require, else warning
    listed_not_found,         ///< warning: listed by readdir, ENOENT on lookup (§3, §8.1)
    order_dependent,          ///< warning: shares an overlay inode with another path (§10 Q2)
    lookup_failed,            ///< error: any other lookup errno (§5.6)
    readdir_failed,           ///< error: the directory cannot be listed (§8)
    digest_mismatch,          ///< the data's fs-verity digest differs from the metacopy digest,
                              ///< or the data has none (§7; with lint_options::verity measure or
                              ///< compute): error under verity=on/require, else warning
};

[[nodiscard]] constexpr std::string_view to_string(lint_code c) noexcept {
    switch (c) {
    case lint_code::mount_refused: return "mount-refused";
    case lint_code::data_redirect_in_lower: return "data-redirect-in-lower";
    case lint_code::data_redirect_shadowed: return "data-redirect-shadowed";
    case lint_code::dir_blocks_data_redirect: return "dir-blocks-data-redirect";
    case lint_code::dangling_data_redirect: return "dangling-data-redirect";
    case lint_code::invalid_redirect: return "invalid-redirect";
    case lint_code::metacopy_without_data: return "metacopy-without-data";
    case lint_code::refused_by_options: return "refused-by-options";
    case lint_code::malformed_metacopy: return "malformed-metacopy";
    case lint_code::malformed_digest: return "malformed-digest";
    case lint_code::listed_not_found: return "listed-not-found";
    case lint_code::order_dependent: return "order-dependent";
    case lint_code::lookup_failed: return "lookup-failed";
    case lint_code::readdir_failed: return "readdir-failed";
    case lint_code::digest_mismatch: return "digest-mismatch";
    }
    return "?";
}

/// One finding: a path of the merged tree ("/" for the stack itself) and a one-line reason.
struct lint_finding {
    std::string path;
    lint_severity severity = lint_severity::info;
    lint_code code = lint_code::lookup_failed;
    std::string message;
    std::errc error{}; ///< the errno a user would see, when there is one
    friend bool operator==(const lint_finding&, const lint_finding&) = default;
};

/// What the linter assumes beyond the stack itself.
struct lint_options {
    extensions ext{}; ///< e.g. scoped data redirects: lint what such an overlay would do
    /// Where data digests come from (lowerdata.hpp): `measure` or `compute` checks each metacopy
    /// digest against its data (digest-mismatch, §7); the other values check nothing.
    verity_support verity = verity_support::unavailable;
    /// The SHA-256 of `compute` (hash.hpp); the tools pass OpenSSL's, same digests.
    sha256_function verity_sha256 = &sha256_with<builtin_sha256>;
};

/// The findings (sorted by path, then code) and what was scanned.
struct lint_report {
    std::vector<lint_finding> findings;
    std::size_t paths = 0;        ///< names looked up (the root included)
    std::size_t metacopy = 0;     ///< metacopy files among them
    std::size_t data_lookups = 0; ///< distinct data-only lookups made

    /// The most severe finding's severity; info for a report without findings.
    [[nodiscard]] lint_severity worst() const noexcept {
        lint_severity worst = lint_severity::info;
        for (const auto& f : findings) worst = std::max(worst, f.severity);
        return worst;
    }
    /// Whether the stack was refused (then it is the report's only finding).
    [[nodiscard]] bool refused() const noexcept {
        return findings.size() == 1 && findings[0].code == lint_code::mount_refused;
    }
};

/// The message of a mount-refused finding: the errno, the kernel's message and, after it, the
/// info lines the kernel logged before refusing (§1.4), so the finding stays one line.
[[nodiscard]] inline std::string refusal_message(const mount_error& error) {
    std::string out = "the kernel would refuse this mount: " + std::string(errno_name(error.code));
    if (!error.message.empty()) out += ": " + error.message;
    if (error.notes.empty()) return out;
    out += " (logged before it:";
    for (std::size_t i = 0; i < error.notes.size(); ++i)
        out += (i == 0 ? " " : "; ") + ("overlayfs: " + error.notes[i]);
    return out + ")";
}

/// "error /m dir-blocks-data-redirect: <message>" (no newline): always one line of printable
/// text, the path quoted by shell_quote() and the message by shell_escape_text() (docs/cli.md §9).
[[nodiscard]] inline std::string to_text(const lint_finding& f) {
    std::string out(to_string(f.severity));
    out += ' ';
    out += shell_quote(f.path);
    out += ' ';
    out += to_string(f.code);
    out += ": ";
    out += shell_escape_text(f.message);
    return out;
}

/// {"path", "severity", "code", "message"[, "errno"]} (no newline).
[[nodiscard]] inline std::string to_json(const lint_finding& f) {
    std::string out;
    detail::json_object_writer obj(out);
    obj.string_field("path", f.path)
        .string_field("severity", to_string(f.severity))
        .string_field("code", to_string(f.code))
        .string_field("message", f.message);
    if (f.error != std::errc{}) obj.string_field("errno", errno_name(f.error));
    obj.close();
    return out;
}

namespace detail {

/// The walk of lint_stack(); one instance per run.
template <backing_filesystem B>
class linter {
public:
    using ref = typename B::layer_ref;
    using entry_type = overlay_entry<B>;

    linter(const B& fs, const layer_stack<B>& stack, const lint_options& options)
        : m_stack(stack), m_engine(fs, stack, options.ext), m_options(options),
          m_labels(layer_labels(stack)) {}

    lint_report run() {
        auto root = m_engine.make_root();
        ++m_report.paths;
        if (!root) {
            add("/", lint_severity::error, lint_code::lookup_failed, "a layer root cannot be read",
                root.error());
            return finish();
        }
        m_root = std::move(*root);
        scan_tree();
        return finish();
    }

private:
    /// Lists every dir and checks every name in it, depth first in byte order (the kernel
    /// oracle's walk, so that order-dependent answers, §10 Q2, are reported where a walk would
    /// meet them). An explicit stack of listed dirs (any depth) and one path built as it goes: a
    /// path is copied only into a finding, so a deep tree costs no more per name than a flat one.
    void scan_tree() {
        struct frame {
            entry_type dir;
            std::vector<dir_entry> listing; // sorted by name
            std::size_t next = 0;           // the next entry of `listing` to check
            std::size_t base = 0;           // length of the dir's path with its trailing '/'
            std::size_t node = 0;           // the dir in m_path_nodes
        };
        std::vector<frame> frames;
        std::string path = "/";
        // Lists `dir` (the object at `path`) and makes its names the next ones checked.
        const auto enter = [&](entry_type dir, std::size_t node) {
            const auto is_positive = [&](std::string_view name) -> result<bool> {
                const auto found = m_engine.lookup(m_root, dir, name, m_quiet);
                if (found) return true;
                if (found.error() == std::errc::no_such_file_or_directory) return false;
                return fail(found.error());
            };
            auto listing = read_overlay_dir(m_engine, dir, path == "/", is_positive);
            if (!listing) {
                add(path, lint_severity::error, lint_code::readdir_failed,
                    "the directory cannot be listed", listing.error());
                return;
            }
            std::sort(listing->begin(), listing->end(),
                      [](const dir_entry& a, const dir_entry& b) { return a.name < b.name; });
            if (path.back() != '/') path.push_back('/');
            frames.push_back({.dir = std::move(dir),
                              .listing = std::move(*listing),
                              .next = 0,
                              .base = path.size(),
                              .node = node});
        };
        enter(m_root, 0);
        while (!frames.empty()) {
            frame& f = frames.back();
            if (f.next == f.listing.size()) {
                frames.pop_back();
                continue;
            }
            const dir_entry& e = f.listing[f.next++]; // stays put when `frames` grows
            path.resize(f.base);
            path += e.name;
            ++m_report.paths;
            auto found = m_engine.lookup(m_root, f.dir, e.name, m_quiet);
            if (!found) {
                lookup_failure(path, f.dir, e, found.error());
                continue;
            }
            check_identity(path, f.node, e.name, *found);
            if (found->is_dir)
                enter(std::move(*found), add_path_node(f.node, e.name)); // `f` is stale after
            else if (found->type() == file_type::regular && found->metacopy)
                check_metacopy(path, f.dir, e.name, *found);
        }
    }

    /// A name below the dir `parent` in m_path_nodes: its index there.
    std::size_t add_path_node(std::size_t parent, std::string_view name) {
        m_path_nodes.emplace_back(parent, std::string(name));
        return m_path_nodes.size() - 1;
    }

    /// The path ("/a/b") of an entry of m_path_nodes.
    [[nodiscard]] std::string path_at(std::size_t node) const {
        std::vector<const std::string*> names;
        for (; node != 0; node = m_path_nodes[node].first)
            names.push_back(&m_path_nodes[node].second);
        if (names.empty()) return "/";
        std::reverse(names.begin(), names.end());
        std::string out;
        for (const std::string* name : names) out += "/" + *name;
        return out;
    }

    // --- failures ------------------------------------------------------------------------------

    void lookup_failure(const std::string& path, const entry_type& dir, const dir_entry& e,
                        std::errc error) {
        if (error == std::errc::no_such_file_or_directory) {
            add(path, lint_severity::warning, lint_code::listed_not_found,
                std::string(e.type == file_type::char_device
                                ? "a whiteout listed by readdir (its dir is not merged, §8.1)"
                                : "an xattr whiteout listed by readdir (§3)") +
                    ", but lookup gives ENOENT",
                error);
            return;
        }
        const auto events = traced_lookup(dir, e.name).events();
        const auto find_last = [&](trace_kind kind) -> const trace_event* {
            for (auto it = events.rbegin(); it != events.rend(); ++it)
                if (it->kind == kind) return &*it;
            return nullptr;
        };
        if (error == std::errc::invalid_argument) {
            if (const auto* bad = find_last(trace_kind::invalid_redirect)) {
                std::string msg =
                    "invalid redirect " + single_quoted(bad->detail) + " on " + where(*bad);
                if (bad->detail.starts_with("//") &&
                    m_options.ext.data_redirects == data_redirect_scope::kernel)
                    msg +=
                        ": a scoped redirect, which Linux 6.18 refuses (EINVAL); it needs "
                        "--data-redirects=scoped";
                else
                    msg += " (§2.3)";
                add(path, lint_severity::error, lint_code::invalid_redirect, msg, error);
                return;
            }
        }
        if (error == std::errc::operation_not_permitted) {
            if (const auto* refused = find_last(trace_kind::refused)) {
                add(path, lint_severity::error, lint_code::refused_by_options,
                    "the mount options refuse to follow a " + refused->detail +
                        (refused->detail == "metacopy" ? " (needs metacopy=on, §5.3)"
                                                       : " (redirect_dir=nofollow, §5.4)"),
                    error);
                return;
            }
        }
        if (error == std::errc::io_error) {
            if (!find_last(trace_kind::no_data)) {
                const auto* file = find_last(trace_kind::found);
                add(path, lint_severity::error, lint_code::malformed_metacopy,
                    "metacopy xattr of 1..3 bytes" +
                        (file ? " on " + where(*file) : std::string()) + ": EIO at lookup (§2.2)",
                    error);
                return;
            }
            if (const auto blocked = q1_block(events)) {
                add(path, lint_severity::error, lint_code::dir_blocks_data_redirect,
                    "data redirect " + single_quoted(blocked->first) + " stops at directory " +
                        where(blocked->second) +
                        ": EIO instead of the data-only layers (§10 Q1); " +
                        scoped_outcome(blocked->first),
                    error);
                return;
            }
            add(path, lint_severity::error, lint_code::metacopy_without_data,
                "metacopy file without data below it: EIO (§5.5)", error);
            return;
        }
        add(path, lint_severity::error, lint_code::lookup_failed,
            "lookup fails with " + std::string(errno_name(error)) + " (§5.6)", error);
    }

    /// Quirk Q1: the absolute redirect of a lower metacopy file, and the normal-lower dir found
    /// while walking it that reset the redirect (nullopt if the trace shows no such dir).
    [[nodiscard]] std::optional<std::pair<std::string, trace_event>>
    q1_block(const std::vector<trace_event>& events) const {
        if (m_stack.data_layers().empty()) return std::nullopt;
        const auto redirect = last_metacopy_redirect(events);
        if (!redirect) return std::nullopt;
        for (auto it = events.begin() + static_cast<std::ptrdiff_t>(*redirect + 1);
             it != events.end(); ++it)
            if (it->kind == trace_kind::found && it->type == file_type::directory &&
                is_normal_lower(it->layer))
                return std::pair{events[*redirect].detail, *it};
        return std::nullopt;
    }

    /// Index of the last absolute redirect read from a lower metacopy file.
    [[nodiscard]] static std::optional<std::size_t>
    last_metacopy_redirect(const std::vector<trace_event>& events) {
        std::optional<std::size_t> out;
        for (std::size_t i = 0; i < events.size(); ++i) {
            const auto& e = events[i];
            if (e.kind != trace_kind::redirect || e.layer == 0 || !is_absolute_redirect(e.detail))
                continue;
            const bool from_metacopy = std::any_of(
                events.begin(), events.begin() + static_cast<std::ptrdiff_t>(i),
                [&](const trace_event& m) {
                    return m.kind == trace_kind::metacopy && m.layer == e.layer && m.path == e.path;
                });
            if (from_metacopy) out = i;
        }
        return out;
    }

    // --- metacopy files ------------------------------------------------------------------------

    void check_metacopy(const std::string& path, const entry_type& dir, std::string_view name,
                        const entry_type& e) {
        ++m_report.metacopy;
        const auto digest = check_digest(path, e);
        if (e.lazy_data) {
            const auto& data = data_for(e.lowerdata_redirect);
            if (data.error != std::errc{})
                add(path, lint_severity::error, lint_code::dangling_data_redirect,
                    "data " + single_quoted(e.lowerdata_redirect) +
                        " is in no data-only layer: open fails with " +
                        std::string(errno_name(data.error)) + " (§6)",
                    data.error);
            else if (digest)
                check_data_digest(path, *digest, *data.entry);
            return;
        }
        const auto* data = e.known_data();
        if (data && digest) check_data_digest(path, *digest, *data);
        if (!data || !is_normal_lower(data->index) || m_stack.data_layers().empty()) return;
        // Data from a normal lower: the hazard of §10 Q1 if a lower metacopy's absolute redirect
        // led there.
        const auto events = traced_lookup(dir, name).events();
        const auto redirect = last_metacopy_redirect(events);
        if (!redirect) return;
        const std::string& target = events[*redirect].detail;
        const bool shadowed = data_for(target).error == std::errc{};
        add(path, lint_severity::warning,
            shadowed ? lint_code::data_redirect_shadowed : lint_code::data_redirect_in_lower,
            "data redirect " + single_quoted(target) + " from " + where(events[*redirect]) +
                " resolves in normal lower " + where(*data) +
                ", not in the data-only layers (§5.3); " + scoped_outcome(target),
            {});
    }

    /// A digest an open with verity on/require would parse and refuse (spec §2.2, §7). Returns
    /// the digest when it is well-formed (SHA-256 or SHA-512 of the right size).
    std::optional<verity_digest> check_digest(const std::string& path, const entry_type& e) {
        if (!metacopy_has_digest(e.metacopy_size)) return std::nullopt;
        const auto& meta = e.real();
        auto raw = m_engine.fs().get_xattr(meta.handle,
                                           xattr_name(ovl_xattr::metacopy, m_engine.userxattr()));
        if (!raw || !raw->has_value()) return std::nullopt;
        std::string problem;
        auto value = parse_metacopy_at_open(**raw);
        if (!value) {
            problem = value.error() == std::errc::result_out_of_range
                          ? "longer than 68 bytes"
                          : "bad version or length field";
        } else if (const auto n = value->digest.size();
                   !(value->digest_algo == static_cast<std::uint8_t>(verity_algo::sha256) &&
                     n == 32) &&
                   !(value->digest_algo == static_cast<std::uint8_t>(verity_algo::sha512) &&
                     n == 64) &&
                   !(value->digest_algo == static_cast<std::uint8_t>(verity_algo::none) &&
                     n == 0)) {
            problem = "digest algorithm " + std::to_string(value->digest_algo) + " with " +
                      std::to_string(n) + " digest bytes";
        }
        if (problem.empty()) return value ? digest_of(*value) : std::nullopt;
        const verity_mode mode = m_stack.features().verity;
        if (value && value->digest_algo == 0) {
            // Digest bytes with algorithm 0: the kernel takes it as "no digest" (spec §7), so
            // only verity=require refuses the open.
            const bool refused = mode == verity_mode::require;
            add(path, refused ? lint_severity::error : lint_severity::warning,
                lint_code::malformed_digest,
                "metacopy xattr of " + where(meta) + ": " + problem +
                    (refused ? ": taken as no digest, open fails with verity=require (§7)"
                             : ": taken as no digest, refused only with verity=require (§7)"),
                refused ? std::errc::io_error : std::errc{});
            return std::nullopt;
        }
        const bool verity = mode != verity_mode::off;
        const std::errc open_error = !value ? value.error() : std::errc::io_error;
        add(path, verity ? lint_severity::error : lint_severity::warning,
            lint_code::malformed_digest,
            "metacopy xattr of " + where(meta) + ": " + problem +
                (verity ? ": open fails (§2.2, §7)"
                        : ": ignored with verity=off, refused with verity=on (§2.2, §7)"),
            verity ? open_error : std::errc{});
        return std::nullopt;
    }

    /// With lint_options::verity measure or compute: the data's fs-verity digest must equal the
    /// metacopy digest (spec §7). One digest per distinct data object.
    void check_data_digest(const std::string& path, const verity_digest& expected,
                           const real_entry<B>& data) {
        const verity_support support = m_options.verity;
        if (support != verity_support::measure && support != verity_support::compute) return;
        auto [it, fresh] = m_digests.try_emplace({data.index, m_engine.fs().path_of(data.handle)},
                                                 fail(std::errc::io_error));
        if (fresh) {
            auto file = m_engine.fs().open_file(data.handle);
            if (file)
                it->second =
                    file_verity_digest(m_engine.fs(), *file, support == verity_support::measure,
                                       support == verity_support::compute, m_options.verity_sha256);
            else
                it->second = fail(file.error());
        }
        const auto& actual = it->second;
        if (actual && *actual == expected) return;
        const bool verity = m_stack.features().verity != verity_mode::off;
        std::string message = "data " + where(data) + ": ";
        if (actual)
            message += "fs-verity digest " + to_string(*actual) + ", the metacopy xattr says " +
                       to_string(expected);
        else
            message += std::string(support == verity_support::measure ? "no fs-verity digest ("
                                                                      : "cannot be read (") +
                       std::string(errno_name(actual.error())) + ")";
        message += verity ? ": open fails with EIO (§7)"
                          : ": not checked with verity=off, EIO with verity=on (§7)";
        add(path, verity ? lint_severity::error : lint_severity::warning,
            lint_code::digest_mismatch, std::move(message),
            verity ? std::errc::io_error : std::errc{});
    }

    // --- identity (Q2) -------------------------------------------------------------------------

    /// Two paths that the kernel would give one overlay inode, with different real entries, are
    /// answered in lookup order: the second gives ESTALE or shows the first one's attributes.
    /// `path` is `name` in the dir `parent` of m_path_nodes (where the first path of a key is
    /// kept, for the message).
    void check_identity(const std::string& path, std::size_t parent, std::string_view name,
                        const entry_type& e) {
        const auto key = overlay_inode_key(m_stack, e);
        if (!key) return;
        const identity id{e.upper ? std::optional<file_id>(file_id_of(e.upper->st)) : std::nullopt,
                          e.lowers.empty()
                              ? std::nullopt
                              : std::optional<file_id>(file_id_of(e.lowers.front().st))};
        const auto it = m_identities.find(*key);
        if (it == m_identities.end()) {
            m_identities.emplace(*key, std::pair{add_path_node(parent, name), id});
            return;
        }
        if (it->second.second == id) return;
        add(path, lint_severity::warning, lint_code::order_dependent,
            "shares its overlay inode with " + path_at(it->second.first) +
                " (same lower object): the kernel answers whichever is looked up first, the other "
                "gives ESTALE or the first one's attributes (§10 Q2)",
            {});
    }

    // --- helpers -------------------------------------------------------------------------------

    struct data_answer {
        std::errc error{};
        std::optional<real_entry<B>> entry; ///< the data file, when found
    };

    /// The data-only lookup of spec §6 for `redirect`, made once per distinct redirect.
    const data_answer& data_for(const std::string& redirect) {
        auto [it, fresh] = m_data.try_emplace(redirect);
        if (fresh) {
            ++m_report.data_lookups;
            auto hit = lookup_lowerdata(m_engine, redirect, m_quiet);
            if (hit)
                it->second.entry.emplace(std::move(*hit));
            else
                it->second.error = hit.error();
        }
        return it->second;
    }

    /// "scoped ('//x'): data-only layer [3:C] x" or "scoped ('//x'): would fail with ENOENT".
    [[nodiscard]] std::string scoped_outcome(const std::string& target) {
        const auto& data = data_for(target);
        std::string out = "scoped (" + single_quoted("/" + target) + "): ";
        if (data.error != std::errc{})
            return out + "would fail with " + std::string(errno_name(data.error));
        return out + "data-only layer " + where(*data.entry);
    }

    [[nodiscard]] recording_trace traced_lookup(const entry_type& dir,
                                                std::string_view name) const {
        recording_trace trace;
        (void)m_engine.lookup(m_root, dir, name, trace);
        return trace;
    }

    [[nodiscard]] bool is_normal_lower(std::size_t index) const noexcept {
        return index >= 1 && index <= m_stack.lowers().size();
    }
    [[nodiscard]] std::string label(std::size_t index) const {
        return index < m_labels.size() ? m_labels[index] : std::to_string(index);
    }
    template <class Located>
    [[nodiscard]] std::string where(const Located& x) const {
        if constexpr (requires { x.layer; })
            return "[" + label(x.layer) + "] " + single_quoted(x.path);
        else // a real entry: its path only for the message
            return "[" + label(x.index) + "] " + single_quoted(m_engine.fs().path_of(x.handle));
    }
    [[nodiscard]] static std::string single_quoted(std::string_view s) {
        return "'" + std::string(s.empty() ? std::string_view(".") : s) + "'";
    }

    void add(std::string path, lint_severity s, lint_code c, std::string message, std::errc error) {
        m_report.findings.push_back({.path = std::move(path),
                                     .severity = s,
                                     .code = c,
                                     .message = std::move(message),
                                     .error = error});
    }

    lint_report finish() {
        std::sort(m_report.findings.begin(), m_report.findings.end(),
                  [](const lint_finding& a, const lint_finding& b) {
                      return a.path != b.path ? a.path < b.path : a.code < b.code;
                  });
        return std::move(m_report);
    }

    using identity = std::pair<std::optional<file_id>, std::optional<file_id>>;

    const layer_stack<B>& m_stack;
    lookup_engine<B> m_engine;
    lint_options m_options;
    std::vector<std::string> m_labels;
    entry_type m_root;
    null_trace m_quiet;
    lint_report m_report;
    std::unordered_map<std::string, data_answer> m_data;
    /// The fs-verity digest of each data object checked (layer index, path in the layer).
    std::map<std::pair<std::size_t, std::string>, result<verity_digest>> m_digests;
    /// The first path of each inode key (§10 Q2), as an entry of m_path_nodes.
    std::map<file_id, std::pair<std::size_t, identity>> m_identities;
    /// Paths kept for later messages, as a tree: (parent index, name); 0 is "/".
    std::vector<std::pair<std::size_t, std::string>> m_path_nodes{{0, std::string()}};
};

} // namespace detail

/// Lints an accepted layer stack: walks the merged tree once and reports every path whose
/// lookup, data or identity is likely not what the image builder meant (see lint_code).
/// @see spec §2.2, §2.3, §3, §5.3, §5.5, §6, §7, §8, §10 Q1/Q2
template <backing_filesystem B>
[[nodiscard]] lint_report lint_stack(const B& fs, const layer_stack<B>& stack,
                                     const lint_options& options = {}) {
    return detail::linter<B>(fs, stack, options).run();
}

/// Lints the stack named by mount `options`: a stack the kernel would refuse is one error
/// finding (code mount-refused, path "/", with the mount errno and the kernel's message).
/// @see spec §1
template <backing_filesystem B>
[[nodiscard]] lint_report lint_mount(const B& fs, std::string_view options,
                                     const module_defaults& defaults = {},
                                     const lint_options& lint = {}) {
    auto stack = make_layer_stack(fs, options, defaults);
    if (!stack) {
        const mount_error& error = stack.error();
        const std::errc code = error.code;
        lint_report report;
        report.findings.push_back({.path = "/",
                                   .severity = lint_severity::error,
                                   .code = lint_code::mount_refused,
                                   .message = refusal_message(error),
                                   .error = code});
        return report;
    }
    return lint_stack(fs, *stack, lint);
}

} // namespace ovlcore
