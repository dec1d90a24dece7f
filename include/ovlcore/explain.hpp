// SPDX-License-Identifier: MIT
// ovlcore/explain.hpp: "why does /etc/x come from layer 3?": resolves one overlay path on a fresh
// overlay with a recording trace and renders every step of the lookup engine (layers consulted,
// whiteouts, opaque stops, redirects, metacopy, lazy lowerdata, the failing errno) for a person,
// or as JSON Lines (spec §5, §6, §10; docs/contributing.md §14). Users include it
// (ovl-tree --explain).
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "backend.hpp"
#include "detail/json.hpp"
#include "detail/path.hpp"
#include "layer_stack.hpp"
#include "overlay.hpp"
#include "quote.hpp"
#include "result.hpp"
#include "trace.hpp"
#include "types.hpp"

namespace ovlcore {

/// One step of an explanation: the lookup of one path component, or the open that resolves lazy
/// data (spec §6), with the engine's events in order.
struct explain_step {
    enum class action : std::uint8_t { lookup, open };
    action what = action::lookup;
    std::string path; ///< the overlay path looked up or opened ("/etc/x")
    std::vector<trace_event> events;
    std::errc error{}; ///< std::errc{} on success
};

/// The whole story of one path.
struct explanation {
    std::string path;
    std::vector<std::string> layers; ///< labels by spec §0 index (layer_labels())
    std::vector<explain_step> steps;
    std::errc error{};                ///< the first failing step's errno, std::errc{} if none
    std::optional<stat_info> st;      ///< the object's stat, when the lookup succeeded
    std::optional<provenance> origin; ///< where it comes from (after the open, for files)
};

/// Short names of the layers by spec §0 index, "<index>:<last path component>" ("0:(no upper)"
/// when there is no upper layer), e.g. {"0:(no upper)", "1:meta", "2:base", "3:objects"}.
template <backing_filesystem B>
[[nodiscard]] std::vector<std::string> layer_labels(const layer_stack<B>& stack) {
    std::vector<std::string> out;
    const auto add = [&](std::string_view p) {
        while (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
        if (const auto slash = p.rfind('/'); slash != std::string_view::npos && p.size() > 1)
            p.remove_prefix(slash + 1);
        out.push_back(std::to_string(out.size()) + ":" + std::string(p));
    };
    if (stack.upper())
        add(stack.upper()->path);
    else
        out.emplace_back("0:(no upper)");
    for (const auto& l : stack.lowers()) add(l.path);
    for (const auto& l : stack.data_layers()) add(l.path);
    return out;
}

/// Resolves `path` ("/" or "/a/b") on a fresh overlay of `stack` (so nothing is answered from a
/// cache) one component at a time, then opens it if it is a regular file (which resolves lazy
/// lowerdata, spec §6), recording the engine's events of each step.
/// @see spec §5.3, §6, §10 (a fresh overlay shows the first-lookup answer of quirk Q2)
template <backing_filesystem B>
[[nodiscard]] explanation explain_path(const B& fs, const layer_stack<B>& stack,
                                       std::string_view path, overlay_options options = {}) {
    explanation out;
    out.path = std::string(path);
    out.layers = layer_labels(stack);
    const overlay<B, recording_trace> ov(fs, stack, recording_trace{}, options);
    auto node = ov.root();
    if (!node) {
        out.error = node.error();
        return out;
    }
    std::string current;
    for (const std::string_view comp : detail::split_path(path)) {
        current += '/';
        current += comp;
        ov.trace().clear();
        auto next = ov.lookup(*node, comp);
        out.steps.push_back({.what = explain_step::action::lookup,
                             .path = current,
                             .events = ov.trace().events(),
                             .error = next ? std::errc{} : next.error()});
        if (!next) {
            out.error = next.error();
            return out;
        }
        node = *next;
    }
    auto st = ov.stat(*node);
    if (!st) {
        out.error = st.error();
        return out;
    }
    out.st = *st;
    if (st->type == file_type::regular) {
        ov.trace().clear();
        auto file = ov.open(*node);
        out.steps.push_back({.what = explain_step::action::open,
                             .path = out.path,
                             .events = ov.trace().events(),
                             .error = file ? std::errc{} : file.error()});
        if (!file) out.error = file.error();
    }
    out.origin = ov.which_layers(*node);
    return out;
}

namespace detail {

[[nodiscard]] inline std::string layer_label(std::span<const std::string> layers, std::size_t i) {
    if (i == trace_event::no_layer) return "-";
    return i < layers.size() ? layers[i] : std::to_string(i) + ":?";
}

/// A name in a sentence: always quoted, unsafe bytes escaped (docs/cli.md §9); "" is '.'.
[[nodiscard]] inline std::string single_quoted(std::string_view s) {
    return shell_quote(s.empty() ? std::string_view(".") : s, quoting::always);
}

/// A layer label for the text rendering (a layer's directory name may hold any byte).
[[nodiscard]] inline std::string text_label(std::span<const std::string> layers, std::size_t i) {
    return shell_escape_text(layer_label(layers, i));
}

/// One event as a sentence (without the layer), citing the spec section that explains it.
[[nodiscard]] inline std::string explain_sentence(const trace_event& e) {
    const std::string p = single_quoted(e.path);
    switch (e.kind) {
    case trace_kind::layer_consulted:
        if (!e.detail.empty() && e.detail.front() == '/')
            return "walk " + single_quoted(e.detail) +
                   " from the layer root (absolute redirect, §5.2)";
        return "look up " + single_quoted(e.detail) + " in " + p;
    case trace_kind::found: return "found " + std::string(dump_name(e.type)) + " " + p;
    case trace_kind::whiteout:
        return "whiteout " + p + ": the name is negative, lower layers are not searched (§3)";
    case trace_kind::opaque_stop:
        return p + " is opaque (y): lower layers are not merged (§5.1 step 7)";
    case trace_kind::type_mismatch_stop:
        return "found " + std::string(dump_name(e.type)) + " " + p +
               ": cannot merge with what was found above, the search stops (§5.5)";
    case trace_kind::redirect:
        return "redirect on " + p + ": the search name becomes " + single_quoted(e.detail) +
               " (§5.1 step 8)";
    case trace_kind::scoped_redirect:
        return "scoped redirect on " + p + ": data for " + single_quoted(e.detail) +
               " is looked up in the data-only layers only (ovlcore extension)";
    case trace_kind::metacopy:
        return p + " is a metacopy file (xattr " + e.detail +
               " bytes): its data comes from below (§2.2)";
    case trace_kind::xwhiteouts_dir:
        return p + " is marked opaque=x: it may hold xattr whiteouts (§3)";
    case trace_kind::lazy_data:
        return "the data is left to the data-only layers: " + single_quoted(e.detail) +
               " is looked up at first open (§5.3, §6)";
    case trace_kind::lowerdata_resolved:
        return "data " + single_quoted(e.detail) + " found: " + std::string(dump_name(e.type)) +
               " " + p + " (§6)";
    case trace_kind::lowerdata_failed:
        return "data " + single_quoted(e.detail) + " not usable here (§6)";
    case trace_kind::refused:
        return "the mount options refuse to follow this " + e.detail +
               (e.detail == "metacopy" ? " (metacopy=off, §5.3)"
                                       : " (redirect_dir=nofollow, §5.4)");
    case trace_kind::no_data: return "the metacopy chain ends without data (§5.5, §10 Q1)";
    case trace_kind::invalid_redirect:
        return "invalid redirect value " + single_quoted(e.detail) + " on " + p + " (§2.3)";
    case trace_kind::lookup_failed: return "the lookup of " + single_quoted(e.path) + " fails";
    }
    return std::string(to_string(e.kind));
}

} // namespace detail

/// The explanation for a person: one block per step, one line per event, then the answer; paths,
/// names and layer labels quoted as GNU ls quotes them (docs/cli.md §9), so every line is one
/// line of printable text.
/// @see explain_path
[[nodiscard]] inline std::string render_text(const explanation& x) {
    std::string out = shell_quote(x.path) + "\n";
    for (const explain_step& step : x.steps) {
        out += step.what == explain_step::action::lookup ? "  lookup " : "  open ";
        out += shell_quote(step.path) + "\n";
        for (const trace_event& e : step.events) {
            out += "    ";
            if (e.layer != trace_event::no_layer)
                out += "[" + detail::text_label(x.layers, e.layer) + "] ";
            out += shell_escape_text(detail::explain_sentence(e));
            if (e.error != std::errc{}) {
                out += ": ";
                out += errno_name(e.error);
            }
            out += '\n';
        }
        if (step.error == std::errc{} && step.what == explain_step::action::lookup &&
            step.events.empty())
            out += "    (no layer consulted)\n";
    }
    out += "  result: ";
    if (x.error != std::errc{} && !x.st) {
        out += errno_name(x.error);
        return out + "\n";
    }
    if (x.st) out += std::string(dump_name(x.st->type));
    if (x.origin) {
        out += ", metadata from [" + detail::text_label(x.layers, x.origin->metadata_layer) + "]";
        if (x.origin->data_layer && x.origin->type == file_type::regular)
            out += ", data from [" + detail::text_label(x.layers, *x.origin->data_layer) + "]";
        if (!x.origin->dir_layers.empty()) {
            out += ", merged from";
            for (const std::size_t l : x.origin->dir_layers)
                out += " [" + detail::text_label(x.layers, l) + "]";
        }
    }
    if (x.error != std::errc{}) {
        out += "; open fails: ";
        out += errno_name(x.error);
    }
    return out + "\n";
}

/// The explanation as JSON Lines: one object per event
/// {"path", "step" ("lookup"|"open"), "event", "layer", "layer_name", "real_path", "type",
///  "detail", "error"} (absent fields omitted), then one result object
/// {"path", "result": "ok"|"error", "error", "type", "metadata_layer", "data_layer"}.
[[nodiscard]] inline std::string render_jsonl(const explanation& x) {
    std::string out;
    for (const explain_step& step : x.steps) {
        for (const trace_event& e : step.events) {
            detail::json_object_writer obj(out);
            obj.string_field("path", step.path)
                .string_field("step", step.what == explain_step::action::lookup ? "lookup" : "open")
                .string_field("event", to_string(e.kind));
            if (e.layer != trace_event::no_layer)
                obj.number_field("layer", e.layer)
                    .string_field("layer_name", detail::layer_label(x.layers, e.layer));
            if (e.kind != trace_kind::lookup_failed) obj.string_field("real_path", e.path);
            if (e.type != file_type::unknown) obj.string_field("type", dump_name(e.type));
            if (!e.detail.empty()) obj.string_field("detail", e.detail);
            if (e.error != std::errc{}) obj.string_field("error", errno_name(e.error));
            obj.close();
            out += '\n';
        }
    }
    detail::json_object_writer obj(out);
    obj.string_field("path", x.path)
        .string_field("result", x.error == std::errc{} ? "ok" : "error");
    if (x.error != std::errc{}) obj.string_field("error", errno_name(x.error));
    if (x.st) obj.string_field("type", dump_name(x.st->type));
    if (x.origin) {
        obj.number_field("metadata_layer", x.origin->metadata_layer);
        if (x.origin->data_layer) obj.number_field("data_layer", *x.origin->data_layer);
    }
    obj.close();
    return out + "\n";
}

} // namespace ovlcore
