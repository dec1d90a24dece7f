// SPDX-License-Identifier: MIT
// Tests of tests/support/scenario.hpp and tools/ovl-mkstack/main.cpp: the scenario format
// (tests/data/kernel/README.md) is read faithfully and builds the same layers in a memory_fs and
// on disk, so both backends see the same trees (docs/contributing.md §20, §21, §23 (a)).
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

#include <ovlcore/backend/memory.hpp>
#include <ovlcore/backend/posix.hpp>

#include "support/scenario.hpp"
#include "support/string_makers.hpp"
#include "support/temp_dir.hpp"

using ovlcore::file_type;
using ovlcore::memory_fs;
using ovlcore::posix_fs;
namespace test = ovlcore::test;

namespace {

using ovlcore::test::err;

std::filesystem::path kernel_data() {
    return std::filesystem::path(OVLCORE_TEST_DATA_DIR) / "kernel";
}

// Every field and every type of the format.
const char* const full_scenario = R"json({
  "why": "loader coverage",
  "options": "lowerdir={A}:{B},upperdir={U},workdir={W},x={unknown}",
  "workdirs": ["W"],
  "paths": ["/p1", "/p2"],
  "focus": ["/f"],
  "layers": [
    {"name": "A", "entries": [
      {"path": "/", "type": "dir", "mode": "0750", "uid": 5, "gid": 6,
       "xattrs": {"trusted.overlay.opaque": "x"}},
      {"path": "f", "type": "reg", "content": "hello", "size": 3, "mode": "0600",
       "uid": 1000, "gid": 100, "xattrs": {"trusted.overlay.metacopy": "hex:00240001",
       "user.text": "hex-is-not-a-prefix-here", "trusted.overlay.redirect": "/x"}},
      {"path": "sparse", "type": "reg", "content": "ab", "size": 9000},
      {"path": "d/e/deep", "type": "reg", "content": ""},
      {"path": "d", "type": "dir", "mode": "1777"},
      {"path": "l", "type": "lnk", "target": "d/e", "uid": 7},
      {"path": "c", "type": "chr", "rdev": "1:3"},
      {"path": "b", "type": "blk", "rdev": "7:12", "mode": "0660"},
      {"path": "p", "type": "fifo"},
      {"path": "s", "type": "sock"},
      {"path": "w", "type": "whiteout"},
      {"path": "w2", "type": "whiteout", "mode": "0644", "uid": 3}
    ]},
    {"name": "B", "entries": [{"path": "f", "type": "reg", "content": "B"}]},
    {"name": "U", "entries": []}
  ]})json";

/// A comparable description of every object below a layer, through the backend API only.
template <class B>
std::vector<std::string> describe(const B& fs, const typename B::layer_ref& layer) {
    using object = ovlcore::real_object<typename B::handle>;
    std::map<std::string, std::string> out;
    std::function<void(const std::string&, const object&)> walk = [&](const std::string& path,
                                                                      const object& obj) {
        const auto* st = &obj.st;
        const auto& h = obj.handle;
        CHECK(fs.path_of(h) == path);
        std::ostringstream d;
        d << ovlcore::dump_name(st->type) << " mode=" << std::oct << st->mode << std::dec
          << " owner=" << st->uid << ':' << st->gid;
        d << " nlink=" << st->nlink;
        if (st->type != file_type::directory) d << " size=" << st->size;
        if (st->type == file_type::char_device || st->type == file_type::block_device)
            d << " rdev=" << st->rdev_major << ':' << st->rdev_minor;
        auto names = fs.list_xattr(h);
        REQUIRE(err(names) == "ok");
        if (st->type == file_type::regular) {
            // ext4 adds a block for xattrs that do not fit in the inode; memory_fs counts
            // content blocks only, so blocks are compared for files without xattrs.
            if (names->empty()) d << " blocks=" << st->blocks;
            auto f = fs.open_file(h);
            REQUIRE(err(f) == "ok");
            std::string content(static_cast<std::size_t>(st->size) + 1, '?');
            auto n = fs.read(*f, 0, std::span<char>(content.data(), content.size()));
            REQUIRE(err(n) == "ok");
            content.resize(*n);
            d << " content#=" << std::hash<std::string>{}(content) << " len=" << content.size();
        }
        if (st->type == file_type::symlink) d << " target=" << *fs.read_link(h);
        std::sort(names->begin(), names->end());
        for (const auto& n : *names) {
            if (n.rfind("user.", 0) != 0 && n.rfind("trusted.", 0) != 0) continue;
            auto v = fs.get_xattr(h, n);
            REQUIRE(err(v) == "ok");
            REQUIRE(v->has_value());
            d << " xattr " << n << '=' << std::hash<std::string>{}(**v) << '/' << (*v)->size();
        }
        out[path.empty() ? "/" : path] = d.str();
        if (st->type == file_type::directory) {
            auto list = fs.read_dir(h);
            REQUIRE(err(list) == "ok");
            for (const auto& e : *list) {
                auto child = fs.lookup(h, e.name);
                REQUIRE(err(child) == "ok");
                walk(path.empty() ? e.name : path + "/" + e.name, *child);
            }
        }
    };
    auto root = fs.root(layer);
    REQUIRE(err(root) == "ok");
    walk("", *root);
    std::vector<std::string> lines; // "path: description", sorted by path
    for (const auto& [path, d] : out) lines.push_back(path + ": " + d);
    return lines;
}

