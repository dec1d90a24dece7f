// SPDX-License-Identifier: MIT
// ovlcore/dump.hpp: the canonical tree dump (dump-format.md): walk any tree view (an overlay<B>,
// a mounted directory) and produce the JSON Lines records the kernel oracle compares. Users include
// it (through ovlcore.hpp). Spec: dump-format.md; §6 (open resolves lazy lowerdata), §9 (stat).
// The content hash is pluggable (content_hasher; the built-in SHA-256 by default, the tools use
// OpenSSL's), and holes of sparse files are hashed without reading them where the view can tell.
#pragma once

#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "backend.hpp"
#include "detail/json.hpp"
#include "detail/sha256.hpp"
#include "hash.hpp"
#include "mount_error.hpp"
#include "result.hpp"
#include "types.hpp"

namespace ovlcore {

namespace detail {
template <class View>
using tree_open_result_t = decltype(std::declval<View&>().open(std::string_view{}));
} // namespace detail

/// The open-file handle type of a tree view (what open() returns inside its result).
template <class View>
using tree_file_t = typename detail::tree_open_result_t<View>::value_type;

/// Anything that can be walked like a read-only file tree. Paths are "/" for the root and "/a/b"
/// below it; lstat and read_link never follow the last component; read_dir lists a directory
/// without "." and ".."; open gives read-only access to a regular file and read(file, offset, buf)
/// returns the number of bytes read (0 at end of file). Modelled by overlay<B> (overlay.hpp) and
/// mounted_tree (backend/posix_tree.hpp).
template <class View>
concept tree_view = requires(View& view, std::string_view path) {
    { view.lstat(path) } -> std::same_as<result<stat_info>>;
    { view.read_dir(path) } -> std::same_as<result<std::vector<dir_entry>>>;
    { view.read_link(path) } -> std::same_as<result<std::string>>;
    { view.open(path) } -> std::same_as<result<tree_file_t<View>>>;
}
&&requires(View& view, const tree_file_t<View>& file, std::uint64_t offset,
           std::span<char> buffer) {
    { view.read(file, offset, buffer) } -> std::same_as<result<std::size_t>>;
};

namespace detail {
/// Does the view know where the holes of its open files are (backend.hpp's optional next_data,
/// e.g. overlay<posix_fs>, mounted_tree)?
template <class View>
concept tree_has_next_data = requires(View& view, const tree_file_t<View>& file,
                                      std::uint64_t offset) {
    { view.next_data(file, offset) } -> std::same_as<result<data_extent>>;
};
} // namespace detail

/// How dump_records describes regular files.
struct dump_options {
    /// true (default): open and read every regular file for its `sha256` (resolving lazy
    /// lowerdata, §6). false: regular files are never opened, so lazy lowerdata stays unresolved
    /// and their records carry neither `sha256` nor an open/read `error` (dump-format.md "Dumps
    /// without data": not comparable with a full dump).
    bool content = true;
};

/// A chr/blk device number as the dump prints it ("MAJ:MIN").
struct device_number {
    std::uint32_t major = 0;
    std::uint32_t minor = 0;
    friend constexpr bool operator==(const device_number&, const device_number&) = default;
};

/// One line of the canonical dump. Fields are set exactly when dump-format.md's table says so:
/// `type`, `mode`, `uid`, `gid` when lstat succeeded; otherwise only `error`.
struct dump_record {
    std::string path;              ///< "/" or "/a/b"
    std::optional<file_type> type; ///< set iff lstat succeeded
    std::uint32_t mode = 0;        ///< st_mode & 07777 (meaningful with type)
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    std::optional<std::uint64_t> size; ///< reg and lnk: st_size
    std::optional<std::string> sha256; ///< reg whose whole content was read (not with --no-data)
    std::optional<std::errc> error;    ///< lstat failed, or reg open/read (lnk: readlink) failed
    std::optional<std::string> target; ///< lnk
    std::optional<device_number> rdev; ///< chr and blk
    std::optional<std::errc> readdir_error; ///< dir whose listing failed (children absent)
    friend bool operator==(const dump_record&, const dump_record&) = default;
};

namespace detail {
template <class View>
concept has_tree_root = requires(View& view) {
    view.root();
};
template <class View>
using tree_root_result_t = decltype(std::declval<View&>().root());
} // namespace detail

/// The object handle of a node_tree_view (what root() returns inside its result).
template <class View>
using tree_node_t = typename detail::tree_root_result_t<View>::value_type;

/// A tree_view that can also be walked object by object: a child is looked up by name in its
/// parent's object (N, a cheap copyable handle) instead of by its full path from the root, so a
/// walk costs the same at any depth. lookup() never follows `name`, fails with ENOENT for an
/// absent name and ENOTDIR when `dir` is not a directory; stat, read_dir, read_link and open
/// answer as the path members do for the object's path. Modelled by overlay<B> (node_handle).
template <class View>
concept node_tree_view = tree_view<View> && detail::has_tree_root<View> &&
    requires(View& view, const tree_node_t<View>& n, std::string_view name) {
    { view.root() } -> std::same_as<result<tree_node_t<View>>>;
    { view.lookup(n, name) } -> std::same_as<result<tree_node_t<View>>>;
    { view.stat(n) } -> std::same_as<result<stat_info>>;
    { view.read_dir(n) } -> std::same_as<result<std::vector<dir_entry>>>;
    { view.read_link(n) } -> std::same_as<result<std::string>>;
    { view.open(n) } -> std::same_as<result<tree_file_t<View>>>;
};

namespace detail {

[[nodiscard]] inline std::string join_dump_path(std::string_view dir, std::string_view name) {
    std::string out;
    out.reserve(dir.size() + 1 + name.size());
    out += dir;
    if (out.empty() || out.back() != '/') out.push_back('/');
    out += name;
    return out;
}

/// How a walk reaches objects of a view that is only a tree_view: by full path (the object
/// handle carries nothing; the walk's current path names the object).
template <class View>
struct path_walk_access {
    struct node {};
    View* view;
    [[nodiscard]] result<node> root(const std::string&) const { return node{}; }
    [[nodiscard]] result<node> lookup(const node&, std::string_view, const std::string&) const {
        return node{}; // absent names show in stat()
    }
    void release(const node&) const noexcept {}
    [[nodiscard]] result<stat_info> stat(const node&, const std::string& path) const {
        return view->lstat(path);
    }
    [[nodiscard]] result<std::vector<dir_entry>> read_dir(const node&,
                                                          const std::string& path) const {
        return view->read_dir(path);
    }
    [[nodiscard]] result<std::string> read_link(const node&, const std::string& path) const {
        return view->read_link(path);
    }
    [[nodiscard]] result<tree_file_t<View>> open(const node&, const std::string& path) const {
        return view->open(path);
    }
};

/// The same for a node_tree_view: by object, looked up in its parent's object.
template <class View>
struct node_walk_access {
    using node = tree_node_t<View>;
    /// A view whose objects may be released while unreferenced (overlay<B> with a bounded cache,
    /// or an answer a failing backend call shaped, spec §5.6.1): the walk holds a reference on
    /// every object it keeps (the current one and the directories above it).
    static constexpr bool pins =
        requires(View & v, const node& n, std::string_view name, bool& failed) {
        { v.lookup_retained(n, name, failed) } -> std::same_as<result<node>>;
        v.retain(n);
        v.forget(n, std::uint64_t{1});
    };
    View* view;
    [[nodiscard]] result<node> root(const std::string&) const {
        auto r = view->root();
        if constexpr (pins)
            if (r) view->retain(*r);
        return r;
    }
    [[nodiscard]] result<node> lookup(const node& dir, std::string_view name,
                                      const std::string&) const {
        if constexpr (pins) {
            bool backend_failed = false;
            return view->lookup_retained(dir, name, backend_failed);
        } else {
            return view->lookup(dir, name);
        }
    }
    /// Drops the reference root() or lookup() took.
    void release(const node& n) const {
        if constexpr (pins) view->forget(n, std::uint64_t{1});
    }
    [[nodiscard]] result<stat_info> stat(const node& n, const std::string&) const {
        return view->stat(n);
    }
    [[nodiscard]] result<std::vector<dir_entry>> read_dir(const node& n, const std::string&) const {
        return view->read_dir(n);
    }
    [[nodiscard]] result<std::string> read_link(const node& n, const std::string&) const {
        return view->read_link(n);
    }
    [[nodiscard]] result<tree_file_t<View>> open(const node& n, const std::string&) const {
        return view->open(n);
    }
};

template <class View>
using walk_access_t =
    std::conditional_t<node_tree_view<View>, node_walk_access<View>, path_walk_access<View>>;

} // namespace detail

/// The walk of dump-format.md over a tree_view, one object at a time: "/" first, then depth first,
/// the children of a directory in byte order of their names (the kernel oracle's order, which
/// order-dependent answers follow, spec §10 Q2). A node_tree_view is walked by object (each name
/// looked up in its parent's object), any other view by full path. Memory: the current path and,
/// per directory on the way down, its sorted names and object; no recursion, so any depth works.
///
///     depth_first_walk walk(view);
///     while (walk.next()) { use walk.path(), walk.stat(), ...; if a dir: walk.descend(); }
template <tree_view View>
class depth_first_walk {
    using access = detail::walk_access_t<View>;

public:
    using node = typename access::node;
    using file = tree_file_t<View>;

