// SPDX-License-Identifier: MIT
// Catch2 main of ovlcore_kernel_tests, the differential tests against the running kernel's
// overlayfs. Before running any test it checks that this process can mount overlays: effective
// uid 0, overlay filesystem available, and unshare(CLONE_NEWNS) working (checked by mounting a
// tiny read-only overlay inside a private mount namespace of a forked child). If not, it prints a
// loud banner and exits 77, which ctest reports as Skipped (SKIP_RETURN_CODE 77).
//
// Listing (--list-test-names-only, used by catch_discover_tests at build time), --help and the
// other list options never check the environment. `--ovlcore-check-environment` only checks
// (0 = usable, 77 = not). OVLCORE_REQUIRE_KERNEL_TESTS=1 turns the skip into a failure (exit 1).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/kernel_mount.hpp"

namespace {
using ovlcore::test::skip_exit_code;

bool overlay_in_proc_filesystems() {
    std::ifstream in("/proc/filesystems");
    std::string line;
    while (std::getline(in, line)) {
        const auto tab = line.rfind('\t');
        if (std::string_view(line).substr(tab == std::string::npos ? 0 : tab + 1) == "overlay")
            return true;
    }
    return false;
}

std::string errno_text(const char* what, int err) {
    return std::string(what) + ": " + std::strerror(err);
}

// In a forked child: private mount namespace, then mount (and unmount) a read-only overlay of two
// empty lowers. Returns the reason it failed, or nullopt.
std::optional<std::string> try_overlay_mount_in_namespace() {
    const char* tmp = std::getenv("TMPDIR");
    std::string root = std::string(tmp && *tmp ? tmp : "/tmp") + "/ovlcore-kernel-check-XXXXXX";
    if (::mkdtemp(root.data()) == nullptr) return errno_text("mkdtemp", errno);
    const std::string l1 = root + "/l1", l2 = root + "/l2", mnt = root + "/mnt";
    for (const std::string* dir : {&l1, &l2, &mnt}) ::mkdir(dir->c_str(), 0755);

    int fds[2];
    if (::pipe(fds) != 0) return errno_text("pipe", errno);
    const pid_t pid = ::fork();
    if (pid < 0) return errno_text("fork", errno);
    if (pid == 0) {
        ::close(fds[0]);
        auto fail = [&](const char* what) {
            const std::string msg = errno_text(what, errno);
            [[maybe_unused]] auto n = ::write(fds[1], msg.data(), msg.size());
            ::_exit(1);
        };
        if (const auto failed = ovlcore::test::enter_private_mount_namespace())
            fail(failed->data()); // a string literal: NUL-terminated
        const std::string opts = "lowerdir=" + l1 + ":" + l2;
        if (::mount("overlay", mnt.c_str(), "overlay", MS_RDONLY, opts.c_str()) != 0)
            fail("mount -t overlay");
        if (::umount2(mnt.c_str(), MNT_DETACH) != 0) fail("umount overlay");
        ::_exit(0);
    }
    ::close(fds[1]);
    std::string reason;
    char buf[256];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) reason.append(buf, std::size_t(n));
    ::close(fds[0]);
    const int status = ovlcore::test::wait_child(pid);
    for (const std::string* dir : std::initializer_list<const std::string*>{&mnt, &l2, &l1, &root})
        ::rmdir(dir->c_str());
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return std::nullopt;
    if (reason.empty()) reason = "check child died (status " + std::to_string(status) + ")";
    return reason;
}

// nullopt when kernel tests can run here, else why not.
std::optional<std::string> kernel_environment_problem() {
    if (const auto euid = ::geteuid(); euid != 0)
        return "not running as root (euid " + std::to_string(euid) + ")";
    const bool listed = overlay_in_proc_filesystems();
    if (auto problem = try_overlay_mount_in_namespace()) {
        if (!listed)
            return "overlay is not in /proc/filesystems and mounting one failed: " + *problem;
        return *problem;
    }
    return std::nullopt;
}

void print_skip_banner(const std::string& reason) {
    const std::string rule(100, '=');
    std::fprintf(
        stderr,
        "%s\nSKIPPED: kernel-differential tests need root, overlayfs and mount namespaces: "
        "%s\n%s\n",
        rule.c_str(), reason.c_str(), rule.c_str());
}

int environment_verdict(const std::optional<std::string>& problem) {
    if (!problem) return 0;
    print_skip_banner(*problem);
    const char* require = std::getenv("OVLCORE_REQUIRE_KERNEL_TESTS");
    if (require && std::string_view(require) == "1") {
        std::fputs("OVLCORE_REQUIRE_KERNEL_TESTS=1: treating the skip as a failure\n", stderr);
        return 1;
    }
    return skip_exit_code;
}

} // namespace

int main(int argc, char* argv[]) {
    std::vector<char*> args;
    bool check_only = false;
    for (int i = 0; i < argc; ++i) {
        if (i > 0 && std::string_view(argv[i]) == "--ovlcore-check-environment")
            check_only = true;
        else
            args.push_back(argv[i]);
    }
    if (check_only) {
        const int rc = environment_verdict(kernel_environment_problem());
        if (rc == 0) std::puts("kernel tests can run here: root, overlayfs, mount namespaces");
        return rc;
    }

    Catch::Session session;
    if (const int rc = session.applyCommandLine(static_cast<int>(args.size()), args.data());
        rc != 0)
        return rc;
    const auto& config = session.configData();
    const bool listing = config.showHelp || config.listTests || config.listTestNamesOnly ||
                         config.listTags || config.listReporters || config.libIdentify;
    if (!listing) {
        if (const int rc = environment_verdict(kernel_environment_problem()); rc != 0) return rc;
    }
    return session.run();
}