int run_status(const std::string& cmd, std::string* out = nullptr) {
    FILE* p = ::popen(cmd.c_str(), "r");
    REQUIRE(p != nullptr);
    std::string text;
    char buf[256];
    while (std::fgets(buf, sizeof buf, p)) text += buf;
    const int status = ::pclose(p);
    if (out) *out = text;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

} // namespace

TEST_CASE("0 scenario loader: every field of the format is read", "[scenario][spec.0]") {
    const auto s = test::parse_scenario(nlohmann::ordered_json::parse(full_scenario), "full");
    CHECK(s.name == "full");
    CHECK(s.why == "loader coverage");
    CHECK(s.workdirs == std::vector<std::string>{"W"});
    CHECK(s.paths == std::vector<std::string>{"/p1", "/p2"});
    CHECK(s.focus == std::vector<std::string>{"/f"});
    REQUIRE(s.layers.size() == 3u);
    CHECK(s.layers[0].name == "A");
    CHECK(s.layers[2].entries.empty());
    const auto& e = s.layers[0].entries;
    REQUIRE(e.size() == 12u);
    CHECK(e[0].path == ""); // "/" = the layer root
    CHECK(e[0].mode == 0750u);
    CHECK(e[1].path == "f");
    CHECK(e[1].content == "hello");
    CHECK(e[1].size == 3u);
    CHECK(e[1].mode == 0600u);
    CHECK(e[1].uid == 1000u);
    CHECK(e[1].gid == 100u);
    REQUIRE(e[1].xattrs.size() == 3u);
    CHECK(e[1].xattrs[0].first == "trusted.overlay.metacopy"); // JSON order is kept
    CHECK(e[1].xattrs[0].second == std::string("\x00\x24\x00\x01", 4));
    CHECK(e[1].xattrs[1].second == "hex-is-not-a-prefix-here");
    CHECK(e[4].mode == 01777u);
    CHECK(e[5].target == "d/e");
    CHECK(e[6].rdev_major == 1u);
    CHECK(e[6].rdev_minor == 3u);
    CHECK(e[7].rdev_minor == 12u);
    CHECK(e[10].type == "whiteout");
    CHECK(!e[10].mode.has_value());
}

TEST_CASE("0 scenario loader: malformed documents are rejected", "[scenario][spec.0]") {
    auto parse = [](const char* text) {
        return test::parse_scenario(nlohmann::ordered_json::parse(text), "bad");
    };
    CHECK_THROWS_WITH(parse(R"({"options": "lowerdir={A}", "layers": [{"name": "A",
        "entries": [{"path": "x", "type": "socket"}]}]})"),
                      Catch::Contains("unknown type"));
    CHECK_THROWS_WITH(parse(R"({"options": "o", "layers": [{"name": "A",
        "entries": [{"path": "x", "type": "reg", "mode": "0x44"}]}]})"),
                      Catch::Contains("bad mode"));
    CHECK_THROWS_WITH(parse(R"({"options": "o", "layers": [{"name": "A",
        "entries": [{"path": "x", "type": "reg", "xattrs": {"user.a": "hex:0g"}}]}]})"),
                      Catch::Contains("hex"));
    CHECK_THROWS_WITH(parse(R"({"layers": []})"), Catch::Contains("options"));
    CHECK_THROWS_WITH(parse(R"({"options": "o", "layers": [{"name": "A",
        "entries": [{"path": "a/../b", "type": "reg"}]}]})"),
                      Catch::Contains(".."));
    CHECK_THROWS_WITH(parse(R"({"options": "o", "layers": [{"name": "A",
        "entries": [{"path": "c", "type": "chr", "rdev": "13"}]}]})"),
                      Catch::Contains("rdev"));
    CHECK_THROWS_WITH(parse(R"({"options": "o", "layers": [{"name": "a/b"}]})"),
                      Catch::Contains("layer name"));
    CHECK_THROWS(test::load_scenario("/nonexistent/scenario.json"));
}