    explicit depth_first_walk(View& view) : m_access{&view} {}
    depth_first_walk(const depth_first_walk&) = delete;
    depth_first_walk& operator=(const depth_first_walk&) = delete;
    ~depth_first_walk() {
        drop_object();
        while (!m_frames.empty()) {
            m_access.release(m_frames.back().dir);
            m_frames.pop_back();
        }
    }

    /// Moves to the next object of the walk (the root first); false when the walk is over. The
    /// children of the current object are visited next only if descend() was called for it.
    bool next() {
        drop_object();
        if (!m_started) {
            m_started = true;
            m_path = "/";
            m_object = m_access.root(m_path);
            m_owned = m_object.has_value();
            return true;
        }
        while (!m_frames.empty()) {
            frame& f = m_frames.back();
            if (f.next < f.names.size()) {
                m_index = f.next++;
                m_depth = m_frames.size();
                m_path.resize(f.base);
                m_path += f.names[m_index];
                m_object = m_access.lookup(f.dir, f.names[m_index], m_path);
                m_owned = m_object.has_value();
                return true;
            }
            m_access.release(f.dir);
            m_frames.pop_back();
        }
        return false;
    }

    /// The current object's path: "/" or "/a/b".
    [[nodiscard]] const std::string& path() const noexcept { return m_path; }
    /// 0 for the root, 1 for its children, ...
    [[nodiscard]] std::size_t depth() const noexcept { return m_depth; }
    /// The names of the current object's directory (sorted, unique; empty for the root) and the
    /// current object's position among them.
    [[nodiscard]] std::span<const std::string> siblings() const noexcept {
        if (m_depth == 0) return {};
        return m_frames[m_depth - 1].names;
    }
    [[nodiscard]] std::size_t index() const noexcept { return m_index; }
    /// The current object's name ("" for the root).
    [[nodiscard]] std::string_view name() const noexcept {
        return m_depth == 0 ? std::string_view() : std::string_view(siblings()[m_index]);
    }
    /// Whether the current object is the last of its directory (the root is).
    [[nodiscard]] bool last() const noexcept {
        return m_depth == 0 || m_index + 1 == siblings().size();
    }
    /// The current object (node_tree_view: its handle), or the errno of its lookup.
    [[nodiscard]] const result<node>& object() const noexcept { return m_object; }

