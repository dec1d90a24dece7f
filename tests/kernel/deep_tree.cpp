// SPDX-License-Identifier: MIT
// Depth (issue 11): a layer stack 50,000 directories deep through every tool equals the kernel
// overlay's walk. Two lowers and an upper hold a chain of 1-character directories; at a few depths
// they merge (§8), hide a lower file with a whiteout (§3) and make a dir opaque (§3), and the
// bottom holds a file and a symlink. Everything is created with *at() calls, so no path is ever
// longer than a name. Spec: dump-format.md, §3, §5, §8, §9.
//
// In a forked child's private mount namespace the layers are built on a tmpfs (so that they die
// with the namespace: deleting a 50,000-level chain from ext4 takes a minute), the stack is
// mounted by the kernel (read-only) and, for the second case, by ovl-fuse; then the canonical
// dumps (dump-format.md) of
//   `ovl-tree -o OPTIONS --format=jsonl`           (ovlcore, nothing mounted),
//   `ovl-tree --walk KERNEL_MOUNT --format=jsonl`  (the kernel overlay),
//   `ovl-tree --walk FUSE_MOUNT --format=jsonl`    (ovl-fuse, second case)
// are compared byte for byte as they stream (the jsonl is quadratic in depth, about 2.5 GB per
// dump at 50,000 levels, so nothing is stored), and `ovl-lint -o OPTIONS` must exit 0 having
// looked up every path. Wall time, CPU time and peak RSS of every tool are printed.
//
// Knob: OVLCORE_DEEP_TREE_DEPTH (default 50000; scripts/test.sh's asan lane runs 5000). The RSS
// bound is checked only in builds without a sanitizer: ASan's shadow memory and quarantine are
// not the tools' memory (a sanitized ovl-tree peaks at 1.2 GB at 50,000 levels). Without root or overlayfs the executable exits
// 77 (kernel/main.cpp); without a usable /dev/fuse or ovl-fuse, the ovl-fuse case prints a SKIPPED
// banner and exits 77 (ctest runs each case alone: Skipped).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "support/kernel_mount.hpp"
#include "support/temp_dir.hpp"

namespace {
using ovlcore::test::built_ovl_fuse;
using ovlcore::test::built_ovl_lint;
using ovlcore::test::built_ovl_tree;
using ovlcore::test::fuse_super_magic;
using ovlcore::test::skip_exit_code;

namespace fs = std::filesystem;
using ovlcore::test::env_long;
using ovlcore::test::read_all;
using ovlcore::test::write_all;

/// A tool's path: the build's (compile definition), else the environment variable
/// OVLCORE_OVL_TREE / OVLCORE_OVL_LINT / OVLCORE_OVL_FUSE, else next to ovl-tree.
std::string tool(std::string_view name) {
    const bool lint = name == "ovl-lint", tree = name == "ovl-tree";
    const std::string_view built = tree ? built_ovl_tree : lint ? built_ovl_lint : built_ovl_fuse;
    if (!built.empty()) return std::string(built);
    const char* env = std::getenv(tree   ? "OVLCORE_OVL_TREE"
                                  : lint ? "OVLCORE_OVL_LINT"
                                         : "OVLCORE_OVL_FUSE");
    if (env && *env) return env;
    return (fs::path(built_ovl_tree).parent_path() / name).string();
}

// --- the layers, built with *at() calls ------------------------------------------------------

[[noreturn]] void fail_errno(const std::string& what) {
    throw std::runtime_error(what + ": " + std::strerror(errno));
}

int open_dir_at(int dir, const char* name) {
    const int fd = ::openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) fail_errno(std::string("openat ") + name);
    return fd;
}

void make_dir_at(int dir, const char* name) {
    if (::mkdirat(dir, name, 0755) != 0) fail_errno(std::string("mkdirat ") + name);
}

void make_file_at(int dir, const char* name, std::string_view content) {
    const int fd = ::openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) fail_errno(std::string("openat ") + name);
    write_all(fd, content);
    ::close(fd);
}

