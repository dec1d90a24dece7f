// SPDX-License-Identifier: MIT
// ovlcore/backend/composite.hpp: composite_fs<Policy, Bs...>, a backend whose layers each come
// from one of several backends (e.g. directories from posix_fs and EROFS images from erofs_fs in
// one stack), chosen per mount-option path by a routing policy. Users include it when they build
// such a stack; docs/overlayfs-semantics.md §X.2 describes the extension (spec §0, §1.3, §2).
//
// resolve_dir(path) asks the policy where `path` lives: `policy.route(path)` returns one member
// backend instance (a std::shared_ptr to one of Bs; it may be a fixed backend the policy holds or
// one opened for this path, such as an image) and the path to resolve inside it. Everything else
// is addressed by handles that remember their member backend: layer_ref, handle and file are
// std::variant over the members' own types, each with a pointer to the member instance, so every
// call goes to the backend that produced the object and nothing is routed twice. The composite
// keeps every member instance a route returned alive for its own lifetime (the layer stacks and
// overlays built on it must not outlive it).
//
// A failed route (e.g. a regular file that is not an image) makes resolve_dir fail with the
// route's errno, so the stack is refused as mount(2) refuses a path it cannot resolve (spec §1.3);
// the route's message is kept and returned by route_messages() for the tool to print. At most
// max_route_messages messages are kept (a long-lived composite may be asked to resolve refused
// paths without end); later ones are only counted, and route_messages() ends with one line saying
// how many were dropped, so the memory they take stays bounded.
//
// Optional calls (backend.hpp): dot_positions when some member knows it ({0, 0}, "dots first",
// for the others), next_data when some member has it (EOPNOTSUPP for the others: the dump then
// reads the whole file), measure_verity (verity.hpp) when some member has it (ENODATA, "no
// fs-verity", for the others), release_cached when some member has it (every routed instance
// that has it releases). Members must give distinct st_dev values, as distinct mounts do: the
// stack's overlap checks and the overlay's inode numbers compare (st_dev, st_ino) across layers.
// All calls are const and thread-safe if the members' are (resolve_dir takes a lock).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "../backend.hpp"
#include "../result.hpp"
#include "../types.hpp"
#include "../verity.hpp"

namespace ovlcore {

/// A layer of member backend B: the member instance and B's layer_ref.
template <class B>
struct composite_layer {
    const B* fs = nullptr;
    typename B::layer_ref inner;
};

/// An object of member backend B: the member instance and B's handle.
template <class B>
struct composite_handle {
    const B* fs = nullptr;
    typename B::handle inner;
};

/// An open file of member backend B: the member instance and B's file.
template <class B>
struct composite_file {
    const B* fs = nullptr;
    typename B::file inner;
};

/// Where a routing policy sends one mount-option path: a member backend instance and the path to
/// resolve in it.
template <class... Bs>
struct composite_route {
    std::variant<std::shared_ptr<const Bs>...> backend;
    std::string path;
};

/// Why a policy could not route a path: the errno resolve_dir fails with, and a sentence for
/// people naming the path (e.g. "'x': not an EROFS image (bad magic)").
struct route_refusal {
    std::errc code = std::errc::invalid_argument;
    std::string message;
};

[[nodiscard]] inline std::errc to_errc(const route_refusal& r) noexcept { return r.code; }

/// A routing policy for composite_fs<Policy, Bs...>: `route(path)` (called from resolve_dir).
template <class P, class... Bs>
concept composite_policy = requires(const P& policy, std::string_view path) {
    { policy.route(path) } -> std::same_as<result<composite_route<Bs...>, route_refusal>>;
};

namespace detail {
template <class T, class... Ts>
inline constexpr bool unique_types_v = (!std::is_same_v<T, Ts> && ...) && unique_types_v<Ts...>;
template <class T>
inline constexpr bool unique_types_v<T> = true;
} // namespace detail

/// A backing_filesystem over the member backends Bs, routed by Policy (see the top of this file).
template <class Policy, backing_filesystem... Bs>
    requires(sizeof...(Bs) > 0 && detail::unique_types_v<Bs...> && composite_policy<Policy, Bs...>)
class composite_fs {
public:
    using layer_ref = std::variant<composite_layer<Bs>...>;
    using handle = std::variant<composite_handle<Bs>...>;
    using file = std::variant<composite_file<Bs>...>;
    using policy_type = Policy;

