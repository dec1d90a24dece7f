// SPDX-License-Identifier: MIT
// ovlcore/fuse/server.hpp: fuse::server<B>, a read-only libfuse3 low-level file system serving an
// overlay<B> for any backend B, and its operations table, which an embedder may patch op by op.
// Implements docs/fuse.md §1-§5; spec §2.1 (xattrs), §5 (lookup), §6 (open), §8 (readdir), §9.
//
// Shape: node ids are the overlay's stable node handles (root = FUSE_ROOT_ID) with the kernel's
// lookup counts in an inode_table; directory handles snapshot the merged listing at the first
// readdir, so offsets are stable indices; one reply per request; errnos straight from result<T>.
// Everything is read-only: opens for writing fail with EROFS, as on an overlay without upperdir.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#if defined(__GLIBC__)
#  include <malloc.h>
#endif

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "../backend.hpp"
#include "../overlay.hpp"
#include "../result.hpp"
#include "../trace.hpp"
#include "../types.hpp"
#include "../xattr_view.hpp"
#include "aliasing.hpp"
#include "attributes.hpp"
#include "capabilities.hpp"
#include "handles.hpp"
#include "inode_table.hpp"
#include "known_names.hpp"
#include "libfuse.hpp"
#include "options.hpp"
#include "pages.hpp"
#include "stats.hpp"

namespace ovlcore::fuse {

/// The state behind a FUSE session serving one overlay, and the operations that answer the
/// kernel's requests (docs/fuse.md §2).
///
/// Use: build the overlay, a server over it, then a session (session.hpp) with operations() and
/// the server as userdata. The overlay (and its backend) must outlive the server, the server the
/// session. To change one operation, patch the table before creating the session; the replacement
/// finds the server with server::from(req) and may call the adapter's own op_* for the rest:
///
///     fuse_lowlevel_ops ops = server_type::operations();
///     ops.statfs = [](fuse_req_t req, fuse_ino_t ino) { ...; server_type::op_statfs(req, ino); };
///
/// A replacement init must call server::op_init (it negotiates the capabilities the others rely
/// on). Not copyable or movable: libfuse keeps its address.
template <backing_filesystem B, class Trace = null_trace>
class server {
public:
    using overlay_type = overlay<B, Trace>;
    using node_handle = typename overlay_type::node_handle;
    using dir_handle_type = dir_handle<node_handle>;
    using file_handle_type = file_handle<typename overlay_type::overlay_file>;

    explicit server(const overlay_type& ov OVLCORE_LIFETIME_BOUND, server_options options = {})
        : m_overlay(&ov), m_options(options), m_inodes(root_of(ov), &ov, node_references),
          m_aliases(ov, options.census_limit) {
        if (auto root = ov.root(); !root) m_root_error = root.error();
    }
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    [[nodiscard]] const overlay_type& ov() const noexcept { return *m_overlay; }
    [[nodiscard]] const server_options& options() const noexcept { return m_options; }

    /// Node ids and the kernel's lookup counts (docs/fuse.md §3).
    [[nodiscard]] inode_table<node_handle>& inodes() noexcept { return m_inodes; }
    [[nodiscard]] const inode_table<node_handle>& inodes() const noexcept { return m_inodes; }

    /// Names the kernel has looked up (readdirplus=known answers only these, docs/fuse.md §4).
    [[nodiscard]] known_names<node_handle>& known() noexcept { return m_known; }

    /// The alias rule of readdirplus=unaliased (docs/fuse.md §4).
    [[nodiscard]] const alias_guard<overlay_type>& aliases() const noexcept { return m_aliases; }

    /// How many requests of each kind were answered (docs/fuse.md §2).
    [[nodiscard]] const request_stats& stats() const noexcept { return m_stats; }

    /// Open directory and file handles (what the kernel has not released yet).
    [[nodiscard]] handle_registry<dir_handle_type>& dirs() noexcept { return m_dirs; }
    [[nodiscard]] handle_registry<file_handle_type>& files() noexcept { return m_files; }

    /// The session serving this server, for notifications (e.g. inode invalidation after a lazy
    /// lowerdata open); session.hpp sets it. nullptr: no notifications are sent.
    void set_session(fuse_session* se) noexcept { m_session = se; }
    [[nodiscard]] fuse_session* session() const noexcept { return m_session; }

