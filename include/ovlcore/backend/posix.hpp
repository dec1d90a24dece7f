// SPDX-License-Identifier: MIT
// ovlcore/backend/posix.hpp: posix_fs, the backing filesystem over real Linux directories,
// addressed by handles (spec §0, §1.3, §1.5, §2.1, §3, §5.1, §6). Users include it; it needs
// Linux (openat2, statx, getdents64; getxattrat/listxattrat where the kernel has them).
//
// Design:
// - A handle is a reference-counted node {parent node, name, (dev, ino), type}; a layer root's
//   node holds an O_PATH descriptor of the root and the absolute path it was resolved to. No call
//   passes the kernel a path longer than PATH_MAX, so trees of any depth work, and a layer keeps
//   working when its path is renamed. A node costs 40 bytes plus its name; a handle is a pointer.
// - A directory gets a descriptor on demand (openat(parent, name, O_RDONLY | O_DIRECTORY |
//   O_NOFOLLOW), O_PATH when it may not be read), kept in a bounded LRU shared by the copies of a
//   posix_fs (posix_options::dir_fd_capacity; default min(16384, RLIMIT_NOFILE soft limit / 4)).
//   A call pins the descriptor it uses; only unpinned ones are closed. A directory without one is
//   opened from its parent's descriptor; else by one openat2(RESOLVE_NO_SYMLINKS) of its path
//   below the nearest cached ancestor or its layer root's O_PATH descriptor, when that path fits
//   in PATH_MAX (the ancestors in between get no descriptor); else through ".." of a cached
//   child, or from the nearest cached ancestor one component at a time. Every open is checked
//   with fstat against the (dev, ino) of the lookup: ESTALE when the name now holds another
//   object. Only a use of a directory itself makes it the most recent entry; opening another one
//   through it does not, so parents looked up once do not crowd out the directories in use
//   (W1 at 500 layers: 60 directories, 8,500 copies, random lookups; docs/benchmarks.md).
// - One statx per lookup (AT_SYMLINK_NOFOLLOW). A non-directory is reached as (its parent's
//   descriptor, its name): getxattrat/listxattrat (Linux 6.13+; on ENOSYS l*xattr on
//   "/proc/self/fd/N/name"), readlinkat, openat(O_NOFOLLOW | O_NONBLOCK) plus an fstat identity
//   check. A directory's xattrs are read with f*xattr and its entries with getdents64 on its own
//   descriptor (one getdents64 reader at a time; a second one gets a private descriptor).
// - lookup_beneath is openat2(O_PATH | O_NOFOLLOW, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//   RESOLVE_NO_XDEV), exactly the restrictions overlayfs applies to the data-only walk (§6); its
//   handle is then built by lookups along the normalised path (from the remembered parent
//   directory of an earlier walk when there is one) and checked against that object.
// - Every failure is an errno in the result; nothing throws (except std::bad_alloc).
// - All const members are thread-safe; the descriptor cache's lock is held only to find, pin and
//   insert entries, never across a system call.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <linux/fsverity.h>
#include <linux/openat2.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../backend.hpp"
#include "../detail/path.hpp"
#include "../detail/unique_fd.hpp"
#include "../result.hpp"
#include "../types.hpp"
#include "../verity.hpp"

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

/// A NUL-terminated copy of a name for a system call, on the stack when it is short.
class c_name {
public:
    explicit c_name(std::string_view s) {
        if (s.size() < sizeof m_small) {
            std::memcpy(m_small, s.data(), s.size());
            m_small[s.size()] = '\0';
            m_ptr = m_small;
        } else {
            m_big.assign(s);
            m_ptr = m_big.c_str();
        }
    }
    c_name(const c_name&) = delete;
    c_name& operator=(const c_name&) = delete;
    [[nodiscard]] const char* c_str() const noexcept { return m_ptr; }

private:
    char m_small[256];
    std::string m_big;
    const char* m_ptr = nullptr;
};

/// "/proc/self/fd/<fd>" or "/proc/self/fd/<fd>/<name>": a path through the descriptor, for the
/// calls that take no descriptor (the xattr fallbacks before Linux 6.13).
[[nodiscard]] inline std::string proc_fd_path(int fd, std::string_view name = {}) {
    std::string out = "/proc/self/fd/" + std::to_string(fd);
    if (!name.empty()) {
        out += '/';
        out += name;
    }
    return out;
}

/// Calls f(name, d_type, d_ino) for every entry getdents64 returns on `fd` from its current
/// position, "." and ".." included, until the end or until f returns false. 0, or the errno.
template <class F>
[[nodiscard]] int for_each_dirent(int fd, F&& f) {
    alignas(8) char buf[32768];
    for (;;) {
        const long n = retry_eintr([&] { return ::syscall(SYS_getdents64, fd, buf, sizeof buf); });
        if (n < 0) return last_errno();
        if (n == 0) return 0;
        for (long off = 0; off < n;) {
            // struct linux_dirent64: u64 d_ino, s64 d_off, u16 d_reclen, u8 d_type, char d_name[]
            std::uint64_t ino = 0;
            std::uint16_t reclen = 0;
            std::memcpy(&ino, buf + off, sizeof ino);
            std::memcpy(&reclen, buf + off + 16, sizeof reclen);
            const auto dtype = static_cast<unsigned char>(buf[off + 18]);
            if (!f(std::string_view(buf + off + 19), dtype, ino)) return 0;
            off += reclen;
        }
    }
}

/// The entries of the directory open at `fd` (from its current position), without "." and "..".
[[nodiscard]] inline result<std::vector<dir_entry>> read_dir_fd(int fd) {
    std::vector<dir_entry> out;
    const int e =
        for_each_dirent(fd, [&](std::string_view name, unsigned char dtype, std::uint64_t ino) {
            if (name != "." && name != "..")
                out.push_back(dir_entry{
                    .name = std::string(name), .type = type_from_dtype(dtype), .ino = ino});
            return true;
        });
    if (e != 0) return fail_errno(e);
    return out;
}

/// For "." and ".." of the directory open at `fd`, how many other entries getdents64 lists
/// before each (backend.hpp's dot_positions).
[[nodiscard]] inline result<std::array<std::size_t, 2>> dot_positions_fd(int fd) {
    std::size_t before = 0;
    std::array<std::size_t, 2> dots{};
    std::size_t found = 0;
    const int e = for_each_dirent(fd, [&](std::string_view name, unsigned char, std::uint64_t) {
        if (name == "." || name == "..")
            dots[found++] = before;
        else
            ++before;
        return found < 2;
    });
    if (e != 0) return fail_errno(e);
    for (; found < 2; ++found) dots[found] = before;
    return dots;
}

