// SPDX-License-Identifier: MIT
// Tests of include/ovlcore/options.hpp: splitting, escaping, parsing and resolution of overlay
// mount options (spec §1.1, §1.2, §1.4). Expected values come from the spec and from mount(2).
#include <catch2/catch.hpp>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>

#include <ovlcore/options.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "support/string_makers.hpp"

using namespace ovlcore;

namespace {

struct parse_outcome {
    std::errc code{};
    std::string message;
    mount_config<> cfg;
};

parse_outcome parse(std::string_view options, const module_defaults& defaults = {}) {
    mount_error error;
    auto r = parse_mount_options(options, defaults, accept_all_paths{}, &error);
    if (!r) return {r.error(), error.message, {}};
    return {std::errc{}, "", *r};
}

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
    if (p.code != std::errc{}) return {p.code, p.message, {}, {}, {}};
    resolve_outcome out;
    mount_error error;
    auto f = resolve_features(p.cfg, &out.notes, &error);
    if (!f) {
        out.code = f.error();
        out.message = error.message;
        return out;
    }
    out.features = *f;
    out.cfg = p.cfg;
    return out;
}

std::vector<std::string> names(const mount_config<>& cfg) {
    std::vector<std::string> out;
    for (const auto& l : cfg.lowers) out.push_back((l.data_only ? "data:" : "") + l.path);
    return out;
}

constexpr auto einval = std::errc::invalid_argument;

} // namespace

// ---------------------------------------------------------------------------------------------
// §1.2.1 splitting on unescaped commas
// ---------------------------------------------------------------------------------------------

TEST_CASE("1.2 split: unescaped commas separate options", "[spec.1.2][options]") {
    CHECK(split_options("a,b,c") == std::vector<std::string_view>{"a", "b", "c"});
    CHECK(split_options("") == std::vector<std::string_view>{""});
    CHECK(split_options("a,,b,") == std::vector<std::string_view>{"a", "", "b", ""});
}

TEST_CASE("1.2 split: a backslash protects the next character and is kept", "[spec.1.2][options]") {
    CHECK(split_options("lowerdir=/p\\,q:/a,ro") ==
          std::vector<std::string_view>{"lowerdir=/p\\,q:/a", "ro"});
    CHECK(split_options("a\\\\,b") == std::vector<std::string_view>{"a\\\\", "b"});
    CHECK(split_options("a\\") == std::vector<std::string_view>{"a\\"});
    static_assert(count_options("x\\,y,z") == 2);
}

TEST_CASE("1.2 split: key and value split at the first '='", "[spec.1.2][options]") {
    CHECK(split_key_value("lowerdir=a=b") == option_item{"lowerdir", "a=b"});
    CHECK(split_key_value("userxattr") == option_item{"userxattr", std::nullopt});
    CHECK(split_key_value("metacopy=") == option_item{"metacopy", ""});
    CHECK_FALSE(split_key_value("").has_value());
    CHECK_FALSE(split_key_value("=foo").has_value());
}

TEST_CASE("1.2 split: mount(2) sees at most 4095 bytes, up to the first NUL",
          "[spec.1.2][options]") {
    CHECK(mount_data(std::string(5000, 'x')).size() == 4095);
    CHECK(mount_data(std::string_view("ab\0cd", 5)) == "ab");
    // The option cut at byte 4095 is what the kernel parses.
    // "lowerdir=A" + 4080 slashes + ":B" is 4092 bytes; of ",foo" only ",fo" fits.
    std::string data = "lowerdir=A" + std::string(4080, '/') + ":B,foo";
    CHECK(parse(data).message == "overlay: Unknown parameter 'fo'");
}

TEST_CASE("1.2 split: empty items and items starting with '=' are ignored", "[spec.1.2][options]") {
    auto p = parse(",,lowerdir=A:B,,=foo,");
    CHECK(p.code == std::errc{});
    CHECK(names(p.cfg) == std::vector<std::string>{"A", "B"});
}

// ---------------------------------------------------------------------------------------------
// §1.2.2 lowerdir values
// ---------------------------------------------------------------------------------------------