    /// The server of a request (the session's userdata).
    [[nodiscard]] static server& from(fuse_req_t req) noexcept {
        return *static_cast<server*>(fuse_req_userdata(req));
    }

    /// The adapter's operations table: libfuse's own struct, every other member null. Patch
    /// members to override single operations (see the class comment).
    [[nodiscard]] static fuse_lowlevel_ops operations() noexcept {
        fuse_lowlevel_ops ops{};
        ops.init = op_init;
        ops.lookup = op_lookup;
        ops.forget = op_forget;
        ops.forget_multi = op_forget_multi;
        ops.getattr = op_getattr;
        ops.readlink = op_readlink;
        ops.opendir = op_opendir;
        ops.readdir = op_readdir;
        ops.readdirplus = op_readdirplus;
        ops.releasedir = op_releasedir;
        ops.open = op_open;
        ops.read = op_read;
        ops.flush = op_flush;
        ops.lseek = op_lseek;
        ops.release = op_release;
        ops.statfs = op_statfs;
        ops.getxattr = op_getxattr;
        ops.listxattr = op_listxattr;
        return ops;
    }

    // ---- the operations (docs/fuse.md §2) ----------------------------------------------------

    /// Capabilities: cached symlinks, readdirplus (always, for unaliased, eager and preload; else
    /// adaptive), parallel dirops, splice for read replies (unless server_options::splice is
    /// false); no automatic page cache invalidation (nothing changes under us), no NFS export
    /// (lookups of "." and ".." are never needed).
    static void op_init(void* userdata, fuse_conn_info* conn) {
        auto& self = *static_cast<server*>(userdata);
        if (conn->capable & FUSE_CAP_CACHE_SYMLINKS) conn->want |= FUSE_CAP_CACHE_SYMLINKS;
        if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
        // unaliased/eager/preload: plus for every getdents (with AUTO the kernel falls back to
        // plain readdir after a batch none of whose entries was looked up, then LOOKUPs each name).
        if (answers_unasked_names(self.m_options.readdirplus))
            conn->want &= ~static_cast<unsigned>(FUSE_CAP_READDIRPLUS_AUTO); // libfuse sets it
        else if (conn->capable & FUSE_CAP_READDIRPLUS_AUTO)
            conn->want |= FUSE_CAP_READDIRPLUS_AUTO;
        if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
        // READ replies straight from the backend's descriptor (op_read) into /dev/fuse.
        if (self.m_options.splice) {
            if (conn->capable & FUSE_CAP_SPLICE_WRITE) conn->want |= FUSE_CAP_SPLICE_WRITE;
            if (conn->capable & FUSE_CAP_SPLICE_MOVE) conn->want |= FUSE_CAP_SPLICE_MOVE;
        }
        conn->want &= ~static_cast<unsigned>(FUSE_CAP_AUTO_INVAL_DATA);
        conn->want &= ~static_cast<unsigned>(FUSE_CAP_EXPORT_SUPPORT);
        // open_requests false: the first OPEN answers ENOSYS, then the kernel opens by itself.
        self.m_no_open.store(!self.m_options.open_requests &&
                                 (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT) != 0,
                             std::memory_order_relaxed);
    }

    /// LOOKUP (spec §5.3): a positive entry counts one kernel reference, taken on the node with
    /// the lookup (docs/fuse.md §3); ENOENT is a negative entry the kernel may cache (spec §5.6).
    /// An answer a failing backend call shaped gets timeouts 0, so the kernel asks again (spec
    /// §5.6.1).
    static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
        auto& self = from(req);
        self.m_stats.count(request::lookup);
        const node_handle p = self.node_or_reply(req, parent);
        if (!p) return;
        bool backend_failed = false;
        auto child = self.ov().lookup_retained(p, name, backend_failed);
        self.m_known.mark(p, name);
        const double timeout = backend_failed ? 0.0 : self.m_options.cache_timeout;
        if (!child) {
            if (child.error() == std::errc::no_such_file_or_directory) {
                fuse_entry_param e{};
                e.ino = 0;
                e.entry_timeout = timeout;
                fuse_reply_entry(req, &e);
                return;
            }
            fuse_reply_err(req, reply_errno(child.error()));
            return;
        }
        fuse_entry_param e{};
        if (const std::errc error = self.fill_entry(*child, e); error != std::errc{}) {
            self.ov().forget(*child, 1);
            fuse_reply_err(req, reply_errno(error));
            return;
        }
        e.attr_timeout = std::min(e.attr_timeout, timeout);
        e.entry_timeout = std::min(e.entry_timeout, timeout);
        // Counted before the reply (a FORGET may follow at once); taken back when the reply never
        // arrives (an interrupted request), as for readdirplus (docs/fuse.md §3).
        self.m_inodes.adopt(*child);
        if (fuse_reply_entry(req, &e) != 0) self.forget_node(*child, 1);
    }

