// SPDX-License-Identifier: MIT
// ovlcore/testing/differential.hpp: the differential runner. It compares what another overlay
// implementation shows for a scenario (ovlcore/testing/scenario.hpp) with ovlcore's answer, in
// the unit of the canonical dump (ovlcore/dump.hpp, docs/dump-format.md): one record per path,
// compared as sets of parsed records (a refused mount: by errno only), optionally with each
// object's visible xattrs (spec §2.1, ovlcore/xattr_view.hpp). The implementation is either a
// mounted tree (walked with posix_fs, ovlcore/backend/posix_tree.hpp), any tree_view, or a set of
// callbacks answering lstat / readdir / readlink / content / xattrs per path. The result names the
// first difference readably. Opt-in (target ovlcore::testing, needs nlohmann_json).
//
// Probes below a symlink: a real directory walk follows a symlink in a middle component, possibly
// out of the mount, so such answers depend on the host, not on the overlay; by default the records
// of paths below a path either side shows as a symlink are dropped before comparing.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "../backend.hpp"
#include "../backend/memory.hpp"
#include "../backend/posix.hpp"
#include "../backend/posix_tree.hpp"
#include "../dump.hpp"
#include "../layer_stack.hpp"
#include "../overlay.hpp"
#include "../result.hpp"
#include "../types.hpp"
#include "../xattr_view.hpp"
#include "scenario.hpp"
#include "shrink.hpp"

