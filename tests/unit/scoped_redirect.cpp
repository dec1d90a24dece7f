// SPDX-License-Identifier: MIT
// Tests of ovlcore/extensions.hpp and its use by the lookup engine: data-only-scoped redirects
// (`//path`) and the strict variant, case by case from the definition in extensions.hpp (spec
// §2.3, §5.3, §6, §10 Q1 for the kernel behaviour kept). Every case runs on memory_fs and
// posix_fs; default-mode answers are the kernel's (tests/data/scoped/kernel, recorded).
#include <catch2/catch.hpp>

#include <string>

#include <ovlcore/backend/memory.hpp>
#include <ovlcore/backend/posix.hpp>
#include <ovlcore/extensions.hpp>
#include <ovlcore/overlay.hpp>

#include "support/overlay_fixture.hpp"
#include "support/spec_names.hpp"

using namespace ovlcore;

// The file's own namespace: these names stay out of the files compiled next to it
// (docs/contributing.md §18).
namespace scoped_redirect_test {
using ovlcore::test::spec_names::einval;
using ovlcore::test::spec_names::eio;
using ovlcore::test::spec_names::enoent;
using ovlcore::test::spec_names::eperm;
using ovlcore::test::spec_names::mc;
using ovlcore::test::spec_names::ok;
using ovlcore::test::spec_names::redirect;

namespace {

overlay_options with(data_redirect_scope scope) {
    overlay_options o;
    o.ext.data_redirects = scope;
    return o;
}
const overlay_options kernel = with(data_redirect_scope::kernel);
const overlay_options scoped = with(data_redirect_scope::scoped);
const overlay_options strict = with(data_redirect_scope::strict);
} // namespace

#define OVL_FIXTURE(f)                                                                             \
  test::overlay_fixture<TestType> f;                                                               \
  if (!f.privileged()) return

TEST_CASE("2.3 extensions: parse_redirect is validate_redirect unless scoped on a lower metacopy",
          "[spec.2.3][scoped]") {
    using s = data_redirect_scope;
    CHECK(!parse_redirect("//d/f", s::kernel, true).has_value());
    CHECK(parse_redirect("//d/f", s::scoped, true)->form == redirect_form::data_only);
    CHECK(parse_redirect("//d/f", s::scoped, true)->path == "/d/f");
    CHECK(parse_redirect("//d/f", s::scoped, false).error() == einval); // dirs, upper metacopy
    for (const char* bad : {"//", "///d", "//d/", "//d//f", ""})
        CHECK(parse_redirect(bad, s::scoped, true).error() == einval);
    CHECK(parse_redirect("/d/f", s::scoped, true)->form == redirect_form::absolute);
    CHECK(parse_redirect("/d/f", s::strict, true)->form == redirect_form::data_only);
    CHECK(parse_redirect("/d/f", s::strict, false)->form == redirect_form::absolute);
    CHECK(parse_redirect("f", s::strict, true)->form == redirect_form::relative);
    CHECK(parse_data_redirect_scope("strict") == s::strict);
    CHECK(!parse_data_redirect_scope("Scoped").has_value());
    CHECK(extensions{} == extensions{s::kernel}); // the default is the kernel
}

TEMPLATE_TEST_CASE("12.16 scoped: '//d/f' skips B/d/f and takes C/d/f; the kernel refuses it",
                   "[spec.12][spec.5.3][scoped]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    add_metacopy(f.tree, "A/m", "//d/f");
    add_metacopy(f.tree, "A/k", "/d/f");
    f.tree.add_file("B/d/f", "B:d/f\n").add_file("C/d/f", "C:d/f\n");
    f.mount("lowerdir=A:B::C,metacopy=on", kernel);
    CHECK(f.lstat_error("/m") == einval); // spec §2.3, kept by default
    CHECK(f.content("/k") == "B:d/f\n");

    auto& ov = f.mount("lowerdir=A:B::C,metacopy=on", scoped);
    REQUIRE(f.lstat_error("/m") == ok);
    // No normal lower is consulted after the scoped redirect (docs/contributing.md §26: the trace
    // is the proof).
    CHECK(ov.trace().to_string() ==
          "layer L1 . m\n"
          "found L1 m reg\n"
          "metacopy L1 m 4\n"
          "scoped-redirect L1 m -> /d/f\n"
          "lazy-data . /d/f\n");
    CHECK(f.content("/m") == "C:d/f\n");
    CHECK(f.content("/k") == "B:d/f\n"); // '/x' keeps the kernel meaning under `scoped`
}

TEMPLATE_TEST_CASE("10 Q1 scoped: a dir B/d does not block '//d/f' (the kernel's '/d/f' is EIO)",
                   "[spec.10][scoped]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    add_metacopy(f.tree, "A/m", "//d/f");
    add_metacopy(f.tree, "A/k", "/d/f");
    f.tree.add_file("B/d/other", "o\n").add_file("C/d/f", "C:d/f\n");
    f.mount("lowerdir=A:B::C,metacopy=on", scoped);
    CHECK(f.content("/m") == "C:d/f\n");
    CHECK(f.lstat_error("/k") == eio);
}

TEMPLATE_TEST_CASE("6 scoped: lazy like the kernel's slot: stat makes no data lookup, open once",
                   "[spec.6][scoped][lazy]", memory_fs, posix_fs) {
    if (!test::overlay_fixture<TestType, true>::privileged()) return;
    test::overlay_fixture<TestType, true> f;
    add_metacopy(f.tree, "A/m", "//d/f");
    add_metacopy(f.tree, "A/gone", "//d/missing");
    f.tree.add_file("B/d/f", "B:d/f\n").add_file("C/d/f", "C:d/f\n");
    f.mount("lowerdir=A:B::C,metacopy=on", scoped);
    REQUIRE(f.lstat_error("/m") == ok);
    REQUIRE(f.lstat_error("/gone") == ok); // stat works with the data missing (§12 case 18)
    CHECK(f.spy.lookup_beneath_calls == 0);
    CHECK(f.content("/m") == "C:d/f\n");
    CHECK(f.content("/m") == "C:d/f\n");
    CHECK(f.spy.lookup_beneath_calls == 1); // success is cached (§6)
    CHECK(f.open_error("/gone") == enoent);
    CHECK(f.open_error("/gone") == enoent);
    CHECK(f.spy.lookup_beneath_calls == 3); // failure is not (§6)
}

TEMPLATE_TEST_CASE("2.3 scoped: '//' on an upper metacopy or on a dir stays EINVAL",
                   "[spec.2.3][scoped]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    add_metacopy(f.tree, "U/um", "//d/f");
    add_metacopy(f.tree, "U/m2", "");
    add_metacopy(f.tree, "A/m2", "//d/f");
    f.tree.add_dir("U/udir").set_xattr("U/udir", redirect, "//d");
    f.tree.add_dir("A/adir").set_xattr("A/adir", redirect, "//d").add_file("A/adir/x", "x");
    f.tree.add_file("B/d/f", "B:d/f\n").add_file("C/d/f", "C:d/f\n").add_dir("W");
    f.mount("lowerdir=A:B::C,upperdir=U,workdir=W,metacopy=on,redirect_dir=on", scoped);
    CHECK(f.lstat_error("/um") == einval);
    CHECK(f.lstat_error("/udir") == einval);
    CHECK(f.lstat_error("/adir") == einval);
    CHECK(f.content("/m2") == "C:d/f\n"); // upper metacopy -> lower scoped metacopy -> C
}

TEMPLATE_TEST_CASE("5.3 scoped: without data-only layers '//d/f' finds no data: EIO",
                   "[spec.5.3][scoped]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    add_metacopy(f.tree, "A/m", "//d/f");
    f.tree.add_file("B/d/f", "B:d/f\n");
    auto& ov = f.mount("lowerdir=A:B,metacopy=on", scoped);
    CHECK(f.lstat_error("/m") == eio);
    CHECK(ov.trace().to_string() ==
          "layer L1 . m\n"
          "found L1 m reg\n"
          "metacopy L1 m 4\n"
          "scoped-redirect L1 m -> /d/f\n"
          "no-data . EIO\n"
          "failed m EIO\n");
}

TEMPLATE_TEST_CASE(
    "5.3 scoped: needs neither metacopy=on nor redirect following (like lower->data)",
    "[spec.5.3][scoped]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    add_metacopy(f.tree, "A/m", "//d/f");
    add_metacopy(f.tree, "A/k", "/d/f");
    add_metacopy(f.tree, "U/um", "");
    add_metacopy(f.tree, "A/um", "//d/f");
    f.tree.add_file("B/d/f", "B:d/f\n").add_file("C/d/f", "C:d/f\n").add_dir("W");
    f.mount("lowerdir=A:B::C,redirect_dir=nofollow", scoped);
    CHECK(f.content("/m") == "C:d/f\n");
    CHECK(f.lstat_error("/k") == eperm); // the kernel's rule for '/d/f' in a middle layer
    // A metacopy above the scoped one still needs metacopy=on.
    auto& ov = f.mount("lowerdir=A:B::C,upperdir=U,workdir=W", scoped);
    CHECK(f.lstat_error("/um") == eperm);
    CHECK(ov.trace().to_string().find("refused . metacopy EPERM\n") != std::string::npos);
}

TEMPLATE_TEST_CASE("2.1 scoped: with userxattr the value comes from user.overlay.redirect",
                   "[spec.2.1][scoped]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("A/m", "", {.size = 6})
        .set_xattr("A/m", "user.overlay.metacopy", "")
        .set_xattr("A/m", "user.overlay.redirect", "//d/f");
    f.tree.add_file("A/t", "A:t\n").set_xattr("A/t", mc, "").set_xattr("A/t", redirect, "//d/f");
    f.tree.add_file("B/d/f", "B:d/f\n").add_file("C/d/f", "C:d/f\n");
    f.mount("lowerdir=A:B::C,userxattr", scoped);
    CHECK(f.content("/m") == "C:d/f\n");
    CHECK(f.content("/t") == "A:t\n"); // trusted.* is ignored under userxattr
}

TEMPLATE_TEST_CASE("10 Q1 strict: '/x' of a lower metacopy is read as '//x'; the upper keeps '/x'",
                   "[spec.10][scoped][strict]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    add_metacopy(f.tree, "A/m", "/d/f");
    add_metacopy(f.tree, "A/q", "/e/g");
    f.tree.add_file("B/d/f", "B:d/f\n").add_file("B/e/h", "h\n");
    f.tree.add_file("C/d/f", "C:d/f\n").add_file("C/e/g", "C:e/g\n");
    auto& ov = f.mount("lowerdir=A:B::C,metacopy=on", strict);
    CHECK(f.content("/m") == "C:d/f\n");
    CHECK(f.content("/q") == "C:e/g\n");
    CHECK(ov.trace().to_string().find("layer L2") == std::string::npos); // B never consulted

    test::overlay_fixture<TestType> g;
    add_metacopy(g.tree, "U/um", "/d/f");
    g.tree.add_whiteout("U/d")
        .add_file("A/d/f", "A:d/f\n")
        .add_file("C/d/f", "C:d/f\n")
        .add_dir("W");
    g.mount("lowerdir=A::C,upperdir=U,workdir=W,metacopy=on,redirect_dir=on", strict);
    CHECK(g.content("/um") == "A:d/f\n");
}

} // namespace scoped_redirect_test
