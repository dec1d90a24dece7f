// SPDX-License-Identifier: MIT
// ovlcore/testing/random.hpp: the draws every ovlcore::testing generator is built from (a
// weighted choice, a biased coin, a uniform integer) and the small name alphabet that makes
// layers collide (spec §0, §5: names present in several layers). Opt-in (target ovlcore::testing,
// needs rapidcheck).
//
// These functions draw with rapidcheck's `*gen` and so may only be called inside a generator
// (rc::gen::exec) or a property. Each draw shrinks towards its first or smallest choice, so a
// failing case shrinks towards fewer, plainer entries. The draws of a generator depend only on
// rapidcheck's seed: a fixed RC_PARAMS seed explores the same stacks on every run.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include <rapidcheck.h>

namespace ovlcore::testing {

/// True with probability permille/1000. Shrinks towards false.
inline bool chance(int permille) {
    const int roll = *rc::gen::resize(100, rc::gen::inRange(0, 1000));
    return roll >= 1000 - permille;
}

/// A uniform integer in [lo, hi). Shrinks towards lo.
inline int uniform(int lo, int hi) { return *rc::gen::resize(100, rc::gen::inRange(lo, hi)); }

/// One of `choices`, each {weight, value} (a zero weight is never chosen).
template <class T>
T pick(std::initializer_list<std::pair<std::size_t, T>> choices) {
    return *rc::gen::weightedElement(choices);
}

/// The name alphabet: small on purpose so that names collide across layers.
inline const std::vector<std::string>& stack_gen_alphabet() {
    static const std::vector<std::string> names{"a", "b", "c"};
    return names;
}

/// A name of the alphabet, or now and then one that no generated tree holds ("zz").
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

} // namespace ovlcore::testing
