// SPDX-License-Identifier: MIT
// tests/support/counting_fs.hpp: test-double backends that wrap any backing_filesystem:
// counting_fs<B> counts every call per layer and per operation (proves laziness: zero calls into
// data-only layers until open, spec §6), failing_fs<B> makes the n-th matching call fail with a
// chosen errno (error propagation, "failure is not cached", spec §6). docs/contributing.md §25.
//
// Both derive from rooted_forwarding_fs (ovlcore/backend/forwarding.hpp): they keep the wrapped
// backend by reference (it must outlive them), and their layer_ref and handles remember the
// (st_dev, st_ino) of the layer root resolve_dir returned, so calls are attributed to "the layer
// whose root is X" whatever object they name. Counters are guarded by a mutex: the wrappers are as
// thread-safe as the wrapped backend.
#pragma once

#include <array>
#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <ovlcore/backend.hpp>
#include <ovlcore/backend/forwarding.hpp>
#include <ovlcore/backend/memory.hpp>
#include <ovlcore/result.hpp>
#include <ovlcore/testing/fault_injection.hpp>
#include <ovlcore/types.hpp>

namespace ovlcore::test {

/// The operations of the backing_filesystem concept (backend.hpp): the fault injector's names.
using fs_op = testing::fault_op;
inline constexpr std::size_t fs_op_count = testing::fault_op_count;

/// Calls and failed calls of each operation.
struct op_counts {
    std::array<std::uint64_t, fs_op_count> calls{};
    std::array<std::uint64_t, fs_op_count> failures{};

    [[nodiscard]] std::uint64_t of(fs_op op) const noexcept {
        return calls[static_cast<std::size_t>(op)];
    }
    [[nodiscard]] std::uint64_t failed(fs_op op) const noexcept {
        return failures[static_cast<std::size_t>(op)];
    }
    [[nodiscard]] std::uint64_t succeeded(fs_op op) const noexcept { return of(op) - failed(op); }
    [[nodiscard]] std::uint64_t total() const noexcept {
        std::uint64_t n = 0;
        for (auto c : calls) n += c;
        return n;
    }
    /// Every call except resolve_dir (which only mount-time setup makes).
    [[nodiscard]] std::uint64_t total_after_mount() const noexcept {
        return total() - of(fs_op::resolve_dir);
    }
};

/// Counts every call into the wrapped backend, per layer root (file_id) and per operation.
/// resolve_dir is attributed to the object it resolved (or to file_id{} when it failed).
template <backing_filesystem B>
class counting_fs : public rooted_forwarding_fs<B> {
    using base = rooted_forwarding_fs<B>;

public:
    using typename base::file;
    using typename base::handle;
    using typename base::layer_ref;

    explicit counting_fs(const B& inner) noexcept : base(inner) {}
    counting_fs(const counting_fs&) = delete;
    counting_fs& operator=(const counting_fs&) = delete;

    // ---- backing_filesystem: every call counted, then forwarded --------------------------------
    [[nodiscard]] result<resolved_dir<layer_ref>> resolve_dir(std::string_view path) const {
        auto r = base::resolve_dir(path);
        note(r ? r->ref.root : file_id{}, fs_op::resolve_dir, r.has_value());
        return r;
    }
    [[nodiscard]] result<real_object<handle>> root(const layer_ref& l) const {
        return noted(l.root, fs_op::root, base::root(l));
    }
    [[nodiscard]] result<real_object<handle>> lookup(const handle& dir,
                                                     std::string_view name) const {
        return noted(dir.root, fs_op::lookup, base::lookup(dir, name));
    }
    [[nodiscard]] result<std::vector<dir_entry>> read_dir(const handle& dir) const {
        return noted(dir.root, fs_op::read_dir, base::read_dir(dir));
    }
    [[nodiscard]] result<std::optional<std::string>> get_xattr(const handle& h,
                                                               std::string_view name) const {
        return noted(h.root, fs_op::get_xattr, base::get_xattr(h, name));
    }
    [[nodiscard]] result<std::vector<std::string>> list_xattr(const handle& h) const {
        return noted(h.root, fs_op::list_xattr, base::list_xattr(h));
    }
    [[nodiscard]] result<std::string> read_link(const handle& h) const {
        return noted(h.root, fs_op::read_link, base::read_link(h));
    }
    [[nodiscard]] result<real_object<handle>> lookup_beneath(const layer_ref& l,
                                                             std::string_view path) const {
        return noted(l.root, fs_op::lookup_beneath, base::lookup_beneath(l, path));
    }
    [[nodiscard]] result<file> open_file(const handle& h) const {
        return noted(h.root, fs_op::open_file, base::open_file(h));
    }
    [[nodiscard]] result<std::size_t> read(const file& f, std::uint64_t offset,
                                           std::span<char> buffer) const {
        return noted(f.root, fs_op::read, base::read(f, offset, buffer));
    }
    [[nodiscard]] result<std::array<std::size_t, 2>>
    dot_positions(const handle& dir) const requires knows_dot_positions<B> {
        return noted(dir.root, fs_op::dot_positions, base::dot_positions(dir));
    }
    [[nodiscard]] result<data_extent>
    next_data(const file& f, std::uint64_t offset) const requires detail::has_next_data<B> {
        return noted(f.root, fs_op::next_data, base::next_data(f, offset));
    }

