// SPDX-License-Identifier: MIT
// Tests of include/ovlcore/backend/posix.hpp that only the POSIX backend has: descriptor-based
// layers, what resolve_dir reads from the kernel (mount id, statfs, read-only mounts), mount
// crossings for lookup_beneath (spec §6, RESOLVE_NO_XDEV) in a private mount namespace,
// descriptor hygiene. The behaviour both backends share is tested in backend_common.cpp.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <ovlcore/backend/posix.hpp>

#include "support/string_makers.hpp"
#include "support/temp_dir.hpp"

using ovlcore::file_type;
using ovlcore::posix_fs;
using ovlcore::test::temp_dir;

namespace {

using ovlcore::test::err;

void write_file(const std::filesystem::path& p, const std::string& content) {
    std::ofstream out(p, std::ios::binary);
    out << content;
}

std::size_t open_fd_count() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
    return n;
}

/// Runs `body` in a forked child inside a private mount namespace. Returns "" on success, the
/// child's message on failure, or "SKIP: ..." when the namespace cannot be made.
std::string in_private_mount_ns(const std::function<std::string()>& body) {
    int fds[2];
    if (::pipe(fds) != 0) return "SKIP: pipe failed";
    const pid_t pid = ::fork();
    if (pid < 0) return "SKIP: fork failed";
    if (pid == 0) {
        ::close(fds[0]);
        std::string msg;
        if (::unshare(CLONE_NEWNS) != 0)
            msg = "SKIP: unshare(CLONE_NEWNS) failed";
        else if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
            msg = "SKIP: cannot make / private";
        else
            msg = body();
        [[maybe_unused]] auto w = ::write(fds[1], msg.data(), msg.size());
        ::close(fds[1]);
        ::_exit(0);
    }
    ::close(fds[1]);
    std::string msg;
    char buf[512];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;)
        msg.append(buf, static_cast<std::size_t>(n));
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "child crashed";
    return msg;
}

} // namespace

static_assert(ovlcore::backing_filesystem<posix_fs>);
static_assert(std::is_nothrow_move_constructible_v<posix_fs::file>);
static_assert(!std::is_copy_constructible_v<posix_fs::file>);

TEST_CASE("0 posix_fs: a layer is a descriptor and survives a rename", "[backend][posix][spec.0]") {
    temp_dir tmp;
    std::filesystem::create_directories(tmp / "L/d");
    write_file(tmp / "L/d/f", "abc");
    const posix_fs fs;
    auto L = fs.resolve_dir((tmp / "L").string());
    REQUIRE(err(L) == "ok");
    CHECK(L->ref.path() == (tmp / "L").string());
    CHECK(L->ref.fd() >= 0);
    std::filesystem::rename(tmp / "L", tmp / "renamed");
    auto st = fs.lstat(L->ref, "d/f");
    REQUIRE(err(st) == "ok");
    CHECK(st->size == 3u);
    auto hit = fs.lookup_beneath(L->ref, "/d/f");
    CHECK(err(hit) == "ok");
    auto list = fs.read_dir(L->ref, "d");
    REQUIRE(err(list) == "ok");
    CHECK(list->size() == 1u);
    // Copies share the descriptor.
    const posix_fs::layer_ref copy = L->ref;
    CHECK(copy.fd() == L->ref.fd());
}

TEST_CASE("1.3 posix_fs: resolve_dir against a chosen working directory",
          "[backend][posix][spec.1.3]") {
    temp_dir tmp;
    std::filesystem::create_directories(tmp / "layers/A");
    write_file(tmp / "file", "x");
    auto fs = posix_fs::with_working_dir((tmp / "layers").string());
    REQUIRE(err(fs) == "ok");
    auto a = fs->resolve_dir("A");
    REQUIRE(err(a) == "ok");
    CHECK(a->ref.path() == (tmp / "layers/A").string()); // absolute, from /proc/self/fd
    CHECK(err(fs->resolve_dir("B")) == "ENOENT");
    CHECK(err(posix_fs::with_working_dir((tmp / "missing").string())) == "ENOENT");
    CHECK(err(posix_fs::with_working_dir((tmp / "file").string())) == "ENOTDIR");
}

