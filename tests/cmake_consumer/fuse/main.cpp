// SPDX-License-Identifier: MIT
// Consumer test: a project that serves an overlay of its own in-memory backend through FUSE with
// ovlcore::fuse alone (docs/fuse.md §1). It mounts the stack, walks the mount with posix_fs
// (mounted_tree) and requires the dump (dump-format.md) to equal ovlcore's own dump of the same
// stack; statfs must come from the backend's statfs capability (docs/fuse.md §5); the kernel must
// hold lookup references after the walk, and a name it forgets must drop to zero (docs/fuse.md §3).
// Exit status: 0 pass, 1 failure, 77 skipped (no usable /dev/fuse, or mounting is not allowed).
#include <sched.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <ovlcore/backend/forwarding.hpp>
#include <ovlcore/backend/memory.hpp>
#include <ovlcore/backend/posix_tree.hpp>
#include <ovlcore/dump.hpp>
#include <ovlcore/fuse/server.hpp>
#include <ovlcore/fuse/session.hpp>
#include <ovlcore/layer_stack.hpp>
#include <ovlcore/overlay.hpp>

namespace {

constexpr int skipped = 77;

/// The custom backend: memory_fs's tree, plus the optional statfs capability that the adapter
/// detects at compile time (docs/fuse.md §5). Its files have no descriptor, so whether the page
/// cache may keep a file is decided by the adapter's fallback.
struct catalog_fs : ovlcore::forwarding_fs<ovlcore::memory_fs> {
    using base = ovlcore::forwarding_fs<ovlcore::memory_fs>;
    using base::base;

    [[nodiscard]] ovlcore::result<struct statvfs> statfs(const layer_ref& /*layer*/) const {
        struct statvfs sv {};
        sv.f_bsize = 8192;
        sv.f_frsize = 8192;
        sv.f_blocks = 1000;
        sv.f_files = 42;
        return sv;
    }
};
static_assert(ovlcore::backing_filesystem<catalog_fs>);
static_assert(ovlcore::fuse::backend_with_statfs<catalog_fs>);

/// Two lower layers and a data-only layer: replaced, whited-out and opaque names, a symlink, a
/// device, a fifo, lazy lowerdata (spec §3, §5, §6), and a metacopy whose data file is longer than
/// its st_size (read to its end, so it must bypass the page cache).
ovlcore::memory_fs make_layers() {
    ovlcore::memory_fs fs;
    fs.add_file("/l2/etc/motd", "base\n")
        .add_file("/l2/etc/old", "gone\n")
        .add_file("/l2/etc/keep", "kept\n")
        .add_file("/l2/opt/hidden", "hidden by an opaque dir\n")
        .add_file("/l1/etc/motd", "hello from ovlcore::fuse\n")
        .add_whiteout("/l1/etc/old")
        .add_dir("/l1/opt")
        .set_xattr("/l1/opt", "trusted.overlay.opaque", "y")
        .add_file("/l1/opt/new", "new\n", {.mode = 0600, .uid = 1000, .gid = 100})
        .add_symlink("/l1/motd", "etc/motd")
        .add_device("/l1/dev/null", ovlcore::file_type::char_device, 1, 3)
        .add_fifo("/l1/run/fifo")
        .add_file("/l1/bin/app", "", {.mode = 0755, .size = 6})
        .set_xattr("/l1/bin/app", "trusted.overlay.metacopy", "")
        .set_xattr("/l1/bin/app", "trusted.overlay.redirect", "/objects/ab12")
        .add_file("/l1/bin/short", "", {.size = 3})
        .set_xattr("/l1/bin/short", "trusted.overlay.metacopy", "")
        .set_xattr("/l1/bin/short", "trusted.overlay.redirect", "/objects/cd34")
        .add_file("/store/objects/ab12", "hello\n")
        .add_file("/store/objects/cd34", "longer than three\n");
    return fs;
}

constexpr const char* mount_options = "lowerdir=/l1:/l2::/store,metacopy=on";

int fail(const std::string& why) {
    std::fprintf(stderr, "FAIL: %s\n", why.c_str());
    return 1;
}

int skip(const char* why) {
    std::printf("SKIPPED: %s\n", why);
    return skipped;
}

} // namespace

