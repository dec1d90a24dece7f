// SPDX-License-Identifier: MIT
// ovlcore/backend/forwarding.hpp: forwarding_fs<Inner>, a backend that passes every operation of
// the backing_filesystem concept to a wrapped backend, as the base of decorators and test doubles
// (counting, failing, spying, rewriting one answer). Users include it when they wrap a backend
// (spec §0, §2, §5.1, §6: the operations of backend.hpp).
//
// Overriding one call: derive, inherit the constructor, and declare a member with the same name
// and signature. The concept calls members directly (no virtual dispatch), so the derived member
// hides the base one; call the base's to forward:
//
//     template <ovlcore::backing_filesystem B>
//     struct no_xattrs_fs : ovlcore::forwarding_fs<B> {
//         using base = ovlcore::forwarding_fs<B>;
//         using typename base::handle;
//         using base::base;
//         [[nodiscard]] ovlcore::result<std::optional<std::string>>
//         get_xattr(const handle&, std::string_view) const {
//             return std::optional<std::string>{}; // every attribute absent
//         }
//     };
//
// Everything else (resolve_dir, root, lookup, read_dir, list_xattr, read_link, lookup_beneath,
// open_file, read, path_of, and the optional dot_positions, next_data, measure_verity and
// release_cached when Inner has them) still goes to the wrapped backend. Keep related answers
// consistent: a decorator that changes read_dir's entries of a backend with dot_positions should
// override dot_positions too (one that changes read's bytes, next_data). To hide the optional
// call (the overlay then takes "." and ".." to come first, §8.2), declare it deleted in the
// derived class:
// `void dot_positions(const handle&) const = delete;`.
//
// Handle types: with the default `same_handles`, layer_ref, handle and file are Inner's own, so a
// decorator costs one pointer. With `rooted_handles`, every layer_ref carries the identity
// (st_dev, st_ino) of the layer root that resolve_dir returned, and every handle and file the
// root of the layer it belongs to, so a decorator can attribute any call to "the layer whose root
// is X" (`l.root`, `h.root`, `f.root`) without calling the backend. The wrapped backend is kept
// by reference and must outlive the wrapper; the wrapper is as thread-safe as the wrapped backend.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../backend.hpp"
#include "../result.hpp"
#include "../types.hpp"
#include "../verity.hpp"

namespace ovlcore {

/// forwarding_fs handles: Inner's layer_ref and file, unchanged.
struct same_handles {};
/// forwarding_fs handles: Inner's, tagged with the identity of their layer root.
struct rooted_handles {};

/// A layer_ref of Inner plus the identity of the layer root it names.
template <class InnerRef>
struct rooted_layer_ref {
    InnerRef inner;
    file_id root{};
    friend bool operator==(const rooted_layer_ref& a,
                           const rooted_layer_ref& b) requires std::equality_comparable<InnerRef> {
        return a.root == b.root && a.inner == b.inner;
    }
};

/// A handle of Inner plus the root of the layer its object belongs to.
template <class InnerHandle>
struct rooted_handle {
    InnerHandle inner;
    file_id root{};
};

/// A file of Inner plus the root of the layer it was opened in.
template <class InnerFile>
struct rooted_file {
    InnerFile inner;
    file_id root{};
};

namespace detail {

/// The handle types of a forwarding_fs and their conversions to and from Inner's.
template <class Inner, class Handles>
struct forwarding_handles;

template <class Inner>
struct forwarding_handles<Inner, same_handles> {
    using layer_ref = typename Inner::layer_ref;
    using handle = typename Inner::handle;
    using file = typename Inner::file;
    using object = result<real_object<handle>>;
    static const typename Inner::layer_ref& unwrap(const layer_ref& l) noexcept { return l; }
    static const typename Inner::handle& unwrap(const handle& h) noexcept { return h; }
    static const typename Inner::file& unwrap(const file& f) noexcept { return f; }
    static result<resolved_dir<layer_ref>> wrap(result<resolved_dir<typename Inner::layer_ref>> r) {
        return r;
    }
    template <class From>
    static object wrap(object r, const From&) {
        return r;
    }
    static result<file> wrap(result<typename Inner::file> r, const handle&) { return r; }
};

template <class Inner>
struct forwarding_handles<Inner, rooted_handles> {
    using layer_ref = rooted_layer_ref<typename Inner::layer_ref>;
    using handle = rooted_handle<typename Inner::handle>;
    using file = rooted_file<typename Inner::file>;
    using object = result<real_object<handle>>;
    static const typename Inner::layer_ref& unwrap(const layer_ref& l) noexcept { return l.inner; }
    static const typename Inner::handle& unwrap(const handle& h) noexcept { return h.inner; }
    static const typename Inner::file& unwrap(const file& f) noexcept { return f.inner; }
    /// An object of Inner, tagged with the root of the layer (or of the dir handle) it came from.
    template <class From>
    static object wrap(result<real_object<typename Inner::handle>> r, const From& from) {
        if (!r) return fail(r.error());
        return real_object<handle>{
            .handle = handle{.inner = std::move(r->handle), .root = from.root}, .st = r->st};
    }
    static result<resolved_dir<layer_ref>> wrap(result<resolved_dir<typename Inner::layer_ref>> r) {
        if (!r) return fail(r.error());
        return resolved_dir<layer_ref>{
            .ref = layer_ref{.inner = std::move(r->ref), .root = file_id_of(r->st)},
            .st = r->st,
            .ancestors = std::move(r->ancestors),
            .mount_id = r->mount_id,
            .read_only = r->read_only,
            .name_max = r->name_max,
            .fs_magic = r->fs_magic,
        };
    }
    static result<file> wrap(result<typename Inner::file> r, const handle& h) {
        if (!r) return fail(r.error());
        return file{.inner = std::move(*r), .root = h.root};
    }
};

} // namespace detail

/// A backing_filesystem that forwards every call to `Inner` (see the top of this file).
template <backing_filesystem Inner, class Handles = same_handles>
class forwarding_fs {
    using handles = detail::forwarding_handles<Inner, Handles>;

public:
    using inner_type = Inner;
    using layer_ref = typename handles::layer_ref;
    using handle = typename handles::handle;
    using file = typename handles::file;

