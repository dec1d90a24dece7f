// SPDX-License-Identifier: MIT
// ovlcore/mount_error.hpp: mount_error, why mount(2) would refuse an overlay: the errno, the
// kernel's message and the notes printed before it (spec §1.3, §1.4, §1.5). Users include it.
#pragma once

#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "result.hpp"

namespace ovlcore {

/// Why a mount would fail: the errno mount(2) returns, the kernel's error line with its prefix
/// ("overlayfs: " for pr_err lines, "overlay: " for fs-context messages), e.g.
/// {ELOOP, "overlayfs: conflicting lowerdir path"}, and the info lines (without prefix) the
/// kernel logged before refusing: the silent adjustments of option resolution (§1.4) that ran
/// before a later conflict (§1.4) or superblock check (§1.5) failed. A failure while parsing
/// (§1.1-§1.3) comes before resolution and has no notes.
struct mount_error {
    std::errc code{};
    std::string message;
    std::vector<std::string> notes;

    /// Compares the errno only: `make_layer_stack(fs, o).error() == std::errc::invalid_argument`.
    friend bool operator==(const mount_error& e, std::errc errno_code) noexcept {
        return e.code == errno_code;
    }
    friend bool operator==(const mount_error&, const mount_error&) = default;
};

/// The errno of a mount_error (makes errno_value / errno_name / OVLCORE_TRY work on it).
[[nodiscard]] constexpr std::errc to_errc(const mount_error& e) noexcept { return e.code; }

namespace detail {

[[nodiscard]] inline mount_error mount_einval(std::string message) {
    return mount_error{
        .code = std::errc::invalid_argument, .message = std::move(message), .notes = {}};
}

} // namespace detail

} // namespace ovlcore
