// SPDX-License-Identifier: MIT
// ovlcore/backend/images.hpp: image_stack_fs, the composite backend (composite.hpp) whose layers
// are directories (posix_fs) or whole EROFS image files (erofs_fs), chosen by the image policy:
// a layer path that names a regular file is an image, anything else a directory. It reads
// composefs's stack `lowerdir=IMAGE::OBJECTS` without mounting the image. Users include it (the
// tools' --images); Linux-only (posix_fs), so it stays out of the umbrella header.
// docs/overlayfs-semantics.md §X.2 describes the extension; docs/erofs.md the image format.
//
// The image policy (image_policy::route): the path is opened with O_PATH (symlinks followed,
// relative paths against the working directory, as mount(2) resolves a layer path; no device
// driver runs, no fifo blocks) and fstat(2) of that descriptor decides, so the file examined is
// the file read (no stat-then-open race). A regular file is reopened for reading through that
// descriptor (/proc/self/fd) and read as an image (erofs_fs::adopt, never reopened by name); the
// layer is the image's root directory, as if the image were mounted read-only on its own
// (mount -t erofs -o ro IMAGE DIR; lowerdir=DIR). A regular file that is not an image it can
// read, or that cannot be opened, refuses the stack with erofs_fs's errno (EINVAL: not an EROFS
// image; EOPNOTSUPP: a feature the reader lacks, e.g. compression; EUCLEAN/EIO: corrupt;
// EACCES...: open(2)) and a message naming the file (composite_fs::route_messages). Anything else (directories, missing paths, devices...)
// goes to posix_fs unchanged, so its errors and refusals are the kernel's. An image file is
// opened once per policy (its copies share the cache): two layers naming the same file (by the
// opened descriptor's st_dev and st_ino, whatever the path) are one mount of it, so the stack is
// refused as the kernel refuses one mounted directory given twice (ELOOP, spec §1.5).
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>

#include "../detail/unique_fd.hpp"
#include "../result.hpp"
#include "composite.hpp"
#include "erofs.hpp"
#include "posix.hpp"

namespace ovlcore {

/// The EROFS images an image_policy opened, by file identity.
struct image_cache {
    std::mutex mutex;
    std::map<file_id, std::shared_ptr<const erofs_fs>> opened;
};

/// The image policy (see the top of this file).
struct image_policy {
    /// The backend of the directory layers; relative paths resolve against its working directory.
    std::shared_ptr<const posix_fs> dirs = std::make_shared<const posix_fs>();
    /// The working directory of relative image paths ("" = the process's), the same as dirs'.
    std::string working_dir;

    [[nodiscard]] result<composite_route<posix_fs, erofs_fs>, route_refusal>
    route(std::string_view path) const {
        using route_type = composite_route<posix_fs, erofs_fs>;
        std::string where(path);
        if (!working_dir.empty() && !where.empty() && where.front() != '/')
            where = working_dir + "/" + where;
        auto to_dirs = [&] { return route_type{.backend = dirs, .path = std::string(path)}; };
        if (where.empty()) return to_dirs();
        // Open first (O_PATH: no device driver runs), then fstat the descriptor; a regular file
        // is reopened for reading through that descriptor, never by name (top of this file).
        const detail::unique_fd at(::open(where.c_str(), O_PATH | O_CLOEXEC));
        if (!at.valid()) return to_dirs(); // posix_fs gives the kernel's error
        struct stat st {};
        if (::fstat(at.get(), &st) != 0 || !S_ISREG(st.st_mode)) return to_dirs();
        int fd = ::open(detail::proc_fd_path(at.get()).c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 && errno == ENOENT) { // no /proc: by name, then the same object or ESTALE
            fd = ::open(where.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
            struct stat again {};
            if (fd >= 0 && (::fstat(fd, &again) != 0 || again.st_dev != st.st_dev ||
                            again.st_ino != st.st_ino)) {
                ::close(fd);
                fd = -1;
                errno = ESTALE;
            }
        }
        const int err = errno;
        if (fd < 0)
            return fail(route_refusal{.code = static_cast<std::errc>(err),
                                      .message = where + ": cannot open: " + std::strerror(err)});
        const file_id id{.dev = static_cast<std::uint64_t>(st.st_dev),
                         .ino = static_cast<std::uint64_t>(st.st_ino)};
        const std::lock_guard lock(images->mutex);
        if (const auto it = images->opened.find(id); it != images->opened.end()) {
            ::close(fd);
            return route_type{.backend = it->second, .path = "/"};
        }
        std::string reason;
        auto image = erofs_fs::adopt(fd, where, &reason); // takes the descriptor
        if (!image)
            return fail(route_refusal{.code = image.error(),
                                      .message = reason.empty() ? where + ": cannot read the image"
                                                                : reason});
        auto shared = std::make_shared<const erofs_fs>(std::move(*image));
        images->opened.emplace(id, shared);
        return route_type{.backend = std::move(shared), .path = "/"};
    }

    /// The images opened so far, by the image file's (st_dev, st_ino); shared by copies.
    std::shared_ptr<image_cache> images = std::make_shared<image_cache>();
};

/// A backend for stacks of directories and EROFS images (see the top of this file). Beyond the
/// composite's calls it reports statfs(2) of a layer (the FUSE adapter's optional call, docs/
/// fuse.md §5): fstatvfs(2) of a directory layer; for an image layer the image's block size and
/// name length (255), no block or inode counts.
class image_stack_fs : public composite_fs<image_policy, posix_fs, erofs_fs> {
public:
    using composite_fs::composite_fs;

    [[nodiscard]] result<struct statvfs> statfs(const layer_ref& layer) const {
        struct statvfs sv {};
        if (const auto* dir = std::get_if<composite_layer<posix_fs>>(&layer)) {
            if (::fstatvfs(dir->inner.fd(), &sv) != 0) return fail_errno(errno);
            return sv;
        }
        const auto& image = std::get<composite_layer<erofs_fs>>(layer);
        sv.f_bsize = static_cast<unsigned long>(image.fs->block_size());
        sv.f_frsize = sv.f_bsize;
        sv.f_namemax = 255;
        return sv;
    }
};

static_assert(backing_filesystem<image_stack_fs>);
static_assert(knows_dot_positions<image_stack_fs>);
static_assert(detail::has_next_data<image_stack_fs>);
static_assert(can_measure_verity<image_stack_fs>); // the object directories' files (posix_fs)

} // namespace ovlcore
