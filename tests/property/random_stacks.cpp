// SPDX-License-Identifier: MIT
// Properties of ovlcore on random layer stacks (ovlcore/testing/stack_gen.hpp, the public
// generators), no root needed except for the POSIX half of the backend comparison. Each property
// was checked against the spec before trusting it (docs/contributing.md §24); the reasoning is
// next to each one.
#include <catch2/catch.hpp>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <ovlcore/backend/forwarding.hpp>
#include <ovlcore/backend/memory.hpp>
#include <ovlcore/backend/posix.hpp>
#include <ovlcore/dump.hpp>
#include <ovlcore/layer_stack.hpp>
#include <ovlcore/overlay.hpp>
#include <ovlcore/testing/differential.hpp>
#include <ovlcore/testing/stack_gen.hpp>

#include "support/counting_fs.hpp"
#include "support/string_makers.hpp"
#include "support/temp_dir.hpp"

using namespace ovlcore;
using ovlcore::testing::json;

namespace {

/// One layer of a backend seen alone as a tree_view: the "unchanged" reference.
template <class B>
class layer_view {
public:
    layer_view(const B& fs, typename B::layer_ref layer) : m_fs(&fs), m_layer(std::move(layer)) {}
    [[nodiscard]] result<stat_info> lstat(std::string_view p) const {
        return ovlcore::lstat_path(*m_fs, m_layer, rel(p));
    }
    [[nodiscard]] result<std::vector<dir_entry>> read_dir(std::string_view p) const {
        return ovlcore::read_dir_path(*m_fs, m_layer, rel(p));
    }
    [[nodiscard]] result<std::string> read_link(std::string_view p) const {
        return ovlcore::read_link_path(*m_fs, m_layer, rel(p));
    }
    [[nodiscard]] result<typename B::file> open(std::string_view p) const {
        return ovlcore::open_file_path(*m_fs, m_layer, rel(p));
    }
    [[nodiscard]] result<std::size_t> read(const typename B::file& f, std::uint64_t off,
                                           std::span<char> buf) const {
        return m_fs->read(f, off, buf);
    }

private:
    static std::string_view rel(std::string_view p) {
        while (!p.empty() && p.front() == '/') p.remove_prefix(1);
        return p;
    }
    const B* m_fs;
    typename B::layer_ref m_layer;
};

/// posix_fs without its optional dot_positions: "." and ".." taken to come first, as in
/// memory_fs (§8.2; the idiom of ovlcore/backend/forwarding.hpp).
struct posix_dots_first : forwarding_fs<posix_fs> {
    using forwarding_fs::forwarding_fs;
    void dot_positions(const layer_ref&, std::string_view) const = delete;
};

std::vector<json> parsed(const std::vector<dump_record>& records) {
    return ovlcore::testing::parse_dump_lines(to_jsonl(records));
}

/// Is this stack mounted with userxattr (user.overlay.* names, spec §2.1)?
bool uses_userxattr(const json& doc) {
    return doc["options"].get<std::string>().find("userxattr") != std::string::npos;
}

/// The top normal layer: the upper if there is one, else the first lower (stack_gen naming).
std::string top_layer(const json& doc) {
    return doc["options"].get<std::string>().find("upperdir=") != std::string::npos ? "U" : "A";
}

/// Every listed name of every reachable directory with its lookup result.
template <class View, class F>
void for_each_listed(const View& view, F&& f) {
    std::vector<std::string> pending{"/"};
    std::set<std::string> seen{"/"};
    while (!pending.empty()) {
        const std::string dir = pending.back();
        pending.pop_back();
        auto listing = view.read_dir(dir);
        if (!listing) continue;
        for (const auto& e : *listing) {
            const std::string path = (dir == "/" ? "" : dir) + "/" + e.name;
            auto st = view.lstat(path);
            f(path, st);
            if (st && st->type == file_type::directory && seen.insert(path).second)
                pending.push_back(path);
        }
    }
}

// Spec §5.6: the lookup errno catalogue.
const std::set<std::errc> lookup_errnos{std::errc::no_such_file_or_directory,
                                        std::errc::filename_too_long,
                                        std::errc::invalid_argument,
                                        std::errc::permission_denied,
                                        std::errc::io_error,
                                        std::errc::operation_not_permitted,
                                        std::errc::too_many_symbolic_link_levels,
                                        static_cast<std::errc>(EREMOTE),
                                        static_cast<std::errc>(ESTALE),
                                        std::errc::not_a_directory};

} // namespace

