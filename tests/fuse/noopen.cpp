// SPDX-License-Identifier: MIT
// Opens without OPEN (server_options::open_requests false, docs/fuse.md §2): a fuse::server mount
// of plain files and lazy metacopy files (spec §6) is read twice by a reader process. The first
// OPEN is answered ENOSYS, after which the kernel asks no more: every read must return the file's
// bytes (READ opening the data itself, lazy lowerdata resolved there), the second pass must come
// from the page cache without a single request, and a lazy file whose data is missing opens (the
// documented difference from the kernel's overlay) while its read fails with the errno the
// overlay's own open gives.
//
// Exit status: 0 pass, 1 failure, 77 skipped: not root, no usable /dev/fuse, or mounting is not
// allowed here.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include <ovlcore/backend/memory.hpp>
#include <ovlcore/fuse/server.hpp>
#include <ovlcore/fuse/session.hpp>
#include <ovlcore/layer_stack.hpp>
#include <ovlcore/overlay.hpp>

#include "fuse/fuse_test_mount.hpp"

namespace {

using ovlcore::fuse::request;
using ovlcore::test::fail;

constexpr int plain_files = 8;
constexpr const char* stack_options = "lowerdir=/A::/D,metacopy=on";

std::string plain_data(int i) { return "plain file " + std::to_string(i); }
const std::string lazy_data = std::string(70000, 'z'); // two READs

ovlcore::memory_fs make_layers() {
    ovlcore::memory_fs fs;
    for (int i = 0; i < plain_files; ++i) fs.add_file("/A/f" + std::to_string(i), plain_data(i));
    fs.add_file("/D/obj/z", lazy_data)
        .add_file("/A/z", "", {.size = lazy_data.size()})
        .set_xattr("/A/z", "trusted.overlay.metacopy", "")
        .set_xattr("/A/z", "trusted.overlay.redirect", "/obj/z")
        .add_file("/A/gone", "", {.size = 10})
        .set_xattr("/A/gone", "trusted.overlay.metacopy", "")
        .set_xattr("/A/gone", "trusted.overlay.redirect", "/obj/missing");
    return fs;
}

/// The whole content of `path`, or the errno of the failing open or read (as a negative size).
struct read_result {
    std::string data;
    int open_errno = 0;
    int read_errno = 0;
};

read_result read_whole(const std::string& path) {
    read_result out;
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) {
        out.open_errno = errno;
        return out;
    }
    char buf[16384];
    for (;;) {
        const ssize_t got = ::read(fd, buf, sizeof buf);
        if (got < 0) {
            out.read_errno = errno;
            break;
        }
        if (got == 0) break;
        out.data.append(buf, static_cast<std::size_t>(got));
    }
    ::close(fd);
    return out;
}

/// One pass over the plain files and z: 0, or 1 after saying which file read wrong.
int read_all(const std::string& mnt) {
    int status = 0;
    for (int i = 0; i < plain_files; ++i) {
        const auto r = read_whole(mnt + "/f" + std::to_string(i));
        if (r.open_errno != 0 || r.read_errno != 0 || r.data != plain_data(i))
            status = fail("f" + std::to_string(i) + " reads wrong (open errno " +
                          std::to_string(r.open_errno) + ", read errno " +
                          std::to_string(r.read_errno) + ")");
    }
    const auto z = read_whole(mnt + "/z");
    if (z.open_errno != 0 || z.read_errno != 0 || z.data != lazy_data)
        status = fail("the lazy file z reads wrong (open errno " + std::to_string(z.open_errno) +
                      ", read errno " + std::to_string(z.read_errno) + ", " +
                      std::to_string(z.data.size()) + " bytes)");
    return status;
}

/// The errno the overlay's own open gives `path` (spec §6), 0 if it opens, from an overlay that
/// serves nothing else.
int open_errno(const ovlcore::memory_fs& layers, std::string_view path) {
    auto stack = ovlcore::make_layer_stack(layers, stack_options);
    if (!stack) return EINVAL;
    const ovlcore::overlay reference(layers, std::move(*stack));
    const auto opened = reference.open(path);
    return opened ? 0 : ovlcore::errno_value(opened.error());
}

} // namespace

