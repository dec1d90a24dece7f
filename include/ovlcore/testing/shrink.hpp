// SPDX-License-Identifier: MIT
// ovlcore/testing/shrink.hpp: a greedy shrinker for scenarios (ovlcore/testing/scenario.hpp),
// run after rapidcheck's own shrinking: it drops probes, whole layers (with their place in the
// options, §1.1), entries, xattrs, attributes and option tokens for as long as the failure
// persists, so that a disagreement is saved as a small regression scenario. Works on any scenario,
// generated or hand-written. Opt-in (target ovlcore::testing, needs nlohmann_json).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "option_gen.hpp"

namespace ovlcore::testing {

using json = nlohmann::json;

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
            auto opts = options_without_layer(sc["options"], name);
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
            const std::vector<std::string> tokens = option_tokens(sc["options"]);
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

} // namespace ovlcore::testing