/// Calls `at(level, dir_fd)` for the layer root (level 0) and each directory of a chain of
/// `levels` directories named "d" below it, creating the chain as it goes; one descriptor open.
template <class At>
void build_chain(const fs::path& layer, long levels, const At& at) {
    fs::create_directories(layer);
    int fd = ::open(layer.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) fail_errno("open " + layer.string());
    for (long level = 0;; ++level) {
        at(level, fd);
        if (level == levels) break;
        make_dir_at(fd, "d");
        const int next = open_dir_at(fd, "d");
        ::close(fd);
        fd = next;
    }
    ::close(fd);
}

/// The stack of the test under `root` (lowers l1:l2, upper up, workdir work): its mount options
/// and the number of paths the merged tree has.
struct deep_stack {
    std::string options;
    long paths = 0;
};

/// The levels where the layers merge, white out and make a dir opaque.
std::vector<long> marks_of(long depth) { return {1, depth / 2, depth - 1}; }

deep_stack describe_stack(const fs::path& root, long depth) {
    deep_stack out;
    out.options = "lowerdir=" + (root / "l1").string() + ":" + (root / "l2").string() +
                  ",upperdir=" + (root / "up").string() + ",workdir=" + (root / "work").string();
    // "/", the chain, at each mark m2 + o + o/u (+ m1 where l1 reaches), at the bottom f, s, g.
    const auto marks = marks_of(depth);
    out.paths = 1 + depth + 3 * static_cast<long>(marks.size()) + 3;
    for (const long m : marks)
        if (m <= depth / 2 + 1) ++out.paths;
    return out;
}

/// Creates the layers of describe_stack(root, depth) under `root`.
void build_stack(const fs::path& root, long depth) {
    const long half = depth / 2;
    const std::vector<long> marks = marks_of(depth);
    const auto marked = [&](long level) {
        return std::find(marks.begin(), marks.end(), level) != marks.end();
    };
    // l2, the bottom lower: the whole chain; at the marks a file to white out, a dir that the
    // upper makes opaque, and a file that merges; at the bottom a file and a symlink.
    build_chain(root / "l2", depth, [&](long level, int fd) {
        if (marked(level)) {
            make_file_at(fd, "w", "whited out\n");
            make_dir_at(fd, "o");
            const int o = open_dir_at(fd, "o");
            make_file_at(o, "i", "hidden by the opaque upper dir\n");
            ::close(o);
            make_file_at(fd, "m2", "from l2 at " + std::to_string(level) + "\n");
        }
        if (level == depth) {
            make_file_at(fd, "f", "the bottom, from l2\n");
            if (::symlinkat("f", fd, "s") != 0) fail_errno("symlinkat s");
        }
    });
    // l1, the upper lower: the chain down to half + 1 only (merged with l2's above that).
    build_chain(root / "l1", half + 1, [&](long level, int fd) {
        if (marked(level)) make_file_at(fd, "m1", "from l1 at " + std::to_string(level) + "\n");
    });
    // up: the whole chain; at the marks a whiteout of "w" and an opaque "o" with its own file.
    build_chain(root / "up", depth, [&](long level, int fd) {
        if (marked(level)) {
            if (::mknodat(fd, "w", S_IFCHR, ::makedev(0, 0)) != 0) fail_errno("mknodat w");
            make_dir_at(fd, "o");
            const int o = open_dir_at(fd, "o");
            if (::fsetxattr(o, "trusted.overlay.opaque", "y", 1, 0) != 0)
                fail_errno("fsetxattr opaque");
            make_file_at(o, "u", "upper\n");
            ::close(o);
        }
        if (level == depth) make_file_at(fd, "g", "the bottom, from the upper\n");
    });
    fs::create_directories(root / "work");
}

// --- running the tools (in the mount child) ----------------------------------------------------

using process = ovlcore::test::subprocess;

/// Starts `argv` (subprocess.hpp): stdout through a pipe when `capture`, stderr to `stderr_file`
/// when given.
process spawn(const std::vector<std::string>& argv, bool capture, const char* stderr_file) {
    return ovlcore::test::spawn(
        argv, {.capture_stdout = capture, .stderr_file = stderr_file ? stderr_file : ""});
}

/// Waits for `p`; "status=N wall_s=... cpu_s=... rss_mb=..." for the report.
std::string wait_report(process& p) {
    const ovlcore::test::exit_info e = ovlcore::test::finish(p);
    const struct rusage& ru = e.usage;
    const double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                       static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    char buf[160];
    std::snprintf(buf, sizeof buf, "status=%d wall_s=%.1f cpu_s=%.1f rss_mb=%.1f", e.code(),
                  e.wall_s, cpu, static_cast<double>(ru.ru_maxrss) / 1024.0);
    return buf;
}

