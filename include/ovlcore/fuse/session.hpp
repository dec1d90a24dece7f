// SPDX-License-Identifier: MIT
// ovlcore/fuse/session.hpp: fuse::session, the lifetime of one libfuse3 session serving a
// fuse::server: create with the operations table, mount, run the event loop, unmount. Implements
// docs/fuse.md §6 (sessions and mounting).
#pragma once

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../result.hpp"
#include "libfuse.hpp"

namespace ovlcore::fuse {

/// Checks a mount point as mount(2) would before mounting a file system whose root is a
/// directory (docs/fuse.md §6): the path must resolve (ENOENT, EACCES, ENOTDIR, ELOOP,
/// ENAMETOOLONG: the errno of the lookup), be a directory (ENOTDIR: FUSE itself would mount on a
/// file and then answer EIO for its root) and be searchable by the caller (EACCES; root always
/// may). Returns the resolved absolute path, which libfuse needs to unmount after a chdir.
[[nodiscard]] inline result<std::string> check_mountpoint(const std::string& path) {
    if (path.empty()) return fail(std::errc::no_such_file_or_directory);
    char* resolved = ::realpath(path.c_str(), nullptr);
    if (resolved == nullptr) return fail_errno(errno);
    std::string absolute = resolved;
    std::free(resolved);
    struct stat st {};
    if (::stat(absolute.c_str(), &st) != 0) return fail_errno(errno);
    if (!S_ISDIR(st.st_mode)) return fail(std::errc::not_a_directory);
    if (::faccessat(AT_FDCWD, absolute.c_str(), X_OK, AT_EACCESS) != 0) return fail_errno(errno);
    return absolute;
}

/// How the event loop runs (docs/fuse.md §6).
struct loop_options {
    bool single_thread = false;     ///< fuse_session_loop instead of the multi-threaded loop
    bool clone_fd = false;          ///< multi-threaded: one /dev/fuse descriptor per thread
    unsigned max_idle_threads = 10; ///< multi-threaded: idle worker threads kept
};

/// One FUSE session: owns the fuse_session, unmounts and destroys it on destruction. Movable,
/// not copyable. The server given to create() is the session's userdata: it must outlive the
/// session and not move.
class session {
public:
    /// Creates the session. `args` are libfuse's arguments as on a command line, the program
    /// name first (e.g. {"my-fs", "-o", "ro,default_permissions", "-d"}); libfuse refuses unknown
    /// options (then EINVAL). `ops` is Server::operations(), possibly patched.
    template <class Server>
    [[nodiscard]] static result<session> create(Server& srv, const fuse_lowlevel_ops& ops,
                                                std::span<const std::string> args) {
        std::vector<std::string> text(args.begin(), args.end());
        if (text.empty()) text.emplace_back("ovlcore-fuse");
        std::vector<char*> argv;
        argv.reserve(text.size());
        for (auto& a : text) argv.push_back(a.data());
        fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
        fuse_session* se = fuse_session_new(&fargs, &ops, sizeof ops, &srv);
        fuse_opt_free_args(&fargs);
        if (se == nullptr) return fail(std::errc::invalid_argument);
        srv.set_session(se);
        return session(se);
    }

    session(session&& other) noexcept
        : m_se(std::exchange(other.m_se, nullptr)),
          m_mounted(std::exchange(other.m_mounted, false)),
          m_signals(std::exchange(other.m_signals, false)) {}
    session& operator=(session&& other) noexcept {
        if (this != &other) {
            close();
            m_se = std::exchange(other.m_se, nullptr);
            m_mounted = std::exchange(other.m_mounted, false);
            m_signals = std::exchange(other.m_signals, false);
        }
        return *this;
    }
    session(const session&) = delete;
    session& operator=(const session&) = delete;
    ~session() { close(); }

    [[nodiscard]] fuse_session* get() const noexcept { return m_se; }

    /// SIGTERM, SIGINT and SIGHUP end the loop (libfuse's handlers; removed on destruction).
    [[nodiscard]] result<void> install_signal_handlers() {
        if (fuse_set_signal_handlers(m_se) != 0) return fail(std::errc::operation_not_permitted);
        m_signals = true;
        return {};
    }

    /// Mounts on `mountpoint` after check_mountpoint() (its errno, nothing mounted, when the
    /// path is missing, not a directory or not searchable); relative paths are resolved first.
    /// EIO when libfuse cannot mount (it says why on stderr). Needs /dev/fuse and either
    /// privileges or fusermount3 (always fusermount3 for `-o auto_unmount`).
    [[nodiscard]] result<void> mount(const std::string& mountpoint) {
        auto absolute = check_mountpoint(mountpoint);
        if (!absolute) return fail(absolute.error());
        if (fuse_session_mount(m_se, absolute->c_str()) != 0) return fail(std::errc::io_error);
        m_mounted = true;
        return {};
    }

    /// Serves requests until the session ends: unmounted from outside, exit() called, or a
    /// signal (then the signal's number). Returns libfuse's loop result (0: clean end).
    int loop(const loop_options& options = {}) {
        if (options.single_thread) return fuse_session_loop(m_se);
#if FUSE_USE_VERSION < 312
        fuse_loop_config config{};
        config.clone_fd = options.clone_fd ? 1 : 0;
        config.max_idle_threads = options.max_idle_threads;
        return fuse_session_loop_mt(m_se, &config);
#else
        fuse_loop_config* config = fuse_loop_cfg_create();
        fuse_loop_cfg_set_clone_fd(config, options.clone_fd ? 1U : 0U);
        fuse_loop_cfg_set_idle_threads(config, options.max_idle_threads);
        const int rc = fuse_session_loop_mt(m_se, config);
        fuse_loop_cfg_destroy(config);
        return rc;
#endif
    }

    /// Whether a loop result is a clean stop: 0, or one of the signals the handlers catch.
    [[nodiscard]] static bool clean_stop(int loop_result) noexcept {
        return loop_result == 0 || loop_result == SIGTERM || loop_result == SIGINT ||
               loop_result == SIGHUP;
    }

    /// Asks the loop to end after the request it is serving (callable from any thread; a loop
    /// blocked waiting for a request ends at the next one, or when unmount() is called).
    void exit() noexcept { fuse_session_exit(m_se); }

    /// Removes the mount (the loop then ends, if it still runs).
    void unmount() noexcept {
        if (m_mounted) fuse_session_unmount(m_se);
        m_mounted = false;
    }

private:
    explicit session(fuse_session* se) noexcept : m_se(se) {}

    void close() noexcept {
        if (m_se == nullptr) return;
        unmount();
        if (m_signals) fuse_remove_signal_handlers(m_se);
        fuse_session_destroy(m_se);
        m_se = nullptr;
        m_signals = false;
    }

    fuse_session* m_se = nullptr;
    bool m_mounted = false;
    bool m_signals = false;
};

} // namespace ovlcore::fuse
