// SPDX-License-Identifier: MIT
// tests/support/scenario.hpp: the scenario loader and builders of the tests, now the public
// ovlcore/testing/scenario.hpp (docs/testing.md), under the names the tests use (ovlcore::test).
// The format of tests/data/kernel/scenarios is described in docs/testing.md §1.
#pragma once

#include <ovlcore/testing/scenario.hpp>

namespace ovlcore::test {

using ovlcore::testing::add_entry_in_memory;
using ovlcore::testing::add_entry_on_disk;
using ovlcore::testing::build_in_memory;
using ovlcore::testing::build_on_disk;
using ovlcore::testing::list_scenarios;
using ovlcore::testing::load_dump;
using ovlcore::testing::load_scenario;
using ovlcore::testing::parse_scenario;
using ovlcore::testing::scenario;
using ovlcore::testing::scenario_entry;
using ovlcore::testing::scenario_layer;
using ovlcore::testing::substitute_options;

} // namespace ovlcore::test
