// SPDX-License-Identifier: MIT
// What the option unit tests compare: parse_mount_options (§1.1-§1.3) flattened into an errno,
// a message and the parsed config, shared by tests/unit/option_{splitting,parsing,resolution}.cpp.
#pragma once

#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <catch2/catch.hpp>
#include <ovlcore/options.hpp>

#include "spec_names.hpp"

namespace ovlcore::test {

using spec_names::einval;

struct parse_outcome {
    std::errc code{};
    std::string message;
    mount_config<> cfg;
};

/// parse_mount_options(options, defaults): the error's code and message, or the config.
inline parse_outcome parse(std::string_view options, const module_defaults& defaults = {}) {
    auto r = parse_mount_options(options, defaults);
    if (!r) {
        // Parsing (§1.1-§1.3) comes before resolution: no note can go with its errors.
        CHECK(r.error().notes.empty());
        return {.code = r.error().code, .message = r.error().message, .cfg = {}};
    }
    return {.code = std::errc{}, .message = "", .cfg = *r};
}

/// The lower layers' paths in order, data-only ones as "data:PATH".
inline std::vector<std::string> names(const mount_config<>& cfg) {
    std::vector<std::string> out;
    for (const auto& l : cfg.lowers) out.push_back((l.data_only ? "data:" : "") + l.path);
    return out;
}

} // namespace ovlcore::test
