// SPDX-License-Identifier: MIT
// ovlcore/layer_stack.hpp: turns a mount option string into the layers of an overlay, with the
// checks and the error precedence of Linux 6.18 mount(2) (spec §0, §1.3, §1.4, §1.5). Users include
// it.
//
// Order of checks (kernel fs/overlayfs params.c + super.c, confirmed live on 6.18.44):
//   1. options left to right (option_parsing.hpp); each directory is resolved when its option is
//      parsed: resolve errno, "not a directory", upper/work on an overlay or read-only (§1.3);
//   2. option resolution (§1.4);
//   3. superblock setup (§1.5): missing lowerdir; upper: missing workdir, work/upper on different
//      mounts, not separate subtrees; then at least 2 lowers without upper, at least one non-data
//      lower; each lower in mount order: same directory as an earlier layer (ELOOP conflicting);
//      finally each lower in mount order: an ancestor is a layer root (ELOOP overlapping).
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "backend.hpp"
#include "mount_error.hpp"
#include "options.hpp"
#include "result.hpp"
#include "types.hpp"

namespace ovlcore {

/// statfs f_type of overlayfs (OVERLAYFS_SUPER_MAGIC): refused as upperdir/workdir (§1.3).
inline constexpr std::uint64_t overlayfs_super_magic = 0x794c7630;

/// One layer of the stack.
template <class LayerRef>
struct layer {
    layer_kind kind = layer_kind::lower;
    std::string path; ///< the path that was resolved (unescaped)
    LayerRef ref;     ///< for backend calls
    file_id id;       ///< (st_dev, st_ino) of the layer root
    std::uint32_t name_max = 255;
    layer_option option = layer_option::lowerdir; ///< the option that named it
    std::string name;                             ///< the option text naming it (escaped as given)
};

template <backing_filesystem B>
class layer_stack;

template <backing_filesystem B>
[[nodiscard]] result<layer_stack<B>, mount_error>
make_layer_stack(const B& fs, std::string_view options, const module_defaults& defaults = {});

/// The layers and features of a mount that the kernel would accept. Built by make_layer_stack.
/// @see spec §0, §1
template <backing_filesystem B>
class layer_stack {
public:
    using layer_ref = typename B::layer_ref;
    using layer_type = layer<layer_ref>;

    /// The upper layer, or nullptr for a read-only (lower-only) mount.
    [[nodiscard]] const layer_type* upper() const noexcept { return m_upper ? &*m_upper : nullptr; }
    /// Normal ("merged") lower layers, top to bottom (spec §0).
    [[nodiscard]] std::span<const layer_type> lowers() const noexcept {
        return std::span<const layer_type>(m_lowers).first(m_normal_count);
    }
    /// Data-only lower layers, in mount order (spec §6).
    [[nodiscard]] std::span<const layer_type> data_layers() const noexcept {
        return std::span<const layer_type>(m_lowers).subspan(m_normal_count);
    }
    /// The workdir as given (nullopt without upper).
    [[nodiscard]] const std::optional<std::string>& workdir() const noexcept { return m_workdir; }
    [[nodiscard]] const feature_set& features() const noexcept { return m_features; }
    /// The largest f_namelen over all layers: longer names fail with ENAMETOOLONG (spec §1.5).
    [[nodiscard]] std::uint32_t name_max() const noexcept { return m_name_max; }
    /// The kernel's info lines for silent adjustments (spec §1.4), without prefix. (A refused
    /// mount carries the lines logged before its error in mount_error::notes.)
    [[nodiscard]] const std::vector<std::string>& notes() const noexcept { return m_notes; }