    explicit forwarding_fs(const Inner& inner) noexcept : m_inner(&inner) {}

    /// The wrapped backend.
    [[nodiscard]] const Inner& inner() const noexcept { return *m_inner; }

    // ---- backing_filesystem --------------------------------------------------------------------
    [[nodiscard]] result<resolved_dir<layer_ref>> resolve_dir(std::string_view path) const {
        return handles::wrap(m_inner->resolve_dir(path));
    }
    [[nodiscard]] result<real_object<handle>> root(const layer_ref& l) const {
        return handles::wrap(m_inner->root(handles::unwrap(l)), l);
    }
    [[nodiscard]] result<real_object<handle>> lookup(const handle& dir,
                                                     std::string_view name) const {
        return handles::wrap(m_inner->lookup(handles::unwrap(dir), name), dir);
    }
    [[nodiscard]] result<std::vector<dir_entry>> read_dir(const handle& dir) const {
        return m_inner->read_dir(handles::unwrap(dir));
    }
    [[nodiscard]] result<std::optional<std::string>> get_xattr(const handle& h,
                                                               std::string_view name) const {
        return m_inner->get_xattr(handles::unwrap(h), name);
    }
    [[nodiscard]] result<std::vector<std::string>> list_xattr(const handle& h) const {
        return m_inner->list_xattr(handles::unwrap(h));
    }
    [[nodiscard]] result<std::string> read_link(const handle& h) const {
        return m_inner->read_link(handles::unwrap(h));
    }
    [[nodiscard]] result<real_object<handle>> lookup_beneath(const layer_ref& l,
                                                             std::string_view path) const {
        return handles::wrap(m_inner->lookup_beneath(handles::unwrap(l), path), l);
    }
    [[nodiscard]] result<file> open_file(const handle& h) const {
        return handles::wrap(m_inner->open_file(handles::unwrap(h)), h);
    }
    [[nodiscard]] result<std::size_t> read(const file& f, std::uint64_t offset,
                                           std::span<char> buffer) const {
        return m_inner->read(handles::unwrap(f), offset, buffer);
    }
    [[nodiscard]] std::string path_of(const handle& h) const {
        return m_inner->path_of(handles::unwrap(h));
    }
    /// Only when Inner knows where "." and ".." sit in its native order (§8.2).
    [[nodiscard]] result<std::array<std::size_t, 2>>
    dot_positions(const handle& dir) const requires knows_dot_positions<Inner> {
        return m_inner->dot_positions(handles::unwrap(dir));
    }
    /// Only when Inner can tell where a file's holes are (backend.hpp, sparse files).
    [[nodiscard]] result<data_extent>
    next_data(const file& f, std::uint64_t offset) const requires detail::has_next_data<Inner> {
        return m_inner->next_data(handles::unwrap(f), offset);
    }
    /// Only when Inner can measure fs-verity digests (verity.hpp, spec §7).
    [[nodiscard]] result<verity_digest>
    measure_verity(const file& f) const requires can_measure_verity<Inner> {
        return m_inner->measure_verity(handles::unwrap(f));
    }
    /// Only when Inner can release its caches (backend.hpp).
    void release_cached() const noexcept requires detail::has_release_cached<Inner> {
        m_inner->release_cached();
    }

private:
    const Inner* m_inner;
};

/// forwarding_fs whose handles carry their layer root (see the top of this file).
template <backing_filesystem Inner>
using rooted_forwarding_fs = forwarding_fs<Inner, rooted_handles>;

} // namespace ovlcore
