// SPDX-License-Identifier: MIT
// Tests of ovlcore/lookup.hpp through overlay<B>: the per-component lookup of spec §5 (single
// step, layer walk, stack search, redirects, metacopy, type interaction, errno catalogue) and the
// §12 edge cases about lookup. Every case runs on memory_fs and posix_fs
// (docs/contributing.md §20); expected values come from the spec.
#include <catch2/catch.hpp>

#include <string>

#include <ovlcore/backend/memory.hpp>
#include <ovlcore/backend/posix.hpp>
#include <ovlcore/lookup.hpp>

#include "support/overlay_fixture.hpp"
#include "support/spec_names.hpp"

using namespace ovlcore;

// The file's own namespace: these names stay out of the files compiled next to it
// (docs/contributing.md §18).
namespace lookup_test {
using ovlcore::test::spec_names::eacces;
using ovlcore::test::spec_names::einval;
using ovlcore::test::spec_names::eio;
using ovlcore::test::spec_names::enoent;
using ovlcore::test::spec_names::eperm;
using ovlcore::test::spec_names::mc;
using ovlcore::test::spec_names::ok;
using ovlcore::test::spec_names::opaque;
using ovlcore::test::spec_names::redirect;

#define OVL_FIXTURE(f)                                                                             \
  test::overlay_fixture<TestType> f;                                                               \
  if (!f.privileged()) return

TEMPLATE_TEST_CASE("5.3 lookup: names merge top-down, the first layer holding a name wins",
                   "[spec.5.3]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("A/f", "A:f\n").add_file("B/f", "B:f\n").add_file("B/onlyB", "B\n");
    f.tree.add_file("A/d/a", "a").add_file("B/d/b", "b");
    f.mount("lowerdir=A:B");
    CHECK(f.content("/f") == "A:f\n");
    CHECK(f.content("/onlyB") == "B\n");
    CHECK(f.content("/d/a") == "a");
    CHECK(f.content("/d/b") == "b");
    CHECK(f.lstat_error("/nothing") == enoent);
}

TEMPLATE_TEST_CASE("5.3 lookup: whiteout in upper hides every lower", "[spec.5.3][whiteout]",
                   memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_whiteout("U/f").add_whiteout("U/d").add_dir("W");
    f.tree.add_file("A/f", "A").add_file("B/f", "B").add_file("A/d/x", "x");
    f.mount("lowerdir=A:B,upperdir=U,workdir=W");
    CHECK(f.lstat_error("/f") == enoent);
    CHECK(f.lstat_error("/d") == enoent);
    CHECK(f.lstat_error("/d/x") == enoent);
}

TEMPLATE_TEST_CASE("3 lookup: an xwhiteout hides the name in any layer, upper included",
                   "[spec.3][spec.5.1][whiteout]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("U/f", "").set_xattr("U/f", "trusted.overlay.whiteout", "").add_dir("W");
    f.tree.add_file("A/g", "").set_xattr("A/g", "trusted.overlay.whiteout", "y");
    f.tree.add_file("A/big", "data").set_xattr("A/big", "trusted.overlay.whiteout", "");
    f.tree.add_file("B/f", "B").add_file("B/g", "B").add_file("B/big", "B");
    f.mount("lowerdir=A:B,upperdir=U,workdir=W");
    CHECK(f.lstat_error("/f") == enoent);
    CHECK(f.lstat_error("/g") == enoent); // parent without opaque=x: still a whiteout
    CHECK(f.content("/big") == "data");   // size != 0: an ordinary file
}

TEMPLATE_TEST_CASE("5.1 lookup: opaque=y stops the search below a dir", "[spec.5.1][opaque]",
                   memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_dir("A/d").set_xattr("A/d", opaque, "y").add_file("A/d/a", "a");
    f.tree.add_file("B/d/b", "b").add_file("B/d/s/x", "x");
    f.mount("lowerdir=A:B");
    CHECK(f.lstat_error("/d/a") == ok);
    CHECK(f.lstat_error("/d/b") == enoent);
    CHECK(f.names("/d") == std::vector<std::string>{"a"});
}

TEMPLATE_TEST_CASE("12.7 opaque: yes, Y, n and empty values do not make a dir opaque",
                   "[spec.12][spec.2.1][opaque]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    for (const char* v : {"yes", "Y", "n", ""}) {
        const std::string d = std::string("A/d_") + (*v ? v : "empty");
        f.tree.add_dir(d).set_xattr(d, opaque, v);
        f.tree.add_file("B/" + d.substr(2) + "/b", "b");
    }
    f.mount("lowerdir=A:B");
    for (const char* name : {"/d_yes/b", "/d_Y/b", "/d_n/b", "/d_empty/b"}) {
        INFO(name);
        CHECK(f.lstat_error(name) == ok);
    }
}

