// SPDX-License-Identifier: MIT
// FORGET frees what the kernel no longer names (issue 11): fuse::server serves a memory_fs stack
// over an overlay with a bounded cache of unreferenced nodes; a walk of the mount makes the kernel
// look every object up, then `echo 2 > /proc/sys/vm/drop_caches` makes it forget them, and the
// overlay's live nodes (and the server's referenced ones) must come back to their level after the
// mount. Prints the node counts and the RSS at each step. docs/fuse.md §3; spec §10 Q2.
//
// Exit status: 0 pass, 1 failure, 77 skipped: not root (the mount lives in a private mount
// namespace, and dropping caches needs root), no usable /dev/fuse, or mounting is not allowed.
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

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

constexpr std::size_t kept_unreferenced = 64;
constexpr std::size_t dirs = 40, files_per_dir = 50;

/// VmRSS of this process in KiB, after returning free heap pages to the system.
long rss_kib() {
    ::malloc_trim(0);
    std::ifstream in("/proc/self/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

bool drop_caches() {
    std::ofstream out("/proc/sys/vm/drop_caches");
    out << "2\n";
    out.flush();
    return static_cast<bool>(out);
}

} // namespace

int main() {
    if (const int status = ovlcore::test::enter_private_mount_ns(
            "needs root (a private mount namespace, drop_caches)"))
        return status;

    ovlcore::memory_fs layers;
    for (std::size_t d = 0; d < dirs; ++d)
        for (std::size_t f = 0; f < files_per_dir; ++f) {
            const std::string path = "/d" + std::to_string(d) + "/f" + std::to_string(f);
            layers.add_file((f % 2 ? "/A" : "/B") + path, "content of " + path);
        }
    auto stack = ovlcore::make_layer_stack(layers, "lowerdir=/A:/B");
    if (!stack) return fail("the stack was refused");
    const ovlcore::overlay ov(layers, std::move(*stack), {},
                              {.max_unreferenced_nodes = kept_unreferenced});
    server_type server(ov);

    char dir_template[] = "/tmp/ovlcore-fuse-forget-XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) return fail("mkdtemp failed");
    const std::string mnt = dir_template;
    ovlcore::test::fuse_test_mount fuse_mount(mnt);
    if (const int status = fuse_mount.mount(
            server, {"ovlcore_fuse_forget", "-o", "ro,default_permissions,fsname=ovlcore_forget"}))
        return status;
    fuse_mount.start();

    const std::size_t mounted_nodes = ov.live_nodes();
    const long mounted_rss = rss_kib();
    int status = 0;
    {
        auto tree = ovlcore::mounted_tree::open_root(mnt);
        if (!tree) {
            status = fail("cannot open the mount");
        } else {
            const auto records = ovlcore::dump_records(*tree);
            if (records.size() != 1 + dirs * (1 + files_per_dir))
                status = fail("the walk saw " + std::to_string(records.size()) + " objects");
        }
    }
    const std::size_t walked_nodes = ov.live_nodes(),
                      referenced = server.inodes().referenced_nodes();
    const long walked_rss = rss_kib();
    if (walked_nodes < dirs * files_per_dir)
        status = fail("after the walk only " + std::to_string(walked_nodes) + " nodes are alive");

    // The kernel forgets its unused dentries and inodes: FORGET / BATCH_FORGET for each.
    if (!drop_caches()) status = fail("cannot write /proc/sys/vm/drop_caches");
    // Unreferenced nodes kept, each with its parent dir at most.
    const std::size_t bound = mounted_nodes + 2 * kept_unreferenced;
    // The server releases its cache once the kernel forgot (fewer than trim_min_forgotten left).
    const std::size_t released = server_type::trim_min_forgotten;
    for (int i = 0;
         i < 1000 && (ov.live_nodes() > bound || server.inodes().referenced_nodes() != 0 ||
                      ov.unreferenced_nodes() >= released);
         ++i) {
        if (i % 100 == 99) (void)drop_caches();
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    const std::size_t forgotten_nodes = ov.live_nodes();
    const long forgotten_rss = rss_kib();
    std::printf(
        "nodes: %zu after mount, %zu after the walk (%zu referenced by the kernel), %zu "
        "after drop_caches (%zu still referenced)\n",
        mounted_nodes, walked_nodes, referenced, forgotten_nodes,
        server.inodes().referenced_nodes());
    std::printf("RSS KiB: %ld after mount, %ld after the walk, %ld after drop_caches\n",
                mounted_rss, walked_rss, forgotten_rss);
    if (forgotten_nodes > bound)
        status = fail("after drop_caches " + std::to_string(forgotten_nodes) +
                      " nodes are alive (at most " + std::to_string(bound) + " expected)");
    // The kernel shed its caches, so did the server: the cache of unreferenced nodes (full,
    // kept_unreferenced, without the release) was emptied, beyond the last few forgotten after.
    const std::size_t cached = ov.unreferenced_nodes();
    std::printf("unreferenced nodes cached after drop_caches: %zu\n", cached);
    if (cached >= released)
        status = fail("after drop_caches " + std::to_string(cached) +
                      " unreferenced nodes are still cached (the server did not release them)");

    if (const int stopped = fuse_mount.stop()) status = stopped;
    return status;
}
