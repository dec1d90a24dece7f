// SPDX-License-Identifier: MIT
// tests/support/spec_names.hpp: the errno values and trusted.overlay.* names the unit tests
// expect, spelled out here rather than taken from the library's own constants, so that a wrong
// name in the library fails a test instead of agreeing with itself. One definition for every test
// file, which also keeps the unity build (docs/contributing.md §18) free of duplicate names.
#pragma once

#include <system_error>

namespace ovlcore::test::spec_names {

inline constexpr auto ok = std::errc{};
inline constexpr auto enoent = std::errc::no_such_file_or_directory;
inline constexpr auto eio = std::errc::io_error;
inline constexpr auto eperm = std::errc::operation_not_permitted;
inline constexpr auto einval = std::errc::invalid_argument;
inline constexpr auto eacces = std::errc::permission_denied;
inline constexpr auto eloop = std::errc::too_many_symbolic_link_levels;

inline constexpr auto mc = "trusted.overlay.metacopy";
inline constexpr auto redirect = "trusted.overlay.redirect";
inline constexpr auto opaque = "trusted.overlay.opaque";

} // namespace ovlcore::test::spec_names
