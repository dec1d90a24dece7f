// SPDX-License-Identifier: MIT
// tools/common/exit_codes.hpp: the one exit-code table of every ovlcore tool (docs/cli.md "Exit
// status"). kernel_oracle.py and update-kernel-scenarios.sh use the same numbers; keep them and
// docs/cli.md in step with this file.
#pragma once

#include <string_view>

namespace ovlcore::cli {

/// The exit statuses, as plain ints so that `return exit_code::usage;` works from main().
namespace exit_code {
inline constexpr int success = 0;       ///< done (ovl-lint: no findings above info)
inline constexpr int failure = 1;       ///< a layer or file cannot be read, I/O error, FUSE failed
inline constexpr int refused = 2;       ///< the kernel would refuse this mount (spec §1)
inline constexpr int lint_warnings = 3; ///< ovl-lint: warnings found, no errors
inline constexpr int lint_errors = 4;   ///< ovl-lint: errors found
inline constexpr int usage = 64;        ///< unknown option, bad value, missing argument (EX_USAGE)
} // namespace exit_code

/// One row of the table: the code and what it means for any tool.
struct exit_code_row {
    int code;
    std::string_view meaning;
};

inline constexpr exit_code_row exit_code_table[] = {
    {.code = exit_code::success, .meaning = "success"},
    {.code = exit_code::failure,
     .meaning = "operational failure: a layer cannot be read, an I/O error, the FUSE mount failed, "
                "the output cannot be written"},
    {.code = exit_code::refused,
     .meaning = "the kernel would refuse this mount (the stack is rejected as mount(2) rejects "
                "it); stderr names the errno and the kernel's message"},
    {.code = exit_code::lint_warnings, .meaning = "ovl-lint: warnings found, no errors"},
    {.code = exit_code::lint_errors, .meaning = "ovl-lint: errors found"},
    {.code = exit_code::usage,
     .meaning = "usage error: unknown option, bad value, missing or extra argument"},
};

/// The generic meaning of `code` ("" for a code outside the table).
[[nodiscard]] constexpr std::string_view exit_code_meaning(int code) noexcept {
    for (const auto& row : exit_code_table)
        if (row.code == code) return row.meaning;
    return {};
}

} // namespace ovlcore::cli
