// SPDX-License-Identifier: MIT
// Conformance runner (docs/contributing.md §21, §22): every scenario of tests/data/kernel/scenarios
// and tests/data/extra, on both backends (memory_fs, posix_fs in a temporary directory), built with
// make_layer_stack + overlay + dump_records and compared with the kernel-recorded dump as a set of
// parsed JSON records (dump-format.md "Comparing"; mount_error by errno only).
//
// The demo stack of examples/demo (stack.json + expected.jsonl) runs as "demo/stack".
// tests/data/scoped holds stacks for ovlcore's opt-in extensions (extensions.hpp): each NAME.json
// carries {"ovlcore": {"data_redirects": "scoped"|"strict"}} and runs twice: as "scoped/NAME" with
// that extension against expected/NAME.jsonl (written from the extension's definition), and as
// "scoped-kernel/NAME" without it against kernel/NAME.jsonl (recorded from the kernel).
// One Catch2 test case per scenario and backend, registered at start-up from the data directory:
//   "conformance: kernel/dataonly_basic on memory_fs"   [conformance][kernel-data][memory_fs]
// tests/data/known_differences.json lists the accepted divergences: an array of
//   {"scenario": "kernel/NAME" | "extra/NAME" | "demo/stack",
//    "backend": "memory_fs" | "posix_fs" | "any", "reason": "why, with the spec section"}
// A listed case that differs passes with a warning giving the reason; a listed case that now agrees
// FAILS (remove the entry: the list only shrinks); an unlisted difference fails with a per-path
// diff.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "ovlcore/backend/memory.hpp"
#include "ovlcore/backend/posix.hpp"
#include "ovlcore/dump.hpp"
#include "ovlcore/extensions.hpp"
#include "ovlcore/layer_stack.hpp"
#include "ovlcore/overlay.hpp"
#include "support/scenario.hpp"
#include "support/string_makers.hpp"
#include "support/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path data_dir = OVLCORE_TEST_DATA_DIR;

struct scenario_case {
    std::string id;              ///< "kernel/NAME", "extra/NAME" or "demo/stack"
    fs::path scenario;           ///< NAME.json
    fs::path expected;           ///< expected/NAME.jsonl
    bool use_extensions = false; ///< apply the scenario's "ovlcore" object (tests/data/scoped)
};

/// Every NAME.json in `dir`, with its dump in `expected_dir`, sorted by name.
void collect(std::vector<scenario_case>& out, const std::string& suite, const fs::path& dir,
             const fs::path& expected_dir, bool use_extensions = false) {
    std::error_code ec;
    std::vector<scenario_case> found;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const fs::path& p = it->path();
        if (p.extension() != ".json" || !it->is_regular_file()) continue;
        const std::string name = p.stem().string();
        found.push_back({suite + "/" + name, p, expected_dir / (name + ".jsonl"), use_extensions});
    }
    std::sort(found.begin(), found.end(),
              [](const scenario_case& a, const scenario_case& b) { return a.id < b.id; });
    out.insert(out.end(), found.begin(), found.end());
}

const std::vector<scenario_case>& all_cases() {
    static const std::vector<scenario_case> cases = [] {
        std::vector<scenario_case> out;
        collect(out, "kernel", data_dir / "kernel" / "scenarios", data_dir / "kernel" / "expected");
        collect(out, "extra", data_dir / "extra", data_dir / "extra" / "expected");
        collect(out, "scoped", data_dir / "scoped", data_dir / "scoped" / "expected", true);
        collect(out, "scoped-kernel", data_dir / "scoped", data_dir / "scoped" / "kernel");
#ifdef OVLCORE_SOURCE_DIR
        // The ovl-tree demo stack (examples/demo) is a scenario with a kernel-recorded dump too.
        const fs::path demo = fs::path(OVLCORE_SOURCE_DIR) / "examples" / "demo";
        if (fs::exists(demo / "stack.json"))
            out.push_back({"demo/stack", demo / "stack.json", demo / "expected.jsonl"});
#endif
        return out;
    }();
    return cases;
}

// --- known differences ---------------------------------------------------------------------------

struct known_difference {
    std::string scenario;
    std::string backend;
    std::string reason;
};

