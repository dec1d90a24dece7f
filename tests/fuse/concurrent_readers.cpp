// SPDX-License-Identifier: MIT
// The FUSE server under many threads (issue 12): fuse::server serves a memory_fs stack through
// libfuse's multi-threaded loop while reader threads and reader processes walk the mount at once
// (dump.hpp's walk: lstat, readdir, readlink, open, read), entries and attributes not cached by
// the kernel (cache_timeout 0) so that every walk reaches the server. Every reader's dump must equal
// ovlcore's own dump of the stack, and once the readers are done the server holds no open handle.
// Runs three times: readdirplus=known with one /dev/fuse descriptor, readdirplus=eager (lookups
// inside readdir racing the readers' LOOKUPs) with one descriptor per thread, and eager over an
// overlay with a bounded cache of unreferenced nodes while the kernel is made to forget (drop_caches)
// over and over: FORGETs free nodes while lookups find them. docs/fuse.md §2-§4, §6; spec §5.3,
// §6, §8, §10 Q2. Run by the tsan lane of scripts/test.sh (label concurrency).
//
// Exit status: 0 pass, 1 failure, 77 skipped: not root (the mount lives in a private mount
// namespace), no usable /dev/fuse, or mounting is not allowed here.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <ovlcore/backend/memory.hpp>
#include <ovlcore/backend/posix_tree.hpp>
#include <ovlcore/dump.hpp>
#include <ovlcore/fuse/server.hpp>
#include <ovlcore/fuse/session.hpp>
#include <ovlcore/layer_stack.hpp>
#include <ovlcore/overlay.hpp>

#include "fuse/fuse_test_mount.hpp"

