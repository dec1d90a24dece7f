// SPDX-License-Identifier: MIT
// ovlcore/trace.hpp: trace sinks that record how the lookup engine resolved a name: layers
// consulted, whiteouts, opaque stops, redirects, metacopy, lazy lowerdata (spec §5, §6).
// Users include it to pass a recording_trace to overlay<B, Trace>; null_trace is the free default.
#pragma once

#include <concepts>
#include <cstddef>
#include <limits>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "result.hpp"
#include "types.hpp"

namespace ovlcore {

/// What happened at one step of a lookup or an open.
enum class trace_kind : std::uint8_t {
    layer_consulted, ///< `name` searched in layer `layer` (spec §5.2)
    found,           ///< a real entry of type `type` found at `path` in `layer` (§5.1 step 9)
    whiteout,        ///< a whiteout at `path` in `layer` hides everything below (§3, §5.1 step 4)
    opaque_stop, ///< `path` in `layer` is an opaque (`y`) dir: lower layers not searched (§5.1 step 7)
    type_mismatch_stop, ///< found `type` where it cannot merge with what was above (§5.1 steps 5-6, §5.5)
    redirect, ///< redirect read at `path` in `layer`; `detail` = the rewritten search name (§5.1 step 8)
    metacopy,           ///< `path` in `layer` is a metacopy file (`detail` = xattr size) (§2.2)
    xwhiteouts_dir,     ///< `path` in `layer` is marked `opaque=x` (§3)
    lowerdata_resolved, ///< lazy data `detail` found in data-only layer `layer` (§6)
    lowerdata_failed,   ///< lazy data `detail` not found in `layer` (`error`) (§6)
    lookup_failed,      ///< the lookup of `path` failed with `error` (§5.6)
    scoped_redirect, ///< scoped redirect read at `path` in `layer`: data `detail` is looked up in
                     ///< the data-only layers only (ovlcore extension, extensions.hpp)
    lazy_data,       ///< the lookup ends in the lazy data slot: data `detail` is looked up in the
                     ///< data-only layers at first open (§5.3, §6)
    refused, ///< the options refuse to follow a `detail` ("metacopy"/"redirect"): EPERM (§5.3)
    no_data, ///< a metacopy chain ends without data: EIO (§5.5)
    invalid_redirect, ///< the redirect value `detail` at `path` in `layer` is invalid: EINVAL (§2.3)
};

[[nodiscard]] constexpr std::string_view to_string(trace_kind k) noexcept {
    switch (k) {
    case trace_kind::layer_consulted: return "layer";
    case trace_kind::found: return "found";
    case trace_kind::whiteout: return "whiteout";
    case trace_kind::opaque_stop: return "opaque";
    case trace_kind::type_mismatch_stop: return "type-stop";
    case trace_kind::redirect: return "redirect";
    case trace_kind::metacopy: return "metacopy";
    case trace_kind::xwhiteouts_dir: return "xwhiteouts";
    case trace_kind::lowerdata_resolved: return "lowerdata";
    case trace_kind::lowerdata_failed: return "lowerdata-failed";
    case trace_kind::lookup_failed: return "failed";
    case trace_kind::scoped_redirect: return "scoped-redirect";
    case trace_kind::lazy_data: return "lazy-data";
    case trace_kind::refused: return "refused";
    case trace_kind::no_data: return "no-data";
    case trace_kind::invalid_redirect: return "invalid-redirect";
    }
    return "?";
}

/// One trace event. `layer` uses the spec §0 numbering: 0 = upper, 1..N normal lowers, N+1..
/// data-only lowers; `no_layer` when the event concerns no single layer.
struct trace_event {
    static constexpr std::size_t no_layer = std::numeric_limits<std::size_t>::max();
    trace_kind kind = trace_kind::layer_consulted;
    std::size_t layer = no_layer;
    std::string path;   ///< path relative to the layer root (or the overlay path for lookup_failed)
    std::string detail; ///< kind-specific text (see trace_kind)
    file_type type = file_type::unknown;
    std::errc error{};
};

/// "redirect L1 x/y -> /p/q": one line, stable, meant for test comparison and `--explain`.
[[nodiscard]] inline std::string to_string(const trace_event& e) {
    std::string out(to_string(e.kind));
    if (e.layer != trace_event::no_layer) out += " L" + std::to_string(e.layer);
    out += ' ';
    out += e.path.empty() ? std::string_view(".") : std::string_view(e.path);
    if (e.kind == trace_kind::found || e.kind == trace_kind::type_mismatch_stop) {
        out += ' ';
        out += dump_name(e.type);
    }
    if (!e.detail.empty()) {
        out +=
            e.kind == trace_kind::redirect || e.kind == trace_kind::scoped_redirect ? " -> " : " ";
        out += e.detail;
    }
    if (e.error != std::errc{}) {
        out += ' ';
        out += errno_name(e.error);
    }
    return out;
}

/// A trace sink: `enabled` tells the engine whether to build events at all, `event()` takes one.
/// Sinks must be safe to call from several threads when the overlay is shared
/// (docs/contributing.md §14).
template <class T>
concept trace_sink = requires(T& sink, const trace_event& e) {
    { T::enabled } -> std::convertible_to<bool>;
    sink.event(e);
};

/// The default sink: records nothing. Events are never even constructed (`enabled` is false).
struct null_trace {
    static constexpr bool enabled = false;
    constexpr void event(const trace_event&) const noexcept {}
};

/// Records every event in order (thread-safe). Copying copies the events recorded so far.
class recording_trace {
public:
    static constexpr bool enabled = true;

    recording_trace() = default;
    recording_trace(const recording_trace& other) : m_events(other.events()) {}
    recording_trace& operator=(const recording_trace& other) {
        if (this != &other) {
            auto copy = other.events();
            const std::lock_guard lock(m_mutex);
            m_events = std::move(copy);
        }
        return *this;
    }

    void event(const trace_event& e) {
        const std::lock_guard lock(m_mutex);
        m_events.push_back(e);
    }

    /// A snapshot of the events recorded so far.
    [[nodiscard]] std::vector<trace_event> events() const {
        const std::lock_guard lock(m_mutex);
        return m_events;
    }

    void clear() {
        const std::lock_guard lock(m_mutex);
        m_events.clear();
    }

    /// One line per event (see to_string(const trace_event&)), each ending in '\n'.
    [[nodiscard]] std::string to_string() const {
        std::string out;
        for (const auto& e : events()) out += ovlcore::to_string(e) + '\n';
        return out;
    }

private:
    mutable std::mutex m_mutex;
    std::vector<trace_event> m_events;
};

static_assert(trace_sink<null_trace>);
static_assert(trace_sink<recording_trace>);

namespace detail {

/// Builds and delivers an event only when the sink wants events: with null_trace the lambda is
/// never called, so a disabled trace costs nothing on the lookup path.
template <class Trace, class MakeEvent>
inline void emit(Trace& sink, MakeEvent&& make) {
    if constexpr (Trace::enabled) sink.event(make());
}

} // namespace detail

} // namespace ovlcore
