// SPDX-License-Identifier: MIT
// Property-testing your own overlay implementation against ovlcore (docs/testing.md): "toy_merge",
// a deliberately tiny merge of plain lower layers (no overlay xattrs: whiteouts hide, the topmost
// entry wins, directories merge until a non-directory or a whiteout, spec §3, §5), is checked on
// random 2-3 layer stacks with ovlcore::testing's generators and differential runner. A second
// toy that forgets whiteouts shows what a disagreement report looks like. Built and run under
// ctest ("example: property testing") with a fixed rapidcheck seed.
#include <cstdio>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <rapidcheck.h>

#include <ovlcore/ovlcore.hpp>
#include <ovlcore/testing/all.hpp>

namespace {

using namespace ovlcore;
using ovlcore::testing::json;

/// The implementation under test: layers (top first) of a memory_fs, merged the simple way.
class toy_merge {
public:
    toy_merge(const testing::scenario& sc, bool honour_whiteouts) : m_whiteouts(honour_whiteouts) {
        testing::build_in_memory(sc, m_fs); // layers at /ROOT/<name>
        for (const auto& l : sc.layers)
            m_layers.push_back(m_fs.resolve_dir("/ROOT/" + l.name)->ref);
    }

    /// The answers, per path, that the differential runner walks.
    [[nodiscard]] static testing::walk_callbacks
    callbacks(const std::shared_ptr<const toy_merge>& t) {
        return {
            .mount = [t]() -> std::optional<std::errc> {
                if (t->m_layers.size() < 2) return std::errc::invalid_argument; // §1.4
                return std::nullopt;
            },
            .lstat = [t](std::string_view p) -> result<stat_info> {
                OVLCORE_TRY_ASSIGN(found, t->lookup(p));
                return found.st;
            },
            .read_dir = [t](std::string_view p) { return t->read_dir(p); },
            .read_link = [t](std::string_view p) -> result<std::string> {
                OVLCORE_TRY_ASSIGN(found, t->lookup(p));
                return ovlcore::read_link_path(t->m_fs, t->m_layers[found.layers.front()],
                                               found.rel);
            },
            .content = [t](std::string_view p) { return t->content(p); },
            .xattrs = [t](std::string_view p) { return t->xattrs(p); },
        };
    }

private:
    /// An object of the merged tree: its stat, path in the layers, and the layers that hold it
    /// (several for a merged directory, topmost first).
    struct found_object {
        stat_info st;
        std::string rel;
        std::vector<std::size_t> layers;
    };

    [[nodiscard]] static bool is_whiteout(const stat_info& st) {
        return st.type == file_type::char_device && st.rdev_major == 0 && st.rdev_minor == 0;
    }

    [[nodiscard]] result<found_object> lookup(std::string_view path) const {
        found_object cur{
            .st = *ovlcore::lstat_path(m_fs, m_layers.front(), ""), .rel = "", .layers = {}};
        for (std::size_t i = 0; i < m_layers.size(); ++i) cur.layers.push_back(i);
        for (const auto name : ovlcore::detail::split_path(path)) {
            if (cur.st.type != file_type::directory) return fail(std::errc::not_a_directory);
            const std::string rel =
                cur.rel.empty() ? std::string(name) : cur.rel + "/" + std::string(name);
            found_object next{.st = {}, .rel = rel, .layers = {}};
            for (const std::size_t l : cur.layers) {
                auto st = ovlcore::lstat_path(m_fs, m_layers[l], rel);
                if (!st) continue;
                if (m_whiteouts && is_whiteout(*st)) break; // hides everything below
                if (next.layers.empty())
                    next.st = *st;
                else if (st->type != file_type::directory)
                    break; // a dir merges only with dirs
                next.layers.push_back(l);
                if (st->type != file_type::directory) break; // the topmost non-dir wins alone
            }
            if (next.layers.empty()) return fail(std::errc::no_such_file_or_directory);
            cur = std::move(next);
        }
        return cur;
    }

