// SPDX-License-Identifier: MIT
// tests/support/overlay_fixture.hpp: layers built with fs_tree<B> (memory or disk) plus an
// overlay<B, recording_trace> mounted on them from an option string, for the engine's unit tests
// (tests/unit/{lookup,lowerdata,readdir,stat,overlay}.cpp). Test support only.
#pragma once

#include <algorithm>
#include <atomic>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <ovlcore/backend.hpp>
#include <ovlcore/backend/forwarding.hpp>
#include <ovlcore/layer_stack.hpp>
#include <ovlcore/overlay.hpp>
#include <ovlcore/trace.hpp>

#include "fs_tree.hpp"

namespace ovlcore::test {

/// A backend wrapper for engine tests (docs/contributing.md §25): forwards to `B` (forwarding_fs),
/// counts the calls that touch data (lookup_beneath, open_file) and reports the objects named in
/// `weird` (paths relative to a layer, any layer) as file_type::unknown (automounts and the like:
/// EREMOTE).
template <class B>
class spy_fs : public forwarding_fs<B> {
    using base = forwarding_fs<B>;

public:
    using typename base::file;
    using typename base::handle;
    using typename base::layer_ref;

    explicit spy_fs(const B& fs) : base(fs) {}

    std::set<std::string> weird;
    mutable std::atomic<int> lookup_beneath_calls{0};
    mutable std::atomic<int> open_calls{0};

    [[nodiscard]] result<real_object<handle>> lookup(const handle& dir,
                                                     std::string_view name) const {
        auto obj = base::lookup(dir, name);
        if (obj && !weird.empty() && weird.count(this->path_of(obj->handle)))
            obj->st.type = file_type::unknown;
        return obj;
    }
    [[nodiscard]] result<real_object<handle>> lookup_beneath(const layer_ref& l,
                                                             std::string_view p) const {
        ++lookup_beneath_calls;
        return base::lookup_beneath(l, p);
    }
    [[nodiscard]] result<file> open_file(const handle& h) const {
        ++open_calls;
        return base::open_file(h);
    }
};

/// Layers built in a fs_tree<B> and an overlay over them. With Spy, the overlay goes through a
/// spy_fs<B> (`spy`) instead of the backend itself.
template <class B, bool Spy = false>
struct overlay_fixture {
    using backend_type = std::conditional_t<Spy, spy_fs<B>, B>;
    using overlay_type = overlay<backend_type, recording_trace>;

    fs_tree<B> tree;
    spy_fs<B> spy{tree.fs()};
    std::unique_ptr<overlay_type> ov;

    /// True when the backend can build every entry the tests use (see fs_tree::privileged).
    [[nodiscard]] static bool privileged() { return fs_tree<B>::privileged(); }

    [[nodiscard]] const backend_type& backend() const {
        if constexpr (Spy)
            return spy;
        else
            return tree.fs();
    }

    /// Mounts (in ovlcore's sense) the layers named in `options` (relative to the tree root).
    /// Throws if the stack is rejected: these tests are about lookups, not options.
    overlay_type& mount(std::string_view options, overlay_options knobs = {}) {
        auto stack = make_layer_stack(backend(), options);
        if (!stack)
            throw std::runtime_error("layer stack rejected: " + std::string(options) + ": " +
                                     std::string(errno_name(stack.error())));
        ov = std::make_unique<overlay_type>(backend(), std::move(*stack), recording_trace{}, knobs);
        return *ov;
    }

    /// The errno of lstat(path), or std::errc{} when it succeeds.
    [[nodiscard]] std::errc lstat_error(std::string_view path) const {
        const auto st = ov->lstat(path);
        return st ? std::errc{} : st.error();
    }

    /// The errno of open(path), or std::errc{} when it succeeds.
    [[nodiscard]] std::errc open_error(std::string_view path) const {
        const auto f = ov->open(path);
        return f ? std::errc{} : f.error();
    }

    /// The whole content of the regular file at `path` (throws on error).
    [[nodiscard]] std::string content(std::string_view path) const {
        auto f = ov->open(path);
        if (!f)
            throw std::runtime_error("open " + std::string(path) + ": " +
                                     std::string(errno_name(f.error())));
        std::string out;
        char buf[4096];
        for (;;) {
            auto n = ov->read(*f, out.size(), buf);
            if (!n) throw std::runtime_error("read failed");
            if (*n == 0) return out;
            out.append(buf, *n);
        }
    }

    /// Names listed by read_dir(path), sorted (throws on error).
    [[nodiscard]] std::vector<std::string> names(std::string_view path) const {
        auto entries = ov->read_dir(path);
        if (!entries)
            throw std::runtime_error("read_dir " + std::string(path) + ": " +
                                     std::string(errno_name(entries.error())));
        std::vector<std::string> out;
        for (const auto& e : *entries) out.push_back(e.name);
        std::sort(out.begin(), out.end());
        return out;
    }
};

/// An overlay<B, Trace> over the layers `options` names in `fs`. Throws if the stack is rejected:
/// the tests that use it are about what the overlay answers, not about options.
template <class B, class Trace = null_trace>
overlay<B, Trace> make_overlay(const B& fs, std::string_view options) {
    auto stack = make_layer_stack(fs, options);
    if (!stack)
        throw std::runtime_error("layer stack rejected: " + std::string(options) + ": " +
                                 std::string(errno_name(stack.error())));
    return overlay<B, Trace>(fs, std::move(*stack));
}

} // namespace ovlcore::test
