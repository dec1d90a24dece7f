// SPDX-License-Identifier: MIT
// Tests of include/ovlcore/backend/posix.hpp that only the POSIX backend has: descriptor-based
// layers and handles, what resolve_dir reads from the kernel (mount id, statfs, read-only mounts),
// mount crossings for lookup_beneath (spec §6, RESOLVE_NO_XDEV) in a private mount namespace,
// descriptor hygiene. The behaviour both backends share is tested in backend_common.cpp; deep
// trees, ESTALE and threads in posix_depth.cpp.
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <cstddef>

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <ovlcore/backend/posix.hpp>

#include "support/string_makers.hpp"
#include "support/subprocess.hpp"
#include "support/temp_dir.hpp"

using ovlcore::file_type;
using ovlcore::get_xattr_path;
using ovlcore::list_xattr_path;
using ovlcore::lstat_path;
using ovlcore::posix_fs;
using ovlcore::read_dir_path;
using ovlcore::test::temp_dir;

namespace {

using ovlcore::test::err;

void write_file(const std::filesystem::path& p, const std::string& content) {
    std::ofstream out(p, std::ios::binary);
    out << content;
}

using ovlcore::test::open_fd_count;

/// Runs `body` in a forked child: "" on success, else the child's message ("child crashed" when
/// it died).
std::string in_child(const std::function<std::string()>& body) {
    int fds[2];
    if (::pipe(fds) != 0) return "SKIP: pipe failed";
    const pid_t pid = ::fork();
    if (pid < 0) return "SKIP: fork failed";
    if (pid == 0) {
        ::close(fds[0]);
        const std::string msg = body();
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

/// Runs `body` in a forked child inside a private mount namespace. Returns "" on success, the
/// child's message on failure, or "SKIP: ..." when the namespace cannot be made.
std::string in_private_mount_ns(const std::function<std::string()>& body) {
    return in_child([&]() -> std::string {
        if (::unshare(CLONE_NEWNS) != 0) return "SKIP: unshare(CLONE_NEWNS) failed";
        if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
            return "SKIP: cannot make / private";
        return body();
    });
}

/// The verdict on a child's message: a warning when it skipped ("SKIP: ..."), else it must be
/// empty.
void check_child(const std::string& msg) {
    if (msg.rfind("SKIP:", 0) == 0) {
        WARN(msg);
        return;
    }
    CHECK(msg == "");
}

/// Collects a child's failed expectations, one line each.
struct child_report {
    std::string out;
    void expect(const std::string& what, const std::string& got, const std::string& want) {
        if (got != want) out += what + ": got " + got + ", want " + want + "\n";
    }
};

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
    auto st = lstat_path(fs, L->ref, "d/f");
    REQUIRE(err(st) == "ok");
    CHECK(st->size == 3u);
    auto hit = fs.lookup_beneath(L->ref, "/d/f");
    REQUIRE(err(hit) == "ok");
    CHECK(fs.path_of(hit->handle) == "d/f");
    auto list = read_dir_path(fs, L->ref, "d");
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
    auto v = get_xattr_path(fs, L->ref, "f", "user.big");
    REQUIRE(err(v) == "ok");
    REQUIRE(v->has_value());
    CHECK(**v == big);
    auto listed = list_xattr_path(fs, L->ref, "");
    REQUIRE(err(listed) == "ok");
    std::sort(listed->begin(), listed->end());
    std::sort(names.begin(), names.end());
    CHECK(*listed == names);

    // resolve_dir of a regular file: "" names the file itself.
    auto f = fs.resolve_dir((tmp / "L/f").string());
    REQUIRE(err(f) == "ok");
    CHECK(f->st.type == file_type::regular);
    auto fv = get_xattr_path(fs, f->ref, "", "user.big");
    REQUIRE(err(fv) == "ok");
    REQUIRE(fv->has_value());
    CHECK(**fv == big);
    auto fl = list_xattr_path(fs, f->ref, "");
    REQUIRE(err(fl) == "ok");
    CHECK(*fl == std::vector<std::string>{"user.big"});
    CHECK(err(lstat_path(fs, f->ref, "")) == "ok");
    CHECK(err(read_dir_path(fs, f->ref, "")) == "ENOTDIR");
    auto froot = fs.root(f->ref);
    REQUIRE(err(froot) == "ok");
    CHECK(err(fs.lookup(froot->handle, "x")) == "ENOTDIR");
    auto fdata = fs.open_file(froot->handle);
    REQUIRE(err(fdata) == "ok");
    char c = 0;
    auto n = fs.read(*fdata, 0, std::span<char>(&c, 1));
    REQUIRE(err(n) == "ok");
    CHECK(c == 'x');
    // An unknown namespace is "not supported", reported as absent.
    auto odd = get_xattr_path(fs, L->ref, "f", "nonamespace");
    REQUIRE(err(odd) == "ok");
    CHECK(!odd->has_value());
}

TEST_CASE("0 posix_fs: no descriptor leaks", "[backend][posix][spec.0]") {
    temp_dir tmp;
    std::filesystem::create_directories(tmp / "L/d");
    write_file(tmp / "L/d/f", "abc");
    std::filesystem::create_symlink("d", tmp / "L/s");
    const std::size_t before = open_fd_count();
    {
        // Directory descriptors stay cached while the posix_fs (or a copy) lives: at most
        // dir_fd_capacity of them, plus the layer's O_PATH descriptor.
        const posix_fs fs(ovlcore::posix_options{.dir_fd_capacity = 2});
        auto L = fs.resolve_dir((tmp / "L").string());
        REQUIRE(err(L) == "ok");
        for (int i = 0; i < 50; ++i) {
            (void)lstat_path(fs, L->ref, "d/f");
            (void)read_dir_path(fs, L->ref, "d");
            (void)read_dir_path(fs, L->ref, "missing");
            (void)get_xattr_path(fs, L->ref, "d", "user.x");
            (void)list_xattr_path(fs, L->ref, "d");
            (void)ovlcore::read_link_path(fs, L->ref, "s");
            (void)fs.lookup_beneath(L->ref, "/d/f");
            (void)fs.lookup_beneath(L->ref, "/s/f");
            (void)ovlcore::open_file_path(fs, L->ref, "d");
            (void)ovlcore::dot_positions_path(fs, L->ref, "d");
            auto f = ovlcore::open_file_path(fs, L->ref, "d/f");
            REQUIRE(err(f) == "ok");
            char c;
            (void)fs.read(*f, 0, std::span<char>(&c, 1));
            CHECK(open_fd_count() <= before + 1 + 2 + 1); // + the open file
        }
        CHECK(fs.open_dir_fds() <= 2u);
    }
    CHECK(open_fd_count() == before);
}

TEST_CASE("6 posix_fs lookup_beneath: a remembered parent directory is checked on every walk",
          "[backend][posix][spec.6]") {
    // The second walk below one directory skips openat2 (posix.hpp: beneath_remembered); the
    // answers must stay openat2's when that directory is replaced meanwhile.
    temp_dir tmp;
    const auto L = tmp / "L";
    std::filesystem::create_directories(L / "ab");
    write_file(L / "ab/f1", "1");
    write_file(L / "ab/f2", "22");
    std::filesystem::create_symlink("f1", L / "ab/s");
    const posix_fs fs;
    auto layer = fs.resolve_dir(L.string());
    REQUIRE(err(layer) == "ok");
    const auto& ref = layer->ref;
    REQUIRE(err(fs.lookup_beneath(ref, "/ab/f1")) == "ok");
    auto f2 = fs.lookup_beneath(ref, "/ab/f2");
    REQUIRE(err(f2) == "ok");
    CHECK(fs.path_of(f2->handle) == "ab/f2");
    CHECK(f2->st.size == 2u);
    const auto direct = lstat_path(fs, ref, "ab/f2");
    REQUIRE(err(direct) == "ok");
    CHECK(f2->st.ino == direct->ino);
    auto link = fs.lookup_beneath(ref, "/ab/s"); // a final symlink is returned, not followed
    REQUIRE(err(link) == "ok");
    CHECK(link->st.type == file_type::symlink);
    CHECK(err(fs.lookup_beneath(ref, "/ab/none")) == "ENOENT");
    CHECK(err(fs.lookup_beneath(ref, "/ab/f1/x")) == "ENOTDIR");
    // Renamed away and replaced: the old directory still holds f2, the path does not.
    std::filesystem::rename(L / "ab", L / "old");
    std::filesystem::create_directories(L / "ab");
    write_file(L / "ab/f1", "new");
    CHECK(err(fs.lookup_beneath(ref, "/ab/f2")) == "ENOENT");
    auto f1 = fs.lookup_beneath(ref, "/ab/f1");
    REQUIRE(err(f1) == "ok");
    CHECK(f1->st.size == 3u);
    // Replaced by a symlink to the old directory: ELOOP, as openat2 says.
    std::filesystem::rename(L / "ab", L / "other");
    std::filesystem::create_directory_symlink("old", L / "ab");
    CHECK(err(fs.lookup_beneath(ref, "/ab/f2")) == "ELOOP");
    CHECK(err(fs.lookup_beneath(ref, "/old/./f2")) == "ok");
    // A NUL in the name below the remembered "old/": openat2's walk answers (EINVAL), not a
    // statx of the name cut at the NUL.
    CHECK(err(fs.lookup_beneath(ref, std::string_view("/old/f2\0x", 9))) == "EINVAL");
}

TEST_CASE("0 posix_fs: a default layer_ref is an invalid descriptor", "[backend][posix][spec.0]") {
    const posix_fs fs;
    const posix_fs::layer_ref none;
    CHECK(none.fd() == -1);
    CHECK(err(lstat_path(fs, none, "x")) == "EBADF");
    CHECK(err(fs.root(none)) == "EBADF");
    CHECK(err(fs.lookup_beneath(none, "/x")) == "EBADF");
    const posix_fs::handle empty;
    CHECK(!empty);
    CHECK(err(fs.lookup(empty, "x")) == "EBADF");
    CHECK(err(fs.read_dir(empty)) == "EBADF");
    CHECK(err(fs.get_xattr(empty, "user.x")) == "EBADF");
    CHECK(err(fs.read_link(empty)) == "EBADF");
    CHECK(err(fs.open_file(empty)) == "EBADF");
    CHECK(fs.path_of(empty).empty());
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
    std::filesystem::create_directories(tmp / "C/store/m");
    write_file(tmp / "C/store/x", "x");
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
        child_report report;
        report.expect("beneath /data", err(fs.lookup_beneath(C->ref, "/data")), "ok");
        report.expect("beneath /mnt", err(fs.lookup_beneath(C->ref, "/mnt")), "EXDEV");
        report.expect("beneath /mnt/inner", err(fs.lookup_beneath(C->ref, "/mnt/inner")), "EXDEV");
        report.expect("beneath /ro", err(fs.lookup_beneath(C->ref, "/ro")), "EXDEV");
        report.expect("beneath in mount /inner", err(fs.lookup_beneath(M->ref, "/inner")), "ok");
        // Below a directory an earlier walk remembered (no openat2 then): still EXDEV.
        const std::string sm = base + "/C/store/m";
        if (::mount("none", sm.c_str(), "tmpfs", 0, nullptr) != 0) return "SKIP: mount tmpfs";
        write_file(sm + "/inner", "i");
        report.expect("beneath /store/x", err(fs.lookup_beneath(C->ref, "/store/x")), "ok");
        report.expect("beneath /store/m", err(fs.lookup_beneath(C->ref, "/store/m")), "EXDEV");
        report.expect("beneath /store/m/inner", err(fs.lookup_beneath(C->ref, "/store/m/inner")),
                      "EXDEV");
        ::umount2(sm.c_str(), MNT_DETACH);
        report.expect("beneath in mount /../data", err(fs.lookup_beneath(M->ref, "/../data")),
                      "EXDEV");
        // Lookups cross mounts as any path walk does.
        report.expect("lstat mnt/inner", err(lstat_path(fs, C->ref, "mnt/inner")), "ok");
        const auto inner = ovlcore::walk(fs, C->ref, "mnt/inner");
        if (!inner || inner->st.dev != M->st.dev)
            report.out += "mnt/inner not on the tmpfs\n";
        else if (auto xs = fs.list_xattr(inner->handle); !xs)
            report.out += "xattrs of mnt/inner\n";
        if (M->mount_id == C->mount_id) report.out += "tmpfs mount id equals the parent's\n";
        if (M->st.dev == C->st.dev) report.out += "tmpfs st_dev equals the parent's\n";
        if (M->fs_magic != 0x01021994u) report.out += "tmpfs f_type is not TMPFS_MAGIC\n";
        if (M->read_only || C->read_only) report.out += "a writable mount reported read-only\n";
        if (!R->read_only) report.out += "read-only bind mount not reported read-only\n";
        if (M->ancestors.empty() || M->ancestors[0] != ovlcore::file_id_of(C->st))
            report.out += "the first ancestor of a mount root is not its mount point's parent\n";
        ::umount2(ro.c_str(), MNT_DETACH);
        ::umount2(mnt.c_str(), MNT_DETACH);
        return report.out;
    });
    check_child(msg);
}

