// SPDX-License-Identifier: MIT
// Differential test of make_layer_stack against mount(2) of the running kernel (spec §1): a few
// hundred option strings, hand-written and generated, each given to both over real directories;
// accept/reject and errno must agree. Runs in a forked child inside a private mount namespace.
// Environment: OVLCORE_DIFF_SEED, OVLCORE_DIFF_GENERATED (default 300 generated cases),
// OVLCORE_DIFF_VERBOSE (print every case and every kernel log line that differs).
#include <catch2/catch.hpp>

#include <ovlcore/backend/module_defaults_sysfs.hpp>
#include <ovlcore/backend/posix.hpp>
#include <ovlcore/layer_stack.hpp>

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "support/kernel_mount.hpp"

namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

// "{R}" stands for the absolute path of the case directory (the working directory of both mounts).
const std::vector<std::string> hand_written_cases = {
    // §1.1 basic shapes
    "lowerdir=A:B",
    "lowerdir=A",
    "lowerdir=A::C",
    "lowerdir=A:B::C::D",
    "lowerdir=A:B:C:D:E",
    "lowerdir=A,upperdir=U,workdir=W",
    "lowerdir=A:B,upperdir=U,workdir=W",
    "lowerdir={R}/A:{R}/B",
    "lowerdir=./A:B/",
    "lowerdir=A:B,upperdir={R}/U,workdir={R}/W",
    // §1.1 option values
    "foo",
    "lowerdir=A:B,foo",
    "foo,lowerdir=missing:B",
    "lowerdir=missing:B,foo",
    "userxattr=1",
    "lowerdir=A:B,userxattr=",
    "metacopy",
    "metacopy=",
    "metacopy=yes",
    "lowerdir=A:B,metacopy=on",
    "lowerdir=A:B,metacopy=off",
    "lowerdir=A:B,redirect_dir=bogus",
    "lowerdir=A:B,redirect_dir",
    "lowerdir=A:B,redirect_dir=ON",
    "lowerdir=A:B,index=on",
    "lowerdir=A:B,index=1",
    "lowerdir=A:B,nfs_export=on",
    "lowerdir=A:B,uuid=null",
    "lowerdir=A:B,uuid=on",
    "lowerdir=A:B,uuid=off",
    "lowerdir=A:B,uuid=auto",
    "lowerdir=A:B,uuid=x",
    "lowerdir=A:B,xino=on",
    "lowerdir=A:B,xino=auto",
    "lowerdir=A:B,xino=off",
    "lowerdir=A:B,xino=",
    "lowerdir=A:B,verity=on",
    "lowerdir=A:B,verity=require",
    "lowerdir=A:B,verity=off",
    "lowerdir=A:B,verity=maybe",
    "lowerdir=A:B,fsync=strict",
    "lowerdir=A:B,fsync=auto",
    "lowerdir=A:B,fsync=volatile",
    "lowerdir=A:B,fsync=ordered",
    "lowerdir=A:B,volatile",
    "lowerdir=A:B,volatile=on",
    "lowerdir=A:B,default_permissions",
    "lowerdir=A:B,default_permissions=1",
    "lowerdir=A:B,override_creds",
    "lowerdir=A:B,nooverride_creds",
    "lowerdir=A:B,override_creds=on",
    "lowerdir=A:B,nouserxattr",
    "lowerdir=A:B,noindex",
    "upperdir=",
    "upperdir",
    "lowerdir",
    "lowerdir=",
    "lowerdir+=",
    "datadir+",
    "workdir=",
    "=foo,lowerdir=A:B",
    ",,lowerdir=A:B,,",
    "lowerdir=A:B,=",
    "source=x,lowerdir=A:B",
    "source,lowerdir=A:B",
    "ro,lowerdir=A:B",
    "ro=5,lowerdir=A:B",
    "rw,sync,async,dirsync,lazytime,nolazytime,lowerdir=A:B",
    "silent,lowerdir=A:B",
    "LOWERDIR=A:B",
    "lowerdir=A:B,lowerdir=A:B",
    "",
    // §1.1 last one wins
    "lowerdir=A:A,lowerdir=B:C",
    "lowerdir=missing:A,lowerdir=A:B",
    "lowerdir=A,lowerdir=B",
    "lowerdir=A:B,upperdir=U,workdir=W,workdir=missing",
    "lowerdir=A:B,upperdir=missing,upperdir=U",
    "lowerdir=A:B,upperdir=U,workdir=W,upperdir=U2,workdir=W2",
    "workdir=missing,lowerdir=A:B",
    "lowerdir=A:B,workdir=W",
    "lowerdir=A:B,workdir=F",
    "lowerdir=A:B,workdir=ro/rW",
    "lowerdir=A:B,metacopy=on,metacopy=off,redirect_dir=nofollow",
    // §1.2 splitting and escaping
    "lowerdir=:A",
    "lowerdir=A:::B",
    "lowerdir=A::::B",
    "lowerdir=A:",
    "lowerdir=A::",
    "lowerdir=A:\\",
    "lowerdir=\\",
    "lowerdir=A\\",
    "lowerdir=A\\:B",
    "lowerdir=a\\:x:B",
    "lowerdir=b\\,y:B",
    "lowerdir=c\\\\z:B",
    "lowerdir=a\\:x:b\\,y",
    "lowerdir=A::B:C",
    "lowerdir=A::B:missing",
    "lowerdir=A::missing:C",
    "lowerdir=A::B::C:D",
    "lowerdir=\\A:\\B",
    "lowerdir=A:B,upperdir=U\\,x,workdir=W",
    "lowerdir=A:B,upperdir=\\U,workdir=\\W",
    "lowerdir=A:B,upperdir=\\,workdir=W",
    "lowerdir=d=e:A",
    "lowerdir=sp ace:A",
    "lowerdir+=a:x,lowerdir+=B",
    "lowerdir+=a\\:x,lowerdir+=B",
    "lowerdir+=c\\z,lowerdir+=B",
    "lowerdir+=c\\\\z,lowerdir+=B",
    "lowerdir+=A\\,lowerdir+=B",
    "lowerdir+=d=e,lowerdir+=A",
    // §1.2 lowerdir+ / datadir+ ordering
    "lowerdir+=A,lowerdir+=B",
    "lowerdir+=A,datadir+=C",
    "datadir+=C",
    "datadir+=C,datadir+=D",
    "datadir+=C,lowerdir+=A",
    "lowerdir+=A,datadir+=C,lowerdir+=B",
    "lowerdir+=A,lowerdir=B:C",
    "lowerdir+=A,lowerdir=",
    "lowerdir=A:B,lowerdir+=C",
    "lowerdir=A:B,datadir+=C",
    "lowerdir=,lowerdir+=A,lowerdir+=B",
    "lowerdir=A:B,lowerdir+=missing",
    "lowerdir=A:B,lowerdir+=F",
    "datadir+=C,lowerdir+=missing",
    "lowerdir=A::C,datadir+=D",
    "lowerdir+=A,lowerdir+=B,upperdir=U,workdir=W",
    "lowerdir+=A,upperdir=U,workdir=W",
    "datadir+=C,upperdir=U,workdir=W",
    "lowerdir+=A,datadir+=C,datadir+=D,upperdir=U,workdir=W",
    "lowerdir+={R}/A,datadir+={R}/C",
    "lowerdir+=LA,lowerdir+=A",
    // §1.3 per-path checks
    "lowerdir=A:missing",
    "lowerdir=A:F",
    "lowerdir=A:LF",
    "lowerdir=A:dang",
    "lowerdir=A:loop",
    "lowerdir=A:F/x",
    "lowerdir=A:LONGNAME",
    "lowerdir=A:B,upperdir=F,workdir=W",
    "lowerdir=A:B,upperdir=U,workdir=F",
    "lowerdir=A:B,upperdir=ro/rU,workdir=ro/rW",
    "lowerdir=A:B,upperdir=U,workdir=ro/rW",
    "lowerdir=A:B,upperdir=ovl/d,workdir=W",
    "lowerdir=A:B,upperdir=U,workdir=ovl/d",
    "lowerdir=ovl/d:A",
    "lowerdir=ro/rU:A",
    "lowerdir=ro/rU,upperdir=U,workdir=W",
    "lowerdir=A:B,upperdir=missing,workdir=missing",
    "lowerdir=A:B,upperdir=LU,workdir=W",
    "lowerdir=A:B,upperdir=dang,workdir=W",
    // §1.4 resolution
    "lowerdir=A:B,upperdir=U,workdir=W,metacopy=on,redirect_dir=off",
    "lowerdir=A:B,upperdir=U,workdir=W,metacopy=on,redirect_dir=nofollow",
    "lowerdir=A:B,upperdir=U,workdir=W,metacopy=on,redirect_dir=follow",
    "lowerdir=A:B,upperdir=U,workdir=W,metacopy=on,redirect_dir=on",
    "lowerdir=A:B,upperdir=U,workdir=W,redirect_dir=off,metacopy=on",
    "lowerdir=A:B,metacopy=on,redirect_dir=nofollow",
    "lowerdir=A:B,metacopy=on,redirect_dir=follow",
    "lowerdir=A:B,metacopy=on,redirect_dir=off",
    "lowerdir=A:B,nfs_export=on,redirect_dir=nofollow",
    "lowerdir=A:B,upperdir=U,workdir=W,nfs_export=on",
    "lowerdir=A:B,upperdir=U,workdir=W,nfs_export=on,index=off",
    "lowerdir=A:B,upperdir=U,workdir=W,index=off,nfs_export=on",
    "lowerdir=A:B,upperdir=U,workdir=W,nfs_export=on,metacopy=on",
    "lowerdir=A:B,upperdir=U,workdir=W,nfs_export=on,verity=on",
    "lowerdir=A:B,upperdir=U,workdir=W,nfs_export=on,index=on,metacopy=on",
    "lowerdir=A:B,upperdir=U,workdir=W,index=on",
    "lowerdir=A:B,upperdir=U,workdir=W,metacopy=on",
    "lowerdir=A:B,userxattr,redirect_dir=on",
    "lowerdir=A:B,userxattr,metacopy=on",
    "lowerdir=A:B,userxattr,metacopy=off",
    "lowerdir=A:B,userxattr,redirect_dir=follow",
    "lowerdir=A:B,userxattr,redirect_dir=nofollow",
    "lowerdir=A:B,userxattr,redirect_dir=off",
    "lowerdir=A:B,upperdir=U,workdir=W,userxattr,redirect_dir=follow",
    "lowerdir=A:B,upperdir=U,workdir=W,userxattr,redirect_dir=off",
    "lowerdir=A:B,userxattr,verity=on",
    "lowerdir=A:B,metacopy=off,verity=on",
    "lowerdir=A:B,upperdir=U,workdir=W,verity=require",
    "lowerdir=A:B,upperdir=U,workdir=W,verity=on,redirect_dir=nofollow",
    "lowerdir=A::C,metacopy=off",
    "lowerdir=A::C,userxattr",
    "lowerdir=A:B,upperdir=U,workdir=W,volatile",
    "lowerdir=A:B,upperdir=U,workdir=W,uuid=on",
    "lowerdir=A:B,upperdir=U,workdir=W,xino=on,uuid=null",
    // §1.5 superblock checks
    "lowerdir=A:A,upperdir=U",
    "upperdir=U,workdir=W",
    "lowerdir=U:B,upperdir=U,workdir=W",
    "lowerdir=A:B,upperdir=U,workdir=U",
    "lowerdir=A:B,upperdir=U,workdir=U/sub",
    "lowerdir=A:B,upperdir=W/sub,workdir=W",
    "lowerdir=A:B,upperdir=U,workdir=tm/W",
    "lowerdir=A:B,upperdir=tm/U,workdir=tm/W",
    "lowerdir=W:B,upperdir=U,workdir=W",
    "lowerdir=W/sub:B,upperdir=U,workdir=W",
    "lowerdir=U/sub:B,upperdir=U,workdir=W",
    "lowerdir=A:B,upperdir=A/sub,workdir=W",
    "lowerdir=A:B,upperdir=U,workdir=A/sub",
    "lowerdir=A/sub:A",
    "lowerdir=A:A/sub",
    "lowerdir=A:LA",
    "lowerdir=A:A:missing",
    "lowerdir=A:B:A",
    "lowerdir=A:B::A",
    "lowerdir=A::A/sub",
    "lowerdir=A/sub/deep:A",
    "lowerdir=A,upperdir=A,workdir=W",
    "lowerdir=A,upperdir=LA,workdir=W",
    "lowerdir=tm/x:A",
    "lowerdir=tm/x:.",
    "lowerdir=.:A",
    "lowerdir=A:B,upperdir=U,workdir=W2,workdir=U",
    "lowerdir=A,upperdir=U,workdir=W,lowerdir=",
    "lowerdir+=A,lowerdir+=A",
    "lowerdir=A/sub:A:B:B",
    "lowerdir=A:B:B:A/sub",
    "lowerdir=A,upperdir=U,metacopy=on,redirect_dir=nofollow",
    "lowerdir+=A,datadir+=A/sub",
    "lowerdir=W:A,upperdir=U",
    "lowerdir=missing,upperdir=U",
};

