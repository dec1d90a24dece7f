// SPDX-License-Identifier: MIT
// Tests of ovlcore/overlay.hpp: the path API, open/read, provenance, the node API, the object
// cache (thread safety, inode identity: spec §10 Q2 / §12 case 24).
#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <ovlcore/backend/memory.hpp>
#include <ovlcore/backend/posix.hpp>
#include <ovlcore/dump.hpp>
#include <ovlcore/overlay.hpp>

#include "support/overlay_fixture.hpp"

using namespace ovlcore;

#define OVL_FIXTURE(f)                                                                             \
  test::overlay_fixture<TestType> f;                                                               \
  if (!f.privileged()) return

static_assert(tree_view<overlay<memory_fs>>, "overlay<B> is a tree view for dump.hpp");
static_assert(backing_filesystem<test::spy_fs<memory_fs>>);
static_assert(sizeof(overlay<memory_fs, null_trace>) < sizeof(overlay<memory_fs, recording_trace>),
              "null_trace takes no space");

TEMPLATE_TEST_CASE("overlay: path syntax: empty is ENOENT, below a file ENOTDIR, . and .. walk",
                   "[overlay][path]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("A/d/f", "f").add_file("B/b", "b");
    f.mount("lowerdir=A:B");
    CHECK(f.lstat_error("") == std::errc::no_such_file_or_directory);
    CHECK(f.lstat_error("/d/f/x") == std::errc::not_a_directory);
    CHECK(f.lstat_error("/d/f/") == std::errc::not_a_directory);
    CHECK(f.lstat_error("/d/") == std::errc{});
    CHECK(f.lstat_error("//d//f") == std::errc{});
    CHECK(f.content("/d/./f") == "f");
    CHECK(f.content("/d/../b") == "b");
    CHECK(f.content("/../b") == "b");
    CHECK(f.ov->lstat("/")->type == file_type::directory);
}

TEMPLATE_TEST_CASE(
    "overlay: path syntax: a symlink before the last component is ELOOP, never followed",
    "[overlay][path]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("A/d/f", "f").add_symlink("A/lnk", "d").add_file("B/b", "b");
    f.mount("lowerdir=A:B");
    CHECK(f.ov->lstat("/lnk")->type == file_type::symlink);
    CHECK(f.lstat_error("/lnk/f") == std::errc::too_many_symbolic_link_levels);
    CHECK(f.lstat_error("/lnk/") == std::errc::too_many_symbolic_link_levels);
    CHECK(f.lstat_error("/lnk/x/y") == std::errc::too_many_symbolic_link_levels);
    CHECK(f.lstat_error("/d/f/x") == std::errc::not_a_directory); // a file stays ENOTDIR
    const auto lnk = f.ov->resolve("/lnk").value();
    CHECK(f.ov->lookup(lnk, "f").error() == std::errc::not_a_directory); // node API: ENOTDIR
}

TEMPLATE_TEST_CASE("overlay: open: EISDIR for dirs, ELOOP for symlinks, ENXIO for devices",
                   "[overlay][open]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_dir("A/d").add_symlink("A/l", "d").add_fifo("A/p").add_file("B/b", "b");
    f.mount("lowerdir=A:B");
    CHECK(f.open_error("/d") == std::errc::is_a_directory);
    CHECK(f.open_error("/l") == std::errc::too_many_symbolic_link_levels);
    CHECK(f.open_error("/p") == std::errc::no_such_device_or_address);
    CHECK(f.ov->read_link("/b").error() == std::errc::invalid_argument);
}

TEMPLATE_TEST_CASE("6 overlay: reads of a metacopy return the data file's bytes up to its end",
                   "[overlay][spec.6][metacopy]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("A/meta", "", {.size = 100})
        .set_xattr("A/meta", "trusted.overlay.metacopy", "");
    f.tree.set_xattr("A/meta", "trusted.overlay.redirect", "/data").add_file("C/data", "C:data\n");
    f.mount("lowerdir=A::C,metacopy=on");
    auto file = f.ov->open("/meta");
    REQUIRE(file);
    CHECK(file->size() == 100);
    char buf[4];
    CHECK(f.ov->read(*file, 0, buf).value() == 4);
    CHECK(std::string(buf, 4) == "C:da");
    CHECK(f.ov->read(*file, 4, buf).value() == 3);
    CHECK(f.ov->read(*file, 7, buf).value() == 0);
}

