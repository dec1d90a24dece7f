// SPDX-License-Identifier: MIT
// Catch2's main for ovlcore_tests, compiled once (docs/contributing.md §18). Test files only
// #include <catch2/catch.hpp>; run `ovlcore_tests "[spec.6]"` for one chapter, `--list-tests`
// for all.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