TEST_CASE("5.1 posix_fs handles: one component per lookup, a node per object",
          "[backend][posix][spec.5.1]") {
    temp_dir tmp;
    std::filesystem::create_directories(tmp / "L/d/e");
    write_file(tmp / "L/d/f", "abc");
    std::filesystem::create_symlink("f", tmp / "L/d/s");
    const posix_fs fs;
    auto L = fs.resolve_dir((tmp / "L").string());
    REQUIRE(err(L) == "ok");
    auto root = fs.root(L->ref);
    REQUIRE(err(root) == "ok");
    CHECK(root->st.type == file_type::directory);
    CHECK(fs.path_of(root->handle).empty());
    auto d = fs.lookup(root->handle, "d");
    REQUIRE(err(d) == "ok");
    // Never more than one component, never "." or "..": the engine names entries only.
    CHECK(err(fs.lookup(root->handle, "d/f")) == "EINVAL");
    CHECK(err(fs.lookup(root->handle, "..")) == "EINVAL");
    CHECK(err(fs.lookup(root->handle, ".")) == "EINVAL");
    CHECK(err(fs.lookup(root->handle, "")) == "EINVAL");
    CHECK(err(fs.lookup(d->handle, "missing")) == "ENOENT");
    CHECK(err(fs.lookup(d->handle, std::string(300, 'n'))) == "ENAMETOOLONG");
    auto f = fs.lookup(d->handle, "f");
    REQUIRE(err(f) == "ok");
    auto s = fs.lookup(d->handle, "s");
    REQUIRE(err(s) == "ok");
    CHECK(fs.path_of(f->handle) == "d/f");
    CHECK(f->handle.type() == file_type::regular);
    CHECK(err(fs.lookup(f->handle, "x")) == "ENOTDIR");
    CHECK(err(fs.lookup(s->handle, "x")) == "ENOTDIR"); // a symlink is never followed
    CHECK(err(fs.read_link(f->handle)) == "EINVAL");
    CHECK(err(fs.read_link(d->handle)) == "EINVAL");
    CHECK(*fs.read_link(s->handle) == "f");
    CHECK(err(fs.open_file(d->handle)) == "EISDIR");
    CHECK(err(fs.open_file(s->handle)) == "ELOOP");
    CHECK(err(fs.read_dir(f->handle)) == "ENOTDIR");
    auto dots = fs.dot_positions(d->handle);
    REQUIRE(err(dots) == "ok");
    CHECK((*dots)[0] <= 3u);
    CHECK((*dots)[1] <= 3u);
    // A handle is one pointer; copies share the node and outlive the walk that made them.
    static_assert(sizeof(posix_fs::handle) == sizeof(void*));
    posix_fs::handle kept = f->handle;
    CHECK(kept == f->handle);
    d.value() = {};
    f.value() = {};
    CHECK(fs.path_of(kept) == "d/f");
    auto file = fs.open_file(kept);
    REQUIRE(err(file) == "ok");
    // lookup_beneath gives a handle that works like a looked-up one.
    auto b = fs.lookup_beneath(L->ref, "/d/e/../f");
    REQUIRE(err(b) == "ok");
    CHECK(fs.path_of(b->handle) == "d/f");
    CHECK(b->st.size == 3u);
    CHECK(err(fs.lookup_beneath(L->ref, "/d/s/x")) == "ELOOP");
    CHECK(err(fs.lookup_beneath(L->ref, "/..")) == "EXDEV");
    auto bs = fs.lookup_beneath(L->ref, "d/s");
    REQUIRE(err(bs) == "ok");
    CHECK(bs->st.type == file_type::symlink);
    // Copies of a posix_fs share one descriptor cache.
    const posix_fs copy = fs; // NOLINT(performance-unnecessary-copy-initialization)
    CHECK(copy.open_dir_fds() == fs.open_dir_fds());
    CHECK(copy.dir_fd_capacity() == fs.dir_fd_capacity());
}

