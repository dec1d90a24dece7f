// SPDX-License-Identifier: MIT
// The FUSE adapter in ~50 lines: an in-memory layer stack (memory_fs) mounted read-only through
// ovlcore::fuse, with one operation wrapped (docs/fuse.md §1, §2). Any backing_filesystem works the
// same way: replace memory_fs by your own backend.
//
//   ovlcore_fuse_memory MOUNTPOINT    (runs in the foreground; stop it with fusermount3 -u
//                                      MOUNTPOINT, SIGINT or SIGTERM)
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include <ovlcore/backend/memory.hpp>
#include <ovlcore/fuse/server.hpp>
#include <ovlcore/fuse/session.hpp>
#include <ovlcore/layer_stack.hpp>
#include <ovlcore/overlay.hpp>

using server_type = ovlcore::fuse::server<ovlcore::memory_fs>;

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s MOUNTPOINT\n", argv[0]);
        return 64;
    }
    // Two layers: "top" replaces /etc/motd and whites out /etc/old (spec §3, §5).
    ovlcore::memory_fs fs;
    fs.add_file("/base/etc/motd", "base\n")
        .add_file("/base/etc/old", "gone\n")
        .add_file("/top/etc/motd", "hello from ovlcore::fuse\n")
        .add_whiteout("/top/etc/old")
        .add_symlink("/top/motd", "etc/motd");
    auto stack = ovlcore::make_layer_stack(fs, "lowerdir=/top:/base");
    if (!stack) {
        std::fprintf(stderr, "the kernel would refuse this mount\n");
        return 2;
    }
    const ovlcore::overlay ov(fs, std::move(*stack));
    server_type server(ov, {.readdirplus = ovlcore::fuse::readdirplus_mode::eager});

    // Override one operation: log every open, then let the adapter answer it.
    fuse_lowlevel_ops ops = server_type::operations();
    ops.open = [](fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
        std::fprintf(stderr, "open: node %llu\n", static_cast<unsigned long long>(ino));
        server_type::op_open(req, ino, fi);
    };

    const std::vector<std::string> args = {argv[0], "-o",
                                           "ro,default_permissions,fsname=fuse_memory"};
    auto session = ovlcore::fuse::session::create(server, ops, args);
    if (!session || !session->install_signal_handlers() || !session->mount(argv[1])) {
        std::fprintf(stderr, "%s: cannot mount on %s\n", argv[0], argv[1]);
        return 1;
    }
    const int rc = session->loop({.single_thread = true});
    return ovlcore::fuse::session::clean_stop(rc) ? 0 : 1;
}
