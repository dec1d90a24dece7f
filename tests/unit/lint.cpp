// SPDX-License-Identifier: MIT
// Tests of ovlcore/lint.hpp: one scenario per finding plus clean stacks (tests/data/lint, expected
// findings written by hand from the spec section each scenario names), run on memory_fs and on
// posix_fs (root only); the cost promise (each data object looked up at most once); the output
// formats and the exit status of ovl-lint.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <filesystem>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <ovlcore/backend/memory.hpp>
#include <ovlcore/backend/posix.hpp>
#include <ovlcore/lint.hpp>

#include "support/fs_tree.hpp"
#include "support/overlay_fixture.hpp"
#include "support/scenario.hpp"
#include "support/temp_dir.hpp"

using namespace ovlcore;
namespace fs = std::filesystem;

namespace {

const fs::path lint_dir = fs::path(OVLCORE_TEST_DATA_DIR) / "lint";

using key = std::tuple<std::string, std::string, std::string>; // path, severity, code

lint_options options_of(const test::scenario& scn) {
    lint_options o;
    if (scn.raw.contains("ovlcore")) {
        const auto scope = parse_data_redirect_scope(
            scn.raw.at("ovlcore").at("data_redirects").get<std::string>());
        REQUIRE(scope);
        o.ext.data_redirects = *scope;
    }
    return o;
}

std::set<key> expected_findings(const fs::path& scenario_file) {
    std::set<key> out;
    for (const auto& rec :
         test::load_dump(lint_dir / "expected" / (scenario_file.stem().string() + ".jsonl")))
        out.emplace(rec.at("path"), rec.at("severity"), rec.at("code"));
    return out;
}

std::set<key> keys_of(const lint_report& report) {
    std::set<key> out;
    for (const auto& f : report.findings)
        out.emplace(f.path, std::string(to_string(f.severity)), std::string(to_string(f.code)));
    return out;
}

std::string describe(const lint_report& report) {
    std::string out;
    for (const auto& f : report.findings) out += "  " + to_text(f) + "\n";
    return out.empty() ? "  (no finding)\n" : out;
}

} // namespace

TEST_CASE("lint: every scenario's findings on memory_fs", "[lint][memory_fs]") {
    const auto files = test::list_scenarios(lint_dir);
    REQUIRE(files.size() >= 18);
    for (const auto& file : files) {
        const auto scn = test::load_scenario(file);
        memory_fs backend;
        const std::string options = test::build_in_memory(scn, backend);
        const auto report = lint_mount(backend, options, module_defaults{}, options_of(scn));
        INFO(scn.name << " (" << scn.why << ")\n" << describe(report));
        CHECK(keys_of(report) == expected_findings(file));
    }
}

TEST_CASE("lint: every scenario's findings on posix_fs", "[lint][posix_fs]") {
    if (::geteuid() != 0) {
        WARN("lint on posix_fs: not run, building the layers on disk needs root");
        return;
    }
    for (const auto& file : test::list_scenarios(lint_dir)) {
        const auto scn = test::load_scenario(file);
        const test::temp_dir root("ovlcore-lint-");
        const std::string options = test::build_on_disk(scn, root.path());
        auto backend = posix_fs::with_working_dir(root.str());
        REQUIRE(backend);
        const auto report = lint_mount(*backend, options, module_defaults{}, options_of(scn));
        INFO(scn.name << " (" << scn.why << ")\n" << describe(report));
        CHECK(keys_of(report) == expected_findings(file));
    }
}

TEST_CASE("lint: the scenarios cover every finding code but readdir-failed", "[lint]") {
    std::set<std::string> covered;
    for (const auto& file : test::list_scenarios(lint_dir))
        for (const auto& [path, severity, code] : expected_findings(file)) covered.insert(code);
    for (auto c = static_cast<int>(lint_code::mount_refused);
         c <= static_cast<int>(lint_code::readdir_failed); ++c) {
        const auto code = static_cast<lint_code>(c);
        if (code == lint_code::readdir_failed) continue; // needs a failing backend, see below
        INFO(to_string(code));
        CHECK(covered.count(std::string(to_string(code))) == 1);
    }
}