#ifdef OVLCORE_NR_GETXATTRAT
TEST_CASE("2.1 posix_fs xattrs without getxattrat(2): l*xattr through /proc/self/fd",
          "[backend][posix][spec.2.1]") {
    temp_dir tmp;
    std::filesystem::create_directories(tmp / "L/d");
    write_file(tmp / "L/d/f", "x");
    std::filesystem::create_symlink("f", tmp / "L/d/s");
    REQUIRE(::setxattr((tmp / "L/d/f").c_str(), "user.f", "file", 4, 0) == 0);
    REQUIRE(::setxattr((tmp / "L/d").c_str(), "user.d", "dir", 3, 0) == 0);
    const std::string big(3000, 'v');
    REQUIRE(::setxattr((tmp / "L/d/f").c_str(), "user.big", big.data(), big.size(), 0) == 0);
    const std::string msg = in_child([&]() -> std::string {
        // A kernel before 6.13: getxattrat and listxattrat fail with ENOSYS (a seccomp filter).
        const sock_filter filter[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, OVLCORE_NR_GETXATTRAT, 2, 0),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, OVLCORE_NR_LISTXATTRAT, 1, 0),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
        };
        const sock_fprog prog{.len = static_cast<unsigned short>(std::size(filter)),
                              .filter = const_cast<sock_filter*>(filter)};
        if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
            ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
            return "SKIP: cannot install a seccomp filter";
        if (::syscall(OVLCORE_NR_GETXATTRAT, AT_FDCWD, "/", 0, "user.x", nullptr, 0) != -1 ||
            errno != ENOSYS)
            return "the filter does not hide getxattrat";
        const posix_fs fs;
        auto L = fs.resolve_dir((tmp / "L").string());
        if (!L) return "resolve_dir failed";
        child_report report;
        auto f = ovlcore::walk(fs, L->ref, "d/f");
        auto d = ovlcore::walk(fs, L->ref, "d");
        auto sl = ovlcore::walk(fs, L->ref, "d/s");
        if (!f || !d || !sl) return "walk failed";
        auto fv = fs.get_xattr(f->handle, "user.f");
        report.expect("user.f", fv ? fv->value_or("absent") : err(fv), "file");
        auto fb = fs.get_xattr(f->handle, "user.big");
        report.expect("user.big", fb ? std::to_string(fb->value_or("").size()) : err(fb), "3000");
        auto dv = fs.get_xattr(d->handle, "user.d");
        report.expect("user.d", dv ? dv->value_or("absent") : err(dv), "dir");
        auto none = fs.get_xattr(f->handle, "user.none");
        report.expect("user.none", none ? none->value_or("absent") : err(none), "absent");
        auto fl = fs.list_xattr(f->handle);
        report.expect("list f", fl ? std::to_string(fl->size()) : err(fl), "2");
        // The symlink itself, not its target: no attributes.
        auto sv = fs.get_xattr(sl->handle, "user.f");
        report.expect("symlink user.f", sv ? sv->value_or("absent") : err(sv), "absent");
        auto slist = fs.list_xattr(sl->handle);
        report.expect("list symlink", slist ? std::to_string(slist->size()) : err(slist), "0");
        return report.out;
    });
    check_child(msg);
}
#endif

