// SPDX-License-Identifier: MIT
// Tests for the streaming walk of ovlcore/dump.hpp (dump-format.md "Records"): objects are visited
// depth first with children in byte order of their names (the kernel oracle's order, which
// order-dependent answers follow, spec §10 Q2), records come out in byte order of their paths as
// the walk goes, a node_tree_view is walked by object (a child looked up in its parent's object,
// never by its full path), and depth costs no recursion.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ovlcore/dump.hpp"

#include "support/string_makers.hpp"

namespace {

using ovlcore::dir_entry;
using ovlcore::dump_record;
using ovlcore::file_type;
using ovlcore::result;
using ovlcore::stat_info;

/// An in-memory tree with both the path members of tree_view and the object members of
/// node_tree_view (a handle is a node index). Every call is logged as "<op> <path>"; calls through
/// the path members are logged as "path-<op> <path>".
class tree_fake {
public:
    struct file {
        std::size_t node;
    };

    tree_fake() {
        m_nodes.push_back({.name = "", .parent = 0, .type = file_type::directory, .children = {}});
    }

    /// Adds `name` of `type` in the directory `dir` (a node index); its index.
    std::size_t add(std::size_t dir, std::string name, file_type type) {
        m_nodes.push_back({.name = std::move(name), .parent = dir, .type = type, .children = {}});
        const std::size_t n = m_nodes.size() - 1;
        m_nodes[dir].children.push_back(n);
        return n;
    }

    // --- node_tree_view -------------------------------------------------------------------------
    result<std::size_t> root() {
        note("root", 0);
        return std::size_t{0};
    }
    result<std::size_t> lookup(const std::size_t& dir, std::string_view name) {
        if (m_nodes[dir].type != file_type::directory)
            return ovlcore::fail(std::errc::not_a_directory);
        for (const std::size_t c : m_nodes[dir].children)
            if (m_nodes[c].name == name) {
                note("lookup", c);
                return c;
            }
        return ovlcore::fail(std::errc::no_such_file_or_directory);
    }
    result<stat_info> stat(const std::size_t& n) {
        note("stat", n);
        stat_info st;
        st.type = m_nodes[n].type;
        st.mode = 0755;
        return st;
    }
    result<std::vector<dir_entry>> read_dir(const std::size_t& n) {
        note("read_dir", n);
        std::vector<dir_entry> out;
        for (const std::size_t c : m_nodes[n].children)
            out.push_back(dir_entry{.name = m_nodes[c].name, .type = m_nodes[c].type, .ino = 0});
        return out;
    }
    result<std::string> read_link(const std::size_t& n) {
        note("read_link", n);
        return std::string("target");
    }
    result<file> open(const std::size_t& n) {
        note("open", n);
        return file{n};
    }

    // --- tree_view (paths) ----------------------------------------------------------------------
    result<stat_info> lstat(std::string_view path) {
        OVLCORE_TRY_ASSIGN(n, find(path, "path-stat"));
        return stat(n);
    }
    result<std::vector<dir_entry>> read_dir(std::string_view path) {
        OVLCORE_TRY_ASSIGN(n, find(path, "path-read_dir"));
        return read_dir(n);
    }
    result<std::string> read_link(std::string_view path) {
        OVLCORE_TRY_ASSIGN(n, find(path, "path-read_link"));
        return read_link(n);
    }
    result<file> open(std::string_view path) {
        OVLCORE_TRY_ASSIGN(n, find(path, "path-open"));
        return open(n);
    }
    result<std::size_t> read(const file&, std::uint64_t, std::span<char>) { return std::size_t{0}; }

    bool logging = true;
    std::vector<std::string> log;
    std::size_t calls = 0; ///< every call, logged or not

private:
    struct node {
        std::string name;
        std::size_t parent;
        file_type type;
        std::vector<std::size_t> children;
    };

    std::string path_of(std::size_t n) const {
        if (n == 0) return "/";
        std::string out;
        for (; n != 0; n = m_nodes[n].parent) out.insert(0, "/" + m_nodes[n].name);
        return out;
    }
    void note(std::string_view op, std::size_t n) {
        ++calls;
        if (logging) log.push_back(std::string(op) + " " + path_of(n));
    }
    result<std::size_t> find(std::string_view path, std::string_view op) {
        log.push_back(std::string(op) + " " + std::string(path));
        std::size_t n = 0;
        std::size_t pos = 0;
        while (pos < path.size()) {
            while (pos < path.size() && path[pos] == '/') ++pos;
            const std::size_t end = std::min(path.find('/', pos), path.size());
            if (end == pos) break;
            bool found = false;
            for (const std::size_t c : m_nodes[n].children)
                if (m_nodes[c].name == path.substr(pos, end - pos)) {
                    n = c;
                    found = true;
                    break;
                }
            if (!found) return ovlcore::fail(std::errc::no_such_file_or_directory);
            pos = end;
        }
        return n;
    }

    std::vector<node> m_nodes;
};

static_assert(ovlcore::node_tree_view<tree_fake>);

/// tree_fake with references (as overlay<B> has them for objects it may release): every object
/// the walk uses must be referenced, and every reference taken is dropped when the walk ends.
class pinning_fake : public tree_fake {
public:
    using tree_fake::open;
    using tree_fake::read_dir;
    using tree_fake::read_link;

