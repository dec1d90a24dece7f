// SPDX-License-Identifier: MIT
// ovlcore/version.hpp: library version and the kernel whose semantics ovlcore follows. Users may include it.
#pragma once

#define OVLCORE_VERSION_MAJOR 0
#define OVLCORE_VERSION_MINOR 1
#define OVLCORE_VERSION_PATCH 0

namespace ovlcore {

/// The Linux release whose overlayfs behaviour ovlcore reproduces (spec header: 6.18.44).
inline constexpr int kernel_baseline_major = 6;
inline constexpr int kernel_baseline_minor = 18;

} // namespace ovlcore