namespace {

using ovlcore::test::fail;
using server_type = ovlcore::fuse::server<ovlcore::memory_fs>;

constexpr int reader_threads = 6;
constexpr int reader_processes = 2;
constexpr const char* stack_options = "lowerdir=/A:/B::/D,metacopy=on";

/// Dirs of replaced, whited-out, opaque and symlinked names, files of several sizes (the large
/// ones take several READs), lazy lowerdata with own and shared data files (spec §3-§6).
ovlcore::memory_fs make_layers() {
    ovlcore::memory_fs fs;
    fs.add_file("/D/obj/shared", std::string(70000, 's'));
    for (int i = 0; i < 12; ++i) {
        const std::string d = "/d" + std::to_string(i);
        for (int j = 0; j < 8; ++j) {
            const std::string n = std::to_string(j);
            fs.add_file("/A" + d + "/a" + n, std::string(static_cast<std::size_t>(j * 997), 'a'));
            fs.add_file("/B" + d + "/b" + n, "b" + n);
        }
        fs.add_file("/A" + d + "/big", std::string(300000, static_cast<char>('A' + i)))
            .add_file("/A" + d + "/s", "upper lower")
            .add_file("/B" + d + "/s", "hidden lower")
            .add_whiteout("/A" + d + "/w")
            .add_file("/B" + d + "/w", "whited out")
            .add_file("/A" + d + "/o/in", "in")
            .set_xattr("/A" + d + "/o", "trusted.overlay.opaque", "y")
            .add_file("/B" + d + "/o/hidden", "hidden")
            .add_symlink("/A" + d + "/l", "a0")
            .add_file("/B" + d + "/sub/deeper/f", "deep")
            .add_file("/D/obj/z" + std::to_string(i), "lazy data of " + d)
            .add_file("/A" + d + "/z", "", {.size = 16})
            .set_xattr("/A" + d + "/z", "trusted.overlay.metacopy", "")
            .set_xattr("/A" + d + "/z", "trusted.overlay.redirect", "/obj/z" + std::to_string(i))
            .add_file("/A" + d + "/y", "", {.size = 70000})
            .set_xattr("/A" + d + "/y", "trusted.overlay.metacopy", "")
            .set_xattr("/A" + d + "/y", "trusted.overlay.redirect", "/obj/shared");
    }
    return fs;
}

/// The canonical dump of the mount at `mnt`, or a line saying why it could not be walked.
std::string dump_mount(const std::string& mnt) {
    auto tree = ovlcore::mounted_tree::open_root(mnt);
    if (!tree) return "cannot open the mount: " + std::string(ovlcore::errno_name(tree.error()));
    return ovlcore::to_jsonl(ovlcore::dump_records(*tree));
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// One mount, `reader_threads` threads and `reader_processes` processes walking it at once.
/// Returns 0, 1 (failure, said on stderr) or 77 (mounting is not allowed here).
int run(const ovlcore::overlay<ovlcore::memory_fs>& ov, const std::string& expected,
        const std::string& work, ovlcore::fuse::server_options options, bool clone_fd,
        bool forgetting = false) {
    const std::string mnt = work + "/mnt";
    if (::mkdir(mnt.c_str(), 0755) != 0) return fail("cannot make " + mnt);
    // Processes first: before the mount and while this process has no other thread.
    ovlcore::test::reader_processes processes;
    if (const int forked = processes.fork(reader_processes, [&](int p) {
            std::ofstream(work + "/process" + std::to_string(p) + ".jsonl") << dump_mount(mnt);
            return 0;
        }))
        return forked;
    server_type server(ov, options);
    ovlcore::test::fuse_test_mount fuse_mount(mnt);
    if (const int status =
            fuse_mount.mount(server, {"ovlcore_fuse_concurrent_readers", "-o",
                                      "ro,default_permissions,fsname=ovlcore_readers"}))
        return status;

    fuse_mount.start({.clone_fd = clone_fd, .max_idle_threads = 16});
    std::vector<std::string> dumps(reader_threads);
    std::vector<std::thread> readers;
    for (int t = 0; t < reader_threads; ++t)
        readers.emplace_back([&, t] { dumps[static_cast<std::size_t>(t)] = dump_mount(mnt); });
    const bool started = processes.start();
    int status = 0;
    {
        // The kernel forgets unused dentries while the readers walk.
        std::optional<ovlcore::test::cache_dropper> dropper;
        if (forgetting) dropper.emplace(std::chrono::milliseconds(5));
        for (auto& r : readers) r.join();
        status = processes.wait();
    }
    // The kernel sends RELEASE and RELEASEDIR after close(2) returns: wait for them.
    for (int i = 0; i < 500 && (server.files().size() != 0 || server.dirs().size() != 0); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const std::size_t open_files = server.files().size(), open_dirs = server.dirs().size();
    if (const int stopped = fuse_mount.stop()) status = stopped;

    if (!started) status = fail("cannot start the reader processes");
    for (int p = 0; p < reader_processes; ++p)
        dumps.push_back(read_file(work + "/process" + std::to_string(p) + ".jsonl"));
    for (std::size_t r = 0; r < dumps.size(); ++r)
        if (dumps[r] != expected)
            status = fail("reader " + std::to_string(r) + " dumps the mount differently from " +
                          "ovlcore:\n--- ovlcore\n" + expected + "--- mount\n" + dumps[r]);
    if (open_files != 0 || open_dirs != 0)
        status = fail("after the readers: " + std::to_string(open_files) + " open files, " +
                      std::to_string(open_dirs) + " open dirs left in the server");
    return status;
}

} // namespace

int main() {
    if (const int status =
            ovlcore::test::enter_private_mount_ns("needs root (a private mount namespace)"))
        return status;

    const ovlcore::memory_fs layers = make_layers();
    auto stack = ovlcore::make_layer_stack(layers, stack_options);
    if (!stack) return fail("the stack was refused");
    const ovlcore::overlay ov(layers, std::move(*stack));
    // The expected dump from an overlay of its own: the served one starts with empty caches.
    auto again = ovlcore::make_layer_stack(layers, stack_options);
    if (!again) return fail("the stack was refused the second time");
    const ovlcore::overlay reference(layers, std::move(*again));
    const std::string expected = ovlcore::to_jsonl(ovlcore::dump_records(reference));

    char dir_template[] = "/tmp/ovlcore-fuse-readers-XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) return fail("mkdtemp failed");
    const std::string work = dir_template;
    using ovlcore::fuse::readdirplus_mode;
    int status = run(ov, expected, work,
                     {.readdirplus = readdirplus_mode::known, .cache_timeout = 0}, false);
    if (status == 0) {
        // A second overlay: the first one's caches are warm now.
        auto third = ovlcore::make_layer_stack(layers, stack_options);
        if (!third) return fail("the stack was refused the third time");
        const ovlcore::overlay fresh(layers, std::move(*third));
        status = run(fresh, expected, work,
                     {.readdirplus = readdirplus_mode::eager, .cache_timeout = 0}, true);
    }
    if (status == 0) {
        // Nodes the kernel forgets are freed at once (docs/fuse.md §3), racing the lookups.
        auto fourth = ovlcore::make_layer_stack(layers, stack_options);
        if (!fourth) return fail("the stack was refused the fourth time");
        const ovlcore::overlay bounded(layers, std::move(*fourth), {},
                                       {.max_unreferenced_nodes = 4});
        status = run(bounded, expected, work,
                     {.readdirplus = readdirplus_mode::eager, .cache_timeout = 0}, false, true);
    }
    for (int p = 0; p < reader_processes; ++p)
        ::unlink((work + "/process" + std::to_string(p) + ".jsonl").c_str());
    ::rmdir(work.c_str());
    if (status == 0)
        std::printf(
            "%d threads and %d processes read the mount like ovlcore, 3 times (%zu lines)\n",
            reader_threads, reader_processes,
            static_cast<std::size_t>(std::count(expected.begin(), expected.end(), '\n')));
    return status;
}
