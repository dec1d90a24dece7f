// SPDX-License-Identifier: MIT
// ovlcore/config.hpp: assertion and attribute macros shared by every header. Users need not include it.
#pragma once

#include <cstdio>
#include <cstdlib>

/// OVLCORE_ASSERT(cond): checks a programmer error (never a lookup answer). On unless NDEBUG;
/// define OVLCORE_ASSERT before including ovlcore to replace it.
#ifndef OVLCORE_ASSERT
#  ifdef NDEBUG
#    define OVLCORE_ASSERT(cond) static_cast<void>(0)
#  else
#    define OVLCORE_ASSERT(cond)                                                                   \
      ((cond) ? static_cast<void>(0)                                                               \
              : ::ovlcore::detail::assertion_failed(#cond, __FILE__, __LINE__))
#  endif
#endif

#define OVLCORE_PRECONDITION(cond) OVLCORE_ASSERT(cond)

/// Marks a parameter whose lifetime bounds the returned view (clang checks it).
#if defined(__clang__)
#  define OVLCORE_LIFETIME_BOUND [[clang::lifetimebound]]
#else
#  define OVLCORE_LIFETIME_BOUND
#endif

namespace ovlcore::detail {

[[noreturn]] inline void assertion_failed(const char* what, const char* file, int line) noexcept {
    std::fprintf(stderr, "ovlcore: assertion failed: %s (%s:%d)\n", what, file, line);
    std::abort();
}

} // namespace ovlcore::detail