    result<std::size_t> lookup_retained(const std::size_t& dir, std::string_view name, bool&) {
        alive(dir);
        OVLCORE_TRY_ASSIGN(n, tree_fake::lookup(dir, name));
        retain(n);
        return n;
    }
    void retain(const std::size_t& n, std::uint64_t count = 1) {
        refs[n] += count;
        held += count;
        most_held = std::max(most_held, held);
    }
    void forget(const std::size_t& n, std::uint64_t count) {
        if (refs[n] < count) ++bad_forgets;
        refs[n] -= count;
        held -= count;
    }
    result<stat_info> stat(const std::size_t& n) {
        alive(n);
        return tree_fake::stat(n);
    }
    result<std::vector<dir_entry>> read_dir(const std::size_t& n) {
        alive(n);
        return tree_fake::read_dir(n);
    }
    result<std::string> read_link(const std::size_t& n) {
        alive(n);
        return tree_fake::read_link(n);
    }
    result<file> open(const std::size_t& n) {
        alive(n);
        return tree_fake::open(n);
    }

    std::map<std::size_t, std::uint64_t> refs;
    std::uint64_t held = 0, most_held = 0, bad_forgets = 0, unreferenced_uses = 0;

private:
    void alive(std::size_t n) {
        if (refs[n] == 0) ++unreferenced_uses;
    }
};

static_assert(ovlcore::node_tree_view<pinning_fake>);

/// The same tree seen through its path members only (a plain tree_view).
class path_only {
public:
    using file = tree_fake::file;
    explicit path_only(tree_fake& t) : m_tree(&t) {}
    result<stat_info> lstat(std::string_view p) { return m_tree->lstat(p); }
    result<std::vector<dir_entry>> read_dir(std::string_view p) { return m_tree->read_dir(p); }
    result<std::string> read_link(std::string_view p) { return m_tree->read_link(p); }
    result<file> open(std::string_view p) { return m_tree->open(p); }
    result<std::size_t> read(const file& f, std::uint64_t o, std::span<char> b) {
        return m_tree->read(f, o, b);
    }

private:
    tree_fake* m_tree;
};

static_assert(ovlcore::tree_view<path_only>);
static_assert(!ovlcore::node_tree_view<path_only>);

/// Names whose byte order differs from the order of their full paths: "/a.c" sorts before
/// "/a/x" although the walk visits /a's subtree first.
tree_fake prefix_tree() {
    tree_fake t;
    const auto a = t.add(0, "a", file_type::directory);
    t.add(a, "x", file_type::regular);
    const auto q = t.add(a, "q", file_type::directory);
    t.add(q, "f", file_type::regular);
    t.add(a, "q.txt", file_type::regular);
    t.add(0, "b", file_type::regular);
    t.add(0, "a.c", file_type::symlink);
    const auto ab = t.add(0, "a-b", file_type::directory);
    t.add(ab, "y", file_type::regular);
    t.add(0, "a-b.c", file_type::regular);
    t.add(0, "a b", file_type::directory);
    t.add(0, "a0", file_type::regular);
    return t;
}

std::vector<std::string> paths_of(const std::vector<dump_record>& records) {
    std::vector<std::string> out;
    for (const auto& r : records) out.push_back(r.path);
    return out;
}

std::vector<std::string> with_prefix(const std::vector<std::string>& log, std::string_view op) {
    std::vector<std::string> out;
    for (const auto& l : log)
        if (l.starts_with(op)) out.push_back(l.substr(op.size()));
    return out;
}

} // namespace

TEST_CASE("dump: records in byte order of paths, objects visited depth first by name",
          "[dump][walk]") {
    auto tree = prefix_tree();
    const auto records = ovlcore::dump_records(tree);
    CHECK(paths_of(records) == std::vector<std::string>{"/", "/a", "/a b", "/a-b", "/a-b.c",
                                                        "/a-b/y", "/a.c", "/a/q", "/a/q.txt",
                                                        "/a/q/f", "/a/x", "/a0", "/b"});
    // The walk itself (§10 Q2 answers depend on it): depth first, children by name.
    CHECK(with_prefix(tree.log, "lookup ") ==
          std::vector<std::string>{"/a", "/a/q", "/a/q/f", "/a/q.txt", "/a/x", "/a b", "/a-b",
                                   "/a-b/y", "/a-b.c", "/a.c", "/a0", "/b"});
    // By object: nothing is reached by its full path.
    CHECK(with_prefix(tree.log, "path-").empty());
    // Each object: looked up, stat, then its own calls (listing a dir right after its stat).
    const std::vector<std::string> expected_start{
        "root /",      "stat /",    "read_dir /",    "lookup /a",     "stat /a",     "read_dir /a",
        "lookup /a/q", "stat /a/q", "read_dir /a/q", "lookup /a/q/f", "stat /a/q/f", "open /a/q/f"};
    REQUIRE(tree.log.size() > expected_start.size());
    CHECK(std::vector<std::string>(
              tree.log.begin(), tree.log.begin() + static_cast<std::ptrdiff_t>(
                                                       expected_start.size())) == expected_start);
}

