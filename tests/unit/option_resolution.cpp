// SPDX-License-Identifier: MIT
// Tests of ovlcore/option_resolution.hpp (adjustments, notes and conflicts, spec §1.4) and of
// ovlcore/backend/module_defaults_sysfs.hpp (the module parameters that act as defaults).
// Expected values come from the spec and from mount(2).
#include <catch2/catch.hpp>

#include <ovlcore/backend/module_defaults_sysfs.hpp>
#include <ovlcore/options.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <unistd.h>

#include "support/option_outcome.hpp"
#include "support/string_makers.hpp"

using namespace ovlcore;
using namespace ovlcore::test;

namespace {

// Parse + resolve (§1.4); message of the first error, features otherwise.
struct resolve_outcome {
    std::errc code{};
    std::string message;
    feature_set features;
    std::vector<std::string> notes;
    mount_config<> cfg;
};

resolve_outcome resolve(std::string_view options, const module_defaults& defaults = {}) {
    auto p = parse(options, defaults);
    if (p.code != std::errc{})
        return {.code = p.code, .message = p.message, .features = {}, .notes = {}, .cfg = {}};
    resolve_outcome out;
    auto f = resolve_options(p.cfg);
    if (!f) {
        out.code = f.error().code;
        out.message = f.error().message;
        out.notes = f.error().notes; // logged before the conflict
        return out;
    }
    out.features = f->features;
    out.notes = f->notes;
    out.cfg = p.cfg;
    return out;
}

} // namespace

// ---------------------------------------------------------------------------------------------
// §1.4 resolution
// ---------------------------------------------------------------------------------------------

TEST_CASE("1.4 resolve: workdir and index=on are useless without upper", "[spec.1.4][options]") {
    auto r = resolve("lowerdir=A:B,workdir=W,index=on");
    REQUIRE(r.code == std::errc{});
    CHECK_FALSE(r.cfg.work.has_value());
    CHECK_FALSE(r.features.index);
    CHECK(r.notes ==
          std::vector<std::string>{"option \"workdir=W\" is useless in a non-upper mount, ignore",
                                   "option \"index=on\" is useless in a non-upper mount, ignore"});
}

TEST_CASE("1.4 resolve: volatile without upper falls back to fsync=auto", "[spec.1.4][options]") {
    auto r = resolve("lowerdir=A:B,volatile");
    CHECK(r.features.fsync == fsync_mode::auto_);
    CHECK(r.notes == std::vector<std::string>{
                         "option \"volatile\" is meaningless in a non-upper mount, ignoring it."});
    CHECK(resolve("lowerdir=A,upperdir=U,workdir=W,volatile").features.fsync ==
          fsync_mode::volatile_);
}

TEST_CASE("1.4 resolve: uuid=on without upper falls back to uuid=null", "[spec.1.4][options]") {
    auto r = resolve("lowerdir=A:B,uuid=on");
    CHECK(r.features.uuid == uuid_mode::null);
    CHECK(r.notes == std::vector<std::string>{
                         "option \"uuid=on\" requires an upper fs, falling back to uuid=null."});
}

TEST_CASE("1.4 resolve: lower-only mounts turn redirect follow into on",
          "[spec.1.4][spec.12][options]") {
    CHECK(resolve("lowerdir=A:B").features.redirect == redirect_mode::on);
    CHECK(resolve("lowerdir=A,upperdir=U,workdir=W").features.redirect == redirect_mode::follow);
    CHECK(resolve("lowerdir=A:B,redirect_dir=nofollow").features.redirect ==
          redirect_mode::nofollow);
}