TEST_CASE("6 lint: each data object is looked up once however many metacopy files share it",
          "[lint][spec.6]") {
    test::fs_tree<memory_fs> t;
    for (int i = 0; i < 1000; ++i) {
        const std::string path = "A/d" + std::to_string(i % 7) + "/f" + std::to_string(i);
        t.add_file(path, "", {.size = 3})
            .set_xattr(path, "trusted.overlay.metacopy", "")
            .set_xattr(path, "trusted.overlay.redirect", "/ob/" + std::to_string(i % 10));
    }
    for (int j = 0; j < 10; ++j) t.add_file("C/ob/" + std::to_string(j), "obj");
    const test::spy_fs<memory_fs> spy(t.fs());
    auto stack = make_layer_stack(spy, "lowerdir=A::C");
    REQUIRE(stack);
    const auto report = lint_stack(spy, *stack);
    CHECK(report.findings.empty());
    CHECK(report.metacopy == 1000);
    CHECK(report.data_lookups == 10);
    CHECK(spy.lookup_beneath_calls == 10);
    CHECK(spy.open_calls == 0); // file contents are never read
    CHECK(report.worst() == lint_severity::info);
    CHECK_FALSE(report.refused());
}

TEST_CASE("1 lint: a refused stack is one error with the mount errno and the kernel's message",
          "[lint][spec.1]") {
    test::fs_tree<memory_fs> t;
    t.add_file("A/a", "a");
    const auto report = lint_mount(t.fs(), "lowerdir=A");
    REQUIRE(report.findings.size() == 1);
    const auto& f = report.findings[0];
    CHECK(f.code == lint_code::mount_refused);
    CHECK(f.error == std::errc::invalid_argument);
    CHECK(f.message.find("at least 2 lowerdir are needed while upperdir nonexistent") !=
          std::string::npos);
    CHECK(report.worst() == lint_severity::error);
    CHECK(report.refused());
}

TEST_CASE("lint: text and JSON renderings, the worst severity", "[lint][json]") {
    const lint_finding f{"/m", lint_severity::error, lint_code::dangling_data_redirect,
                         "data '/x' is in no data-only layer",
                         std::errc::no_such_file_or_directory};
    CHECK(to_text(f) == "error /m dangling-data-redirect: data '/x' is in no data-only layer");
    CHECK(nlohmann::json::parse(to_json(f)) ==
          nlohmann::json{{"path", "/m"},
                         {"severity", "error"},
                         {"code", "dangling-data-redirect"},
                         {"message", "data '/x' is in no data-only layer"},
                         {"errno", "ENOENT"}});
    lint_report r;
    CHECK(r.worst() == lint_severity::info);
    r.findings.push_back({"/a", lint_severity::info, lint_code::lookup_failed, "i", {}});
    CHECK(r.worst() == lint_severity::info);
    r.findings.push_back({"/b", lint_severity::warning, lint_code::order_dependent, "w", {}});
    CHECK(r.worst() == lint_severity::warning);
    r.findings.push_back(f);
    CHECK(r.worst() == lint_severity::error);
    CHECK_FALSE(r.refused());
}

TEST_CASE("8 lint: a directory that cannot be listed is readdir-failed", "[lint][spec.8]") {
    test::fs_tree<memory_fs> t;
    t.add_file("A/d/a", "a").add_file("B/d/b", "b");
    // A spy that fails every listing of "d" (docs/contributing.md §25: failing backend).
    struct failing_listing : test::spy_fs<memory_fs> {
        using spy_fs::spy_fs;
        [[nodiscard]] result<std::vector<dir_entry>> read_dir(const handle& h) const {
            if (path_of(h) == "d") return fail(std::errc::io_error);
            return spy_fs::read_dir(h);
        }
    };
    const failing_listing spy(t.fs());
    auto stack = make_layer_stack(spy, "lowerdir=A:B");
    REQUIRE(stack);
    const auto report = lint_stack(spy, *stack);
    REQUIRE(report.findings.size() == 1);
    CHECK(report.findings[0].path == "/d");
    CHECK(report.findings[0].code == lint_code::readdir_failed);
    CHECK(report.findings[0].error == std::errc::io_error);
}