// Cases around the 4095-byte mount(2) data limit and the 500-layer limit.
std::vector<std::string> limit_cases() {
    std::vector<std::string> out;
    // "lowerdir=A////...:B" of exactly `size` bytes, then ",foo": cut at 4095 bytes by mount(2).
    for (std::size_t size = 4088; size <= 4096; ++size) {
        const std::size_t slashes = size - std::string_view("lowerdir=A:B").size();
        out.push_back("lowerdir=A" + std::string(slashes, '/') + ":B,foo");
    }
    const auto repeat = [](const std::string& element, std::size_t n) {
        std::string v = "lowerdir=" + element;
        for (std::size_t i = 1; i < n; ++i) v += ":" + element;
        return v;
    };
    out.push_back(repeat("A", 500));
    out.push_back(repeat("A", 501));
    out.push_back(repeat("missing", 501));
    out.push_back(repeat("B", 499) + "::C");
    out.push_back(repeat("B", 500) + "::C");
    return out;
}

// Deterministic generated cases, built from fragments that exercise every rule.
std::vector<std::string> generated_cases(std::size_t count, unsigned seed) {
    std::mt19937 rng(seed);
    const auto pick = [&](const std::vector<std::string>& v) -> const std::string& {
        return v[std::uniform_int_distribution<std::size_t>(0, v.size() - 1)(rng)];
    };
    const auto chance = [&](int percent) {
        return std::uniform_int_distribution<int>(0, 99)(rng) < percent;
    };
    const std::vector<std::string> lower_elements = {
        "A",       "B",          "C",     "D",     "E",   "A",     "B",     "C",
        "A/sub",   "A/sub/deep", "U/sub", "W/sub", "LA",  "a\\:x", "b\\,y", "c\\\\z",
        "missing", "F",          "LF",    "dang",  "./B", "B/",    "{R}/C", "ovl/d",
        "tm/x",    "U",          "W",     "d=e",   "\\D", "ro/rU"};
    const std::vector<std::string> add_paths = {"A",     "B",     "C",       "D",    "E",
                                                "a:x",   "a\\:x", "missing", "F",    "LA",
                                                "{R}/E", "U",     "A/sub",   "c\\z", "ovl/d"};
    const std::vector<std::string> upper_paths = {
        "U",     "U",    "U", "U2",      "U/sub", "W",      "A/sub", "ro/rU",
        "ovl/d", "tm/U", "F", "missing", "LU",    "{R}/U2", "A",     "\\U"};
    const std::vector<std::string> work_paths = {"W",       "W",     "W",     "W2",     "W/sub",
                                                 "U",       "U/sub", "ro/rW", "tm/W",   "F",
                                                 "missing", "A/sub", "B",     "{R}/W2", "\\W"};
    const std::vector<std::string> feature_options = {"redirect_dir=on",
                                                      "redirect_dir=follow",
                                                      "redirect_dir=nofollow",
                                                      "redirect_dir=off",
                                                      "redirect_dir=bogus",
                                                      "index=on",
                                                      "index=off",
                                                      "metacopy=on",
                                                      "metacopy=off",
                                                      "metacopy",
                                                      "nfs_export=on",
                                                      "nfs_export=off",
                                                      "userxattr",
                                                      "userxattr=1",
                                                      "verity=on",
                                                      "verity=require",
                                                      "verity=off",
                                                      "xino=on",
                                                      "xino=auto",
                                                      "xino=off",
                                                      "uuid=on",
                                                      "uuid=off",
                                                      "uuid=null",
                                                      "uuid=auto",
                                                      "volatile",
                                                      "fsync=strict",
                                                      "fsync=auto",
                                                      "fsync=volatile",
                                                      "fsync=ordered",
                                                      "default_permissions",
                                                      "ro",
                                                      "rw",
                                                      "foo",
                                                      "=x",
                                                      "",
                                                      "override_creds",
                                                      "nooverride_creds",
                                                      "source=x",
                                                      "lowerdir=",
                                                      "lowerdir"};

    std::vector<std::string> out;
    while (out.size() < count) {
        std::vector<std::string> items;
        const int shape = std::uniform_int_distribution<int>(0, 9)(rng);
        if (shape <= 5) { // lowerdir=
            std::string v = pick(lower_elements);
            const int n = std::uniform_int_distribution<int>(0, 3)(rng);
            for (int i = 0; i < n; ++i) {
                const int sep = std::uniform_int_distribution<int>(0, 19)(rng);
                v += sep < 15 ? ":" : sep < 19 ? "::" : ":::";
                v += pick(lower_elements);
            }
            if (chance(4)) v += ":";
            if (chance(3)) v = ":" + v;
            items.push_back("lowerdir=" + v);
        } else if (shape <= 8) { // lowerdir+ / datadir+
            const int n = std::uniform_int_distribution<int>(1, 4)(rng);
            for (int i = 0; i < n; ++i)
                items.push_back((chance(70) ? "lowerdir+=" : "datadir+=") + pick(add_paths));
            if (chance(10)) items.push_back("lowerdir=" + pick(lower_elements) + ":B");
        }
        if (chance(55)) {
            items.push_back("upperdir=" + pick(upper_paths));
            if (chance(88)) items.push_back("workdir=" + pick(work_paths));
        } else if (chance(8)) {
            items.push_back("workdir=" + pick(work_paths));
        }
        const int features = std::uniform_int_distribution<int>(0, 3)(rng);
        for (int i = 0; i < features; ++i) items.push_back(pick(feature_options));
        if (chance(30)) std::shuffle(items.begin(), items.end(), rng);
        std::string joined;
        for (std::size_t i = 0; i < items.size(); ++i) joined += (i ? "," : "") + items[i];
        out.push_back(joined);
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// Directories
// ---------------------------------------------------------------------------------------------

void make_dir(const fs::path& p) { fs::create_directories(p); }

void write_file(const fs::path& p) {
    const int fd = ::open(p.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) ::close(fd);
}

// Mounts shared by all cases: a read-only bind mount, a lower-only overlay, a tmpfs.
bool make_fixed(const fs::path& fixed, std::string& why) {
    make_dir(fixed / "ro_src" / "rU");
    make_dir(fixed / "ro_src" / "rW");
    make_dir(fixed / "ro");
    make_dir(fixed / "ol1" / "d");
    make_dir(fixed / "ol2");
    make_dir(fixed / "ovl");
    make_dir(fixed / "tm");
    const auto fail = [&](const char* what) {
        why = std::string(what) + ": " + std::strerror(errno);
        return false;
    };
    if (::mount((fixed / "ro_src").c_str(), (fixed / "ro").c_str(), nullptr, MS_BIND, nullptr) != 0)
        return fail("bind mount");
    if (::mount(nullptr, (fixed / "ro").c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY,
                nullptr) != 0)
        return fail("read-only remount");
    const std::string ovl_opts =
        "lowerdir=" + (fixed / "ol1").string() + ":" + (fixed / "ol2").string();
    if (::mount("overlay", (fixed / "ovl").c_str(), "overlay", 0, ovl_opts.c_str()) != 0)
        return fail("overlay mount");
    if (::mount("tmpfs", (fixed / "tm").c_str(), "tmpfs", 0, "size=16m") != 0)
        return fail("tmpfs mount");
    return true;
}

// A fresh tree for one case (fresh upper/work dirs every time).
void make_case_tree(const fs::path& dir, const fs::path& fixed, std::size_t index) {
    for (const char* d : {"A/sub/deep", "B", "C", "D", "E", "U/sub", "U2", "W/sub", "W2", "a:x",
                          "b,y", "c\\z", "d=e", "sp ace"})
        make_dir(dir / d);
    write_file(dir / "F");
    fs::create_symlink("A", dir / "LA");
    fs::create_symlink("U", dir / "LU");
    fs::create_symlink("F", dir / "LF");
    fs::create_symlink("missing", dir / "dang");
    fs::create_symlink("loop", dir / "loop");
    fs::create_symlink(fixed / "ro", dir / "ro");
    fs::create_symlink(fixed / "ovl", dir / "ovl");
    const fs::path tm = fixed / "tm" / ("c" + std::to_string(index));
    for (const char* d : {"U", "W", "x"}) make_dir(tm / d);
    fs::create_symlink(tm, dir / "tm");
}

std::string expand(std::string options, const fs::path& case_dir) {
    for (std::size_t at; (at = options.find("{R}")) != std::string::npos;)
        options.replace(at, 3, case_dir.string());
    for (std::size_t at; (at = options.find("LONGNAME")) != std::string::npos;)
        options.replace(at, 8, std::string(300, 'n'));
    return options;
}

// The kernel log, read from /dev/kmsg: the last error-level line written since the last call.
// (Informational only: other processes may log at the same time.)
class kernel_log {
public:
    kernel_log() : m_fd(::open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC)) {
        if (m_fd >= 0) ::lseek(m_fd, 0, SEEK_END);
    }
    ~kernel_log() {
        if (m_fd >= 0) ::close(m_fd);
    }
    kernel_log(const kernel_log&) = delete;
    kernel_log& operator=(const kernel_log&) = delete;
    [[nodiscard]] bool usable() const { return m_fd >= 0; }

    std::string last_error() {
        std::string last;
        char buf[8192];
        for (;;) {
            const auto n = ::read(m_fd, buf, sizeof buf);
            if (n < 0 && errno == EPIPE) continue; // overwritten records: skip
            if (n <= 0) break;
            const std::string_view rec(buf, static_cast<std::size_t>(n));
            // "<prio>,<seq>,<time>,<flags>;<text>\n..."
            const auto semi = rec.find(';');
            if (semi == std::string_view::npos) continue;
            const int level = std::atoi(std::string(rec.substr(0, rec.find(','))).c_str()) & 7;
            if (level > 3) continue;
            std::string_view text = rec.substr(semi + 1);
            text = text.substr(0, text.find('\n'));
            last = std::string(text);
        }
        return last;
    }

private:
    int m_fd;
};

// /dev/kmsg escapes a backslash (and unprintable bytes) as \xNN.
std::string kmsg_escape(std::string_view s) {
    std::string out;
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '\\' || u < 32 || u >= 127) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "\\x%02x", u);
            out += hex;
        } else {
            out.push_back(c);
        }
    }
    return out;
}