    [[nodiscard]] result<std::vector<dir_entry>> read_dir(std::string_view path) const {
        OVLCORE_TRY_ASSIGN(dir, lookup(path));
        if (dir.st.type != file_type::directory) return fail(std::errc::not_a_directory);
        std::set<std::string> names;
        for (const std::size_t l : dir.layers) {
            OVLCORE_TRY_ASSIGN(entries, ovlcore::read_dir_path(m_fs, m_layers[l], dir.rel));
            for (const auto& e : entries) names.insert(e.name);
        }
        std::vector<dir_entry> out;
        const std::string base = path == "/" ? std::string() : std::string(path);
        for (const auto& n : names)
            if (auto child = lookup(std::string(base).append("/").append(n)))
                out.push_back(dir_entry{.name = n, .type = child->st.type, .ino = child->st.ino});
        return out;
    }

    [[nodiscard]] result<std::string> content(std::string_view path) const {
        OVLCORE_TRY_ASSIGN(found, lookup(path));
        OVLCORE_TRY_ASSIGN(
            file, ovlcore::open_file_path(m_fs, m_layers[found.layers.front()], found.rel));
        std::string out;
        char buf[4096];
        for (;;) {
            OVLCORE_TRY_ASSIGN(n, m_fs.read(file, out.size(), buf));
            if (n == 0) return out;
            out.append(buf, n);
        }
    }

    [[nodiscard]] result<std::vector<std::pair<std::string, std::string>>>
    xattrs(std::string_view path) const {
        OVLCORE_TRY_ASSIGN(found, lookup(path));
        const auto& layer = m_layers[found.layers.front()];
        OVLCORE_TRY_ASSIGN(names, ovlcore::list_xattr_path(m_fs, layer, found.rel));
        std::vector<std::pair<std::string, std::string>> out;
        for (const auto& n : names) {
            OVLCORE_TRY_ASSIGN(value, ovlcore::get_xattr_path(m_fs, layer, found.rel, n));
            if (value) out.emplace_back(n, *value);
        }
        return out;
    }

    bool m_whiteouts;
    memory_fs m_fs;
    std::vector<memory_fs::layer_ref> m_layers;
};

/// A stack of 2-3 plain lower layers (no overlay xattrs) with every path of every layer probed
/// (a lower-only mount needs two lowers, §1.4).
/// (random_stack: a json that rapidcheck can show as a counterexample)
rc::Gen<testing::random_stack> gen_plain_stack() {
    return rc::gen::exec([] {
        json doc = {{"layers", json::array()}, {"options", "lowerdir="}};
        const int n = testing::uniform(2, 4);
        for (int i = 0; i < n; ++i) {
            const std::string name(1, static_cast<char>('A' + i));
            const testing::layer_gen_options o{.layer = name, .overlay_xattrs = false};
            doc["layers"].push_back({{"name", name}, {"entries", testing::gen_layer_entries(o)}});
            doc["options"] = doc["options"].get<std::string>() + (i ? ":{" : "{") + name + "}";
        }
        doc["paths"] = testing::probe_paths(doc);
        return testing::random_stack{.doc = doc};
    });
}

testing::walk_callbacks make_toy(const testing::scenario& sc) {
    return toy_merge::callbacks(std::make_shared<const toy_merge>(sc, true));
}
testing::walk_callbacks make_buggy_toy(const testing::scenario& sc) {
    return toy_merge::callbacks(std::make_shared<const toy_merge>(sc, false));
}

} // namespace

int main() {
    // 1. The property: on every generated stack, the toy shows what ovlcore shows.
    const bool agrees = rc::check("toy_merge dumps like ovlcore", [] {
        const json doc = (*gen_plain_stack()).doc;
        const testing::differential_options compare{.compare_xattrs = true};
        if (auto why = testing::find_disagreement(doc, make_toy, compare)) RC_FAIL(*why);
    });

    // 2. A toy that forgets whiteouts (§3) is caught; the report is of a shrunk scenario.
    std::optional<std::string> caught;
    for (int i = 0; i < 200 && !caught; ++i) {
        const auto seed = 20261125U + static_cast<unsigned>(i);
        const json doc = gen_plain_stack()(rc::Random(seed), 50).value().doc;
        caught = testing::find_disagreement(doc, make_buggy_toy, {}, 300);
    }
    if (caught)
        std::printf("a toy without whiteouts disagrees, as it should:\n%s\n", caught->c_str());
    else
        std::printf("the toy without whiteouts was not caught\n");
    return agrees && caught ? 0 : 1;
}