    // ---- queries -------------------------------------------------------------------------------
    /// The counts of the layer whose root object is `root`.
    [[nodiscard]] op_counts counts(file_id root) const {
        std::lock_guard lock(m_mutex);
        const auto it = m_counts.find(root);
        return it == m_counts.end() ? op_counts{} : it->second;
    }
    [[nodiscard]] std::uint64_t calls(file_id root, fs_op op) const { return counts(root).of(op); }
    /// Summed over every layer.
    [[nodiscard]] op_counts totals() const {
        std::lock_guard lock(m_mutex);
        op_counts sum;
        for (const auto& [id, c] : m_counts)
            for (std::size_t i = 0; i < fs_op_count; ++i) {
                sum.calls[i] += c.calls[i];
                sum.failures[i] += c.failures[i];
            }
        return sum;
    }
    /// The identity of the directory `path` names (resolved through the wrapped backend, not
    /// counted).
    [[nodiscard]] result<file_id> root_id(std::string_view path) const {
        auto r = this->inner().resolve_dir(path);
        if (!r) return fail(r.error());
        return file_id_of(r->st);
    }
    /// Forgets every count (const: counters are not part of the backend's state).
    void reset() const {
        std::lock_guard lock(m_mutex);
        m_counts.clear();
    }
    /// One line per layer and operation with a non-zero count (for failure messages).
    [[nodiscard]] std::string report() const {
        std::lock_guard lock(m_mutex);
        std::string out;
        for (const auto& [id, c] : m_counts) {
            out += "layer " + std::to_string(id.dev) + ":" + std::to_string(id.ino) + ":";
            for (std::size_t i = 0; i < fs_op_count; ++i)
                if (c.calls[i] != 0)
                    out += " " + std::string(to_string(static_cast<fs_op>(i))) + "=" +
                           std::to_string(c.calls[i]) +
                           (c.failures[i] ? "(" + std::to_string(c.failures[i]) + " failed)" : "");
            out += "\n";
        }
        return out;
    }

private:
    void note(file_id root, fs_op op, bool ok) const {
        std::lock_guard lock(m_mutex);
        auto& c = m_counts[root];
        ++c.calls[static_cast<std::size_t>(op)];
        if (!ok) ++c.failures[static_cast<std::size_t>(op)];
    }
    template <class T>
    [[nodiscard]] result<T> noted(file_id root, fs_op op, result<T> r) const {
        note(root, op, r.has_value());
        return r;
    }

    mutable std::mutex m_mutex;
    mutable std::map<file_id, op_counts> m_counts;
};

/// When failing_fs fails a call.
struct failure_plan {
    std::uint64_t nth = 0; ///< the n-th matching call (1-based) fails; 0: none
    std::errc error = std::errc::io_error;
    std::optional<fs_op> op;      ///< only calls of this operation match (all if unset)
    std::optional<file_id> layer; ///< only calls into this layer root match (all if unset)
    bool sticky = false;          ///< every matching call from the n-th on fails
};

/// Makes the n-th call matching a failure_plan fail with the plan's errno, without calling the
/// wrapped backend; every other call is passed through. The default plan fails nothing; arm()
/// replaces the plan at any time and restarts the count.
template <backing_filesystem B>
class failing_fs : public rooted_forwarding_fs<B> {
    using base = rooted_forwarding_fs<B>;

public:
    using typename base::file;
    using typename base::handle;
    using typename base::layer_ref;

