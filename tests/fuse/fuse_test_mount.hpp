// SPDX-License-Identifier: MIT
// What the programs in tests/fuse share: their exit statuses (0 pass, 1 failure, 77 skipped), the
// private mount namespace they run in, one FUSE mount of a fuse::server whose loop runs in a
// thread and which is ended from the kernel's side, reader processes, and the kernel made to
// forget while they read. docs/fuse.md §3, §6.
#pragma once

#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <ovlcore/fuse/session.hpp>

namespace ovlcore::test {

/// The exit status of a test that cannot run here (ctest's SKIP_RETURN_CODE).
constexpr int skipped = 77;

/// Says why on stderr; returns the exit status of a failure, 1.
inline int fail(const std::string& why) {
    std::fprintf(stderr, "FAIL: %s\n", why.c_str());
    return 1;
}

/// Says why on stdout; returns `skipped`.
inline int skip(const char* why) {
    std::printf("SKIPPED: %s\n", why);
    return skipped;
}

/// Moves this process into a private mount namespace, so that no mount shows outside it. Needs
/// root (`needs_root` says why the test does) and a usable /dev/fuse. Returns 0 to go on, else
/// the exit status: `skipped` where something is missing, 1 when the namespace cannot be private.
inline int enter_private_mount_ns(const char* needs_root) {
    if (::geteuid() != 0) return skip(needs_root);
    if (::access("/dev/fuse", R_OK | W_OK) != 0) return skip("/dev/fuse is not usable here");
    if (::unshare(CLONE_NEWNS) != 0) return skip("cannot make a mount namespace");
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        return fail("cannot make the mount namespace private");
    return 0;
}

/// One FUSE mount at the empty directory `mnt`: mount(), then start() the loop in a thread, then
/// stop(), which also removes `mnt`. Not copyable, not movable.
class fuse_test_mount {
public:
    explicit fuse_test_mount(std::string mnt) : m_mnt(std::move(mnt)) {}
    fuse_test_mount(const fuse_test_mount&) = delete;
    fuse_test_mount& operator=(const fuse_test_mount&) = delete;
    ~fuse_test_mount() { (void)stop(); }

    [[nodiscard]] const std::string& path() const noexcept { return m_mnt; }

    /// Creates a session serving `server` with libfuse's `args` and mounts it. Returns 0, 1 when
    /// the session cannot be made, or `skipped` when mounting is not allowed here (then `mnt` is
    /// removed).
    template <class Server>
    [[nodiscard]] int mount(Server& server, const std::vector<std::string>& args) {
        auto created = ovlcore::fuse::session::create(server, Server::operations(), args);
        if (!created) return fail("cannot create the FUSE session");
        if (!created->mount(m_mnt)) {
            ::rmdir(m_mnt.c_str());
            return skip("mounting a FUSE file system is not allowed here");
        }
        m_session.emplace(std::move(*created));
        return 0;
    }

    /// Serves requests in a thread until stop().
    void start(const ovlcore::fuse::loop_options& options = {}) {
        m_loop = std::thread([this, options] { m_loop_result = m_session->loop(options); });
    }

    /// Unmounts, waits for the loop and removes `mnt`. Returns 0, or 1 (said on stderr) when the
    /// mount cannot be unmounted or the loop did not end cleanly.
    int stop() {
        if (!m_session) return 0;
        int status = 0;
        if (m_loop.joinable()) {
            // Ended from the kernel's side, as umount(8) or `fusermount3 -u` would: the workers'
            // reads of /dev/fuse fail, the loop returns, and only then is libfuse's descriptor
            // closed. (exit() and unmount() while the loop runs make libfuse close that
            // descriptor under its own workers' read(2): a race inside libfuse that
            // ThreadSanitizer reports.)
            const bool unmounted = ::umount2(m_mnt.c_str(), 0) == 0;
            const int error = errno;
            if (!unmounted) {
                m_session->exit();
                m_session->unmount();
            }
            m_loop.join();
            if (!unmounted) status = fail("cannot unmount " + m_mnt + ": " + std::strerror(error));
            if (!ovlcore::fuse::session::clean_stop(m_loop_result))
                status = fail("the FUSE loop ended with " + std::to_string(m_loop_result));
        }
        m_session->unmount();
        m_session.reset();
        ::rmdir(m_mnt.c_str());
        return status;
    }

private:
    std::string m_mnt;
    std::optional<ovlcore::fuse::session> m_session;
    std::thread m_loop;
    int m_loop_result = -1;
};

/// Processes reading a test mount: forked before the mount is made (so that they hold no
/// /dev/fuse descriptor) while the caller has no other thread, each waits for start() and then
/// exits with `body(index)`. Were the server to crash, its /dev/fuse descriptor, the only one,
/// closes, the connection ends and they fail; threads of the crashing process, or processes
/// holding a copy of that descriptor, would keep it alive instead, waiting on replies that never
/// come.
class reader_processes {
public:
    reader_processes() = default;
    reader_processes(const reader_processes&) = delete;
    reader_processes& operator=(const reader_processes&) = delete;
    /// Processes never started exit at once (their start pipe closes); all are waited for.
    ~reader_processes() {
        for (const int fd : m_start)
            if (fd >= 0) ::close(fd);
        for (const pid_t pid : m_children) ::waitpid(pid, nullptr, 0);
    }

    /// Forks `count` processes running `body` (int(int index)). Returns 0, or 1 (said on stderr).
    template <class Body>
    [[nodiscard]] int fork(int count, Body body) {
        if (::pipe(m_start) != 0) return fail("pipe failed");
        for (int p = 0; p < count; ++p) {
            const pid_t pid = ::fork();
            if (pid < 0) return fail("fork failed");
            if (pid == 0) {
                ::close(m_start[1]);
                char go = 0;
                if (::read(m_start[0], &go, 1) != 1) ::_exit(125);
                ::_exit(body(p));
            }
            m_children.push_back(pid);
        }
        ::close(std::exchange(m_start[0], -1));
        return 0;
    }

    /// Lets them all run; false if they could not be told.
    [[nodiscard]] bool start() {
        const std::vector<char> go(m_children.size());
        const auto size = static_cast<ssize_t>(go.size());
        const bool told = ::write(m_start[1], go.data(), go.size()) == size;
        ::close(std::exchange(m_start[1], -1));
        return told;
    }

    /// Waits for them all. Returns 0 if each exited with 0, else 1 (each failure said on stderr
    /// with its wait status).
    int wait() {
        int status = 0;
        for (const pid_t pid : std::exchange(m_children, {})) {
            int st = 0;
            if (::waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                status = fail("a reader process failed (wait status " + std::to_string(st) + ")");
        }
        return status;
    }

private:
    int m_start[2] = {-1, -1};
    std::vector<pid_t> m_children;
};

/// Makes the kernel forget its unused dentries and inodes (`drop_caches` 2: FORGETs reach the
/// server) every `period` while it exists (root only; best effort).
class cache_dropper {
public:
    explicit cache_dropper(std::chrono::microseconds period)
        : m_thread([this, period] {
              while (m_running.load()) {
                  std::ofstream("/proc/sys/vm/drop_caches") << "2\n";
                  std::this_thread::sleep_for(period);
              }
          }) {}
    cache_dropper(const cache_dropper&) = delete;
    cache_dropper& operator=(const cache_dropper&) = delete;
    ~cache_dropper() {
        m_running = false;
        m_thread.join();
    }

private:
    std::atomic<bool> m_running{true};
    std::thread m_thread;
};

} // namespace ovlcore::test