TEMPLATE_TEST_CASE("overlay: which_layers reports provenance without resolving lazy data",
                   "[overlay][spec.6][provenance]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("U/u", "u").add_dir("W").add_file("A/d/a", "a").add_dir("U/d");
    f.tree.add_file("A/m", "", {.size = 3}).set_xattr("A/m", "trusted.overlay.metacopy", "");
    f.tree.set_xattr("A/m", "trusted.overlay.redirect", "/data").add_file("C/data", "d");
    f.mount("lowerdir=A::C,upperdir=U,workdir=W,metacopy=on");
    const auto u = f.ov->which_layers("/u").value();
    CHECK(u.metadata_layer == 0);
    CHECK(u.data_layer == 0);
    const auto d = f.ov->which_layers("/d").value();
    CHECK(d.dir_layers == std::vector<std::size_t>{0, 1});
    const auto before = f.ov->which_layers("/m").value();
    CHECK(before.metadata_layer == 1);
    CHECK(before.metacopy);
    CHECK_FALSE(before.data_layer.has_value());
    CHECK(before.pending_lowerdata == "/data");
    REQUIRE(f.open_error("/m") == std::errc{});
    const auto after = f.ov->which_layers("/m").value();
    CHECK(after.data_layer == 2);
    CHECK_FALSE(after.pending_lowerdata.has_value());
}

TEMPLATE_TEST_CASE("overlay: node API: handles are opaque, the overlay answers for them",
                   "[overlay][node]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("A/d/f", "upper f")
        .add_symlink("A/lnk", "d")
        .add_file("B/d/g", "g")
        .add_dir("B/e");
    auto& ov = f.mount("lowerdir=A:B");
    const auto root = ov.root().value();
    const auto d = ov.resolve("/d").value();
    const auto g = ov.resolve("/d/g").value();
    const auto lnk = ov.resolve("/lnk").value();
    const auto e = ov.resolve("/e").value();
    CHECK(ov.is_root(root));
    CHECK_FALSE(ov.is_root(d));
    CHECK(ov.parent(root) == root); // as ".." of the root
    CHECK(ov.parent(d) == root);
    CHECK(ov.parent(g) == d);
    CHECK(ov.is_dir(root));
    CHECK(ov.is_dir(d));
    CHECK(ov.is_dir(e));
    CHECK_FALSE(ov.is_dir(g));
    CHECK_FALSE(ov.is_dir(lnk));
    CHECK(ov.type(d) == file_type::directory);
    CHECK(ov.type(g) == file_type::regular);
    CHECK(ov.type(lnk) == file_type::symlink);
    // entry(): the lookup result, here a dir merged from both layers and a file from layer 2.
    CHECK(ov.entry(d).is_dir);
    CHECK(ov.entry(d).lowers.size() == 2);
    CHECK_FALSE(ov.entry(d).upper.has_value());
    CHECK(ov.entry(g).real().index == 2);
    CHECK(ov.entry(e).real().index == 2);
    // The accessors agree with the stat and provenance answers.
    CHECK(ov.stat(g)->type == ov.type(g));
    CHECK(ov.which_layers(d).dir_layers == std::vector<std::size_t>{1, 2});
}