    explicit failing_fs(const B& inner, failure_plan plan = {}) : base(inner), m_plan(plan) {}
    failing_fs(const failing_fs&) = delete;
    failing_fs& operator=(const failing_fs&) = delete;

    void arm(failure_plan plan) {
        std::lock_guard lock(m_mutex);
        m_plan = plan;
        m_matched = 0;
        m_failed = 0;
    }
    void disarm() { arm(failure_plan{}); }
    /// Matching calls seen since the last arm(), and how many of them were failed.
    [[nodiscard]] std::uint64_t matched() const {
        std::lock_guard lock(m_mutex);
        return m_matched;
    }
    [[nodiscard]] std::uint64_t failed() const {
        std::lock_guard lock(m_mutex);
        return m_failed;
    }

    // ---- backing_filesystem: a planned failure, or forwarded ----------------------------------
    [[nodiscard]] result<resolved_dir<layer_ref>> resolve_dir(std::string_view path) const {
        auto r = base::resolve_dir(path);
        if (auto e = should_fail(r ? r->ref.root : file_id{}, fs_op::resolve_dir)) return fail(*e);
        return r;
    }
    [[nodiscard]] result<real_object<handle>> root(const layer_ref& l) const {
        if (auto e = should_fail(l.root, fs_op::root)) return fail(*e);
        return base::root(l);
    }
    [[nodiscard]] result<real_object<handle>> lookup(const handle& dir,
                                                     std::string_view name) const {
        if (auto e = should_fail(dir.root, fs_op::lookup)) return fail(*e);
        return base::lookup(dir, name);
    }
    [[nodiscard]] result<std::vector<dir_entry>> read_dir(const handle& dir) const {
        if (auto e = should_fail(dir.root, fs_op::read_dir)) return fail(*e);
        return base::read_dir(dir);
    }
    [[nodiscard]] result<std::optional<std::string>> get_xattr(const handle& h,
                                                               std::string_view name) const {
        if (auto e = should_fail(h.root, fs_op::get_xattr)) return fail(*e);
        return base::get_xattr(h, name);
    }
    [[nodiscard]] result<std::vector<std::string>> list_xattr(const handle& h) const {
        if (auto e = should_fail(h.root, fs_op::list_xattr)) return fail(*e);
        return base::list_xattr(h);
    }
    [[nodiscard]] result<std::string> read_link(const handle& h) const {
        if (auto e = should_fail(h.root, fs_op::read_link)) return fail(*e);
        return base::read_link(h);
    }
    [[nodiscard]] result<real_object<handle>> lookup_beneath(const layer_ref& l,
                                                             std::string_view path) const {
        if (auto e = should_fail(l.root, fs_op::lookup_beneath)) return fail(*e);
        return base::lookup_beneath(l, path);
    }
    [[nodiscard]] result<file> open_file(const handle& h) const {
        if (auto e = should_fail(h.root, fs_op::open_file)) return fail(*e);
        return base::open_file(h);
    }
    [[nodiscard]] result<std::size_t> read(const file& f, std::uint64_t offset,
                                           std::span<char> buffer) const {
        if (auto e = should_fail(f.root, fs_op::read)) return fail(*e);
        return base::read(f, offset, buffer);
    }

private:
    [[nodiscard]] std::optional<std::errc> should_fail(file_id root, fs_op op) const {
        std::lock_guard lock(m_mutex);
        if (m_plan.op && *m_plan.op != op) return std::nullopt;
        if (m_plan.layer && *m_plan.layer != root) return std::nullopt;
        const std::uint64_t n = ++m_matched;
        if (m_plan.nth == 0) return std::nullopt;
        if (n == m_plan.nth || (m_plan.sticky && n > m_plan.nth)) {
            ++m_failed;
            return m_plan.error;
        }
        return std::nullopt;
    }

    mutable std::mutex m_mutex;
    failure_plan m_plan;
    mutable std::uint64_t m_matched = 0;
    mutable std::uint64_t m_failed = 0;
};

// The wrappers are backends themselves, and compose.
static_assert(backing_filesystem<counting_fs<memory_fs>>);
static_assert(backing_filesystem<failing_fs<memory_fs>>);
static_assert(backing_filesystem<counting_fs<failing_fs<memory_fs>>>);

} // namespace ovlcore::test
