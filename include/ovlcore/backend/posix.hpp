// SPDX-License-Identifier: MIT
// ovlcore/backend/posix.hpp: posix_fs, the backing filesystem over real Linux directories (spec §0,
// §1.3, §1.5, §2.1, §3, §6). Users include it; it needs Linux (openat2, statx, getdents64).
//
// Design:
// - A layer_ref holds a shared O_PATH descriptor of the layer root and its absolute path. Every
//   call is relative to that descriptor (statx/readlinkat/openat with the layer fd), so a layer
//   keeps working when its path is renamed; only the xattr fallback for kernels without
//   getxattrat(2) (before 6.13) uses the path.
// - Nothing follows a final symlink (AT_SYMLINK_NOFOLLOW, O_NOFOLLOW). Middle components are walked
//   by the kernel as for any path call; the lookup engine only passes paths whose parents it has
//   seen as directories (see backend.hpp).
// - lookup_beneath is openat2(O_PATH | O_NOFOLLOW, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//   RESOLVE_NO_XDEV), exactly the restrictions overlayfs applies to the data-only walk (§6).
// - read_dir returns getdents64 order (the filesystem's native order, e.g. ext4 hash order).
// - Every failure is an errno in the result; nothing throws (except std::bad_alloc).
// - All const members are thread-safe: they only issue system calls on shared, immutable fds.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../backend.hpp"
#include "../detail/path.hpp"
#include "../result.hpp"
#include "../types.hpp"

