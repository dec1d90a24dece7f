// SPDX-License-Identifier: MIT
// A backend of your own: layers held as tables of entries (say, an image builder's manifest),
// served to the overlay engine through the backing_filesystem concept (docs/overlayfs-semantics.md
// §0, §6). Built and run under ctest ("example: custom backend"); exits non-zero on a wrong answer.
//
// A backend answers a few questions about the filesystems behind the layers: resolve_dir (a
// mount-option path), root (a layer's root object), lookup (one name in a directory), and, about
// an object it handed out (a *handle*), read_dir, get_xattr, list_xattr, read_link, open_file and
// read; lookup_beneath is the data-only walk of §6, path_of names an object for messages. The
// engine does the rest: whiteouts, opaque dirs, redirects, metacopy, lazy lowerdata, merged
// listings, errnos. To change one call of an existing backend instead, derive from
// ovlcore::forwarding_fs (ovlcore/backend/forwarding.hpp).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <ovlcore/ovlcore.hpp>

namespace {

using namespace ovlcore;

/// One object of a manifest: its stat, its xattrs, and a symlink's target or a file's content.
struct manifest_entry {
    stat_info st{};
    std::map<std::string, std::string, std::less<>> xattrs{};
    std::string data{};
};

/// Layers named "/<name>", each a table from layer-relative path ("" = root, "a/b") to entry.
class manifest_fs {
    using table = std::map<std::string, manifest_entry, std::less<>>;

public:
    struct layer_ref {
        const table* entries = nullptr;
    };
    /// An object: its row in its layer's table (rows never move, so a pointer is a handle).
    struct handle {
        const table* entries = nullptr;
        const table::value_type* row = nullptr;
    };
    struct file {
        const manifest_entry* entry = nullptr;
    };

    /// Adds an object; parent directories must have been added first.
    manifest_fs& add(std::string_view layer_name, std::string path, manifest_entry e) {
        auto& l = m_layers[std::string(layer_name)];
        if (l.empty()) { // a new layer: give it a root directory and a device number
            const std::uint64_t dev = m_layers.size();
            l[""].st = {.type = file_type::directory, .mode = 0755, .ino = 1, .dev = dev};
        }
        e.st.ino = l.size() + 1;
        e.st.dev = l.at("").st.dev;
        if (e.st.type == file_type::regular && e.st.size == 0) e.st.size = e.data.size();
        l[std::move(path)] = std::move(e);
        return *this;
    }

    // ---- backing_filesystem ------------------------------------------------------------------

    /// "/name" is layer `name`; nothing else resolves (no relative paths, no symlinks).
    result<resolved_dir<layer_ref>> resolve_dir(std::string_view path) const {
        if (path.size() < 2 || path[0] != '/') return fail(std::errc::no_such_file_or_directory);
        auto it = m_layers.find(path.substr(1));
        if (it == m_layers.end()) return fail(std::errc::no_such_file_or_directory);
        const stat_info& st = it->second.at("").st;
        return resolved_dir<layer_ref>{.ref = {.entries = &it->second},
                                       .st = st,
                                       .ancestors = {file_id{.dev = 0, .ino = 1}}, // a common "/"
                                       .mount_id = st.dev};
    }
    result<real_object<handle>> root(const layer_ref& l) const { return find(*l.entries, ""); }
    /// One name in a directory: one table lookup (the real filesystem's one stat).
    result<real_object<handle>> lookup(const handle& dir, std::string_view name) const {
        if (dir.row->second.st.type != file_type::directory)
            return fail(std::errc::not_a_directory);
        return find(*dir.entries, child(dir, name));
    }
    result<std::vector<dir_entry>> read_dir(const handle& dir) const {
        if (dir.row->second.st.type != file_type::directory)
            return fail(std::errc::not_a_directory);
        const std::string prefix = child(dir, "");
        std::vector<dir_entry> out;
        for (auto it = dir.entries->lower_bound(prefix); it != dir.entries->end(); ++it) {
            std::string_view key = it->first;
            if (!key.starts_with(prefix)) break;
            std::string_view name = key.substr(prefix.size());
            if (name.empty() || name.find('/') != std::string_view::npos) continue;
            out.push_back(
                {.name = std::string(name), .type = it->second.st.type, .ino = it->second.st.ino});
        }
        return out;
    }
    result<std::optional<std::string>> get_xattr(const handle& h, std::string_view name) const {
        const auto& xattrs = h.row->second.xattrs;
        auto it = xattrs.find(name);
        if (it == xattrs.end()) return std::optional<std::string>();
        return std::optional<std::string>(it->second);
    }
    result<std::vector<std::string>> list_xattr(const handle& h) const {
        std::vector<std::string> out;
        for (const auto& kv : h.row->second.xattrs) out.push_back(kv.first);
        return out;
    }
    result<std::string> read_link(const handle& h) const {
        if (h.row->second.st.type != file_type::symlink) return fail(std::errc::invalid_argument);
        return h.row->second.data;
    }
    /// §6: from the layer root, no symlink followed (ELOOP in the middle), "." and ".." physical
    /// but never above the root (EXDEV), ENOENT, ENOTDIR.
    result<real_object<handle>> lookup_beneath(const layer_ref& l, std::string_view path) const {
        std::vector<real_object<handle>> walked; // the dirs entered, for ".."
        OVLCORE_TRY_ASSIGN(cur, root(l));
        for (std::size_t pos = 0; pos < path.size();) {
            const std::size_t end = std::min(path.find('/', pos), path.size());
            const std::string_view comp = path.substr(pos, end - pos);
            pos = end + 1;
            if (comp.empty() || comp == ".") continue;
            if (cur.st.type == file_type::symlink)
                return fail(std::errc::too_many_symbolic_link_levels);
            if (cur.st.type != file_type::directory) return fail(std::errc::not_a_directory);
            if (comp == "..") {
                if (walked.empty()) return fail(std::errc::cross_device_link);
                cur = walked.back();
                walked.pop_back();
                continue;
            }
            OVLCORE_TRY_ASSIGN(next, lookup(cur.handle, comp));
            walked.push_back(cur);
            cur = next;
        }
        return cur;
    }
    result<file> open_file(const handle& h) const {
        if (const auto refused = open_file_refusal(h.row->second.st.type)) return fail(*refused);
        return file{.entry = &h.row->second};
    }
    result<std::size_t> read(const file& f, std::uint64_t offset, std::span<char> buffer) const {
        const std::string& d = f.entry->data;
        if (offset >= d.size()) return std::size_t{0};
        const std::size_t n = std::min(buffer.size(), d.size() - static_cast<std::size_t>(offset));
        std::memcpy(buffer.data(), d.data() + offset, n);
        return n;
    }
    [[nodiscard]] std::string path_of(const handle& h) const { return h.row->first; }

private:
    static std::string child(const handle& dir, std::string_view name) {
        return dir.row->first.empty() ? std::string(name)
                                      : dir.row->first + "/" + std::string(name);
    }
    static result<real_object<handle>> find(const table& t, std::string_view path) {
        auto it = t.find(path);
        if (it == t.end()) return fail(std::errc::no_such_file_or_directory);
        return real_object<handle>{.handle = {.entries = &t, .row = &*it}, .st = it->second.st};
    }

