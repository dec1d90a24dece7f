// SPDX-License-Identifier: MIT
// Tests of ovlcore/explain.hpp and of the engine's trace events behind it
// (docs/contributing.md §14, §26): the resolution of the spec's tricky cases (§12, §10 Q1) asserted
// as event sequences, and the readable and JSON renderings of ovl-tree --explain. Expected
// sequences follow the order of spec §5.1-§5.3 and §6; both backends.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <ovlcore/backend/memory.hpp>
#include <ovlcore/backend/posix.hpp>
#include <ovlcore/explain.hpp>

#include "support/fs_tree.hpp"
#include "support/spec_names.hpp"

using namespace ovlcore;

// The file's own namespace: these names stay out of the files compiled next to it
// (docs/contributing.md §18).
namespace explain_test {
using ovlcore::test::spec_names::mc;
using ovlcore::test::spec_names::redirect;

namespace {

/// The events of every step, one per line (trace.hpp's to_string), steps separated by "--\n".
std::string steps_text(const explanation& x) {
    std::string out;
    for (const auto& step : x.steps) {
        out += "--\n";
        for (const auto& e : step.events) out += to_string(e) + '\n';
    }
    return out;
}

template <class B>
explanation explain(const test::fs_tree<B>& tree, std::string_view options, std::string_view path,
                    overlay_options knobs = {}) {
    auto stack = make_layer_stack(tree.fs(), options);
    if (!stack) throw std::runtime_error("stack rejected: " + std::string(options));
    return explain_path(tree.fs(), *stack, path, knobs);
}
} // namespace

#define TREE(t)                                                                                    \
  test::fs_tree<TestType> t;                                                                       \
  if (!t.privileged()) return

TEMPLATE_TEST_CASE("12.16 explain: B/d/f regular wins over data-only C (kernel order)",
                   "[spec.12][spec.5.3][explain]", memory_fs, posix_fs) {
    TREE(t);
    add_metacopy(t, "A/m", "/d/f");
    t.add_file("B/d/f", "B:d/f\n").add_file("C/d/f", "C:d/f\n");
    const auto x = explain(t, "lowerdir=A:B::C,metacopy=on", "/m");
    CHECK(steps_text(x) ==
          "--\n"
          "layer L1 . m\n"
          "found L1 m reg\n"
          "metacopy L1 m 4\n"
          "redirect L1 m -> /d/f\n"
          "layer L2 . /d/f\n"
          "found L2 d dir\n"
          "found L2 d/f reg\n"
          "--\n"); // open: the data entry is known, no data-only lookup
    CHECK(x.error == std::errc{});
    REQUIRE(x.origin);
    CHECK(x.origin->metadata_layer == 1);
    CHECK(x.origin->data_layer == 2u);
}

TEMPLATE_TEST_CASE("10 Q1 explain: a dir B/d resets the absolute redirect: EIO, C never consulted",
                   "[spec.10][spec.12][explain]", memory_fs, posix_fs) {
    TREE(t);
    add_metacopy(t, "A/m", "/d/f");
    t.add_file("B/d/other", "o").add_file("C/d/f", "C:d/f\n");
    const auto x = explain(t, "lowerdir=A:B::C,metacopy=on", "/m");
    CHECK(steps_text(x) ==
          "--\n"
          "layer L1 . m\n"
          "found L1 m reg\n"
          "metacopy L1 m 4\n"
          "redirect L1 m -> /d/f\n"
          "layer L2 . /d/f\n"
          "found L2 d dir\n"
          "no-data . EIO\n"
          "failed m EIO\n");
    CHECK(x.error == std::errc::io_error);
    CHECK(render_text(x).find("result: EIO") != std::string::npos);
}

TEMPLATE_TEST_CASE("12.16 explain: B without /d: the lazy slot, C supplies the data at open",
                   "[spec.12][spec.6][explain]", memory_fs, posix_fs) {
    TREE(t);
    add_metacopy(t, "A/m", "/d/f");
    t.add_file("B/b", "b").add_file("C/d/f", "C:d/f\n");
    const auto x = explain(t, "lowerdir=A:B::C,metacopy=on", "/m");
    CHECK(steps_text(x) ==
          "--\n"
          "layer L1 . m\n"
          "found L1 m reg\n"
          "metacopy L1 m 4\n"
          "redirect L1 m -> /d/f\n"
          "layer L2 . /d/f\n"
          "lazy-data . /d/f\n"
          "--\n"
          "lowerdata L3 d/f /d/f\n");
    REQUIRE(x.origin);
    CHECK(x.origin->data_layer == 3u);
    const std::string text = render_text(x);
    CHECK(text.find("[3:C] data '/d/f' found: reg 'd/f'") != std::string::npos);
    CHECK(text.find("result: reg, metadata from [1:A], data from [3:C]") != std::string::npos);
}

TEMPLATE_TEST_CASE("12.17 explain: metacopy=off refuses a metacopy in a middle layer (EPERM)",
                   "[spec.12][spec.5.3][explain]", memory_fs, posix_fs) {
    TREE(t);
    add_metacopy(t, "A/m", "/d/f");
    t.add_file("B/b", "b").add_file("C/d/f", "C:d/f\n");
    const auto x = explain(t, "lowerdir=A:B::C", "/m");
    CHECK(steps_text(x) ==
          "--\n"
          "layer L1 . m\n"
          "found L1 m reg\n"
          "metacopy L1 m 4\n"
          "redirect L1 m -> /d/f\n"
          "refused . metacopy EPERM\n"
          "failed m EPERM\n");
    CHECK(render_text(x).find("refuse to follow this metacopy (metacopy=off") != std::string::npos);
}

TEMPLATE_TEST_CASE("12.20 explain: every data-only layer fails: the last layer's errno",
                   "[spec.12][spec.6][explain]", memory_fs, posix_fs) {
    TREE(t);
    add_metacopy(t, "A/m", "/l/f");
    t.add_file("B/b", "b").add_symlink("C/l", "d").add_file("C/d/f", "x").add_file("D/e", "e");
    const auto x = explain(t, "lowerdir=A:B::C::D,metacopy=on", "/m");
    REQUIRE(x.steps.size() == 2);
    CHECK(steps_text(x).substr(steps_text(x).rfind("--\n")) ==
          "--\n"
          "lowerdata-failed L3 . /l/f ELOOP\n"
          "lowerdata-failed L4 . /l/f ENOENT\n");
    CHECK(x.error == std::errc::no_such_file_or_directory);
    CHECK(x.st.has_value()); // stat works, the open fails (§12 case 18)
}

TEMPLATE_TEST_CASE("12.11 explain: an invalid redirect names its value (EINVAL)",
                   "[spec.12][spec.2.3][explain]", memory_fs, posix_fs) {
    TREE(t);
    t.add_dir("A/r").set_xattr("A/r", redirect, "a/b").add_file("B/b", "b");
    const auto x = explain(t, "lowerdir=A:B", "/r");
    CHECK(steps_text(x) ==
          "--\n"
          "layer L1 . r\n"
          "found L1 r dir\n"
          "invalid-redirect L1 r a/b EINVAL\n"
          "failed r EINVAL\n");
}

TEMPLATE_TEST_CASE("12.9 explain: whiteouts and opaque dirs along a path",
                   "[spec.12][spec.3][explain]", memory_fs, posix_fs) {
    TREE(t);
    t.add_dir("A/o").set_xattr("A/o", "trusted.overlay.opaque", "y").add_file("A/o/a", "a");
    t.add_file("B/o/hidden", "h").add_whiteout("A/w").add_file("B/w", "w");
    const auto x = explain(t, "lowerdir=A:B", "/o/a");
    CHECK(steps_text(x) ==
          "--\n"
          "layer L1 . o\n"
          "found L1 o dir\n"
          "opaque L1 o\n"
          "--\n"
          "layer L1 o a\n"
          "found L1 o/a reg\n"
          "--\n");
    const auto w = explain(t, "lowerdir=A:B", "/w");
    CHECK(steps_text(w) == "--\nlayer L1 . w\nwhiteout L1 w\nfailed w ENOENT\n");
    CHECK(render_text(w).find("[1:A] whiteout 'w'") != std::string::npos);
}

TEMPLATE_TEST_CASE("14 explain: JSON Lines, one object per event and a result object",
                   "[explain][json]", memory_fs, posix_fs) {
    TREE(t);
    add_metacopy(t, "A/m", "/d/f");
    t.add_file("B/b", "b").add_file("C/d/f", "C:d/f\n");
    const auto x = explain(t, "lowerdir=A:B::C,metacopy=on", "/m");
    std::istringstream in(render_jsonl(x));
    std::vector<nlohmann::json> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
    REQUIRE(lines.size() == 8); // 6 lookup events, 1 open event, the result
    CHECK(lines[0] == nlohmann::json{{"path", "/m"},
                                     {"step", "lookup"},
                                     {"event", "layer"},
                                     {"layer", 1},
                                     {"layer_name", "1:A"},
                                     {"real_path", ""},
                                     {"detail", "m"}});
    CHECK(lines[6].at("step") == "open");
    CHECK(lines[6].at("event") == "lowerdata");
    CHECK(lines[6].at("layer") == 3);
    CHECK(lines[7] == nlohmann::json{{"path", "/m"},
                                     {"result", "ok"},
                                     {"type", "reg"},
                                     {"metadata_layer", 1},
                                     {"data_layer", 3}});
}

TEST_CASE("14 explain: a missing path stops at the first failing component", "[explain]") {
    test::fs_tree<memory_fs> t;
    t.add_file("A/a", "a").add_file("B/b", "b");
    const auto x = explain(t, "lowerdir=A:B", "/nope/deeper");
    REQUIRE(x.steps.size() == 1);
    CHECK(x.steps[0].path == "/nope");
    CHECK(x.error == std::errc::no_such_file_or_directory);
    CHECK(render_text(x) ==
          "/nope/deeper\n"
          "  lookup /nope\n"
          "    [1:A] look up 'nope' in '.'\n"
          "    [2:B] look up 'nope' in '.'\n"
          "    the lookup of 'nope' fails: ENOENT\n"
          "  result: ENOENT\n");
}

} // namespace explain_test