    /// lstat of the current object (a final symlink is not followed).
    [[nodiscard]] result<stat_info> stat() const {
        if (!m_object) return fail(m_object.error());
        return m_access.stat(*m_object, m_path);
    }
    [[nodiscard]] result<std::string> read_link() const {
        if (!m_object) return fail(m_object.error());
        return m_access.read_link(*m_object, m_path);
    }
    /// Opens the current object (a regular file; §6: resolves lazy lowerdata).
    [[nodiscard]] result<file> open() const {
        if (!m_object) return fail(m_object.error());
        return m_access.open(*m_object, m_path);
    }

    /// Lists the current object (a directory) so that next() visits its children; "." and ".."
    /// and empty names are left out, a name listed twice is visited once. The listing's errno
    /// (then no child is visited), else nullopt.
    std::optional<std::errc> descend() {
        if (!m_object) return m_object.error();
        auto listing = m_access.read_dir(*m_object, m_path);
        if (!listing) return listing.error();
        std::vector<std::string> names;
        names.reserve(listing->size());
        for (dir_entry& entry : *listing)
            if (!entry.name.empty() && entry.name != "." && entry.name != "..")
                names.push_back(std::move(entry.name));
        std::sort(names.begin(), names.end());
        names.erase(std::unique(names.begin(), names.end()), names.end());
        if (m_path.back() != '/') m_path.push_back('/');
        m_frames.push_back({.dir = *m_object, .names = std::move(names), .base = m_path.size()});
        m_owned = false; // the frame holds it now
        return std::nullopt;
    }

private:
    void drop_object() {
        if (m_owned) m_access.release(*m_object);
        m_owned = false;
    }