    std::map<std::string, table, std::less<>> m_layers;
};

static_assert(backing_filesystem<manifest_fs>); // a drifting backend fails here, not far away

manifest_entry dir() { return {.st = {.type = file_type::directory, .mode = 0755}}; }
manifest_entry reg(std::string content) {
    return {.st = {.type = file_type::regular, .mode = 0644}, .data = std::move(content)};
}

} // namespace

int main() {
    // Two image layers over a content store, the composefs shape: "a" overrides "b", and "b"'s
    // metacopy file takes its data from the data-only layer "objects" (§6).
    manifest_entry app = reg("");
    app.st.mode = 0755;
    app.st.size = 12; // a metacopy file carries the full size; its data lives elsewhere
    app.xattrs = {{"trusted.overlay.metacopy", ""}, {"trusted.overlay.redirect", "/ab/cdef"}};
    manifest_entry gone = {.st = {.type = file_type::char_device}}; // a whiteout: chr 0:0 (§3)

    manifest_fs fs;
    fs.add("a", "etc", dir()).add("a", "etc/motd", reg("from a\n")).add("a", "etc/old", gone);
    fs.add("b", "etc", dir()).add("b", "etc/old", reg("hidden\n")).add("b", "bin", dir());
    fs.add("b", "bin/app", std::move(app));
    fs.add("objects", "ab", dir()).add("objects", "ab/cdef", reg("#!/bin/true\n"));

    auto stack = make_layer_stack(fs, "lowerdir=/a:/b::/objects");
    if (!stack) {
        std::printf("refused: %s\n", errno_name(stack.error()).data());
        return 1;
    }
    overlay ov(fs, std::move(*stack));

    int wrong = 0;
    auto expect = [&wrong](bool ok, const char* what) {
        std::printf("%-44s %s\n", what, ok ? "ok" : "WRONG");
        wrong += ok ? 0 : 1;
    };
    auto etc = ov.read_dir("/etc");
    expect(etc && etc->size() == 1 && (*etc)[0].name == "motd",
           "/etc lists only motd (old whited out)");
    expect(ov.lstat("/etc/old").error() == std::errc::no_such_file_or_directory,
           "/etc/old: ENOENT");
    auto st = ov.lstat("/bin/app");
    expect(st && st->mode == 0755, "/bin/app: metadata from b");
    auto f = ov.open("/bin/app");
    char buf[32] = {};
    auto n = f ? ov.read(*f, 0, buf) : result<std::size_t>(fail(std::errc::io_error));
    expect(n && std::string_view(buf, *n) == "#!/bin/true\n",
           "/bin/app: data from objects/ab/cdef");
    expect(ov.lstat("/ab").error() == std::errc::no_such_file_or_directory,
           "/ab: data-only layers are never listed");
    return wrong == 0 ? 0 : 1;
}