    /// FORGET, BATCH_FORGET: the kernel's references dropped, nodes freed (docs/fuse.md §3).
    static void op_forget(fuse_req_t req, fuse_ino_t ino, std::uint64_t nlookup) {
        auto& self = from(req);
        self.m_stats.count(request::forget);
        self.note_referenced();
        self.forget_node(self.m_inodes.from_ino(ino), nlookup);
        fuse_reply_none(req);
        self.trim_after_forget();
    }

    static void op_forget_multi(fuse_req_t req, std::size_t count, fuse_forget_data* forgets) {
        auto& self = from(req);
        self.m_stats.count(request::forget);
        self.note_referenced();
        for (const fuse_forget_data& f : std::span(forgets, count))
            self.forget_node(self.m_inodes.from_ino(f.ino), f.nlookup);
        fuse_reply_none(req);
        // A mass eviction's batch fills up to 1 MiB of the worker's receive buffer, which libfuse
        // keeps for the thread's life and refills with the next request (docs/fuse.md §3).
        (void)release_whole_pages(forgets, count * sizeof(fuse_forget_data));
        self.trim_after_forget();
    }

    /// GETATTR (spec §9).
    static void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* /*fi*/) {
        auto& self = from(req);
        self.m_stats.count(request::getattr);
        const node_handle n = self.node_or_reply(req, ino);
        if (!n) return;
        auto st = self.ov().stat(n);
        if (!st) {
            fuse_reply_err(req, reply_errno(st.error()));
            return;
        }
        const struct stat attr = to_stat(*st);
        fuse_reply_attr(req, &attr, self.m_options.cache_timeout);
    }

    static void op_readlink(fuse_req_t req, fuse_ino_t ino) {
        auto& self = from(req);
        self.m_stats.count(request::readlink);
        const node_handle n = self.node_or_reply(req, ino);
        if (!n) return;
        auto target = self.ov().read_link(n);
        if (!target) {
            fuse_reply_err(req, reply_errno(target.error()));
            return;
        }
        fuse_reply_readlink(req, target->c_str());
    }

    /// OPENDIR: a handle whose listing is taken at the first readdir; the kernel may cache it.
    static void op_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
        auto& self = from(req);
        self.m_stats.count(request::opendir);
        const node_handle n = self.node_or_reply(req, ino);
        if (!n) return;
        auto st = self.ov().stat(n);
        if (!st) {
            fuse_reply_err(req, reply_errno(st.error()));
            return;
        }
        if (st->type != file_type::directory) {
            fuse_reply_err(req, ENOTDIR);
            return;
        }
        auto handle = std::make_unique<dir_handle_type>();
        handle->node = n;
        fi->fh = self.m_dirs.adopt(std::move(handle));
        fi->cache_readdir = 1; // the listing never changes
        fi->keep_cache = 1;
        if (fuse_reply_open(req, fi) != 0) self.m_dirs.drop(fi->fh); // interrupted: no releasedir
    }

    static void op_readdir(fuse_req_t req, fuse_ino_t ino, std::size_t size, off_t off,
                           fuse_file_info* fi) {
        auto& self = from(req);
        self.m_stats.count(request::readdir);
        self.do_readdir(req, ino, size, off, fi, false);
    }

    static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, std::size_t size, off_t off,
                               fuse_file_info* fi) {
        auto& self = from(req);
        self.m_stats.count(request::readdirplus);
        self.do_readdir(req, ino, size, off, fi, true);
    }

    static void op_releasedir(fuse_req_t req, fuse_ino_t /*ino*/, fuse_file_info* fi) {
        auto& self = from(req);
        self.m_stats.count(request::releasedir);
        self.m_dirs.drop(fi->fh);
        fuse_reply_err(req, 0);
    }

    /// OPEN, read-only (EROFS otherwise, as an overlay without upperdir; spec §6: refused before
    /// any lazy lowerdata lookup). With server_options::open_requests false, ENOSYS: the kernel
    /// then opens every file without asking, and READ opens the data (docs/fuse.md §2).
    static void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
        auto& self = from(req);
        self.m_stats.count(request::open);
        const node_handle n = self.node_or_reply(req, ino);
        if (!n) return;
        if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC) != 0) {
            fuse_reply_err(req, EROFS);
            return;
        }
        if (self.m_no_open.load(std::memory_order_relaxed)) {
            fuse_reply_err(req, ENOSYS);
            return;
        }
        bool stale_attributes = false;
        auto file = self.open_data(n, stale_attributes);
        if (!file) {
            fuse_reply_err(req, reply_errno(file.error()));
            return;
        }
        auto handle =
            std::make_unique<file_handle_type>(file_handle_type{.file = std::move(*file)});
        // The page cache stops at st_size; a data file of another size is read directly
        // (docs/fuse.md §5).
        if (data_matches_size(self.ov(), handle->file))
            fi->keep_cache = 1;
        else
            fi->direct_io = 1;
        fi->noflush = 1; // nothing to flush: close(2) needs no FLUSH round trip (op_flush)
        fi->fh = self.m_files.adopt(std::move(handle));
        self.invalidate_stale_attributes(ino, stale_attributes);
        if (fuse_reply_open(req, fi) != 0) self.m_files.drop(fi->fh); // interrupted: no release
    }

    /// READ: as many bytes as asked unless the data ends (short reads of the backend retried).
    /// A backend whose files are descriptors (posix_fs) answers with the descriptor itself:
    /// libfuse splices the bytes into /dev/fuse when the kernel allows it (op_init), else copies
    /// them with one pread; other backends read into a buffer (docs/fuse.md §2). A file the
    /// kernel opened without OPEN (fh 0, server_options::open_requests) has its data opened for
    /// this READ, lazy lowerdata resolved as open would (docs/fuse.md §2).
    static void op_read(fuse_req_t req, fuse_ino_t ino, std::size_t size, off_t offset,
                        fuse_file_info* fi) {
        auto& self = from(req);
        self.m_stats.count(request::read);
        if (fi->fh != 0) {
            self.reply_read(req, handle_registry<file_handle_type>::get(fi->fh).file, size, offset);
            return;
        }
        bool stale_attributes = false;
        const auto file = self.open_unopened(req, ino, stale_attributes);
        if (!file) return;
        self.invalidate_stale_attributes(ino, stale_attributes);
        self.reply_read(req, *file, size, offset);
    }

    /// FLUSH: nothing to write back. ENOSYS tells the kernel to never send FLUSH again on this
    /// mount (open sets noflush as well, so kernels that know it skip even the first).
    static void op_flush(fuse_req_t req, fuse_ino_t /*ino*/, fuse_file_info* /*fi*/) {
        from(req).m_stats.count(request::flush);
        fuse_reply_err(req, ENOSYS);
    }

    /// LSEEK with SEEK_DATA or SEEK_HOLE (the kernel handles the others itself): where the data
    /// file's next data or hole is, as the kernel's overlay asks the real data file, so that a
    /// reader skips holes instead of reading zeros through the mount. Backends without file
    /// descriptors answer ENOSYS once; the kernel then treats the whole file as data.
    static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
                         fuse_file_info* fi) {
        auto& self = from(req);
        self.m_stats.count(request::lseek);
        if constexpr (file_with_fd<B>) {
            std::optional<typename overlay_type::overlay_file> opened; // fh 0: as op_read
            bool stale_attributes = false;
            if (fi->fh == 0) {
                opened = self.open_unopened(req, ino, stale_attributes);
                if (!opened) return;
            }
            self.invalidate_stale_attributes(ino, stale_attributes);
            const auto& file =
                opened ? *opened : handle_registry<file_handle_type>::get(fi->fh).file;
            const off_t at = ::lseek(file.backend_file().fd(), off, whence);
            if (at < 0)
                fuse_reply_err(req, errno);
            else
                fuse_reply_lseek(req, at);
        } else {
            (void)ino;
            (void)off;
            (void)whence;
            (void)fi;
            fuse_reply_err(req, ENOSYS);
        }
    }

    static void op_release(fuse_req_t req, fuse_ino_t /*ino*/, fuse_file_info* fi) {
        auto& self = from(req);
        self.m_stats.count(request::release);
        self.m_files.drop(fi->fh);
        fuse_reply_err(req, 0);
    }

    /// STATFS: the upper (else top lower) layer's filesystem with the stack's name_max (spec
    /// §1.5), as far as the backend can tell (docs/fuse.md §5).
    static void op_statfs(fuse_req_t req, fuse_ino_t /*ino*/) {
        auto& self = from(req);
        self.m_stats.count(request::statfs);
        const auto& ov = self.ov();
        const auto sv = overlay_statfs(ov.engine().fs(), ov.stack());
        if (!sv) {
            fuse_reply_err(req, reply_errno(sv.error()));
            return;
        }
        fuse_reply_statfs(req, &*sv);
    }

    /// GETXATTR (spec §2.1): the overlay's view, overlay-private names hidden.
    static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, std::size_t size) {
        auto& self = from(req);
        self.m_stats.count(request::getxattr);
        const node_handle n = self.node_or_reply(req, ino);
        if (!n) return;
        auto value = get_overlay_xattr(self.ov(), n, name);
        if (!value) {
            fuse_reply_err(req, reply_errno(value.error()));
            return;
        }
        if (!*value) {
            fuse_reply_err(req, ENODATA);
            return;
        }
        const std::string& v = **value;
        if (size == 0)
            fuse_reply_xattr(req, v.size());
        else if (v.size() > size)
            fuse_reply_err(req, ERANGE);
        else
            fuse_reply_buf(req, v.data(), v.size());
    }

    /// LISTXATTR (spec §2.1). Like the kernel: a size query answers the real, unfiltered size,
    /// and a buffer smaller than that is ERANGE. trusted.* names are listed to uid 0 only (FUSE
    /// does not tell the caller's capabilities; the kernel asks for CAP_SYS_ADMIN).
    static void op_listxattr(fuse_req_t req, fuse_ino_t ino, std::size_t size) {
        auto& self = from(req);
        self.m_stats.count(request::listxattr);
        const node_handle n = self.node_or_reply(req, ino);
        if (!n) return;
        auto capacity = overlay_xattr_list_capacity(self.ov(), n);
        if (!capacity) {
            fuse_reply_err(req, reply_errno(capacity.error()));
            return;
        }
        if (size == 0) {
            fuse_reply_xattr(req, *capacity);
            return;
        }
        if (*capacity > size) {
            fuse_reply_err(req, ERANGE);
            return;
        }
        const fuse_ctx* ctx = fuse_req_ctx(req);
        auto names = list_overlay_xattrs(self.ov(), n, ctx != nullptr && ctx->uid == 0);
        if (!names) {
            fuse_reply_err(req, reply_errno(names.error()));
            return;
        }
        std::string list;
        for (const auto& name : *names) {
            list += name;
            list += '\0';
        }
        fuse_reply_buf(req, list.data(), list.size());
    }

    // ---- building blocks for replacement operations -------------------------------------------

    /// The node of a request's inode, or nullptr after replying the root's errno (an overlay whose
    /// layer roots could not be read answers every request with that errno).
    [[nodiscard]] node_handle node_or_reply(fuse_req_t req, fuse_ino_t ino) const {
        const node_handle n = m_inodes.from_ino(ino);
        if (!n) fuse_reply_err(req, reply_errno(m_root_error));
        return n;
    }

    /// The entry reply for `n`: its node id and attributes (the caller counts the reference).
    [[nodiscard]] std::errc fill_entry(node_handle n, fuse_entry_param& e) const {
        auto st = ov().stat(n);
        if (!st) return st.error();
        e = fuse_entry_param{};
        e.ino = m_inodes.to_ino(n);
        e.generation = 1;
        e.attr = to_stat(*st);
        e.attr_timeout = m_options.cache_timeout;
        e.entry_timeout = m_options.cache_timeout;
        return std::errc{};
    }

    /// Opens the data of `n` for reading (spec §6): the first open of a lazy metacopy resolves
    /// its data, after which st_blocks is known; `stale_attributes` is set when it differs from
    /// the estimate the kernel's cached attributes carry (invalidate_stale_attributes).
    [[nodiscard]] result<typename overlay_type::overlay_file> open_data(node_handle n,
                                                                        bool& stale_attributes) {
        const auto& ov = this->ov();
        const bool was_lazy = ov.which_layers(n).pending_lowerdata.has_value();
        std::optional<std::uint64_t> blocks_before;
        if (was_lazy)
            if (const auto st = ov.stat(n)) blocks_before = st->blocks;
        auto file = ov.open(n);
        if (file && was_lazy) {
            const auto after = ov.stat(n);
            stale_attributes = !blocks_before || !after || after->blocks != *blocks_before;
        }
        return file;
    }

    /// The data of a file the kernel opened without OPEN (fh 0, server_options::open_requests
    /// false), opened for one request (open_data), or nullopt after replying the errno.
    [[nodiscard]] std::optional<typename overlay_type::overlay_file>
    open_unopened(fuse_req_t req, fuse_ino_t ino, bool& stale_attributes) {
        const node_handle n = node_or_reply(req, ino);
        if (!n) return std::nullopt;
        auto file = open_data(n, stale_attributes);
        if (!file) {
            fuse_reply_err(req, reply_errno(file.error()));
            return std::nullopt;
        }
        return std::move(*file);
    }

    /// Before the reply to a request on `ino` (the node is alive until then, docs/fuse.md §3):
    /// drops the kernel's cached attributes of `ino` when open_data found them stale (else the
    /// next stat would cost a GETATTR for nothing). Attributes only (offset -1): no page is
    /// locked, so the kernel's request in progress does not stand in the way.
    void invalidate_stale_attributes(fuse_ino_t ino, bool stale_attributes) const {
        if (stale_attributes && m_session)
            (void)fuse_lowlevel_notify_inval_inode(m_session, ino, -1, 0);
    }

    /// Replies to READ from `file` (op_read).
    void reply_read(fuse_req_t req, const typename overlay_type::overlay_file& file,
                    std::size_t size, off_t offset) const {
        if constexpr (file_with_fd<B>) {
            if (m_options.splice) {
                // FUSE_BUFVEC_INIT(size), spelled out: the macro is a C compound literal.
                fuse_bufvec data{};
                data.count = 1;
                data.buf[0].size = size;
                data.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
                data.buf[0].fd = file.backend_file().fd();
                data.buf[0].pos = offset;
                (void)fuse_reply_data(req, &data, FUSE_BUF_SPLICE_MOVE); // errors are replied
                return;
            }
        }
        thread_local std::vector<char> buf;
        if (buf.size() < size) buf.resize(size);
        std::size_t got = 0;
        while (got < size) {
            auto n = ov().read(file, static_cast<std::uint64_t>(offset) + got,
                               std::span<char>(buf.data() + got, size - got));
            if (!n) {
                if (got == 0) {
                    fuse_reply_err(req, reply_errno(n.error()));
                    return;
                }
                break;
            }
            if (*n == 0) break;
            got += *n;
        }
        fuse_reply_buf(req, buf.data(), got);
    }

    /// The errno of every error reply: ovlcore's, except ENOSYS, which FUSE takes as "this
    /// operation is not implemented" for the whole connection (OPEN, OPENDIR, GETXATTR and
    /// LISTXATTR would never be asked again), so a backend's ENOSYS is replied as EIO
    /// (docs/fuse.md §2).
    [[nodiscard]] static int reply_errno(std::errc e) noexcept {
        return e == std::errc::function_not_supported ? EIO : errno_value(e);
    }

    /// The fewest nodes FORGETs must drop (and at least half of those the kernel referenced)
    /// before the server releases its caches and trims the heap (docs/fuse.md §3).
    static constexpr std::size_t trim_min_forgotten = 16;