/// The object behind a posix_fs::handle. Immutable once made, except the reference count and the
/// descriptor-cache slot. A child node is allocated with its name (NUL-terminated) right behind
/// it; a layer root is a posix_root_node.
struct posix_node {
    std::atomic<std::uint32_t> refs{1};
    std::atomic<std::int32_t> slot{-1}; ///< its entry in a posix_dir_cache, or -1
    posix_node* parent = nullptr;       ///< a counted reference; null for a layer root
    std::uint64_t dev = 0;              ///< (dev, ino) as the lookup saw them
    std::uint64_t ino = 0;
    std::uint32_t name_len = 0;
    file_type type = file_type::unknown;
    bool is_root = false;

    [[nodiscard]] const char* name_cstr() const noexcept {
        return is_root ? "" : reinterpret_cast<const char*>(this + 1);
    }
    [[nodiscard]] std::string_view name() const noexcept { return {name_cstr(), name_len}; }
    [[nodiscard]] bool same_object(const struct stat& st) const noexcept {
        return static_cast<std::uint64_t>(st.st_dev) == dev &&
               static_cast<std::uint64_t>(st.st_ino) == ino;
    }
};

/// The path of `n` below its ancestor `above` ("" for `above` itself), names joined by '/'; a
/// layer root also ends the walk, so a null `above` gives the path below the layer root. Sized
/// first, then filled from the end: one allocation, no list of names.
[[nodiscard]] inline std::string path_below(const posix_node* n,
                                            const posix_node* above = nullptr) {
    const auto below = [above](const posix_node* p) {
        return p != nullptr && p != above && !p->is_root;
    };
    std::size_t size = 0;
    for (const posix_node* p = n; below(p); p = p->parent)
        size += p->name_len + (size == 0 ? 0 : 1);
    std::string out(size, '/');
    std::size_t end = size;
    for (const posix_node* p = n; below(p); p = p->parent) {
        end -= p->name_len;
        std::memcpy(out.data() + end, p->name_cstr(), p->name_len);
        if (end > 0) --end; // the '/' before it
    }
    return out;
}

/// A layer root: its O_PATH descriptor (symlinks followed when it was resolved) and absolute path.
struct posix_root_node : posix_node {
    unique_fd fd;
    std::string path;
};

/// A new node for `name` in `parent` (whose count it takes), as statx `sx` described it.
[[nodiscard]] inline posix_node* make_child_node(posix_node* parent, std::string_view name,
                                                 const struct statx& sx) {
    void* mem = ::operator new(sizeof(posix_node) + name.size() + 1);
    auto* n = new (mem) posix_node;
    char* dst = reinterpret_cast<char*>(n + 1);
    std::memcpy(dst, name.data(), name.size());
    dst[name.size()] = '\0';
    parent->refs.fetch_add(1, std::memory_order_relaxed);
    n->parent = parent;
    n->dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
    n->ino = sx.stx_ino;
    n->name_len = static_cast<std::uint32_t>(name.size());
    n->type = type_from_mode(sx.stx_mode);
    return n;
}

/// Drops one reference; frees the node, then its parent if that was the last one, and so on up
/// (a loop, not a recursion: a chain may be 50,000 levels long).
inline void release_node(posix_node* n) noexcept {
    while (n != nullptr && n->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        posix_node* parent = n->parent;
        if (n->is_root) {
            delete static_cast<posix_root_node*>(n);
        } else {
            n->~posix_node();
            ::operator delete(n);
        }
        n = parent;
    }
}

/// The bounded LRU of directory descriptors behind posix_fs (see the design notes). Each entry
/// holds a counted reference to its node, so a cached node outlives its handles until evicted.
class posix_dir_cache {
public:
    explicit posix_dir_cache(std::size_t capacity) : m_entries(std::max<std::size_t>(capacity, 1)) {
        m_free.reserve(m_entries.size());
        for (std::size_t i = m_entries.size(); i-- > 0;) m_free.push_back(static_cast<int>(i));
    }
    posix_dir_cache(const posix_dir_cache&) = delete;
    posix_dir_cache& operator=(const posix_dir_cache&) = delete;
    ~posix_dir_cache() {
        for (auto& e : m_entries) {
            if (e.node == nullptr) continue;
            ::close(e.fd);
            e.node->slot.store(-1, std::memory_order_relaxed);
            release_node(e.node);
        }
    }

    /// A directory descriptor in use: a pinned cache entry (never closed while pinned) or a
    /// private descriptor (closed with this object). Movable.
    class pinned {
    public:
        pinned() = default;
        pinned(pinned&& o) noexcept
            : m_cache(std::exchange(o.m_cache, nullptr)), m_slot(std::exchange(o.m_slot, -1)),
              m_fd(std::exchange(o.m_fd, -1)), m_path_only(o.m_path_only), m_reading(o.m_reading),
              m_rewind(o.m_rewind), m_touch(o.m_touch) {}
        pinned& operator=(pinned&& o) noexcept {
            if (this != &o) {
                reset();
                m_cache = std::exchange(o.m_cache, nullptr);
                m_slot = std::exchange(o.m_slot, -1);
                m_fd = std::exchange(o.m_fd, -1);
                m_path_only = o.m_path_only;
                m_reading = o.m_reading;
                m_rewind = o.m_rewind;
                m_touch = o.m_touch;
            }
            return *this;
        }
        pinned(const pinned&) = delete;
        pinned& operator=(const pinned&) = delete;
        ~pinned() { reset(); }

        [[nodiscard]] int fd() const noexcept { return m_fd; }
        /// An O_PATH descriptor (the directory may be searched but not read).
        [[nodiscard]] bool path_only() const noexcept { return m_path_only; }
        /// getdents64 already read this descriptor: lseek it to 0 first.
        [[nodiscard]] bool needs_rewind() const noexcept { return m_rewind; }

    private:
        friend class posix_dir_cache;
        void reset() noexcept {
            if (m_cache != nullptr && m_slot >= 0)
                m_cache->unpin(m_slot, m_reading, m_touch);
            else if (m_fd >= 0)
                ::close(m_fd);
            m_cache = nullptr;
            m_slot = -1;
            m_fd = -1;
        }
        posix_dir_cache* m_cache = nullptr;
        int m_slot = -1; ///< -1: a private descriptor
        int m_fd = -1;
        bool m_path_only = false;
        bool m_reading = false;
        bool m_rewind = false;
        bool m_touch = true; ///< moves its entry to the LRU head when released
    };