    struct frame {
        node dir;
        std::vector<std::string> names;
        std::size_t base = 0; ///< length of the dir's path with its trailing '/'
        std::size_t next = 0; ///< the next name to visit
    };

    access m_access;
    bool m_started = false;
    std::string m_path;
    std::size_t m_depth = 0;
    std::size_t m_index = 0;
    result<node> m_object = fail(std::errc::no_such_file_or_directory);
    bool m_owned = false; ///< m_object holds a reference that no frame took over
    std::vector<frame> m_frames;
};

namespace detail {

/// Feeds `count` zero bytes to `hash` (a hole of a sparse file), from `zeros` (allocated once).
template <content_hasher Hasher>
void hash_zeros(Hasher& hash, std::uint64_t count, std::vector<char>& zeros) {
    if (count == 0) return;
    if (zeros.empty()) zeros.assign(std::size_t{1} << 18, '\0');
    while (count > 0) {
        const std::size_t n = count < zeros.size() ? static_cast<std::size_t>(count) : zeros.size();
        hash.update(std::span<const char>(zeros.data(), n));
        count -= n;
    }
}

/// Hashes the whole content of an open regular file through the view: sha256 hex, or the errno.
/// Where the view knows the file's holes (next_data), they are hashed as zeros without being
/// read; if it cannot tell (next_data fails), the rest is read.
template <content_hasher Hasher, tree_view View>
[[nodiscard]] result<std::string> hash_file(View& view, const tree_file_t<View>& file) {
    Hasher hash;
    std::vector<char> buffer(std::size_t{1} << 16);
    std::uint64_t offset = 0;
    // Reads [offset, end) (end of file at the latest); false when the file ended before `end`.
    const auto read_until = [&](std::uint64_t end) -> result<bool> {
        while (offset < end) {
            const std::uint64_t left = end - offset;
            const std::size_t want =
                left < buffer.size() ? static_cast<std::size_t>(left) : buffer.size();
            OVLCORE_TRY_ASSIGN(got, view.read(file, offset, std::span<char>(buffer.data(), want)));
            if (got == 0) return false;
            hash.update(std::span<const char>(buffer.data(), got));
            offset += got;
        }
        return true;
    };
    if constexpr (tree_has_next_data<View>) {
        std::vector<char> zeros;
        for (;;) {
            const auto extent = view.next_data(file, offset);
            if (!extent || extent->begin < offset || extent->end < extent->begin) break;
            // A hole that runs to the end of the file counts only as far as reads reach: an
            // overlay metacopy file may claim a larger size than its data file holds (§6), and
            // its reads stop at the data's end. One byte read at the hole's end tells.
            if (extent->begin == extent->end && extent->begin > offset) {
                char last = 0;
                OVLCORE_TRY_ASSIGN(got,
                                   view.read(file, extent->begin - 1, std::span<char>(&last, 1)));
                if (got != 1 || last != 0) break;
            }
            hash_zeros(hash, extent->begin - offset, zeros);
            offset = extent->begin;
            if (extent->begin == extent->end) break; // no data after the hole: end of file
            OVLCORE_TRY_ASSIGN(complete, read_until(extent->end));
            if (!complete) break;
        }
    }
    // Everything left (all of it without next_data): read to the end of the file.
    OVLCORE_TRY(read_until(~std::uint64_t{0}));
    return hex_digest(hash.final());
}

/// The record of `path` from its lstat `st`, then the per-type extras: `open` and `read_link`
/// reach the object. Does not list directories.
template <content_hasher Hasher, tree_view View, class Open, class ReadLink>
[[nodiscard]] dump_record describe_object(View& view, std::string path, const result<stat_info>& st,
                                          const Open& open, const ReadLink& read_link,
                                          const dump_options& options) {
    dump_record rec;
    rec.path = std::move(path);
    if (!st) {
        rec.error = st.error();
        return rec;
    }
    rec.type = st->type;
    rec.mode = st->mode & 07777U;
    rec.uid = st->uid;
    rec.gid = st->gid;
    switch (st->type) {
    case file_type::regular: {
        rec.size = st->size;
        if (!options.content) break; // not opened: no sha256, lazy lowerdata unresolved (§6)
        auto file = open();          // §6: this is where lazy lowerdata is resolved
        auto digest =
            file ? hash_file<Hasher>(view, *file) : result<std::string>(fail(file.error()));
        if (digest)
            rec.sha256 = std::move(*digest);
        else
            rec.error = digest.error();
        break;
    }
    case file_type::symlink: {
        rec.size = st->size;
        auto target = read_link();
        if (target)
            rec.target = std::move(*target);
        else
            rec.error = target.error();
        break;
    }
    case file_type::char_device:
    case file_type::block_device:
        rec.rdev = device_number{.major = st->rdev_major, .minor = st->rdev_minor};
        break;
    default: break;
    }
    return rec;
}

/// The record of one path reached by its full path (probes). Does not list directories.
template <content_hasher Hasher, tree_view View>
[[nodiscard]] dump_record describe_path(View& view, std::string path, const dump_options& options) {
    const auto st = view.lstat(path);
    const std::string& p = path;
    return describe_object<Hasher>(
        view, path, st, [&] { return view.open(p); }, [&] { return view.read_link(p); }, options);
}

/// Puts the walk's records (visited depth first by name, §10 Q2) in byte order of their paths.
/// The two orders differ only where a directory's name is extended by a sibling's with a byte
/// below '/' ("a" and "a.txt": "/a.txt" sorts before "/a/x"): the records of such a directory's
/// subtree are held back until those siblings are done. Everything else goes straight to the sink.
template <class Sink>
class path_order_emitter {
public:
    explicit path_order_emitter(Sink& sink) : m_sink(sink), m_targets(1, nullptr) {}

