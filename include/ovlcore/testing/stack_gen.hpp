// SPDX-License-Identifier: MIT
// ovlcore/testing/stack_gen.hpp: a rapidcheck generator of random overlay layer stacks, produced
// as scenario JSON (ovlcore/testing/scenario.hpp) so that they can be built in memory or on disk
// and a failing case saved verbatim as a regression scenario. Layer trees come from
// layer_gen.hpp, xattrs from xattr_gen.hpp, option strings from option_gen.hpp. Spec: §0
// (layers), §1.4 (options), §2 (xattrs), §3 (whiteouts), §5 (lookup), §6 (data-only layers),
// §10 Q2 (order-dependent results, avoided here). Opt-in (target ovlcore::testing).
//
// What a generated stack contains: 2-6 layer directories (an optional upper "U" with workdir "W",
// normal lowers "A".."E", data-only lowers "X", "Y"); in each layer a random small tree over the
// names {a, b, c} (so layers collide often) of directories, regular files, symlinks, char 0:0
// whiteouts, xattr whiteouts (zero-size file + overlay.whiteout, parent often opaque=x),
// opaque values y / x / junk ("yes", "Y", "n", "", "y\0"), valid and invalid redirects
// (relative, absolute, missing targets, "." / ".." components, values cut at a NUL), metacopy
// files (empty, 1-3 byte, header-only, digest and over-long metacopy xattrs; st_size differing
// from the content; absolute redirects), origin / impure / metacopy / whiteout xattrs on dirs,
// overlay xattrs on symlinks, the ignored namespace and escaped "overlay.overlay." names, a few
// devices (chr 1:3, chr 0:1, blk 0:0) and fifos. Data-only layers also hold composefs-like
// objects (/objects/o1.., /o4; sometimes a dir, symlink, whiteout, or "objects" a symlink) that
// metacopy files of the normal layers point to, so chains often end in the lazy slot (§6).
// Options: upper or lower-only (sometimes the upper dir inside a lower layer: ELOOP, §5.1),
// lowerdir= or lowerdir+/datadir+ syntax, redirect_dir, metacopy, userxattr (user.overlay.*
// names), verity=on/require (§7); some combinations the kernel refuses (§1.4 conflicts), where
// both sides must agree on the mount errno. Probes ("paths"): every path of every layer, plus
// over-long names (ENAMETOOLONG).
//
// Order-dependent stacks (spec §10 Q2) are AVOIDED by avoid_q2_aliases(). Overlay inodes of
// entries that have a lower are keyed by their first lower entry; two names reaching the same
// lower directory (a redirected dir and its still-visible origin, or their children: `/p` ->
// `/t` makes `/p/c` and `/t/c` share `t/c` of a deeper layer even in a lower-only mount), or two
// upper metacopies reaching one lower file, make the second lookup ESTALE (or share attributes).
// So, for every normal layer except the bottom one (nothing lies below it):
//   - no two redirects (directory redirects in any layer, metacopy redirects in the upper) reach
//     the same lower path or one another's subtrees (targets computed through the redirects of
//     the entry's ancestors in its own layer);
//   - no redirect targets a path where its own layer holds a directory or a metacopy file, or a
//     directory of that layer that continues at that target;
//   - the origin of every kept redirect is hidden by a whiteout in the redirect's own layer (what
//     rename(2) leaves behind), so "a redirect plus its still-visible origin" cannot occur.
// A redirect that cannot be kept is removed. Lower-layer metacopy redirects are kept as they are:
// such a file is keyed by the metacopy entry itself, so several may share one data file.
// Residual aliasing (e.g. through redirects of directories met inside an absolute redirect walk)
// is not modelled; the kernel differential detects it (an ESTALE in the kernel's dump) and
// discards the case. The xwhiteout readdir flag (Q4) is history dependent too, but both dumps
// walk in the same order, so it is kept.
#pragma once

#include <algorithm>
#include <cstddef>
#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <rapidcheck.h>

#include "../detail/path.hpp"
#include "../dump.hpp"
#include "layer_gen.hpp"
#include "option_gen.hpp"
#include "random.hpp"
#include "scenario.hpp"
#include "xattr_gen.hpp"

