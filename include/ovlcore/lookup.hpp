// SPDX-License-Identifier: MIT
// ovlcore/lookup.hpp: the per-component overlay lookup, `lookup(parent, name)`: one step in one
// layer, the walk of one layer (absolute redirects), the top-down search of the layer stack with
// redirects, metacopy chains, the lazy data slot and every errno of the catalogue (spec §4, §5).
// Users normally go through overlay.hpp; the engine is public for tools that need lookup states.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "backend.hpp"
#include "config.hpp"
#include "detail/listed_names.hpp"
#include "extensions.hpp"
#include "layer_stack.hpp"
#include "result.hpp"
#include "trace.hpp"
#include "types.hpp"
#include "whiteout.hpp"
#include "xattr.hpp"

namespace ovlcore {

/// One real entry of an overlay object: an object in one layer of the backend B (spec §0). Its
/// path, for messages and traces only, is `fs.path_of(handle)`.
template <class B>
struct real_entry {
    const layer<typename B::layer_ref>* where = nullptr; ///< the layer (points into the stack)
    std::uint32_t index = 0;     ///< spec §0 numbering: 0 upper, 1..N lowers, N+1.. data
    bool xwhiteouts = false;     ///< dir whose `opaque=x` marker was read by the lookup (spec §3)
    typename B::handle handle{}; ///< the real object (backend.hpp)
    stat_info st;                ///< lstat of the real object
};

/// An optional whose value lives on the heap: one pointer when empty, where std::optional would
/// take the value's whole size. It holds the upper entry of every cached overlay object, most of
/// which have none (tests/memory/object_size.cpp measures an object: at most 512 bytes). Copies
/// are deep; it has the std::optional operations the engine and its callers use (no value(): the
/// library never throws).
template <class T>
class boxed_optional {
public:
    using value_type = T;
    boxed_optional() noexcept = default;
    boxed_optional(std::nullopt_t) noexcept {}
    boxed_optional(T value) : m_value(std::make_unique<T>(std::move(value))) {}
    boxed_optional(std::optional<T> value)
        : m_value(value ? std::make_unique<T>(std::move(*value)) : nullptr) {}
    boxed_optional(const boxed_optional& other)
        : m_value(other.m_value ? std::make_unique<T>(*other.m_value) : nullptr) {}
    boxed_optional(boxed_optional&&) noexcept = default;
    boxed_optional& operator=(const boxed_optional& other) {
        if (this != &other) m_value = other.m_value ? std::make_unique<T>(*other.m_value) : nullptr;
        return *this;
    }
    boxed_optional& operator=(boxed_optional&&) noexcept = default;
    ~boxed_optional() = default;

    [[nodiscard]] bool has_value() const noexcept { return m_value != nullptr; }
    explicit operator bool() const noexcept { return has_value(); }
    [[nodiscard]] const T& operator*() const noexcept { return *m_value; }
    [[nodiscard]] T& operator*() noexcept { return *m_value; }
    [[nodiscard]] const T* operator->() const noexcept { return m_value.get(); }
    [[nodiscard]] T* operator->() noexcept { return m_value.get(); }
    void reset() noexcept { m_value.reset(); }
    template <class... Args>
    T& emplace(Args&&... args) {
        m_value = std::make_unique<T>(std::forward<Args>(args)...);
        return *m_value;
    }
    friend bool operator==(const boxed_optional& a, std::nullopt_t) noexcept { return !a; }

private:
    std::unique_ptr<T> m_value;
};

/// The result of a lookup: an overlay object's upper entry and lower stack (spec §0, §5.3).
template <class B>
struct overlay_entry {
    /// The upper entry, if any (kept out of line: most cached objects have none).
    boxed_optional<real_entry<B>> upper;
    /// The lower stack, top to bottom. Dirs: every merged lower dir. Non-dirs: the top lower entry,
    /// then (metacopy) the data entry; intermediate metacopy files are not kept (spec §5.3).
    std::vector<real_entry<B>> lowers;
    /// With lazy_data: the absolute redirect the data is looked up by (spec §5.3, §6).
    std::string lowerdata_redirect;
    /// The stack ends in the lazy data slot: data still to be found in the data-only layers
    /// under `lowerdata_redirect` (spec §5.3 after the loop, §6). (The flags and metacopy_size
    /// share one 8-byte word.)
    bool lazy_data = false;
    bool is_dir = false;
    bool upper_opaque = false; ///< the upper dir is opaque (`y`): nothing below was merged
    bool metacopy = false;     ///< the metadata entry is a metacopy file (data comes from below)
    std::uint32_t metacopy_size =
        0; ///< its xattr size at lookup (>4 = "has digest", spec §2.2, §7)