int main() {
    using server_type = ovlcore::fuse::server<catalog_fs>;
    if (::access("/dev/fuse", R_OK | W_OK) != 0) return skip("/dev/fuse is not usable here");
    // As root: a private mount namespace, so that the mount never shows outside this process.
    if (::unshare(CLONE_NEWNS) == 0 &&
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        return fail("cannot make the mount namespace private");

    const ovlcore::memory_fs layers = make_layers();
    const catalog_fs fs(layers);
    auto stack = ovlcore::make_layer_stack(fs, mount_options);
    if (!stack) return fail("the stack was refused");
    const ovlcore::overlay ov(fs, std::move(*stack));
    server_type server(ov);

    char dir_template[] = "/tmp/ovlcore-consumer-fuse-XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) return fail("mkdtemp failed");
    const std::string mnt = dir_template;
    const std::vector<std::string> args = {"ovlcore_consumer_fuse", "-o",
                                           "ro,default_permissions,fsname=ovlcore_consumer_fuse"};
    auto session = ovlcore::fuse::session::create(server, server_type::operations(), args);
    if (!session) return fail("cannot create the FUSE session");
    if (!session->mount(mnt)) {
        ::rmdir(mnt.c_str());
        return skip("mounting a FUSE file system is not allowed here");
    }
    int loop_result = -1;
    std::thread loop([&] { loop_result = session->loop({.single_thread = true}); });

    std::string mounted_dump;
    std::string walk_error;
    struct statvfs sv {};
    {
        // Closed before the unmount: an open root would keep the mount (and the loop) alive.
        auto tree = ovlcore::mounted_tree::open_root(mnt);
        if (tree) {
            auto records = ovlcore::dump_records(*tree);
            mounted_dump = ovlcore::to_jsonl(records);
        } else {
            walk_error = "cannot open the mount: " + std::string(ovlcore::errno_name(tree.error()));
        }
        if (::statvfs(mnt.c_str(), &sv) != 0) walk_error = "statvfs on the mount failed";
    }
    const std::size_t referenced = server.inodes().referenced_nodes();
    // docs/fuse.md §3: the walk gave the kernel a reference to /etc/keep; once the kernel drops
    // the name (invalidated here), its FORGET must bring the count back to zero.
    const auto etc = ov.resolve("/etc");
    const auto keep = ov.resolve("/etc/keep");
    if (!etc || !keep) walk_error = "ovlcore cannot resolve /etc/keep";
    const std::uint64_t keep_before = keep ? server.inodes().lookup_count(*keep) : 0;
    std::uint64_t keep_after = keep_before;
    if (keep && keep_before > 0 &&
        fuse_lowlevel_notify_inval_entry(session->get(), server.inodes().to_ino(*etc), "keep", 4) ==
            0) {
        for (int i = 0; i < 200 && keep_after > 0; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
            keep_after = server.inodes().lookup_count(*keep);
        }
    }
    session->exit();
    session->unmount();
    loop.join();
    ::rmdir(mnt.c_str());

    if (!walk_error.empty()) return fail(walk_error);
    if (!ovlcore::fuse::session::clean_stop(loop_result))
        return fail("the FUSE loop ended with " + std::to_string(loop_result));

    // ovlcore's own dump of the same stack, from a fresh overlay (its own object cache).
    auto again = ovlcore::make_layer_stack(fs, mount_options);
    if (!again) return fail("the stack was refused the second time");
    const ovlcore::overlay reference(fs, std::move(*again));
    const std::string own_dump = ovlcore::to_jsonl(ovlcore::dump_records(reference));
    if (mounted_dump != own_dump)
        return fail("the FUSE mount dumps differently from ovlcore:\n--- ovlcore\n" + own_dump +
                    "--- mount\n" + mounted_dump);
    if (sv.f_bsize != 8192 || sv.f_blocks != 1000 || sv.f_namemax != 255)
        return fail("statfs does not come from the backend: f_bsize " + std::to_string(sv.f_bsize) +
                    ", f_blocks " + std::to_string(sv.f_blocks) + ", f_namemax " +
                    std::to_string(sv.f_namemax));
    if (referenced == 0) return fail("the kernel holds no lookup reference after the walk");
    if (keep_before == 0 || keep_after != 0)
        return fail("lookup count of /etc/keep: " + std::to_string(keep_before) +
                    " after the walk, " + std::to_string(keep_after) +
                    " after the kernel forgot it (expected >0, then 0)");
    std::printf(
        "ovlcore::fuse consumer: %zu lines agree with ovlcore's dump, %zu nodes referenced\n",
        static_cast<std::size_t>(std::count(own_dump.begin(), own_dump.end(), '\n')), referenced);
    return 0;
}