TEST_CASE("1.2 lowerdir: single colon separates normal layers, double colon starts data layers",
          "[spec.1.2][options]") {
    auto r = split_lowerdir("L1:L2::D1::D2");
    REQUIRE(r);
    CHECK(*r ==
          std::vector<lowerdir_element>{{"L1", false}, {"L2", false}, {"D1", true}, {"D2", true}});
    static_assert(count_lowerdir("L1:L2::D1::D2") == 4);
}

TEST_CASE("1.2 lowerdir: escaped characters are kept in the elements", "[spec.1.2][options]") {
    auto r = split_lowerdir("a\\:x:b\\,y:c\\\\z");
    REQUIRE(r);
    CHECK(*r ==
          std::vector<lowerdir_element>{{"a\\:x", false}, {"b\\,y", false}, {"c\\\\z", false}});
}

TEST_CASE("1.2 lowerdir: value starting with a colon is rejected", "[spec.1.2][options]") {
    mount_error e;
    CHECK(split_lowerdir(":A", &e).error() == einval);
    CHECK(e.message == "overlayfs: cannot append lower layer");
    CHECK(parse("lowerdir=::A").message == "overlayfs: cannot append lower layer");
}

TEST_CASE("1.2 lowerdir: three colons rejected", "[spec.1.2][options]") {
    const std::string msg = "overlayfs: only single ':' or double '::' sequences of unescaped "
                            "colons in lowerdir mount option allowed.";
    CHECK(parse("lowerdir=A:::B").message == msg);
    CHECK(parse("lowerdir=A::::B").message == msg);
    CHECK(parse("lowerdir=A:::B").code == einval);
    CHECK(parse("lowerdir=A\\:::B").code == std::errc{}); // "A\:" then "::B"
}

TEST_CASE("1.2 lowerdir: trailing unescaped colons rejected", "[spec.1.2][options]") {
    const std::string msg = "overlayfs: unescaped trailing colons in lowerdir mount option.";
    CHECK(parse("lowerdir=A:").message == msg);
    CHECK(parse("lowerdir=A::").message == msg);
    CHECK(parse("lowerdir=A:\\").message == msg); // a final backslash does not end the colon run
    CHECK(parse("lowerdir=A\\:").code == std::errc{});
}

TEST_CASE("1.2 lowerdir: regular layer after a data layer rejected", "[spec.1.2][options]") {
    auto p = parse("lowerdir=A::B:C");
    CHECK(p.code == einval);
    CHECK(p.message == "overlayfs: regular lower layers cannot follow data lower layers");
}

TEST_CASE("1.2 lowerdir: more than 500 layers rejected", "[spec.1.2][spec.0][options]") {
    std::string v = "lowerdir=A";
    for (int i = 1; i < 500; ++i) v += ":A";
    CHECK(parse(v).code == std::errc{});
    CHECK(parse(v).cfg.lowers.size() == 500);
    v += ":A";
    CHECK(parse(v).message == "overlayfs: too many lower directories, limit is 500");
}

TEST_CASE("1.2 lowerdir: an element that unescapes to nothing is an empty lowerdir",
          "[spec.1.2][options]") {
    CHECK(parse("lowerdir=\\").message == "overlayfs: empty lowerdir");
    CHECK(parse("lowerdir=A:B,upperdir=\\").message == "overlayfs: empty lowerdir");
}

TEST_CASE("1.2 lowerdir: empty value drops every lower", "[spec.1.1][spec.1.2][options]") {
    auto p = parse("lowerdir=A:B,lowerdir=");
    CHECK(p.code == std::errc{});
    CHECK(p.cfg.lowers.empty());
    CHECK_FALSE(p.cfg.lowerdir.has_value());
}

// ---------------------------------------------------------------------------------------------
// §1.2.3 unescaping
// ---------------------------------------------------------------------------------------------

TEST_CASE("1.2 unescape: every backslash is dropped and the next character kept",
          "[spec.1.2][options]") {
    CHECK(unescape("a\\:x") == "a:x");
    CHECK(unescape("b\\,y") == "b,y");
    CHECK(unescape("c\\\\z") == "c\\z");
    CHECK(unescape("\\q") == "q");
    CHECK(unescape("end\\") == "end");
    CHECK(names(parse("lowerdir=a\\:x:b\\,y").cfg) == std::vector<std::string>{"a:x", "b,y"});
    CHECK(parse("lowerdir=A:B,upperdir=U\\,x,workdir=W").cfg.upper->path == "U,x");
}