    /// A human-readable summary: one line per layer (kind, index, path, option), then features.
    [[nodiscard]] std::string describe() const {
        std::string out;
        const auto line = [&](const layer_type& l, std::size_t index) {
            out += "  ";
            out += to_string(l.kind);
            out += ' ';
            out += std::to_string(index);
            out += ": ";
            out += l.path;
            out += "  (";
            out += to_string(l.option);
            out += '=';
            out += l.name;
            out += ")\n";
        };
        out += "layer stack:\n";
        if (m_upper) line(*m_upper, 0);
        for (std::size_t i = 0; i < m_lowers.size(); ++i) line(m_lowers[i], i + 1);
        if (m_workdir) out += "  workdir: " + *m_workdir + "\n";
        const feature_set& f = m_features;
        out += "features: redirect_dir=";
        out += to_string(f.redirect);
        out += f.metacopy ? ",metacopy=on" : ",metacopy=off";
        out += f.index ? ",index=on" : ",index=off";
        out += f.nfs_export ? ",nfs_export=on" : ",nfs_export=off";
        out += ",verity=";
        out += to_string(f.verity);
        out += ",xino=";
        out += to_string(f.xino);
        out += ",uuid=";
        out += to_string(f.uuid);
        out += ",fsync=";
        out += to_string(f.fsync);
        if (f.userxattr) out += ",userxattr";
        if (f.default_permissions) out += ",default_permissions";
        out += "\nname_max: " + std::to_string(m_name_max) + "\n";
        for (const auto& n : m_notes) out += "note: " + n + "\n";
        return out;
    }

private:
    friend result<layer_stack, mount_error> make_layer_stack<B>(const B&, std::string_view,
                                                                const module_defaults&);
    layer_stack() = default;

