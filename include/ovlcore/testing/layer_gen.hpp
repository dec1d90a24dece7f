// SPDX-License-Identifier: MIT
// ovlcore/testing/layer_gen.hpp: a generator of one random layer tree, as the ENTRY list of a
// scenario (ovlcore/testing/scenario.hpp): a small tree over the names {a, b, c} (so layers
// collide often) of directories, regular files, symlinks, char 0:0 whiteouts and xattr whiteouts
// (§3), opaque directories (§2.1), redirects (§2.3, §5.4), metacopy files (§2.2, §5.3, §6),
// origin / impure xattrs (§8), devices and fifos, with owners and modes. Opt-in (target
// ovlcore::testing, needs rapidcheck and nlohmann_json); call it inside a generator.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <rapidcheck.h>

#include "random.hpp"
#include "xattr_gen.hpp"

namespace ovlcore::testing {

using json = nlohmann::json;

/// Knobs of one random layer tree (gen_layer_entries).
struct layer_gen_options {
    std::string layer;                          ///< layer name, used in file contents ("A:d/f\n")
    std::string prefix = "trusted.overlay.";    ///< overlay xattr prefix in force (§2.1)
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

    /// The xattr namespaces of this layer.
    [[nodiscard]] xattr_gen_options xattrs() const {
        return xattr_gen_options{
            .prefix = prefix, .other_prefix = other_prefix, .user_xattrs_only = user_xattrs_only};
    }
};

namespace detail {

inline std::string random_mode(bool dir) {
    if (dir) return pick<std::string>({{12, "0755"}, {2, "0700"}, {1, "0555"}, {1, "1777"}});
    return pick<std::string>({{12, "0644"}, {3, "0755"}, {2, "0600"}, {1, "0444"}, {1, "4755"}});
}

inline void maybe_owner(json& e) {
    if (chance(80)) e["uid"] = pick<int>({{3, 1000}, {1, 65534}});
    if (chance(60)) e["gid"] = pick<int>({{3, 1000}, {1, 100}});
}

inline void gen_tree(const layer_gen_options& o, json& entries, const std::string& dir, int depth);

/// One random entry at `path` (depth = its depth, 1 for a child of the layer root).
inline void gen_entry(const layer_gen_options& o, json& entries, const std::string& path,
                      int depth) {
    const xattr_gen_options xo = o.xattrs();
    const bool can_dir = depth < o.max_depth;
    const bool ovl = o.overlay_xattrs;
    const std::size_t w_dir = can_dir ? (o.data_only ? 20u : 30u) : 0u;
    const std::size_t w_reg = o.data_only ? 45u : 30u;
    const std::size_t w_lnk = 5u;
    const std::size_t w_wh = o.whiteouts && o.devices ? (o.data_only ? 3u : 10u) : 0u;
    const std::size_t w_xwh = o.whiteouts && ovl ? (o.data_only ? 1u : 6u) : 0u;
    const std::size_t w_meta = ovl ? (o.data_only ? 3u : (o.data_targets.empty() ? 12u : 24u)) : 0u;
    const std::size_t w_dev = o.devices ? 1u : 0u;
    enum kind_t { k_dir, k_reg, k_lnk, k_wh, k_xwh, k_meta, k_chr, k_blk, k_fifo };
    const auto kind = pick<kind_t>({{w_dir, k_dir},
                                    {w_reg, k_reg},
                                    {w_lnk, k_lnk},
                                    {w_wh, k_wh},
                                    {w_xwh, k_xwh},
                                    {w_meta, k_meta},
                                    {w_dev, k_chr},
                                    {w_dev, k_blk},
                                    {w_dev, k_fifo}});
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
            if (chance(opaque_permille))
                xattrs[xattr_name(xo, "opaque")] = random_opaque_value(has_xwhiteout_child);
            if (chance(o.data_only ? 40 : 160))
                xattrs[xattr_name(xo, "redirect")] = random_redirect(false);
        }
        if (ovl && chance(40)) // origin turns on merged readdir for a pure dir (§8.1)
            xattrs[xattr_name(xo, "origin")] = chance(500) ? std::string() : std::string("junk");
        if (ovl && chance(40)) // impure: readdir recomputes d_ino by lookups (§8.2 step 6)
            xattrs[xattr_name(xo, "impure")] = "y";
        if (ovl && chance(15)) xattrs[xattr_name(xo, "metacopy")] = ""; // ignored on dirs (§2.1)
        if (ovl && chance(15)) xattrs[xattr_name(xo, "whiteout")] = ""; // ignored on dirs (§3)
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
        if (ovl && chance(40)) xattrs[xattr_name(xo, "redirect")] = random_redirect(true);
        if (chance(30)) xattrs["user.note"] = "n";
        break;
    }
    case k_lnk:
        e["type"] = "lnk";
        e["target"] =
            pick<std::string>({{3, "a"}, {2, "../b"}, {2, "/a"}, {1, "c/a"}, {1, "dangling"}});
        // overlay xattrs on a symlink are ignored (§2.1); user.* cannot be set on symlinks
        if (ovl && !o.user_xattrs_only && o.prefix == "trusted.overlay." && chance(60)) {
            if (chance(500))
                xattrs["trusted.overlay.metacopy"] = "";
            else
                xattrs["trusted.overlay.redirect"] = random_abs_path();
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
        xattrs[xattr_name(xo, "whiteout")] = chance(300) ? std::string("y") : std::string();
        break;
    case k_meta: {
        // metacopy file: data below, st_size of its own (§2.2, §5.3, §6)
        e["type"] = "reg";
        e["content"] = chance(120) ? o.layer + ":meta:" + path + "\n" : std::string();
        e["size"] = pick<int>({{3, 0}, {5, 5}, {5, 100}, {3, 4096}, {2, 7}});
        if (chance(200)) e["mode"] = random_mode(false);
        maybe_owner(e);
        xattrs[xattr_name(xo, "metacopy")] = random_metacopy_value();
        if (!o.data_targets.empty() && chance(600))
            xattrs[xattr_name(xo, "redirect")] = *rc::gen::elementOf(o.data_targets);
        else if (chance(650))
            xattrs[xattr_name(xo, "redirect")] = random_redirect(true);
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
    case k_fifo: e["type"] = "fifo"; break;
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
        gen_entry(o, entries, dir.empty() ? name : std::string(dir).append("/").append(name),
                  child_depth);
    }
}

} // namespace detail

/// The entries of one random layer (scenario ENTRY objects, parents before children). Call it
/// inside a generator; gen_layer() wraps it as one.
inline json gen_layer_entries(const layer_gen_options& o) {
    json entries = json::array();
    if (o.overlay_xattrs && !o.data_only && chance(70)) {
        // the layer root itself: opaque=y is ignored there, opaque=x marks xwhiteouts (§3)
        json root = {{"path", "/"}, {"type", "dir"}};
        root["xattrs"] = {
            {xattr_name(o.xattrs(), "opaque"), pick<std::string>({{1, "y"}, {1, "x"}})}};
        entries.push_back(root);
    }
    detail::gen_tree(o, entries, "", 0);
    return entries;
}

/// gen_layer_entries as a generator.
inline rc::Gen<json> gen_layer(const layer_gen_options& o) {
    return rc::gen::exec([o]() { return gen_layer_entries(o); });
}

} // namespace ovlcore::testing