    /// The descriptor of directory `dir`, pinned; `reading`: for getdents64 (exclusive).
    /// Errors: the open's errno; ESTALE when a directory on the way is no longer the object that
    /// was looked up (or no longer reachable under its name).
    [[nodiscard]] result<pinned> acquire(posix_node* dir, bool reading) {
        bool try_children = true;
        bool try_path = true;
        for (;;) {
            std::vector<posix_node*> chain; // to open, the last one first
            int base = -1;
            bool via_child = false;
            bool self_busy = false;
            const posix_node* above = nullptr; // open dir by a relative path from here
            {
                const std::lock_guard lock(m_mutex);
                if (const int s = find(dir); s >= 0) {
                    if (!(reading && m_entries[static_cast<std::size_t>(s)].reading))
                        return pin_hit(s, reading);
                    base = s; // another thread is reading it: open a private descriptor
                    self_busy = true;
                    pin(s);
                } else if (!dir->is_root && (base = find(dir->parent)) >= 0) {
                    pin(base);
                } else if (!dir->is_root && try_path && (above = path_base(dir, base)) != nullptr) {
                    if (base >= 0) pin(base);
                } else {
                    if (!dir->is_root && try_children) base = find_child(dir);
                    if (base >= 0) {
                        via_child = true;
                        pin(base);
                    } else {
                        chain.push_back(dir);
                        posix_node* cur = dir->parent;
                        while (cur != nullptr && (base = find(cur)) < 0) {
                            chain.push_back(cur);
                            cur = cur->parent;
                        }
                        if (base >= 0) pin(base);
                    }
                }
            }
            pinned at = base >= 0 ? pinned_entry(base, false) : pinned();
            at.m_touch = self_busy; // a directory only opened through is not a use of it
            if (above != nullptr) {
                const int from =
                    base >= 0 ? at.fd() : static_cast<const posix_root_node*>(above)->fd.get();
                if (const int fd = open_below(from, above, dir); fd >= 0)
                    return insert(dir, fd, false, reading);
                try_path = false; // an error or another object: one component at a time
                continue;
            }
            if (self_busy) {
                // A reader holds dir's own entry: a private descriptor of the same directory.
                const int fd = retry_eintr(
                    [&] { return ::openat(at.fd(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); });
                if (fd < 0) return fail_errno(last_errno());
                m_opens.fetch_add(1, std::memory_order_relaxed);
                return private_fd(fd, false, reading);
            }
            if (via_child) {
                const int fd = retry_eintr(
                    [&] { return ::openat(at.fd(), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC); });
                struct stat st {};
                if (fd >= 0 && ::fstat(fd, &st) == 0 && dir->same_object(st))
                    return insert(dir, fd, false, reading);
                if (fd >= 0) ::close(fd);
                try_children = false; // moved or not readable: go through the parents
                continue;
            }
            if (chain.empty()) chain.push_back(dir); // the parent is `at`
            for (std::size_t i = chain.size(); i-- > 0;) {
                posix_node* n = chain[i];
                OVLCORE_TRY_ASSIGN(opened, open_from(at.fd(), n));
                at = insert(n, opened.first, opened.second, reading && i == 0);
            }
            return at;
        }
    }

    /// Closes every descriptor no caller holds and drops the entry's node reference (design
    /// notes: released when the overlay sheds its caches). Returns how many were closed. Under
    /// the lock, allocating nothing: a released node frees at most its chain of ancestors, none
    /// of which is an entry of this cache still (an entry holds a reference).
    std::size_t release_unpinned() noexcept {
        const std::lock_guard lock(m_mutex);
        std::size_t closed = 0;
        for (std::size_t i = 0; i < m_entries.size(); ++i) {
            entry& e = m_entries[i];
            if (e.node == nullptr || e.pins > 0) continue;
            const int s = static_cast<int>(i);
            lru_unlink(s);
            e.node->slot.store(-1, std::memory_order_relaxed);
            ::close(e.fd);
            release_node(e.node);
            e = entry{};
            m_free.push_back(s); // capacity reserved for every slot
            ++closed;
        }
        return closed;
    }

    /// How many descriptors the cache holds open (tests, diagnostics).
    [[nodiscard]] std::size_t open_count() const {
        const std::lock_guard lock(m_mutex);
        return m_entries.size() - m_free.size();
    }
    [[nodiscard]] std::size_t capacity() const noexcept { return m_entries.size(); }
    /// How many directory descriptors were opened so far (cache misses; diagnostics, tests).
    [[nodiscard]] std::uint64_t opens() const noexcept {
        return m_opens.load(std::memory_order_relaxed);
    }

private:
    struct entry {
        posix_node* node = nullptr; ///< null: free
        int fd = -1;
        std::uint32_t pins = 0;
        int prev = -1; ///< LRU neighbours (every cached entry; head = most recent)
        int next = -1;
        bool path_only = false;
        bool reading = false; ///< a getdents64 reader holds it
        bool was_read = false;
    };

    /// Opens directory `n` from its parent's descriptor `parent_fd` (a root: from its O_PATH
    /// descriptor) and checks it is the object looked up. {fd, path_only} or the errno.
    static result<std::pair<int, bool>> open_from(int parent_fd, posix_node* n) {
        const int at = n->is_root ? static_cast<posix_root_node*>(n)->fd.get() : parent_fd;
        const char* name = n->is_root ? "." : n->name_cstr();
        bool path_only = false;
        int fd = retry_eintr(
            [&] { return ::openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC); });
        if (fd < 0 && errno == EACCES) { // searchable but not readable: lookups still work
            path_only = true;
            fd = retry_eintr(
                [&] { return ::openat(at, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC); });
        }
        if (fd < 0) {
            const int e = last_errno();
            // The name no longer holds a directory: the handle's object is gone from there.
            if (e == ENOENT || e == ENOTDIR || e == ELOOP) return fail_errno(ESTALE);
            return fail_errno(e);
        }
        struct stat st {};
        if (::fstat(fd, &st) != 0 || !n->same_object(st)) {
            ::close(fd);
            return fail_errno(ESTALE);
        }
        return std::pair<int, bool>(fd, path_only);
    }

    /// Under the lock, for a directory whose parent has no descriptor: its nearest ancestor with
    /// one (`slot` set to its entry) or its layer root (`slot` -1: the root's own O_PATH
    /// descriptor, so the root's entry is not pinned), provided the path from there to `dir` fits
    /// in PATH_MAX; else null.
    [[nodiscard]] const posix_node* path_base(const posix_node* dir, int& slot) const noexcept {
        std::size_t len = dir->name_len;
        for (const posix_node* cur = dir->parent;; cur = cur->parent) {
            slot = cur->is_root ? -1 : find(cur);
            if (slot >= 0 || cur->is_root) return cur;
            len += std::size_t{cur->name_len} + 1;
            if (len >= path_max) return nullptr;
        }
    }
    /// Opens directory `dir` by its path relative to its ancestor `above` (open at `from`) with
    /// openat2(RESOLVE_NO_SYMLINKS): one call for the whole chain, no symlink followed, checked
    /// against the lookup's (dev, ino). The descriptor, or -1 on any failure (the caller then
    /// opens one component at a time, which gives the right errno).
    static int open_below(int from, const posix_node* above, const posix_node* dir) {
        static std::atomic<bool> no_openat2{false};
        if (no_openat2.load(std::memory_order_relaxed)) return -1;
        const std::string rel = path_below(dir, above);
        open_how how{};
        how.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
        how.resolve = RESOLVE_NO_SYMLINKS;
        const long raw = retry_eintr(
            [&] { return ::syscall(SYS_openat2, from, rel.c_str(), &how, sizeof how); });
        if (raw < 0) {
            if (errno == ENOSYS) no_openat2.store(true, std::memory_order_relaxed);
            return -1;
        }
        const int fd = static_cast<int>(raw);
        struct stat st {};
        if (::fstat(fd, &st) != 0 || !dir->same_object(st)) {
            ::close(fd);
            return -1;
        }
        return fd;
    }