namespace ovlcore {

namespace detail {

// getxattrat(2)/listxattrat(2) arrived in Linux 6.13; libc headers may not know them yet. Their
// numbers are the same on every architecture that uses the common system call table.
#if !defined(__NR_getxattrat) &&                                                                   \
    (defined(__x86_64__) || defined(__i386__) || defined(__aarch64__) || defined(__arm__) ||       \
     defined(__riscv) || defined(__powerpc__) || defined(__s390__) || defined(__loongarch__))
#  define OVLCORE_NR_GETXATTRAT 464
#  define OVLCORE_NR_LISTXATTRAT 465
#elif defined(__NR_getxattrat)
#  define OVLCORE_NR_GETXATTRAT __NR_getxattrat
#  define OVLCORE_NR_LISTXATTRAT __NR_listxattrat
#endif

/// struct xattr_args of <linux/xattr.h> (6.13+), declared here for older headers.
struct xattr_args_v0 {
    std::uint64_t value;
    std::uint32_t size;
    std::uint32_t flags;
};

/// An owned file descriptor (closed on destruction). Movable, not copyable.
class unique_fd {
public:
    unique_fd() noexcept = default;
    explicit unique_fd(int fd) noexcept : m_fd(fd) {}
    unique_fd(unique_fd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
    unique_fd& operator=(unique_fd&& other) noexcept {
        if (this != &other) reset(std::exchange(other.m_fd, -1));
        return *this;
    }
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    ~unique_fd() { reset(); }

    [[nodiscard]] int get() const noexcept { return m_fd; }
    [[nodiscard]] bool valid() const noexcept { return m_fd >= 0; }
    void reset(int fd = -1) noexcept {
        if (m_fd >= 0) ::close(m_fd);
        m_fd = fd;
    }

private:
    int m_fd = -1;
};

[[nodiscard]] inline int last_errno() noexcept { return errno > 0 ? errno : EIO; }

[[nodiscard]] constexpr file_type type_from_mode(std::uint32_t mode) noexcept {
    switch (mode & S_IFMT) {
    case S_IFREG: return file_type::regular;
    case S_IFDIR: return file_type::directory;
    case S_IFLNK: return file_type::symlink;
    case S_IFCHR: return file_type::char_device;
    case S_IFBLK: return file_type::block_device;
    case S_IFIFO: return file_type::fifo;
    case S_IFSOCK: return file_type::socket;
    default: return file_type::unknown;
    }
}

[[nodiscard]] constexpr file_type type_from_dtype(unsigned char d) noexcept {
    switch (d) {
    case DT_REG: return file_type::regular;
    case DT_DIR: return file_type::directory;
    case DT_LNK: return file_type::symlink;
    case DT_CHR: return file_type::char_device;
    case DT_BLK: return file_type::block_device;
    case DT_FIFO: return file_type::fifo;
    case DT_SOCK: return file_type::socket;
    default: return file_type::unknown;
    }
}

[[nodiscard]] inline stat_info from_statx(const struct statx& sx) noexcept {
    stat_info st;
    st.type = type_from_mode(sx.stx_mode);
    st.mode = sx.stx_mode & 07777u;
    st.uid = sx.stx_uid;
    st.gid = sx.stx_gid;
    st.size = sx.stx_size;
    st.nlink = sx.stx_nlink;
    st.ino = sx.stx_ino;
    st.dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
    if (st.type == file_type::char_device || st.type == file_type::block_device) {
        st.rdev_major = sx.stx_rdev_major;
        st.rdev_minor = sx.stx_rdev_minor;
    }
    st.blocks = sx.stx_blocks;
    st.blksize = sx.stx_blksize;
    st.atime = timestamp{.sec = sx.stx_atime.tv_sec, .nsec = sx.stx_atime.tv_nsec};
    st.mtime = timestamp{.sec = sx.stx_mtime.tv_sec, .nsec = sx.stx_mtime.tv_nsec};
    st.ctime = timestamp{.sec = sx.stx_ctime.tv_sec, .nsec = sx.stx_ctime.tv_nsec};
    return st;
}

/// statx relative to `dirfd`; "" means dirfd itself. Never follows a final symlink.
[[nodiscard]] inline result<struct statx> statx_at(int dirfd, const std::string& path,
                                                   unsigned mask = STATX_BASIC_STATS) {
    struct statx sx {};
    const int flags = AT_SYMLINK_NOFOLLOW | (path.empty() ? AT_EMPTY_PATH : 0);
    if (::statx(dirfd, path.c_str(), flags, mask, &sx) != 0) return fail_errno(last_errno());
    return sx;
}

/// Retries a system call interrupted by a signal.
template <class F>
auto retry_eintr(F&& f) {
    for (;;) {
        auto r = f();
        if (!(r == -1 && errno == EINTR)) return r;
    }
}

} // namespace detail

/// Real directories through Linux system calls, satisfying backing_filesystem.
/// @see spec §0, §1.3 (resolve_dir), §6 (lookup_beneath)
class posix_fs {
public:
    /// A layer: a shared O_PATH descriptor of its root plus the absolute path it was resolved to.
    class layer_ref {
    public:
        layer_ref() = default;
        /// The O_PATH descriptor (-1 for a default-constructed ref).
        [[nodiscard]] int fd() const noexcept { return m_fd ? m_fd->get() : -1; }
        /// The absolute path of the layer root when it was resolved.
        [[nodiscard]] const std::string& path() const noexcept { return m_path; }

    private:
        friend class posix_fs;
        layer_ref(std::shared_ptr<const detail::unique_fd> fd, std::string path)
            : m_fd(std::move(fd)), m_path(std::move(path)) {}
        std::shared_ptr<const detail::unique_fd> m_fd;
        std::string m_path;
    };

    /// An open regular file (O_RDONLY). Movable, closes on destruction.
    class file {
    public:
        file() = default;
        [[nodiscard]] int fd() const noexcept { return m_fd.get(); }

    private:
        friend class posix_fs;
        explicit file(detail::unique_fd fd) noexcept : m_fd(std::move(fd)) {}
        detail::unique_fd m_fd;
    };

    /// Relative mount-option paths resolve against the process working directory.
    posix_fs() = default;

