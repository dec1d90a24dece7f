// SPDX-License-Identifier: MIT
// ovlcore/testing/fault_injection.hpp: fault_injection_fs<B>, a backend decorator that makes chosen
// or random calls fail with the errnos of a failing backing filesystem (EIO, ENOMEM, EINTR, ESTALE,
// EACCES) and makes reads short, to check how the engine surfaces each failure (spec §5.6.1) and
// that it caches none (§5, §6, §8). Opt-in (target ovlcore::testing); docs/testing.md §8.
//
// A fault_plan holds rules (fail the n-th call matching an operation, a layer root, a path) and a
// seeded probability of failing any call at random; stop() turns every fault off, resume() back on.
// A failed call never reaches the wrapped backend. A short read returns fewer bytes than asked
// (at least one, unless at end of file): not an error, the caller must loop.
#pragma once

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "../backend.hpp"
#include "../backend/forwarding.hpp"
#include "../backend/memory.hpp"
#include "../result.hpp"
#include "../types.hpp"

namespace ovlcore::testing {

/// The operations of the backing_filesystem concept (backend.hpp) a fault can hit.
enum class fault_op : std::uint8_t {
    resolve_dir,
    root,
    lookup,
    read_dir,
    get_xattr,
    list_xattr,
    read_link,
    lookup_beneath,
    open_file,
    read,
    dot_positions,
    next_data,
};
inline constexpr std::size_t fault_op_count = 12;

[[nodiscard]] constexpr std::string_view to_string(fault_op op) noexcept {
    switch (op) {
    case fault_op::resolve_dir: return "resolve_dir";
    case fault_op::root: return "root";
    case fault_op::lookup: return "lookup";
    case fault_op::read_dir: return "read_dir";
    case fault_op::get_xattr: return "get_xattr";
    case fault_op::list_xattr: return "list_xattr";
    case fault_op::read_link: return "read_link";
    case fault_op::lookup_beneath: return "lookup_beneath";
    case fault_op::open_file: return "open_file";
    case fault_op::read: return "read";
    case fault_op::dot_positions: return "dot_positions";
    case fault_op::next_data: return "next_data";
    }
    return "?";
}

/// The errnos of a backing filesystem failing for reasons of its own: a disk or network error,
/// memory pressure, a signal, a stale NFS handle, a permission change (spec §5.6.1).
inline constexpr std::array<std::errc, 5> backend_fault_errors{
    std::errc::io_error, std::errc::not_enough_memory, std::errc::interrupted,
    static_cast<std::errc>(ESTALE), std::errc::permission_denied};

/// One chosen fault: the `nth` call (1-based) matching op, layer and path fails with `error`, and
/// so do the `count - 1` matching calls after it (count 0: every one from the n-th on). With
/// `short_read` (op read) the matching reads return fewer bytes instead of failing.
struct fault_rule {
    std::optional<fault_op> op;   ///< only calls of this operation match (all if unset)
    std::optional<file_id> layer; ///< only calls into the layer with this root (all if unset)
    /// Only calls naming the object with this layer-relative path ("" = the root; lookup: the
    /// entry looked up, lookup_beneath: the path given; ignored by read and next_data).
    std::optional<std::string> path;
    std::uint64_t nth = 1;
    std::uint64_t count = 1;
    std::errc error = std::errc::io_error;
    bool short_read = false;
};

/// What fault_injection_fs fails. Rules are tried in order; a call no rule fails then fails at
/// random with `probability` (errno drawn from `errors`), and a read not failed is made short
/// with `short_read_probability`. Draws come from one generator seeded with `seed`, so a
/// single-threaded caller making the same calls sees the same faults.
struct fault_plan {
    std::vector<fault_rule> rules;
    double probability = 0.0;
    double short_read_probability = 0.0;
    std::uint64_t seed = 0;
    /// Random faults hit only these operations (all if empty).
    std::vector<fault_op> random_ops;
    std::vector<std::errc> errors{backend_fault_errors.begin(), backend_fault_errors.end()};
};

/// One injected fault, as recorded by fault_injection_fs::log().
struct injected_fault {
    fault_op op = fault_op::lookup;
    file_id layer{};
    std::string path;
    std::errc error{}; ///< {} for a short read
    bool short_read = false;
};

/// Fails the calls a fault_plan chooses; forwards the others (see the top of this file). Handles
/// carry their layer root (rooted_forwarding_fs), so rules can name a layer by its root's
/// (st_dev, st_ino). Thread-safe (one mutex around the plan, the counters and the log).
template <backing_filesystem B>
class fault_injection_fs : public rooted_forwarding_fs<B> {
    using base = rooted_forwarding_fs<B>;

public:
    using typename base::file;
    using typename base::handle;
    using typename base::layer_ref;

