// SPDX-License-Identifier: MIT
// Tests for ovlcore/dump.hpp (canonical dump of a tree view), detail/sha256.hpp and
// detail/json.hpp. Expected values come from dump-format.md, FIPS 180-2 and RFC 8259; digests of
// other strings were computed with coreutils sha256sum.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ovlcore/detail/json.hpp"
#include "ovlcore/detail/sha256.hpp"
#include "ovlcore/dump.hpp"

#include "support/string_makers.hpp"

namespace {

using ovlcore::dir_entry;
using ovlcore::dump_record;
using ovlcore::file_type;
using ovlcore::result;
using ovlcore::stat_info;

// --- SHA-256: FIPS 180-2 appendix B vectors, checked at compile time where cheap
// -------------------
constexpr bool digest_starts_with(const ovlcore::detail::sha256::digest_type& d, std::uint8_t a,
                                  std::uint8_t b, std::uint8_t y, std::uint8_t z) {
    return d[0] == a && d[1] == b && d[30] == y && d[31] == z;
}
static_assert(digest_starts_with(ovlcore::detail::sha256_of("abc"), 0xba, 0x78, 0x15, 0xad));
static_assert(digest_starts_with(
    ovlcore::detail::sha256_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"), 0x24,
    0x8d, 0x06, 0xc1));

/// A scripted tree: every path's stat, content, target, children and injected errors.
struct fake_node {
    stat_info st;
    std::string content;
    std::string target;
    std::vector<std::string> children; // listing order as the view reports it
    std::optional<std::errc> lstat_error, readdir_error, open_error, read_error, readlink_error;
};

class fake_view {
public:
    struct file {
        std::string path;
    };

    fake_node& add(const std::string& path, file_type type, std::uint32_t mode) {
        fake_node& n = m_nodes[path];
        n.st.type = type;
        n.st.mode = mode;
        return n;
    }

    result<stat_info> lstat(std::string_view path) {
        ++lstat_calls[std::string(path)];
        const fake_node* n = find(path);
        if (n == nullptr) return ovlcore::fail(std::errc::no_such_file_or_directory);
        if (n->lstat_error) return ovlcore::fail(*n->lstat_error);
        stat_info st = n->st;
        if (st.type == file_type::regular) st.size = st.size ? st.size : n->content.size();
        if (st.type == file_type::symlink) st.size = n->target.size();
        return st;
    }
    result<std::vector<dir_entry>> read_dir(std::string_view path) {
        const fake_node* n = find(path);
        if (n == nullptr) return ovlcore::fail(std::errc::no_such_file_or_directory);
        if (n->readdir_error) return ovlcore::fail(*n->readdir_error);
        std::vector<dir_entry> out;
        for (const auto& c : n->children)
            out.push_back(dir_entry{.name = c, .type = file_type::unknown, .ino = 0});
        return out;
    }
    result<std::string> read_link(std::string_view path) {
        const fake_node* n = find(path);
        if (n == nullptr) return ovlcore::fail(std::errc::no_such_file_or_directory);
        if (n->readlink_error) return ovlcore::fail(*n->readlink_error);
        return n->target;
    }
    result<file> open(std::string_view path) {
        const fake_node* n = find(path);
        if (n == nullptr) return ovlcore::fail(std::errc::no_such_file_or_directory);
        if (n->open_error) return ovlcore::fail(*n->open_error);
        return file{std::string(path)};
    }
    // Short reads (at most 1000 bytes) so that the dump must loop until end of file.
    result<std::size_t> read(const file& f, std::uint64_t offset, std::span<char> buf) {
        const fake_node* n = find(f.path);
        if (n->read_error && offset > 0) return ovlcore::fail(*n->read_error);
        if (offset >= n->content.size()) return std::size_t{0};
        const std::size_t count =
            std::min({buf.size(), std::size_t{1000}, n->content.size() - offset});
        n->content.copy(buf.data(), count, offset);
        return count;
    }

    std::map<std::string, int> lstat_calls;

private:
    const fake_node* find(std::string_view path) const {
        auto it = m_nodes.find(std::string(path));
        return it == m_nodes.end() ? nullptr : &it->second;
    }
    std::map<std::string, fake_node> m_nodes;
};

static_assert(ovlcore::tree_view<fake_view>);
static_assert(!ovlcore::tree_view<int>);

std::vector<std::string> dump_lines(fake_view& view, const std::vector<std::string>& probes = {}) {
    std::vector<std::string> out;
    for (const auto& rec : ovlcore::dump_records(view, probes))
        out.push_back(ovlcore::to_json(rec));
    return out;
}

} // namespace