TEST_CASE("1.2 unescape: lowerdir+ and datadir+ are taken literally", "[spec.1.2][options]") {
    auto p = parse("lowerdir+=/x\\:y,lowerdir+=/a:b,datadir+=/c\\d");
    REQUIRE(p.code == std::errc{});
    CHECK(names(p.cfg) == std::vector<std::string>{"/x\\:y", "/a:b", "data:/c\\d"});
}

TEST_CASE("1.2 escape: escape_path is undone by the lowerdir splitter", "[spec.1.2][options]") {
    const std::vector<std::string> paths = {"/p,q", "a:b", "c\\d", "plain", ":,\\"};
    std::string value;
    for (const auto& p : paths) value += (value.empty() ? "" : ":") + escape_path(p);
    auto p = parse("lowerdir=" + value);
    REQUIRE(p.code == std::errc{});
    CHECK(names(p.cfg) == paths);
}

TEST_CASE("1.2 escape: round trip of escaped path lists (property)",
          "[spec.1.2][options][property]") {
    rc::prop("split(join(escape(paths))) gives the paths back", [](std::vector<std::string> paths) {
        std::vector<std::string> nonempty;
        for (auto& p : paths)
            if (!p.empty() && p.find('\0') == std::string::npos) nonempty.push_back(p);
        RC_PRE(!nonempty.empty() && nonempty.size() <= 500);
        std::string value;
        for (const auto& p : nonempty) value += (value.empty() ? "" : ":") + escape_path(p);
        RC_PRE(value.size() < 4000);
        const std::string data = "lowerdir=" + value + ",ro";
        const auto items = split_options(data);
        RC_ASSERT(items.size() == 2u);
        auto kv = split_key_value(items[0]);
        RC_ASSERT(kv.has_value());
        auto elements = split_lowerdir(*kv->value);
        RC_ASSERT(elements.has_value());
        RC_ASSERT(elements->size() == nonempty.size());
        for (std::size_t i = 0; i < nonempty.size(); ++i) {
            RC_ASSERT(unescape((*elements)[i].raw) == nonempty[i]);
            RC_ASSERT(!(*elements)[i].data_only);
        }
    });
}

// ---------------------------------------------------------------------------------------------
// §1.2.5 lowerdir+ / datadir+ ordering
// ---------------------------------------------------------------------------------------------

TEST_CASE("1.2 lowerdir+: cannot follow lowerdir=", "[spec.1.2][spec.12][options]") {
    CHECK(parse("lowerdir=A:B,lowerdir+=C").message ==
          "overlay: lowerdir+ and datadir+ cannot follow lowerdir");
    CHECK(parse("lowerdir=A:B,datadir+=C").message ==
          "overlay: lowerdir+ and datadir+ cannot follow lowerdir");
}

TEST_CASE("1.2 lowerdir+: regular layer after datadir+ rejected", "[spec.1.2][options]") {
    auto p = parse("lowerdir+=A,datadir+=C,lowerdir+=B");
    CHECK(p.code == einval);
    CHECK(p.message == "overlay: regular lower layers cannot follow data layers");
}

TEST_CASE("1.2 lowerdir+: lowerdir= after lowerdir+ silently replaces them",
          "[spec.1.2][spec.12][options]") {
    auto p = parse("lowerdir+=A,datadir+=C,lowerdir=B:D");
    REQUIRE(p.code == std::errc{});
    CHECK(names(p.cfg) == std::vector<std::string>{"B", "D"});
    CHECK(p.cfg.data_count == 0);
    // An empty lowerdir= resets, and lowerdir+ may follow it again.
    CHECK(parse("lowerdir=A:B,lowerdir=,lowerdir+=C").code == std::errc{});
}