    std::optional<layer_type> m_upper;
    std::vector<layer_type> m_lowers; // normal then data-only
    std::size_t m_normal_count = 0;
    std::optional<std::string> m_workdir;
    feature_set m_features;
    std::uint32_t m_name_max = 0;
    std::vector<std::string> m_notes;
};

namespace detail {

/// What the resolver keeps of each directory.
template <class Ref>
struct resolved_layer {
    std::optional<resolved_dir<Ref>> dir;
};

template <class Ref>
[[nodiscard]] bool has_ancestor(const resolved_dir<Ref>& descendant, const file_id& id) {
    return std::find(descendant.ancestors.begin(), descendant.ancestors.end(), id) !=
           descendant.ancestors.end();
}

template <class Ref>
[[nodiscard]] file_id layer_root_id(const resolved_dir<Ref>& d) noexcept {
    return file_id_of(d.st);
}

} // namespace detail

/// Parses `options` (a mount(2) data string, spec §1.2) and checks it against the directories of
/// `fs` the way Linux 6.18 mounts an overlay: on success the layers and features; on failure the
/// errno mount(2) would return with the kernel's message and the notes it logged before refusing
/// (spec §1.3-§1.5). Relative paths resolve against the backend's working directory. The mounter
/// is assumed to be root; checks the backend cannot see (automount roots, stacking depth, layers in
/// use by another mount) are not made.
/// @see spec §1
template <backing_filesystem B>
[[nodiscard]] result<layer_stack<B>, mount_error>
make_layer_stack(const B& fs, std::string_view options, const module_defaults& defaults) {
    using ref_type = typename B::layer_ref;
    using handle = detail::resolved_layer<ref_type>;

    // §1.3: per-path checks, made while the options are parsed.
    const auto resolve = [&fs](const path_request& req, handle& out) -> std::optional<mount_error> {
        auto dir = fs.resolve_dir(req.path);
        if (!dir) {
            return mount_error{.code = dir.error(),
                               .message = "overlayfs: failed to resolve '" + std::string(req.path) +
                                          "': -" + std::to_string(errno_value(dir.error())),
                               .notes = {}};
        }
        const std::string name(req.name);
        if (dir->st.type != file_type::directory)
            return detail::mount_einval("overlay: " + name + " is not a directory");
        if (req.option == layer_option::upperdir || req.option == layer_option::workdir) {
            if (dir->fs_magic == overlayfs_super_magic)
                return detail::mount_einval("overlay: filesystem on " + name +
                                            " not supported as upperdir");
            if (dir->read_only)
                return detail::mount_einval("overlay: filesystem on " + name + " is read-only");
        }
        out.dir = std::move(*dir);
        return std::nullopt;
    };

    OVLCORE_TRY_ASSIGN(cfg, parse_mount_options<handle>(options, defaults, resolve));

    layer_stack<B> stack;
    // §1.4
    OVLCORE_TRY_ASSIGN(resolution, resolve_options(cfg));
    stack.m_features = resolution.features;
    stack.m_notes = std::move(resolution.notes);
    // A §1.5 refusal comes after the notes of §1.4 were logged.
    const auto reject = [&](std::errc code, std::string_view message) {
        return fail(
            mount_error{.code = code, .message = std::string(message), .notes = stack.m_notes});
    };

    // §1.5, in ovl_fill_super's order.
    if (cfg.lowers.empty())
        return reject(std::errc::invalid_argument, "overlayfs: missing 'lowerdir'");

    std::vector<file_id> traps; // directories already claimed by this mount
    if (cfg.upper) {
        if (!cfg.work) return reject(std::errc::invalid_argument, "overlayfs: missing 'workdir'");
        const auto& upper = *cfg.upper->handle.dir;
        const auto& work = *cfg.work->handle.dir;
        if (upper.mount_id != work.mount_id)
            return reject(std::errc::invalid_argument,
                          "overlayfs: workdir and upperdir must reside under the same mount");
        const file_id upper_id = detail::layer_root_id(upper);
        const file_id work_id = detail::layer_root_id(work);
        if (upper_id == work_id || detail::has_ancestor(upper, work_id) ||
            detail::has_ancestor(work, upper_id))
            return reject(std::errc::invalid_argument,
                          "overlayfs: workdir and upperdir must be separate subtrees");
        traps.push_back(upper_id);
        traps.push_back(work_id);
        stack.m_workdir = cfg.work->name;
    }
    if (!cfg.upper && cfg.lowers.size() == 1)
        return reject(std::errc::invalid_argument,
                      "overlayfs: at least 2 lowerdir are needed while upperdir nonexistent");
    if (cfg.lowers.size() == cfg.data_count)
        return reject(std::errc::invalid_argument,
                      "overlayfs: at least one non-data lowerdir is required");
    for (const auto& l : cfg.lowers) {
        const file_id id = detail::layer_root_id(*l.handle.dir);
        if (std::find(traps.begin(), traps.end(), id) != traps.end())
            return reject(std::errc::too_many_symbolic_link_levels,
                          "overlayfs: conflicting lowerdir path");
        traps.push_back(id);
    }
    // The kernel walks the parents inside the layer's own filesystem only.
    for (const auto& l : cfg.lowers) {
        const auto& dir = *l.handle.dir;
        for (const auto& ancestor : dir.ancestors) {
            if (ancestor.dev != dir.st.dev) break;
            if (std::find(traps.begin(), traps.end(), ancestor) != traps.end())
                return reject(std::errc::too_many_symbolic_link_levels,
                              "overlayfs: overlapping lowerdir path");
        }
    }

    // Accepted. A mount without upper is read-only and shows index=off (§1.5).
    if (!cfg.upper) stack.m_features.index = false;

    // Build the layers.
    const auto make_layer = [](layer_kind kind, layer_spec<handle>& spec) {
        auto& dir = *spec.handle.dir;
        return layer<ref_type>{.kind = kind,
                               .path = std::move(spec.path),
                               .ref = dir.ref,
                               .id = detail::layer_root_id(dir),
                               .name_max = dir.name_max,
                               .option = spec.option,
                               .name = std::move(spec.name)};
    };
    if (cfg.upper) stack.m_upper = make_layer(layer_kind::upper, *cfg.upper);
    stack.m_normal_count = cfg.lowers.size() - cfg.data_count;
    stack.m_lowers.reserve(cfg.lowers.size());
    for (auto& l : cfg.lowers)
        stack.m_lowers.push_back(
            make_layer(l.data_only ? layer_kind::data_only : layer_kind::lower, l));
    stack.m_name_max = stack.m_upper ? stack.m_upper->name_max : 0;
    for (const auto& l : stack.m_lowers) stack.m_name_max = std::max(stack.m_name_max, l.name_max);
    return stack;
}

} // namespace ovlcore
