// SPDX-License-Identifier: MIT
// tests/support/stack_gen.hpp: rapidcheck generators of random overlay layer stacks, produced as
// scenario JSON (format: tests/data/kernel/README.md, shared scenarios/README.md) so that the
// shared loader (support/scenario.hpp) builds them in memory or on disk and a failing case can be
// saved verbatim as a regression scenario; plus a greedy scenario shrinker and dump comparison
// helpers. Spec: §0 (layers), §1.4 (options), §2 (xattrs), §3 (whiteouts), §5 (lookup),
// §6 (data-only layers), §10 Q2 (order-dependent results, avoided here).
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
#include <cstdint>
#include <functional>
#include <map>
#include <ostream>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <rapidcheck.h>

#include <ovlcore/dump.hpp>
#include <ovlcore/layer_stack.hpp>
#include <ovlcore/overlay.hpp>

#include "support/scenario.hpp"

namespace ovlcore::test {

using json = nlohmann::json;

/// Knobs of the stack generator.
struct stack_gen_options {
    int min_layers = 2;            ///< layer directories, upper and data-only ones included
    int max_layers = 6;
    bool allow_upper = true;       ///< generate upperdir+workdir mounts
    bool allow_data_only = true;   ///< generate data-only lowers (::X, datadir+)
    bool force_data_only = false;  ///< always at least one data-only lower
    bool allow_devices = true;     ///< char 0:0 whiteouts, chr 1:3, blk 0:0, fifos (mknod on disk)
    bool allow_trusted = true;     ///< trusted.overlay.* (on disk: root); false forces userxattr
    bool allow_bad_options = true; ///< keep some option combinations the kernel refuses (§1.4)
    int max_depth = 3;             ///< directory depth of the random trees
};

/// Knobs of one random layer tree (gen_layer_entries).
struct layer_gen_options {
    std::string layer;             ///< layer name, used in file contents ("A:d/f\n")
    std::string prefix = "trusted.overlay."; ///< overlay xattr prefix in force (§2.1)
    std::string other_prefix = "user.overlay."; ///< the ignored namespace, used now and then
    bool data_only = false;        ///< data-only layer: mostly files, few overlay xattrs
    bool overlay_xattrs = true;    ///< false: no overlay.* xattrs at all (plain layer)
    bool whiteouts = true;         ///< chr 0:0 and xattr whiteouts
    bool devices = true;           ///< mknod-made objects (chr, blk, fifo)
    bool user_xattrs_only = false; ///< no trusted.* at all (userxattr: only reg/dir carry xattrs)
    int max_depth = 3;
    /// Absolute redirect targets that data-only layers hold ("/objects/o1"): metacopy files
    /// point there often, composefs style (spec §6).
    std::vector<std::string> data_targets{};
};

/// The name alphabet: small on purpose so that names collide across layers.
inline const std::vector<std::string>& stack_gen_alphabet() {
    static const std::vector<std::string> names{"a", "b", "c"};
    return names;
}

namespace detail {

/// true with probability permille/1000. Shrinks towards false.
inline bool chance(int permille) {
    const int roll = *rc::gen::resize(100, rc::gen::inRange(0, 1000));
    return roll >= 1000 - permille;
}

/// A uniform integer in [lo, hi). Shrinks towards lo.
inline int uniform(int lo, int hi) { return *rc::gen::resize(100, rc::gen::inRange(lo, hi)); }

template <class T>
T pick(std::initializer_list<std::pair<std::size_t, T>> choices) {
    return *rc::gen::weightedElement(choices);
}

inline std::string random_name() {
    return pick<std::string>({{10, "a"}, {8, "b"}, {6, "c"}, {1, "zz"}});
}

/// An absolute path of 1-3 components over the alphabet: "/a", "/b/c", ...
inline std::string random_abs_path() {
    const int n = pick<int>({{5, 1}, {4, 2}, {1, 3}});
    std::string out;
    for (int i = 0; i < n; ++i) out += "/" + random_name();
    return out;
}

/// A redirect value (§2.3): relative or absolute, valid or not, existing target or not.
inline std::string random_redirect(bool metacopy_file) {
    const int kind = metacopy_file ? pick<int>({{45, 1}, {10, 0}, {5, 2}, {3, 3}, {2, 4}})
                                   : pick<int>({{30, 0}, {45, 1}, {8, 2}, {5, 3}, {3, 4}});
    switch (kind) {
    case 0: return random_name();    // relative: same parent, new name
    case 1: return random_abs_path(); // absolute: from the lower roots
    case 2: // invalid: EINVAL when read
        return pick<std::string>({{2, ""}, {2, "/"}, {2, "//a"}, {2, "/a/"}, {2, "a/b"},
                                  {1, "/a//b"}});
    case 3: // "." and ".." components: EACCES through normal layers (§2.3)
        return pick<std::string>({{2, "/./a"}, {2, "/../a"}, {1, "."}, {1, ".."},
                                  {1, "/a/../b"}});
    default: // a NUL byte: the value is used up to it (§2.3)
        return pick<std::string>({{2, "hex:2f6100"},       // "/a\0"
                                  {2, "hex:6200"},         // "b\0"
                                  {1, "hex:2f61002f2f"},   // "/a\0//"
                                  {1, "hex:00"}});         // "\0"
    }
}

inline std::string random_mode(bool dir) {
    if (dir) return pick<std::string>({{12, "0755"}, {2, "0700"}, {1, "0555"}, {1, "1777"}});
    return pick<std::string>({{12, "0644"}, {3, "0755"}, {2, "0600"}, {1, "0444"}, {1, "4755"}});
}

inline void maybe_owner(json& e) {
    if (chance(80)) e["uid"] = pick<int>({{3, 1000}, {1, 65534}});
    if (chance(60)) e["gid"] = pick<int>({{3, 1000}, {1, 100}});
}

/// The overlay xattr prefix for one attribute: mostly the one in force, sometimes the ignored
/// namespace or the escaped ("overlay.overlay.") form, which lookups must not honour (§2.1).
inline std::string xattr_name(const layer_gen_options& o, std::string_view suffix) {
    const int which = o.user_xattrs_only ? pick<int>({{20, 0}, {1, 2}})
                                         : pick<int>({{20, 0}, {2, 1}, {1, 2}});
    if (which == 1) return o.other_prefix + std::string(suffix);
    if (which == 2) return o.prefix + "overlay." + std::string(suffix);
    return o.prefix + std::string(suffix);
}

/// A metacopy xattr value (§2.2): empty (the common case), 1-3 bytes (EIO at lookup), the bare
/// 4-byte header, a SHA-256 digest struct, or junk (never parsed with verity=off).
inline std::string random_metacopy_value() {
    return pick<std::string>({{40, ""},
                              {2, "hex:00"},
                              {2, "hex:0003"},
                              {2, "hex:00040000"},
                              {2, "hex:0024000111111111111111111111111111111111111111111111111111111111"
                                  "11111111"},
                              {1, "junk-metacopy-value"},
                              {1, std::string(80, 'j')}}); // > 68 bytes: ERANGE with verity (§2.2)
}

inline void gen_tree(const layer_gen_options& o, json& entries, const std::string& dir, int depth);

/// One random entry at `path` (depth = its depth, 1 for a child of the layer root).
inline void gen_entry(const layer_gen_options& o, json& entries, const std::string& path,
                      int depth) {
    const bool can_dir = depth < o.max_depth;
    const bool ovl = o.overlay_xattrs;
    const std::size_t w_dir = can_dir ? (o.data_only ? 20u : 30u) : 0u;
    const std::size_t w_reg = o.data_only ? 45u : 30u;
    const std::size_t w_lnk = 5u;
    const std::size_t w_wh = o.whiteouts && o.devices ? (o.data_only ? 3u : 10u) : 0u;
    const std::size_t w_xwh = o.whiteouts && ovl ? (o.data_only ? 1u : 6u) : 0u;
    const std::size_t w_meta =
        ovl ? (o.data_only ? 3u : (o.data_targets.empty() ? 12u : 24u)) : 0u;
    const std::size_t w_dev = o.devices ? 1u : 0u;
    enum kind_t { k_dir, k_reg, k_lnk, k_wh, k_xwh, k_meta, k_chr, k_blk, k_fifo };
    const kind_t kind = pick<kind_t>({{w_dir, k_dir}, {w_reg, k_reg}, {w_lnk, k_lnk},
                                      {w_wh, k_wh}, {w_xwh, k_xwh}, {w_meta, k_meta},
                                      {w_dev, k_chr}, {w_dev, k_blk}, {w_dev, k_fifo}});
    json e = {{"path", path}};
    json xattrs = json::object();
    switch (kind) {
    case k_dir: {
        e["type"] = "dir";
        if (chance(120)) e["mode"] = random_mode(true);
        maybe_owner(e);
        const std::size_t self = entries.size();
        entries.push_back(e);
        const std::size_t first_child = entries.size();
        gen_tree(o, entries, path, depth);
        json& me = entries[self];
        bool has_xwhiteout_child = false;
        for (std::size_t i = first_child; i < entries.size(); ++i)
            if (entries[i].contains("xattrs"))
                for (auto& [name, value] : entries[i]["xattrs"].items())
                    if (name == o.prefix + "whiteout") has_xwhiteout_child = true;
        if (ovl) {
            // opaque: y stops the lower lookup, x marks xwhiteouts, anything else is no-op (§2.1)
            const int opaque_permille = o.data_only ? 60 : (has_xwhiteout_child ? 550 : 200);
            if (chance(opaque_permille)) {
                const std::string value =
                    has_xwhiteout_child && chance(600)
                        ? std::string("x")
                        : pick<std::string>({{10, "y"}, {6, "x"}, {1, "yes"}, {1, "Y"},
                                             {1, "n"}, {1, ""}, {1, "hex:7900"}});
                xattrs[xattr_name(o, "opaque")] = value;
            }
            if (chance(o.data_only ? 40 : 160))
                xattrs[xattr_name(o, "redirect")] = random_redirect(false);
        }
        if (ovl && chance(40)) // origin turns on merged readdir for a pure dir (§8.1)
            xattrs[xattr_name(o, "origin")] = chance(500) ? std::string() : std::string("junk");
        if (ovl && chance(40)) // impure: readdir recomputes d_ino by lookups (§8.2 step 6)
            xattrs[xattr_name(o, "impure")] = "y";
        if (ovl && chance(15)) xattrs[xattr_name(o, "metacopy")] = ""; // ignored on dirs (§2.1)
        if (ovl && chance(15)) xattrs[xattr_name(o, "whiteout")] = ""; // ignored on dirs (§3)
        if (!o.user_xattrs_only && chance(20)) xattrs["trusted.other"] = "v";
        if (chance(20)) xattrs["user.note"] = "n";
        if (!xattrs.empty()) me["xattrs"] = xattrs;
        return;
    }
    case k_reg: {
        e["type"] = "reg";
        e["content"] = o.layer + ":" + path + "\n";
        if (chance(80)) e["size"] = uniform(0, 64);
        if (chance(150)) e["mode"] = random_mode(false);
        maybe_owner(e);
        if (ovl && chance(40)) xattrs[xattr_name(o, "redirect")] = random_redirect(true);
        if (chance(30)) xattrs["user.note"] = "n";
        break;
    }
    case k_lnk:
        e["type"] = "lnk";
        e["target"] = pick<std::string>({{3, "a"}, {2, "../b"}, {2, "/a"}, {1, "c/a"},
                                         {1, "dangling"}});
        // overlay xattrs on a symlink are ignored (§2.1); user.* cannot be set on symlinks
        if (ovl && !o.user_xattrs_only && o.prefix == "trusted.overlay." && chance(60)) {
            if (chance(500)) xattrs["trusted.overlay.metacopy"] = "";
            else xattrs["trusted.overlay.redirect"] = random_abs_path();
        }
        break;
    case k_wh:
        e["type"] = "whiteout";
        if (chance(80)) e["mode"] = pick<std::string>({{1, "0644"}, {1, "0600"}});
        break;
    case k_xwh:
        // xattr whiteout: zero-size regular file with overlay.whiteout (any value) (§3); a non-zero
        // size makes it an ordinary file.
        e["type"] = "reg";
        e["content"] = chance(100) ? std::string("x") : std::string();
        xattrs[xattr_name(o, "whiteout")] = chance(300) ? std::string("y") : std::string();
        break;
    case k_meta: {
        // metacopy file: data below, st_size of its own (§2.2, §5.3, §6)
        e["type"] = "reg";
        e["content"] = chance(120) ? o.layer + ":meta:" + path + "\n" : std::string();
        e["size"] = pick<int>({{3, 0}, {5, 5}, {5, 100}, {3, 4096}, {2, 7}});
        if (chance(200)) e["mode"] = random_mode(false);
        maybe_owner(e);
        xattrs[xattr_name(o, "metacopy")] = random_metacopy_value();
        if (!o.data_targets.empty() && chance(600))
            xattrs[xattr_name(o, "redirect")] = *rc::gen::elementOf(o.data_targets);
        else if (chance(650))
            xattrs[xattr_name(o, "redirect")] = random_redirect(true);
        break;
    }
    case k_chr:
        e["type"] = "chr";
        e["rdev"] = pick<std::string>({{3, "1:3"}, {1, "0:1"}});
        break;
    case k_blk:
        e["type"] = "blk";
        e["rdev"] = "0:0";
        break;
    case k_fifo:
        e["type"] = "fifo";
        break;
    }
    if (!xattrs.empty()) e["xattrs"] = xattrs;
    entries.push_back(e);
}

/// Children of `dir` ("" = layer root).
inline void gen_tree(const layer_gen_options& o, json& entries, const std::string& dir, int depth) {
    static const int present_permille[] = {0, 650, 450, 300, 200, 150};
    const int child_depth = depth + 1;
    const int p = present_permille[std::min(child_depth, 5)];
    for (const std::string& name : stack_gen_alphabet()) {
        if (!chance(o.data_only ? p + 100 : p)) continue;
        gen_entry(o, entries, dir.empty() ? name : dir + "/" + name, child_depth);
    }
}

} // namespace detail

/// The entries of one random layer (scenario ENTRY objects, parents before children).
inline json gen_layer_entries(const layer_gen_options& o) {
    json entries = json::array();
    if (o.overlay_xattrs && !o.data_only && detail::chance(70)) {
        // the layer root itself: opaque=y is ignored there, opaque=x marks xwhiteouts (§3)
        json root = {{"path", "/"}, {"type", "dir"}};
        root["xattrs"] = {{detail::xattr_name(o, "opaque"),
                           detail::pick<std::string>({{1, "y"}, {1, "x"}})}};
        entries.push_back(root);
    }
    detail::gen_tree(o, entries, "", 0);
    return entries;
}

namespace detail {

inline std::vector<std::string> split_path(std::string_view p) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < p.size()) {
        while (i < p.size() && p[i] == '/') ++i;
        const std::size_t j = p.find('/', i);
        const std::size_t end = j == std::string_view::npos ? p.size() : j;
        if (end > i) out.emplace_back(p.substr(i, end - i));
        i = end;
    }
    return out;
}