TEST_CASE("1.2 scenario loader: {NAME} and {ROOT} substitution", "[scenario][spec.1.2]") {
    const auto s = test::parse_scenario(nlohmann::ordered_json::parse(full_scenario));
    CHECK(test::substitute_options(s, "/r") ==
          "lowerdir=/r/A:/r/B,upperdir=/r/U,workdir=/r/W,x={unknown}");
    const auto esc =
        test::load_scenario(kernel_data() / "scenarios/opt_escaped_colon_and_comma.json");
    CHECK(test::substitute_options(esc, "/t") == "lowerdir=/t/a\\:x:/t/b\\,y");
    memory_fs fs;
    CHECK(test::build_in_memory(esc, fs) == "lowerdir=/ROOT/a\\:x:/ROOT/b\\,y");
    // The layer directories exist under their literal names.
    auto ax = fs.resolve_dir("/ROOT/a:x");
    REQUIRE(err(ax) == "ok");
    CHECK(err(ovlcore::lstat_path(fs, ax->ref, "f")) == "ok");
    CHECK(err(fs.resolve_dir("b,y")) == "ok"); // cwd is /ROOT
}

TEST_CASE("0 scenario loader: build_in_memory follows the entries", "[scenario][spec.0][spec.3]") {
    const auto s = test::parse_scenario(nlohmann::ordered_json::parse(full_scenario));
    memory_fs fs;
    const std::string options = test::build_in_memory(s, fs);
    CHECK(options == "lowerdir=/ROOT/A:/ROOT/B,upperdir=/ROOT/U,workdir=/ROOT/W,x={unknown}");
    auto A = fs.resolve_dir("A");
    REQUIRE(err(A) == "ok");
    CHECK(A->st.mode == 0750u); // the "/" entry
    CHECK(A->st.uid == 5u);
    CHECK(A->st.gid == 6u);
    auto opaque = ovlcore::get_xattr_path(fs, A->ref, "", "trusted.overlay.opaque");
    REQUIRE(err(opaque) == "ok");
    CHECK(opaque->value_or("") == "x");

    auto f = ovlcore::lstat_path(fs, A->ref, "f");
    REQUIRE(err(f) == "ok");
    CHECK(f->size == 3u); // content "hello", then size 3
    CHECK(f->mode == 0600u);
    CHECK(f->uid == 1000u);
    auto file = ovlcore::open_file_path(fs, A->ref, "f");
    REQUIRE(err(file) == "ok");
    char buf[16];
    auto n = fs.read(*file, 0, std::span<char>(buf, sizeof buf));
    REQUIRE(err(n) == "ok");
    CHECK(std::string(buf, *n) == "hel");
    auto mc = ovlcore::get_xattr_path(fs, A->ref, "f", "trusted.overlay.metacopy");
    REQUIRE(err(mc) == "ok");
    CHECK(mc->value_or("") == std::string("\x00\x24\x00\x01", 4));

    auto sparse = ovlcore::lstat_path(fs, A->ref, "sparse");
    REQUIRE(err(sparse) == "ok");
    CHECK(sparse->size == 9000u);

    auto d = ovlcore::lstat_path(fs, A->ref, "d"); // made as a parent first, then given mode 1777
    REQUIRE(err(d) == "ok");
    CHECK(d->mode == 01777u);
    auto e = ovlcore::lstat_path(fs, A->ref, "d/e");
    REQUIRE(err(e) == "ok");
    CHECK(e->mode == 0755u);
    auto l = ovlcore::lstat_path(fs, A->ref, "l");
    REQUIRE(err(l) == "ok");
    CHECK(l->type == file_type::symlink);
    CHECK(l->uid == 7u);
    CHECK(l->mode == 0777u);
    auto c = ovlcore::lstat_path(fs, A->ref, "c");
    REQUIRE(err(c) == "ok");
    CHECK(c->type == file_type::char_device);
    CHECK(c->rdev_major == 1u);
    CHECK(c->rdev_minor == 3u);
    auto b = ovlcore::lstat_path(fs, A->ref, "b");
    REQUIRE(err(b) == "ok");
    CHECK(b->type == file_type::block_device);
    CHECK(b->mode == 0660u);
    CHECK(ovlcore::lstat_path(fs, A->ref, "p")->type == file_type::fifo);
    CHECK(ovlcore::lstat_path(fs, A->ref, "s")->type == file_type::socket);
    auto w = ovlcore::lstat_path(fs, A->ref, "w"); // spec §3: char 0:0 mode 0000
    REQUIRE(err(w) == "ok");
    CHECK(w->type == file_type::char_device);
    CHECK(w->rdev_major == 0u);
    CHECK(w->rdev_minor == 0u);
    CHECK(w->mode == 0u);
    auto w2 = ovlcore::lstat_path(fs, A->ref, "w2");
    REQUIRE(err(w2) == "ok");
    CHECK(w2->mode == 0644u);
    CHECK(w2->uid == 3u);

    auto W = fs.resolve_dir("/ROOT/W");
    REQUIRE(err(W) == "ok");
    CHECK(W->st.mode == 0755u);
    CHECK(ovlcore::read_dir_path(fs, W->ref, "")->empty());
    auto U = fs.resolve_dir("U");
    REQUIRE(err(U) == "ok");
    CHECK(ovlcore::read_dir_path(fs, U->ref, "")->empty());
}

