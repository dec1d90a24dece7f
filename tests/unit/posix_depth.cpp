// SPDX-License-Identifier: MIT
// Tests of posix_fs's handles (include/ovlcore/backend/posix.hpp) and mounted_tree
// (backend/posix_tree.hpp) on trees deeper than any path: 50,000 levels walked with 16 directory
// descriptors, a bounded descriptor count, ESTALE for a handle whose object was swapped, many
// threads sharing one posix_fs, and which directories the descriptor cache opens and keeps (spec
// §0, §5.1; backend.hpp's handle contract).
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <ovlcore/backend/posix.hpp>
#include <ovlcore/backend/posix_tree.hpp>

#include "support/string_makers.hpp"
#include "support/subprocess.hpp"
#include "support/temp_dir.hpp"

using ovlcore::file_type;
using ovlcore::posix_fs;
using ovlcore::test::err;
using ovlcore::test::temp_dir;

namespace {

using ovlcore::test::open_fd_count;

/// `depth` nested directories "d" below `top` (made with mkdirat from descriptors, two open at a
/// time); the deepest holds "f" (content "bottom\n", xattr user.f = "file"), "l" -> "f", and has
/// the xattr user.d = "dir".
void make_chain(const std::string& top, std::size_t depth) {
    int fd = ::open(top.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    for (std::size_t i = 0; i < depth; ++i) {
        REQUIRE(::mkdirat(fd, "d", 0755) == 0);
        const int next = ::openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ::close(fd);
        REQUIRE(next >= 0);
        fd = next;
    }
    const int f = ::openat(fd, "f", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    REQUIRE(f >= 0);
    REQUIRE(::write(f, "bottom\n", 7) == 7);
    REQUIRE(::fsetxattr(f, "user.f", "file", 4, 0) == 0);
    ::close(f);
    REQUIRE(::symlinkat("f", fd, "l") == 0);
    REQUIRE(::fsetxattr(fd, "user.d", "dir", 3, 0) == 0);
    ::close(fd);
}

/// Removes the tree `name` in the directory `dirfd` whatever its depth, with two descriptors:
/// non-directories are unlinked, subdirectories are moved up next to it and removed later.
void remove_tree(int dirfd, const std::string& name) {
    std::vector<std::string> todo{name};
    std::size_t moved = 0;
    while (!todo.empty()) {
        const std::string cur = todo.back();
        todo.pop_back();
        const int fd =
            ::openat(dirfd, cur.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        REQUIRE(fd >= 0);
        auto listing = ovlcore::detail::read_dir_fd(fd);
        REQUIRE(err(listing) == "ok");
        for (const auto& e : *listing) {
            if (e.type == file_type::directory) {
                const std::string up = "moved-" + std::to_string(moved++);
                REQUIRE(::renameat(fd, e.name.c_str(), dirfd, up.c_str()) == 0);
                todo.push_back(up);
            } else {
                REQUIRE(::unlinkat(fd, e.name.c_str(), 0) == 0);
            }
        }
        ::close(fd);
        REQUIRE(::unlinkat(dirfd, cur.c_str(), AT_REMOVEDIR) == 0);
    }
}

/// A chain of `depth` levels in "<temp>/top/d/d/...", in /dev/shm when it can (tmpfs: making and
/// removing 50,000 directories on a disk filesystem with discard takes minutes), removed
/// without paths.
struct deep_tree {
    std::string dir; // the temp dir holding "top"
    explicit deep_tree(std::size_t depth) {
        const char* env = std::getenv("TMPDIR");
        const std::string base = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm"
                                 : (env != nullptr && *env != 0) ? env
                                                                 : "/tmp";
        std::string templ = base + "/ovlcore-depth-XXXXXX";
        REQUIRE(::mkdtemp(templ.data()) != nullptr);
        dir = templ;
        REQUIRE(::mkdir((dir + "/top").c_str(), 0755) == 0);
        make_chain(dir + "/top", depth);
    }
    deep_tree(const deep_tree&) = delete;
    deep_tree& operator=(const deep_tree&) = delete;
    ~deep_tree() {
        const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) return;
        remove_tree(fd, "top");
        ::close(fd);
        ::rmdir(dir.c_str());
    }
    [[nodiscard]] std::string top() const { return dir + "/top"; }
};

/// A counted reference to a posix_fs node made by hand, for tests of the descriptor cache itself.
struct node_release {
    void operator()(ovlcore::detail::posix_node* n) const noexcept {
        ovlcore::detail::release_node(n);
    }
};
using node_ref = std::unique_ptr<ovlcore::detail::posix_node, node_release>;

/// The node of `name` in the directory open at `dir_fd`, a child of `parent`, as lookup makes it.
node_ref child_node(const node_ref& parent, int dir_fd, const std::string& name) {
    auto sx = ovlcore::detail::statx_at(dir_fd, name);
    REQUIRE(err(sx) == "ok");
    return node_ref(ovlcore::detail::make_child_node(parent.get(), name, *sx));
}

} // namespace

TEST_CASE("0 posix_fs: a 50,000-level tree walked with 16 directory descriptors",
          "[backend][posix][depth][spec.0]") {
    constexpr std::size_t depth = 50000;
    const deep_tree tree(depth);
    const posix_fs fs(ovlcore::posix_options{.dir_fd_capacity = 16});
    REQUIRE(fs.dir_fd_capacity() == 16u);
    const std::size_t fds_before = open_fd_count();
    auto L = fs.resolve_dir(tree.top());
    REQUIRE(err(L) == "ok");
    auto root = fs.root(L->ref);
    REQUIRE(err(root) == "ok");

    // Down: one lookup and one listing per level; every level's handle is kept.
    std::vector<posix_fs::handle> dirs{root->handle};
    dirs.reserve(depth + 1);
    std::size_t fd_peak = 0;
    for (std::size_t i = 0; i < depth; ++i) {
        auto list = fs.read_dir(dirs.back());
        REQUIRE(err(list) == "ok");
        REQUIRE(list->size() == 1u);
        REQUIRE((*list)[0].name == "d");
        auto d = fs.lookup(dirs.back(), "d");
        REQUIRE(err(d) == "ok");
        REQUIRE(d->st.type == file_type::directory);
        dirs.push_back(std::move(d->handle));
        if (i % 1000 == 0) fd_peak = std::max(fd_peak, open_fd_count());
    }
    CHECK(fs.open_dir_fds() <= 16u);
    // The layer root's O_PATH descriptor, 16 cached ones, and none left behind by a call.
    CHECK(fd_peak <= fds_before + 1 + 16);

    // At the bottom: listing, stat, xattrs of a dir and of a file, a symlink, a read.
    const auto& bottom = dirs.back();
    auto list = fs.read_dir(bottom);
    REQUIRE(err(list) == "ok");
    std::vector<std::string> names;
    for (const auto& e : *list) names.push_back(e.name);
    std::sort(names.begin(), names.end());
    CHECK(names == std::vector<std::string>{"f", "l"});
    auto dx = fs.get_xattr(bottom, "user.d");
    REQUIRE(err(dx) == "ok");
    CHECK(dx->value_or("") == "dir");
    auto f = fs.lookup(bottom, "f");
    REQUIRE(err(f) == "ok");
    CHECK(f->st.type == file_type::regular);
    CHECK(f->st.size == 7u);
    auto fx = fs.get_xattr(f->handle, "user.f");
    REQUIRE(err(fx) == "ok");
    CHECK(fx->value_or("") == "file");
    auto fl = fs.list_xattr(f->handle);
    REQUIRE(err(fl) == "ok");
    CHECK(*fl == std::vector<std::string>{"user.f"});
    auto l = fs.lookup(bottom, "l");
    REQUIRE(err(l) == "ok");
    CHECK(l->st.type == file_type::symlink);
    auto target = fs.read_link(l->handle);
    REQUIRE(err(target) == "ok");
    CHECK(*target == "f");
    {
        auto file = fs.open_file(f->handle);
        REQUIRE(err(file) == "ok");
        char buf[16];
        auto n = fs.read(*file, 0, buf);
        REQUIRE(err(n) == "ok");
        CHECK(std::string(buf, *n) == "bottom\n");
    }
    CHECK(err(fs.open_file(l->handle)) == "ELOOP");
    CHECK(err(fs.lookup(f->handle, "x")) == "ENOTDIR");
    CHECK(fs.path_of(f->handle).size() == depth * 2 + 1);

    // Up again: each evicted directory is reopened (through ".." of its cached child).
    for (std::size_t i = depth + 1; i-- > 0;) {
        auto x = fs.get_xattr(dirs[i], "user.none");
        REQUIRE(err(x) == "ok");
        REQUIRE(!x->has_value());
        if (i % 1000 == 0) fd_peak = std::max(fd_peak, open_fd_count());
    }
    // A few random levels: reopened from the nearest cached ancestor.
    std::mt19937 rng(11);
    for (int k = 0; k < 5; ++k) {
        const std::size_t i = std::uniform_int_distribution<std::size_t>(0, depth)(rng);
        auto li = fs.read_dir(dirs[i]);
        REQUIRE(err(li) == "ok");
        CHECK(li->size() == (i == depth ? 2u : 1u));
        fd_peak = std::max(fd_peak, open_fd_count());
    }
    CHECK(fd_peak <= fds_before + 1 + 16);

    // The generic path helper of backend.hpp reaches the bottom through a 100 KB path.
    std::string long_path;
    for (std::size_t i = 0; i < depth; ++i) long_path += "d/";
    long_path += "f";
    auto st = ovlcore::lstat_path(fs, L->ref, long_path);
    REQUIRE(err(st) == "ok");
    CHECK(st->size == 7u);

    dirs.clear();
    *L = {};
}

TEST_CASE("0 mounted_tree: a tree deeper than PATH_MAX, with 16 directory descriptors",
          "[dump][posix_tree][depth][spec.0]") {
    constexpr std::size_t depth = 5000; // a 10 KB path at the bottom
    const deep_tree tree(depth);
    const std::size_t fds_before = open_fd_count();
    auto view = ovlcore::mounted_tree::open_root(tree.top(), {.dir_fd_capacity = 16});
    REQUIRE(err(view) == "ok");
    std::string path;
    std::size_t fd_peak = 0;
    for (std::size_t i = 0; i <= depth; ++i) {
        const std::string p = path.empty() ? "/" : path;
        auto st = view->lstat(p);
        REQUIRE(err(st) == "ok");
        REQUIRE(st->type == file_type::directory);
        auto list = view->read_dir(p);
        REQUIRE(err(list) == "ok");
        REQUIRE(list->size() == (i == depth ? 2u : 1u));
        if (i < depth) path += "/d";
        if (i % 500 == 0) fd_peak = std::max(fd_peak, open_fd_count());
    }
    CHECK(fd_peak <= fds_before + 1 + 16);
    auto target = view->read_link(path + "/l");
    REQUIRE(err(target) == "ok");
    CHECK(*target == "f");
    {
        auto file = view->open(path + "/f");
        REQUIRE(err(file) == "ok");
        char buf[16];
        auto n = view->read(*file, 0, buf);
        REQUIRE(err(n) == "ok");
        CHECK(std::string(buf, *n) == "bottom\n");
    }
    CHECK(err(view->lstat(path + "/f/x")) == "ENOTDIR");
    CHECK(err(view->lstat(path + "/missing")) == "ENOENT");
    // Out of order: a shallow path after the deep ones, then deep again.
    CHECK(err(view->lstat("/d/d")) == "ok");
    CHECK(err(view->lstat(path + "/f")) == "ok");

    // Object by object (dump.hpp's node_tree_view), as the dump walks it.
    auto node = view->root();
    REQUIRE(err(node) == "ok");
    for (std::size_t i = 0; i < depth; ++i) {
        auto list = view->read_dir(*node);
        REQUIRE(err(list) == "ok");
        REQUIRE(list->size() == 1u);
        auto next = view->lookup(*node, "d");
        REQUIRE(err(next) == "ok");
        node = std::move(next);
    }
    auto f = view->lookup(*node, "f");
    REQUIRE(err(f) == "ok");
    CHECK(view->stat(*f)->size == 7u);
    auto l = view->lookup(*node, "l");
    REQUIRE(err(l) == "ok");
    CHECK(*view->read_link(*l) == "f");
    CHECK(err(view->open(*f)) == "ok");
    CHECK(err(view->lookup(*f, "x")) == "ENOTDIR");
    CHECK(open_fd_count() <= fds_before + 1 + 16);
}

TEST_CASE("0 posix_fs: a handle whose object was swapped is ESTALE", "[backend][posix][spec.0]") {
    temp_dir tmp;
    std::filesystem::create_directories(tmp / "L/a/b");
    std::filesystem::create_directories(tmp / "L/c");
    std::ofstream(tmp / "L/a/f") << "old";
    std::ofstream(tmp / "L/other") << "new";
    const posix_fs fs(ovlcore::posix_options{.dir_fd_capacity = 1});
    auto L = fs.resolve_dir((tmp / "L").string());
    REQUIRE(err(L) == "ok");
    auto a = ovlcore::walk(fs, L->ref, "a");
    REQUIRE(err(a) == "ok");
    auto b = fs.lookup(a->handle, "b");
    REQUIRE(err(b) == "ok");
    auto f = fs.lookup(a->handle, "f");
    REQUIRE(err(f) == "ok");
    REQUIRE(err(fs.read_dir(b->handle)) == "ok"); // b's descriptor is cached...
    REQUIRE(err(ovlcore::walk(fs, L->ref, "c")) == "ok");
    REQUIRE(err(fs.read_dir(ovlcore::walk(fs, L->ref, "c")->handle)) == "ok"); // ...and evicted

    // A directory replaced under its name after its handle was taken.
    std::filesystem::rename(tmp / "L/a/b", tmp / "L/b-old");
    std::filesystem::create_directories(tmp / "L/a/b");
    CHECK(err(fs.read_dir(b->handle)) == "ESTALE");
    CHECK(err(fs.lookup(b->handle, "x")) == "ESTALE");
    CHECK(err(fs.get_xattr(b->handle, "user.x")) == "ESTALE");
    // Removed: ESTALE too (the handle's object is not reachable under its name).
    std::filesystem::remove(tmp / "L/a/b");
    CHECK(err(fs.read_dir(b->handle)) == "ESTALE");
    // A new lookup finds what the name holds now.
    CHECK(err(fs.lookup(a->handle, "b")) == "ENOENT");

    // A file replaced under its name: open checks the object.
    std::filesystem::rename(tmp / "L/other", tmp / "L/a/f");
    CHECK(err(fs.open_file(f->handle)) == "ESTALE");
    auto again = fs.lookup(a->handle, "f");
    REQUIRE(err(again) == "ok");
    auto file = fs.open_file(again->handle);
    REQUIRE(err(file) == "ok");

    // The parent of everything swapped: every handle below it is stale, the layer root is not.
    REQUIRE(err(fs.read_dir(ovlcore::walk(fs, L->ref, "c")->handle)) == "ok"); // evict a
    std::filesystem::rename(tmp / "L/a", tmp / "L/a-old");
    std::filesystem::create_directories(tmp / "L/a");
    CHECK(err(fs.lookup(a->handle, "f")) == "ESTALE");
    CHECK(err(fs.open_file(f->handle)) == "ESTALE");
    CHECK(err(fs.read_dir(fs.root(L->ref)->handle)) == "ok");
}

TEST_CASE("0 posix_fs: many threads share one descriptor cache",
          "[backend][posix][concurrency][spec.0]") {
    temp_dir tmp;
    constexpr int width = 12;
    for (int i = 0; i < width; ++i)
        for (int j = 0; j < width; ++j) {
            const auto dir = tmp / "L" / ("d" + std::to_string(i)) / ("e" + std::to_string(j));
            std::filesystem::create_directories(dir);
            std::ofstream(dir / "f") << i << ":" << j;
            REQUIRE(::setxattr(dir.c_str(), "user.k", "v", 1, 0) == 0);
        }
    const posix_fs fs(ovlcore::posix_options{.dir_fd_capacity = 4});
    auto L = fs.resolve_dir((tmp / "L").string());
    REQUIRE(err(L) == "ok");
    const std::size_t fds_before = open_fd_count();
    std::vector<posix_fs::handle> dirs; // level-2 dirs, shared by every thread
    for (int i = 0; i < width; ++i)
        for (int j = 0; j < width; ++j) {
            auto h = ovlcore::walk(fs, L->ref, "d" + std::to_string(i) + "/e" + std::to_string(j));
            REQUIRE(err(h) == "ok");
            dirs.push_back(h->handle);
        }
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t)
        threads.emplace_back([&, t] {
            std::mt19937 rng(static_cast<unsigned>(t));
            for (int k = 0; k < 1500; ++k) {
                const std::size_t idx =
                    std::uniform_int_distribution<std::size_t>(0, dirs.size() - 1)(rng);
                const auto& d = dirs[idx];
                const std::string want =
                    std::to_string(idx / width) + ":" + std::to_string(idx % width);
                auto list = fs.read_dir(d);
                if (!list || list->size() != 1 || (*list)[0].name != "f") ++failures;
                auto x = fs.get_xattr(d, "user.k");
                if (!x || x->value_or("") != "v") ++failures;
                auto f = fs.lookup(d, "f");
                if (!f) {
                    ++failures;
                    continue;
                }
                auto file = fs.open_file(f->handle);
                char buf[16];
                auto n = file ? fs.read(*file, 0, buf) : ovlcore::result<std::size_t>(0);
                if (!n || std::string(buf, *n) != want) ++failures;
                auto again = ovlcore::walk(fs, L->ref, fs.path_of(f->handle));
                if (!again || again->st.ino != f->st.ino) ++failures;
            }
        });
    for (auto& th : threads) th.join();
    CHECK(failures.load() == 0);
    CHECK(fs.open_dir_fds() <= 4u);
    CHECK(open_fd_count() <= fds_before + 4);
}

TEST_CASE("0 posix_fs: a directory whose ancestors have no descriptor is opened by one call",
          "[backend][posix][spec.0]") {
    temp_dir tmp;
    std::filesystem::create_directories(tmp / "L/a/b/c/d");
    for (int i = 0; i < 4; ++i)
        std::filesystem::create_directories(tmp / "L" / ("x" + std::to_string(i)));
    const posix_fs fs(ovlcore::posix_options{.dir_fd_capacity = 4});
    auto L = fs.resolve_dir((tmp / "L").string());
    REQUIRE(err(L) == "ok");
    auto d = ovlcore::walk(fs, L->ref, "a/b/c/d");
    REQUIRE(err(d) == "ok");
    const auto evict = [&] { // a, b and c lose their descriptors
        for (int i = 0; i < 4; ++i)
            REQUIRE(err(fs.read_dir(ovlcore::walk(fs, L->ref, "x" + std::to_string(i))->handle)) ==
                    "ok");
    };
    evict();
    const auto before = fs.dir_fd_opens();
    REQUIRE(err(fs.read_dir(d->handle)) == "ok");
    CHECK(fs.dir_fd_opens() - before == 1); // "a/b/c/d" at once, not a, b, c, then d

    // The path is opened without following symlinks: a symlink in the middle is ESTALE, as when
    // the directories are opened one at a time (the symlink leads to the same d).
    std::filesystem::rename(tmp / "L/a/b", tmp / "L/a/b-real");
    std::filesystem::create_directory_symlink("b-real", tmp / "L/a/b");
    evict();
    CHECK(err(fs.read_dir(d->handle)) == "ESTALE");
}

TEST_CASE("0 posix_fs: directories only opened through do not push out the ones in use",
          "[backend][posix][spec.0]") {
    // Six leaves p<i>/c in rotation with six descriptors: their parents, looked up once, are then
    // only the way to the leaves; keeping them would leave five descriptors for six leaves.
    temp_dir tmp;
    constexpr int n = 6;
    for (int i = 0; i < n; ++i)
        std::filesystem::create_directories(tmp / "L" / ("p" + std::to_string(i)) / "c");
    const posix_fs fs(ovlcore::posix_options{.dir_fd_capacity = n});
    auto L = fs.resolve_dir((tmp / "L").string());
    REQUIRE(err(L) == "ok");
    std::vector<posix_fs::handle> leaves;
    for (int i = 0; i < n; ++i) {
        auto c = ovlcore::walk(fs, L->ref, "p" + std::to_string(i) + "/c");
        REQUIRE(err(c) == "ok");
        leaves.push_back(c->handle);
    }
    for (int round = 0; round < 2; ++round) // the parents age out
        for (const auto& c : leaves) REQUIRE(err(fs.read_dir(c)) == "ok");
    const auto before = fs.dir_fd_opens();
    for (int round = 0; round < 4; ++round)
        for (const auto& c : leaves) REQUIRE(err(fs.read_dir(c)) == "ok");
    CHECK(fs.dir_fd_opens() == before);
}

TEST_CASE("0 posix_fs: release_cached closes the descriptors no call uses; handles still answer",
          "[backend][posix][spec.0][spec.6]") {
    temp_dir tmp;
    std::filesystem::create_directories(tmp / "L/a/b");
    std::filesystem::create_directories(tmp / "D/ab");
    std::ofstream(tmp / "L/a/b/f") << "f";
    std::ofstream(tmp / "D/ab/cdef") << "data";
    const std::size_t fds_before = open_fd_count();
    const posix_fs fs;
    auto L = fs.resolve_dir((tmp / "L").string());
    auto D = fs.resolve_dir((tmp / "D").string());
    REQUIRE(err(L) == "ok");
    REQUIRE(err(D) == "ok");
    auto b = ovlcore::walk(fs, L->ref, "a/b");
    REQUIRE(err(b) == "ok");
    REQUIRE(err(fs.read_dir(b->handle)) == "ok");
    auto object = fs.lookup_beneath(D->ref, "/ab/cdef");
    REQUIRE(err(object) == "ok");
    CHECK(fs.open_dir_fds() >= 2);

    const posix_fs copy = fs; // copies share the caches
    copy.release_cached();
    CHECK(fs.open_dir_fds() == 0);
    CHECK(open_fd_count() == fds_before + 2); // only the layer roots' O_PATH descriptors

    // Opened again on demand: the same objects.
    const auto opens = fs.dir_fd_opens();
    auto listing = fs.read_dir(b->handle);
    REQUIRE(err(listing) == "ok");
    CHECK(listing->size() == 1);
    auto f = fs.lookup(b->handle, "f");
    REQUIRE(err(f) == "ok");
    CHECK(f->st.size == 1);
    auto again = fs.lookup_beneath(D->ref, "/ab/cdef");
    REQUIRE(err(again) == "ok");
    CHECK(again->st.ino == object->st.ino);
    CHECK(fs.dir_fd_opens() > opens);
}

TEST_CASE("0 posix_fs: release_cached keeps the descriptor a call in progress has pinned",
          "[backend][posix][spec.0]") {
    // A posix_fs call pins the directory descriptor it uses until it returns, and no call waits
    // on anything, so this drives the cache that release_cached() empties
    // (posix_dir_cache::release_unpinned) directly, with nodes made as resolve_dir and lookup
    // make them: a's entry pinned as a running read_dir pins it, b's left by a finished call.
    temp_dir tmp;
    std::filesystem::create_directories(tmp / "L/a");
    std::filesystem::create_directories(tmp / "L/b");
    for (const char* name : {"f", "g", "h"}) std::ofstream(tmp / "L/a" / name) << name;
    auto* layer = new ovlcore::detail::posix_root_node;
    layer->is_root = true; // release_node frees it as a root
    const node_ref root(layer);
    layer->type = file_type::directory;
    layer->fd.reset(::open((tmp / "L").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(layer->fd.valid());
    struct stat root_st {};
    REQUIRE(::fstat(layer->fd.get(), &root_st) == 0);
    layer->dev = root_st.st_dev;
    layer->ino = root_st.st_ino;
    const node_ref a = child_node(root, layer->fd.get(), "a");
    const node_ref b = child_node(root, layer->fd.get(), "b");

    ovlcore::detail::posix_dir_cache cache(4);
    REQUIRE(err(cache.acquire(b.get(), false)) == "ok"); // a finished call: cached, unpinned
    int fd = -1;
    {
        auto reader = cache.acquire(a.get(), true); // read_dir of a, still running
        REQUIRE(err(reader) == "ok");
        fd = reader->fd();
        REQUIRE(cache.open_count() == 2);

        CHECK(cache.release_unpinned() == 1); // b's only
        CHECK(cache.open_count() == 1);
        // The running call's descriptor is still open, still a's, and still answers.
        REQUIRE(::fcntl(fd, F_GETFD) != -1);
        struct stat st {};
        REQUIRE(::fstat(fd, &st) == 0);
        CHECK(a->same_object(st));
        auto listing = ovlcore::detail::read_dir_fd(fd);
        REQUIRE(err(listing) == "ok");
        std::vector<std::string> names;
        for (const auto& e : *listing) names.push_back(e.name);
        std::sort(names.begin(), names.end());
        CHECK(names == std::vector<std::string>{"f", "g", "h"});
        auto g = ovlcore::detail::statx_at(fd, "g");
        REQUIRE(err(g) == "ok");
        CHECK(g->stx_size == 1);
    }
    // The call has returned: the next release closes a's descriptor too.
    CHECK(cache.release_unpinned() == 1);
    CHECK(cache.open_count() == 0);
    CHECK(::fcntl(fd, F_GETFD) == -1);
}

TEST_CASE("6 posix_fs: release_cached forgets the directories the data-only walk remembered",
          "[backend][posix][spec.6]") {
    // lookup_beneath remembers the parent of a data-only walk ("ab/" of "/ab/cdef") as a handle,
    // which holds the layer's root node and with it the root's O_PATH descriptor, even after the
    // caller dropped the layer. Once release_cached() has run, nothing may hold it.
    temp_dir tmp;
    std::filesystem::create_directories(tmp / "D/ab");
    std::ofstream(tmp / "D/ab/cdef") << "data";
    const std::size_t fds_before = open_fd_count();
    const posix_fs fs;
    std::uint64_t ino = 0;
    {
        auto D = fs.resolve_dir((tmp / "D").string());
        REQUIRE(err(D) == "ok");
        auto object = fs.lookup_beneath(D->ref, "/ab/cdef");
        REQUIRE(err(object) == "ok");
        ino = object->st.ino;
    } // the layer and the object dropped by the caller
    REQUIRE(open_fd_count() > fds_before);

    fs.release_cached();
    CHECK(fs.open_dir_fds() == 0);
    CHECK(open_fd_count() == fds_before); // the root's O_PATH descriptor closed too

    // A later data-only walk finds the object again.
    auto D = fs.resolve_dir((tmp / "D").string());
    REQUIRE(err(D) == "ok");
    auto again = fs.lookup_beneath(D->ref, "/ab/cdef");
    REQUIRE(err(again) == "ok");
    CHECK(again->st.ino == ino);
    CHECK(again->st.size == 4);
    CHECK(fs.path_of(again->handle) == "ab/cdef");
}