std::string errno_label(int e) {
    return e == 0 ? std::string("OK") : std::string(ovlcore::errno_name(static_cast<std::errc>(e)));
}

// Runs every case; returns the number of agreements. Prints disagreements and the summary.
int run_cases_in_child(const fs::path& base, const std::vector<std::string>& cases) {
    if (ovlcore::test::enter_private_mount_namespace()) return -1;
    const fs::path fixed = base / "fixed";
    const fs::path mnt = base / "mnt";
    make_dir(mnt);
    std::string why;
    if (!make_fixed(fixed, why)) {
        std::printf("options differential: setup failed: %s\n", why.c_str());
        return -1;
    }
    auto defaults = ovlcore::read_module_defaults();
    const ovlcore::module_defaults module = defaults ? *defaults : ovlcore::module_defaults{};

    const bool verbose = std::getenv("OVLCORE_DIFF_VERBOSE") != nullptr;
    kernel_log log;
    int agree = 0;
    int failing = 0;
    int same_message = 0;
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const fs::path dir = base / ("case" + std::to_string(i));
        make_case_tree(dir, fixed, i);
        const std::string options = expand(cases[i], dir);
        if (::chdir(dir.c_str()) != 0) return -1;

        ovlcore::posix_fs backend;
        const auto stack = ovlcore::make_layer_stack(backend, options, module);
        const ovlcore::mount_error error = stack ? ovlcore::mount_error{} : stack.error();
        const int ours = stack ? 0 : ovlcore::errno_value(stack.error());

        int kernel = 0;
        if (log.usable()) (void)log.last_error();
        if (::mount("overlay", mnt.c_str(), "overlay", 0, options.c_str()) != 0)
            kernel = errno;
        else
            ::umount2(mnt.c_str(), MNT_DETACH);
        std::string kernel_message;
        if (kernel != 0 && log.usable()) {
            kernel_message = log.last_error();
            ++failing;
            if (kernel_message == kmsg_escape(error.message)) {
                ++same_message;
            } else if (verbose) {
                std::printf("message differs: %s\n  kernel:  %s\n  ovlcore: %s\n", cases[i].c_str(),
                            kernel_message.c_str(), kmsg_escape(error.message).c_str());
            }
        }

        if (::chdir(base.c_str()) != 0) return -1;
        std::error_code ec;
        fs::remove_all(dir, ec);
        fs::remove_all(fixed / "tm" / ("c" + std::to_string(i)), ec);

        if (verbose)
            std::printf("%-8s %-8s %s | %s\n", errno_label(kernel).c_str(),
                        errno_label(ours).c_str(), cases[i].c_str(), error.message.c_str());
        if (ours == kernel) {
            ++agree;
        } else {
            std::printf("DISAGREE %s\n  kernel: %s\n  ovlcore: %s %s\n", cases[i].c_str(),
                        errno_label(kernel).c_str(), errno_label(ours).c_str(),
                        error.message.c_str());
        }
    }
    ::umount2((fixed / "tm").c_str(), MNT_DETACH);
    ::umount2((fixed / "ovl").c_str(), MNT_DETACH);
    ::umount2((fixed / "ro").c_str(), MNT_DETACH);
    std::printf("options differential: %zu cases, %d agree\n", cases.size(), agree);
    if (log.usable())
        std::printf(
            "options differential: kernel log line matched for %d of %d rejected cases "
            "(informational)\n",
            same_message, failing);
    std::fflush(stdout);
    return agree;
}

} // namespace