    explicit composite_fs(Policy policy) : m_policy(std::move(policy)) {}

    /// The routing policy.
    [[nodiscard]] const Policy& policy() const noexcept { return m_policy; }

    /// How many route messages are kept (see the top of this file).
    static constexpr std::size_t max_route_messages = 64;

    /// The messages of the routes that failed so far (one per failed resolve_dir), oldest first:
    /// the first max_route_messages, then, when more failed, one line counting the others.
    [[nodiscard]] std::vector<std::string> route_messages() const {
        const std::lock_guard lock(m_state->mutex);
        std::vector<std::string> out = m_state->messages;
        if (m_state->dropped != 0)
            out.push_back(std::to_string(m_state->dropped) +
                          " more refused paths (only the first " +
                          std::to_string(max_route_messages) + " messages are kept)");
        return out;
    }

    // ---- backing_filesystem --------------------------------------------------------------------

    /// Routes `path` (Policy::route), then resolves the routed path in the chosen member.
    [[nodiscard]] result<resolved_dir<layer_ref>> resolve_dir(std::string_view path) const {
        auto routed = m_policy.route(path);
        if (!routed) {
            const std::lock_guard lock(m_state->mutex);
            if (m_state->messages.size() < max_route_messages)
                m_state->messages.push_back(routed.error().message);
            else
                ++m_state->dropped; // bounded (see the top of this file)
            return fail(routed.error().code);
        }
        return std::visit(
            [&](const auto& member) -> result<resolved_dir<layer_ref>> {
                using B = std::remove_const_t<
                    typename std::remove_cvref_t<decltype(member)>::element_type>;
                if (!member) return fail(std::errc::invalid_argument);
                keep(member);
                auto dir = member->resolve_dir(routed->path);
                if (!dir) return fail(dir.error());
                return resolved_dir<layer_ref>{
                    .ref = layer_ref{composite_layer<B>{.fs = member.get(), .inner = dir->ref}},
                    .st = dir->st,
                    .ancestors = std::move(dir->ancestors),
                    .mount_id = dir->mount_id,
                    .read_only = dir->read_only,
                    .name_max = dir->name_max,
                    .fs_magic = dir->fs_magic,
                };
            },
            routed->backend);
    }
    [[nodiscard]] result<real_object<handle>> root(const layer_ref& l) const {
        return std::visit([](const auto& m) { return wrap(m.fs, m.fs->root(m.inner)); }, l);
    }
    [[nodiscard]] result<real_object<handle>> lookup(const handle& dir,
                                                     std::string_view name) const {
        return std::visit([&](const auto& m) { return wrap(m.fs, m.fs->lookup(m.inner, name)); },
                          dir);
    }
    [[nodiscard]] result<std::vector<dir_entry>> read_dir(const handle& dir) const {
        return std::visit([](const auto& m) { return m.fs->read_dir(m.inner); }, dir);
    }
    [[nodiscard]] result<std::optional<std::string>> get_xattr(const handle& h,
                                                               std::string_view name) const {
        return std::visit([&](const auto& m) { return m.fs->get_xattr(m.inner, name); }, h);
    }
    [[nodiscard]] result<std::vector<std::string>> list_xattr(const handle& h) const {
        return std::visit([](const auto& m) { return m.fs->list_xattr(m.inner); }, h);
    }
    [[nodiscard]] result<std::string> read_link(const handle& h) const {
        return std::visit([](const auto& m) { return m.fs->read_link(m.inner); }, h);
    }
    [[nodiscard]] result<real_object<handle>> lookup_beneath(const layer_ref& l,
                                                             std::string_view path) const {
        return std::visit(
            [&](const auto& m) { return wrap(m.fs, m.fs->lookup_beneath(m.inner, path)); }, l);
    }
    [[nodiscard]] result<file> open_file(const handle& h) const {
        return std::visit(
            [](const auto& m) -> result<file> {
                using B = std::remove_cvref_t<decltype(*m.fs)>;
                auto f = m.fs->open_file(m.inner);
                if (!f) return fail(f.error());
                return file{composite_file<B>{.fs = m.fs, .inner = std::move(*f)}};
            },
            h);
    }
    [[nodiscard]] result<std::size_t> read(const file& f, std::uint64_t offset,
                                           std::span<char> buffer) const {
        return std::visit([&](const auto& m) { return m.fs->read(m.inner, offset, buffer); }, f);
    }
    [[nodiscard]] std::string path_of(const handle& h) const {
        return std::visit([](const auto& m) { return m.fs->path_of(m.inner); }, h);
    }