TEST_CASE("5 random stacks: memory_fs and posix_fs backends give the same dump",
          "[property][random][spec.5][spec.6][spec.8][backend]") {
    if (::geteuid() != 0) {
        // trusted.overlay.* xattrs, chown and mknod of whiteouts need root on disk
        WARN("not root: the memory vs POSIX backend property is skipped");
        return;
    }
    rc::prop("memory and POSIX backends agree", [] {
        const json doc = (*ovlcore::testing::gen_random_stack()).doc;
        const auto sc = ovlcore::testing::to_scenario(doc);
        memory_fs mem;
        const std::string mem_options = ovlcore::testing::build_in_memory(sc, mem);
        ovlcore::test::temp_dir tmp("ovlcore-h7-prop-");
        const std::string disk_options = ovlcore::testing::build_on_disk(sc, tmp.path());
        const posix_fs disk;
        // memory_fs lists "." and ".." first; posix_fs reports where ext4's hash order puts them
        // (optional dot_positions), which decides whether a failing readdir lookup surfaces
        // (§8.2). Through posix_dots_first (dot_positions hidden) posix_fs is listed dots-first
        // too and the two backends must agree exactly.
        const posix_dots_first disk_dots_first(disk);
        const auto a = ovlcore::testing::parse_dump_lines(
            ovlcore::testing::ovlcore_dump_jsonl(mem, mem_options, sc.paths));
        const auto b = ovlcore::testing::parse_dump_lines(
            ovlcore::testing::ovlcore_dump_jsonl(disk_dots_first, disk_options, sc.paths));
        RC_TAG(a.size() == 1 && a.front().contains("mount_error") ? "refused mount" : "mounted");
        const auto diffs = ovlcore::testing::compare_dumps(a, b);
        if (!diffs.empty())
            RC_FAIL("memory and POSIX dumps differ:\n" +
                    ovlcore::testing::describe_differences(diffs, "memory", "posix ") +
                    doc.dump(1));
    });
}

TEST_CASE("8 random stacks: the dump is sorted by path bytes, one record per path",
          "[property][random][dump]") {
    // dump-format.md: "one object per path, sorted by the path's bytes"
    rc::prop("sorted, unique paths", [] {
        const json doc = (*ovlcore::testing::gen_random_stack()).doc;
        const auto sc = ovlcore::testing::to_scenario(doc);
        memory_fs mem;
        const std::string options = ovlcore::testing::build_in_memory(sc, mem);
        auto stack = make_layer_stack(mem, options);
        if (!stack) {
            RC_TAG("refused mount");
            return;
        }
        const overlay<memory_fs> ov(mem, std::move(*stack));
        const auto records = dump_records(ov, std::span<const std::string>(sc.paths));
        RC_ASSERT(!records.empty());
        RC_ASSERT(records.front().path == "/");
        for (std::size_t i = 1; i < records.size(); ++i) {
            RC_LOG() << records[i - 1].path << " then " << records[i].path << "\n";
            RC_ASSERT(records[i - 1].path < records[i].path); // std::string compares bytes
        }
    });
}

TEST_CASE("5.6 random stacks: every listed name looks up or fails with a catalogued errno",
          "[property][random][spec.5.6][spec.8]") {
    // §8: a listing may show names whose lookup fails (raw-mode whiteouts: ENOENT, §8.1; metacopy
    // without data: EIO; ...); every failure must be an errno of the §5.6 catalogue. Opening a
    // regular file may additionally fail with the §6 data-walk errnos (EXDEV for ".." above the
    // data layer root) and §7's ERANGE.
    rc::prop("listed names", [] {
        const json doc = (*ovlcore::testing::gen_random_stack()).doc;
        const auto sc = ovlcore::testing::to_scenario(doc);
        memory_fs mem;
        const std::string options = ovlcore::testing::build_in_memory(sc, mem);
        auto stack = make_layer_stack(mem, options);
        if (!stack) {
            RC_TAG("refused mount");
            return;
        }
        const overlay<memory_fs> ov(mem, std::move(*stack));
        int failures = 0;
        for_each_listed(ov, [&](const std::string& path, const result<stat_info>& st) {
            if (st) {
                if (st->type != file_type::regular) return;
                auto f = ov.open(path);
                if (f) return;
                std::set<std::errc> allowed = lookup_errnos;
                allowed.insert(std::errc::cross_device_link);
                allowed.insert(std::errc::result_out_of_range);
                RC_LOG() << "open " << path << ": " << errno_name(f.error()) << "\n";
                RC_ASSERT(allowed.count(f.error()) == 1u);
                return;
            }
            ++failures;
            RC_LOG() << "lstat " << path << ": " << errno_name(st.error()) << "\n";
            RC_ASSERT(lookup_errnos.count(st.error()) == 1u);
        });
        RC_TAG(failures ? "some listed name fails lookup" : "every listed name looks up");
    });
}