TEST_CASE("1 options differential: make_layer_stack agrees with mount(2)",
          "[spec.1][spec.1.2][spec.1.3][spec.1.4][spec.1.5][kernel]") {
    std::vector<std::string> cases = hand_written_cases;
    const auto limits = limit_cases();
    cases.insert(cases.end(), limits.begin(), limits.end());
    unsigned seed = 20261125;
    if (const char* s = std::getenv("OVLCORE_DIFF_SEED"))
        seed = static_cast<unsigned>(std::atol(s));
    std::size_t generated_count = 300;
    if (const char* n = std::getenv("OVLCORE_DIFF_GENERATED"))
        generated_count = static_cast<std::size_t>(std::atol(n));
    const auto generated = generated_cases(generated_count, seed);
    cases.insert(cases.end(), generated.begin(), generated.end());

    const char* tmp = std::getenv("TMPDIR");
    std::string base = std::string(tmp && *tmp ? tmp : "/tmp") + "/ovlcore-optdiff-XXXXXX";
    REQUIRE(::mkdtemp(base.data()) != nullptr);
    struct statfs base_fs {};
    if (::statfs(base.c_str(), &base_fs) == 0 &&
        static_cast<std::uint64_t>(base_fs.f_type) == ovlcore::overlayfs_super_magic)
        WARN("TMPDIR is on overlayfs: every upperdir case is rejected; set TMPDIR elsewhere");

    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    std::fflush(stdout);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::close(fds[0]);
        const int agree = run_cases_in_child(base, cases);
        [[maybe_unused]] auto n = ::write(fds[1], &agree, sizeof agree);
        ::_exit(0);
    }
    ::close(fds[1]);
    int agree = -1;
    const auto got = ::read(fds[0], &agree, sizeof agree);
    ::close(fds[0]);
    ovlcore::test::wait_child(pid);
    std::error_code ec;
    fs::remove_all(base, ec);

    REQUIRE(got == static_cast<long>(sizeof agree));
    REQUIRE(agree >= 0);
    INFO("cases: " << cases.size() << ", agree: " << agree);
    CHECK(cases.size() >= 300);
    CHECK(agree == static_cast<int>(cases.size()));
}
