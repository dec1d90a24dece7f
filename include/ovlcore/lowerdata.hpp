// SPDX-License-Identifier: MIT
// ovlcore/lowerdata.hpp: data-only layers: the lazy lowerdata lookup done at first open, its
// per-object cache, and the fs-verity check of metacopy data at open (spec §6, §7, §2.2).
// Users normally go through overlay.hpp.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "lookup.hpp"
#include "result.hpp"
#include "trace.hpp"
#include "verity.hpp"
#include "xattr.hpp"

namespace ovlcore {

/// Where the data file's fs-verity digest comes from when verity=on/require checks a metacopy
/// digest (spec §7). The kernel this library follows runs without CONFIG_FS_VERITY, so every
/// digest check fails there with EIO: `unavailable`, the default, reproduces that.
/// `assume_match` treats a well-formed SHA-256/SHA-512 digest as matching (for stacks built on a
/// verity-capable kernel whose data files are known good). `measure`: the digest the data file's
/// filesystem enforces, from the backend's optional measure_verity (verity.hpp; posix_fs:
/// FS_IOC_MEASURE_VERITY), as the kernel does; a backend without it, or a file without fs-verity,
/// has no digest (EIO). `compute` (opt-in, not kernel behaviour): every data file is taken as
/// fs-verity-enabled with SHA-256 and 4 KiB blocks, its digest computed in userspace by reading
/// it (verity.hpp), so a stack can be checked on filesystems and kernels without fs-verity.
enum class verity_support : std::uint8_t { unavailable, assume_match, measure, compute };

[[nodiscard]] constexpr std::string_view to_string(verity_support v) noexcept {
    switch (v) {
    case verity_support::unavailable: return "unavailable";
    case verity_support::assume_match: return "assume-match";
    case verity_support::measure: return "kernel";
    case verity_support::compute: return "compute";
    }
    return "?";
}

/// The errnos lookup_beneath answers with for the data walk itself (backend.hpp, spec §6); any
/// other is a failing backend (spec §5.6.1).
[[nodiscard]] constexpr bool is_data_walk_answer(std::errc e) noexcept {
    return e == std::errc::no_such_file_or_directory || e == std::errc::not_a_directory ||
           e == std::errc::too_many_symbolic_link_levels || e == std::errc::cross_device_link ||
           e == std::errc::filename_too_long;
}

/// The lazy lowerdata lookup of spec §6: the absolute `redirect` is resolved in each data-only
/// layer in mount order (no symlinks, never above the layer root, no mount crossing, final
/// component not followed). The first regular file wins; a weird object gives EREMOTE and any
/// other type ENOENT for that layer; when every layer fails, the error of the last one tried is
/// returned (ENOENT without data-only layers). `backend_failed`, if given, is set when a layer
/// failed with an errno that is not an answer of the walk itself (ENOENT, ENOTDIR, ELOOP, EXDEV,
/// ENAMETOOLONG): a success found below such a layer must not be cached (spec §5.6.1).
/// @see spec §6, §12 cases 19-20
template <backing_filesystem B, trace_sink Trace>
[[nodiscard]] result<real_entry<B>> lookup_lowerdata(const lookup_engine<B>& engine,
                                                     std::string_view redirect, Trace& trace,
                                                     bool* backend_failed = nullptr) {
    const auto layers = engine.stack().data_layers();
    std::errc error = std::errc::no_such_file_or_directory;
    for (std::size_t j = 0; j < layers.size(); ++j) {
        const std::size_t index = engine.data_index(j);
        auto hit = engine.fs().lookup_beneath(layers[j].ref, redirect);
        if (hit && hit->st.type == file_type::regular) {
            detail::emit(trace, [&] {
                return trace_event{.kind = trace_kind::lowerdata_resolved,
                                   .layer = index,
                                   .path = engine.fs().path_of(hit->handle),
                                   .detail = std::string(redirect),
                                   .type = hit->st.type};
            });
            return real_entry<B>{.where = &layers[j],
                                 .index = static_cast<std::uint32_t>(index),
                                 .handle = std::move(hit->handle),
                                 .st = hit->st};
        }
        if (!hit) {
            error = hit.error();
            if (backend_failed && !is_data_walk_answer(error)) *backend_failed = true;
        } else if (hit->st.type == file_type::unknown)
            error = errc_remote;
        else
            error = std::errc::no_such_file_or_directory;
        detail::emit(trace, [&] {
            return trace_event{trace_kind::lowerdata_failed, index, {}, std::string(redirect),
                               file_type::unknown,           error};
        });
    }
    return fail(error);
}

/// The per-object cache of the lazily resolved data entry (spec §6): success is kept for the
/// object's lifetime, failure is never kept (every open retries). Many threads opening one lazy
/// file resolve it once: the first takes the object's mutex, the others wait for its answer;
/// once resolved, readers take no lock.
template <class B>
class lowerdata_cache {
public:
    lowerdata_cache() = default;
    lowerdata_cache(const lowerdata_cache&) = delete;
    lowerdata_cache& operator=(const lowerdata_cache&) = delete;

    /// The resolved data entry, or nullptr while unresolved. Never resolves.
    [[nodiscard]] const real_entry<B>* peek() const noexcept {
        return m_ready.load(std::memory_order_acquire) ? &*m_data : nullptr;
    }