TEST_CASE("1.4 resolve: metacopy=on with explicit redirect_dir conflicts",
          "[spec.1.4][spec.12][options]") {
    auto r = resolve("lowerdir=A,upperdir=U,workdir=W,metacopy=on,redirect_dir=off");
    CHECK(r.code == einval);
    CHECK(r.message == "overlayfs: conflicting options: metacopy=on,redirect_dir=follow");
    CHECK(resolve("lowerdir=A:B,metacopy=on,redirect_dir=nofollow").message ==
          "overlayfs: conflicting options: metacopy=on,redirect_dir=nofollow");
    CHECK(resolve("lowerdir=A:B,metacopy=on,redirect_dir=follow").code == std::errc{});
}

TEST_CASE("1.4 resolve: metacopy and redirect adjust each other", "[spec.1.4][options]") {
    module_defaults mc;
    mc.metacopy = true;
    auto r = resolve("lowerdir=A,upperdir=U,workdir=W,redirect_dir=nofollow", mc);
    CHECK_FALSE(r.features.metacopy);
    CHECK(r.notes == std::vector<std::string>{"disabling metacopy due to redirect_dir=nofollow"});
    auto auto_on = resolve("lowerdir=A,upperdir=U,workdir=W,metacopy=on");
    CHECK(auto_on.features.redirect == redirect_mode::on);
    CHECK(auto_on.features.metacopy);
}

TEST_CASE("1.4 resolve: nfs_export needs index", "[spec.1.4][options]") {
    auto lower_only = resolve("lowerdir=A:B,nfs_export=on");
    CHECK_FALSE(lower_only.features.nfs_export);
    CHECK(lower_only.notes ==
          std::vector<std::string>{"NFS export requires \"redirect_dir=nofollow\" on non-upper "
                                   "mount, falling back to nfs_export=off."});
    CHECK(resolve("lowerdir=A,upperdir=U,workdir=W,nfs_export=on,index=off").message ==
          "overlayfs: conflicting options: nfs_export=on,index=off");
    module_defaults nfs;
    nfs.nfs_export = true;
    auto by_index = resolve("lowerdir=A,upperdir=U,workdir=W,index=off", nfs);
    CHECK_FALSE(by_index.features.nfs_export);
    CHECK(by_index.notes == std::vector<std::string>{"disabling nfs_export due to index=off"});
    auto turned_on = resolve("lowerdir=A,upperdir=U,workdir=W,nfs_export=on");
    CHECK(turned_on.features.index);
    CHECK(turned_on.features.nfs_export);
    // Lower-only with redirect_dir=nofollow: the fallback does not apply, index is turned on.
    auto nofollow = resolve("lowerdir=A:B,nfs_export=on,redirect_dir=nofollow");
    CHECK(nofollow.features.nfs_export);
    CHECK(nofollow.features.index);
}

TEST_CASE("1.4 resolve: nfs_export excludes metacopy", "[spec.1.4][options]") {
    CHECK(resolve("lowerdir=A,upperdir=U,workdir=W,nfs_export=on,metacopy=on").message ==
          "overlayfs: conflicting options: nfs_export=on,metacopy=on");
    module_defaults nfs;
    nfs.nfs_export = true;
    auto by_metacopy = resolve("lowerdir=A,upperdir=U,workdir=W,metacopy=on", nfs);
    CHECK_FALSE(by_metacopy.features.nfs_export);
    CHECK(by_metacopy.notes.back() == "disabling nfs_export due to metacopy=on");
    module_defaults both = nfs;
    both.metacopy = true;
    auto by_verity = resolve("lowerdir=A,upperdir=U,workdir=W,verity=on", both);
    CHECK_FALSE(by_verity.features.nfs_export);
    CHECK(by_verity.notes.back() == "disabling nfs_export due to verity=on");
    auto by_nfs = resolve("lowerdir=A,upperdir=U,workdir=W,nfs_export=on", both);
    CHECK_FALSE(by_nfs.features.metacopy);
    CHECK(by_nfs.notes.back() == "disabling metacopy due to nfs_export=on");
}