TEMPLATE_TEST_CASE("12.8 opaque: opaque=y on a layer root directory has no effect",
                   "[spec.12][opaque]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_dir("A").set_xattr("A", opaque, "y").add_file("A/a", "a").add_file("B/b", "b");
    f.mount("lowerdir=A:B");
    CHECK(f.lstat_error("/b") == ok);
}

TEMPLATE_TEST_CASE("5.5 lookup: a dir over a file is not merged and stops the search", "[spec.5.5]",
                   memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("A/x/a", "a").add_file("B/x", "file").add_file("C/x/c", "c");
    f.mount("lowerdir=A:B:C");
    const auto st = f.ov->lstat("/x");
    REQUIRE(st);
    CHECK(st->type == file_type::directory);
    CHECK(f.lstat_error("/x/c") == enoent); // a dir further below is not merged
    CHECK(f.names("/x") == std::vector<std::string>{"a"});
}

TEMPLATE_TEST_CASE("5.5 lookup: a non-metacopy file, symlink or device over anything is alone",
                   "[spec.5.5]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("A/f", "A").add_dir("B/f").add_file("B/f/x", "x");
    f.tree.add_symlink("A/l", "target").add_file("B/l", "B");
    f.tree.add_fifo("A/p").add_dir("B/p");
    f.mount("lowerdir=A:B");
    CHECK(f.ov->lstat("/f")->type == file_type::regular);
    CHECK(f.lstat_error("/f/x") == std::errc::not_a_directory);
    CHECK(f.ov->lstat("/l")->type == file_type::symlink);
    CHECK(f.ov->read_link("/l").value() == "target");
    CHECK(f.ov->lstat("/p")->type == file_type::fifo);
}

TEMPLATE_TEST_CASE("5.4 lookup: a relative redirect renames within the same parent",
                   "[spec.5.4][redirect]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_whiteout("A/old").add_dir("A/new").set_xattr("A/new", redirect, "old");
    f.tree.add_file("A/new/a", "a").add_file("B/old/f", "f").add_file("B/new/g", "g");
    f.mount("lowerdir=A:B,redirect_dir=follow");
    CHECK(f.lstat_error("/new/a") == ok);
    CHECK(f.content("/new/f") == "f");
    CHECK(f.lstat_error("/new/g") == enoent); // the redirect replaced the name
    CHECK(f.lstat_error("/old") == enoent);
}

TEMPLATE_TEST_CASE("5.4 lookup: an absolute redirect restarts from the lower layer roots",
                   "[spec.5.4][redirect]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_dir("A/x/y").set_xattr("A/x/y", redirect, "/p/q").add_file("A/x/y/a", "a");
    f.tree.add_file("B/p/q/h", "h").add_file("B/x/y/k", "k");
    f.mount("lowerdir=A:B"); // lower-only: redirect_dir=on (spec §1.4 step 4)
    CHECK(f.content("/x/y/h") == "h");
    CHECK(f.lstat_error("/x/y/k") == enoent);
    CHECK(f.content("/p/q/h") == "h");
}

TEMPLATE_TEST_CASE("5.4 lookup: an upper redirect continues below at the root stack",
                   "[spec.5.4][redirect]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_dir("U/r").set_xattr("U/r", redirect, "/deep/orig").add_file("U/r/u", "u");
    f.tree.add_dir("W").add_file("A/deep/orig/o", "o");
    f.mount("lowerdir=A,upperdir=U,workdir=W,redirect_dir=on");
    CHECK(f.content("/r/o") == "o");
    CHECK(f.content("/r/u") == "u");
}

TEMPLATE_TEST_CASE(
    "5.4 lookup: a redirect whose target is missing or not a dir yields the dir alone",
    "[spec.5.4][redirect]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_dir("A/r1").set_xattr("A/r1", redirect, "/missing").add_file("A/r1/a", "a");
    f.tree.add_dir("A/r2").set_xattr("A/r2", redirect, "/file").add_file("A/r2/a", "a");
    f.tree.add_file("B/file", "f").add_file("B/r1/b", "b");
    f.mount("lowerdir=A:B");
    CHECK(f.names("/r1") == std::vector<std::string>{"a"});
    CHECK(f.names("/r2") == std::vector<std::string>{"a"});
}