const std::vector<known_difference>& known_differences() {
    static const std::vector<known_difference> list = [] {
        std::vector<known_difference> out;
        std::ifstream in(data_dir / "known_differences.json");
        if (!in) return out; // no file: no accepted differences
        const json doc = json::parse(in);
        for (const json& e : doc)
            out.push_back({e.at("scenario").get<std::string>(), e.at("backend").get<std::string>(),
                           e.at("reason").get<std::string>()});
        return out;
    }();
    return list;
}

const known_difference* find_known(const std::string& id, const std::string& backend) {
    for (const auto& k : known_differences())
        if (k.scenario == id && (k.backend == backend || k.backend == "any")) return &k;
    return nullptr;
}

// --- running one scenario ----------------------------------------------------------------------

/// The ovlcore extensions a scenario asks for: its "ovlcore" object when `c` uses extensions
/// (tests/data/scoped), else none (the kernel).
ovlcore::overlay_options knobs_for(const scenario_case& c, const ovlcore::test::scenario& scn) {
    ovlcore::overlay_options knobs;
    if (!c.use_extensions || !scn.raw.contains("ovlcore")) return knobs;
    const auto& ext = scn.raw.at("ovlcore");
    if (ext.contains("data_redirects")) {
        const auto scope =
            ovlcore::parse_data_redirect_scope(ext.at("data_redirects").get<std::string>());
        REQUIRE(scope.has_value());
        knobs.ext.data_redirects = *scope;
    }
    return knobs;
}

/// Our records as parsed JSON, from the same writer ovl-tree uses.
template <class B>
std::vector<json> dump_stack(const B& backend, const std::string& options,
                             const std::vector<std::string>& probes,
                             const ovlcore::overlay_options& knobs) {
    auto stack = ovlcore::make_layer_stack(backend, options);
    if (!stack) return {json::parse(ovlcore::mount_error_json(stack.error()))};
    ovlcore::overlay<B> view(backend, std::move(*stack), {}, knobs);
    std::vector<json> out;
    for (const auto& rec : ovlcore::dump_records(view, probes))
        out.push_back(json::parse(ovlcore::to_json(rec)));
    return out;
}

/// The comparison key of a record: the record itself, except that a refused mount compares by
/// errno only (dump-format.md "Rejected stacks").
json canonical(const json& rec) {
    if (rec.contains("mount_error")) return json{{"mount_error", rec.at("mount_error")}};
    return rec;
}

std::string record_key(const json& rec) {
    if (rec.contains("mount_error")) return "(mount)";
    return rec.value("path", std::string("(no path)"));
}

/// Empty when the two dumps hold the same set of records; else a readable per-path diff.
std::string diff_dumps(const std::vector<json>& expected, const std::vector<json>& actual) {
    std::set<std::string> e, a;
    for (const auto& r : expected) e.insert(canonical(r).dump());
    for (const auto& r : actual) a.insert(canonical(r).dump());
    if (e == a) return {};
    std::map<std::string, std::pair<std::vector<std::string>, std::vector<std::string>>> by_path;
    for (const auto& r : expected)
        if (!a.count(canonical(r).dump())) by_path[record_key(r)].first.push_back(r.dump());
    for (const auto& r : actual)
        if (!e.count(canonical(r).dump())) by_path[record_key(r)].second.push_back(r.dump());
    std::ostringstream out;
    for (const auto& [path, sides] : by_path) {
        out << "  " << path << "\n";
        for (const auto& s : sides.first) out << "    kernel:  " << s << "\n";
        if (sides.first.empty()) out << "    kernel:  (no record)\n";
        for (const auto& s : sides.second) out << "    ovlcore: " << s << "\n";
        if (sides.second.empty()) out << "    ovlcore: (no record)\n";
    }
    return out.str();
}

