// SPDX-License-Identifier: MIT
// Consumer test: a program using an installed ovlcore (find_package, or pkg-config --cflags).
#include <ovlcore/ovlcore.hpp>

#include <cerrno>
#include <cstdio>
#include <system_error>

int main() {
    const ovlcore::result<int> missing = ovlcore::fail_errno(ENOENT);
    if (missing || ovlcore::errno_name(missing.error()) != "ENOENT" ||
        ovlcore::errno_from_name("ESTALE") != static_cast<std::errc>(ESTALE)) {
        std::fputs("ovlcore consumer (installed): unexpected result\n", stderr);
        return 1;
    }
    std::printf("installed ovlcore %d.%d.%d (kernel baseline %d.%d): ok\n", OVLCORE_VERSION_MAJOR,
                OVLCORE_VERSION_MINOR, OVLCORE_VERSION_PATCH, ovlcore::kernel_baseline_major,
                ovlcore::kernel_baseline_minor);
    return 0;
}