namespace ovlcore::testing {

/// Knobs of the stack generator.
struct stack_gen_options {
    int min_layers = 2; ///< layer directories, upper and data-only ones included
    int max_layers = 6;
    bool allow_upper = true;       ///< generate upperdir+workdir mounts
    bool allow_data_only = true;   ///< generate data-only lowers (::X, datadir+)
    bool force_data_only = false;  ///< always at least one data-only lower
    bool allow_devices = true;     ///< char 0:0 whiteouts, chr 1:3, blk 0:0, fifos (mknod on disk)
    bool allow_trusted = true;     ///< trusted.overlay.* (on disk: root); false forces userxattr
    bool allow_bad_options = true; ///< keep some option combinations the kernel refuses (§1.4)
    int max_depth = 3;             ///< directory depth of the random trees
};

namespace detail {

/// The components of a path as strings (ovlcore::detail::split_path: empty ones dropped).
inline std::vector<std::string> path_parts(std::string_view p) {
    const auto parts = ovlcore::detail::split_path(p);
    return {parts.begin(), parts.end()};
}

/// The absolute path of the first `n` components ("/" for none).
inline std::string abs_path_prefix(const std::vector<std::string>& parts, std::size_t n) {
    std::string out = "/";
    for (std::size_t i = 0; i < n && i < parts.size(); ++i)
        out = ovlcore::detail::join_dump_path(out, parts[i]);
    return out;
}

/// Is `a` equal to `b` or one of its ancestors? (absolute, normalised paths)
inline bool is_path_or_ancestor(const std::string& a, const std::string& b) {
    if (a == "/") return true;
    return b == a || (b.size() > a.size() && b.compare(0, a.size(), a) == 0 && b[a.size()] == '/');
}

/// The redirect value as the kernel uses it: "hex:" decoded, cut at the first NUL (§2.3).
inline std::string effective_value(const std::string& raw) {
    std::string v = decode_xattr_value(raw, "redirect");
    const auto nul = v.find('\0');
    if (nul != std::string::npos) v.resize(nul);
    return v;
}

/// Is the redirect value valid and free of "." / ".." (§2.3)? Only those can alias.
inline bool plain_redirect(const std::string& v) {
    if (v.empty()) return false;
    if (v[0] != '/') return v.find('/') == std::string::npos && v != "." && v != "..";
    if (v.size() < 2 || v.back() == '/' || v.find("//") != std::string::npos) return false;
    for (const auto c : ovlcore::detail::split_path(v))
        if (c == "." || c == "..") return false;
    return true;
}

} // namespace detail

/// Rewrites the normal layers of `scenario` (names top to bottom, upper first if any) so that no
/// overlay inode alias of spec §10 Q2 can arise (see the comment at the top of this file).
/// `has_upper`: the first name is the upper layer (its metacopy redirects are processed too).
/// Returns the number of redirects removed.
inline int avoid_q2_aliases(json& scenario, const std::vector<std::string>& normal_layers,
                            bool has_upper, const std::string& prefix, bool devices) {
    const std::string redirect_key = prefix + "redirect";
    const std::string metacopy_key = prefix + "metacopy";
    int removed = 0;
    std::vector<std::string> claimed; // lower targets already reached by some redirect
    // The bottom normal layer has nothing below it: its redirects never alias.
    for (std::size_t li = 0; li + 1 < normal_layers.size(); ++li) {
        json* layer = nullptr;
        for (auto& l : scenario["layers"])
            if (l["name"] == normal_layers[li]) layer = &l;
        if (layer == nullptr) continue;
        json& entries = (*layer)["entries"];
        const bool upper = has_upper && li == 0;

        // path -> entry index; implicit parents are directories (nullopt)
        const auto index = [&]() {
            std::map<std::string, std::optional<std::size_t>> m;
            for (std::size_t i = 0; i < entries.size(); ++i) {
                const auto parts = detail::path_parts(entries[i]["path"].get<std::string>());
                for (std::size_t k = 1; k < parts.size(); ++k)
                    m.emplace(detail::abs_path_prefix(parts, k), std::nullopt);
                m[detail::abs_path_prefix(parts, parts.size())] = i;
            }
            return m;
        };
        const auto redirect_of = [&](std::size_t i) -> std::optional<std::string> {
            const json& e = entries[i];
            if (!e.contains("xattrs") || !e["xattrs"].contains(redirect_key)) return std::nullopt;
            return detail::effective_value(e["xattrs"][redirect_key].get<std::string>());
        };
        const auto is_metacopy = [&](std::size_t i) {
            const json& e = entries[i];
            return e.value("type", "") == "reg" && e.contains("xattrs") &&
                   e["xattrs"].contains(metacopy_key);
        };
        // The path in the layers below at which this layer's path `p` continues: the redirects
        // of p's ancestors in this layer and of p itself applied (§5.3, §5.4).
        const auto lower_path = [&](const std::map<std::string, std::optional<std::size_t>>& m,
                                    const std::string& p) -> std::optional<std::string> {
            std::string cur = "/";
            const auto parts = detail::path_parts(p);
            for (std::size_t k = 0; k < parts.size(); ++k) {
                std::string next = cur == "/" ? "/" + parts[k] : cur + "/" + parts[k];
                auto it = m.find(detail::abs_path_prefix(parts, k + 1));
                if (it != m.end() && it->second) {
                    if (auto r = redirect_of(*it->second)) {
                        if (!detail::plain_redirect(*r)) return std::nullopt;
                        next = (*r)[0] == '/' ? *r : (cur == "/" ? "/" + *r : cur + "/" + *r);
                    }
                }
                cur = next;
            }
            return cur;
        };

        std::vector<std::string> sorted;
        for (const auto& e : entries) sorted.push_back(e["path"].get<std::string>());
        std::sort(sorted.begin(), sorted.end());
        std::vector<std::string> whiteouts_to_add;
        for (const std::string& raw : sorted) {
            const auto m = index();
            const auto parts = detail::path_parts(raw);
            const std::string path = detail::abs_path_prefix(parts, parts.size());
            if (path == "/") continue;
            const auto it = m.find(path);
            if (it == m.end() || !it->second) continue;
            const std::size_t i = *it->second;
            const auto r = redirect_of(i);
            const std::string type = entries[i].value("type", "");
            // dirs alias through their children; only upper metacopies alias (keyed by lower)
            const bool relevant = r && (type == "dir" || (upper && is_metacopy(i)));
            if (!relevant || !detail::plain_redirect(*r)) continue;
            const auto target = lower_path(m, path);
            bool drop = !target.has_value();
            if (!drop)
                for (const auto& c : claimed)
                    if (detail::is_path_or_ancestor(c, *target) ||
                        detail::is_path_or_ancestor(*target, c))
                        drop = true;
            if (!drop) {
                for (const auto& [p, idx] : m) {
                    if (p == path || p == "/") continue;
                    const bool dirlike =
                        !idx || entries[*idx].value("type", "") == "dir" || is_metacopy(*idx);
                    if (!dirlike) continue;
                    if (p == *target) drop = true; // this layer holds the target itself
                    const auto lp = lower_path(m, p);
                    if (lp && *lp == *target) drop = true; // or continues there elsewhere
                }
            }
            if (drop) {
                entries[i]["xattrs"].erase(redirect_key);
                if (entries[i]["xattrs"].empty()) entries[i].erase("xattrs");
                ++removed;
                continue;
            }
            claimed.push_back(*target);
            // hide the origin in this layer, as rename(2) would, unless already hidden/replaced
            const auto tparts = detail::path_parts(*target);
            bool reachable = true;
            for (std::size_t k = 1; k < tparts.size(); ++k) {
                auto a = m.find(detail::abs_path_prefix(tparts, k));
                if (a != m.end() && a->second && entries[*a->second].value("type", "") != "dir")
                    reachable = false;
            }
            if (reachable && m.find(*target) == m.end()) whiteouts_to_add.push_back(*target);
        }
        for (const auto& w : whiteouts_to_add) {
            json e = {{"path", w.substr(1)}};
            if (devices) {
                e["type"] = "whiteout";
            } else {
                e["type"] = "reg";
                e["content"] = "";
                e["xattrs"] = {{prefix + "whiteout", ""}};
            }
            entries.push_back(e);
        }
    }
    return removed;
}

/// Every path present in some layer (including data-only ones) as an absolute overlay path, plus
/// a child below a file: probes for names that may be hidden (dump-format.md `--probe`).
inline std::vector<std::string> probe_paths(const json& scenario) {
    std::set<std::string> out;
    for (const auto& l : scenario["layers"])
        for (const auto& e : l["entries"]) {
            const auto parts = detail::path_parts(e["path"].get<std::string>());
            if (parts.empty()) continue;
            out.insert(detail::abs_path_prefix(parts, parts.size()));
        }
    return {out.begin(), out.end()};
}

/// A random layer stack as a scenario JSON object.
inline rc::Gen<json> gen_stack(stack_gen_options opt = {}) {
    return rc::gen::exec([opt]() -> json {
        const int total = uniform(opt.min_layers, opt.max_layers + 1);
        const bool upper = opt.allow_upper && chance(550);
        int data = 0;
        const int room = total - (upper ? 1 : 0) - 1; // at least one normal lower
        if (opt.allow_data_only && room > 0 && (opt.force_data_only || chance(400)))
            data = uniform(1, std::min(room, 2) + 1);
        const int normal = std::max(1, total - (upper ? 1 : 0) - data);

        const bool userxattr = !opt.allow_trusted || chance(150);
        const std::string prefix = userxattr ? "user.overlay." : "trusted.overlay.";
        const std::string other = userxattr ? "trusted.overlay." : "user.overlay.";

        json sc;
        sc["why"] = "random stack (ovlcore/testing/stack_gen.hpp)";
        sc["layers"] = json::array();
        std::vector<std::string> normal_names, data_names;
        static const char* const lower_names[] = {"A", "B", "C", "D", "E"};
        static const char* const data_layer_names[] = {"X", "Y"};
        // composefs-like objects in the data-only layers, under a name the normal layers rarely
        // have, so that metacopy chains often end in the lazy slot (spec §6)
        static const std::vector<std::string> objects{
            "/objects/o1", "/objects/o2", "/objects/o3", "/o4", "/objects/./o1", "/objects/../o4"};
        const std::vector<std::string> data_targets =
            data > 0 ? objects : std::vector<std::string>{};
        const auto make_layer = [&](const std::string& name, bool data_only) {
            layer_gen_options lo;
            lo.layer = name;
            lo.prefix = prefix;
            lo.other_prefix = other;
            lo.data_only = data_only;
            lo.devices = opt.allow_devices;
            lo.whiteouts = true;
            lo.user_xattrs_only = !opt.allow_trusted;
            lo.max_depth = opt.max_depth;
            lo.data_targets = data_targets;
            json entries = gen_layer_entries(lo);
            if (data_only) {
                const bool objects_is_link = chance(60); // a symlink in the middle: ELOOP (§6)
                if (objects_is_link)
                    entries.push_back({{"path", "objects"}, {"type", "lnk"}, {"target", "."}});
                for (const char* obj : {"objects/o1", "objects/o2", "objects/o3", "o4"}) {
                    const std::string p = obj;
                    if (objects_is_link && p.rfind("objects/", 0) == 0) continue;
                    json e = {{"path", p}};
                    switch (pick<int>({{14, 0}, {3, 1}, {1, 2}, {1, 3}, {1, 4}})) {
                    case 0:
                        e["type"] = "reg";
                        e["content"] = std::string(name).append(":").append(p).append("\n");
                        break;
                    case 1: continue; // absent: ENOENT here, maybe found in the next layer
                    case 2: e["type"] = "dir"; break;
                    case 3:
                        e["type"] = "lnk";
                        e["target"] = "o1";
                        break;
                    default:
                        if (!opt.allow_devices) continue;
                        e["type"] = "whiteout";
                        break;
                    }
                    // the same path may already exist in the random tree: replace it
                    for (std::size_t k = entries.size(); k-- > 0;) {
                        const std::string ep = entries[k]["path"].get<std::string>();
                        if (ep == p || ep.rfind(p + "/", 0) == 0) entries.erase(k);
                    }
                    entries.push_back(e);
                }
            } else if (!data_targets.empty() && chance(50)) {
                // a normal layer with an "objects" dir: quirk Q1 (absolute_redirect reset)
                entries.push_back({{"path", "objects"}, {"type", "dir"}});
            }
            sc["layers"].push_back({{"name", name}, {"entries", entries}});
        };
        if (upper) make_layer("U", false);
        for (int i = 0; i < normal && i < 5; ++i) {
            normal_names.emplace_back(lower_names[i]);
            make_layer(lower_names[i], false);
        }
        for (int i = 0; i < data; ++i) {
            data_names.emplace_back(data_layer_names[i]);
            make_layer(data_layer_names[i], true);
        }

        // options (§1.1, §1.4): ovlcore/testing/option_gen.hpp
        if (upper) sc["workdirs"] = json::array({"W"});
        sc["options"] = random_options(option_gen_input{
            .lowers = normal_names,
            .data_layers = data_names,
            .upper = upper ? std::optional<std::string>("U") : std::nullopt,
            .workdir = "W",
            .userxattr = userxattr,
            .allow_bad_options = opt.allow_bad_options,
        });

        std::vector<std::string> stack_names;
        if (upper) stack_names.emplace_back("U");
        stack_names.insert(stack_names.end(), normal_names.begin(), normal_names.end());
        avoid_q2_aliases(sc, stack_names, upper, prefix, opt.allow_devices);
        if (upper && chance(40)) {
            // the upper dir inside a lower layer: not refused at mount time, but looking the
            // upper root up through that lower fails with ELOOP (§1.5 notes, §5.1 step 7)
            const std::string host = normal_names[static_cast<std::size_t>(
                uniform(0, static_cast<int>(normal_names.size())))];
            json moved = json::array();
            for (auto& l : sc["layers"])
                if (l["name"] == "U") moved = l["entries"];
            json& layers = sc["layers"];
            for (std::size_t i = 0; i < layers.size(); ++i)
                if (layers[i]["name"] == "U") {
                    layers.erase(i);
                    break;
                }
            for (auto& l : layers) {
                if (l["name"] != host) continue;
                json& ents = l["entries"];
                for (std::size_t k = ents.size(); k-- > 0;) { // make room for "up"
                    const std::string ep = ents[k]["path"].get<std::string>();
                    if (ep == "up" || ep.rfind("up/", 0) == 0) ents.erase(k);
                }
                ents.push_back({{"path", "up"}, {"type", "dir"}});
                for (auto e : moved) {
                    const std::string ep = e["path"].get<std::string>();
                    if (ep == "/" || ep.empty()) {
                        e["path"] = "up";
                    } else {
                        e["path"] = "up/" + ep;
                    }
                    ents.push_back(e);
                }
            }
            std::string o = sc["options"];
            const auto at = o.find("upperdir={U}");
            o.replace(at, std::string("upperdir={U}").size(), "upperdir={" + host + "}/up");
            sc["options"] = o;
        }
        json probes = probe_paths(sc);
        if (chance(100)) probes.push_back("/" + std::string(256, 'n')); // ENAMETOOLONG (§1.5)
        if (chance(50)) probes.push_back("/a/" + std::string(255, 'n'));
        sc["paths"] = probes;
        return sc;
    });
}

/// A generated stack with a readable rapidcheck counterexample (rapidcheck cannot show a json).
struct random_stack {
    json doc;
};
inline void showValue(const random_stack& s, std::ostream& os) { os << s.doc.dump(1); }

/// gen_stack() wrapped in random_stack.
inline rc::Gen<random_stack> gen_random_stack(stack_gen_options opt = {}) {
    return rc::gen::map(gen_stack(opt), [](json doc) { return random_stack{std::move(doc)}; });
}

} // namespace ovlcore::testing