/// Checks a computed difference against known_differences.json (docs/contributing.md §22).
void judge(const std::string& id, const std::string& backend, const std::string& diff) {
    const known_difference* known = find_known(id, backend);
    if (known == nullptr) {
        INFO(id << " on " << backend << ": ovlcore's dump differs from the kernel's\n" << diff);
        CHECK(diff.empty());
        return;
    }
    if (diff.empty()) {
        FAIL(id << " on " << backend << " now agrees with the kernel, but "
                << "tests/data/known_differences.json still lists it (" << known->reason
                << "): remove the entry");
    }
    // Reported on stderr as well: Catch's console shows a passing test's WARN only with -s.
    std::fprintf(stderr, "conformance: %s on %s: known difference, see known_differences.json\n",
                 id.c_str(), backend.c_str());
    WARN(id << " on " << backend << ": known difference (" << known->reason << ")\n" << diff);
}

void run_memory(const scenario_case& c) {
    REQUIRE(fs::exists(c.expected));
    const auto scn = ovlcore::test::load_scenario(c.scenario);
    ovlcore::memory_fs backend;
    const std::string options = ovlcore::test::build_in_memory(scn, backend);
    const auto actual = dump_stack(backend, options, scn.paths, knobs_for(c, scn));
    judge(c.id, "memory_fs", diff_dumps(ovlcore::test::load_dump(c.expected), actual));
}

void run_posix(const scenario_case& c) {
    REQUIRE(fs::exists(c.expected));
    if (::geteuid() != 0) {
        // trusted.* xattrs and whiteouts (mknod c 0 0) need CAP_SYS_ADMIN / CAP_MKNOD.
        std::fprintf(stderr, "conformance: %s on posix_fs: NOT RUN (needs root)\n", c.id.c_str());
        WARN(c.id << " on posix_fs: not run, building the layers on disk needs root");
        return;
    }
    const auto scn = ovlcore::test::load_scenario(c.scenario);
    const ovlcore::test::temp_dir root("ovlcore-conformance-");
    const std::string options = ovlcore::test::build_on_disk(scn, root.path());
    auto backend = ovlcore::posix_fs::with_working_dir(root.str()); // as mount(2) from {ROOT}
    REQUIRE(backend);
    const auto actual = dump_stack(*backend, options, scn.paths, knobs_for(c, scn));
    judge(c.id, "posix_fs", diff_dumps(ovlcore::test::load_dump(c.expected), actual));
}

// --- registration: one test case per scenario and backend ---------------------------------------

class scenario_invoker final : public Catch::ITestInvoker {
public:
    scenario_invoker(scenario_case c, void (*run)(const scenario_case&))
        : m_case(std::move(c)), m_run(run) {}
    void invoke() const override { m_run(m_case); }

private:
    scenario_case m_case;
    void (*m_run)(const scenario_case&);
};

[[maybe_unused]] const int registered = [] {
    static std::deque<std::string> names; // Catch keeps StringRefs to these
    for (const auto& c : all_cases()) {
        const std::string suite = c.id.substr(0, c.id.find('/'));
        const std::string suite_tag = "[" + suite + "-data]";
        for (const auto& [backend, run] : {std::pair{std::string("memory_fs"), &run_memory},
                                           std::pair{std::string("posix_fs"), &run_posix}}) {
            const std::string& name = names.emplace_back("conformance: " + c.id + " on " + backend);
            const std::string& tags =
                names.emplace_back("[conformance]" + suite_tag + "[" + backend + "]");
            const Catch::AutoReg reg(
                new scenario_invoker(c, run),
                Catch::SourceLineInfo(__FILE__, static_cast<std::size_t>(__LINE__)),
                Catch::StringRef(""), Catch::NameAndTags(name, tags));
        }
    }
    return 0;
}();

} // namespace

TEST_CASE("conformance: the scenario data is complete", "[conformance]") {
    REQUIRE(!all_cases().empty());
    for (const auto& c : all_cases()) {
        INFO(c.id << ": no expected dump at " << c.expected);
        CHECK(fs::exists(c.expected));
    }
}

TEST_CASE("conformance: known_differences.json names existing scenarios and backends",
          "[conformance]") {
    for (const auto& k : known_differences()) {
        INFO(k.scenario << " / " << k.backend);
        CHECK(std::any_of(all_cases().begin(), all_cases().end(),
                          [&](const scenario_case& c) { return c.id == k.scenario; }));
        CHECK((k.backend == "memory_fs" || k.backend == "posix_fs" || k.backend == "any"));
        CHECK(!k.reason.empty());
    }
}