/// Reads up to `n` bytes (less only at end of file).
std::size_t read_up_to(int fd, char* buf, std::size_t n) {
    std::size_t got = 0;
    while (got < n) {
        const ssize_t r = ::read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += static_cast<std::size_t>(r);
    }
    return got;
}

/// Compares the stdout streams of `ps` byte for byte as they come: "equal bytes=B lines=L" or
/// "different at line L (byte B): <stream>: <bytes around>...".
std::string compare_streams(std::vector<process>& ps, const std::vector<std::string>& names) {
    constexpr std::size_t chunk = std::size_t{1} << 20;
    std::vector<std::vector<char>> bufs(ps.size(), std::vector<char>(chunk));
    std::uint64_t bytes = 0, lines = 0;
    for (;;) {
        const std::size_t n = read_up_to(ps[0].out, bufs[0].data(), chunk);
        for (std::size_t i = 1; i < ps.size(); ++i) {
            const std::size_t m = read_up_to(ps[i].out, bufs[i].data(), n == 0 ? 1 : n);
            const std::size_t same = static_cast<std::size_t>(
                std::mismatch(bufs[0].begin(), bufs[0].begin() + static_cast<std::ptrdiff_t>(n),
                              bufs[i].begin(), bufs[i].begin() + static_cast<std::ptrdiff_t>(m))
                    .first -
                bufs[0].begin());
            if (m != n || same != n) {
                const std::size_t at = std::min(same, std::min(n, m));
                const std::uint64_t line =
                    lines +
                    static_cast<std::uint64_t>(std::count(
                        bufs[0].begin(), bufs[0].begin() + static_cast<std::ptrdiff_t>(at), '\n'));
                const auto around = [&](const std::vector<char>& b, std::size_t len) {
                    const std::size_t from = at > 120 ? at - 120 : 0;
                    const std::size_t to = std::min(len, at + 120);
                    return std::string(b.data() + from, to - from);
                };
                return "different at line " + std::to_string(line + 1) + " (byte " +
                       std::to_string(bytes + at) + "): " + names[0] + ": ..." +
                       around(bufs[0], n) + "... " + names[i] + ": ..." + around(bufs[i], m) +
                       (m < n ? " (ended)" : "") + "...";
            }
        }
        if (n == 0) break;
        bytes += n;
        lines += static_cast<std::uint64_t>(
            std::count(bufs[0].begin(), bufs[0].begin() + static_cast<std::ptrdiff_t>(n), '\n'));
    }
    return "equal bytes=" + std::to_string(bytes) + " lines=" + std::to_string(lines);
}

/// Starts ovl-fuse on `mnt` and waits for the mount; "" or what went wrong.
std::string start_fuse(process& server, const std::string& options, const fs::path& mnt,
                       const fs::path& stderr_file) {
    server = spawn({tool("ovl-fuse"), "-f", "--module-defaults=stock", "-o", options, mnt.string()},
                   false, stderr_file.c_str());
    for (int waited = 0; waited < 20000; waited += 5) {
        int status = 0;
        if (::waitpid(server.pid, &status, WNOHANG) == server.pid)
            return "ovl-fuse exited with status " + std::to_string(status);
        struct statfs sf {};
        if (::statfs(mnt.c_str(), &sf) == 0 && static_cast<long>(sf.f_type) == fuse_super_magic)
            return {};
        ::usleep(5000);
    }
    ::kill(server.pid, SIGKILL);
    return "the ovl-fuse mount did not appear within 20 s";
}

/// The report of one mount child: "key value" lines.
std::map<std::string, std::string> parse_report(const std::string& text) {
    std::map<std::string, std::string> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        const auto sp = line.find(' ');
        out[line.substr(0, sp)] = sp == std::string::npos ? "" : line.substr(sp + 1);
    }
    return out;
}

