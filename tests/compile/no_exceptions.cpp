// SPDX-License-Identifier: MIT
// The umbrella header compiled with -fno-exceptions: the library never throws
// (docs/contributing.md §13).
#include <ovlcore/ovlcore.hpp>

int main() {
    const ovlcore::result<int> ok = 42;
    const ovlcore::result<int> bad = ovlcore::fail(std::errc::no_such_file_or_directory);
    return (ok && *ok == 42 && !bad && ovlcore::errno_name(bad.error()) == "ENOENT") ? 0 : 1;
}