    /// The entry that supplies the attributes: upper, else the top lower (spec §9).
    [[nodiscard]] const real_entry<B>& real() const noexcept {
        return upper ? *upper : lowers.front();
    }
    [[nodiscard]] file_type type() const noexcept { return real().st.type; }
    /// A dir with an upper and at least one lower, or with two or more lowers (spec §0).
    [[nodiscard]] bool is_merged_dir() const noexcept {
        return is_dir && lowers.size() + (upper ? 1 : 0) >= 2;
    }
    /// The data entry if it is known without resolving lazy data: the real entry for non-metacopy
    /// objects, else the bottom of the lower stack; nullptr while the lazy slot is unresolved.
    [[nodiscard]] const real_entry<B>* known_data() const noexcept {
        if (!metacopy) return &real();
        if (lazy_data || lowers.empty()) return nullptr;
        return &lowers.back();
    }
};

/// EREMOTE, which std::errc does not name: a weird object in a layer (spec §5.1 step 3, §6).
inline constexpr std::errc errc_remote = static_cast<std::errc>(EREMOTE);
/// ESTALE, which std::errc does not name: an overlay inode cache conflict (spec §10 Q2).
inline constexpr std::errc errc_stale = static_cast<std::errc>(ESTALE);

namespace detail {

/// The lookup state of spec §4 (the kernel's per-lookup data).
struct lookup_state {
    std::string name; ///< current search name; absolute path after an absolute redirect
    bool is_dir = false;
    bool opaque = false;
    bool stop = false;
    bool last = false;
    std::uint32_t metacopy = 0; ///< 0, or the metacopy xattr size (empty counts 4)
    bool redirect_read = false; ///< some redirect has been read during this lookup
    bool absolute_redirect =
        false;                 ///< the most recent redirect read attempt found an absolute one (Q1)
    bool nextmetacopy = false; ///< a metacopy was seen: following it must be permitted (6.16)
    bool nextredirect = false; ///< a redirect was seen: following it must be permitted (6.16)
    /// Set by lookup_impl for one relative lookup_single: the listing of that very real dir lacks
    /// the name, so it is absent there (spec §5.1 step 2) without an lstat.
    bool absent_from_listing = false;
    /// A backend call failed during this lookup: its errno surfaced, or the step read the call as
    /// "absent" as the kernel does (opaque, whiteout, user.* metacopy). The answer, whatever it
    /// is, must not be cached (spec §5.6.1).
    bool backend_failed = false;

    [[nodiscard]] bool name_is_absolute() const noexcept { return is_absolute_redirect(name); }
};

/// Is the component one the real filesystems refuse to look up by name (spec §5.1 step 2)?
[[nodiscard]] constexpr bool is_dot_or_empty(std::string_view comp) noexcept {
    return comp.empty() || comp == "." || comp == "..";
}

} // namespace detail

/// The lookup engine for one layer stack: everything spec §5 needs that does not change per
/// lookup (the backend, the stack, the root stack, the layer roots that trap lookups).
/// Thread-safe: all members are const after construction.
template <backing_filesystem B>
class lookup_engine {
public:
    using layer_ref = typename B::layer_ref;
    using handle = typename B::handle;
    using layer_type = layer<layer_ref>;
    using entry_type = overlay_entry<B>;
    using real_type = real_entry<B>;

