// SPDX-License-Identifier: MIT
// A backend of your own: layers held as tables of entries (say, an image builder's manifest),
// served to the overlay engine through the backing_filesystem concept (docs/overlayfs-semantics.md
// §0, §6). Built and run under ctest ("example: custom backend"); exits non-zero on a wrong answer.
//
// A backend answers nine questions about the filesystems behind the layers, each about one layer
// and a path relative to its root: resolve_dir (a mount-option path), lstat, read_dir, get_xattr,
// list_xattr, read_link, lookup_beneath (the data-only walk of §6), open_file and read. The
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
public:
    struct layer_ref {
        const std::map<std::string, manifest_entry, std::less<>>* table = nullptr;
        std::uint64_t dev = 0;
    };
    struct file {
        const manifest_entry* entry = nullptr;
    };

    /// Adds an object; parent directories must have been added first.
    manifest_fs& add(std::string_view layer_name, std::string path, manifest_entry e) {
        auto& l = m_layers[std::string(layer_name)];
        if (l.entries.empty()) { // a new layer: give it a root directory and a device number
            l.dev = m_layers.size();
            l.entries[""].st = {.type = file_type::directory, .mode = 0755, .ino = 1, .dev = l.dev};
        }
        e.st.ino = l.entries.size() + 1;
        e.st.dev = l.dev;
        if (e.st.type == file_type::regular && e.st.size == 0) e.st.size = e.data.size();
        l.entries[std::move(path)] = std::move(e);
        return *this;
    }

    // ---- backing_filesystem ------------------------------------------------------------------

    /// "/name" is layer `name`; nothing else resolves (no relative paths, no symlinks).
    result<resolved_dir<layer_ref>> resolve_dir(std::string_view path) const {
        if (path.size() < 2 || path[0] != '/') return fail(std::errc::no_such_file_or_directory);
        auto it = m_layers.find(path.substr(1));
        if (it == m_layers.end()) return fail(std::errc::no_such_file_or_directory);
        const layer& l = it->second;
        return resolved_dir<layer_ref>{.ref = {.table = &l.entries, .dev = l.dev},
                                       .st = l.entries.at("").st,
                                       .ancestors = {file_id{.dev = 0, .ino = 1}}, // a common "/"
                                       .mount_id = l.dev};
    }
    result<stat_info> lstat(const layer_ref& l, std::string_view path) const {
        OVLCORE_TRY_ASSIGN(e, find(l, path));
        return e->st;
    }
    result<std::vector<dir_entry>> read_dir(const layer_ref& l, std::string_view path) const {
        OVLCORE_TRY_ASSIGN(d, find(l, path));
        if (d->st.type != file_type::directory) return fail(std::errc::not_a_directory);
        const std::string prefix = path.empty() ? "" : std::string(path) + "/";
        std::vector<dir_entry> out;
        for (auto it = l.table->lower_bound(prefix); it != l.table->end(); ++it) {
            std::string_view key = it->first;
            if (!key.starts_with(prefix)) break;
            std::string_view name = key.substr(prefix.size());
            if (name.empty() || name.find('/') != std::string_view::npos) continue;
            out.push_back(
                {.name = std::string(name), .type = it->second.st.type, .ino = it->second.st.ino});
        }
        return out;
    }
    result<std::optional<std::string>> get_xattr(const layer_ref& l, std::string_view path,
                                                 std::string_view name) const {
        OVLCORE_TRY_ASSIGN(e, find(l, path));
        auto it = e->xattrs.find(name);
        if (it == e->xattrs.end()) return std::optional<std::string>();
        return std::optional<std::string>(it->second);
    }
    result<std::vector<std::string>> list_xattr(const layer_ref& l, std::string_view path) const {
        OVLCORE_TRY_ASSIGN(e, find(l, path));
        std::vector<std::string> out;
        for (const auto& kv : e->xattrs) out.push_back(kv.first);
        return out;
    }
    result<std::string> read_link(const layer_ref& l, std::string_view path) const {
        OVLCORE_TRY_ASSIGN(e, find(l, path));
        if (e->st.type != file_type::symlink) return fail(std::errc::invalid_argument);
        return e->data;
    }
    /// §6: from the layer root, no symlink followed (ELOOP in the middle), "." and ".." physical
    /// but never above the root (EXDEV), ENOENT, ENOTDIR.
    result<beneath_result> lookup_beneath(const layer_ref& l, std::string_view path) const {
        std::vector<std::string_view> names;
        std::size_t pos = 0;
        while (pos < path.size()) {
            const std::size_t end = std::min(path.find('/', pos), path.size());
            const std::string_view comp = path.substr(pos, end - pos);
            pos = end + 1;
            if (comp.empty() || comp == ".") continue;
            if (comp == "..") {
                if (names.empty()) return fail(std::errc::cross_device_link);
                names.pop_back();
                continue;
            }
            OVLCORE_TRY_ASSIGN(parent, find(l, join(names)));
            if (parent->st.type == file_type::symlink)
                return fail(std::errc::too_many_symbolic_link_levels);
            if (parent->st.type != file_type::directory) return fail(std::errc::not_a_directory);
            names.push_back(comp);
        }
        std::string rel = join(names);
        OVLCORE_TRY_ASSIGN(e, find(l, rel));
        return beneath_result{.st = e->st, .path = std::move(rel)};
    }
    result<file> open_file(const layer_ref& l, std::string_view path) const {
        OVLCORE_TRY_ASSIGN(e, find(l, path));
        if (const auto refused = open_file_refusal(e->st.type)) return fail(*refused);
        return file{.entry = e};
    }
    result<std::size_t> read(const file& f, std::uint64_t offset, std::span<char> buffer) const {
        const std::string& d = f.entry->data;
        if (offset >= d.size()) return std::size_t{0};
        const std::size_t n = std::min(buffer.size(), d.size() - static_cast<std::size_t>(offset));
        std::memcpy(buffer.data(), d.data() + offset, n);
        return n;
    }

private:
    struct layer {
        std::map<std::string, manifest_entry, std::less<>> entries;
        std::uint64_t dev = 0;
    };

    static std::string join(const std::vector<std::string_view>& names) {
        std::string out;
        for (auto n : names) (out.empty() ? out : out += '/') += n;
        return out;
    }
    static result<const manifest_entry*> find(const layer_ref& l, std::string_view path) {
        auto it = l.table->find(path);
        if (it == l.table->end()) return fail(std::errc::no_such_file_or_directory);
        return &it->second;
    }

    std::map<std::string, layer, std::less<>> m_layers;
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