/// Runs `body(report)` in a forked child inside a private mount namespace, where a tmpfs on
/// `root` holds the layers of describe_stack(root, depth) (built there, timed) and the kernel has
/// mounted them read-only on root/kmnt; returns its report. Everything dies with the namespace
/// (a 50,000-level chain takes a minute to delete from a disk file system).
template <class Body>
std::map<std::string, std::string> in_mount_child(const fs::path& root, long depth,
                                                  const Body& body) {
    // alarm: never hang the suite (ctest TIMEOUT is 600).
    const auto child = ovlcore::test::output_of_child(580, [&] {
        std::string report;
        try {
            if (const auto failed = ovlcore::test::enter_private_mount_namespace())
                throw std::runtime_error(std::string(*failed) + " failed");
            if (::mount("tmpfs", root.c_str(), "tmpfs", 0, "mode=0755") != 0)
                fail_errno("mount -t tmpfs");
            const auto t0 = std::chrono::steady_clock::now();
            build_stack(root, depth);
            char built[64];
            std::snprintf(
                built, sizeof built, "build_s %.1f\n",
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
            report += built;
            fs::create_directories(root / "kmnt");
            fs::create_directories(root / "fmnt");
            const std::string options = describe_stack(root, depth).options;
            if (::mount("overlay", (root / "kmnt").c_str(), "overlay", MS_RDONLY,
                        options.c_str()) != 0)
                fail_errno("mount -t overlay");
            body(report, options);
        } catch (const std::exception& ex) {
            report += std::string("problem ") + ex.what() + "\n";
        }
        return report;
    });
    return parse_report(child.out);
}

std::string ovl_fuse_problem() {
    const std::string exe = tool("ovl-fuse");
    if (::access(exe.c_str(), X_OK) != 0) return "ovl-fuse not found (" + exe + ")";
    const int fd = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
    if (fd < 0) return std::string("/dev/fuse is not usable: ") + std::strerror(errno);
    ::close(fd);
    return {};
}

/// One case's depth, temporary directory (the tmpfs mount point) and expected stack.
struct deep_fixture {
    long depth = env_long("OVLCORE_DEEP_TREE_DEPTH", 50000);
    ovlcore::test::temp_dir tmp{"ovlcore-deep-"};
    deep_stack stack = describe_stack(tmp.path(), depth);
};

/// The peak RSS in MB of a tool's report line ("status=0 ... rss_mb=12.5"); -1 if absent.
double rss_mb(const std::string& line) {
    const auto at = line.find("rss_mb=");
    return at == std::string::npos ? -1 : std::strtod(line.c_str() + at + 7, nullptr);
}

/// Streaming (dump.hpp) keeps a tool's memory proportional to depth times width, not to the
/// dump's size (about 2.5 GB at 50,000 levels): a generous bound that a collected dump breaks.
constexpr double max_rss_mb = 1024;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool sanitized = true;
#elif defined(__has_feature)
#  if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool sanitized = true;
#  else
constexpr bool sanitized = false;
#  endif
#else
constexpr bool sanitized = false;
#endif

/// Each of `tools`' peak RSS is under max_rss_mb; not checked, and said so, in sanitized builds.
void check_peak_rss(const std::map<std::string, std::string>& report,
                    std::initializer_list<const char*> tools) {
    if (sanitized) {
        WARN("peak RSS not checked: a sanitizer's shadow memory and quarantine dominate it");
        return;
    }
    for (const char* name : tools) {
        INFO(name << ": " << report.at(name));
        CHECK(rss_mb(report.at(name)) < max_rss_mb);
    }
}

void print_report(const char* title, const deep_fixture& fx,
                  const std::map<std::string, std::string>& report) {
    std::fprintf(stderr, "deep tree (%s): depth %ld, %ld paths\n", title, fx.depth, fx.stack.paths);
    for (const auto& [key, value] : report)
        std::fprintf(stderr, "  %-12s %s\n", key.c_str(), value.c_str());
}

} // namespace

