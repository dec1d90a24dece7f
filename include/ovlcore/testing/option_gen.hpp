// SPDX-License-Identifier: MIT
// ovlcore/testing/option_gen.hpp: a generator of mount option strings over named layers (spec
// §1.1 syntax: lowerdir= with ":" and "::" or lowerdir+= / datadir+=; §1.4 features:
// redirect_dir, metacopy, userxattr, verity), mostly combinations the kernel accepts and, when
// allowed, some it refuses (§1.4 conflicts), where an implementation must agree on the mount
// errno. Layers are written as {NAME} placeholders (ovlcore/testing/scenario.hpp). Also the
// option-string surgery the shrinker needs. Opt-in (target ovlcore::testing, needs rapidcheck).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <rapidcheck.h>

#include "random.hpp"

namespace ovlcore::testing {

/// The layers and namespace an option string is generated for.
struct option_gen_input {
    std::vector<std::string> lowers;      ///< normal lower layer names, top first (at least one)
    std::vector<std::string> data_layers; ///< data-only lower names (§6)
    std::optional<std::string> upper;     ///< upper layer name (with `workdir`)
    std::string workdir = "W";            ///< workdir name when there is an upper
    bool userxattr = false;               ///< the stack's xattrs use user.overlay.* (§2.1)
    bool allow_bad_options = true;        ///< keep some combinations the kernel refuses (§1.4)
};

/// A random option string for `in` (call it inside a generator; gen_options() wraps it).
inline std::string random_options(const option_gen_input& in) {
    const bool upper = in.upper.has_value();
    const bool data = !in.data_layers.empty();
    // layer syntax (§1.1)
    std::vector<std::string> tokens;
    if (chance(150)) {
        for (const auto& n : in.lowers) tokens.push_back("lowerdir+={" + n + "}");
        for (const auto& n : in.data_layers) tokens.push_back("datadir+={" + n + "}");
    } else {
        std::string lower = "lowerdir=";
        for (std::size_t i = 0; i < in.lowers.size(); ++i)
            lower += (i ? ":{" : "{") + in.lowers[i] + "}";
        for (const auto& n : in.data_layers) lower += "::{" + n + "}";
        tokens.push_back(lower);
    }
    if (upper) {
        tokens.push_back("upperdir={" + *in.upper + "}");
        tokens.push_back("workdir={" + in.workdir + "}");
        if (chance(300)) std::swap(tokens.front(), tokens.back());
    }
    // features (§1.4)
    auto redirect = pick<std::optional<std::string>>({{50, std::nullopt},
                                                      {15, std::string("on")},
                                                      {12, std::string("follow")},
                                                      {12, std::string("nofollow")},
                                                      {11, std::string("off")}});
    // with data-only layers, lazy lowerdata mostly needs metacopy=on (spec §5.3, §6)
    auto metacopy = pick<std::optional<std::string>>({{data ? 25u : 45u, std::nullopt},
                                                      {data ? 70u : 40u, std::string("on")},
                                                      {data ? 5u : 15u, std::string("off")}});
    const bool keep_conflicts = in.allow_bad_options && chance(200);
    if (!keep_conflicts) {
        // §1.4 steps 5 and 8: drop what would make the mount fail
        if (in.userxattr) {
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
    if (in.userxattr) tokens.emplace_back("userxattr");
    // fs-verity: this kernel has none, so a metacopy digest makes open fail (§7)
    if (const int v = uniform(0, 100); v >= 92)
        tokens.emplace_back(v >= 96 ? "verity=require" : "verity=on");
    std::string options;
    for (const auto& t : tokens) options += (options.empty() ? "" : ",") + t;
    return options;
}

/// random_options as a generator.
inline rc::Gen<std::string> gen_options(const option_gen_input& in) {
    return rc::gen::exec([in]() { return random_options(in); });
}

/// The comma-separated tokens of a generated option string (no escapes in generated strings).
inline std::vector<std::string> option_tokens(const std::string& options) {
    std::vector<std::string> tokens;
    std::size_t i = 0;
    for (;;) {
        const std::size_t j = options.find(',', i);
        tokens.push_back(options.substr(i, j == std::string::npos ? j : j - i));
        if (j == std::string::npos) break;
        i = j + 1;
    }
    return tokens;
}

/// `options` without layer {name}; nullopt when it cannot be removed (the upper or workdir, the
/// only lower, a first lower followed by "::").
inline std::optional<std::string> options_without_layer(const std::string& options,
                                                        const std::string& name) {
    const std::string ref = "{" + name + "}";
    bool changed = false;
    std::vector<std::string> kept;
    for (auto& t : option_tokens(options)) {
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
            if (p >= 2 && v.compare(p - 2, 2, "::") == 0)
                from = p - 2;
            else if (p >= 1 && v[p - 1] == ':')
                from = p - 1;
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

} // namespace ovlcore::testing