TEST_CASE("1.4 resolve: userxattr excludes redirect and metacopy", "[spec.1.4][options]") {
    CHECK(resolve("lowerdir=A:B,userxattr,redirect_dir=on").message ==
          "overlayfs: conflicting options: userxattr,redirect_dir=on");
    CHECK(resolve("lowerdir=A:B,userxattr,metacopy=on").message ==
          "overlayfs: conflicting options: userxattr,metacopy=on");
    // follow becomes on first in a lower-only mount (kernel order, checked with mount(2)).
    CHECK(resolve("lowerdir=A:B,userxattr,redirect_dir=follow").message ==
          "overlayfs: conflicting options: userxattr,redirect_dir=on");
    CHECK(resolve("lowerdir=A,upperdir=U,workdir=W,userxattr,redirect_dir=off").message ==
          "overlayfs: conflicting options: userxattr,redirect_dir=follow");
    auto silent = resolve("lowerdir=A:B,userxattr");
    CHECK(silent.code == std::errc{});
    CHECK(silent.features.redirect == redirect_mode::nofollow);
    CHECK_FALSE(silent.features.metacopy);
    CHECK(resolve("lowerdir=A:B,userxattr,verity=on").code == std::errc{});
}

TEST_CASE("1.4 resolve: 6.16 removed the verity and data-only constraints",
          "[spec.1.4][spec.11][options]") {
    auto r = resolve("lowerdir=A:B,metacopy=off,verity=on");
    CHECK(r.code == std::errc{});
    CHECK_FALSE(r.features.metacopy);
    CHECK(resolve("lowerdir=A::C,metacopy=off").code == std::errc{});
    CHECK(resolve("lowerdir=A,upperdir=U,workdir=W,verity=on,redirect_dir=nofollow").code ==
          std::errc{});
}

TEST_CASE("1.4 module_defaults: stock kernel values and sysfs", "[spec.1.4][options]") {
    constexpr module_defaults d{};
    STATIC_REQUIRE_FALSE(d.redirect_dir);
    STATIC_REQUIRE(d.redirect_always_follow);
    STATIC_REQUIRE_FALSE(d.index || d.metacopy || d.nfs_export || d.xino_auto);
    CHECK(read_module_defaults("/nonexistent/dir").error() == std::errc::no_such_file_or_directory);
}

TEST_CASE("1.4 module_defaults: read from a sysfs-like directory of Y/N files",
          "[spec.1.4][options]") {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("ovlcore_module_defaults_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto put = [&](const char* name, const char* value) {
        std::ofstream(dir / name) << value << "\n";
    };
    put("redirect_dir", "Y");
    put("redirect_always_follow", "N");
    put("index", "Y");
    put("metacopy", "N");
    put("nfs_export", "Y");
    CHECK(read_module_defaults(dir.string()).error() == std::errc::no_such_file_or_directory);
    put("xino_auto", "Y");
    const auto d = read_module_defaults(dir.string());
    REQUIRE(d);
    CHECK(*d == module_defaults{.redirect_dir = true,
                                .redirect_always_follow = false,
                                .index = true,
                                .metacopy = false,
                                .nfs_export = true,
                                .xino_auto = true});
    put("metacopy", "1");
    CHECK(read_module_defaults(dir.string()).error() == std::errc::invalid_argument);
    std::filesystem::remove_all(dir);
}

TEST_CASE("1.4 resolve: notes logged before a conflict go with the error", "[spec.1.4][options]") {
    // Checked with mount(2) on 6.18: the workdir note is logged, then the conflict refuses.
    auto r = resolve("lowerdir=A:B,workdir=W,userxattr,metacopy=on");
    CHECK(r.code == einval);
    CHECK(r.message == "overlayfs: conflicting options: userxattr,metacopy=on");
    CHECK(r.notes ==
          std::vector<std::string>{"option \"workdir=W\" is useless in a non-upper mount, ignore"});
    // A conflict before any adjustment carries no note.
    CHECK(resolve("lowerdir=A,upperdir=U,workdir=W,nfs_export=on,index=off").notes.empty());
}