    /// `ext`: ovlcore extensions (extensions.hpp); the default is exactly the kernel.
    lookup_engine(const B& fs OVLCORE_LIFETIME_BOUND,
                  const layer_stack<B>& stack OVLCORE_LIFETIME_BOUND, extensions ext = {})
        : m_fs(&fs), m_stack(&stack), m_ext(ext) {
        // The roots where lookups and absolute walks start, looked up once (spec §5.2), by spec
        // §0 index (upper and normal lowers; data-only layers are walked by lookup_beneath).
        if (!stack.upper()) m_roots.emplace_back(fail(std::errc::invalid_argument));
        for_each_layer([&](const layer_type& l, std::size_t) {
            m_layer_roots.push_back(l.id);
            if (l.kind != layer_kind::data_only) m_roots.emplace_back(fs.root(l.ref));
        });
        add_workdir_traps();
        std::sort(m_layer_roots.begin(), m_layer_roots.end());
    }

    [[nodiscard]] const B& fs() const noexcept { return *m_fs; }
    [[nodiscard]] const layer_stack<B>& stack() const noexcept { return *m_stack; }
    [[nodiscard]] bool userxattr() const noexcept { return m_stack->features().userxattr; }
    [[nodiscard]] const extensions& ext() const noexcept { return m_ext; }
    [[nodiscard]] bool has_data_layers() const noexcept { return !m_stack->data_layers().empty(); }

    /// Redirects are followed (`on`/`follow`); `nofollow` refuses them (spec §5.4).
    [[nodiscard]] bool redirect_follow() const noexcept {
        return m_stack->features().redirect != redirect_mode::nofollow;
    }
    /// Redirects are read at all: followed, or data-only layers exist (spec §4).
    [[nodiscard]] bool check_redirect() const noexcept {
        return redirect_follow() || has_data_layers();
    }

    /// Calls f(layer, index) for every layer in spec §0 order.
    template <class F>
    void for_each_layer(F&& f) const {
        std::size_t index = 0;
        if (const auto* up = m_stack->upper()) f(*up, index);
        index = 1;
        for (const auto& l : m_stack->lowers()) f(l, index++);
        for (const auto& l : m_stack->data_layers()) f(l, index++);
    }

    /// The spec §0 index of a normal lower layer given its position in lowers().
    [[nodiscard]] static constexpr std::size_t lower_index(std::size_t position) noexcept {
        return position + 1;
    }
    /// The spec §0 index of a data-only layer given its position in data_layers().
    [[nodiscard]] std::size_t data_index(std::size_t position) const noexcept {
        return 1 + m_stack->lowers().size() + position;
    }

    /// The root object: the upper root and every normal lower root (the root stack, spec §0).
    /// Lower roots other than the lowest normal one carry their `opaque=x` marker (spec §3 table).
    [[nodiscard]] result<entry_type> make_root() const {
        entry_type root;
        root.is_dir = true;
        if (const auto* up = m_stack->upper()) {
            OVLCORE_TRY_ASSIGN(obj, layer_root(0));
            root.upper = real_type{.where = up, .index = 0, .handle = obj.handle, .st = obj.st};
        }
        const auto lowers = m_stack->lowers();
        for (std::size_t i = 0; i < lowers.size(); ++i) {
            OVLCORE_TRY_ASSIGN(obj, layer_root(lower_index(i)));
            const bool lowest = i + 1 == lowers.size();
            const bool marked =
                !lowest && read_opaque(*m_fs, obj.handle, userxattr()) == opaque_value::x;
            root.lowers.push_back(real_type{.where = &lowers[i],
                                            .index = static_cast<std::uint32_t>(lower_index(i)),
                                            .xwhiteouts = marked,
                                            .handle = obj.handle,
                                            .st = obj.st});
        }
        if (!root.upper && root.lowers.empty()) return fail(std::errc::invalid_argument);
        return root;
    }

