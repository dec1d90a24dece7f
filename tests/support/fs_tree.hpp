// SPDX-License-Identifier: MIT
// tests/support/fs_tree.hpp: fs_tree<B>, one fluent "build these entries" description that makes
// the same tree in a memory_fs or on disk for posix_fs, so a TEMPLATE_TEST_CASE runs the same
// assertions on both backends (docs/contributing.md §20). Test support only (throws on setup
// errors).
//
//   TEMPLATE_TEST_CASE("6 ...", "[spec.6]", ovlcore::memory_fs, ovlcore::posix_fs) {
//       ovlcore::test::fs_tree<TestType> t;
//       t.add_file("A/d/f", "data", {.mode = 0600}).add_whiteout("A/w");
//       auto layer = t.layer("A");                 // resolve_dir(t.path("A"))
//       auto st = ovlcore::lstat_path(t.fs(), layer, "d/f");
//   }
//
// Paths are relative to the tree root: "/ROOT" in memory (also the working directory), a fresh
// temp_dir on disk (the posix_fs resolves relative paths against it). Entries are made by the
// scenario loader's rules (scenario.hpp): missing parents 0755 0:0, explicit modes. On disk,
// devices/whiteouts, ownership and trusted.* xattrs need root: check privileged() first.
#pragma once

#include <concepts>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

#include <unistd.h>

#include <ovlcore/backend/memory.hpp>
#include <ovlcore/backend/posix.hpp>

#include "scenario.hpp"
#include "spec_names.hpp"
#include "string_makers.hpp"
#include "temp_dir.hpp"

namespace ovlcore::test {

template <class B>
class fs_tree {
    static_assert(std::is_same_v<B, memory_fs> || std::is_same_v<B, posix_fs>,
                  "fs_tree supports memory_fs and posix_fs");

public:
    using attrs = memory_fs::entry_attrs;
    static constexpr bool is_memory = std::is_same_v<B, memory_fs>;
    static constexpr std::string_view backend_name = is_memory ? "memory" : "posix";

    fs_tree() {
        if constexpr (is_memory) {
            m_root = "/ROOT";
            m_fs.add_dir(m_root).set_cwd(m_root);
        } else {
            m_tmp.emplace("ovlcore-fs-tree-");
            m_root = m_tmp->str();
            auto fs = posix_fs::with_working_dir(m_root);
            if (!fs) throw std::runtime_error("cannot open " + m_root);
            m_fs = std::move(*fs);
        }
    }

    /// True when everything can be built: always in memory, as root on disk.
    [[nodiscard]] static bool privileged() { return is_memory || ::geteuid() == 0; }

    [[nodiscard]] const B& fs() const noexcept { return m_fs; }
    [[nodiscard]] B& fs() noexcept { return m_fs; }
    [[nodiscard]] const std::string& root() const noexcept { return m_root; }
    /// The absolute path of `rel` in this backend ("" = the tree root).
    [[nodiscard]] std::string path(std::string_view rel) const {
        while (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
        return rel.empty() ? m_root : m_root + "/" + std::string(rel);
    }

    /// resolve_dir(path(rel)).ref; throws if it fails.
    [[nodiscard]] typename B::layer_ref layer(std::string_view rel = "") const {
        auto r = m_fs.resolve_dir(path(rel));
        if (!r)
            throw std::runtime_error("resolve_dir(" + path(rel) +
                                     "): " + std::string(errno_name(r.error())));
        return r->ref;
    }

    fs_tree& add_dir(std::string_view rel, const attrs& a = {}) { return add(rel, "dir", a); }
    fs_tree& add_file(std::string_view rel, std::string_view content, const attrs& a = {}) {
        return add(rel, "reg", a, [&](scenario_entry& e) { e.content = content; });
    }
    fs_tree& add_symlink(std::string_view rel, std::string_view target, const attrs& a = {}) {
        return add(rel, "lnk", a, [&](scenario_entry& e) { e.target = target; });
    }
    fs_tree& add_device(std::string_view rel, file_type type, std::uint32_t major,
                        std::uint32_t minor, const attrs& a = {}) {
        return add(rel, type == file_type::block_device ? "blk" : "chr", a, [&](scenario_entry& e) {
            e.rdev_major = major;
            e.rdev_minor = minor;
        });
    }
    fs_tree& add_whiteout(std::string_view rel, const attrs& a = {}) {
        return add(rel, "whiteout", a);
    }
    fs_tree& add_fifo(std::string_view rel, const attrs& a = {}) { return add(rel, "fifo", a); }
    fs_tree& add_socket(std::string_view rel, const attrs& a = {}) { return add(rel, "sock", a); }

    fs_tree& set_xattr(std::string_view rel, std::string_view name, std::string_view value) {
        if constexpr (is_memory) {
            m_fs.set_xattr(path(rel), name, value);
        } else {
            const std::string p = path(rel);
            const std::string n(name);
            if (::lsetxattr(p.c_str(), n.c_str(), value.data(), value.size(), 0) != 0)
                testing::detail::sys_error("setxattr " + n + " on " + p);
        }
        return *this;
    }

    fs_tree& add_hardlink(std::string_view existing, std::string_view rel) {
        if constexpr (is_memory) {
            m_fs.add_hardlink(path(existing), path(rel));
        } else {
            std::string r(rel);
            while (!r.empty() && r.front() == '/') r.erase(0, 1);
            testing::detail::make_parents(m_root, r, ::geteuid() == 0);
            if (::link(path(existing).c_str(), path(rel).c_str()) != 0)
                testing::detail::sys_error("link " + path(rel));
        }
        return *this;
    }

private:
    B m_fs;
    std::optional<temp_dir> m_tmp;
    std::string m_root;

    template <class F = void (*)(scenario_entry&)>
    fs_tree& add(
        std::string_view rel, const char* type, const attrs& a,
        F&& extra = [](scenario_entry&) {}) {
        scenario_entry e;
        std::string r(rel);
        while (!r.empty() && r.front() == '/') r.erase(0, 1);
        while (!r.empty() && r.back() == '/') r.pop_back();
        e.path = r;
        e.type = type;
        e.mode = a.mode;
        e.size = a.size;
        // Without root a chown to 0:0 fails: leave the caller's ids then (see the top comment).
        if (a.uid != 0 || a.gid != 0 || ::geteuid() == 0 || is_memory) {
            e.uid = a.uid;
            e.gid = a.gid;
        }
        extra(e);
        if constexpr (is_memory)
            add_entry_in_memory(m_fs, m_root, e);
        else
            add_entry_on_disk(m_root, e);
        return *this;
    }
};

/// A metacopy file of 6 bytes at `path` in `t`, with redirect `target` (none if empty).
template <class Tree>
void add_metacopy(Tree& t, const std::string& path, std::string_view target) {
    t.add_file(path, "", {.size = 6}).set_xattr(path, spec_names::mc, "");
    if (!target.empty()) t.set_xattr(path, spec_names::redirect, target);
}

} // namespace ovlcore::test