namespace ovlcore::testing {

using json = nlohmann::json;

// ---- dump records ------------------------------------------------------------------------------

/// Parses JSON Lines into objects; a mount_error line keeps only its errno (docs/dump-format.md:
/// only mount_error is compared).
inline std::vector<json> parse_dump_lines(std::string_view text) {
    std::vector<json> out;
    std::size_t i = 0;
    while (i < text.size()) {
        std::size_t j = text.find('\n', i);
        if (j == std::string_view::npos) j = text.size();
        const std::string_view line = text.substr(i, j - i);
        if (line.find_first_not_of(" \t\r") != std::string_view::npos) {
            json obj = json::parse(line);
            if (obj.contains("mount_error")) obj = json{{"mount_error", obj["mount_error"]}};
            out.push_back(std::move(obj));
        }
        i = j + 1;
    }
    return out;
}

/// Drops the records of paths that lie below a path either dump shows as a symlink (see the top
/// of this file). Returns how many were dropped.
inline std::size_t drop_below_symlinks(std::vector<json>& left, std::vector<json>& right) {
    std::set<std::string> links;
    for (const auto* side : {&left, &right})
        for (const auto& r : *side)
            if (r.value("type", "") == "lnk") links.insert(r["path"].get<std::string>());
    const auto below_link = [&](const json& r) {
        if (!r.contains("path")) return false;
        const std::string p = r["path"].get<std::string>();
        for (const auto& l : links)
            if (p.size() > l.size() + 1 && p.compare(0, l.size(), l) == 0 && p[l.size()] == '/')
                return true;
        return false;
    };
    std::size_t dropped = 0;
    for (auto* side : {&left, &right}) {
        const auto before = side->size();
        side->erase(std::remove_if(side->begin(), side->end(), below_link), side->end());
        dropped += before - side->size();
    }
    return dropped;
}

/// The records of the two dumps that differ, per path: {path, left record or null, right ...}.
struct dump_difference {
    std::string path;
    std::optional<json> left;
    std::optional<json> right;
};

/// Every path whose records differ, in path order ("<mount>" for mount_error lines).
inline std::vector<dump_difference> compare_dumps(const std::vector<json>& left,
                                                  const std::vector<json>& right) {
    const auto key = [](const json& r) {
        return r.contains("path") ? r["path"].get<std::string>() : std::string("<mount>");
    };
    std::map<std::string, std::pair<std::set<json>, std::set<json>>> by_path;
    for (const auto& r : left) by_path[key(r)].first.insert(r);
    for (const auto& r : right) by_path[key(r)].second.insert(r);
    std::vector<dump_difference> out;
    for (const auto& [path, sides] : by_path) {
        if (sides.first == sides.second) continue;
        dump_difference d{.path = path, .left = std::nullopt, .right = std::nullopt};
        if (!sides.first.empty()) d.left = *sides.first.begin();
        if (!sides.second.empty()) d.right = *sides.second.begin();
        out.push_back(std::move(d));
    }
    return out;
}

/// Each difference as "  path\n    left: {...}\n    right: {...}\n".
inline std::string describe_differences(const std::vector<dump_difference>& diffs,
                                        std::string_view left_name, std::string_view right_name) {
    std::string out;
    for (const auto& d : diffs) {
        out += "  " + d.path + "\n";
        out +=
            "    " + std::string(left_name) + ": " + (d.left ? d.left->dump() : "(absent)") + "\n";
        out += "    " + std::string(right_name) + ": " + (d.right ? d.right->dump() : "(absent)") +
               "\n";
    }
    return out;
}

/// One difference in words: the path, both records, and the fields whose values differ.
inline std::string explain_difference(const dump_difference& d, std::string_view left_name,
                                      std::string_view right_name) {
    std::string out = describe_differences({d}, left_name, right_name);
    if (!d.left || !d.right) {
        out += "    (only " + std::string(d.left ? left_name : right_name) + " shows this path)\n";
        return out;
    }
    std::set<std::string> keys;
    for (const auto& [k, v] : d.left->items()) keys.insert(k);
    for (const auto& [k, v] : d.right->items()) keys.insert(k);
    std::string fields;
    for (const auto& k : keys) {
        const auto side = [&](const json& r) {
            return r.contains(k) ? r[k].dump() : std::string("(none)");
        };
        if (side(*d.left) == side(*d.right)) continue;
        fields += "    " + k + ": " + std::string(left_name) + " " + side(*d.left) + ", " +
                  std::string(right_name) + " " + side(*d.right) + "\n";
    }
    return out + fields;
}

/// The records as JSON Lines again.
inline std::string dump_lines_text(const std::vector<json>& records) {
    std::string out;
    for (const auto& r : records) out += r.dump() + "\n";
    return out;
}

// ---- ovlcore's answer --------------------------------------------------------------------------

/// A scenario document (as generated, nlohmann::json) as a parsed scenario.
inline scenario to_scenario(const json& sc, std::string name = "random") {
    return parse_scenario(nlohmann::ordered_json::parse(sc.dump()), std::move(name));
}

namespace detail {

/// An xattr value as the comparison spells it: the text when printable ASCII, else "hex:...".
inline std::string xattr_value_text(std::string_view v) {
    const bool printable = std::all_of(v.begin(), v.end(), [](char c) {
        return static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f;
    });
    if (printable) return std::string(v);
    static constexpr char digits[] = "0123456789abcdef";
    std::string out = "hex:";
    for (const char c : v) {
        const auto b = static_cast<unsigned char>(c);
        out += digits[b >> 4U];
        out += digits[b & 0xfU];
    }
    return out;
}

/// {name: value} of a list of xattrs, sorted by name.
inline json xattrs_object(std::vector<std::pair<std::string, std::string>> xattrs) {
    std::sort(xattrs.begin(), xattrs.end());
    json out = json::object();
    for (const auto& [k, v] : xattrs) out[k] = xattr_value_text(v);
    return out;
}

/// Adds "xattrs" (or "xattrs_error") to every record with a type, from `get(path)`.
template <class Get>
void add_xattrs(std::vector<json>& records, Get&& get) {
    for (auto& r : records) {
        if (!r.contains("type") || !r.contains("path")) continue;
        const result<std::vector<std::pair<std::string, std::string>>> x =
            get(r["path"].get<std::string>());
        if (x)
            r["xattrs"] = xattrs_object(*x);
        else
            r["xattrs_error"] = std::string(errno_name(x.error()));
    }
}

/// The xattrs an overlay shows at `path` (listxattr, then getxattr of each name).
template <class Ov>
result<std::vector<std::pair<std::string, std::string>>> overlay_xattrs(const Ov& ov,
                                                                        std::string_view path) {
    OVLCORE_TRY_ASSIGN(names, list_overlay_xattrs(ov, path));
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& n : names) {
        OVLCORE_TRY_ASSIGN(v, get_overlay_xattr(ov, path, n));
        if (v) out.emplace_back(n, std::move(*v));
    }
    return out;
}

/// The xattrs of `path` below the layer `root` of a backend.
template <backing_filesystem B>
result<std::vector<std::pair<std::string, std::string>>>
backend_xattrs(const B& fs, const typename B::layer_ref& root, std::string_view path) {
    OVLCORE_TRY_ASSIGN(obj, walk(fs, root, path));
    OVLCORE_TRY_ASSIGN(names, fs.list_xattr(obj.handle));
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& n : names) {
        OVLCORE_TRY_ASSIGN(v, fs.get_xattr(obj.handle, n));
        if (v) out.emplace_back(n, std::move(*v));
    }
    return out;
}

} // namespace detail

