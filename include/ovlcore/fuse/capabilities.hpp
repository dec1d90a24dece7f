// SPDX-License-Identifier: MIT
// ovlcore/fuse/capabilities.hpp: what the adapter asks of a backend beyond backing_filesystem,
// each optional and detected at compile time (statfs of a layer, the size of an open data file),
// with the defaults used when a backend cannot tell. Implements docs/fuse.md §5; spec §1.5, §6.
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <array>
#include <cerrno>
#include <concepts>
#include <cstdint>
#include <span>
#include <system_error>

#include "../backend.hpp"
#include "../layer_stack.hpp"
#include "../overlay.hpp"
#include "../result.hpp"

namespace ovlcore::fuse {

/// A backend that reports statfs(2) of a layer itself: `fs.statfs(layer)`.
template <class B>
concept backend_with_statfs = requires(const B& fs, const typename B::layer_ref& layer) {
    { fs.statfs(layer) } -> std::same_as<result<struct statvfs>>;
};

/// A backend whose layers are file descriptors (posix_fs): fstatvfs(2) of `layer.fd()`.
template <class B>
concept layer_with_fd = requires(const typename B::layer_ref& layer) {
    { layer.fd() } -> std::convertible_to<int>;
};

/// A backend that tells the size of an open file's bytes itself: `fs.file_size(file)`.
template <class B>
concept backend_with_file_size = requires(const B& fs, const typename B::file& file) {
    { fs.file_size(file) } -> std::same_as<result<std::uint64_t>>;
};

/// A backend whose open files are file descriptors (posix_fs): fstat(2) of `file.fd()`.
template <class B>
concept file_with_fd = requires(const typename B::file& file) {
    { file.fd() } -> std::convertible_to<int>;
};

/// statfs for a backend that cannot tell: a 4 KiB block size, no blocks, no inodes, the stack's
/// name_max, so that df and statvfs callers see an empty filesystem instead of an error.
[[nodiscard]] inline struct statvfs default_statfs() noexcept {
    struct statvfs sv {};
    sv.f_bsize = 4096;
    sv.f_frsize = 4096;
    return sv;
}

/// What the overlay mount's statfs reports: the filesystem of the upper layer, else of the top
/// lower layer, with the stack's name_max (spec §1.5). From the backend's statfs(layer) if it has
/// one, else fstatvfs(2) of the layer's descriptor, else default_statfs().
template <backing_filesystem B>
[[nodiscard]] result<struct statvfs> overlay_statfs(const B& fs, const layer_stack<B>& stack) {
    const auto* real_root =
        stack.upper() ? stack.upper() : (stack.lowers().empty() ? nullptr : &stack.lowers()[0]);
    struct statvfs sv = default_statfs();
    if constexpr (backend_with_statfs<B>) {
        if (real_root) {
            auto got = fs.statfs(real_root->ref);
            if (!got) return fail(got.error());
            sv = *got;
        }
    } else if constexpr (layer_with_fd<B>) {
        (void)fs;
        if (!real_root || real_root->ref.fd() < 0) return fail(std::errc::function_not_supported);
        if (::fstatvfs(real_root->ref.fd(), &sv) != 0) return fail_errno(errno);
    } else {
        (void)fs;
        (void)real_root;
    }
    sv.f_namemax = stack.name_max();
    return sv;
}

/// Whether an open file's bytes are exactly its overlay st_size long. Then the kernel's page
/// cache may serve it (keep_cache); else (a metacopy whose data file has another size, spec §6)
/// reads must bypass the page cache, which would stop at st_size while the overlay reads the data
/// file to its end. Decided from the backend's file_size(file) if it has one, else fstat(2) of the
/// file's descriptor, else by reading the byte before and the byte at st_size.
template <backing_filesystem B, class Trace>
[[nodiscard]] bool data_matches_size(const overlay<B, Trace>& ov,
                                     const typename overlay<B, Trace>::overlay_file& file) {
    const std::uint64_t size = file.size();
    if constexpr (backend_with_file_size<B>) {
        const auto got = ov.engine().fs().file_size(file.backend_file());
        return got && *got == size;
    } else if constexpr (file_with_fd<B>) {
        (void)ov;
        struct stat data_st {};
        return ::fstat(file.backend_file().fd(), &data_st) == 0 &&
               static_cast<std::uint64_t>(data_st.st_size) == size;
    } else {
        std::array<char, 1> byte{};
        if (size > 0) {
            const auto last = ov.read(file, size - 1, std::span<char>(byte));
            if (!last || *last != 1) return false;
        }
        const auto past = ov.read(file, size, std::span<char>(byte));
        return past && *past == 0;
    }
}

} // namespace ovlcore::fuse