    [[nodiscard]] int find(const posix_node* n) const noexcept {
        const int s = n->slot.load(std::memory_order_relaxed);
        if (s < 0 || static_cast<std::size_t>(s) >= m_entries.size()) return -1;
        return m_entries[static_cast<std::size_t>(s)].node == n ? s : -1;
    }
    /// A cached entry whose node is a child of `dir` (a scan; only when dir's parent is not cached).
    [[nodiscard]] int find_child(const posix_node* dir) const noexcept {
        for (std::size_t i = 0; i < m_entries.size(); ++i)
            if (m_entries[i].node != nullptr && m_entries[i].node->parent == dir &&
                !m_entries[i].path_only)
                return static_cast<int>(i);
        return -1;
    }

    void lru_unlink(int s) noexcept {
        entry& e = m_entries[static_cast<std::size_t>(s)];
        if (e.prev >= 0)
            m_entries[static_cast<std::size_t>(e.prev)].next = e.next;
        else
            m_head = e.next;
        if (e.next >= 0)
            m_entries[static_cast<std::size_t>(e.next)].prev = e.prev;
        else
            m_tail = e.prev;
        e.prev = e.next = -1;
    }
    void lru_push_front(int s) noexcept {
        entry& e = m_entries[static_cast<std::size_t>(s)];
        e.prev = -1;
        e.next = m_head;
        if (m_head >= 0) m_entries[static_cast<std::size_t>(m_head)].prev = s;
        m_head = s;
        if (m_tail < 0) m_tail = s;
    }
    void pin(int s) noexcept { ++m_entries[static_cast<std::size_t>(s)].pins; }
    /// `touch`: a use of the directory itself, which makes it the most recent; a directory only
    /// opened through keeps its place, so a scan of its subdirectories does not keep it cached.
    void unpin(int s, bool reading, bool touch) noexcept {
        const std::lock_guard lock(m_mutex);
        entry& e = m_entries[static_cast<std::size_t>(s)];
        if (reading) e.reading = false;
        --e.pins;
        if (touch && m_head != s) {
            lru_unlink(s);
            lru_push_front(s);
        }
    }
    /// A pinned handle on entry s (already pinned by the caller).
    [[nodiscard]] pinned pinned_entry(int s, bool reading) noexcept {
        const entry& e = m_entries[static_cast<std::size_t>(s)];
        pinned p;
        p.m_cache = this;
        p.m_slot = s;
        p.m_fd = e.fd;
        p.m_path_only = e.path_only;
        p.m_reading = reading;
        return p;
    }
    /// Under the lock: pins a cached entry for the caller.
    [[nodiscard]] pinned pin_hit(int s, bool reading) noexcept {
        pin(s);
        entry& e = m_entries[static_cast<std::size_t>(s)];
        pinned p = pinned_entry(s, reading);
        if (reading) {
            e.reading = true;
            p.m_rewind = e.was_read;
            e.was_read = true;
        }
        return p;
    }
    [[nodiscard]] static pinned private_fd(int fd, bool path_only, bool reading) noexcept {
        pinned p;
        p.m_fd = fd;
        p.m_path_only = path_only;
        p.m_reading = reading;
        return p;
    }

    /// Caches the freshly opened descriptor `fd` of `n` and returns it pinned (private when every
    /// entry is pinned, or when another thread cached `n` first and is reading it).
    [[nodiscard]] pinned insert(posix_node* n, int fd, bool path_only, bool reading) {
        m_opens.fetch_add(1, std::memory_order_relaxed);
        int victim_fd = -1;
        posix_node* victim = nullptr;
        pinned out;
        {
            const std::lock_guard lock(m_mutex);
            if (const int hit = find(n); hit >= 0) { // another thread was faster
                if (!(reading && m_entries[static_cast<std::size_t>(hit)].reading)) {
                    victim_fd = fd;
                    out = pin_hit(hit, reading);
                } else {
                    out = private_fd(fd, path_only, reading);
                }
            } else {
                int s = -1;
                if (!m_free.empty()) {
                    s = m_free.back();
                    m_free.pop_back();
                } else {
                    s = m_tail; // the least recent entry not in use
                    while (s >= 0 && m_entries[static_cast<std::size_t>(s)].pins > 0)
                        s = m_entries[static_cast<std::size_t>(s)].prev;
                }
                if (s >= 0 && m_entries[static_cast<std::size_t>(s)].node != nullptr) {
                    lru_unlink(s);
                    entry& old = m_entries[static_cast<std::size_t>(s)];
                    victim_fd = old.fd;
                    victim = old.node;
                    victim->slot.store(-1, std::memory_order_relaxed);
                }
                if (s < 0) {
                    out = private_fd(fd, path_only, reading); // every entry is in use
                } else {
                    n->refs.fetch_add(1, std::memory_order_relaxed);
                    n->slot.store(s, std::memory_order_relaxed);
                    m_entries[static_cast<std::size_t>(s)] = entry{.node = n,
                                                                   .fd = fd,
                                                                   .pins = 1,
                                                                   .path_only = path_only,
                                                                   .reading = reading,
                                                                   .was_read = reading};
                    lru_push_front(s);
                    out = pinned_entry(s, reading);
                }
            }
        }
        if (victim_fd >= 0) ::close(victim_fd);
        release_node(victim);
        return out;
    }

    mutable std::mutex m_mutex;
    std::atomic<std::uint64_t> m_opens{0};
    std::vector<entry> m_entries;
    std::vector<int> m_free;
    int m_head = -1;
    int m_tail = -1;
};

/// The default descriptor capacity: a quarter of RLIMIT_NOFILE's soft limit, within [16, 16384].
/// A walk or a random lookup touches one directory per layer copy (64 layers x 60 dirs: 3,840);
/// below that the LRU misses, each miss an open (one call for any depth) and an fstat.
[[nodiscard]] inline std::size_t default_dir_fd_capacity() noexcept {
    constexpr std::size_t most = 16384;
    struct rlimit rl {};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return most;
    return std::clamp<std::size_t>(static_cast<std::size_t>(rl.rlim_cur / 4), 16, most);
}

} // namespace detail

