// SPDX-License-Identifier: MIT
// ovlcore/backend/module_defaults_sysfs.hpp: reads the overlay module parameters that act as
// option defaults from Linux sysfs (spec §1.4). Linux only; not part of ovlcore.hpp.
#pragma once

#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "../option_parsing.hpp"
#include "../result.hpp"

namespace ovlcore {

/// Reads /sys/module/overlay/parameters (or `dir`): each of redirect_dir,
/// redirect_always_follow, index, metacopy, nfs_export and xino_auto holds "Y" or "N".
/// ENOENT when a file is missing (the overlay module is not loaded), EINVAL for another value.
[[nodiscard]] inline result<module_defaults>
read_module_defaults(std::string_view dir = "/sys/module/overlay/parameters") {
    module_defaults out;
    const std::pair<const char*, bool module_defaults::*> params[] = {
        {"redirect_dir", &module_defaults::redirect_dir},
        {"redirect_always_follow", &module_defaults::redirect_always_follow},
        {"index", &module_defaults::index},
        {"metacopy", &module_defaults::metacopy},
        {"nfs_export", &module_defaults::nfs_export},
        {"xino_auto", &module_defaults::xino_auto},
    };
    for (const auto& [name, member] : params) {
        std::ifstream in(std::string(dir) + "/" + name);
        if (!in) return fail(std::errc::no_such_file_or_directory);
        std::string value;
        in >> value;
        if (value != "Y" && value != "N") return fail(std::errc::invalid_argument);
        out.*member = value == "Y";
    }
    return out;
}

} // namespace ovlcore
