// SPDX-License-Identifier: MIT
// tests/support/kernel_mount.hpp: the plumbing of the kernel tests (tests/kernel/*.cpp) that mount
// in a forked child's private mount namespace and send what they saw back through a pipe: the
// forked child's output (pipe I/O and wait: subprocess.hpp), entering the namespace, and the
// kernel's canonical dump (dump-format.md) of one overlay mount. Test support only; never mounts in
// the caller's namespace.
#pragma once

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <ovlcore/backend/module_defaults_sysfs.hpp>
#include <ovlcore/backend/posix_tree.hpp>
#include <ovlcore/dump.hpp>

#include "subprocess.hpp"

namespace ovlcore::test {

/// The exit status that ctest reports as Skipped (SKIP_RETURN_CODE 77 in tests/CMakeLists.txt).
inline constexpr int skip_exit_code = 77;
/// statfs's f_type of a FUSE mount.
inline constexpr long fuse_super_magic = 0x65735546;

/// This machine's overlay module parameters (§1.4), read once; the built-in defaults if unreadable.
inline const module_defaults& machine_defaults() {
    static const module_defaults d = read_module_defaults().value_or(module_defaults{});
    return d;
}

// The tools the kernel tests run, as built with them (compile definitions, tests/CMakeLists.txt);
// empty where the build has none.
#ifdef OVLCORE_OVL_TREE_PATH
inline constexpr std::string_view built_ovl_tree = OVLCORE_OVL_TREE_PATH;
#else
inline constexpr std::string_view built_ovl_tree;
#endif
#ifdef OVLCORE_OVL_LINT_PATH
inline constexpr std::string_view built_ovl_lint = OVLCORE_OVL_LINT_PATH;
#else
inline constexpr std::string_view built_ovl_lint;
#endif
#ifdef OVLCORE_OVL_FUSE_PATH
inline constexpr std::string_view built_ovl_fuse = OVLCORE_OVL_FUSE_PATH;
#else
inline constexpr std::string_view built_ovl_fuse;
#endif

/// What a forked child sent back, and its wait status.
struct child_output {
    std::string out;
    int status = 0;
};

/// Runs `body` in a forked child under alarm(`alarm_seconds`) (never hang the suite) and returns
/// the string it returned, sent back through a pipe, with the child's wait status. `body` may
/// end the child early with ::_exit(code); an exception escaping it ends the child with status
/// 5. Throws std::runtime_error when the pipe or the fork fails.
inline child_output output_of_child(unsigned alarm_seconds,
                                    const std::function<std::string()>& body) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        ::close(fds[0]);
        ::alarm(alarm_seconds);
        std::string out;
        try {
            out = body();
        } catch (...) {
            ::_exit(5);
        }
        write_all(fds[1], out);
        ::_exit(0);
    }
    ::close(fds[1]);
    child_output result{read_all(fds[0])};
    ::close(fds[0]);
    result.status = wait_child(pid);
    return result;
}

/// For a forked child: unshare(CLONE_NEWNS) and make every mount private, so that what it mounts
/// afterwards is invisible outside and dies with it. nullopt on success, else the call that
/// failed ("unshare(CLONE_NEWNS)" or "mount(/, MS_REC|MS_PRIVATE)"), with errno left as it set.
inline std::optional<std::string_view> enter_private_mount_namespace() {
    if (::unshare(CLONE_NEWNS) != 0) return "unshare(CLONE_NEWNS)";
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        return "mount(/, MS_REC|MS_PRIVATE)";
    return std::nullopt;
}

/// What the dump child appends after the JSON Lines of the mount, computed inside the namespace
/// while the mount is live (e.g. the xattrs of fuse_conformance.cpp); empty for nothing.
using dump_trailer =
    std::function<std::string(const std::filesystem::path& mnt, const std::vector<dump_record>&)>;

/// The kernel's dump of the stack whose layers are under `layers` with mount(2) `options`: in a
/// forked child (60 s alarm) with `layers` as working directory (options resolve from there),
/// enter a private mount namespace, mount the overlay on `mnt`, dump it with mounted_tree and
/// `probes`, append `trailer(mnt, records)`, send it back. A refused mount gives the one-line
/// mount_error_json naming mount(2)'s errno. Throws std::runtime_error when the child misbehaves.
inline std::string kernel_dump_in_child(const std::string& options,
                                        const std::filesystem::path& layers,
                                        const std::filesystem::path& mnt,
                                        const std::vector<std::string>& probes,
                                        const dump_trailer& trailer = {}) {
    auto child = output_of_child(60, [&]() -> std::string {
        if (::chdir(layers.c_str()) != 0) ::_exit(3);
        if (enter_private_mount_namespace()) ::_exit(4);
        if (::mount("overlay", mnt.c_str(), "overlay", 0, options.c_str()) != 0) {
            const int err = errno;
            return mount_error_json(static_cast<std::errc>(err), "mount(2)") + "\n";
        }
        auto tree = mounted_tree::open_root(mnt.string());
        if (!tree) ::_exit(6);
        const auto records = dump_records(*tree, std::span<const std::string>(probes));
        return to_jsonl(records) + (trailer ? trailer(mnt, records) : std::string());
    });
    if (!WIFEXITED(child.status) || WEXITSTATUS(child.status) != 0)
        throw std::runtime_error("kernel dump child failed (status " +
                                 std::to_string(child.status) + ")");
    return std::move(child.out);
}

/// The value of the environment variable `name` as a number, or `fallback` when unset or empty.
inline long env_long(const char* name, long fallback) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') return fallback;
    return std::strtol(v, nullptr, 10);
}

} // namespace ovlcore::test