TEST_CASE("dump: a plain tree_view is walked by path in the same order, same records",
          "[dump][walk]") {
    auto tree = prefix_tree();
    const auto by_object = ovlcore::to_jsonl(ovlcore::dump_records(tree));
    tree.log.clear();
    path_only view(tree);
    CHECK(ovlcore::to_jsonl(ovlcore::dump_records(view)) == by_object);
    CHECK(with_prefix(tree.log, "path-stat ") ==
          std::vector<std::string>{"/", "/a", "/a/q", "/a/q/f", "/a/q.txt", "/a/x", "/a b", "/a-b",
                                   "/a-b/y", "/a-b.c", "/a.c", "/a0", "/b"});
}

TEST_CASE("dump: probes are described after the walk and sorted among its records",
          "[dump][walk]") {
    auto tree = prefix_tree();
    const std::vector<std::string> probes{"/zz", "/a/q/f", "/a-", "/zz"};
    const auto records = ovlcore::dump_records(tree, std::span<const std::string>(probes));
    CHECK(paths_of(records) == std::vector<std::string>{"/", "/a", "/a b", "/a-", "/a-b", "/a-b.c",
                                                        "/a-b/y", "/a.c", "/a/q", "/a/q.txt",
                                                        "/a/q/f", "/a/x", "/a0", "/b", "/zz"});
    const auto path_calls = with_prefix(tree.log, "path-stat ");
    CHECK(path_calls == std::vector<std::string>{"/zz", "/a-"}); // after the walk, once each
    CHECK(tree.log.back() == "path-stat /a-");
}

TEST_CASE("dump: records stream out while the walk goes on", "[dump][walk]") {
    auto tree = prefix_tree();
    std::vector<std::pair<std::string, std::size_t>> seen; // path, calls made when it arrived
    ovlcore::for_each_dump_record(
        tree, {}, {}, [&](dump_record&& rec) { seen.emplace_back(rec.path, tree.calls); });
    REQUIRE(seen.size() == 13);
    const std::size_t total = tree.calls;
    CHECK(seen.front().second < total / 4); // "/" long before the end
    // "/a/..." waits for "/a b" .. "/a.c", which the walk visits after /a's subtree.
    const auto at = [&](std::string_view p) {
        return std::find_if(seen.begin(), seen.end(), [&](const auto& s) { return s.first == p; })
            ->second;
    };
    CHECK(at("/a") < at("/a b"));
    CHECK(at("/a.c") < at("/a/q")); // held until the walk is past /a.c
    CHECK(at("/a/q") < at("/a0"));
}

TEST_CASE("dump: a tree 20,000 levels deep, by object, without recursion", "[dump][walk]") {
    tree_fake tree;
    tree.logging = false;
    constexpr std::size_t depth = 20000;
    std::size_t dir = 0;
    for (std::size_t i = 0; i < depth; ++i) dir = tree.add(dir, "d", file_type::directory);
    tree.add(dir, "f", file_type::regular);
    tree.add(dir, "l", file_type::symlink);
    std::size_t count = 0;
    std::size_t longest = 0;
    bool ordered = true;
    std::string previous;
    ovlcore::for_each_dump_record(tree, {}, {}, [&](dump_record&& rec) {
        ++count;
        longest = std::max(longest, rec.path.size());
        ordered = ordered && previous < rec.path;
        previous = std::move(rec.path);
    });
    CHECK(count == depth + 3);
    CHECK(longest == 2 * depth + 2); // "/d" x depth + "/l"
    CHECK(ordered);
    CHECK(previous.ends_with("/d/l"));
    // One call per object and one listing per dir: no path walk from the root.
    CHECK(tree.calls == 1 /* root */ + (depth + 3) /* stat */ + (depth + 2) /* lookup */ +
                            (depth + 1) /* read_dir */ + 1 /* open */ + 1 /* read_link */);
}

TEST_CASE("dump: objects a view may release are held while the walk uses them", "[dump][walk]") {
    pinning_fake tree;
    tree.logging = false;
    std::size_t dir = 0;
    for (int i = 0; i < 50; ++i) {
        tree.add(dir, "f" + std::to_string(i), file_type::regular);
        dir = tree.add(dir, "d", file_type::directory);
        tree.add(dir, "a.txt", file_type::symlink);
    }
    {
        ovlcore::depth_first_walk<pinning_fake> walk(tree);
        REQUIRE(walk.next());
        CHECK(tree.held == 1); // the root
        walk.descend();
        REQUIRE(walk.next()); // "/d", held with the root's frame
        CHECK(tree.held == 2);
    } // an abandoned walk lets go of everything
    CHECK(tree.held == 0);
    const auto records = ovlcore::dump_records(tree);
    CHECK(records.size() == 1 + 50 * 3);
    CHECK(tree.unreferenced_uses == 0);
    CHECK(tree.bad_forgets == 0);
    CHECK(tree.held == 0);
    CHECK(tree.most_held <= 50 + 2); // the dirs above the current object, and it
}