    /// Before the record of the object at `depth` (> 0), `index` among its siblings: what was
    /// held back and may now follow.
    void reached(std::size_t depth, std::size_t index) {
        while (!m_held.empty() &&
               (m_held.back().frame_depth + 1 > depth ||
                (m_held.back().frame_depth + 1 == depth && m_held.back().end <= index)))
            release_top();
    }

    /// The record of an object at `depth`.
    void emit(dump_record&& rec, std::size_t depth) {
        if (buffer* target = m_targets[depth])
            target->push_back(std::move(rec));
        else
            m_sink(std::move(rec));
    }

    /// The object at `depth` (`index` in `siblings`) is a directory whose children follow.
    void entered(std::size_t depth, std::span<const std::string> siblings, std::size_t index) {
        if (m_targets.size() < depth + 2) m_targets.resize(depth + 2, nullptr);
        buffer* target = m_targets[depth];
        if (depth > 0) {
            const std::string_view name = siblings[index];
            std::size_t end = index + 1;
            while (end < siblings.size() && siblings[end].size() > name.size() &&
                   std::string_view(siblings[end]).starts_with(name) &&
                   static_cast<unsigned char>(siblings[end][name.size()]) <
                       static_cast<unsigned char>('/'))
                ++end;
            if (end > index + 1) {
                m_held.push_back(
                    {.frame_depth = depth - 1, .end = end, .records = {}, .dest = target});
                target = &m_held.back().records;
            }
        }
        m_targets[depth + 1] = target;
    }