TEST_CASE("5.3 random stacks: one plain lower layer under an empty upper is shown unchanged",
          "[property][random][spec.5.3][spec.9]") {
    // §5.3/§5.5: with no overlay xattrs and no whiteouts nothing hides, redirects or merges
    // anything; the upper is empty, so every object is the lower's own (§9: attributes of the top
    // real entry; data from it). The root's attributes come from the upper root, which the
    // scenario loader makes 0755 0:0 like the lower root. Variant: lower-only with an empty
    // second lower (lowerdir=A:E), where the top layer's root supplies them directly.
    rc::prop("plain lower unchanged", [] {
        ovlcore::testing::layer_gen_options lo;
        lo.layer = "A";
        lo.overlay_xattrs = false;
        lo.whiteouts = false;
        const json entries = ovlcore::testing::gen_layer_entries(lo);
        const bool with_upper = *rc::gen::arbitrary<bool>();
        json doc = {
            {"options", with_upper ? "lowerdir={A},upperdir={U},workdir={W}" : "lowerdir={A}:{E}"},
            {"layers",
             json::array({json{{"name", "A"}, {"entries", entries}},
                          json{{"name", with_upper ? "U" : "E"}, {"entries", json::array()}}})}};
        if (with_upper) doc["workdirs"] = json::array({"W"});
        const auto sc = ovlcore::testing::to_scenario(doc);
        memory_fs mem;
        const std::string options = ovlcore::testing::build_in_memory(sc, mem);
        auto stack = make_layer_stack(mem, options);
        RC_ASSERT(stack.has_value());
        const overlay<memory_fs> ov(mem, std::move(*stack));
        auto lower = mem.resolve_dir("/ROOT/A");
        RC_ASSERT(lower.has_value());
        const layer_view<memory_fs> alone(mem, lower->ref);
        const auto merged = parsed(dump_records(ov));
        const auto reference = parsed(dump_records(alone));
        const auto diffs = ovlcore::testing::compare_dumps(reference, merged);
        RC_LOG() << ovlcore::testing::describe_differences(diffs, "layer A", "overlay")
                 << doc.dump(1);
        RC_ASSERT(diffs.empty());
    });
}