TEMPLATE_TEST_CASE("12.12 redirect: nofollow refuses an upper dir redirect before looking below",
                   "[spec.12][spec.5.4][redirect]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_dir("U/d").set_xattr("U/d", redirect, "/missing").add_dir("W").add_file("A/a", "a");
    f.tree.add_dir("U/pure").add_dir("U/pure/e").set_xattr("U/pure/e", redirect, "/x");
    f.mount("lowerdir=A,upperdir=U,workdir=W,redirect_dir=nofollow");
    CHECK(f.lstat_error("/d") == eperm);
    CHECK(f.lstat_error("/pure/e") == ok); // parent is pure upper: the redirect is ignored
}

TEMPLATE_TEST_CASE("5.4 redirect: nofollow refuses a lower dir redirect unless in the last layer",
                   "[spec.5.4][redirect]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_dir("A/d").set_xattr("A/d", redirect, "/x").add_file("B/x/f", "f");
    f.tree.add_dir("B/last").set_xattr("B/last", redirect, "/x").add_file("B/last/g", "g");
    f.tree.add_dir("U").add_dir("W");
    f.mount("lowerdir=A:B,upperdir=U,workdir=W,redirect_dir=nofollow");
    CHECK(f.lstat_error("/d") == eperm);
    CHECK(f.lstat_error("/last/g") == ok);
}

TEMPLATE_TEST_CASE("12.11 redirect: invalid values give EINVAL, . and .. components EACCES",
                   "[spec.12][spec.2.3][redirect]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    const std::pair<const char*, const char*> cases[] = {
        {"empty", ""},  {"dslash", "//data"}, {"root", "/"},      {"trail", "/a/"},
        {"rel", "a/b"}, {"dot", "/./a"},      {"dotdot", "/../a"}};
    for (const auto& [name, value] : cases) {
        const std::string d = std::string("A/") + name;
        f.tree.add_dir(d).set_xattr(d, redirect, value);
    }
    f.tree.add_file("B/a", "a").add_dir("B/x");
    f.mount("lowerdir=A:B");
    CHECK(f.lstat_error("/empty") == einval);
    CHECK(f.lstat_error("/dslash") == einval);
    CHECK(f.lstat_error("/root") == einval);
    CHECK(f.lstat_error("/trail") == einval);
    CHECK(f.lstat_error("/rel") == einval);
    CHECK(f.lstat_error("/dot") == eacces);
    CHECK(f.lstat_error("/dotdot") == eacces);
}

TEMPLATE_TEST_CASE(
    "12.13 redirect: an invalid redirect in the bottom layer is ignored without data layers",
    "[spec.12][spec.5.3][redirect]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("A/a", "a").add_dir("B/d").set_xattr("B/d", redirect, "//bad");
    f.tree.add_dir("B/v").set_xattr("B/v", redirect, "/a").add_file("C/data", "c");
    SECTION("no data-only layers: not read at all") {
        f.mount("lowerdir=A:B");
        CHECK(f.lstat_error("/d") == ok);
    }
    SECTION("with data-only layers: EINVAL") {
        f.mount("lowerdir=A:B::C");
        CHECK(f.lstat_error("/d") == einval);
    }
    SECTION("with data-only layers and nofollow, a valid one: EPERM") {
        f.tree.add_dir("U").add_dir("W");
        f.mount("lowerdir=A:B::C,upperdir=U,workdir=W,redirect_dir=nofollow");
        CHECK(f.lstat_error("/v") == eperm);
    }
}

TEMPLATE_TEST_CASE("5.4 redirect: ignored on an opaque dir and on a non-metacopy file",
                   "[spec.5.4][redirect]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_dir("A/o").set_xattr("A/o", opaque, "y").set_xattr("A/o", redirect, "/x");
    f.tree.add_file("A/f", "A:f").set_xattr("A/f", redirect, "/x/g");
    f.tree.add_file("B/x/g", "g").add_file("B/o/b", "b");
    f.mount("lowerdir=A:B");
    CHECK(f.names("/o").empty());
    CHECK(f.content("/f") == "A:f");
}

TEMPLATE_TEST_CASE("5.5 metacopy: metadata from the metacopy file, data from the file below",
                   "[spec.5.5][metacopy]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("A/f", "", {.mode = 0600, .uid = 1000, .gid = 100, .size = 5});
    f.tree.set_xattr("A/f", mc, "");
    f.tree.add_file("B/f", "hello world\n", {.mode = 0755, .uid = 7});
    f.mount("lowerdir=A:B,metacopy=on");
    const auto st = f.ov->lstat("/f");
    REQUIRE(st);
    CHECK(st->mode == 0600);
    CHECK(st->uid == 1000);
    CHECK(st->gid == 100);
    CHECK(st->size == 5);
    CHECK(f.content("/f") == "hello world\n");
}