/// ovlcore's canonical dump (JSON Lines) of the overlay that `options` describes over `fs`:
/// make_layer_stack + overlay + dump_records, or the single mount_error line. With
/// `with_xattrs`, every record with a type also carries the xattrs the overlay shows (§2.1).
/// @see docs/dump-format.md
template <backing_filesystem B>
[[nodiscard]] std::string
ovlcore_dump_jsonl(const B& fs, std::string_view options, const std::vector<std::string>& probes,
                   const module_defaults& defaults = {}, bool with_xattrs = false) {
    auto stack = make_layer_stack(fs, options, defaults);
    if (!stack) return mount_error_json(stack.error().code, stack.error().message) + "\n";
    overlay<B> view(fs, std::move(*stack));
    const auto records = dump_records(view, std::span<const std::string>(probes));
    if (!with_xattrs) return to_jsonl(records);
    auto parsed = parse_dump_lines(to_jsonl(records));
    detail::add_xattrs(parsed,
                       [&](const std::string& p) { return detail::overlay_xattrs(view, p); });
    return dump_lines_text(parsed);
}

// ---- the differential runner -------------------------------------------------------------------

/// Knobs of a differential run.
struct differential_options {
    bool drop_below_symlinks = true; ///< see the top of this file
    bool compare_xattrs = false;     ///< also compare each object's visible xattrs (§2.1)
    module_defaults defaults{};      ///< ovlcore's module parameters (the kernel's defaults)
    std::string expected_name = "ovlcore";
    std::string actual_name = "implementation";
};

/// What a differential run found.
struct differential_result {
    std::string expected_jsonl; ///< ovlcore's dump
    std::string actual_jsonl;   ///< the implementation's dump
    std::vector<json> expected; ///< parsed (and filtered) records of both
    std::vector<json> actual;
    std::vector<dump_difference> differences;
    std::size_t dropped_below_symlinks = 0;
    std::string expected_name = "ovlcore";
    std::string actual_name = "implementation";

    [[nodiscard]] bool agree() const noexcept { return differences.empty(); }

    /// The first differing path in words, a mount disagreement first ("" when they agree).
    [[nodiscard]] std::string first_difference() const {
        if (differences.empty()) return {};
        const auto mount =
            std::find_if(differences.begin(), differences.end(),
                         [](const dump_difference& d) { return d.path == "<mount>"; });
        const dump_difference& first = mount != differences.end() ? *mount : differences.front();
        return "first difference (" + std::to_string(differences.size()) +
               (differences.size() == 1 ? " path differs" : " paths differ") + "):\n" +
               explain_difference(first, expected_name, actual_name);
    }
    /// Every difference, both records each.
    [[nodiscard]] std::string report() const {
        return describe_differences(differences, expected_name, actual_name);
    }
};

/// Compares an implementation's dump (JSON Lines, docs/dump-format.md) with ovlcore's.
inline differential_result compare_dump_text(std::string expected_jsonl, std::string actual_jsonl,
                                             const differential_options& opt = {}) {
    differential_result r;
    r.expected_name = opt.expected_name;
    r.actual_name = opt.actual_name;
    r.expected_jsonl = std::move(expected_jsonl);
    r.actual_jsonl = std::move(actual_jsonl);
    r.expected = parse_dump_lines(r.expected_jsonl);
    r.actual = parse_dump_lines(r.actual_jsonl);
    if (opt.drop_below_symlinks)
        r.dropped_below_symlinks = drop_below_symlinks(r.expected, r.actual);
    r.differences = compare_dumps(r.expected, r.actual);
    return r;
}

/// ovlcore's answer for a scenario: built in a memory_fs (layers at /ROOT/<name>), dumped with
/// the scenario's probes.
inline std::string ovlcore_answer(const scenario& sc, const differential_options& opt = {}) {
    memory_fs fs;
    const std::string options = build_in_memory(sc, fs);
    return ovlcore_dump_jsonl(fs, options, sc.paths, opt.defaults, opt.compare_xattrs);
}

/// An implementation answering per path ("/" or "/a/b", last component never followed).
/// `mount` (optional) refuses the mount with an errno; `xattrs` is needed only with
/// differential_options::compare_xattrs.
struct walk_callbacks {
    std::function<std::optional<std::errc>()> mount;
    std::function<result<stat_info>(std::string_view path)> lstat;
    std::function<result<std::vector<dir_entry>>(std::string_view path)> read_dir;
    std::function<result<std::string>(std::string_view path)> read_link;
    /// The whole content of a regular file (its open and read).
    std::function<result<std::string>(std::string_view path)> content;
    std::function<result<std::vector<std::pair<std::string, std::string>>>(std::string_view path)>
        xattrs;
};