TEMPLATE_TEST_CASE("overlay: node API: lookups are cached and handles stay stable",
                   "[overlay][node]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("A/d/f", "f").add_file("B/d/g", "g");
    auto& ov = f.mount("lowerdir=A:B");
    const auto root = ov.root().value();
    const auto d = ov.lookup(root, "d").value();
    CHECK(ov.lookup(root, "d").value() == d);
    CHECK(ov.resolve("/d").value() == d);
    CHECK(ov.lookup(d, "..").value() == root);
    CHECK(ov.lookup(d, ".").value() == d);
    const auto g = ov.lookup(d, "g").value();
    CHECK(ov.stat(g)->type == file_type::regular);
    CHECK(ov.lookup(g, "x").error() == std::errc::not_a_directory);
    CHECK(ov.lookup(d, "missing").error() == std::errc::no_such_file_or_directory);
    std::vector<std::string> listed;
    const auto listing = ov.read_dir(d);
    for (const auto& e : listing.value()) listed.push_back(e.name);
    std::sort(listed.begin(), listed.end());
    CHECK(listed == std::vector<std::string>{"f", "g"});
    const auto events = ov.trace().events().size();
    CHECK(ov.lookup(d, "missing").error() == std::errc::no_such_file_or_directory);
    CHECK(ov.trace().events().size() == events); // negative answers are cached too
}

TEST_CASE("overlay: concurrent walks of one overlay agree with a sequential walk",
          "[overlay][threads][concurrency]") {
    test::overlay_fixture<memory_fs> f;
    for (int i = 0; i < 20; ++i) {
        const std::string n = std::to_string(i);
        f.tree.add_file("A/d" + n + "/a", "A" + n).add_file("B/d" + n + "/b", "B" + n);
        f.tree.add_whiteout("A/d" + n + "/w").add_file("B/d" + n + "/w", "hidden");
    }
    auto& ov = f.mount("lowerdir=A:B");
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 20; ++i) {
                const std::string d = "/d" + std::to_string((i + t) % 20);
                if (ov.read_dir(d).value().size() != 2) ++failures;
                if (!ov.lstat(d + "/a") || !ov.lstat(d + "/b")) ++failures;
                if (ov.lstat(d + "/w")) ++failures;
            }
        });
    for (auto& th : threads) th.join();
    CHECK(failures == 0);
    CHECK(dump_records(ov).size() == 1 + 20 * 3);
}

TEMPLATE_TEST_CASE("12.24 overlay: two names for one lower dir cannot coexist (ESTALE, Q2)",
                   "[spec.12][spec.10][overlay]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_dir("U/r1").set_xattr("U/r1", "trusted.overlay.redirect", "/orig");
    f.tree.add_dir("U/r2").set_xattr("U/r2", "trusted.overlay.redirect", "/orig");
    f.tree.add_dir("W").add_file("A/orig/o", "o");
    f.mount("lowerdir=A,upperdir=U,workdir=W,redirect_dir=on");
    SECTION("a second redirect to the same lower dir") {
        CHECK(f.lstat_error("/r1") == std::errc{});
        CHECK(f.lstat_error("/r2") == errc_stale);
        CHECK(f.lstat_error("/r1/o") == std::errc{}); // the first stays
    }
    SECTION("the still visible origin after a redirect") {
        CHECK(f.lstat_error("/r1") == std::errc{});
        CHECK(f.lstat_error("/orig") == errc_stale);
    }
    SECTION("a redirect after the origin") {
        CHECK(f.lstat_error("/orig") == std::errc{});
        CHECK(f.lstat_error("/r2") == errc_stale);
    }
}

TEMPLATE_TEST_CASE(
    "10 Q2 overlay: a lower file looked up after an upper metacopy of it is that inode",
    "[spec.10][overlay][metacopy]", memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    f.tree.add_file("U/m", "", {.mode = 0600, .size = 4})
        .set_xattr("U/m", "trusted.overlay.metacopy", "");
    f.tree.set_xattr("U/m", "trusted.overlay.redirect", "/dat").add_dir("W");
    f.tree.add_file("A/dat", "data", {.mode = 0755});
    f.mount("lowerdir=A,upperdir=U,workdir=W,metacopy=on");
    CHECK(f.ov->lstat("/m")->mode == 0600);
    CHECK(f.ov->lstat("/dat")->mode == 0600); // shares the upper metacopy's inode
    CHECK(f.content("/dat") == "data");
}
