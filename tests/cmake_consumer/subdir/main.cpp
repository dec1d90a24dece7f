// SPDX-License-Identifier: MIT
// Consumer test: a program using ovlcore through add_subdirectory().
#include <ovlcore/ovlcore.hpp>

#include <cstdio>
#include <system_error>

namespace {
ovlcore::result<int> parse_digit(char c) {
    if (c < '0' || c > '9') return ovlcore::fail(std::errc::invalid_argument);
    return c - '0';
}
} // namespace

int main() {
    const auto ok = parse_digit('7');
    const auto bad = parse_digit('x');
    if (!ok || *ok != 7 || bad || ovlcore::errno_name(bad.error()) != "EINVAL") {
        std::fputs("ovlcore consumer (add_subdirectory): unexpected result\n", stderr);
        return 1;
    }
    std::printf("ovlcore %d.%d.%d via add_subdirectory: ok\n", OVLCORE_VERSION_MAJOR,
                OVLCORE_VERSION_MINOR, OVLCORE_VERSION_PATCH);
    return 0;
}
