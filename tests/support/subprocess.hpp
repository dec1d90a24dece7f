// SPDX-License-Identifier: MIT
// tests/support/subprocess.hpp: running a program from a test without a shell: fork + exec with
// its stdout captured through a pipe, sent to a file or inherited, its stderr sent to a file or
// inherited; waiting for it (exit status, wall time, rusage); and the EINTR-safe pipe I/O and
// wait that go with it (also used by kernel_mount.hpp's forked children). One runner for the
// kernel tests (image_stacks.cpp, deep_tree.cpp, fuse_conformance.cpp's ovl-fuse) and
// erofs_tree.hpp's mkfs.erofs; and open_fd_count(), for the tests that no descriptor leaks. Test
// support only.
#pragma once

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace ovlcore::test {

/// How many descriptors this process holds (the entries of /proc/self/fd, the listing's own
/// included).
inline std::size_t open_fd_count() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
    return n;
}

/// Writes all of `data` to `fd`, retrying on EINTR; stops silently on any other error (the
/// reader then sees a short reply).
inline void write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
}

/// Everything readable from `fd` until end of file (or an error other than EINTR).
inline std::string read_all(int fd) {
    std::string out;
    char buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

/// wait4(2) on `pid`, retrying on EINTR; the wait status. `usage`, when given, gets the child's
/// resource usage.
inline int wait_child(pid_t pid, struct rusage* usage = nullptr) {
    int status = 0;
    while (::wait4(pid, &status, 0, usage) < 0 && errno == EINTR) {}
    return status;
}

/// Where a spawned program's output goes.
struct spawn_options {
    bool capture_stdout = false; ///< a pipe, read from subprocess::out
    std::string stdout_file{};   ///< when not captured and not empty: stdout to this file
    std::string stderr_file{};   ///< when not empty: stderr to this file (e.g. "/dev/null")
    bool search_path = false;    ///< execvp (argv[0] looked up in $PATH) instead of execv
    std::string stdin_file{};    ///< when not empty: stdin from this file (e.g. "/dev/null")
    std::string cwd{};           ///< when not empty: the working directory
    std::string exe{};           ///< when not empty: the file executed, argv[0] only its name
};

/// A spawned program.
struct subprocess {
    pid_t pid = -1;
    int out = -1; ///< the read end of its stdout when captured, else -1
    std::chrono::steady_clock::time_point start;
};

/// Starts `argv` (no shell) as `opt` says; stdin is inherited unless `opt` names a file. Output
/// files named in `opt` are created or truncated (mode 0644). The child exits 126 when a file
/// named in `opt` cannot be opened or the working directory cannot be entered, 127 when the
/// program cannot be executed. Throws std::system_error when the pipe or the fork fails.
inline subprocess spawn(const std::vector<std::string>& argv, const spawn_options& opt = {}) {
    std::vector<char*> args; // built before fork: the child only calls async-signal-safe code
    args.reserve(argv.size() + 1);
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int fds[2] = {-1, -1};
    if (opt.capture_stdout && ::pipe2(fds, O_CLOEXEC) != 0)
        throw std::system_error(errno, std::generic_category(), "pipe");
    std::fflush(nullptr);
    subprocess p;
    p.start = std::chrono::steady_clock::now();
    p.pid = ::fork();
    if (p.pid < 0) {
        const int err = errno;
        if (opt.capture_stdout) {
            ::close(fds[0]);
            ::close(fds[1]);
        }
        throw std::system_error(err, std::generic_category(), "fork");
    }
    if (p.pid == 0) {
        const auto redirect = [](const std::string& file, int to, int flags) {
            const int fd = ::open(file.c_str(), flags | O_CLOEXEC, 0644);
            if (fd < 0 || ::dup2(fd, to) < 0) ::_exit(126);
        };
        constexpr int output = O_WRONLY | O_CREAT | O_TRUNC;
        if (!opt.stdin_file.empty()) redirect(opt.stdin_file, 0, O_RDONLY);
        if (opt.capture_stdout)
            ::dup2(fds[1], 1);
        else if (!opt.stdout_file.empty())
            redirect(opt.stdout_file, 1, output);
        if (!opt.stderr_file.empty()) redirect(opt.stderr_file, 2, output);
        if (!opt.cwd.empty() && ::chdir(opt.cwd.c_str()) != 0) ::_exit(126);
        const char* file = opt.exe.empty() ? args[0] : opt.exe.c_str();
        if (opt.search_path)
            ::execvp(file, args.data());
        else
            ::execv(file, args.data());
        ::_exit(127);
    }
    if (opt.capture_stdout) {
        ::close(fds[1]);
        p.out = fds[0];
    }
    return p;
}

/// How a spawned program ended.
struct exit_info {
    int status = 0;    ///< the wait status
    double wall_s = 0; ///< from spawn to the end of the wait
    struct rusage usage {};

    /// The exit code; 128 + the signal when a signal ended it.
    [[nodiscard]] int code() const noexcept {
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    /// Exited normally with status 0.
    [[nodiscard]] bool ok() const noexcept { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }
};

/// Closes `p`'s stdout pipe (when captured and still open) and waits for it.
inline exit_info finish(subprocess& p) {
    if (p.out >= 0) {
        ::close(p.out);
        p.out = -1;
    }
    exit_info e;
    e.status = wait_child(p.pid, &e.usage);
    e.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - p.start).count();
    return e;
}

/// What run() saw: the captured stdout ("" when not captured) and how the program ended.
struct run_result {
    std::string out;
    exit_info exit;
};

/// Runs `argv` to its end (spawn, read all of its stdout when captured, finish).
inline run_result run(const std::vector<std::string>& argv, const spawn_options& opt = {}) {
    subprocess p = spawn(argv, opt);
    run_result r;
    if (p.out >= 0) r.out = read_all(p.out);
    r.exit = finish(p);
    return r;
}

} // namespace ovlcore::test