TEST_CASE("1.2 lowerdir+: the 501st layer is rejected", "[spec.1.2][spec.0][options]") {
    std::string data;
    for (int i = 0; i < 501; ++i) data += (i ? ",lowerdir+=A" : "lowerdir+=A");
    // 501 items do not fit mount(2)'s 4095 bytes: 341 items and "low" survive the cut.
    CHECK(parse(data).message == "overlay: Unknown parameter 'low'");
    // Without the cut the rule itself applies.
    mount_error e;
    auto r = detail::parse_uncut<std::monostate>(data, {}, accept_all_paths{}, &e);
    CHECK(r.error() == einval);
    CHECK(e.message == "overlay: too many lower directories, limit is 500");
    const auto first_500 = std::string_view(data).substr(0, data.size() - 12);
    CHECK(
        detail::parse_uncut<std::monostate>(first_500, {}, accept_all_paths{}, &e)->lowers.size() ==
        500);
}

// ---------------------------------------------------------------------------------------------
// §1.1 option table
// ---------------------------------------------------------------------------------------------

TEST_CASE("1.1 options: unknown key rejected", "[spec.1.1][options]") {
    CHECK(parse("foo").code == einval);
    CHECK(parse("foo").message == "overlay: Unknown parameter 'foo'");
    CHECK(parse("nouserxattr").message == "overlay: Unknown parameter 'nouserxattr'");
    CHECK(parse("LOWERDIR=A:B").message == "overlay: Unknown parameter 'LOWERDIR'");
}

TEST_CASE("1.1 options: flags given a value rejected", "[spec.1.1][options]") {
    for (const char* key : {"userxattr", "default_permissions", "volatile", "override_creds"}) {
        CHECK(parse(std::string(key) + "=1").message ==
              "overlay: Unexpected value for '" + std::string(key) + "'");
        CHECK(parse(std::string(key) + "=").code == einval);
    }
}

TEST_CASE("1.1 options: bad enum values rejected", "[spec.1.1][options]") {
    CHECK(parse("redirect_dir=bogus").message == "overlay: Bad value for 'redirect_dir'");
    CHECK(parse("metacopy").message == "overlay: Bad value for 'metacopy'");
    CHECK(parse("metacopy=").message == "overlay: Bad value for 'metacopy'");
    CHECK(parse("index=ON").message == "overlay: Bad value for 'index'");
    CHECK(parse("uuid=x").message == "overlay: Bad value for 'uuid'");
    CHECK(parse("xino=").message == "overlay: Bad value for 'xino'");
    CHECK(parse("verity=maybe").message == "overlay: Bad value for 'verity'");
    CHECK(parse("fsync=ordered").message == "overlay: Bad value for 'fsync'");
}

TEST_CASE("1.1 options: path options need a value", "[spec.1.1][options]") {
    CHECK(parse("upperdir=").message == "overlay: Bad value for 'upperdir'");
    CHECK(parse("workdir").message == "overlay: Bad value for 'workdir'");
    CHECK(parse("lowerdir").message == "overlay: Bad value for 'lowerdir'");
    CHECK(parse("lowerdir+=").message == "overlay: Bad value for 'lowerdir+'");
    CHECK(parse("datadir+").message == "overlay: Bad value for 'datadir+'");
}

TEST_CASE("1.1 options: every value is accepted", "[spec.1.1][options]") {
    auto p = parse("lowerdir=A:B,upperdir=U,workdir=W,redirect_dir=nofollow,index=on,uuid=null,"
                   "nfs_export=off,xino=on,metacopy=on,verity=require,fsync=strict,userxattr,"
                   "default_permissions,nooverride_creds");
    REQUIRE(p.code == std::errc{});
    CHECK(p.cfg.redirect == redirect_mode::nofollow);
    CHECK(p.cfg.index);
    CHECK(p.cfg.uuid == uuid_mode::null);
    CHECK_FALSE(p.cfg.nfs_export);
    CHECK(p.cfg.xino == xino_mode::on);
    CHECK(p.cfg.metacopy);
    CHECK(p.cfg.verity == verity_mode::require);
    CHECK(p.cfg.fsync == fsync_mode::strict);
    CHECK(p.cfg.userxattr);
    CHECK(p.cfg.default_permissions);
    CHECK_FALSE(p.cfg.override_creds);
    CHECK(p.cfg.set.redirect);
    CHECK(p.cfg.set.index);
    CHECK(p.cfg.set.nfs_export);
    CHECK(p.cfg.set.metacopy);
}