TEMPLATE_TEST_CASE("5.5 metacopy: a metacopy chain continues to the first regular file",
                   "[spec.5.5][metacopy]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("A/f", "", {.size = 3}).set_xattr("A/f", mc, "");
    f.tree.add_file("B/f", "", {.size = 3}).set_xattr("B/f", mc, "");
    f.tree.add_file("C/f", "C:f");
    f.mount("lowerdir=A:B:C,metacopy=on");
    CHECK(f.content("/f") == "C:f");
}

TEMPLATE_TEST_CASE("5.5 metacopy: over a dir, symlink, device, whiteout or nothing: EIO",
                   "[spec.5.5][metacopy]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    for (const char* n : {"dir", "lnk", "chr", "wh", "none"})
        f.tree.add_file(std::string("A/") + n, "", {.size = 1})
            .set_xattr(std::string("A/") + n, mc, "");
    f.tree.add_dir("B/dir").add_symlink("B/lnk", "x").add_whiteout("B/wh");
    f.tree.add_device("B/chr", file_type::char_device, 1, 3);
    f.mount("lowerdir=A:B,metacopy=on");
    for (const char* n : {"/dir", "/lnk", "/chr", "/wh", "/none"}) {
        INFO(n);
        CHECK(f.lstat_error(n) == eio);
    }
}

TEMPLATE_TEST_CASE("5.4 metacopy: an absolute redirect takes data from the redirect target",
                   "[spec.5.4][metacopy][redirect]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("A/f", "", {.size = 5})
        .set_xattr("A/f", mc, "")
        .set_xattr("A/f", redirect, "/x/g");
    f.tree.add_file("B/f", "B:f\n").add_file("B/x/g", "B:x/g\n");
    f.mount("lowerdir=A:B,metacopy=on");
    CHECK(f.content("/f") == "B:x/g\n");
    CHECK(f.ov->lstat("/f")->size == 5);
}

TEMPLATE_TEST_CASE(
    "12.14 metacopy: an upper metacopy with metacopy=off is EPERM even with no lower",
    "[spec.12][spec.5.3][metacopy]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("U/m", "", {.size = 4}).set_xattr("U/m", mc, "").add_dir("W");
    f.tree.add_file("U/withlower", "", {.size = 4}).set_xattr("U/withlower", mc, "");
    f.tree.add_file("A/withlower", "data").add_file("A/a", "a");
    SECTION("metacopy=off") {
        f.mount("lowerdir=A,upperdir=U,workdir=W");
        CHECK(f.lstat_error("/m") == eperm);
        CHECK(f.lstat_error("/withlower") == eperm);
    }
    SECTION("metacopy=on: no data below is EIO") {
        f.mount("lowerdir=A,upperdir=U,workdir=W,metacopy=on");
        CHECK(f.lstat_error("/m") == eio);
        CHECK(f.content("/withlower") == "data");
    }
}

TEMPLATE_TEST_CASE("12.15 metacopy: a metacopy xattr of 1 to 3 bytes is EIO even with metacopy=off",
                   "[spec.12][spec.2.2][metacopy]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("A/s1", "x").set_xattr("A/s1", mc, "a");
    f.tree.add_file("A/s3", "x").set_xattr("A/s3", mc, "abc");
    f.tree.add_file("A/a", "a").add_file("B/b", "b");
    f.mount("lowerdir=A:B");
    CHECK(f.lstat_error("/s1") == eio);
    CHECK(f.lstat_error("/s3") == eio);
}

TEMPLATE_TEST_CASE("5.3 metacopy: with metacopy=off a lower metacopy above a normal lower is EPERM",
                   "[spec.5.3][metacopy]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("A/f", "", {.size = 4}).set_xattr("A/f", mc, "").add_file("B/f", "data");
    f.mount("lowerdir=A:B");
    CHECK(f.lstat_error("/f") == eperm);
}