private:
    [[nodiscard]] static node_handle root_of(const overlay_type& ov) {
        auto root = ov.root();
        return root ? *root : nullptr;
    }

    /// The inode table's references on overlay nodes (docs/fuse.md §3).
    static void node_references(const void* owner, node_handle n, std::int64_t count) {
        const auto& ov = *static_cast<const overlay_type*>(owner);
        if (count > 0)
            ov.retain(n, static_cast<std::uint64_t>(count));
        else
            ov.forget(n, static_cast<std::uint64_t>(-count));
    }

    /// The most nodes the kernel referenced at a FORGET since the last trim (trim_after_forget).
    void note_referenced() noexcept {
        const std::size_t now = m_inodes.referenced_nodes();
        std::size_t high = m_referenced_high.load(std::memory_order_relaxed);
        while (now > high && !m_referenced_high.compare_exchange_weak(high, now)) {}
    }

    /// Once FORGETs dropped half the nodes the kernel referenced at the high-water mark (and at
    /// least `trim_min_forgotten`), the kernel is shedding its caches, and so does the server:
    /// the overlay's unreferenced nodes, the backend's descriptors no call uses and the inode
    /// table's spare buckets are released, then the heap pages they held go back to the system
    /// (glibc keeps freed pages of its arenas otherwise), so the server's RSS follows what the
    /// kernel holds (docs/fuse.md §3). One thread trims at a time, and looks again when it is
    /// done: a FORGET that came meanwhile skipped its own trim.
    void trim_after_forget() noexcept {
        for (;;) {
            const std::size_t now = m_inodes.referenced_nodes();
            const std::size_t high = m_referenced_high.load(std::memory_order_relaxed);
            if (now * 2 >= high || high - now < trim_min_forgotten || m_trimming.exchange(true))
                return;
            m_referenced_high.store(now, std::memory_order_relaxed);
            ov().release_cached();
            m_inodes.compact();
#if defined(__GLIBC__)
            (void)::malloc_trim(0);
#endif
            m_trimming.store(false);
        }
    }
    /// The kernel drops `count` references on `n`; once it holds none, its name and the names
    /// looked up in it are no longer known (the kernel forgot those entries) and the node may be
    /// freed (docs/fuse.md §3, §4).
    void forget_node(node_handle n, std::uint64_t count) {
        if (n == nullptr || n == m_inodes.root()) return;
        if (m_inodes.lookup_count(n) <= count) {
            m_known.forget(ov().parent(n), ov().name(n));
            m_known.forget_dir(n);
        }
        (void)m_inodes.forget(n, count);
    }

    /// Loads the snapshot: ".", ".." and the merged listing (spec §8).
    [[nodiscard]] std::errc load_listing(dir_handle_type& d) const {
        const auto& ov = this->ov();
        auto listing = ov.read_dir(d.node);
        if (!listing) return listing.error();
        auto self_st = ov.stat(d.node);
        if (!self_st) return self_st.error();
        std::uint64_t parent_ino = self_st->ino;
        if (auto parent = ov.lookup(d.node, ".."); parent) {
            if (auto parent_st = ov.stat(*parent); parent_st) parent_ino = parent_st->ino;
        }
        d.entries.clear();
        d.entries.reserve(listing->size() + 2);
        d.entries.push_back({.name = ".", .type = file_type::directory, .ino = self_st->ino});
        d.entries.push_back({.name = "..", .type = file_type::directory, .ino = parent_ino});
        for (auto& e : *listing) d.entries.push_back(std::move(e));
        d.loaded = true;
        return std::errc{};
    }

    /// readdir and readdirplus (docs/fuse.md §4): entries from index `offset` of the snapshot;
    /// each entry's offset is the index of the next one. readdirplus gives attributes for names
    /// the kernel has already looked up (every mode), for every listed name no other name can
    /// alias (unaliased: alias_guard decides, spec §10 Q2), or for every listed name that fits in
    /// this reply (eager, preload: lookups in the order the kernel receives the names). A name
    /// whose lookup a failing backend call shaped is sent without attributes: the kernel's LOOKUP
    /// answers it (spec §5.6.1).
    void do_readdir(fuse_req_t req, fuse_ino_t /*ino*/, std::size_t size, off_t offset,
                    fuse_file_info* fi, bool plus) {
        auto& d = handle_registry<dir_handle_type>::get(fi->fh);
        std::vector<char> buf(size);
        std::vector<node_handle> remembered; // children given to the kernel with this reply
        std::size_t used = 0;
        // The reply must come after the lock is released: once the kernel has it, a releasedir
        // may free the handle.
        std::unique_lock lock(d.mutex);
        if (!d.loaded || offset == 0) {
            if (const std::errc e = load_listing(d); e != std::errc{}) {
                lock.unlock();
                fuse_reply_err(req, reply_errno(e));
                return;
            }
        }
        // What may be looked up while listing: everything (eager, preload), what the alias rule
        // allows (unaliased), nothing but known names (known).
        listing_verdict verdict = listing_verdict::leave;
        if (plus && looks_up_listed_names(m_options.readdirplus))
            verdict = listing_verdict::look_up;
        else if (plus && m_options.readdirplus == readdirplus_mode::unaliased)
            verdict = m_aliases.verdict(d.node);
        for (std::size_t i = static_cast<std::size_t>(std::max<off_t>(offset, 0));
             i < d.entries.size(); ++i) {
            const dir_entry& entry = d.entries[i];
            const auto next = static_cast<off_t>(i + 1);
            std::size_t needed = 0;
            if (!plus) {
                const struct stat st = entry_stat(entry);
                needed = fuse_add_direntry(req, buf.data() + used, size - used, entry.name.c_str(),
                                           &st, next);
            } else {
                fuse_entry_param e{};
                // The size depends on the name only (a zero-sized buffer is left untouched): stop
                // before the lookup of an entry that would not fit.
                needed =
                    fuse_add_direntry_plus(req, buf.data() + used, 0, entry.name.c_str(), &e, next);
                if (needed > size - used) break;
                node_handle child = nullptr;
                const bool dots = entry.name == "." || entry.name == "..";
                if (!dots && (may_look_up(verdict, d.node, entry.name) ||
                              m_known.contains(d.node, entry.name))) {
                    bool backend_failed = false;
                    // Retained with the lookup (docs/fuse.md §3); released unless sent.
                    if (auto c = ov().lookup_retained(d.node, entry.name, backend_failed); c) {
                        if (!backend_failed && fill_entry(*c, e) == std::errc{})
                            child = *c;
                        else
                            ov().forget(*c, 1);
                    }
                }
                if (!child) { // the kernel will LOOKUP it, which answers the errno
                    e = fuse_entry_param{};
                    e.attr = entry_stat(entry);
                }
                (void)fuse_add_direntry_plus(req, buf.data() + used, size - used,
                                             entry.name.c_str(), &e, next);
                if (child) {
                    m_inodes.adopt(child); // one kernel reference per entry sent with a node id
                    remembered.push_back(child);
                }
            }
            if (needed > size - used) break;
            used += needed;
        }
        lock.unlock();
        // The references count once the kernel has the reply (remembered before it, since a
        // FORGET may follow at once); a reply that never arrives (an interrupted request) takes
        // them back.
        if (fuse_reply_buf(req, buf.data(), used) != 0)
            for (const node_handle child : remembered) forget_node(child, 1);
    }

    /// Whether readdirplus may look `name` in `dir` up before the kernel asks (docs/fuse.md §4).
    [[nodiscard]] bool may_look_up(listing_verdict verdict, node_handle dir,
                                   std::string_view name) const {
        switch (verdict) {
        case listing_verdict::look_up: return true;
        case listing_verdict::check_upper: return m_aliases.upper_allows(dir, name);
        case listing_verdict::leave: break;
        }
        return false;
    }

    const overlay_type* m_overlay;
    server_options m_options;
    inode_table<node_handle> m_inodes;
    std::errc m_root_error{};
    known_names<node_handle> m_known;
    alias_guard<overlay_type> m_aliases;
    request_stats m_stats;
    handle_registry<dir_handle_type> m_dirs;
    handle_registry<file_handle_type> m_files;
    fuse_session* m_session = nullptr;
    std::atomic<std::size_t> m_referenced_high{0}; ///< see note_referenced()
    std::atomic<bool> m_trimming{false};
    std::atomic<bool> m_no_open{false}; ///< OPEN answers ENOSYS (set by op_init)
};

} // namespace ovlcore::fuse