inline std::string join_path(const std::vector<std::string>& parts, std::size_t n) {
    std::string out;
    for (std::size_t i = 0; i < n && i < parts.size(); ++i) out += "/" + parts[i];
    return out.empty() ? "/" : out;
}

/// Is `a` equal to `b` or one of its ancestors? (absolute, normalised paths)
inline bool is_prefix_path(const std::string& a, const std::string& b) {
    if (a == "/") return true;
    return b == a || (b.size() > a.size() && b.compare(0, a.size(), a) == 0 && b[a.size()] == '/');
}

/// The redirect value as the kernel uses it: "hex:" decoded, cut at the first NUL (§2.3).
inline std::string effective_value(const std::string& raw) {
    std::string v = raw;
    if (v.rfind("hex:", 0) == 0) {
        std::string out;
        for (std::size_t i = 4; i + 1 < v.size(); i += 2)
            out.push_back(static_cast<char>(std::stoi(v.substr(i, 2), nullptr, 16)));
        v = out;
    }
    const auto nul = v.find('\0');
    if (nul != std::string::npos) v.resize(nul);
    return v;
}

/// Is the redirect value valid and free of "." / ".." (§2.3)? Only those can alias.
inline bool plain_redirect(const std::string& v) {
    if (v.empty()) return false;
    if (v[0] != '/') return v.find('/') == std::string::npos && v != "." && v != "..";
    if (v.size() < 2 || v.back() == '/' || v.find("//") != std::string::npos) return false;
    for (const auto& c : split_path(v))
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
                const auto parts = detail::split_path(entries[i]["path"].get<std::string>());
                for (std::size_t k = 1; k < parts.size(); ++k)
                    m.emplace(detail::join_path(parts, k), std::nullopt);
                m[detail::join_path(parts, parts.size())] = i;
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
            const auto parts = detail::split_path(p);
            for (std::size_t k = 0; k < parts.size(); ++k) {
                std::string next = cur == "/" ? "/" + parts[k] : cur + "/" + parts[k];
                auto it = m.find(detail::join_path(parts, k + 1));
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
            const auto parts = detail::split_path(raw);
            const std::string path = detail::join_path(parts, parts.size());
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
                    if (detail::is_prefix_path(c, *target) || detail::is_prefix_path(*target, c))
                        drop = true;
            if (!drop) {
                for (const auto& [p, idx] : m) {
                    if (p == path || p == "/") continue;
                    const bool dirlike = !idx || entries[*idx].value("type", "") == "dir" ||
                                         is_metacopy(*idx);
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
            const auto tparts = detail::split_path(*target);
            bool reachable = true;
            for (std::size_t k = 1; k < tparts.size(); ++k) {
                auto a = m.find(detail::join_path(tparts, k));
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
            const auto parts = detail::split_path(e["path"].get<std::string>());
            if (parts.empty()) continue;
            out.insert(detail::join_path(parts, parts.size()));
        }
    return {out.begin(), out.end()};
}

/// A random layer stack as a scenario JSON object.
inline rc::Gen<json> gen_stack(stack_gen_options opt = {}) {
    return rc::gen::exec([opt]() -> json {
        using detail::chance;
        using detail::pick;
        const int total = detail::uniform(opt.min_layers, opt.max_layers + 1);
        const bool upper = opt.allow_upper && chance(550);
        int data = 0;
        const int room = total - (upper ? 1 : 0) - 1; // at least one normal lower
        if (opt.allow_data_only && room > 0 && (opt.force_data_only || chance(400)))
            data = detail::uniform(1, std::min(room, 2) + 1);
        const int normal = std::max(1, total - (upper ? 1 : 0) - data);

        const bool userxattr = !opt.allow_trusted || chance(150);
        const std::string prefix = userxattr ? "user.overlay." : "trusted.overlay.";
        const std::string other = userxattr ? "trusted.overlay." : "user.overlay.";

        json sc;
        sc["why"] = "random stack (tests/support/stack_gen.hpp)";
        sc["layers"] = json::array();
        std::vector<std::string> normal_names, data_names;
        static const char* const lower_names[] = {"A", "B", "C", "D", "E"};
        static const char* const data_layer_names[] = {"X", "Y"};
        // composefs-like objects in the data-only layers, under a name the normal layers rarely
        // have, so that metacopy chains often end in the lazy slot (spec §6)
        static const std::vector<std::string> objects{"/objects/o1", "/objects/o2", "/objects/o3",
                                                      "/o4", "/objects/./o1", "/objects/../o4"};
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
                        e["content"] = name + ":" + p + "\n";
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

        // options (§1.1): layer syntax, then the features
        std::vector<std::string> tokens;
        if (chance(150)) {
            for (const auto& n : normal_names) tokens.push_back("lowerdir+={" + n + "}");
            for (const auto& n : data_names) tokens.push_back("datadir+={" + n + "}");
        } else {
            std::string lower = "lowerdir=";
            for (std::size_t i = 0; i < normal_names.size(); ++i)
                lower += (i ? ":{" : "{") + normal_names[i] + "}";
            for (const auto& n : data_names) lower += "::{" + n + "}";
            tokens.push_back(lower);
        }
        if (upper) {
            tokens.emplace_back("upperdir={U}");
            tokens.emplace_back("workdir={W}");
            sc["workdirs"] = json::array({"W"});
            if (chance(300)) std::swap(tokens.front(), tokens.back());
        }
        std::optional<std::string> redirect =
            pick<std::optional<std::string>>({{50, std::nullopt},
                                              {15, std::string("on")},
                                              {12, std::string("follow")},
                                              {12, std::string("nofollow")},
                                              {11, std::string("off")}});
        // with data-only layers, lazy lowerdata mostly needs metacopy=on (spec §5.3, §6)
        std::optional<std::string> metacopy = pick<std::optional<std::string>>(
            {{data > 0 ? 25u : 45u, std::nullopt},
             {data > 0 ? 70u : 40u, std::string("on")},
             {data > 0 ? 5u : 15u, std::string("off")}});
        const bool keep_conflicts = opt.allow_bad_options && chance(200);
        if (!keep_conflicts) {
            // §1.4 steps 5 and 8: drop what would make the mount fail
            if (userxattr) {
                if (redirect && *redirect != "nofollow") redirect.reset();
                if (metacopy == std::optional<std::string>("on")) metacopy.reset();
            }
            if (metacopy == std::optional<std::string>("on") && redirect && *redirect != "on") {
                const bool lower_only_ok = !upper && (*redirect == "follow" || *redirect == "off");
                if (!lower_only_ok) redirect.reset();
            }
        }
        if (redirect) tokens.push_back("redirect_dir=" + *redirect);
        if (metacopy) tokens.push_back("metacopy=" + *metacopy);
        if (userxattr) tokens.emplace_back("userxattr");
        // fs-verity: this kernel has none, so a metacopy digest makes open fail (§7)
        if (const int v = detail::uniform(0, 100); v >= 92)
            tokens.emplace_back(v >= 96 ? "verity=require" : "verity=on");
        std::string options;
        for (const auto& t : tokens) options += (options.empty() ? "" : ",") + t;
        sc["options"] = options;

        std::vector<std::string> stack_names;
        if (upper) stack_names.emplace_back("U");
        stack_names.insert(stack_names.end(), normal_names.begin(), normal_names.end());
        avoid_q2_aliases(sc, stack_names, upper, prefix, opt.allow_devices);
        if (upper && chance(40)) {
            // the upper dir inside a lower layer: not refused at mount time, but looking the
            // upper root up through that lower fails with ELOOP (§1.5 notes, §5.1 step 7)
            const std::string host = normal_names[static_cast<std::size_t>(
                detail::uniform(0, static_cast<int>(normal_names.size())))];
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

// ---- dump comparison --------------------------------------------------------------------------

/// Parses JSON Lines into objects; a mount_error line keeps only its errno (dump-format.md:
/// "Only mount_error is compared").
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

/// Drops the records of paths that lie below a path either dump shows as a symlink. Such paths
/// only come from probes; a real directory walk (mounted_tree, like the kernel oracle's
/// os.lstat(mountpoint + path)) follows a symlink in a middle component, possibly out of the
/// mount, so the answer depends on the host, not on the overlay. Returns how many were dropped.
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
        dump_difference d{path, std::nullopt, std::nullopt};
        if (!sides.first.empty()) d.left = *sides.first.begin();
        if (!sides.second.empty()) d.right = *sides.second.begin();
        out.push_back(std::move(d));
    }
    return out;
}

inline std::string describe_differences(const std::vector<dump_difference>& diffs,
                                        std::string_view left_name, std::string_view right_name) {
    std::string out;
    for (const auto& d : diffs) {
        out += "  " + d.path + "\n";
        out += "    " + std::string(left_name) + ": " + (d.left ? d.left->dump() : "(absent)") + "\n";
        out += "    " + std::string(right_name) + ": " + (d.right ? d.right->dump() : "(absent)") +
               "\n";
    }
    return out;
}

inline std::string dump_lines_text(const std::vector<json>& records) {
    std::string out;
    for (const auto& r : records) out += r.dump() + "\n";
    return out;
}

// ---- scenario shrinking -----------------------------------------------------------------------

namespace detail {

/// Removes layer `name` from the options string; nullopt when it cannot (e.g. the upper).
inline std::optional<std::string> options_without_layer(const std::string& options,
                                                        const std::string& name) {
    const std::string ref = "{" + name + "}";
    std::vector<std::string> tokens;
    std::size_t i = 0;
    while (i <= options.size()) {
        const std::size_t j = options.find(',', i);
        const std::size_t end = j == std::string::npos ? options.size() : j;
        tokens.push_back(options.substr(i, end - i));
        i = end + 1;
        if (j == std::string::npos) break;
    }
    bool changed = false;
    std::vector<std::string> kept;
    for (auto& t : tokens) {
        if (t.find(ref) == std::string::npos) {
            kept.push_back(t);
            continue;
        }
        if (t.rfind("lowerdir+=", 0) == 0 || t.rfind("datadir+=", 0) == 0) {
            changed = true;
            continue;
        }
        if (t.rfind("lowerdir=", 0) == 0) {
            std::string v = t.substr(9);
            // [sep]{NAME} with sep in "", ":", "::"
            const std::size_t p = v.find(ref);
            std::size_t from = p, to = p + ref.size();
            if (p >= 2 && v.compare(p - 2, 2, "::") == 0) from = p - 2;
            else if (p >= 1 && v[p - 1] == ':') from = p - 1;
            else if (to < v.size() && v[to] == ':') {
                // first layer: drop the following single ':' (never '::' which would then lead)
                if (v.compare(to, 2, "::") == 0) return std::nullopt;
                to += 1;
            }
            v.erase(from, to - from);
            if (v.empty()) return std::nullopt;
            kept.push_back("lowerdir=" + v);
            changed = true;
            continue;
        }
        return std::nullopt; // upperdir / workdir
    }
    if (!changed) return std::nullopt;
    std::string out;
    for (const auto& t : kept) out += (out.empty() ? "" : ",") + t;
    return out;
}

} // namespace detail

/// Greedy shrinking of a scenario: drops probes, layers, entries, xattrs, attributes and option
/// tokens while `still_fails` keeps returning true. At most `budget` calls of `still_fails`.
inline json shrink_scenario(json sc, const std::function<bool(const json&)>& still_fails,
                            int budget = 400) {
    int calls = 0;
    const auto attempt = [&](const json& candidate) {
        if (calls >= budget) return false;
        ++calls;
        if (!still_fails(candidate)) return false;
        sc = candidate;
        return true;
    };
    bool progress = true;
    while (progress && calls < budget) {
        progress = false;
        // probes: all, then one by one
        if (sc.contains("paths") && !sc["paths"].empty()) {
            json c = sc;
            c["paths"] = json::array();
            if (attempt(c)) progress = true;
            for (std::size_t i = sc["paths"].size(); i-- > 0;) {
                if (i >= sc["paths"].size()) continue;
                c = sc;
                c["paths"].erase(i);
                if (attempt(c)) progress = true;
            }
        }
        // whole layers (not the upper)
        for (std::size_t li = sc["layers"].size(); li-- > 0;) {
            if (li >= sc["layers"].size()) continue;
            const std::string name = sc["layers"][li]["name"];
            auto opts = detail::options_without_layer(sc["options"], name);
            if (!opts) continue;
            json c = sc;
            c["options"] = *opts;
            c["layers"].erase(li);
            if (attempt(c)) progress = true;
        }
        // entries, last first (children before their parents)
        for (std::size_t li = 0; li < sc["layers"].size(); ++li) {
            for (std::size_t ei = sc["layers"][li]["entries"].size(); ei-- > 0;) {
                if (ei >= sc["layers"][li]["entries"].size()) continue;
                json c = sc;
                c["layers"][li]["entries"].erase(ei);
                if (attempt(c)) progress = true;
            }
        }
        // xattrs and attributes of each entry
        for (std::size_t li = 0; li < sc["layers"].size(); ++li) {
            auto& ents = sc["layers"][li]["entries"];
            for (std::size_t ei = 0; ei < ents.size(); ++ei) {
                if (ents[ei].contains("xattrs")) {
                    std::vector<std::string> names;
                    for (auto& [k, v] : ents[ei]["xattrs"].items()) names.push_back(k);
                    for (const auto& k : names) {
                        json c = sc;
                        auto& x = c["layers"][li]["entries"][ei]["xattrs"];
                        x.erase(k);
                        if (x.empty()) c["layers"][li]["entries"][ei].erase("xattrs");
                        if (attempt(c)) progress = true;
                    }
                }
                for (const char* field : {"mode", "uid", "gid", "size"}) {
                    if (!sc["layers"][li]["entries"][ei].contains(field)) continue;
                    json c = sc;
                    c["layers"][li]["entries"][ei].erase(field);
                    if (attempt(c)) progress = true;
                }
            }
        }
        // option tokens other than layers
        {
            const std::string options = sc["options"];
            std::vector<std::string> tokens;
            std::size_t i = 0;
            for (;;) {
                const std::size_t j = options.find(',', i);
                tokens.push_back(options.substr(i, j == std::string::npos ? j : j - i));
                if (j == std::string::npos) break;
                i = j + 1;
            }
            for (std::size_t t = 0; t < tokens.size(); ++t) {
                if (tokens[t].find('{') != std::string::npos) continue;
                std::string out;
                for (std::size_t k = 0; k < tokens.size(); ++k)
                    if (k != t) out += (out.empty() ? "" : ",") + tokens[k];
                json c = sc;
                c["options"] = out;
                if (attempt(c)) {
                    progress = true;
                    break;
                }
            }
        }
    }
    return sc;
}

// ---- running ovlcore on a scenario ------------------------------------------------------------

/// A generated scenario as the shared loader's `scenario` (keys in the loader's expected types).
inline scenario to_scenario(const json& sc, std::string name = "random") {
    return parse_scenario(nlohmann::ordered_json::parse(sc.dump()), std::move(name));
}

/// ovlcore's canonical dump (JSON Lines) of the overlay that `options` describes over `fs`:
/// make_layer_stack + overlay + dump_records, or the single mount_error line.
/// @see dump-format.md
template <backing_filesystem B>
[[nodiscard]] std::string ovlcore_dump_jsonl(const B& fs, std::string_view options,
                                             const std::vector<std::string>& probes,
                                             const module_defaults& defaults = {}) {
    mount_error error;
    auto stack = make_layer_stack(fs, options, defaults, &error);
    if (!stack) return mount_error_json(stack.error(), error.message) + "\n";
    overlay<B> view(fs, std::move(*stack));
    const auto records = dump_records(view, std::span<const std::string>(probes));
    return to_jsonl(records);
}

} // namespace ovlcore::test