    /// `lookup(parent, name)` of spec §5.3: `name` in the overlay dir `parent`, given the root
    /// object `root` (whose lower stack is the root stack). ENOENT for a negative result.
    /// `trace` receives the steps (trace.hpp). `parent_names`, if given, are the names of the
    /// parent's real dirs from its listing (readdir.hpp): a real dir whose listing lacks the
    /// search name is skipped without an lstat, with the same result (spec §5.1 step 2).
    /// `backend_failed`, if given, is set when a backend call failed during the lookup (the
    /// answer then depends on that failure and must not be cached, spec §5.6.1).
    /// @see spec §5.3, §5.5, §5.6
    template <trace_sink Trace>
    [[nodiscard]] result<entry_type> lookup(const entry_type& root, const entry_type& parent,
                                            std::string_view name, Trace& trace,
                                            const detail::listed_names* parent_names = nullptr,
                                            bool* backend_failed = nullptr) const {
        detail::lookup_state d;
        auto r = lookup_impl(root, parent, name, trace, parent_names, d);
        if (backend_failed && d.backend_failed) *backend_failed = true;
        if (!r) {
            detail::emit(trace, [&] {
                return trace_event{.kind = trace_kind::lookup_failed,
                                   .path = std::string(name),
                                   .detail = {},
                                   .error = r.error()};
            });
        }
        return r;
    }

private:
    using lower_stack = std::span<const real_type>;

    /// The workdir and its "work" subdir trap lookups too (a workdir inside a lower: ELOOP).
    void add_workdir_traps() {
        const auto& workdir = m_stack->workdir();
        if (!workdir) return;
        const std::string path = unescape(*workdir);
        for (const std::string& dir : {path, path + "/work"})
            if (auto r = m_fs->resolve_dir(dir); r && r->st.type == file_type::directory)
                m_layer_roots.push_back(file_id_of(r->st));
    }

    /// Is this real dir the root of one of the overlay's layers, or the workdir (the kernel's
    /// lookup traps, spec §5.1 step 7)?
    [[nodiscard]] bool is_layer_root(const stat_info& st) const noexcept {
        return std::binary_search(m_layer_roots.begin(), m_layer_roots.end(), file_id_of(st));
    }

    /// The root object of the upper or normal lower layer with spec §0 index `index`, as looked
    /// up when the engine was built (its error if that failed).
    [[nodiscard]] const result<real_object<handle>>& layer_root(std::size_t index) const {
        OVLCORE_ASSERT(index < m_roots.size());
        return m_roots[index];
    }

    [[nodiscard]] bool is_bottom_normal_layer(std::size_t index) const noexcept {
        return index == m_stack->lowers().size();
    }

    /// 6.16 permission check before going deeper (spec §5.3): a metacopy needs `metacopy=on`,
    /// a redirect needs redirect following. EPERM otherwise.
    template <trace_sink Trace>
    [[nodiscard]] result<void> check_nextredirect(const detail::lookup_state& d,
                                                  Trace& trace) const {
        const char* refused = nullptr;
        if (d.nextmetacopy && !m_stack->features().metacopy)
            refused = "metacopy";
        else if (d.nextredirect && !redirect_follow())
            refused = "redirect";
        if (!refused) return {};
        detail::emit(trace, [&] {
            return trace_event{trace_kind::refused,
                               trace_event::no_layer,
                               {},
                               refused,
                               file_type::unknown,
                               std::errc::operation_not_permitted};
        });
        return fail(std::errc::operation_not_permitted);
    }

    /// The metacopy size of a regular real file at lookup (spec §2.2): 0 if none.
    [[nodiscard]] result<std::uint32_t> read_metacopy_size(const handle& h, const stat_info& st,
                                                           detail::lookup_state& d) const {
        if (st.type != file_type::regular) return 0u; // ignored on non-regular files (§2.1)
        auto value = m_fs->get_xattr(h, xattr_name(ovl_xattr::metacopy, userxattr()));
        if (!value) {
            d.backend_failed = true;
            // user.* xattrs may be unreadable for lack of permission: "not a metacopy".
            if (userxattr() && value.error() == std::errc::permission_denied) return 0u;
            return fail(value.error());
        }
        if (!value->has_value()) return 0u;
        return metacopy_size_at_lookup((*value)->size());
    }