TEST_CASE("1.5 posix_fs resolve_dir: statfs and mount id come from the kernel",
          "[backend][posix][spec.1.5]") {
    temp_dir tmp;
    std::filesystem::create_directories(tmp / "L");
    const posix_fs fs;
    auto L = fs.resolve_dir((tmp / "L").string());
    REQUIRE(err(L) == "ok");
    struct statfs sf {};
    REQUIRE(::statfs((tmp / "L").c_str(), &sf) == 0);
    CHECK(L->name_max == static_cast<std::uint32_t>(sf.f_namelen));
    CHECK(L->fs_magic == static_cast<std::uint64_t>(sf.f_type));
    CHECK(L->read_only == ((sf.f_flags & ST_RDONLY) != 0));

    // The mount id is the first field of the /proc/self/mountinfo line of the mount holding it:
    // the mount whose mount point is the longest prefix of the path.
    std::ifstream mi("/proc/self/mountinfo");
    std::string line, best_point;
    std::uint64_t best_id = 0;
    const std::string target = std::filesystem::canonical(tmp / "L").string();
    while (std::getline(mi, line)) {
        std::istringstream in(line);
        std::uint64_t id = 0, parent = 0;
        std::string devno, root, point;
        in >> id >> parent >> devno >> root >> point;
        const bool prefix = point == "/" || target == point || target.rfind(point + "/", 0) == 0;
        if (prefix && point.size() >= best_point.size()) {
            best_point = point;
            best_id = id;
        }
    }
    CHECK(L->mount_id == best_id);

    // Ancestors end at "/".
    struct stat root_st {};
    REQUIRE(::stat("/", &root_st) == 0);
    REQUIRE(!L->ancestors.empty());
    CHECK(L->ancestors.back() == (ovlcore::file_id{.dev = root_st.st_dev, .ino = root_st.st_ino}));
}

TEST_CASE("2.1 posix_fs xattrs: long values, many names, a non-directory layer root",
          "[backend][posix][spec.2.1]") {
    temp_dir tmp;
    std::filesystem::create_directories(tmp / "L");
    write_file(tmp / "L/f", "x");
    const std::string big(3000, 'v');
    REQUIRE(::setxattr((tmp / "L/f").c_str(), "user.big", big.data(), big.size(), 0) == 0);
    std::vector<std::string> names;
    for (int i = 0; i < 30; ++i) {
        names.push_back("user.attribute-number-" + std::to_string(i));
        REQUIRE(::setxattr((tmp / "L").c_str(), names.back().c_str(), "v", 1, 0) == 0);
    }
    const posix_fs fs;
    auto L = fs.resolve_dir((tmp / "L").string());
    REQUIRE(err(L) == "ok");
    auto v = fs.get_xattr(L->ref, "f", "user.big");
    REQUIRE(err(v) == "ok");
    REQUIRE(v->has_value());
    CHECK(**v == big);
    auto listed = fs.list_xattr(L->ref, "");
    REQUIRE(err(listed) == "ok");
    std::sort(listed->begin(), listed->end());
    std::sort(names.begin(), names.end());
    CHECK(*listed == names);

    // resolve_dir of a regular file: "" names the file itself.
    auto f = fs.resolve_dir((tmp / "L/f").string());
    REQUIRE(err(f) == "ok");
    CHECK(f->st.type == file_type::regular);
    auto fv = fs.get_xattr(f->ref, "", "user.big");
    REQUIRE(err(fv) == "ok");
    REQUIRE(fv->has_value());
    CHECK(**fv == big);
    auto fl = fs.list_xattr(f->ref, "");
    REQUIRE(err(fl) == "ok");
    CHECK(*fl == std::vector<std::string>{"user.big"});
    CHECK(err(fs.lstat(f->ref, "")) == "ok");
    CHECK(err(fs.read_dir(f->ref, "")) == "ENOTDIR");
    // An unknown namespace is "not supported", reported as absent.
    auto odd = fs.get_xattr(L->ref, "f", "nonamespace");
    REQUIRE(err(odd) == "ok");
    CHECK(!odd->has_value());
}