class mounted_tree; // backend/posix_tree.hpp

/// Tuning of posix_fs.
struct posix_options {
    /// How many directory descriptors posix_fs keeps open at most (the LRU of the design notes);
    /// 0: min(16384, RLIMIT_NOFILE soft limit / 4), at least 16. Calls in flight may briefly hold
    /// one private descriptor each beyond it when every cached one is in use.
    std::size_t dir_fd_capacity = 0;
};

/// Real directories through Linux system calls, satisfying backing_filesystem.
/// @see spec §0, §1.3 (resolve_dir), §5.1 (lookup), §6 (lookup_beneath)
class posix_fs {
public:
    /// An object of a layer: a counted pointer to its node (8 bytes; the node is 40 bytes plus
    /// the name). A default-constructed handle names nothing (EBADF).
    class handle {
    public:
        handle() noexcept = default;
        handle(const handle& o) noexcept : m_node(o.m_node) {
            if (m_node != nullptr) m_node->refs.fetch_add(1, std::memory_order_relaxed);
        }
        handle(handle&& o) noexcept : m_node(std::exchange(o.m_node, nullptr)) {}
        handle& operator=(const handle& o) noexcept {
            handle copy(o);
            std::swap(m_node, copy.m_node);
            return *this;
        }
        handle& operator=(handle&& o) noexcept {
            handle moved(std::move(o));
            std::swap(m_node, moved.m_node);
            return *this;
        }
        ~handle() { detail::release_node(m_node); }

        [[nodiscard]] explicit operator bool() const noexcept { return m_node != nullptr; }
        /// The type lookup saw (file_type::unknown for an empty handle).
        [[nodiscard]] file_type type() const noexcept {
            return m_node != nullptr ? m_node->type : file_type::unknown;
        }
        /// Two handles of the same lookup (not: of the same object).
        friend bool operator==(const handle& a, const handle& b) noexcept {
            return a.m_node == b.m_node;
        }

    private:
        friend class posix_fs;
        explicit handle(detail::posix_node* adopted) noexcept : m_node(adopted) {}
        detail::posix_node* m_node = nullptr;
    };

    /// A layer: the handle of its root, which holds an O_PATH descriptor and the absolute path.
    class layer_ref {
    public:
        layer_ref() = default;
        /// The O_PATH descriptor (-1 for a default-constructed ref).
        [[nodiscard]] int fd() const noexcept { return root() != nullptr ? root()->fd.get() : -1; }
        /// The absolute path of the layer root when it was resolved.
        [[nodiscard]] const std::string& path() const noexcept {
            static const std::string none;
            return root() != nullptr ? root()->path : none;
        }

    private:
        friend class posix_fs;
        explicit layer_ref(handle root) noexcept : m_root(std::move(root)) {}
        [[nodiscard]] const detail::posix_root_node* root() const noexcept {
            return static_cast<const detail::posix_root_node*>(m_root.m_node);
        }
        handle m_root;
    };

    /// An open regular file (O_RDONLY). Movable, closes on destruction.
    class file {
    public:
        file() = default;
        [[nodiscard]] int fd() const noexcept { return m_fd.get(); }

    private:
        friend class posix_fs;
        friend class mounted_tree; // opens paths through symlinks (posix_tree.hpp)
        explicit file(detail::unique_fd fd) noexcept : m_fd(std::move(fd)) {}
        detail::unique_fd m_fd;
    };

    /// Relative mount-option paths resolve against the process working directory.
    posix_fs() : posix_fs(posix_options{}) {}
    explicit posix_fs(const posix_options& options)
        : m_cache(std::make_shared<detail::posix_dir_cache>(
              options.dir_fd_capacity != 0 ? options.dir_fd_capacity
                                           : detail::default_dir_fd_capacity())) {}