    /// is_whiteout (whiteout.hpp) noting a failing whiteout xattr read, which reads as "not a
    /// whiteout" (spec §5.6.1).
    [[nodiscard]] bool whiteout_at(const handle& h, const stat_info& st,
                                   detail::lookup_state& d) const {
        if (is_char_whiteout(st)) return true;
        if (!may_be_xwhiteout(st)) return false;
        const auto value = m_fs->get_xattr(h, xattr_name(ovl_xattr::whiteout, userxattr()));
        if (!value) d.backend_failed = true;
        return value && value->has_value();
    }

    /// read_opaque (whiteout.hpp) noting a failing read, which reads as "none" (spec §5.6.1).
    [[nodiscard]] opaque_value opaque_at(const handle& h, detail::lookup_state& d) const {
        const auto value = m_fs->get_xattr(h, xattr_name(ovl_xattr::opaque, userxattr()));
        if (!value) d.backend_failed = true;
        if (!value || !value->has_value()) return opaque_value::none;
        return interpret_opaque(std::string_view(**value));
    }

    /// Step 8 of spec §5.1 (the kernel's check_redirect): read and apply a redirect. Always resets
    /// `absolute_redirect` first (quirk Q1). `prelen` = length of the search name before the
    /// current component, `post` = what follows it ("" or "/rest"). `lower_metacopy`: the entry
    /// is a metacopy file in a normal lower layer, where a data-only scope may apply
    /// (extensions.hpp: the scoped redirect ends the search of the normal lowers and leaves the
    /// data to the lazy slot of spec §5.3).
    template <trace_sink Trace>
    [[nodiscard]] result<void>
    apply_redirect(const handle& h, std::size_t index, detail::lookup_state& d, std::size_t prelen,
                   std::string_view post, bool lower_metacopy, Trace& trace) const {
        d.absolute_redirect = false;
        auto read = m_fs->get_xattr(h, xattr_name(ovl_xattr::redirect, userxattr()));
        if (!read) {
            d.backend_failed = true; // propagated (§5.6.1)
            return fail(read.error());
        }
        const auto& value = *read;
        if (!value) return {};
        auto parsed = parse_redirect(*value, m_ext.data_redirects, lower_metacopy);
        if (!parsed) {
            detail::emit(trace, [&] {
                return trace_event{.kind = trace_kind::invalid_redirect,
                                   .layer = index,
                                   .path = m_fs->path_of(h),
                                   .detail = *value,
                                   .error = parsed.error()};
            });
            return fail(parsed.error());
        }
        std::string name;
        switch (parsed->form) {
        case redirect_form::data_only:
            d.absolute_redirect = true;
            d.stop = true; // no normal lower is searched for it
            name = std::string(parsed->path);
            break;
        case redirect_form::absolute:
            d.absolute_redirect = true;
            d.stop = false; // an absolute redirect below an opaque ancestor still goes on (§5.1)
            name = std::string(parsed->path);
            break;
        case redirect_form::relative:
            name = d.name.substr(0, prelen);
            name += parsed->path;
            break;
        }
        name += post;
        d.name = std::move(name);
        d.redirect_read = true;
        detail::emit(trace, [&] {
            const auto kind = parsed->form == redirect_form::data_only ? trace_kind::scoped_redirect
                                                                       : trace_kind::redirect;
            return trace_event{kind, index, m_fs->path_of(h), d.name, file_type::unknown, {}};
        });
        return {};
    }