TEST_CASE("0 posix_fs: no descriptor leaks", "[backend][posix][spec.0]") {
    temp_dir tmp;
    std::filesystem::create_directories(tmp / "L/d");
    write_file(tmp / "L/d/f", "abc");
    std::filesystem::create_symlink("d", tmp / "L/s");
    const posix_fs fs;
    const std::size_t before = open_fd_count();
    {
        auto L = fs.resolve_dir((tmp / "L").string());
        REQUIRE(err(L) == "ok");
        for (int i = 0; i < 50; ++i) {
            (void)fs.lstat(L->ref, "d/f");
            (void)fs.read_dir(L->ref, "d");
            (void)fs.read_dir(L->ref, "missing");
            (void)fs.get_xattr(L->ref, "d", "user.x");
            (void)fs.list_xattr(L->ref, "d");
            (void)fs.read_link(L->ref, "s");
            (void)fs.lookup_beneath(L->ref, "/d/f");
            (void)fs.lookup_beneath(L->ref, "/s/f");
            (void)fs.open_file(L->ref, "d");
            auto f = fs.open_file(L->ref, "d/f");
            REQUIRE(err(f) == "ok");
            char c;
            (void)fs.read(*f, 0, std::span<char>(&c, 1));
        }
    }
    CHECK(open_fd_count() == before);
}

TEST_CASE("0 posix_fs: a default layer_ref is an invalid descriptor", "[backend][posix][spec.0]") {
    const posix_fs fs;
    const posix_fs::layer_ref none;
    CHECK(none.fd() == -1);
    CHECK(err(fs.lstat(none, "x")) == "EBADF");
    CHECK(err(fs.lookup_beneath(none, "/x")) == "EBADF");
}

TEST_CASE("6 posix_fs lookup_beneath: mount crossings are EXDEV (private mount namespace)",
          "[backend][posix][spec.6][spec.1.5]") {
    if (::geteuid() != 0) {
        WARN("SKIPPED: needs root to mount in a private mount namespace");
        return;
    }
    temp_dir tmp;
    std::filesystem::create_directories(tmp / "C/mnt");
    std::filesystem::create_directories(tmp / "C/rosrc/sub");
    std::filesystem::create_directories(tmp / "C/ro");
    write_file(tmp / "C/data", "d");
    const std::string base = tmp.str();
    const std::string msg = in_private_mount_ns([&]() -> std::string {
        const std::string mnt = base + "/C/mnt";
        if (::mount("none", mnt.c_str(), "tmpfs", 0, nullptr) != 0) return "SKIP: mount tmpfs";
        write_file(mnt + "/inner", "i");
        const std::string ro = base + "/C/ro";
        const std::string src = base + "/C/rosrc";
        if (::mount(src.c_str(), ro.c_str(), nullptr, MS_BIND, nullptr) != 0 ||
            ::mount(nullptr, ro.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0)
            return "SKIP: read-only bind mount";
        const posix_fs fs;
        auto C = fs.resolve_dir(base + "/C");
        auto M = fs.resolve_dir(mnt);
        auto R = fs.resolve_dir(ro + "/sub");
        if (!C || !M || !R) return "resolve_dir failed";
        std::string out;
        auto expect = [&](const std::string& what, const std::string& got,
                          const std::string& want) {
            if (got != want) out += what + ": got " + got + ", want " + want + "\n";
        };
        expect("beneath /data", err(fs.lookup_beneath(C->ref, "/data")), "ok");
        expect("beneath /mnt", err(fs.lookup_beneath(C->ref, "/mnt")), "EXDEV");
        expect("beneath /mnt/inner", err(fs.lookup_beneath(C->ref, "/mnt/inner")), "EXDEV");
        expect("beneath /ro", err(fs.lookup_beneath(C->ref, "/ro")), "EXDEV");
        expect("beneath in mount /inner", err(fs.lookup_beneath(M->ref, "/inner")), "ok");
        expect("beneath in mount /../data", err(fs.lookup_beneath(M->ref, "/../data")), "EXDEV");
        // Path-based calls cross mounts as any path walk does.
        expect("lstat mnt/inner", err(fs.lstat(C->ref, "mnt/inner")), "ok");
        if (M->mount_id == C->mount_id) out += "tmpfs mount id equals the parent's\n";
        if (M->st.dev == C->st.dev) out += "tmpfs st_dev equals the parent's\n";
        if (M->fs_magic != 0x01021994u) out += "tmpfs f_type is not TMPFS_MAGIC\n";
        if (M->read_only || C->read_only) out += "a writable mount reported read-only\n";
        if (!R->read_only) out += "read-only bind mount not reported read-only\n";
        if (M->ancestors.empty() || M->ancestors[0] != ovlcore::file_id_of(C->st))
            out += "the first ancestor of a mount root is not its mount point's parent\n";
        ::umount2(ro.c_str(), MNT_DETACH);
        ::umount2(mnt.c_str(), MNT_DETACH);
        return out;
    });
    if (msg.rfind("SKIP:", 0) == 0) {
        WARN(msg);
        return;
    }
    CHECK(msg == "");
}