TEST_CASE("0 scenario loader: the same layers in memory and on disk", "[scenario][spec.0]") {
    if (::geteuid() != 0) {
        WARN("SKIPPED: needs root (whiteouts, devices, ownership, trusted.* xattrs)");
        return;
    }
    std::vector<test::scenario> all;
    for (const auto& p : test::list_scenarios(kernel_data() / "scenarios"))
        all.push_back(test::load_scenario(p));
    all.push_back(test::parse_scenario(nlohmann::ordered_json::parse(full_scenario), "full"));
    REQUIRE(all.size() > 10u);
    for (const auto& s : all) {
        INFO("scenario " << s.name);
        memory_fs mem;
        const std::string mem_options = test::build_in_memory(s, mem);
        test::temp_dir tmp;
        const std::string disk_options = test::build_on_disk(s, tmp.path());
        CHECK(disk_options == test::substitute_options(s, tmp.str()));
        CHECK(mem_options == test::substitute_options(s, "/ROOT"));
        auto disk = posix_fs::with_working_dir(tmp.str());
        REQUIRE(err(disk) == "ok");
        std::vector<std::string> dirs;
        for (const auto& l : s.layers) dirs.push_back(l.name);
        for (const auto& w : s.workdirs) dirs.push_back(w);
        for (const auto& name : dirs) {
            INFO("layer " << name);
            auto m = mem.resolve_dir(name);
            auto d = disk->resolve_dir(name);
            REQUIRE(err(m) == "ok");
            REQUIRE(err(d) == "ok");
            CHECK(describe(mem, m->ref) == describe(*disk, d->ref));
        }
    }
}

TEST_CASE("0 scenario loader: build_on_disk without root keeps unprivileged scenarios",
          "[scenario][spec.0]") {
    // Works for anyone: regular files, dirs, symlinks, user.* xattrs, sizes.
    const char* text = R"({"options": "lowerdir={A}:{B}", "layers": [
        {"name": "A", "entries": [{"path": "d/f", "type": "reg", "content": "abc", "size": 2,
                                   "mode": "0640", "xattrs": {"user.k": "hex:6869"}},
                                  {"path": "l", "type": "lnk", "target": "d"}]},
        {"name": "B", "entries": [{"path": "x", "type": "fifo", "mode": "0600"}]}]})";
    const auto s = test::parse_scenario(nlohmann::ordered_json::parse(text));
    test::temp_dir tmp;
    CHECK(test::build_on_disk(s, tmp.path()) == "lowerdir=" + tmp.str() + "/A:" + tmp.str() + "/B");
    const posix_fs fs;
    auto A = fs.resolve_dir(tmp.str() + "/A");
    REQUIRE(err(A) == "ok");
    CHECK(A->st.mode == 0755u);
    auto f = ovlcore::lstat_path(fs, A->ref, "d/f");
    REQUIRE(err(f) == "ok");
    CHECK(f->size == 2u);
    CHECK(f->mode == 0640u);
    CHECK(ovlcore::get_xattr_path(fs, A->ref, "d/f", "user.k")->value_or("") == "hi");
    CHECK(*ovlcore::read_link_path(fs, A->ref, "l") == "d");
    auto B = fs.resolve_dir(tmp.str() + "/B");
    REQUIRE(err(B) == "ok");
    auto x = ovlcore::lstat_path(fs, B->ref, "x");
    REQUIRE(err(x) == "ok");
    CHECK(x->type == file_type::fifo);
    CHECK(x->mode == 0600u);
}