    /// `single(base, comp, is_last_component)` of spec §5.1: look `comp` up in the real dir
    /// `base` of layer `l`. Returns the entry found, or nullopt for "nothing from this layer".
    template <trace_sink Trace>
    [[nodiscard]] result<std::optional<real_type>>
    lookup_single(const layer_type& l, std::size_t index, const handle& base, std::string_view comp,
                  std::size_t prelen, std::string_view post, detail::lookup_state& d,
                  Trace& trace) const {
        const bool last_element = post.empty();
        // Step 2: "." and ".." (and the empty name) are refused by name lookup: EACCES.
        if (detail::is_dot_or_empty(comp)) return fail(std::errc::permission_denied);
        // A name the listing of this real dir lacks: the lstat would fail with ENOENT.
        if (std::exchange(d.absent_from_listing, false)) return std::optional<real_type>{};
        if (comp.size() > l.name_max) return std::optional<real_type>{}; // ENAMETOOLONG: not found
        auto obj = m_fs->lookup(base, comp); // the one stat of this step
        if (!obj) {
            const auto e = obj.error();
            if (e == std::errc::no_such_file_or_directory || e == std::errc::filename_too_long)
                return std::optional<real_type>{};
            d.backend_failed = true; // propagated (§5.6.1)
            return fail(e);
        }
        const bool is_upper = index == 0;
        // Step 3: weird objects are not traversed.
        const stat_info* st = &obj->st;
        const handle& h = obj->handle;
        if (st->type == file_type::unknown) return fail(errc_remote);
        // Step 4: a whiteout ends the search for this name.
        if (whiteout_at(h, *st, d)) {
            d.stop = d.opaque = true;
            detail::emit(trace, [&] {
                return trace_event{trace_kind::whiteout, index, m_fs->path_of(h), {}, st->type, {}};
            });
            return std::optional<real_type>{};
        }
        // Step 5: below a metacopy only a regular file can supply data.
        if (last_element && d.metacopy != 0 && st->type != file_type::regular) {
            d.stop = true;
            emit_type_stop(trace, index, h, st->type);
            return std::optional<real_type>{};
        }
        real_type found{
            .where = &l, .index = static_cast<std::uint32_t>(index), .handle = h, .st = *st};
        if (st->type != file_type::directory) {
            // Step 6: a non-dir under a dir, or in the middle of a path, ends the search.
            if (d.is_dir || !last_element) {
                d.stop = true;
                emit_type_stop(trace, index, h, st->type);
                return std::optional<real_type>{};
            }
            OVLCORE_TRY_ASSIGN(size, read_metacopy_size(h, *st, d));
            d.metacopy = size;
            d.stop = size == 0;
            emit_found(trace, found);
            if (size != 0) {
                detail::emit(trace, [&] {
                    return trace_event{.kind = trace_kind::metacopy,
                                       .layer = index,
                                       .path = m_fs->path_of(h),
                                       .detail = std::to_string(size),
                                       .type = st->type};
                });
            }
            if (size == 0 || d.last) return std::optional<real_type>{std::move(found)};
        } else {
            // Step 7: directories. Walking into a layer root is a loop (e.g. upperdir in a lower).
            if (is_layer_root(*st)) return fail(std::errc::too_many_symbolic_link_levels);
            if (last_element) d.is_dir = true;
            emit_found(trace, found);
            if (d.last) return std::optional<real_type>{std::move(found)};
            const opaque_value opaque = opaque_at(h, d);
            if (opaque == opaque_value::x && last_element && !is_upper) {
                found.xwhiteouts = true;
                detail::emit(trace, [&] {
                    return trace_event{
                        trace_kind::xwhiteouts_dir, index, m_fs->path_of(h), {}, st->type, {}};
                });
            } else if (opaque == opaque_value::y) {
                d.stop = true;
                if (last_element) d.opaque = true;
                detail::emit(trace, [&] {
                    return trace_event{
                        trace_kind::opaque_stop, index, m_fs->path_of(h), {}, st->type, {}};
                });
                return std::optional<real_type>{std::move(found)};
            }
        }
        // Step 8: redirect (dirs, and metacopy files that are not in the last layer).
        const bool lower_metacopy = !is_upper && st->type != file_type::directory;
        OVLCORE_TRY(apply_redirect(h, index, d, prelen, post, lower_metacopy, trace));
        return std::optional<real_type>{std::move(found)};
    }