TEST_CASE("deep tree: ovl-tree and ovl-lint on 50000 levels equal the kernel overlay's walk",
          "[deep]") {
    deep_fixture fx;
    const fs::path kmnt = fx.tmp / "kmnt";
    const auto report =
        in_mount_child(fx.tmp.path(), fx.depth, [&](std::string& out, const std::string& options) {
            std::vector<process> ps{
                spawn({tool("ovl-tree"), "-o", options, "--format=jsonl"}, true, nullptr),
                spawn({tool("ovl-tree"), "--walk", kmnt.string(), "--format=jsonl"}, true,
                      nullptr)};
            const std::string verdict = compare_streams(ps, {"ovl-tree -o", "kernel"});
            out += "compare " + verdict + "\n";
            if (!verdict.starts_with("equal "))
                for (auto& p : ps) ::kill(p.pid, SIGKILL); // the rest would never be read
            out += "ovl-tree-o " + wait_report(ps[0]) + "\n";
            out += "walk-kernel " + wait_report(ps[1]) + "\n";
            process lint = spawn({tool("ovl-lint"), "-o", options}, true, nullptr);
            std::string text = read_all(lint.out);
            out += "ovl-lint " + wait_report(lint) + "\n";
            while (!text.empty() && text.back() == '\n') text.pop_back();
            out += "lint-summary " + text.substr(text.rfind('\n') + 1) + "\n";
        });
    print_report("kernel", fx, report);
    REQUIRE(report.count("problem") == 0);
    const std::string expected_lines = "lines=" + std::to_string(fx.stack.paths);
    CHECK(report.at("compare").starts_with("equal "));
    CHECK(report.at("compare").ends_with(expected_lines));
    CHECK(report.at("ovl-tree-o").starts_with("status=0 "));
    CHECK(report.at("walk-kernel").starts_with("status=0 "));
    check_peak_rss(report, {"ovl-tree-o", "walk-kernel", "ovl-lint"});
    // Clean stack: exit 0, and every path looked up (the summary counts them).
    CHECK(report.at("ovl-lint").starts_with("status=0 "));
    CHECK(report.at("lint-summary").find(" in " + std::to_string(fx.stack.paths) + " paths") !=
          std::string::npos);
}

TEST_CASE("deep tree: ovl-fuse on 50000 levels equals the kernel overlay's walk", "[deep]") {
    if (const std::string problem = ovl_fuse_problem(); !problem.empty()) {
        const std::string rule(100, '=');
        std::fprintf(stderr,
                     "%s\nSKIPPED: the deep ovl-fuse test needs ovl-fuse and /dev/fuse: %s\n%s\n",
                     rule.c_str(), problem.c_str(), rule.c_str());
        std::fflush(nullptr);
        std::exit(skip_exit_code); // ctest runs each case alone: Skipped
    }
    deep_fixture fx;
    const fs::path kmnt = fx.tmp / "kmnt", fmnt = fx.tmp / "fmnt";
    const auto report =
        in_mount_child(fx.tmp.path(), fx.depth, [&](std::string& out, const std::string& options) {
            process server;
            if (const std::string failed =
                    start_fuse(server, options, fmnt, fx.tmp / "ovl-fuse.stderr");
                !failed.empty())
                throw std::runtime_error(failed);
            std::vector<process> ps{
                spawn({tool("ovl-tree"), "--walk", kmnt.string(), "--format=jsonl"}, true, nullptr),
                spawn({tool("ovl-tree"), "--walk", fmnt.string(), "--format=jsonl"}, true,
                      nullptr)};
            const std::string verdict = compare_streams(ps, {"kernel", "ovl-fuse"});
            out += "compare " + verdict + "\n";
            if (!verdict.starts_with("equal "))
                for (auto& p : ps) ::kill(p.pid, SIGKILL); // the rest would never be read
            out += "walk-kernel " + wait_report(ps[0]) + "\n";
            out += "walk-fuse " + wait_report(ps[1]) + "\n";
            ::kill(server.pid, SIGTERM);
            out += "ovl-fuse " + wait_report(server) + "\n";
        });
    print_report("ovl-fuse", fx, report);
    REQUIRE(report.count("problem") == 0);
    CHECK(report.at("compare").starts_with("equal "));
    CHECK(report.at("compare").ends_with("lines=" + std::to_string(fx.stack.paths)));
    CHECK(report.at("walk-kernel").starts_with("status=0 "));
    CHECK(report.at("walk-fuse").starts_with("status=0 "));
    check_peak_rss(report, {"walk-fuse"});
    CHECK(report.at("ovl-fuse").starts_with("status=0 ")); // SIGTERM: clean unmount, exit 0
}