    /// The data entry; calls `resolve()` (-> result<real_entry>) if it is not known yet.
    template <class Resolve>
    [[nodiscard]] result<const real_entry<B>*> get(Resolve&& resolve) {
        if (const auto* known = peek()) return known;
        const std::lock_guard lock(m_mutex);
        if (const auto* known = peek()) return known; // resolved while we waited
        auto resolved = std::forward<Resolve>(resolve)();
        if (!resolved) return fail(resolved.error());
        m_data.emplace(std::move(*resolved));
        m_ready.store(true, std::memory_order_release);
        return &*m_data;
    }

    /// As get(), for a resolution a failing backend call may have shaped (spec §5.6.1):
    /// `resolve(bool& keep)` -> result<real_entry>; a success with `keep` cleared is returned
    /// through `scratch` and not cached (the next call resolves again).
    template <class Resolve>
    [[nodiscard]] result<const real_entry<B>*> get_or_retry(Resolve&& resolve,
                                                            std::optional<real_entry<B>>& scratch) {
        if (const auto* known = peek()) return known;
        const std::lock_guard lock(m_mutex);
        if (const auto* known = peek()) return known; // resolved while we waited
        bool keep = true;
        auto resolved = std::forward<Resolve>(resolve)(keep);
        if (!resolved) return fail(resolved.error());
        if (!keep) return &scratch.emplace(std::move(*resolved));
        m_data.emplace(std::move(*resolved));
        m_ready.store(true, std::memory_order_release);
        return &*m_data;
    }

    /// Invariant check (docs/contributing.md §17): resolved <=> holds an entry.
    [[nodiscard]] bool valid() const {
        const std::lock_guard lock(m_mutex);
        return m_ready.load(std::memory_order_acquire) == m_data.has_value();
    }

private:
    mutable std::mutex m_mutex;
    std::atomic<bool> m_ready{false};
    std::optional<real_entry<B>> m_data;
};

/// The fs-verity check at open (spec §7, after the lazy lookup), in the kernel's order: with
/// verity `on`/`require`, a metacopy object whose xattr has a digest (recorded size > 4) needs
/// the data file's digest to match. Rules (spec §7, §2.2):
///   1. verity=off, or not a metacopy object: no check;
///   2. recorded size <= 4 ("no digest"): EIO under `require`, else allowed;
///   3. the xattr is parsed: ERANGE (> 68 bytes), EIO (bad version, len != size);
///   4. an empty value or digest algorithm 0 is "no digest": EIO under `require`, else allowed;
///   5. the data file's digest (`support`): none (unavailable, a file without fs-verity, a
///      failing measurement or read) is EIO ("has no fs-verity digest");
///   6. algorithm, size (len - 4) and bytes must equal it, else EIO ("wrong fs-verity digest").
/// `data` is the data entry (resolved, spec §6). A success is remembered in `*verified` when
/// given (the kernel remembers it per inode), so later opens skip steps 3-6. `compute` hashes
/// with `sha256` (hash.hpp).
/// @see spec §7, §12 case 25
template <backing_filesystem B>
[[nodiscard]] result<void> check_verity(const lookup_engine<B>& engine,
                                        const overlay_entry<B>& entry, const real_entry<B>& data,
                                        verity_support support,
                                        std::atomic<bool>* verified = nullptr,
                                        sha256_function sha256 = &sha256_with<builtin_sha256>) {
    const verity_mode mode = engine.stack().features().verity;
    if (mode == verity_mode::off || !entry.metacopy) return {};
    const bool require = mode == verity_mode::require;
    if (!metacopy_has_digest(entry.metacopy_size)) {
        if (require) return fail(std::errc::io_error); // "has no digest specified"
        return {};
    }
    if (verified && verified->load(std::memory_order_acquire)) return {};
    const auto& meta = entry.real();
    OVLCORE_TRY_ASSIGN(raw, engine.fs().get_xattr(
                                meta.handle, xattr_name(ovl_xattr::metacopy, engine.userxattr())));
    OVLCORE_TRY_ASSIGN(value, parse_metacopy_at_open(raw.value_or(std::string())));
    if (value.digest.empty() || value.digest_algo == 0) {
        if (require) return fail(std::errc::io_error); // "has no digest specified"
        return {};
    }
    bool match = false;
    switch (support) {
    case verity_support::unavailable: return fail(std::errc::io_error); // no fs-verity
    case verity_support::assume_match: {
        const std::size_t n = value.digest.size();
        match = (value.digest_algo == static_cast<std::uint8_t>(verity_algo::sha256) && n == 32) ||
                (value.digest_algo == static_cast<std::uint8_t>(verity_algo::sha512) && n == 64);
        break;
    }
    case verity_support::measure:
    case verity_support::compute: {
        // The kernel opens the data file to load its fs-verity info: any failure is EIO.
        auto file = engine.fs().open_file(data.handle);
        if (!file) return fail(std::errc::io_error); // "failed to load fs-verity info"
        const auto actual =
            file_verity_digest(engine.fs(), *file, support == verity_support::measure,
                               support == verity_support::compute, sha256);
        if (!actual) return fail(std::errc::io_error); // "has no fs-verity digest"
        const auto expected = digest_of(value);
        match = expected && *expected == *actual;
        break;
    }
    }
    if (!match) return fail(std::errc::io_error); // "has the wrong fs-verity digest"
    if (verified) verified->store(true, std::memory_order_release);
    return {};
}

} // namespace ovlcore
