// SPDX-License-Identifier: MIT
// The umbrella header included twice in one TU: include guards / #pragma once must hold.
// clang-format off
#include <ovlcore/ovlcore.hpp>
#include <ovlcore/ovlcore.hpp>
// clang-format on

int ovlcore_compile_umbrella_twice() {
    const ovlcore::result<int> r = ovlcore::fail(std::errc::io_error);
    return r ? 1 : 0;
}