TEST_CASE("5.1 random stacks: a non-root opaque=y dir in the top layer hides every lower entry",
          "[property][random][spec.5.1][spec.8]") {
    // §5.1 step 7: `y` on a dir stops the lower lookup (and the redirect is not read), so the
    // overlay dir is pure: one real dir, listed in raw mode (§8.1; the generator may put an
    // `origin` xattr on a dir, which selects merged mode and drops whiteouts, so it is removed
    // from the chosen dir) = exactly the top layer's own entries, whiteouts included. Absolute redirects
    // of the dir's children can still pull lower dirs in below it, so only the dir's own listing
    // is checked. If the dir cannot be looked up (e.g. an ancestor with an invalid redirect) the
    // case is vacuous.
    rc::prop("opaque dir listing", [] {
        json doc = (*ovlcore::testing::gen_random_stack()).doc;
        if (doc["options"].get<std::string>().find("}/up") != std::string::npos) {
            RC_TAG("upper inside a lower layer (not checked)");
            return;
        }
        const std::string top = top_layer(doc);
        const std::string prefix = uses_userxattr(doc) ? "user.overlay." : "trusted.overlay.";
        json* top_entries = nullptr;
        for (auto& l : doc["layers"])
            if (l["name"] == top) top_entries = &l["entries"];
        RC_ASSERT(static_cast<bool>(top_entries));
        std::vector<std::size_t> dirs;
        for (std::size_t i = 0; i < top_entries->size(); ++i) {
            const auto& e = (*top_entries)[i];
            if (e.value("type", "") == "dir" && e["path"] != "/" && e["path"] != "")
                dirs.push_back(i);
        }
        std::string path;
        if (dirs.empty() || *rc::gen::inRange(0, 4) == 0) {
            path = "o"; // a fresh name outside the alphabet, present in the lower layers too
            top_entries->push_back({{"path", "o"}, {"type", "dir"}});
            top_entries->push_back({{"path", "o/top"}, {"type", "reg"}, {"content", "t\n"}});
            for (auto& l : doc["layers"])
                if (l["name"] != top)
                    l["entries"].push_back({{"path", "o/low-" + l["name"].get<std::string>()},
                                            {"type", "reg"},
                                            {"content", "l\n"}});
        } else {
            path = (*top_entries)[*rc::gen::elementOf(dirs)]["path"].get<std::string>();
        }
        for (auto& e : *top_entries)
            if (e["path"] == path) {
                e["xattrs"][prefix + "opaque"] = "y";
                e["xattrs"].erase(prefix + "origin");
            }

        const auto sc = ovlcore::testing::to_scenario(doc);
        memory_fs mem;
        const std::string options = ovlcore::testing::build_in_memory(sc, mem);
        auto stack = make_layer_stack(mem, options);
        if (!stack) {
            RC_TAG("refused mount");
            return;
        }
        const overlay<memory_fs> ov(mem, std::move(*stack));
        auto st = ov.lstat("/" + path);
        if (!st || st->type != file_type::directory) {
            RC_TAG("opaque dir not reachable");
            return;
        }
        auto listing = ov.read_dir("/" + path);
        RC_ASSERT(listing.has_value());
        auto layer = mem.resolve_dir("/ROOT/" + top);
        RC_ASSERT(layer.has_value());
        auto own = ovlcore::read_dir_path(mem, layer->ref, path);
        RC_ASSERT(own.has_value());
        std::set<std::string> merged_names, own_names;
        for (const auto& e : *listing) merged_names.insert(e.name);
        for (const auto& e : *own) own_names.insert(e.name);
        RC_LOG() << "dir /" << path << " of layer " << top << "\n" << doc.dump(1) << "\n";
        RC_TAG("checked");
        RC_ASSERT(merged_names == own_names);
    });
}

TEST_CASE("6 random stacks: a stat walk never calls into data-only layers",
          "[property][random][spec.6][counting]") {
    // §6: data-only layers are consulted only through the lazy slot, resolved by open (not by
    // stat, lstat, readdir, readlink). A walk that never opens must not touch them at all.
    rc::prop("no data-only layer call without open", [] {
        ovlcore::testing::stack_gen_options opt;
        opt.min_layers = 3;
        opt.force_data_only = true;
        const json doc = (*ovlcore::testing::gen_random_stack(opt)).doc;
        const auto sc = ovlcore::testing::to_scenario(doc);
        memory_fs mem;
        const std::string options = ovlcore::testing::build_in_memory(sc, mem);
        const ovlcore::test::counting_fs<memory_fs> fs(mem);
        auto stack = make_layer_stack(fs, options);
        if (!stack) {
            RC_TAG("refused mount");
            return;
        }
        std::vector<file_id> data_roots;
        for (const auto& l : stack->data_layers()) data_roots.push_back(l.id);
        RC_TAG(data_roots.empty() ? "no data-only layer" : "data-only layers");
        const overlay<ovlcore::test::counting_fs<memory_fs>> ov(fs, std::move(*stack));
        fs.reset(); // mount-time work may touch every layer root
        for_each_listed(ov, [&](const std::string& path, const result<stat_info>& st) {
            if (st && st->type == file_type::symlink) static_cast<void>(ov.read_link(path));
        });
        for (const auto& p : sc.paths) static_cast<void>(ov.lstat(p));
        for (const auto& id : data_roots) {
            RC_LOG() << fs.report();
            RC_ASSERT(fs.counts(id).total() == 0u);
        }
    });
}