TEST_CASE("0 scenario loader: load_dump reads every kernel dump", "[scenario][spec.0]") {
    std::size_t files = 0;
    for (const auto& e : std::filesystem::directory_iterator(kernel_data() / "expected")) {
        if (e.path().extension() != ".jsonl") continue;
        ++files;
        INFO(e.path().string());
        std::ifstream in(e.path());
        std::size_t lines = 0;
        for (std::string line; std::getline(in, line);)
            if (!line.empty()) ++lines;
        const auto records = test::load_dump(e.path());
        CHECK(records.size() == lines);
        for (const auto& r : records) {
            REQUIRE(r.is_object());
            CHECK((r.contains("path") || r.contains("mount_error")));
        }
        // The matching scenario exists.
        CHECK(std::filesystem::exists(kernel_data() / "scenarios" /
                                      (e.path().stem().string() + ".json")));
    }
    CHECK(files > 10u);
    CHECK_THROWS(test::load_dump("/nonexistent.jsonl"));
}

/// The ovl-mkstack binary: OVLCORE_MKSTACK_PATH when the build defines it, $OVLCORE_MKSTACK, or
/// bin/ovl-mkstack next to or above this test executable (the CMake layout); "" if none exists.
static std::string find_mkstack() {
    namespace fs = std::filesystem;
    std::vector<fs::path> candidates;
#ifdef OVLCORE_MKSTACK_PATH
    candidates.emplace_back(OVLCORE_MKSTACK_PATH);
#endif
    if (const char* env = std::getenv("OVLCORE_MKSTACK")) candidates.emplace_back(env);
    std::error_code ec;
    const auto exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        candidates.push_back(exe.parent_path() / "bin/ovl-mkstack");
        candidates.push_back(exe.parent_path().parent_path() / "bin/ovl-mkstack");
    }
    for (const auto& c : candidates)
        if (::access(c.c_str(), X_OK) == 0) return c.string();
    return {};
}

TEST_CASE("0 ovl-mkstack: materialises a scenario and prints the options", "[scenario][tool]") {
    const std::string tool = find_mkstack();
    if (tool.empty()) {
        WARN("SKIPPED: ovl-mkstack not built (set OVLCORE_MKSTACK to its path)");
        return;
    }
    std::string out;
    CHECK(run_status(tool + " --help", &out) == 0);
    CHECK_THAT(out, Catch::Contains("\nSYNOPSIS\n    ovl-mkstack "));
    CHECK(run_status(tool + " 2>/dev/null") == 64); // usage errors: 64 (docs/cli.md)
    CHECK(run_status(tool + " a b c 2>/dev/null") == 64);
    CHECK(run_status(tool + " /nonexistent.json /tmp/x 2>/dev/null") == 1);

    test::temp_dir tmp;
    const auto scenario = kernel_data() / "scenarios/merge_two_layers.json";
    const std::string dir = tmp.str() + "/stack";
    REQUIRE(run_status(tool + " " + scenario.string() + " " + dir, &out) == 0);
    const auto s = test::load_scenario(scenario);
    CHECK(out == test::substitute_options(s, dir) + "\n");
    for (const auto& l : s.layers) CHECK(std::filesystem::is_directory(dir + "/" + l.name));
    // A non-empty directory is refused.
    CHECK(run_status(tool + " " + scenario.string() + " " + dir + " 2>/dev/null") == 1);
    // A file is refused.
    std::ofstream(tmp.str() + "/file") << "x";
    CHECK(run_status(tool + " " + scenario.string() + " " + tmp.str() + "/file 2>/dev/null") == 1);
}