    /// `layer_walk(layer_dir)` of spec §5.2: a relative search name is one step in the parent's
    /// real dir `base`; an absolute one is walked from the layer root, component by component,
    /// while the result is a dir. Components may rewrite the rest of the name (redirects), so
    /// the position is counted from the end of the name, as the kernel does.
    template <trace_sink Trace>
    [[nodiscard]] result<std::optional<real_type>>
    lookup_layer(const layer_type& l, std::size_t index, const handle& base,
                 detail::lookup_state& d, Trace& trace) const {
        detail::emit(trace, [&] {
            return trace_event{trace_kind::layer_consulted, index, m_fs->path_of(base), d.name,
                               file_type::unknown,          {}};
        });
        if (!d.name_is_absolute()) {
            const std::string comp = d.name;
            return lookup_single(l, index, base, comp, 0, "", d, trace);
        }
        std::optional<real_type> current;
        const auto& root = layer_root(index); // the walk starts at the layer root
        if (!root) {
            d.backend_failed = true; // propagated (§5.6.1)
            return fail(root.error());
        }
        handle dir = root->handle;
        std::size_t remaining = d.name.size() - 1; // characters after the leading '/'
        for (;;) {
            const std::size_t start = d.name.size() - remaining;
            const std::size_t slash = std::min(d.name.find('/', start), d.name.size());
            const std::string comp = d.name.substr(start, slash - start);
            const std::string post = d.name.substr(slash);
            OVLCORE_TRY_ASSIGN(next, lookup_single(l, index, dir, comp, start, post, d, trace));
            current = std::move(next);
            if (post.empty() || !current || current->st.type != file_type::directory) break;
            remaining -= comp.size() + 1;
            dir = current->handle;
        }
        return current;
    }

    template <trace_sink Trace>
    void emit_found(Trace& trace, const real_type& e) const {
        detail::emit(trace, [&] {
            return trace_event{trace_kind::found, e.index, m_fs->path_of(e.handle), {},
                               e.st.type,         {}};
        });
    }
    template <trace_sink Trace>
    void emit_type_stop(Trace& trace, std::size_t index, const handle& h, file_type t) const {
        detail::emit(trace, [&] {
            return trace_event{trace_kind::type_mismatch_stop, index, m_fs->path_of(h), {}, t, {}};
        });
    }