/// walk_callbacks as a tree_view (dump.hpp): a file is its whole content.
class callback_tree {
public:
    explicit callback_tree(const walk_callbacks& cb) : m_cb(&cb) {}
    [[nodiscard]] result<stat_info> lstat(std::string_view p) const { return m_cb->lstat(p); }
    [[nodiscard]] result<std::vector<dir_entry>> read_dir(std::string_view p) const {
        return m_cb->read_dir(p);
    }
    [[nodiscard]] result<std::string> read_link(std::string_view p) const {
        return m_cb->read_link(p);
    }
    [[nodiscard]] result<std::string> open(std::string_view p) const { return m_cb->content(p); }
    [[nodiscard]] result<std::size_t> read(const std::string& f, std::uint64_t offset,
                                           std::span<char> buffer) const {
        if (offset >= f.size()) return std::size_t{0};
        const std::size_t n = std::min(buffer.size(), f.size() - static_cast<std::size_t>(offset));
        std::copy_n(f.data() + offset, n, buffer.data());
        return n;
    }

private:
    const walk_callbacks* m_cb;
};
static_assert(tree_view<callback_tree>);

/// The dump of any tree_view with the scenario's probes (and xattrs from `xattrs(path)` when
/// asked), compared with ovlcore's answer.
template <tree_view View, class Xattrs>
differential_result differential_check_tree(const scenario& sc, View& impl, Xattrs&& xattrs,
                                            const differential_options& opt = {}) {
    std::string actual = to_jsonl(dump_records(impl, std::span<const std::string>(sc.paths)));
    if (opt.compare_xattrs) {
        auto parsed = parse_dump_lines(actual);
        detail::add_xattrs(parsed, xattrs);
        actual = dump_lines_text(parsed);
    }
    return compare_dump_text(ovlcore_answer(sc, opt), std::move(actual), opt);
}

/// An implementation given as callbacks, compared with ovlcore's answer.
inline differential_result differential_check(const scenario& sc, const walk_callbacks& impl,
                                              const differential_options& opt = {}) {
    if (impl.mount)
        if (const auto refused = impl.mount())
            return compare_dump_text(
                ovlcore_answer(sc, opt),
                mount_error_json(*refused, "refused by the implementation") + "\n", opt);
    callback_tree tree(impl);
    return differential_check_tree(
        sc, tree,
        [&](const std::string& p) -> result<std::vector<std::pair<std::string, std::string>>> {
            if (!impl.xattrs) return std::vector<std::pair<std::string, std::string>>{};
            return impl.xattrs(p);
        },
        opt);
}

/// A mounted implementation: the scenario's layers were built with build_on_disk and the
/// implementation mounted them (with the options build_on_disk returned) on `mountpoint`, which
/// is walked with posix_fs (ovlcore/backend/posix_tree.hpp).
inline differential_result differential_check_mounted(const scenario& sc,
                                                      const std::filesystem::path& mountpoint,
                                                      const differential_options& opt = {}) {
    auto tree = mounted_tree::open_root(mountpoint.string());
    if (!tree)
        return compare_dump_text(
            ovlcore_answer(sc, opt),
            mount_error_json(tree.error(), "mount point cannot be opened") + "\n", opt);
    const posix_fs fs;
    auto root = fs.resolve_dir(mountpoint.string());
    return differential_check_tree(
        sc, *tree,
        [&](const std::string& p) -> result<std::vector<std::pair<std::string, std::string>>> {
            if (!root) return fail(root.error());
            return detail::backend_xattrs(fs, root->ref, p);
        },
        opt);
}

/// For a property: does the implementation that `make_impl(scenario)` returns (walk_callbacks)
/// agree with ovlcore on the scenario document `doc`?
/// nullopt when it does; otherwise a report: the scenario (shrunk first by the greedy shrinker,
/// shrink.hpp, within `shrink_budget` runs; 0: not shrunk) and its first difference. In a
/// rapidcheck property: `if (auto why = find_disagreement(doc, make_impl)) RC_FAIL(*why);`.
template <class MakeImpl>
std::optional<std::string> find_disagreement(const json& doc, MakeImpl&& make_impl,
                                             const differential_options& opt = {},
                                             int shrink_budget = 0) {
    const auto run = [&](const json& d) {
        const scenario sc = to_scenario(d);
        const walk_callbacks impl = make_impl(sc);
        return differential_check(sc, impl, opt);
    };
    if (run(doc).agree()) return std::nullopt;
    json small = doc;
    if (shrink_budget > 0)
        small = shrink_scenario(
            doc, [&](const json& c) { return !run(c).agree(); }, shrink_budget);
    const differential_result r = run(small);
    return "scenario:\n" + small.dump(1) + "\n" + r.first_difference();
}

} // namespace ovlcore::testing
