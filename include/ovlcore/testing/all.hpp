// SPDX-License-Identifier: MIT
// ovlcore/testing/all.hpp: every ovlcore::testing header (docs/testing.md): scenarios, the
// generators (layer trees, xattrs, option strings, whole stacks), the shrinker, the differential
// runner and the fault-injecting backend. Opt-in: link the CMake target ovlcore::testing
// (rapidcheck, nlohmann_json).
#pragma once

#include "differential.hpp"
#include "fault_injection.hpp"
#include "layer_gen.hpp"
#include "option_gen.hpp"
#include "random.hpp"
#include "scenario.hpp"
#include "shrink.hpp"
#include "stack_gen.hpp"
#include "xattr_gen.hpp"
