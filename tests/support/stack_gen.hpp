// SPDX-License-Identifier: MIT
// tests/support/stack_gen.hpp: the random-stack generators, shrinker and dump comparison of the
// tests, now the public ovlcore::testing headers (include/ovlcore/testing/, docs/testing.md),
// under the names tests that have not moved to ovlcore::testing still use (ovlcore::test).
#pragma once

#include <ovlcore/testing/all.hpp>

#include "support/scenario.hpp"

namespace ovlcore::test {

using ovlcore::testing::json;

using ovlcore::testing::avoid_q2_aliases;
using ovlcore::testing::gen_layer_entries;
using ovlcore::testing::gen_random_stack;
using ovlcore::testing::gen_stack;
using ovlcore::testing::layer_gen_options;
using ovlcore::testing::probe_paths;
using ovlcore::testing::random_stack;
using ovlcore::testing::stack_gen_alphabet;
using ovlcore::testing::stack_gen_options;

using ovlcore::testing::shrink_scenario;

using ovlcore::testing::compare_dumps;
using ovlcore::testing::describe_differences;
using ovlcore::testing::drop_below_symlinks;
using ovlcore::testing::dump_difference;
using ovlcore::testing::dump_lines_text;
using ovlcore::testing::ovlcore_dump_jsonl;
using ovlcore::testing::parse_dump_lines;
using ovlcore::testing::to_scenario;

} // namespace ovlcore::test
