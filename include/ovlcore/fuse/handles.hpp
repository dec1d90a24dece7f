// SPDX-License-Identifier: MIT
// ovlcore/fuse/handles.hpp: what an opendir or open gives the kernel as `fh` (a directory listing
// snapshot, an open overlay file) and the registry that owns them. Implements docs/fuse.md §2
// (opendir/readdir/releasedir, open/read/release); spec §6, §8.2.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "../types.hpp"

namespace ovlcore::fuse {

/// The snapshot of one opendir: the listing is taken at the first readdir (as the kernel's
/// overlay builds its cache at the first iterate, spec §8.2) and served from it by index, so
/// offsets are stable.
template <class NodeHandle>
struct dir_handle {
    NodeHandle node{};
    std::mutex mutex;
    bool loaded = false;            ///< guarded by mutex
    std::vector<dir_entry> entries; ///< ".", "..", then the merged listing; guarded by mutex
};

/// One open of a regular file (spec §6: lazy lowerdata already resolved).
template <class OverlayFile>
struct file_handle {
    OverlayFile file;
};

/// Owns the handles given to the kernel, keyed by the `fh` value it sends back, so that handles the
/// kernel never released (an unmount racing a close) are freed with the server. Thread-safe.
template <class Handle>
class handle_registry {
public:
    /// Keeps `h`; returns its fh.
    [[nodiscard]] std::uint64_t adopt(std::unique_ptr<Handle> h) {
        const std::lock_guard lock(m_mutex);
        Handle* key = h.get();
        m_handles.emplace(key, std::move(h));
        return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(key));
    }

    /// The handle of an fh this registry gave out (valid until drop).
    [[nodiscard]] static Handle& get(std::uint64_t fh) noexcept {
        return *reinterpret_cast<Handle*>(static_cast<std::uintptr_t>(fh));
    }

    /// Frees the handle of `fh` (release, releasedir, or a reply that never arrived).
    void drop(std::uint64_t fh) {
        const std::lock_guard lock(m_mutex);
        m_handles.erase(reinterpret_cast<Handle*>(static_cast<std::uintptr_t>(fh)));
    }

    [[nodiscard]] std::size_t size() const {
        const std::lock_guard lock(m_mutex);
        return m_handles.size();
    }

private:
    mutable std::mutex m_mutex;
    std::unordered_map<Handle*, std::unique_ptr<Handle>> m_handles;
};

} // namespace ovlcore::fuse
