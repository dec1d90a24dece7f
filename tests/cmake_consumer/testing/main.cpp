// SPDX-License-Identifier: MIT
// Consumer test of ovlcore::testing: a generated stack compared with itself through the
// differential runner (ovlcore's answer walked as a tree_view) must agree, and a shrunk scenario
// must keep failing the predicate it was shrunk for (docs/testing.md §2-§4).
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include <ovlcore/backend/memory.hpp>
#include <ovlcore/layer_stack.hpp>
#include <ovlcore/overlay.hpp>
#include <ovlcore/testing/all.hpp>

int main() {
    namespace t = ovlcore::testing;
    int failures = 0;
    for (int i = 0; i < 20; ++i) {
        const auto doc = t::gen_stack()(rc::Random(static_cast<std::uint64_t>(i) + 1), 30).value();
        const t::scenario sc = t::to_scenario(doc);
        ovlcore::memory_fs fs;
        const std::string options = t::build_in_memory(sc, fs);
        auto stack = ovlcore::make_layer_stack(fs, options);
        if (!stack) continue; // refused mounts: nothing to walk
        ovlcore::overlay<ovlcore::memory_fs> ov(fs, std::move(*stack));
        using xattr_list = std::vector<std::pair<std::string, std::string>>;
        const auto no_xattrs = [](const std::string&) {
            return ovlcore::result<xattr_list>(xattr_list{});
        };
        const auto r = t::differential_check_tree(sc, ov, no_xattrs);
        if (!r.agree()) {
            std::printf("stack %d: %s\n", i, r.first_difference().c_str());
            ++failures;
        }
    }
    const auto big = t::gen_stack()(rc::Random(7), 50).value();
    const auto small =
        t::shrink_scenario(big, [](const t::json& c) { return c["layers"].size() >= 2; });
    if (small["layers"].size() != 2) ++failures;
    std::printf("ovlcore::testing consumer: %s\n", failures == 0 ? "ok" : "FAILED");
    return failures == 0 ? 0 : 1;
}