    /// Relative mount-option paths resolve against `dir` (opened now; its errno on failure).
    [[nodiscard]] static result<posix_fs> with_working_dir(std::string_view dir,
                                                           const posix_options& options = {}) {
        const std::string p(dir);
        detail::unique_fd fd(::open(p.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!fd.valid()) return fail_errno(detail::last_errno());
        posix_fs fs(options);
        fs.m_cwd = std::make_shared<const detail::unique_fd>(std::move(fd));
        return fs;
    }

    /// The most directory descriptors kept open, and how many are open now (copies share them).
    [[nodiscard]] std::size_t dir_fd_capacity() const noexcept { return m_cache->capacity(); }
    [[nodiscard]] std::size_t open_dir_fds() const { return m_cache->open_count(); }
    /// How many directory descriptors were opened so far (cache misses), copies included.
    [[nodiscard]] std::uint64_t dir_fd_opens() const noexcept { return m_cache->opens(); }

    /// The optional backend call release_cached() (backend.hpp): closes the directory
    /// descriptors no call is using and forgets the data-only walk's remembered directories, so
    /// that only objects someone holds a handle to stay in memory. Copies share both caches.
    void release_cached() const noexcept {
        m_beneath->clear();
        (void)m_cache->release_unpinned();
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

        auto* root = new detail::posix_root_node;
        root->is_root = true;
        root->dev = out.st.dev;
        root->ino = out.st.ino;
        root->type = out.st.type;
        root->fd = std::move(owned);
        root->path = std::move(abs);
        out.ref = layer_ref(handle(root));
        return out;
    }

    /// The layer root and its lstat (EBADF for a default-constructed layer_ref).
    [[nodiscard]] result<real_object<handle>> root(const layer_ref& layer) const {
        if (!layer.m_root) return fail(std::errc::bad_file_descriptor);
        OVLCORE_TRY_ASSIGN(sx, detail::statx_at(layer.fd(), ""));
        return real_object<handle>{.handle = layer.m_root, .st = detail::from_statx(sx)};
    }

    /// `name` in the directory `dir`: one statx(dir's descriptor, name, AT_SYMLINK_NOFOLLOW).
    /// ENOENT when absent, ENOTDIR when `dir` is not a directory, EINVAL for "", ".", ".." or a
    /// name with '/', ENAMETOOLONG as the filesystem says, ESTALE when `dir` is gone.
    /// @see spec §5.1
    [[nodiscard]] result<real_object<handle>> lookup(const handle& dir,
                                                     std::string_view name) const {
        detail::posix_node* d = dir.m_node;
        if (d == nullptr) return fail(std::errc::bad_file_descriptor);
        if (d->type != file_type::directory) return fail(std::errc::not_a_directory);
        if (name.empty() || name == "." || name == ".." ||
            name.find_first_of(std::string_view("/\0", 2)) != std::string_view::npos)
            return fail(std::errc::invalid_argument);
        const detail::c_name cname(name);
        struct statx sx {};
        {
            OVLCORE_TRY_ASSIGN(pin, m_cache->acquire(d, false));
            if (::statx(pin.fd(), cname.c_str(), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) != 0)
                return fail_errno(detail::last_errno());
        }
        return real_object<handle>{.handle = handle(detail::make_child_node(d, name, sx)),
                                   .st = detail::from_statx(sx)};
    }

    /// getdents64 of the directory's descriptor, without "." and "..", in the filesystem's order.
    /// ENOTDIR for a non-directory.
    [[nodiscard]] result<std::vector<dir_entry>> read_dir(const handle& dir) const {
        OVLCORE_TRY_ASSIGN(reader, open_for_getdents(dir));
        return detail::read_dir_fd(reader.fd);
    }

    /// For "." and "..", in getdents64 order, how many of read_dir's entries come before each
    /// (ext4 lists small dirs in hash order, dots included: "b . k .. z"  gives {1, 2}).
    /// readdir.hpp asks it only when an overlay lookup fails during a listing (spec §8.2 steps 5-6).
    [[nodiscard]] result<std::array<std::size_t, 2>> dot_positions(const handle& dir) const {
        OVLCORE_TRY_ASSIGN(reader, open_for_getdents(dir));
        return detail::dot_positions_fd(reader.fd);
    }

    /// The attribute of the object (not followed), nullopt when absent (ENODATA) or unsupported
    /// (EOPNOTSUPP). A directory: fgetxattr on its descriptor; another object: getxattrat(2) on
    /// its parent's descriptor and its name (before Linux 6.13: lgetxattr through /proc/self/fd).
    /// @see spec §2.1
    [[nodiscard]] result<std::optional<std::string>> get_xattr(const handle& h,
                                                               std::string_view name) const {
        OVLCORE_TRY_ASSIGN(target, xattr_target_of(h));
        const detail::c_name cname(name);
        // Most attributes are absent or short: one call into a stack buffer first.
        char small[256];
        long len = target.get(cname.c_str(), small, sizeof small);
        if (len >= 0)
            return std::optional<std::string>(std::string(small, static_cast<std::size_t>(len)));
        std::string value;
        for (int attempt = 0; attempt < 8; ++attempt) {
            int e = detail::last_errno();
            if (e == ENODATA || e == EOPNOTSUPP) return std::optional<std::string>();
            if (e != ERANGE) return fail_errno(e); // ERANGE: larger (or grew meanwhile)
            len = target.get(cname.c_str(), nullptr, 0);
            if (len >= 0) {
                value.resize(static_cast<std::size_t>(len));
                len = target.get(cname.c_str(), value.data(), value.size());
            }
            if (len >= 0) {
                value.resize(static_cast<std::size_t>(len));
                return std::optional<std::string>(std::move(value));
            }
        }
        return fail(std::errc::result_out_of_range);
    }

    /// Every attribute name of the object (not followed), in the filesystem's order.
    [[nodiscard]] result<std::vector<std::string>> list_xattr(const handle& h) const {
        OVLCORE_TRY_ASSIGN(target, xattr_target_of(h));
        std::string buf(1024, '\0');
        for (int attempt = 0; attempt < 8; ++attempt) {
            long len = target.list(buf.data(), buf.size());
            if (len < 0 && errno == ERANGE) {
                len = target.list(nullptr, 0);
                if (len >= 0) {
                    buf.resize(static_cast<std::size_t>(len));
                    len = target.list(buf.data(), buf.size());
                }
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

    /// readlinkat(parent's descriptor, name): the target text; EINVAL for a non-symlink.
    [[nodiscard]] result<std::string> read_link(const handle& h) const {
        const detail::posix_node* n = h.m_node;
        if (n == nullptr) return fail(std::errc::bad_file_descriptor);
        if (n->type != file_type::symlink || n->is_root) return fail(std::errc::invalid_argument);
        OVLCORE_TRY_ASSIGN(pin, m_cache->acquire(n->parent, false));
        std::string buf(256, '\0');
        for (;;) {
            const ssize_t len = ::readlinkat(pin.fd(), n->name_cstr(), buf.data(), buf.size());
            if (len < 0) return fail_errno(detail::last_errno());
            if (static_cast<std::size_t>(len) < buf.size()) {
                buf.resize(static_cast<std::size_t>(len));
                return buf;
            }
            if (buf.size() > detail::path_max * 16) return fail(std::errc::filename_too_long);
            buf.resize(buf.size() * 2);
        }
    }

    /// The data-only walk of spec §6: openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
    /// RESOLVE_NO_XDEV from the layer root, final component not followed. A leading '/' means the
    /// layer root. Errors as the kernel gives them: ENOENT, ENOTDIR, ELOOP (a symlink in the
    /// middle), EXDEV (".." above the root, a mount crossing). The handle is then built by
    /// lookups along the normalised path (no symlink and no mount on it, as openat2 proved) and
    /// must name the object openat2 found (ESTALE otherwise: the layer changed meanwhile).
    /// @see spec §6
    [[nodiscard]] result<real_object<handle>> lookup_beneath(const layer_ref& layer,
                                                             std::string_view path) const {
        if (!layer.m_root) return fail(std::errc::bad_file_descriptor);
        std::string_view rel = path;
        while (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
        if (auto known = beneath_remembered(layer, rel)) return std::move(*known);
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
        std::vector<std::string_view> names;
        for (auto c : detail::split_path(rel)) {
            if (c == ".") continue;
            if (c == "..") {
                if (!names.empty()) names.pop_back();
                continue;
            }
            names.push_back(c);
        }
        const auto found_it = [&](const handle& h) {
            return h.m_node->dev == makedev(sx.stx_dev_major, sx.stx_dev_minor) &&
                   h.m_node->ino == sx.stx_ino;
        };
        // The parent from the memo when a walk went there before; a miss or a mismatch walks.
        std::string parent_path;
        if (names.size() > 1) {
            for (std::size_t i = 0; i + 1 < names.size(); ++i) (parent_path += names[i]) += '/';
            if (const auto dir = m_beneath->find(layer.m_root.m_node, parent_path)) {
                auto last = lookup(*dir, names.back());
                if (last && found_it(last->handle))
                    return real_object<handle>{.handle = std::move(last->handle),
                                               .st = detail::from_statx(sx)};
            }
        }
        handle cur = layer.m_root;
        handle parent;
        for (const auto name : names) {
            OVLCORE_TRY_ASSIGN(next, lookup(cur, name));
            parent = std::exchange(cur, std::move(next.handle));
        }
        if (!found_it(cur)) return fail_errno(ESTALE);
        if (names.size() > 1) m_beneath->put(layer.m_root.m_node, std::move(parent_path), parent);
        return real_object<handle>{.handle = std::move(cur), .st = detail::from_statx(sx)};
    }

    /// Opens a regular file read-only: openat(parent's descriptor, name, O_RDONLY | O_NOFOLLOW |
    /// O_NONBLOCK), then fstat must show the object looked up (ESTALE otherwise). Refused as
    /// open_file_refusal says by the type lookup saw: EISDIR, ELOOP, ENXIO (never opened, so no
    /// device driver runs and no fifo blocks).
    [[nodiscard]] result<file> open_file(const handle& h) const {
        const detail::posix_node* n = h.m_node;
        if (n == nullptr) return fail(std::errc::bad_file_descriptor);
        if (const auto refused = open_file_refusal(n->type)) return fail(*refused);
        constexpr int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
        detail::unique_fd fd;
        if (n->is_root) { // a regular file given as a layer: reopen its O_PATH descriptor
            const auto* r = static_cast<const detail::posix_root_node*>(n);
            const std::string via = detail::proc_fd_path(r->fd.get());
            fd.reset(
                detail::retry_eintr([&] { return ::open(via.c_str(), (flags & ~O_NOFOLLOW)); }));
            if (!fd.valid() && errno == ENOENT) // no /proc
                fd.reset(detail::retry_eintr([&] { return ::open(r->path.c_str(), flags); }));
        } else {
            OVLCORE_TRY_ASSIGN(pin, m_cache->acquire(n->parent, false));
            fd.reset(
                detail::retry_eintr([&] { return ::openat(pin.fd(), n->name_cstr(), flags); }));
        }
        if (!fd.valid()) return fail_errno(detail::last_errno());
        struct stat st {};
        if (::fstat(fd.get(), &st) != 0) return fail_errno(detail::last_errno());
        if (!n->same_object(st)) return fail_errno(ESTALE); // replaced since the lookup
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

    /// The fs-verity digest the filesystem enforces on the file (verity.hpp's optional call):
    /// ioctl(2) FS_IOC_MEASURE_VERITY. ENODATA: the file has no fs-verity; ENOTTY or EOPNOTSUPP:
    /// the filesystem or kernel has none (every file without CONFIG_FS_VERITY). @see spec §7
    [[nodiscard]] result<verity_digest> measure_verity(const file& f) const {
        struct {
            std::uint16_t digest_algorithm;
            std::uint16_t digest_size; // in: room; out: the digest's size
            std::uint8_t digest[64];
        } arg{.digest_algorithm = 0, .digest_size = 64, .digest = {}};
        if (::ioctl(f.fd(), FS_IOC_MEASURE_VERITY, &arg) != 0)
            return fail_errno(detail::last_errno());
        if (arg.digest_size > 64U || arg.digest_algorithm > 255U) return fail(std::errc::io_error);
        verity_digest d{.algo = static_cast<verity_algo>(arg.digest_algorithm),
                        .size = static_cast<std::uint8_t>(arg.digest_size)};
        std::copy_n(arg.digest, arg.digest_size, d.bytes.begin());
        return d;
    }

    /// The object's path relative to its layer root ("" for the root), for messages only.
    [[nodiscard]] std::string path_of(const handle& h) const {
        return detail::path_below(h.m_node);
    }

private:
    /// lookup_beneath's memo, shared by copies: the parent directory of recent data-only walks
    /// per layer root and path, so that a data store's fan-out directories ("ab/" of "/ab/cdef",
    /// spec §6) are looked up and opened once, not once per object. At most `most` entries, then
    /// emptied. A shortcut only: an answer that is not openat2's object walks from the root.
    class beneath_memo {
    public:
        [[nodiscard]] std::optional<handle> find(const detail::posix_node* root,
                                                 const std::string& path) const {
            const std::lock_guard lock(m_mutex);
            const auto it = m_dirs.find({root, path});
            if (it == m_dirs.end()) return std::nullopt;
            return it->second;
        }
        /// Forgets every entry (their handles are released outside the lock).
        void clear() noexcept {
            std::map<key, handle> dropped;
            const std::lock_guard lock(m_mutex);
            std::swap(dropped, m_dirs);
        }
        void put(const detail::posix_node* root, std::string path, handle dir) {
            std::map<key, handle> dropped; // released outside the lock
            const std::lock_guard lock(m_mutex);
            if (m_dirs.size() >= most) std::swap(dropped, m_dirs);
            m_dirs.insert_or_assign({root, std::move(path)}, std::move(dir));
        }

    private:
        static constexpr std::size_t most = 4096;
        // The entry's handle holds the root, so its address is not reused while it is a key.
        using key = std::pair<const detail::posix_node*, std::string>;
        mutable std::mutex m_mutex;
        std::map<key, handle> m_dirs;
    };

    std::shared_ptr<const detail::unique_fd> m_cwd;   // null: the process working directory
    std::shared_ptr<detail::posix_dir_cache> m_cache; // shared by copies
    std::shared_ptr<beneath_memo> m_beneath = std::make_shared<beneath_memo>();

    /// statx(2) of `name` in the directory `dir` (not followed, no automount), only when it is not
    /// the root of a mount and the kernel says so (STATX_ATTR_MOUNT_ROOT known); else nullopt.
    [[nodiscard]] std::optional<struct statx> stat_in_mount(detail::posix_node* dir,
                                                            const char* name) const {
        auto pin = m_cache->acquire(dir, false);
        if (!pin) return std::nullopt;
        struct statx sx {};
        if (::statx(pin->fd(), name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_BASIC_STATS,
                    &sx) != 0 ||
            (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) == 0 ||
            (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0)
            return std::nullopt;
        return sx;
    }

    /// lookup_beneath without openat2, for a plain path ("ab/cdef": no ".", "..", empty component
    /// or trailing '/') whose parent directory an earlier walk remembered: one statx per
    /// component from the layer root, every directory still the remembered object under its
    /// name, nothing a symlink before the last component and nothing a mount root, is what
    /// openat2 would find (spec §6). Anything else (a failure too) is left to openat2: nullopt.
    [[nodiscard]] std::optional<real_object<handle>>
    beneath_remembered(const layer_ref& layer, std::string_view rel) const {
        const auto slash = rel.rfind('/');
        if (slash == std::string_view::npos || rel.size() >= detail::path_max) return std::nullopt;
        if (rel.back() == '/' || rel.find("//") != std::string_view::npos ||
            rel.find('\0') != std::string_view::npos) // a NUL: lookup's EINVAL, via openat2
            return std::nullopt;
        std::size_t at = 0;
        for (auto c = detail::next_component(rel, at); !c.empty();
             c = detail::next_component(rel, at))
            if (c == "." || c == "..") return std::nullopt;
        const auto dir =
            m_beneath->find(layer.m_root.m_node, std::string(rel.substr(0, slash + 1)));
        if (!dir) return std::nullopt;
        for (detail::posix_node* n = dir->m_node; !n->is_root; n = n->parent) {
            const auto sx = stat_in_mount(n->parent, n->name_cstr());
            if (!sx || detail::type_from_mode(sx->stx_mode) != file_type::directory ||
                makedev(sx->stx_dev_major, sx->stx_dev_minor) != n->dev || sx->stx_ino != n->ino)
                return std::nullopt;
        }
        const detail::c_name name(rel.substr(slash + 1));
        const auto sx = stat_in_mount(dir->m_node, name.c_str());
        if (!sx) return std::nullopt;
        return real_object<handle>{
            .handle = handle(detail::make_child_node(dir->m_node, rel.substr(slash + 1), *sx)),
            .st = detail::from_statx(*sx)};
    }

    /// A descriptor getdents64 may read from the start: the pinned cached one (rewound if it was
    /// read before) or a private one.
    struct dir_reader {
        detail::posix_dir_cache::pinned pin;
        detail::unique_fd own;
        int fd = -1;
    };
    [[nodiscard]] result<dir_reader> open_for_getdents(const handle& dir) const {
        detail::posix_node* d = dir.m_node;
        if (d == nullptr) return fail(std::errc::bad_file_descriptor);
        if (d->type != file_type::directory) return fail(std::errc::not_a_directory);
        dir_reader r;
        OVLCORE_TRY_ASSIGN(pin, m_cache->acquire(d, true));
        r.pin = std::move(pin);
        if (r.pin.path_only()) { // searchable only: reading it fails as the kernel says (EACCES)
            r.own.reset(detail::retry_eintr(
                [&] { return ::openat(r.pin.fd(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); }));
            if (!r.own.valid()) return fail_errno(detail::last_errno());
            r.fd = r.own.get();
        } else {
            r.fd = r.pin.fd();
            if (r.pin.needs_rewind() && ::lseek(r.fd, 0, SEEK_SET) < 0)
                return fail_errno(detail::last_errno());
        }
        return r;
    }

    /// Where the xattr calls of one object go (see get_xattr): -1 with errno on failure.
    struct xattr_target {
        detail::posix_dir_cache::pinned pin; ///< the directory's, or the parent's descriptor
        const detail::posix_node* node = nullptr;
        enum class how : std::uint8_t { dir_fd, proc_path, at_parent } mode = how::dir_fd;
        std::string path; ///< proc_path: a path that follows to the object

        long get(const char* name, char* buf, std::size_t size) const {
            return detail::retry_eintr([&]() -> long {
                switch (mode) {
                case how::dir_fd: return ::fgetxattr(pin.fd(), name, buf, size);
                case how::proc_path: return ::getxattr(path.c_str(), name, buf, size);
                case how::at_parent: break;
                }
#ifdef OVLCORE_NR_GETXATTRAT
                if (xattrat_state().load(std::memory_order_relaxed) != 0) {
                    detail::xattr_args_v0 args{reinterpret_cast<std::uintptr_t>(buf),
                                               static_cast<std::uint32_t>(size), 0};
                    const long r = ::syscall(OVLCORE_NR_GETXATTRAT, pin.fd(), node->name_cstr(),
                                             AT_SYMLINK_NOFOLLOW, name, &args, sizeof args);
                    if (r >= 0 || errno != ENOSYS) return r;
                    xattrat_state().store(0, std::memory_order_relaxed);
                }
#endif
                const std::string via = detail::proc_fd_path(pin.fd(), node->name());
                return ::lgetxattr(via.c_str(), name, buf, size);
            });
        }
        long list(char* buf, std::size_t size) const {
            return detail::retry_eintr([&]() -> long {
                switch (mode) {
                case how::dir_fd: return ::flistxattr(pin.fd(), buf, size);
                case how::proc_path: return ::listxattr(path.c_str(), buf, size);
                case how::at_parent: break;
                }
#ifdef OVLCORE_NR_LISTXATTRAT
                if (xattrat_state().load(std::memory_order_relaxed) != 0) {
                    const long r = ::syscall(OVLCORE_NR_LISTXATTRAT, pin.fd(), node->name_cstr(),
                                             AT_SYMLINK_NOFOLLOW, buf, size);
                    if (r >= 0 || errno != ENOSYS) return r;
                    xattrat_state().store(0, std::memory_order_relaxed);
                }
#endif
                const std::string via = detail::proc_fd_path(pin.fd(), node->name());
                return ::llistxattr(via.c_str(), buf, size);
            });
        }
    };
    [[nodiscard]] result<xattr_target> xattr_target_of(const handle& h) const {
        detail::posix_node* n = h.m_node;
        if (n == nullptr) return fail(std::errc::bad_file_descriptor);
        xattr_target t;
        t.node = n;
        if (n->type == file_type::directory) {
            OVLCORE_TRY_ASSIGN(pin, m_cache->acquire(n, false));
            t.pin = std::move(pin);
            if (t.pin.path_only()) { // f*xattr refuses O_PATH descriptors: follow /proc/self/fd
                t.mode = xattr_target::how::proc_path;
                t.path = detail::proc_fd_path(t.pin.fd());
            }
        } else if (n->is_root) { // a non-directory layer root (never a symlink: it was followed)
            const auto* r = static_cast<const detail::posix_root_node*>(n);
            t.mode = xattr_target::how::proc_path;
            t.path = detail::proc_fd_path(r->fd.get());
            if (::access("/proc/self/fd", F_OK) != 0) t.path = r->path; // no /proc
        } else {
            OVLCORE_TRY_ASSIGN(pin, m_cache->acquire(n->parent, false));
            t.pin = std::move(pin);
            t.mode = xattr_target::how::at_parent;
        }
        return t;
    }

    /// Whether getxattrat/listxattrat exist (0: known missing).
    static std::atomic<int>& xattrat_state() noexcept {
        static std::atomic<int> state{-1};
        return state;
    }

    /// The absolute path of a descriptor, from /proc/self/fd ("" if unavailable).
    [[nodiscard]] static std::string fd_path(int fd) {
        const std::string link = detail::proc_fd_path(fd);
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
};

static_assert(backing_filesystem<posix_fs>,
              "posix_fs must model backing_filesystem (ovlcore/backend.hpp)");
static_assert(knows_dot_positions<posix_fs>);
static_assert(can_measure_verity<posix_fs>,
              "posix_fs::measure_verity must match verity.hpp's optional call, else "
              "verity_support::measure silently finds no digest");
static_assert(detail::has_next_data<posix_fs>,
              "posix_fs::next_data must match the optional call of backend.hpp, else the dump "
              "reads holes");
static_assert(sizeof(posix_fs::handle) == sizeof(void*), "a handle is one pointer");

} // namespace ovlcore