    /// Relative mount-option paths resolve against `dir` (opened now; its errno on failure).
    [[nodiscard]] static result<posix_fs> with_working_dir(std::string_view dir) {
        const std::string p(dir);
        detail::unique_fd fd(::open(p.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!fd.valid()) return fail_errno(detail::last_errno());
        posix_fs fs;
        fs.m_cwd = std::make_shared<const detail::unique_fd>(std::move(fd));
        return fs;
    }

    /// Resolves a mount-option path as mount(2) does (symlinks followed, relative to the working
    /// directory) and describes the object: stat, ancestors up to "/", mount id, read-only flag,
    /// f_namelen and f_type. The path walk's errno on failure (ENOENT for "").
    /// @see spec §1.3, §1.5
    [[nodiscard]] result<resolved_dir<layer_ref>> resolve_dir(std::string_view path) const {
        if (path.empty()) return fail(std::errc::no_such_file_or_directory);
        const std::string p(path);
        const int base = m_cwd ? m_cwd->get() : AT_FDCWD;
        detail::unique_fd owned(
            detail::retry_eintr([&] { return ::openat(base, p.c_str(), O_PATH | O_CLOEXEC); }));
        if (!owned.valid()) return fail_errno(detail::last_errno());
        const int raw = owned.get();
        auto fd = std::make_shared<const detail::unique_fd>(std::move(owned));

        OVLCORE_TRY_ASSIGN(sx, detail::statx_at(raw, "", STATX_BASIC_STATS | STATX_MNT_ID));
        resolved_dir<layer_ref> out;
        out.st = detail::from_statx(sx);
        out.mount_id = (sx.stx_mask & STATX_MNT_ID) ? sx.stx_mnt_id : fdinfo_mount_id(raw);

        struct statfs sf {};
        if (::fstatfs(raw, &sf) == 0) {
            out.name_max = static_cast<std::uint32_t>(sf.f_namelen);
            out.fs_magic = static_cast<std::uint64_t>(sf.f_type);
            out.read_only = (sf.f_flags & ST_RDONLY) != 0;
        }

        std::string abs = fd_path(raw);
        if (abs.empty()) abs = p; // no /proc: keep the caller's spelling

        // Ancestors: ".." from the directory (or from the containing directory of a non-dir),
        // until ".." stops moving (the root of the process' filesystem tree).
        detail::unique_fd dir;
        if (out.st.type == file_type::directory) {
            dir.reset(::openat(raw, "..", O_PATH | O_DIRECTORY | O_CLOEXEC));
        } else {
            const auto slash = abs.rfind('/');
            const std::string parent = slash == std::string::npos ? std::string(".")
                                       : slash == 0               ? std::string("/")
                                                                  : abs.substr(0, slash);
            dir.reset(::openat(base, parent.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        }
        file_id prev{out.st.dev, out.st.ino};
        while (dir.valid()) {
            auto dsx = detail::statx_at(dir.get(), "");
            if (!dsx) break;
            const file_id id{makedev(dsx->stx_dev_major, dsx->stx_dev_minor), dsx->stx_ino};
            if (id == prev) break;
            out.ancestors.push_back(id);
            prev = id;
            dir.reset(::openat(dir.get(), "..", O_PATH | O_DIRECTORY | O_CLOEXEC));
        }

        out.ref = layer_ref(std::move(fd), std::move(abs));
        return out;
    }

    [[nodiscard]] result<stat_info> lstat(const layer_ref& layer, std::string_view path) const {
        OVLCORE_TRY_ASSIGN(sx, detail::statx_at(layer.fd(), std::string(path)));
        return detail::from_statx(sx);
    }

    /// getdents64 of the directory (not following a final symlink: ENOTDIR), without "." and "..".
    /// For "." and "..", in getdents64 order, how many of read_dir's entries come before each
    /// (ext4 lists small dirs in hash order, dots included: "b . k .. z"  gives {1, 2}).
    /// readdir.hpp asks it only when an overlay lookup fails during a listing (spec §8.2 steps 5-6).
    [[nodiscard]] result<std::array<std::size_t, 2>> dot_positions(const layer_ref& layer,
                                                                   std::string_view path) const {
        const std::string p = path.empty() ? std::string(".") : std::string(path);
        detail::unique_fd fd(detail::retry_eintr([&] {
            return ::openat(layer.fd(), p.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }));
        if (!fd.valid()) return fail_errno(detail::last_errno());
        std::size_t before = 0;
        std::array<std::size_t, 2> dots{};
        std::size_t found = 0;
        alignas(8) char buf[32768];
        while (found < 2) {
            const long n = detail::retry_eintr(
                [&] { return ::syscall(SYS_getdents64, fd.get(), buf, sizeof buf); });
            if (n < 0) return fail_errno(detail::last_errno());
            if (n == 0) break;
            for (long off = 0; off < n && found < 2;) {
                std::uint16_t reclen = 0;
                std::memcpy(&reclen, buf + off + 16, sizeof reclen);
                const std::string_view name(buf + off + 19);
                if (name == "." || name == "..")
                    dots[found++] = before;
                else
                    ++before;
                off += reclen;
            }
        }
        for (; found < 2; ++found) dots[found] = before;
        return dots;
    }

    [[nodiscard]] result<std::vector<dir_entry>> read_dir(const layer_ref& layer,
                                                          std::string_view path) const {
        const std::string p = path.empty() ? std::string(".") : std::string(path);
        detail::unique_fd fd(detail::retry_eintr([&] {
            return ::openat(layer.fd(), p.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }));
        if (!fd.valid()) return fail_errno(detail::last_errno());
        std::vector<dir_entry> out;
        alignas(8) char buf[32768];
        for (;;) {
            const long n = detail::retry_eintr(
                [&] { return ::syscall(SYS_getdents64, fd.get(), buf, sizeof buf); });
            if (n < 0) return fail_errno(detail::last_errno());
            if (n == 0) break;
            for (long off = 0; off < n;) {
                // struct linux_dirent64: u64 d_ino, s64 d_off, u16 d_reclen, u8 d_type, char
                // d_name[]
                std::uint64_t ino = 0;
                std::uint16_t reclen = 0;
                std::memcpy(&ino, buf + off, sizeof ino);
                std::memcpy(&reclen, buf + off + 16, sizeof reclen);
                const auto dtype = static_cast<unsigned char>(buf[off + 18]);
                const std::string_view name(buf + off + 19);
                if (name != "." && name != "..")
                    out.push_back(dir_entry{.name = std::string(name),
                                            .type = detail::type_from_dtype(dtype),
                                            .ino = ino});
                off += reclen;
            }
        }
        return out;
    }

    /// The attribute of the final component (not followed), nullopt when absent (ENODATA) or
    /// unsupported (EOPNOTSUPP). Uses getxattrat(2) when the kernel has it, else lgetxattr(2) on
    /// the layer path.
    /// @see spec §2.1
    [[nodiscard]] result<std::optional<std::string>>
    get_xattr(const layer_ref& layer, std::string_view path, std::string_view name) const {
        const std::string p(path);
        const std::string n(name);
        std::string value;
        for (int attempt = 0; attempt < 8; ++attempt) {
            long len = xattr_get(layer, p, n, nullptr, 0);
            if (len >= 0) {
                value.resize(static_cast<std::size_t>(len));
                if (len > 0) len = xattr_get(layer, p, n, value.data(), value.size());
            }
            if (len >= 0) {
                value.resize(static_cast<std::size_t>(len));
                return std::optional<std::string>(std::move(value));
            }
            const int e = detail::last_errno();
            if (e == ENODATA || e == EOPNOTSUPP) return std::optional<std::string>();
            if (e != ERANGE) return fail_errno(e); // ERANGE: grew between the two calls
        }
        return fail(std::errc::result_out_of_range);
    }

    /// Every attribute name of the final component (not followed), in the filesystem's order.
    [[nodiscard]] result<std::vector<std::string>> list_xattr(const layer_ref& layer,
                                                              std::string_view path) const {
        const std::string p(path);
        std::string buf;
        for (int attempt = 0; attempt < 8; ++attempt) {
            long len = xattr_list(layer, p, nullptr, 0);
            if (len > 0) {
                buf.resize(static_cast<std::size_t>(len));
                len = xattr_list(layer, p, buf.data(), buf.size());
            }
            if (len >= 0) {
                buf.resize(static_cast<std::size_t>(len));
                std::vector<std::string> out;
                for (std::size_t i = 0; i < buf.size();) {
                    const std::size_t end = buf.find('\0', i);
                    const std::size_t stop = end == std::string::npos ? buf.size() : end;
                    if (stop > i) out.emplace_back(buf.substr(i, stop - i));
                    i = stop + 1;
                }
                return out;
            }
            const int e = detail::last_errno();
            if (e == EOPNOTSUPP) return std::vector<std::string>();
            if (e != ERANGE) return fail_errno(e);
        }
        return fail(std::errc::result_out_of_range);
    }

    /// readlinkat(2): the target text; EINVAL for a non-symlink.
    [[nodiscard]] result<std::string> read_link(const layer_ref& layer,
                                                std::string_view path) const {
        const std::string p(path);
        if (p.empty()) {
            // readlinkat(fd, "") reads an O_PATH descriptor of a symlink; say EINVAL otherwise.
            OVLCORE_TRY_ASSIGN(sx, detail::statx_at(layer.fd(), p));
            if (detail::type_from_mode(sx.stx_mode) != file_type::symlink)
                return fail(std::errc::invalid_argument);
        }
        std::string buf(256, '\0');
        for (;;) {
            const ssize_t n = ::readlinkat(layer.fd(), p.c_str(), buf.data(), buf.size());
            if (n < 0) return fail_errno(detail::last_errno());
            if (static_cast<std::size_t>(n) < buf.size()) {
                buf.resize(static_cast<std::size_t>(n));
                return buf;
            }
            if (buf.size() > detail::path_max * 16) return fail(std::errc::filename_too_long);
            buf.resize(buf.size() * 2);
        }
    }

    /// The data-only walk of spec §6: openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
    /// RESOLVE_NO_XDEV from the layer root, final component not followed. A leading '/' means the
    /// layer root. Errors as the kernel gives them: ENOENT, ENOTDIR, ELOOP (a symlink in the
    /// middle), EXDEV (".." above the root, a mount crossing).
    /// @see spec §6
    [[nodiscard]] result<beneath_result> lookup_beneath(const layer_ref& layer,
                                                        std::string_view path) const {
        std::string_view rel = path;
        while (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
        const std::string p = rel.empty() ? std::string(".") : std::string(rel);
        open_how how{};
        how.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV;
        long raw = -1;
        for (int attempt = 0; attempt < 16; ++attempt) { // EAGAIN: a concurrent rename raced ".."
            raw = detail::retry_eintr(
                [&] { return ::syscall(SYS_openat2, layer.fd(), p.c_str(), &how, sizeof how); });
            if (raw >= 0 || errno != EAGAIN) break;
        }
        if (raw < 0) return fail_errno(detail::last_errno());
        const detail::unique_fd fd(static_cast<int>(raw));
        OVLCORE_TRY_ASSIGN(sx, detail::statx_at(fd.get(), ""));
        // No symlink was followed, so the physical walk equals the lexical one.
        std::vector<std::string> names;
        for (auto c : detail::split_path(rel)) {
            if (c == ".") continue;
            if (c == "..") {
                if (!names.empty()) names.pop_back();
                continue;
            }
            names.emplace_back(c);
        }
        return beneath_result{.st = detail::from_statx(sx), .path = detail::join_path(names)};
    }

    /// Opens a regular file read-only without following a final symlink. EISDIR for a directory,
    /// ELOOP for a symlink, ENXIO for devices, fifos and sockets (never opened, so no device
    /// driver runs and no fifo blocks).
    [[nodiscard]] result<file> open_file(const layer_ref& layer, std::string_view path) const {
        const std::string p = path.empty() ? std::string(".") : std::string(path);
        // Look first (O_PATH), open for reading only a regular file.
        detail::unique_fd probe(detail::retry_eintr(
            [&] { return ::openat(layer.fd(), p.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC); }));
        if (!probe.valid()) return fail_errno(detail::last_errno());
        OVLCORE_TRY_ASSIGN(sx, detail::statx_at(probe.get(), ""));
        if (const auto refused = open_file_refusal(detail::type_from_mode(sx.stx_mode)))
            return fail(*refused);
        detail::unique_fd fd(detail::retry_eintr([&] {
            return ::openat(layer.fd(), p.c_str(), O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
        }));
        if (!fd.valid()) return fail_errno(detail::last_errno());
        OVLCORE_TRY_ASSIGN(sx2, detail::statx_at(fd.get(), ""));
        if (sx2.stx_ino != sx.stx_ino || sx2.stx_dev_major != sx.stx_dev_major ||
            sx2.stx_dev_minor != sx.stx_dev_minor)
            return fail_errno(ESTALE); // replaced between the two opens
        return file(std::move(fd));
    }

    /// pread(2): up to buffer.size() bytes at `offset`; 0 at end of file.
    [[nodiscard]] result<std::size_t> read(const file& f, std::uint64_t offset,
                                           std::span<char> buffer) const {
        const ssize_t n = detail::retry_eintr([&] {
            return ::pread(f.fd(), buffer.data(), buffer.size(), static_cast<off_t>(offset));
        });
        if (n < 0) return fail_errno(detail::last_errno());
        return static_cast<std::size_t>(n);
    }

    /// The first stored range at or after `offset` (backend.hpp): lseek(2) SEEK_DATA, then
    /// SEEK_HOLE (a filesystem without hole tracking reports the whole file as data). No data
    /// after `offset` (ENXIO): {size, size}. Moves the descriptor's file offset, which read
    /// (pread) does not use.
    [[nodiscard]] result<data_extent> next_data(const file& f, std::uint64_t offset) const {
        const off_t data = ::lseek(f.fd(), static_cast<off_t>(offset), SEEK_DATA);
        if (data < 0) {
            const int err = detail::last_errno();
            if (err != ENXIO) return fail_errno(err);
            struct stat st {};
            if (::fstat(f.fd(), &st) != 0) return fail_errno(detail::last_errno());
            const std::uint64_t end = std::max(static_cast<std::uint64_t>(st.st_size), offset);
            return data_extent{.begin = end, .end = end};
        }
        const off_t hole = ::lseek(f.fd(), data, SEEK_HOLE);
        if (hole < 0) return fail_errno(detail::last_errno());
        return data_extent{.begin = static_cast<std::uint64_t>(data),
                           .end = static_cast<std::uint64_t>(hole)};
    }

private:
    std::shared_ptr<const detail::unique_fd> m_cwd; // null: the process working directory

    /// Whether getxattrat/listxattrat exist (1 yes, 0 no, -1 not known yet).
    static std::atomic<int>& xattrat_state() noexcept {
        static std::atomic<int> state{-1};
        return state;
    }

    /// The absolute path of a descriptor, from /proc/self/fd ("" if unavailable).
    [[nodiscard]] static std::string fd_path(int fd) {
        const std::string link = "/proc/self/fd/" + std::to_string(fd);
        std::string buf(detail::path_max, '\0');
        const ssize_t n = ::readlink(link.c_str(), buf.data(), buf.size());
        if (n <= 0 || static_cast<std::size_t>(n) >= buf.size()) return {};
        buf.resize(static_cast<std::size_t>(n));
        if (buf.front() != '/') return {};
        return buf;
    }

    /// The "mnt_id:" line of /proc/self/fdinfo/<fd> (kernels before 5.8 lack STATX_MNT_ID).
    [[nodiscard]] static std::uint64_t fdinfo_mount_id(int fd) {
        const std::string name = "/proc/self/fdinfo/" + std::to_string(fd);
        detail::unique_fd info(::open(name.c_str(), O_RDONLY | O_CLOEXEC));
        if (!info.valid()) return 0;
        char buf[1024];
        const ssize_t n =
            detail::retry_eintr([&] { return ::read(info.get(), buf, sizeof buf - 1); });
        if (n <= 0) return 0;
        const std::string_view text(buf, static_cast<std::size_t>(n));
        const auto pos = text.find("mnt_id:");
        if (pos == std::string_view::npos) return 0;
        std::uint64_t id = 0;
        for (std::size_t i = pos + 7; i < text.size(); ++i) {
            if (text[i] == ' ' || text[i] == '\t') continue;
            if (text[i] < '0' || text[i] > '9') break;
            id = id * 10 + static_cast<std::uint64_t>(text[i] - '0');
        }
        return id;
    }

    [[nodiscard]] static std::string full_path(const layer_ref& layer, const std::string& p) {
        if (p.empty()) return layer.path();
        if (layer.path() == "/") return "/" + p;
        return layer.path() + "/" + p;
    }

    /// The *xattrat(2) call `at_call(rel)` relative to the layer descriptor (EINTR retried),
    /// unless the kernel is known to lack it; its result (-1 with errno), or nullopt when the
    /// path-based call must be made instead: no such system call (remembered for every later
    /// call) or a non-directory layer root.
    template <class AtCall>
    static std::optional<long> try_xattrat(const std::string& p, AtCall&& at_call) {
        if (xattrat_state().load(std::memory_order_relaxed) == 0) return std::nullopt;
        // AT_EMPTY_PATH does not accept an O_PATH descriptor (EBADF): name the layer root as "."
        // instead; a non-directory layer root (ENOTDIR) takes the path-based call.
        const char* rel = p.empty() ? "." : p.c_str();
        const long r = detail::retry_eintr([&] { return static_cast<long>(at_call(rel)); });
        if (p.empty() && r < 0 && errno == ENOTDIR) return std::nullopt;
        if (r >= 0 || errno != ENOSYS) {
            xattrat_state().store(1, std::memory_order_relaxed);
            return r;
        }
        xattrat_state().store(0, std::memory_order_relaxed);
        return std::nullopt;
    }

    /// getxattr of the final component of layer/p, not followed: size or -1 with errno.
    static long xattr_get(const layer_ref& layer, const std::string& p, const std::string& name,
                          char* buf, std::size_t size) {
#ifdef OVLCORE_NR_GETXATTRAT
        detail::xattr_args_v0 args{reinterpret_cast<std::uintptr_t>(buf),
                                   static_cast<std::uint32_t>(size), 0};
        if (const auto r = try_xattrat(p, [&](const char* rel) {
                return ::syscall(OVLCORE_NR_GETXATTRAT, layer.fd(), rel, AT_SYMLINK_NOFOLLOW,
                                 name.c_str(), &args, sizeof args);
            }))
            return *r;
#endif
        const std::string full = full_path(layer, p);
        return detail::retry_eintr(
            [&] { return static_cast<long>(::lgetxattr(full.c_str(), name.c_str(), buf, size)); });
    }

    static long xattr_list(const layer_ref& layer, const std::string& p, char* buf,
                           std::size_t size) {
#ifdef OVLCORE_NR_LISTXATTRAT
        if (const auto r = try_xattrat(p, [&](const char* rel) {
                return ::syscall(OVLCORE_NR_LISTXATTRAT, layer.fd(), rel, AT_SYMLINK_NOFOLLOW, buf,
                                 size);
            }))
            return *r;
#endif
        const std::string full = full_path(layer, p);
        return detail::retry_eintr(
            [&] { return static_cast<long>(::llistxattr(full.c_str(), buf, size)); });
    }
};

static_assert(backing_filesystem<posix_fs>,
              "posix_fs must model backing_filesystem (ovlcore/backend.hpp)");
static_assert(detail::has_next_data<posix_fs>,
              "posix_fs::next_data must match the optional call of backend.hpp, else the dump "
              "reads holes");

} // namespace ovlcore
