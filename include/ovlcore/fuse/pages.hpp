// SPDX-License-Identifier: MIT
// ovlcore/fuse/pages.hpp: the whole pages of a consumed request given back to the system, so that
// a mass FORGET does not leave the receive buffers libfuse keeps per worker thread resident.
// Implements docs/fuse.md §3 (memory after the kernel forgets).
#pragma once

#include <cstddef>
#include <cstdint>
#if defined(__linux__)
#  include <sys/mman.h>
#  include <unistd.h>
#endif

namespace ovlcore::fuse {

/// Gives the whole pages inside [data, data + bytes) back to the system (MADV_DONTNEED on
/// private anonymous memory: they read as zeros until written again); the partial pages at either
/// end are left alone, and so is a range of fewer than `min_pages` whole pages. The memory must
/// be the caller's to clobber (a request buffer nobody reads again). Returns the bytes released
/// (0 where madvise is unavailable or refuses).
inline std::size_t release_whole_pages(const void* data, std::size_t bytes,
                                       std::size_t min_pages = 4) noexcept {
#if defined(__linux__)
    const long page_size = ::sysconf(_SC_PAGESIZE);
    if (page_size <= 0) return 0;
    const auto page = static_cast<std::uintptr_t>(page_size);
    const auto start = reinterpret_cast<std::uintptr_t>(data);
    const std::uintptr_t first = (start + page - 1) & ~(page - 1);
    const std::uintptr_t end = (start + bytes) & ~(page - 1);
    if (end <= first || end - first < min_pages * page) return 0;
    if (::madvise(reinterpret_cast<void*>(first), end - first, MADV_DONTNEED) != 0) return 0;
    return end - first;
#else
    (void)data;
    (void)bytes;
    (void)min_pages;
    return 0;
#endif
}

} // namespace ovlcore::fuse
