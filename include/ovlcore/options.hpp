// SPDX-License-Identifier: MIT
// ovlcore/options.hpp: overlay mount options, split, parsed and resolved exactly as Linux 6.18 does
// for a mount(2) data string (spec §1.1-§1.4). Users include it (also via layer_stack.hpp).
//
// The umbrella of three headers, one per spec section: option_splitting.hpp (§1.2),
// option_parsing.hpp (the option table and per-path checks, §1.1, §1.3) and option_resolution.hpp
// (§1.4); mount_error.hpp carries a refusal. The module parameters of a running Linux kernel are
// read by the Linux-only ovlcore/backend/module_defaults_sysfs.hpp.
#pragma once

#include "mount_error.hpp"
#include "option_parsing.hpp"
#include "option_resolution.hpp"
#include "option_splitting.hpp"
