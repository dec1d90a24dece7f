// SPDX-License-Identifier: MIT
// ovlcore/fuse/libfuse.hpp: the one place the adapter includes libfuse3's low-level API, at the
// API level it is written against (FUSE_USE_VERSION 35 unless the includer chose one). Implements
// docs/fuse.md §7 (building against libfuse3).
//
// The CMake target ovlcore::fuse defines FUSE_USE_VERSION=35 for its users; a build without it
// (pkg-config, a hand-written command line) gets the same level from here. Levels from 3.5 up are
// supported; session.hpp picks the event-loop configuration API the level provides.
#pragma once

#ifndef FUSE_USE_VERSION
#  define FUSE_USE_VERSION 35
#endif

#include <fuse_lowlevel.h>

static_assert(FUSE_USE_VERSION >= 35, "ovlcore::fuse needs FUSE_USE_VERSION 35 or later");