    /// At the end of the walk: everything still held.
    void finish() {
        while (!m_held.empty()) release_top();
    }

private:
    using buffer = std::list<dump_record>;
    struct held {
        std::size_t frame_depth; ///< the depth of the directory whose names `end` counts
        std::size_t end;         ///< released before the record of that name index
        buffer records;
        buffer* dest; ///< where they go (nullptr: the sink)
    };

    void release_top() {
        held& top = m_held.back();
        if (top.dest)
            top.dest->splice(top.dest->end(), top.records);
        else
            for (dump_record& rec : top.records) m_sink(std::move(rec));
        m_held.pop_back();
    }

    Sink& m_sink;
    std::vector<buffer*> m_targets; ///< per depth: where its records go (nullptr: the sink)
    std::deque<held> m_held;        ///< a stack (deque: stable addresses for `dest`)
};

/// The walk alone, records to `sink` in byte order of their paths.
template <content_hasher Hasher, tree_view View, class Sink>
void dump_walk(View& view, const dump_options& options, Sink& sink) {
    path_order_emitter<Sink> emitter(sink);
    depth_first_walk<View> walk(view);
    while (walk.next()) {
        const std::size_t depth = walk.depth();
        if (depth > 0) emitter.reached(depth, walk.index());
        dump_record rec = describe_object<Hasher>(
            view, walk.path(), walk.stat(), [&] { return walk.open(); },
            [&] { return walk.read_link(); }, options);
        bool listed = false;
        if (rec.type == file_type::directory) {
            rec.readdir_error = walk.descend();
            listed = !rec.readdir_error;
        }
        emitter.emit(std::move(rec), depth);
        if (listed) emitter.entered(depth, walk.siblings(), walk.index());
    }
    emitter.finish();
}

} // namespace detail

/// Walks `view` like dump_records() and gives each record to `sink` (called with a
/// dump_record&&) in byte order of the paths, as it goes: memory stays proportional to the depth
/// times the width of the tree, not to its size (except that the records of a directory's subtree
/// wait while a sibling whose name extends the directory's name by a byte below '/', "a" and
/// "a.txt", is walked; and with `probes`, which are described after the walk but sort among its
/// records, every record is held until the end). @see dump-format.md
template <content_hasher Hasher = builtin_sha256, tree_view View, class Sink>
    requires std::invocable<Sink&, dump_record&&>
void for_each_dump_record(View& view, std::span<const std::string> probes,
                          const dump_options& options, Sink&& sink) {
    if (probes.empty()) {
        detail::dump_walk<Hasher>(view, options, sink);
        return;
    }
    std::vector<dump_record> records;
    auto collect = [&](dump_record&& rec) { records.push_back(std::move(rec)); };
    detail::dump_walk<Hasher>(view, options, collect);
    const std::size_t walked = records.size(); // sorted by path
    std::set<std::string> probed;
    for (const std::string& probe : probes) {
        const auto less = [](const dump_record& r, const std::string& p) { return r.path < p; };
        const auto it = std::lower_bound(
            records.begin(), records.begin() + static_cast<std::ptrdiff_t>(walked), probe, less);
        if (it != records.begin() + static_cast<std::ptrdiff_t>(walked) && it->path == probe)
            continue;
        if (probed.insert(probe).second)
            records.push_back(detail::describe_path<Hasher>(view, probe, options));
    }
    std::sort(records.begin(), records.end(),
              [](const dump_record& a, const dump_record& b) { return a.path < b.path; });
    for (dump_record& rec : records) sink(std::move(rec));
}

/// Walks `view` from "/" through every directory's listing (children visited in byte order of
/// their names), then gives each path in `probes` that the walk did not reach a record of its own
/// (an absent one: `error` "ENOENT"). Probed directories are not listed. The result is sorted by
/// the path's bytes. Reading every regular file opens it, which resolves lazy lowerdata (§6);
/// `options.content = false` opens none. `Hasher` computes `sha256` (builtin_sha256 by default).
/// for_each_dump_record() gives the same records one by one without holding them.
/// @see dump-format.md
template <content_hasher Hasher = builtin_sha256, tree_view View>
[[nodiscard]] std::vector<dump_record> dump_records(View& view,
                                                    std::span<const std::string> probes = {},
                                                    const dump_options& options = {}) {
    std::vector<dump_record> records;
    for_each_dump_record<Hasher>(view, probes, options,
                                 [&](dump_record&& rec) { records.push_back(std::move(rec)); });
    return records;
}

/// The record as one JSON object (no newline), keys in dump-format.md's table order.
[[nodiscard]] inline std::string to_json(const dump_record& rec) {
    std::string out;
    detail::json_object_writer obj(out);
    obj.string_field("path", rec.path);
    if (rec.type) {
        const std::uint32_t m = rec.mode & 07777U;
        const char mode[5] = {
            static_cast<char>('0' + ((m >> 9) & 7U)), static_cast<char>('0' + ((m >> 6) & 7U)),
            static_cast<char>('0' + ((m >> 3) & 7U)), static_cast<char>('0' + (m & 7U)), '\0'};
        obj.string_field("type", dump_name(*rec.type))
            .string_field("mode", mode)
            .number_field("uid", rec.uid)
            .number_field("gid", rec.gid);
    }
    if (rec.size) obj.number_field("size", *rec.size);
    if (rec.sha256) obj.string_field("sha256", *rec.sha256);
    if (rec.error) obj.string_field("error", errno_name(*rec.error));
    if (rec.target) obj.string_field("target", *rec.target);
    if (rec.rdev)
        obj.string_field("rdev",
                         std::to_string(rec.rdev->major) + ":" + std::to_string(rec.rdev->minor));
    if (rec.readdir_error) obj.string_field("readdir_error", errno_name(*rec.readdir_error));
    obj.close();
    return out;
}

/// The whole dump as JSON Lines (one record per line, each ending in '\n').
[[nodiscard]] inline std::string to_jsonl(std::span<const dump_record> records) {
    std::string out;
    for (const dump_record& rec : records) {
        out += to_json(rec);
        out.push_back('\n');
    }
    return out;
}

/// The single line that stands for a refused mount: {"mount_error": "EINVAL", "message": "..."}
/// (no newline). @see dump-format.md "Rejected stacks"
[[nodiscard]] inline std::string mount_error_json(std::errc code, std::string_view message) {
    std::string out;
    detail::json_object_writer(out)
        .string_field("mount_error", errno_name(code))
        .string_field("message", message)
        .close();
    return out;
}

/// The same line for a refused make_layer_stack: `mount_error_json(stack.error())`.
[[nodiscard]] inline std::string mount_error_json(const mount_error& error) {
    return mount_error_json(error.code, error.message);
}

} // namespace ovlcore