int main() {
    std::signal(SIGPIPE, SIG_IGN); // a reader that died makes the pipe writes fail, not kill us
    if (const int status =
            ovlcore::test::enter_private_mount_ns("needs root (a private mount namespace)"))
        return status;

    const ovlcore::memory_fs layers = make_layers();
    const int gone_errno = open_errno(layers, "/gone");
    if (gone_errno == 0) return fail("the overlay opens /gone, whose data is missing");
    auto stack = ovlcore::make_layer_stack(layers, stack_options);
    if (!stack) return fail("the stack was refused");
    const ovlcore::overlay ov(layers, std::move(*stack));

    char dir_template[] = "/tmp/ovlcore-fuse-noopen-XXXXXX";
    if (::mkdtemp(dir_template) == nullptr) return fail("mkdtemp failed");
    const std::string work = dir_template;
    const std::string mnt = work + "/mnt";
    if (::mkdir(mnt.c_str(), 0755) != 0) return fail("cannot make " + mnt);
    // The reader is a process, forked before the mount (a crashing server fails the test instead
    // of hanging it); between its passes it waits for this process to take the request counts.
    int first_done[2], second_go[2];
    if (::pipe(first_done) != 0 || ::pipe(second_go) != 0) return fail("pipe failed");
    ovlcore::test::reader_processes reader;
    if (const int forked = reader.fork(1, [&](int /*index*/) {
            ::close(first_done[0]); // this side's ends only: the other side's exit is seen
            ::close(second_go[1]);
            int status = read_all(mnt);
            const auto gone = read_whole(mnt + "/gone");
            if (gone.open_errno != 0)
                status = fail("/gone does not open (errno " + std::to_string(gone.open_errno) +
                              "): the kernel still asks OPEN");
            else if (gone.read_errno != gone_errno)
                status = fail("reading /gone gives errno " + std::to_string(gone.read_errno) +
                              ", the overlay's open " + std::to_string(gone_errno));
            char byte = 0;
            if (::write(first_done[1], &byte, 1) != 1 || ::read(second_go[0], &byte, 1) != 1)
                return 1;
            if (read_all(mnt) != 0) status = 1;
            return status;
        }))
        return forked;
    ::close(first_done[1]);
    ::close(second_go[0]);

    ovlcore::fuse::server<ovlcore::memory_fs> server(ov, {.open_requests = false});
    ovlcore::test::fuse_test_mount fuse_mount(mnt);
    if (const int status = fuse_mount.mount(
            server, {"ovlcore_fuse_noopen", "-o", "ro,default_permissions,fsname=noopen"}))
        return status;

    fuse_mount.start();
    int status = reader.start() ? 0 : fail("cannot start the reader");
    char byte = 0;
    if (::read(first_done[0], &byte, 1) != 1) status = fail("the reader's first pass did not end");
    const std::uint64_t opens = server.stats()[request::open];
    const std::uint64_t reads = server.stats()[request::read];
    if (::write(second_go[1], &byte, 1) != 1) status = fail("cannot start the second pass");
    if (reader.wait() != 0) status = 1;
    const std::uint64_t reads_again = server.stats()[request::read] - reads;
    const std::uint64_t opens_again = server.stats()[request::open] - opens;
    if (const int stopped = fuse_mount.stop()) status = stopped;
    ::rmdir(work.c_str());
    ::close(first_done[0]);
    ::close(second_go[1]);

    if (opens != 1)
        status = fail(std::to_string(opens) + " OPEN requests in the first pass, 1 expected " +
                      "(answered ENOSYS, then none)");
    if (reads_again != 0 || opens_again != 0)
        status = fail("the second pass reached the server: " + std::to_string(reads_again) +
                      " READ, " + std::to_string(opens_again) + " OPEN (page cache expected)");
    if (status == 0)
        std::printf(
            "%d files read twice with 1 OPEN (ENOSYS) and %llu READ requests; /gone "
            "opens and reads as errno %d\n",
            plain_files + 1, static_cast<unsigned long long>(reads), gone_errno);
    return status;
}