    explicit fault_injection_fs(const B& inner, fault_plan plan = {})
        : base(inner), m_plan(std::move(plan)), m_random(m_plan.seed) {
        m_matched.assign(m_plan.rules.size(), 0);
    }
    fault_injection_fs(const fault_injection_fs&) = delete;
    fault_injection_fs& operator=(const fault_injection_fs&) = delete;

    /// Replaces the plan, restarts its counts and its random sequence, clears the log, and turns
    /// faults on.
    void arm(fault_plan plan) {
        const std::lock_guard lock(m_mutex);
        m_plan = std::move(plan);
        m_log.clear();
        m_matched.assign(m_plan.rules.size(), 0);
        m_random.seed(m_plan.seed);
        m_stopped = false;
    }
    /// No call fails and no read is short until resume() or arm().
    void stop() {
        const std::lock_guard lock(m_mutex);
        m_stopped = true;
    }
    void resume() {
        const std::lock_guard lock(m_mutex);
        m_stopped = false;
    }
    /// Calls of `op` seen so far (failed ones included), whether faults were on or not.
    [[nodiscard]] std::uint64_t calls(fault_op op) const {
        const std::lock_guard lock(m_mutex);
        return m_calls[static_cast<std::size_t>(op)];
    }
    /// Every fault injected so far (errors and short reads), in order.
    [[nodiscard]] std::vector<injected_fault> log() const {
        const std::lock_guard lock(m_mutex);
        return m_log;
    }
    /// Number of calls failed so far (short reads not counted).
    [[nodiscard]] std::size_t failed() const {
        const std::lock_guard lock(m_mutex);
        std::size_t n = 0;
        for (const auto& f : m_log) n += f.short_read ? 0 : 1;
        return n;
    }
    void clear_log() {
        const std::lock_guard lock(m_mutex);
        m_log.clear();
    }

    // ---- backing_filesystem: a planned fault, or forwarded -------------------------------------
    [[nodiscard]] result<resolved_dir<layer_ref>> resolve_dir(std::string_view path) const {
        if (auto e = decide(fault_op::resolve_dir, std::nullopt, given(path)).error)
            return fail(*e);
        return base::resolve_dir(path);
    }
    [[nodiscard]] result<real_object<handle>> root(const layer_ref& l) const {
        if (auto e = decide(fault_op::root, l.root, given("")).error) return fail(*e);
        return base::root(l);
    }
    [[nodiscard]] result<real_object<handle>> lookup(const handle& dir,
                                                     std::string_view name) const {
        const auto path = [&] {
            std::string p = this->path_of(dir);
            if (!p.empty()) p += '/';
            return p += name;
        };
        if (auto e = decide(fault_op::lookup, dir.root, path).error) return fail(*e);
        return base::lookup(dir, name);
    }
    [[nodiscard]] result<std::vector<dir_entry>> read_dir(const handle& dir) const {
        if (auto e = decide(fault_op::read_dir, dir.root, path_of_handle(dir)).error)
            return fail(*e);
        return base::read_dir(dir);
    }
    [[nodiscard]] result<std::optional<std::string>> get_xattr(const handle& h,
                                                               std::string_view name) const {
        if (auto e = decide(fault_op::get_xattr, h.root, path_of_handle(h)).error) return fail(*e);
        return base::get_xattr(h, name);
    }
    [[nodiscard]] result<std::vector<std::string>> list_xattr(const handle& h) const {
        if (auto e = decide(fault_op::list_xattr, h.root, path_of_handle(h)).error) return fail(*e);
        return base::list_xattr(h);
    }
    [[nodiscard]] result<std::string> read_link(const handle& h) const {
        if (auto e = decide(fault_op::read_link, h.root, path_of_handle(h)).error) return fail(*e);
        return base::read_link(h);
    }
    [[nodiscard]] result<real_object<handle>> lookup_beneath(const layer_ref& l,
                                                             std::string_view path) const {
        if (auto e = decide(fault_op::lookup_beneath, l.root, given(path)).error) return fail(*e);
        return base::lookup_beneath(l, path);
    }
    [[nodiscard]] result<file> open_file(const handle& h) const {
        if (auto e = decide(fault_op::open_file, h.root, path_of_handle(h)).error) return fail(*e);
        return base::open_file(h);
    }
    [[nodiscard]] result<std::size_t> read(const file& f, std::uint64_t offset,
                                           std::span<char> buffer) const {
        const decision d = decide(fault_op::read, f.root, given(""));
        if (d.error) return fail(*d.error);
        if (d.short_read && buffer.size() > 1) buffer = buffer.first(d.short_size(buffer.size()));
        return base::read(f, offset, buffer);
    }
    /// Only when B knows where "." and ".." sit (an issue-12 gap: it could not fail before).
    [[nodiscard]] result<std::array<std::size_t, 2>>
    dot_positions(const handle& dir) const requires knows_dot_positions<B> {
        if (auto e = decide(fault_op::dot_positions, dir.root, path_of_handle(dir)).error)
            return fail(*e);
        return base::dot_positions(dir);
    }
    /// Only when B can tell where a file's holes are.
    [[nodiscard]] result<data_extent>
    next_data(const file& f,
              std::uint64_t offset) const requires ovlcore::detail::has_next_data<B> {
        if (auto e = decide(fault_op::next_data, f.root, given("")).error) return fail(*e);
        return base::next_data(f, offset);
    }

private:
    struct decision {
        std::optional<std::errc> error;
        bool short_read = false;
        std::uint64_t draw = 0; ///< picks the length of a short read
        /// 1 .. size-1 bytes.
        [[nodiscard]] std::size_t short_size(std::size_t size) const noexcept {
            return 1 + static_cast<std::size_t>(draw % (size - 1));
        }
    };