TEST_CASE("5.1 posix_fs: a directory that may be searched but not read",
          "[backend][posix][spec.5.1]") {
    if (::geteuid() != 0) {
        WARN("SKIPPED: needs root to switch to an unprivileged user");
        return;
    }
    temp_dir tmp;
    std::filesystem::create_directories(tmp / "L/x/sub");
    write_file(tmp / "L/x/f", "abc");
    REQUIRE(::chmod(tmp.str().c_str(), 0755) == 0);
    REQUIRE(::chmod((tmp / "L").c_str(), 0755) == 0);
    REQUIRE(::chmod((tmp / "L/x").c_str(), 0711) == 0); // search only, for others
    REQUIRE(::chmod((tmp / "L/x/f").c_str(), 0644) == 0);
    const std::string msg = in_child([&]() -> std::string {
        if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0)
            return "SKIP: cannot become nobody";
        const posix_fs fs;
        auto L = fs.resolve_dir((tmp / "L").string());
        if (!L) return "resolve_dir failed";
        std::string out;
        auto x = ovlcore::walk(fs, L->ref, "x");
        if (!x) return "walk x: " + err(x);
        // Lookups need search permission only, as in the kernel's path walk.
        auto f = fs.lookup(x->handle, "f");
        if (!f || f->st.size != 3) out += "lookup f: " + err(f) + "\n";
        auto sub = fs.lookup(x->handle, "sub");
        if (!sub || sub->st.type != file_type::directory) out += "lookup sub: " + err(sub) + "\n";
        if (f && !fs.open_file(f->handle)) out += "open f failed\n";
        // Listing needs read permission.
        if (const auto list = fs.read_dir(x->handle); err(list) != "EACCES")
            out += "read_dir x: " + err(list) + ", want EACCES\n";
        if (const auto list = fs.read_dir(sub->handle); !list) out += "read_dir sub failed\n";
        return out;
    });
    check_child(msg);
}
