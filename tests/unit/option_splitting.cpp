// SPDX-License-Identifier: MIT
// Tests of ovlcore/option_splitting.hpp: splitting and escaping of mount option data and of
// `lowerdir=` values, and the ordering rules of `lowerdir+`/`datadir+` (spec §1.2). Expected
// values come from the spec and from mount(2).
#include <catch2/catch.hpp>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>

#include <ovlcore/options.hpp>

#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

#include "support/option_outcome.hpp"
#include "support/string_makers.hpp"

using namespace ovlcore;
using namespace ovlcore::test;

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
    const auto r = split_lowerdir(":A");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == einval);
    CHECK(r.error().message == "overlayfs: cannot append lower layer");
    CHECK(parse("lowerdir=::A").message == "overlayfs: cannot append lower layer");
}

TEST_CASE("1.2 lowerdir: three colons rejected", "[spec.1.2][options]") {
    const std::string msg =
        "overlayfs: only single ':' or double '::' sequences of unescaped "
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
    auto r = detail::parse_uncut<std::monostate>(data, {}, accept_all_paths{});
    REQUIRE_FALSE(r);
    CHECK(r.error().code == einval);
    CHECK(r.error().message == "overlay: too many lower directories, limit is 500");
    const auto first_500 = std::string_view(data).substr(0, data.size() - 12);
    CHECK(detail::parse_uncut<std::monostate>(first_500, {}, accept_all_paths{})->lowers.size() ==
          500);
}