    /// A call's path, computed only when a rule or the log needs it.
    [[nodiscard]] static auto given(std::string_view path) {
        return [path] { return std::string(path); };
    }
    [[nodiscard]] auto path_of_handle(const handle& h) const {
        return [this, &h] { return this->path_of(h); };
    }

    template <class Path>
    [[nodiscard]] bool rule_matches(const fault_rule& r, fault_op op, std::optional<file_id> layer,
                                    Path& path) const {
        if (r.op && *r.op != op) return false;
        if (r.layer && (!layer || *r.layer != *layer)) return false;
        if (r.path && op != fault_op::read && op != fault_op::next_data && *r.path != path())
            return false;
        return true;
    }
    [[nodiscard]] bool random_op(fault_op op) const {
        if (m_plan.random_ops.empty()) return true;
        for (const auto o : m_plan.random_ops)
            if (o == op) return true;
        return false;
    }
    [[nodiscard]] bool draw(double p) const {
        if (p <= 0.0) return false;
        return std::uniform_real_distribution<double>(0.0, 1.0)(m_random) < p;
    }

    template <class PathFn>
    decision decide(fault_op op, std::optional<file_id> layer, PathFn path_fn) const {
        std::optional<std::string> cached;
        const auto path = [&]() -> const std::string& {
            if (!cached) cached = path_fn();
            return *cached;
        };
        const std::lock_guard lock(m_mutex);
        ++m_calls[static_cast<std::size_t>(op)];
        decision d;
        if (m_stopped) return d;
        for (std::size_t i = 0; i < m_plan.rules.size(); ++i) {
            const fault_rule& r = m_plan.rules[i];
            if (!rule_matches(r, op, layer, path)) continue;
            const std::uint64_t n = ++m_matched[i];
            if (n < r.nth || (r.count != 0 && n >= r.nth + r.count)) continue;
            if (r.short_read) {
                d.short_read = op == fault_op::read;
            } else {
                d.error = r.error;
            }
            break;
        }
        if (!d.error && !d.short_read && random_op(op) && !m_plan.errors.empty() &&
            draw(m_plan.probability)) {
            const auto k =
                std::uniform_int_distribution<std::size_t>(0, m_plan.errors.size() - 1)(m_random);
            d.error = m_plan.errors[k];
        }
        if (!d.error && !d.short_read && op == fault_op::read)
            d.short_read = draw(m_plan.short_read_probability);
        if (d.short_read) d.draw = m_random();
        if (d.error || d.short_read)
            m_log.push_back(injected_fault{.op = op,
                                           .layer = layer.value_or(file_id{}),
                                           .path = path(),
                                           .error = d.error.value_or(std::errc{}),
                                           .short_read = d.short_read});
        return d;
    }

    mutable std::mutex m_mutex;
    fault_plan m_plan;
    bool m_stopped = false;
    mutable std::mt19937_64 m_random;
    mutable std::vector<std::uint64_t> m_matched;
    mutable std::array<std::uint64_t, fault_op_count> m_calls{};
    mutable std::vector<injected_fault> m_log;
};

static_assert(backing_filesystem<fault_injection_fs<memory_fs>>);

} // namespace ovlcore::testing