TEMPLATE_TEST_CASE("12.16 data-only: B's regular file wins; B's dir without the file is EIO (Q1)",
                   "[spec.12][spec.10][spec.5.3][dataonly]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("A/m", "", {.size = 3})
        .set_xattr("A/m", mc, "")
        .set_xattr("A/m", redirect, "/d/f");
    f.tree.add_file("C/d/f", "C:d/f");
    SECTION("B has d/f") {
        f.tree.add_file("B/d/f", "B:d/f");
        f.mount("lowerdir=A:B::C,metacopy=on");
        CHECK(f.content("/m") == "B:d/f");
    }
    SECTION("B has d/ but no f: C is not consulted") {
        f.tree.add_dir("B/d");
        f.mount("lowerdir=A:B::C,metacopy=on");
        CHECK(f.lstat_error("/m") == eio);
    }
    SECTION("B has no d: C is used") {
        f.tree.add_file("B/other", "o");
        f.mount("lowerdir=A:B::C,metacopy=on");
        CHECK(f.content("/m") == "C:d/f");
    }
}

TEMPLATE_TEST_CASE(
    "12.17 data-only: lower->data needs no metacopy=on, but only from the bottom layer",
    "[spec.12][spec.5.3][dataonly][metacopy]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("A/m", "", {.size = 3})
        .set_xattr("A/m", mc, "")
        .set_xattr("A/m", redirect, "/data");
    f.tree.add_file("C/data", "C:data").add_file("B/b", "b");
    SECTION("lowerdir=A::C") {
        f.mount("lowerdir=A::C");
        CHECK(f.content("/m") == "C:data");
    }
    SECTION("lowerdir=A:B::C") {
        f.mount("lowerdir=A:B::C");
        CHECK(f.lstat_error("/m") == eperm);
    }
}

TEMPLATE_TEST_CASE("12.2 lookup: an upperdir inside a lower layer fails with ELOOP",
                   "[spec.12][spec.5.6]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("A/sub/x", "x").add_file("A/a", "a").add_dir("W");
    f.mount("lowerdir=A,upperdir=A/sub,workdir=W");
    CHECK(f.lstat_error("/sub") == std::errc::too_many_symbolic_link_levels);
    CHECK(f.lstat_error("/a") == ok);
}

TEMPLATE_TEST_CASE("5.6 lookup: a name longer than every layer's name_max is ENAMETOOLONG",
                   "[spec.5.6][spec.1.5]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("A/a", "a").add_file("B/b", "b");
    auto& ov = f.mount("lowerdir=A:B");
    const std::string long_name(ov.stack().name_max() + 1, 'n');
    CHECK(f.lstat_error("/" + long_name) == std::errc::filename_too_long);
    CHECK(ov.trace().events().back().kind == trace_kind::lookup_failed);
    CHECK(ov.trace().events().size() == 1); // no layer consulted
}

TEMPLATE_TEST_CASE("5.6 lookup: below a non-directory is ENOTDIR", "[spec.5.6]", memory_fs,
                   posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("A/f", "f").add_file("B/b", "b");
    f.mount("lowerdir=A:B");
    CHECK(f.lstat_error("/f/x") == std::errc::not_a_directory);
}

TEST_CASE("5.1 lookup: a weird object (not a POSIX type) in a layer is EREMOTE",
          "[spec.5.1][spec.5.6]") {
    test::overlay_fixture<memory_fs, true> f;
    f.tree.add_file("A/auto", "x").add_file("A/a", "a").add_file("B/b", "b");
    f.spy.weird.insert("auto");
    f.mount("lowerdir=A:B");
    CHECK(f.lstat_error("/auto") == errc_remote);
    CHECK(f.lstat_error("/a") == std::errc{});
}

TEMPLATE_TEST_CASE("5.3 trace: the resolution path of a metacopy with an absolute redirect",
                   "[spec.5.3][trace]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("A/f", "", {.size = 5})
        .set_xattr("A/f", mc, "")
        .set_xattr("A/f", redirect, "/x/g");
    f.tree.add_file("B/x/g", "g").add_whiteout("A/w").add_file("B/w", "w");
    auto& ov = f.mount("lowerdir=A:B,metacopy=on");
    REQUIRE(f.lstat_error("/f") == ok);
    CHECK(ov.trace().to_string() ==
          "layer L1 . f\n"
          "found L1 f reg\n"
          "metacopy L1 f 4\n"
          "redirect L1 f -> /x/g\n"
          "layer L2 . /x/g\n"
          "found L2 x dir\n"
          "found L2 x/g reg\n");
    ov.trace().clear();
    CHECK(f.lstat_error("/w") == enoent);
    CHECK(ov.trace().to_string() == "layer L1 . w\nwhiteout L1 w\nfailed w ENOENT\n");
}

} // namespace lookup_test
