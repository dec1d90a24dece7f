// SPDX-License-Identifier: MIT
// Tests of include/ovlcore/layer_stack.hpp: per-path checks (spec §1.3), resolution (§1.4) and
// superblock checks (§1.5) through a backend, in the kernel's order. Expected values from the spec
// (and §12 edge cases); tests/kernel/options_differential.cpp compares with mount(2) itself.
#include <catch2/catch.hpp>

#include <ovlcore/backend/memory.hpp>
#include <ovlcore/backend/posix.hpp>
#include <ovlcore/layer_stack.hpp>

#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <type_traits>
#include <vector>

#include "support/spec_names.hpp"
#include "support/string_makers.hpp"

using namespace ovlcore;

// The file's own namespace: these names stay out of the files compiled next to it
// (docs/contributing.md §18).
namespace layer_stack_test {
using ovlcore::test::spec_names::einval;
using ovlcore::test::spec_names::eloop;
using ovlcore::test::spec_names::enoent;

namespace {

// /r holds the layers; relative option paths resolve against /r.
memory_fs make_fs() {
    memory_fs fs;
    fs.add_dir("/r/A/sub/deep")
        .add_dir("/r/B")
        .add_dir("/r/C")
        .add_dir("/r/D")
        .add_dir("/r/U/sub")
        .add_dir("/r/W/sub")
        .add_dir("/r/a:x")
        .add_dir("/r/b,y")
        .add_dir("/r/c\\z")
        .add_file("/r/F", "file\n")
        .add_symlink("/r/LA", "A")
        .add_symlink("/r/dang", "missing")
        .add_dir("/r/ro/rU")
        .add_dir("/r/ro/rW")
        .add_mount("/r/ro", memory_fs::mount_attrs{true, 0xEF53, 255})
        .add_dir("/r/ovl/d")
        .add_mount("/r/ovl", memory_fs::mount_attrs{false, overlayfs_super_magic, 255})
        .add_dir("/r/tm/U")
        .add_dir("/r/tm/W")
        .add_mount("/r/tm", memory_fs::mount_attrs{false, 0x01021994, 255})
        .add_dir("/r/long")
        .add_mount("/r/long", memory_fs::mount_attrs{false, 0xEF53, 1024})
        .set_cwd("/r");
    return fs;
}

struct outcome {
    std::errc code{};
    std::string message;
    std::vector<std::string> notes; ///< of the refusal
};

outcome mount(std::string_view options, const module_defaults& defaults = {}) {
    const memory_fs fs = make_fs();
    auto s = make_layer_stack(fs, options, defaults);
    if (s) return {};
    return {.code = s.error().code, .message = s.error().message, .notes = s.error().notes};
}

bool accepted(std::string_view options) { return mount(options).code == std::errc{}; }

} // namespace

// ---------------------------------------------------------------------------------------------
// §0 layer roles
// ---------------------------------------------------------------------------------------------

TEST_CASE("0 layer stack: upper, normal lowers top to bottom, data-only lowers",
          "[spec.0][layer_stack]") {
    const memory_fs fs = make_fs();
    auto s = make_layer_stack(fs, "lowerdir=A:B::C::D,upperdir=U,workdir=W");
    REQUIRE(s);
    REQUIRE(s->upper() != nullptr);
    CHECK(s->upper()->kind == layer_kind::upper);
    CHECK(s->upper()->path == "U");
    REQUIRE(s->lowers().size() == 2);
    CHECK(s->lowers()[0].path == "A");
    CHECK(s->lowers()[1].path == "B");
    CHECK(s->lowers()[0].kind == layer_kind::lower);
    REQUIRE(s->data_layers().size() == 2);
    CHECK(s->data_layers()[0].path == "C");
    CHECK(s->data_layers()[1].kind == layer_kind::data_only);
    CHECK(s->workdir() == std::optional<std::string>("W"));
    auto a = fs.resolve_dir("/r/A");
    REQUIRE(a);
    CHECK(s->lowers()[0].id == file_id_of(a->st));
    CHECK(s->describe().find("data-only 4: D") != std::string::npos);
}

TEST_CASE("0 layer stack: lowerdir+ and datadir+ build the same roles",
          "[spec.0][spec.1.2][layer_stack]") {
    const memory_fs fs = make_fs();
    auto s = make_layer_stack(fs, "lowerdir+=A,lowerdir+=B,datadir+=C");
    REQUIRE(s);
    CHECK(s->upper() == nullptr);
    CHECK(s->lowers().size() == 2);
    CHECK(s->data_layers().size() == 1);
    CHECK(s->lowers()[0].option == layer_option::lowerdir_add);
}

TEST_CASE("1.2 layer stack: escaped names resolve to directories with ':' ',' '\\'",
          "[spec.1.2][layer_stack]") {
    const memory_fs fs = make_fs();
    auto s = make_layer_stack(fs, "lowerdir=a\\:x:b\\,y:c\\\\z");
    REQUIRE(s);
    CHECK(s->lowers()[0].path == "a:x");
    CHECK(s->lowers()[1].path == "b,y");
    CHECK(s->lowers()[2].path == "c\\z");
    CHECK(s->lowers()[1].name == "b\\,y");
    CHECK(accepted("lowerdir+=a:x,lowerdir+=B"));
    CHECK(mount("lowerdir+=a\\:x,lowerdir+=B").code == enoent); // §12.4
}

// ---------------------------------------------------------------------------------------------
// §1.3 per-path checks
// ---------------------------------------------------------------------------------------------

TEST_CASE("1.3 path: a missing path fails with the resolve errno", "[spec.1.3][layer_stack]") {
    auto o = mount("lowerdir=A:missing");
    CHECK(o.code == enoent);
    CHECK(o.message == "overlayfs: failed to resolve 'missing': -2");
    CHECK(mount("lowerdir=A:dang").code == enoent);
    CHECK(mount("lowerdir=A:F/x").code == std::errc::not_a_directory);
}

TEST_CASE("1.3 path: a non-directory is rejected", "[spec.1.3][layer_stack]") {
    auto o = mount("lowerdir=A:F");
    CHECK(o.code == einval);
    CHECK(o.message == "overlay: F is not a directory");
    CHECK(mount("lowerdir=A:B,upperdir=F,workdir=W").message == "overlay: F is not a directory");
}

TEST_CASE("1.3 path: upper or work on a read-only mount is rejected", "[spec.1.3][layer_stack]") {
    auto o = mount("lowerdir=A:B,upperdir=ro/rU,workdir=ro/rW");
    CHECK(o.code == einval);
    CHECK(o.message == "overlay: filesystem on ro/rU is read-only");
    // Even a useless workdir (no upper) is checked when parsed.
    CHECK(mount("lowerdir=A:B,workdir=ro/rW").message ==
          "overlay: filesystem on ro/rW is read-only");
    // A read-only lower is fine.
    CHECK(accepted("lowerdir=ro/rU:A"));
}

TEST_CASE("1.3 path: upper or work on an overlay is rejected", "[spec.1.3][layer_stack]") {
    CHECK(mount("lowerdir=A:B,upperdir=ovl/d,workdir=W").message ==
          "overlay: filesystem on ovl/d not supported as upperdir");
    CHECK(mount("lowerdir=A:B,upperdir=U,workdir=ovl/d").code == einval);
    CHECK(accepted("lowerdir=ovl/d:A"));
}

TEST_CASE("1.3 path: paths of overridden options are still resolved",
          "[spec.1.3][spec.1.1][layer_stack]") {
    CHECK(mount("lowerdir=missing:A,lowerdir=A:B").code == enoent);
    CHECK(mount("workdir=missing,lowerdir=A:B").code == enoent);
    CHECK(mount("lowerdir=A:B,upperdir=missing,upperdir=U,workdir=W").code == enoent);
}

TEST_CASE("1.3 path: lowerdir+ resolves before its ordering rule",
          "[spec.1.3][spec.1.2][layer_stack]") {
    CHECK(mount("lowerdir=A:B,lowerdir+=missing").code == enoent);
    CHECK(mount("lowerdir=A:B,lowerdir+=F").message == "overlay: F is not a directory");
    CHECK(mount("lowerdir=A:B,lowerdir+=C").message ==
          "overlay: lowerdir+ and datadir+ cannot follow lowerdir");
}

TEST_CASE("1.3 path: relative and absolute paths, symlinks followed", "[spec.1.2][layer_stack]") {
    CHECK(accepted("lowerdir=/r/A:./B/"));
    CHECK(mount("lowerdir=A:LA").code == eloop); // LA is A: the same directory twice
}

// ---------------------------------------------------------------------------------------------
// §1.4 resolution through make_layer_stack
// ---------------------------------------------------------------------------------------------

TEST_CASE("1.4 layer stack: conflicts fail the mount, adjustments are notes",
          "[spec.1.4][layer_stack]") {
    CHECK(mount("lowerdir=A:B,upperdir=U,workdir=W,metacopy=on,redirect_dir=off").message ==
          "overlayfs: conflicting options: metacopy=on,redirect_dir=follow");
    const memory_fs fs = make_fs();
    auto s = make_layer_stack(fs, "lowerdir=A:B,workdir=W,uuid=on");
    REQUIRE(s);
    CHECK(s->notes().size() == 2);
    CHECK_FALSE(s->workdir().has_value());
    CHECK(s->features().uuid == uuid_mode::null);
    CHECK(s->features().redirect == redirect_mode::on); // §12.6
}

TEST_CASE("1.4 layer stack: a refusal carries the notes logged before it",
          "[spec.1.4][spec.1.5][layer_stack]") {
    // Checked with mount(2) on 6.18: both info lines are logged, then the §1.5 error.
    const auto superblock = mount("lowerdir=A,workdir=W,uuid=on");
    CHECK(superblock.code == einval);
    CHECK(superblock.message ==
          "overlayfs: at least 2 lowerdir are needed while upperdir nonexistent");
    CHECK(superblock.notes ==
          std::vector<std::string>{
              "option \"workdir=W\" is useless in a non-upper mount, ignore",
              "option \"uuid=on\" requires an upper fs, falling back to uuid=null."});
    // A §1.4 conflict carries the notes logged before it.
    const auto conflict = mount("lowerdir=A:B,workdir=W,userxattr,metacopy=on");
    CHECK(conflict.message == "overlayfs: conflicting options: userxattr,metacopy=on");
    CHECK(conflict.notes ==
          std::vector<std::string>{"option \"workdir=W\" is useless in a non-upper mount, ignore"});
    // Parse-time (§1.1-§1.3) refusals come before any note.
    CHECK(mount("workdir=W,lowerdir=A,bogus").notes.empty());
    CHECK(mount("lowerdir=A,workdir=W,upperdir=missing").notes.empty());
    // An accepted mount keeps its notes on the layer stack.
    const memory_fs fs = make_fs();
    auto s = make_layer_stack(fs, "lowerdir=A:B,workdir=W");
    REQUIRE(s);
    CHECK(s->notes() ==
          std::vector<std::string>{"option \"workdir=W\" is useless in a non-upper mount, ignore"});
}

TEST_CASE("1 layer stack: the error carries errno, message and notes; errno helpers work on it",
          "[spec.1][layer_stack]") {
    const memory_fs fs = make_fs();
    auto s = make_layer_stack(fs, "lowerdir=A:A");
    REQUIRE_FALSE(s);
    static_assert(std::is_same_v<decltype(s)::error_type, mount_error>);
    CHECK(errno_value(s.error()) == ELOOP);
    CHECK(errno_name(s.error()) == "ELOOP");
    CHECK(s.error() == eloop);
    CHECK_FALSE(s.error() == einval);
    // Through OVLCORE_TRY_ASSIGN into an errno-only result: the errno survives.
    const auto layers = [&](std::string_view options) -> result<std::size_t> {
        OVLCORE_TRY_ASSIGN(stack, make_layer_stack(fs, options));
        return stack.lowers().size();
    };
    CHECK(layers("lowerdir=A:A").error() == eloop);
    CHECK(layers("lowerdir=A:B:C").value() == 3);
    // ...and into a mount_error result: everything survives.
    const auto upper_path = [&](std::string_view options) -> result<std::string, mount_error> {
        OVLCORE_TRY_ASSIGN(stack, make_layer_stack(fs, options));
        if (!stack.upper())
            return fail(mount_error{.code = enoent, .message = "no upper", .notes = {}});
        return stack.upper()->path;
    };
    CHECK(upper_path("lowerdir=A,upperdir=U,workdir=W").value() == "U");
    CHECK(upper_path("lowerdir=A:B").error().message == "no upper");
    CHECK(upper_path("lowerdir=A,upperdir=U").error() ==
          mount_error{.code = einval, .message = "overlayfs: missing 'workdir'", .notes = {}});
}

TEST_CASE("1.4 layer stack: option errors come before superblock errors",
          "[spec.1.4][spec.1.5][layer_stack]") {
    // Both a conflict and a missing workdir: the conflict is reported (§1.4 runs first).
    CHECK(mount("lowerdir=A,upperdir=U,metacopy=on,redirect_dir=nofollow").message ==
          "overlayfs: conflicting options: metacopy=on,redirect_dir=nofollow");
}

TEST_CASE("1.5 layer stack: lower-only mounts show index=off", "[spec.1.5][layer_stack]") {
    const memory_fs fs = make_fs();
    auto s = make_layer_stack(fs, "lowerdir=A:B,nfs_export=on,redirect_dir=nofollow");
    REQUIRE(s);
    CHECK_FALSE(s->features().index);
    CHECK(s->features().nfs_export);
}

// ---------------------------------------------------------------------------------------------
// §1.5 superblock checks
// ---------------------------------------------------------------------------------------------

TEST_CASE("1.5 layer stack: no lower at all", "[spec.1.5][layer_stack]") {
    CHECK(mount("upperdir=U,workdir=W").message == "overlayfs: missing 'lowerdir'");
    CHECK(mount("lowerdir=A:B,lowerdir=").message == "overlayfs: missing 'lowerdir'");
    CHECK(mount("").code == einval);
}

TEST_CASE("1.5 layer stack: upperdir without workdir", "[spec.1.5][layer_stack]") {
    auto o = mount("lowerdir=A,upperdir=U");
    CHECK(o.code == einval);
    CHECK(o.message == "overlayfs: missing 'workdir'");
    // Checked before the lower layers: A twice is not reported.
    CHECK(mount("lowerdir=A:A,upperdir=U").message == "overlayfs: missing 'workdir'");
}

TEST_CASE("1.5 layer stack: one lower only without upper", "[spec.1.5][spec.12][layer_stack]") {
    CHECK(mount("lowerdir=A").message ==
          "overlayfs: at least 2 lowerdir are needed while upperdir nonexistent");
    CHECK(mount("datadir+=C").message ==
          "overlayfs: at least 2 lowerdir are needed while upperdir nonexistent");
    CHECK(accepted("lowerdir=A::C")); // §12.1
    CHECK(accepted("lowerdir=A,upperdir=U,workdir=W"));
}

TEST_CASE("1.5 layer stack: all lowers data-only", "[spec.1.5][layer_stack]") {
    CHECK(mount("datadir+=C,datadir+=D").message ==
          "overlayfs: at least one non-data lowerdir is required");
    CHECK(mount("datadir+=C,upperdir=U,workdir=W").message ==
          "overlayfs: at least one non-data lowerdir is required");
}

TEST_CASE("1.5 layer stack: work and upper on different mounts", "[spec.1.5][layer_stack]") {
    auto o = mount("lowerdir=A:B,upperdir=U,workdir=tm/W");
    CHECK(o.code == einval);
    CHECK(o.message == "overlayfs: workdir and upperdir must reside under the same mount");
    CHECK(accepted("lowerdir=A:B,upperdir=tm/U,workdir=tm/W"));
}

TEST_CASE("1.5 layer stack: work and upper not separate subtrees", "[spec.1.5][layer_stack]") {
    const std::string msg = "overlayfs: workdir and upperdir must be separate subtrees";
    CHECK(mount("lowerdir=A:B,upperdir=U,workdir=U").message == msg);
    CHECK(mount("lowerdir=A:B,upperdir=U,workdir=U/sub").message == msg);
    CHECK(mount("lowerdir=A:B,upperdir=W/sub,workdir=W").message == msg);
}

TEST_CASE("1.5 layer stack: same directory twice is a conflicting lowerdir path",
          "[spec.1.5][spec.12][layer_stack]") {
    auto o = mount("lowerdir=A:A"); // §12.2
    CHECK(o.code == eloop);
    CHECK(o.message == "overlayfs: conflicting lowerdir path");
    CHECK(mount("lowerdir=U:B,upperdir=U,workdir=W").code == eloop);
    CHECK(mount("lowerdir=W:B,upperdir=U,workdir=W").code == eloop);
    CHECK(mount("lowerdir=A:B::A").code == eloop);
    CHECK(mount("lowerdir+=A,lowerdir+=A").code == eloop);
}

TEST_CASE("1.5 layer stack: nested layers are an overlapping lowerdir path",
          "[spec.1.5][spec.12][layer_stack]") {
    const std::string msg = "overlayfs: overlapping lowerdir path";
    CHECK(mount("lowerdir=A:A/sub").message == msg); // §12.2
    CHECK(mount("lowerdir=A/sub:A").message == msg);
    CHECK(mount("lowerdir=A/sub/deep:A").code == eloop);
    CHECK(mount("lowerdir=U/sub:B,upperdir=U,workdir=W").code == eloop);
    CHECK(mount("lowerdir=W/sub:B,upperdir=U,workdir=W").code == eloop);
    CHECK(mount("lowerdir=A::A/sub").code == eloop);
    // An upper or work dir inside a lower is not detected at mount time (§1.5 notes, §12.2).
    CHECK(accepted("lowerdir=A:B,upperdir=A/sub,workdir=W"));
    CHECK(accepted("lowerdir=A:B,upperdir=U,workdir=A/sub"));
    // Parents are walked inside the layer's own filesystem only.
    CHECK(accepted("lowerdir=tm/U:."));
}

TEST_CASE("1.5 layer stack: conflicting is found before overlapping", "[spec.1.5][layer_stack]") {
    // A/sub overlaps A (first pass would find it later); B twice conflicts (first pass).
    CHECK(mount("lowerdir=A/sub:A:B:B").message == "overlayfs: conflicting lowerdir path");
}

TEST_CASE("1.5 layer stack: name_max is the largest over all layers", "[spec.1.5][layer_stack]") {
    const memory_fs fs = make_fs();
    auto plain = make_layer_stack(fs, "lowerdir=A:B");
    REQUIRE(plain);
    CHECK(plain->name_max() == 255);
    auto with_long = make_layer_stack(fs, "lowerdir=A:long");
    REQUIRE(with_long);
    CHECK(with_long->name_max() == 1024);
}

TEST_CASE("1.5 layer stack: the 500-layer limit through lowerdir=",
          "[spec.1.5][spec.0][layer_stack]") {
    memory_fs fs;
    std::string options = "lowerdir=";
    for (int i = 0; i < 501; ++i) {
        fs.add_dir("/" + std::to_string(i));
        if (i < 500) options += (i ? ":/" : "/") + std::to_string(i);
    }
    auto ok = make_layer_stack(fs, options);
    REQUIRE(ok);
    CHECK(ok->lowers().size() == 500);
    const auto refused = make_layer_stack(fs, options + ":/500");
    REQUIRE_FALSE(refused);
    CHECK(refused.error() == einval);
    CHECK(refused.error().message == "overlayfs: too many lower directories, limit is 500");
}

// ---------------------------------------------------------------------------------------------
// The same rules on real directories (no root needed).
// ---------------------------------------------------------------------------------------------

TEST_CASE("1.5 layer stack: posix_fs agrees on plain directories",
          "[spec.1.3][spec.1.5][layer_stack][posix]") {
    namespace fs = std::filesystem;
    std::string base = (fs::temp_directory_path() / "ovlcore-layerstack-XXXXXX").string();
    REQUIRE(::mkdtemp(base.data()) != nullptr);
    for (const char* d : {"A/sub", "B", "U", "W", "a:x"})
        fs::create_directories(fs::path(base) / d);
    auto backend = posix_fs::with_working_dir(base);
    REQUIRE(backend);
    const auto code = [&](std::string_view options) {
        auto s = make_layer_stack(*backend, options);
        return s ? std::errc{} : s.error().code;
    };
    CHECK(code("lowerdir=A:B") == std::errc{});
    CHECK(code("lowerdir=A:B,upperdir=U,workdir=W") == std::errc{});
    CHECK(code("lowerdir=a\\:x:B") == std::errc{});
    CHECK(code("lowerdir=A:missing") == enoent);
    CHECK(code("lowerdir=A:A") == eloop);
    CHECK(code("lowerdir=A:A/sub") == eloop);
    CHECK(code("lowerdir=A:B,upperdir=U,workdir=U") == einval);
    CHECK(code("lowerdir=A") == einval);
    std::error_code ec;
    fs::remove_all(base, ec);
}

TEST_CASE("1 layer stack: the kernel-recorded opt_* scenarios",
          "[spec.1.2][spec.1.5][layer_stack]") {
    // tests/data/kernel/scenarios/opt_*.json with their expected/*.jsonl answers, layers at
    // /ROOT/<name>.
    memory_fs fs;
    for (const char* d : {"/ROOT/A", "/ROOT/B", "/ROOT/C", "/ROOT/a:x", "/ROOT/b,y", "/ROOT/a"})
        fs.add_dir(d);
    fs.set_cwd("/ROOT");
    const auto run = [&](std::string_view options) {
        auto s = make_layer_stack(fs, options);
        return s ? outcome{}
                 : outcome{.code = s.error().code, .message = s.error().message, .notes = {}};
    };
    auto data_then_regular = run("lowerdir=/ROOT/A::/ROOT/B:/ROOT/C,metacopy=on");
    CHECK(data_then_regular.code == einval);
    CHECK(data_then_regular.message ==
          "overlayfs: regular lower layers cannot follow data lower layers");
    auto same_dir = run("lowerdir=/ROOT/A:/ROOT/A");
    CHECK(same_dir.code == eloop);
    CHECK(same_dir.message == "overlayfs: conflicting lowerdir path");
    auto single = run("lowerdir=/ROOT/A");
    CHECK(single.code == einval);
    CHECK(single.message == "overlayfs: at least 2 lowerdir are needed while upperdir nonexistent");
    auto escaped = make_layer_stack(fs, "lowerdir=/ROOT/a\\:x:/ROOT/b\\,y");
    REQUIRE(escaped);
    CHECK(escaped->lowers()[0].path == "/ROOT/a:x");
    CHECK(escaped->lowers()[1].path == "/ROOT/b,y");
}

} // namespace layer_stack_test