namespace {
/// A metacopy value (spec §2.2) with `algo` and the 32-byte digest of "data\n" as `fsverity
/// digest` prints it (fsverity-utils 1.5: sha256:223c0c4f…d631).
std::string data_metacopy(char algo = 1) {
    constexpr std::string_view hex =
        "223c0c4f67bbe577eaba3943d77c8071ab42385702862cb24b7c24900c74d631";
    std::string v{'\0', '\x24', '\0', algo};
    for (std::size_t i = 0; i < hex.size(); i += 2)
        v += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
    return v;
}

/// composefs's shape: an image layer I of metacopy files redirecting into an object store O.
test::fs_tree<memory_fs> composefs_tree() {
    test::fs_tree<memory_fs> t;
    const auto meta = [&](const std::string& name, const std::string& object) {
        t.add_file("I/" + name, "", {.size = 5})
            .set_xattr("I/" + name, "trusted.overlay.metacopy", data_metacopy())
            .set_xattr("I/" + name, "trusted.overlay.redirect", object);
    };
    meta("good", "/22/3c0c");
    meta("also-good", "/22/3c0c"); // shares the object: its digest is computed once
    meta("corrupt", "/22/bad0");
    meta("missing", "/22/gone");
    t.add_file("O/22/3c0c", "data\n").add_file("O/22/bad0", "dat4\n");
    return t;
}

std::set<std::tuple<std::string, std::string, std::string>> keys(const lint_report& r) {
    std::set<std::tuple<std::string, std::string, std::string>> out;
    for (const auto& f : r.findings)
        out.emplace(f.path, std::string(to_string(f.severity)), std::string(to_string(f.code)));
    return out;
}
} // namespace

TEST_CASE("7 lint: digest-mismatch when verity digests are computed", "[lint][spec.7][verity]") {
    const auto t = composefs_tree();
    const test::spy_fs<memory_fs> spy(t.fs());
    SECTION("verity=require: the corrupt object is an error, the missing one dangling") {
        auto stack = make_layer_stack(spy, "lowerdir=I::O,verity=require");
        REQUIRE(stack);
        const auto report = lint_stack(spy, *stack, {.verity = verity_support::compute});
        INFO(describe(report));
        CHECK(keys(report) == std::set<std::tuple<std::string, std::string, std::string>>{
                                  {"/corrupt", "error", "digest-mismatch"},
                                  {"/missing", "error", "dangling-data-redirect"}});
        CHECK(spy.open_calls == 2); // one digest per distinct object
        const auto& f = report.findings[0];
        CHECK(f.error == std::errc::io_error);
        CHECK(f.message.find("sha256:223c0c4f") != std::string::npos);
    }
    SECTION("verity=off: a warning (the kernel would not check)") {
        auto stack = make_layer_stack(spy, "lowerdir=I::O");
        REQUIRE(stack);
        const auto report = lint_stack(spy, *stack, {.verity = verity_support::compute});
        INFO(describe(report));
        CHECK(keys(report).count({"/corrupt", "warning", "digest-mismatch"}) == 1);
    }
    SECTION("without verity checking in lint: contents are never read") {
        auto stack = make_layer_stack(spy, "lowerdir=I::O,verity=require");
        REQUIRE(stack);
        const auto report = lint_stack(spy, *stack);
        CHECK(keys(report).count({"/corrupt", "error", "digest-mismatch"}) == 0);
        CHECK(spy.open_calls == 0);
    }
    SECTION("measure on a backend that cannot: every data object has no digest") {
        auto stack = make_layer_stack(spy, "lowerdir=I::O,verity=on");
        REQUIRE(stack);
        const auto report = lint_stack(spy, *stack, {.verity = verity_support::measure});
        INFO(describe(report));
        CHECK(keys(report).count({"/good", "error", "digest-mismatch"}) == 1);
        CHECK(keys(report).count({"/corrupt", "error", "digest-mismatch"}) == 1);
    }
}

TEST_CASE("7 lint: digest bytes with algorithm 0 are no digest (refused by require only)",
          "[lint][spec.7][verity]") {
    test::fs_tree<memory_fs> t;
    t.add_file("A/m", "", {.size = 5})
        .set_xattr("A/m", "trusted.overlay.metacopy", data_metacopy(0))
        .add_file("B/m", "data\n");
    for (const auto& [options, severity] :
         {std::pair{"lowerdir=A:B,metacopy=on,verity=on", "warning"},
          std::pair{"lowerdir=A:B,metacopy=on,verity=require", "error"},
          std::pair{"lowerdir=A:B,metacopy=on", "warning"}}) {
        CAPTURE(options);
        auto stack = make_layer_stack(t.fs(), options);
        REQUIRE(stack);
        const auto report = lint_stack(t.fs(), *stack, {.verity = verity_support::compute});
        INFO(describe(report));
        CHECK(keys(report) == std::set<std::tuple<std::string, std::string, std::string>>{
                                  {"/m", severity, "malformed-digest"}});
    }
}