TEST_CASE("1.1 options: defaults come from the module parameters",
          "[spec.1.1][spec.1.4][options]") {
    auto stock = parse("lowerdir=A:B").cfg;
    CHECK(stock.redirect == redirect_mode::follow);
    CHECK_FALSE(stock.index);
    CHECK_FALSE(stock.metacopy);
    CHECK_FALSE(stock.nfs_export);
    CHECK(stock.uuid == uuid_mode::auto_);
    CHECK(stock.xino == xino_mode::off);
    CHECK(stock.verity == verity_mode::off);
    CHECK(stock.fsync == fsync_mode::auto_);
    module_defaults all_on{true, true, true, true, true, true};
    auto on = parse("lowerdir=A:B", all_on).cfg;
    CHECK(on.redirect == redirect_mode::on);
    CHECK(on.index);
    CHECK(on.metacopy);
    CHECK(on.nfs_export);
    CHECK(on.xino == xino_mode::auto_);
    module_defaults no_follow;
    no_follow.redirect_always_follow = false;
    CHECK(parse("lowerdir=A:B", no_follow).cfg.redirect == redirect_mode::nofollow);
}

TEST_CASE("1.1 options: the last occurrence wins", "[spec.1.1][options]") {
    auto p = parse("lowerdir=A:B,lowerdir=B:C,upperdir=U1,upperdir=U2,workdir=W1,workdir=W2,"
                   "xino=on,xino=off,fsync=strict,volatile");
    REQUIRE(p.code == std::errc{});
    CHECK(names(p.cfg) == std::vector<std::string>{"B", "C"});
    CHECK(p.cfg.upper->path == "U2");
    CHECK(p.cfg.work->path == "W2");
    CHECK(p.cfg.xino == xino_mode::off);
    CHECK(p.cfg.fsync == fsync_mode::volatile_);
    CHECK(parse("volatile,fsync=auto").cfg.fsync == fsync_mode::auto_);
}

TEST_CASE("1.1 options: redirect_dir=off is rewritten at parse time",
          "[spec.1.1][spec.1.4][options]") {
    CHECK(parse("redirect_dir=off").cfg.redirect == redirect_mode::follow);
    module_defaults no_follow;
    no_follow.redirect_always_follow = false;
    CHECK(parse("redirect_dir=off", no_follow).cfg.redirect == redirect_mode::nofollow);
}

TEST_CASE("1.1 options: generic VFS flags and source", "[spec.1.1][options]") {
    CHECK(parse("ro,lowerdir=A:B").cfg.read_only);
    CHECK(parse("ro=5,rw,sync,async,dirsync,lazytime,nolazytime,mand,nomand").code == std::errc{});
    CHECK(parse("silent").message == "overlay: Unknown parameter 'silent'");
    CHECK(parse("source=x").message == "Multiple sources");
    CHECK(parse("source").message == "Non-string source");
}

TEST_CASE("1.1 options: the first error in option order wins", "[spec.1.1][spec.1.3][options]") {
    // A resolver that knows only A and B.
    auto known = [](const path_request& r, std::monostate&) -> std::optional<mount_error> {
        if (r.path == "A" || r.path == "B") return std::nullopt;
        return mount_error{std::errc::no_such_file_or_directory, "missing"};
    };
    mount_error e;
    CHECK(parse_mount_options("foo,lowerdir=X:A", {}, known, &e).error() == einval);
    CHECK(parse_mount_options("lowerdir=X:A,foo", {}, known, &e).error() ==
          std::errc::no_such_file_or_directory);
    // A path in an option that is overridden later still fails the mount (§1.3).
    CHECK(parse_mount_options("lowerdir=X:A,lowerdir=A:B", {}, known, &e).error() ==
          std::errc::no_such_file_or_directory);
    // lowerdir+ resolves before the ordering rule is checked.
    CHECK(parse_mount_options("lowerdir=A:B,lowerdir+=X", {}, known, &e).error() ==
          std::errc::no_such_file_or_directory);
    // The data-then-regular rule fires before the next element is resolved.
    CHECK(parse_mount_options("lowerdir=A::B:X", {}, known, &e).error() == einval);
    CHECK(parse_mount_options("lowerdir=A::X:B", {}, known, &e).error() ==
          std::errc::no_such_file_or_directory);
}

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
    CHECK(module_defaults::from_sysfs("/nonexistent/dir").error() ==
          std::errc::no_such_file_or_directory);
}