    /// The body of lookup() (spec §5.3 pseudo-code, in its order).
    template <trace_sink Trace>
    [[nodiscard]] result<entry_type> lookup_impl(const entry_type& root, const entry_type& parent,
                                                 std::string_view name, Trace& trace,
                                                 const detail::listed_names* parent_names,
                                                 detail::lookup_state& d) const {
        if (name.size() > m_stack->name_max()) return fail(std::errc::filename_too_long);
        if (!parent.is_dir) return fail(std::errc::not_a_directory);

        d.name = std::string(name);
        lower_stack poe = parent.lowers;
        const lower_stack roe = root.lowers;
        d.last = check_redirect() ? false : poe.empty();

        // The parent's listing, if read, answers for a relative name in its own real dirs
        // (positions: the upper, then parent.lowers); absolute-redirect walks still lstat.
        detail::listed_names_probe listed(parent_names);
        const std::size_t first_lower_position = parent.upper ? 1 : 0;

        entry_type out;
        bool upper_metacopy = false;
        if (parent.upper) {
            const real_type& up = *parent.upper;
            d.absent_from_listing = !d.name_is_absolute() && listed.absent(d.name, 0);
            OVLCORE_TRY_ASSIGN(found, lookup_layer(*up.where, 0, up.handle, d, trace));
            if (found && !d.is_dir && d.metacopy != 0) {
                upper_metacopy = d.nextmetacopy = true;
                out.metacopy_size = d.metacopy;
            }
            if (d.redirect_read) {
                if (d.name_is_absolute()) poe = roe;
                d.nextredirect = true;
            }
            out.upper_opaque = d.opaque;
            out.upper = std::move(found);
        }

        bool on_root_stack = poe.data() == roe.data();
        for (std::size_t i = 0; !d.stop && i < poe.size();) {
            OVLCORE_TRY(check_nextredirect(d, trace));
            const bool listed_stack = !d.name_is_absolute() && poe.data() == parent.lowers.data();
            if (listed_stack && !Trace::enabled) {
                // Untraced, the lowers whose listing lacks the name are passed over at once: each
                // would find nothing without changing the state (spec §5.1 step 2).
                const std::size_t next =
                    listed.next_candidate(d.name, first_lower_position + i) - first_lower_position;
                if (next != i) {
                    i = next;
                    continue;
                }
            }
            const real_type& lower = poe[i];
            if (!check_redirect())
                d.last = i + 1 == poe.size();
            else if (d.is_dir || !has_data_layers())
                d.last = is_bottom_normal_layer(lower.index);
            d.absent_from_listing = listed_stack && listed.absent(d.name, first_lower_position + i);
            OVLCORE_TRY_ASSIGN(found,
                               lookup_layer(*lower.where, lower.index, lower.handle, d, trace));
            if (!found) {
                ++i;
                continue;
            }
            if (d.metacopy != 0) d.nextmetacopy = true;
            if (!out.upper && !d.is_dir && out.lowers.empty() && d.metacopy != 0)
                out.metacopy_size = d.metacopy;
            // Intermediate metacopy files are not kept: only the top lower and the data entry.
            if (d.metacopy == 0 || out.lowers.empty()) out.lowers.push_back(std::move(*found));
            if (d.redirect_read) d.nextredirect = true;
            if (d.stop) break;
            if (d.redirect_read && d.name_is_absolute() && !on_root_stack) {
                // Continue at the root stack, just below the layer of this entry.
                poe = roe;
                on_root_stack = true;
                i = lower.index; // root stack position of the layer below lower.index
            } else {
                ++i;
            }
        }

        if (d.metacopy != 0 && !out.lowers.empty() && has_data_layers() && d.absolute_redirect) {
            // The lazy data slot: data is looked up in the data-only layers at first open (§6).
            // This lower->data case needs neither metacopy=on nor redirect following (6.16).
            out.lazy_data = true;
            out.lowerdata_redirect = d.name;
            d.metacopy = 0;
            detail::emit(trace, [&] {
                return trace_event{trace_kind::lazy_data,
                                   trace_event::no_layer,
                                   {},
                                   d.name,
                                   file_type::unknown,
                                   {}};
            });
        } else {
            OVLCORE_TRY(check_nextredirect(d, trace));
        }
        // A metacopy chain without data (§5.5): EIO.
        if (d.metacopy != 0 || (upper_metacopy && out.lowers.empty())) {
            detail::emit(trace, [&] {
                return trace_event{trace_kind::no_data, trace_event::no_layer, {}, {},
                                   file_type::unknown,  std::errc::io_error};
            });
            return fail(std::errc::io_error);
        }
        if (!out.upper && out.lowers.empty()) return fail(std::errc::no_such_file_or_directory);

        out.is_dir = d.is_dir;
        out.metacopy = out.upper ? upper_metacopy : (out.lowers.size() > 1 || out.lazy_data);
        return out;
    }

    const B* m_fs;
    const layer_stack<B>* m_stack;
    extensions m_ext;
    std::vector<file_id> m_layer_roots; ///< sorted ids of every layer root (the lookup traps)
    /// The root objects of the upper and normal lower layers by spec §0 index (one root() each).
    std::vector<result<real_object<handle>>> m_roots;
};

} // namespace ovlcore