    /// Only when some member knows where "." and ".." sit (§8.2); {0, 0} for the others.
    [[nodiscard]] result<std::array<std::size_t, 2>> dot_positions(const handle& dir) const
        requires(knows_dot_positions<Bs> || ...) {
        return std::visit(
            [](const auto& m) -> result<std::array<std::size_t, 2>> {
                using B = std::remove_cvref_t<decltype(*m.fs)>;
                if constexpr (knows_dot_positions<B>)
                    return m.fs->dot_positions(m.inner);
                else
                    return std::array<std::size_t, 2>{};
            },
            dir);
    }
    /// Only when some member can tell where a file's holes are; EOPNOTSUPP for the others.
    [[nodiscard]] result<data_extent> next_data(const file& f, std::uint64_t offset) const
        requires(detail::has_next_data<Bs> || ...) {
        return std::visit(
            [&](const auto& m) -> result<data_extent> {
                using B = std::remove_cvref_t<decltype(*m.fs)>;
                if constexpr (detail::has_next_data<B>)
                    return m.fs->next_data(m.inner, offset);
                else
                    return fail(std::errc::operation_not_supported);
            },
            f);
    }

    /// Only when some member can measure fs-verity digests (verity.hpp, spec §7); ENODATA for the
    /// others, as for a file without fs-verity.
    [[nodiscard]] result<verity_digest> measure_verity(const file& f) const
        requires(can_measure_verity<Bs> || ...) {
        return std::visit(
            [](const auto& m) -> result<verity_digest> {
                using B = std::remove_cvref_t<decltype(*m.fs)>;
                if constexpr (can_measure_verity<B>)
                    return m.fs->measure_verity(m.inner);
                else
                    return fail(std::errc::no_message_available);
            },
            f);
    }

    /// Only when some member can release its caches (backend.hpp): each routed instance that can.
    /// The members' own locks are taken under this one (they never call back into it).
    void release_cached() const noexcept requires(detail::has_release_cached<Bs> || ...) {
        const std::lock_guard lock(m_state->mutex);
        for (const routed_member& m : m_state->members)
            if (m.release_cached != nullptr) m.release_cached(m.instance.get());
    }

private:
    /// A routed instance, and its release_cached when it has one.
    struct routed_member {
        std::shared_ptr<const void> instance;
        void (*release_cached)(const void*) noexcept = nullptr;
    };
    struct state {
        std::mutex mutex;
        std::vector<routed_member> members; ///< every routed instance, kept alive
        std::vector<std::string> messages;  ///< of the failed routes (bounded)
        std::uint64_t dropped = 0;          ///< failed routes beyond max_route_messages
    };

    template <class B>
    static result<real_object<handle>> wrap(const B* fs,
                                            result<real_object<typename B::handle>> r) {
        if (!r) return fail(r.error());
        return real_object<handle>{
            .handle = handle{composite_handle<B>{.fs = fs, .inner = std::move(r->handle)}},
            .st = r->st};
    }

    template <class B>
    void keep(const std::shared_ptr<const B>& routed) const {
        const std::lock_guard lock(m_state->mutex);
        for (const auto& kept : m_state->members)
            if (kept.instance.get() == static_cast<const void*>(routed.get())) return;
        routed_member m{.instance = routed};
        if constexpr (detail::has_release_cached<B>)
            m.release_cached = [](const void* p) noexcept {
                static_cast<const B*>(p)->release_cached();
            };
        m_state->members.push_back(std::move(m));
    }

    Policy m_policy;
    std::shared_ptr<state> m_state = std::make_shared<state>();
};

} // namespace ovlcore