TEST_CASE("dump: SHA-256 matches the FIPS 180-2 vectors", "[dump][sha256]") {
    using ovlcore::detail::sha256_hex;
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    ovlcore::detail::sha256 million;
    const std::string thousand(1000, 'a');
    for (int i = 0; i < 1000; ++i) million.update(thousand);
    CHECK(million.hex_digest() ==
          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("dump: SHA-256 is independent of how the input is split", "[dump][sha256]") {
    // 55, 56 and 64 bytes sit on the padding boundaries.
    for (const std::size_t len : {55U, 56U, 63U, 64U, 65U, 119U, 120U, 200U}) {
        const std::string data(len, 'x');
        ovlcore::detail::sha256 bytewise;
        for (const char c : data) bytewise.update(std::string_view(&c, 1));
        CHECK(bytewise.hex_digest() == ovlcore::detail::sha256_hex(data));
    }
}

TEST_CASE("dump: JSON strings are escaped per RFC 8259", "[dump][json]") {
    const auto quote = [](std::string_view s) {
        std::string out;
        ovlcore::detail::append_json_string(out, s);
        return out;
    };
    CHECK(quote("plain/name.txt") == R"("plain/name.txt")");
    CHECK(quote("a\"b\\c") == R"("a\"b\\c")");
    CHECK(quote("\b\f\n\r\t") == R"("\b\f\n\r\t")");
    CHECK(quote(std::string_view("\x00\x01\x1f\x7f", 4)) == R"("\u0000\u0001\u001f\u007f")");
    // Well-formed UTF-8: code points (surrogate pair above the BMP).
    CHECK(quote("\xc3\xa9") == R"("\u00e9")");
    CHECK(quote("\xe2\x82\xac") == R"("\u20ac")");
    CHECK(quote("\xf0\x9d\x84\x9e") == R"("\ud834\udd1e")");
    // Bytes outside well-formed UTF-8: one lone surrogate U+DC00+byte each (PEP 383).
    CHECK(quote("\xff") == R"("\udcff")");
    CHECK(quote("\xe2\x82x") == R"("\udce2\udc82x")");                   // truncated sequence
    CHECK(quote("\xc0\xaf") == R"("\udcc0\udcaf")");                     // overlong '/'
    CHECK(quote("\xed\xa0\x80") == R"("\udced\udca0\udc80")");           // encoded surrogate
    CHECK(quote("\xf4\x90\x80\x80") == R"("\udcf4\udc90\udc80\udc80")"); // above U+10FFFF
}

TEST_CASE("dump: escaped UTF-8 and control characters parse back to the same bytes",
          "[dump][json]") {
    for (const std::string& s : {std::string("\xc3\xa9t\xc3\xa9"), std::string("\xf0\x9f\x98\x80"),
                                 std::string("tab\there"), std::string("\x01\x7f", 2)}) {
        std::string text;
        ovlcore::detail::append_json_string(text, s);
        CHECK(nlohmann::json::parse(text).get<std::string>() == s);
    }
}

TEST_CASE("dump: records of every type, sorted by path bytes", "[dump]") {
    fake_view view;
    auto& root = view.add("/", file_type::directory, 0755);
    // Listing order is not byte order; "d-x" sorts between "d" and "d/x" ('-' < '/').
    root.children = {"z", "d-x", "d", "a", "l", "c", "b", "p", "s", "\xc3\xa9"};
    view.add("/a", file_type::regular, 0644).content = "hello\n";
    auto& big = view.add("/b", file_type::regular, 0600);
    big.content = std::string(70000, 'q');
    big.st.uid = 1000;
    big.st.gid = 100;
    auto& dev = view.add("/c", file_type::char_device, 0620);
    dev.st.rdev_major = 1;
    dev.st.rdev_minor = 3;
    view.add("/d", file_type::directory, 01777).children = {"x"};
    auto& x = view.add("/d/x", file_type::regular, 04755);
    x.content = "x";
    x.st.uid = 1;
    x.st.gid = 2;
    view.add("/d-x", file_type::fifo, 0644);
    view.add("/l", file_type::symlink, 0777).target = "../a target";
    view.add("/p", file_type::block_device, 0660).st.rdev_major = 8;
    view.add("/s", file_type::socket, 0755);
    view.add("/z", file_type::regular, 0644).content = "line1\nline2\n";
    view.add("/\xc3\xa9", file_type::regular, 0644).content = "";

    const std::vector<std::string> expected = {
        R"({"path": "/", "type": "dir", "mode": "0755", "uid": 0, "gid": 0})",
        R"({"path": "/a", "type": "reg", "mode": "0644", "uid": 0, "gid": 0, "size": 6, )"
        R"("sha256": "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"})",
        R"({"path": "/b", "type": "reg", "mode": "0600", "uid": 1000, "gid": 100, "size": 70000, )"
        R"("sha256": "87e39d0a36d219abad3baf4620d958fd3ee3f4cac6d9497e682af735dca09cde"})",
        R"({"path": "/c", "type": "chr", "mode": "0620", "uid": 0, "gid": 0, "rdev": "1:3"})",
        R"({"path": "/d", "type": "dir", "mode": "1777", "uid": 0, "gid": 0})",
        R"({"path": "/d-x", "type": "fifo", "mode": "0644", "uid": 0, "gid": 0})",
        R"({"path": "/d/x", "type": "reg", "mode": "4755", "uid": 1, "gid": 2, "size": 1, )"
        R"("sha256": "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"})",
        R"({"path": "/l", "type": "lnk", "mode": "0777", "uid": 0, "gid": 0, "size": 11, )"
        R"("target": "../a target"})",
        R"({"path": "/p", "type": "blk", "mode": "0660", "uid": 0, "gid": 0, "rdev": "8:0"})",
        R"({"path": "/s", "type": "sock", "mode": "0755", "uid": 0, "gid": 0})",
        R"({"path": "/z", "type": "reg", "mode": "0644", "uid": 0, "gid": 0, "size": 12, )"
        R"("sha256": "2751a3a2f303ad21752038085e2b8c5f98ecff61a2e4ebbd43506a941725be80"})",
        R"({"path": "/\u00e9", "type": "reg", "mode": "0644", "uid": 0, "gid": 0, "size": 0, )"
        R"("sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"})",
    };
    CHECK(dump_lines(view) == expected);
    // Every path is looked at once.
    for (const auto& [path, calls] : view.lstat_calls) CHECK(calls == 1);
}

TEST_CASE("dump: failures become error / readdir_error records", "[dump]") {
    fake_view view;
    view.add("/", file_type::directory, 0755).children = {"ghost", "locked", "eio", "badread",
                                                          "badlink"};
    view.add("/ghost", file_type::regular, 0644).lstat_error = std::errc::no_such_file_or_directory;
    auto& locked = view.add("/locked", file_type::directory, 0700);
    locked.children = {"inner"};
    locked.readdir_error = std::errc::permission_denied;
    view.add("/locked/inner", file_type::regular, 0644);
    auto& eio = view.add("/eio", file_type::regular, 0644);
    eio.st.size = 100; // e.g. a metacopy file whose data cannot be found (spec §6)
    eio.open_error = std::errc::io_error;
    auto& badread = view.add("/badread", file_type::regular, 0644);
    badread.content = std::string(5000, 'r');
    badread.read_error = std::errc::io_error;
    auto& badlink = view.add("/badlink", file_type::symlink, 0777);
    badlink.target = "t";
    badlink.readlink_error = std::errc::io_error;

    const std::vector<std::string> expected = {
        R"({"path": "/", "type": "dir", "mode": "0755", "uid": 0, "gid": 0})",
        R"({"path": "/badlink", "type": "lnk", "mode": "0777", "uid": 0, "gid": 0, "size": 1, )"
        R"("error": "EIO"})",
        R"({"path": "/badread", "type": "reg", "mode": "0644", "uid": 0, "gid": 0, "size": 5000, )"
        R"("error": "EIO"})",
        R"({"path": "/eio", "type": "reg", "mode": "0644", "uid": 0, "gid": 0, "size": 100, )"
        R"("error": "EIO"})",
        R"({"path": "/ghost", "error": "ENOENT"})",
        R"({"path": "/locked", "type": "dir", "mode": "0700", "uid": 0, "gid": 0, )"
        R"("readdir_error": "EACCES"})",
    };
    CHECK(dump_lines(view) == expected);
}

TEST_CASE("dump: probes always get exactly one record", "[dump]") {
    fake_view view;
    view.add("/", file_type::directory, 0755).children = {"a"};
    view.add("/a", file_type::regular, 0644).content = "x";
    auto& hidden = view.add("/hidden", file_type::directory, 0755); // not in any listing
    hidden.children = {"inside"};
    view.add("/hidden/inside", file_type::regular, 0644);

    const std::vector<std::string> expected = {
        R"({"path": "/", "type": "dir", "mode": "0755", "uid": 0, "gid": 0})",
        R"({"path": "/a", "type": "reg", "mode": "0644", "uid": 0, "gid": 0, "size": 1, )"
        R"("sha256": "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"})",
        R"({"path": "/a/b", "error": "ENOENT"})",
        R"({"path": "/hidden", "type": "dir", "mode": "0755", "uid": 0, "gid": 0})",
        R"({"path": "/nope", "error": "ENOENT"})",
    };
    CHECK(dump_lines(view, {"/nope", "/a", "/hidden", "/a/b", "/nope"}) == expected);
    CHECK(view.lstat_calls["/a"] == 1);
}

TEST_CASE("dump: a refused stack is one mount_error line", "[dump]") {
    CHECK(ovlcore::mount_error_json(std::errc::too_many_symbolic_link_levels,
                                    "overlayfs: conflicting lowerdir path") ==
          R"({"mount_error": "ELOOP", "message": "overlayfs: conflicting lowerdir path"})");
}

TEST_CASE("dump: JSON Lines output parses back into the records' fields", "[dump][json]") {
    fake_view view;
    view.add("/", file_type::directory, 0755).children = {"q\"uote"};
    view.add("/q\"uote", file_type::symlink, 0777).target = "a\nb";
    const auto records = ovlcore::dump_records(view);
    const std::string text = ovlcore::to_jsonl(records);
    REQUIRE(std::count(text.begin(), text.end(), '\n') == 2);
    const auto second = nlohmann::json::parse(text.substr(text.find('\n') + 1));
    CHECK(second == nlohmann::json{{"path", "/q\"uote"},
                                   {"type", "lnk"},
                                   {"mode", "0777"},
                                   {"uid", 0},
                                   {"gid", 0},
                                   {"size", 3},
                                   {"target", "a\nb"}});
}
