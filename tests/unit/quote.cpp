// SPDX-License-Identifier: MIT
// Tests of ovlcore/quote.hpp (docs/cli.md §9 "Text output"). Every expected string of
// shell_quote() is what GNU ls 9.1 printed for a file of that name with
// `LC_ALL=C.UTF-8 ls --quoting-style=shell-escape` (or shell-escape-always).
#include <catch2/catch.hpp>

#include <string>
#include <string_view>

#include <ovlcore/lint.hpp>
#include <ovlcore/quote.hpp>

using namespace ovlcore;

namespace {

/// True if `text` holds no byte below 0x20 and no DEL: nothing a terminal acts on.
bool no_control_bytes(std::string_view text) {
    for (const char c : text)
        if (static_cast<unsigned char>(c) < 0x20 || c == '\x7f') return false;
    return true;
}

} // namespace

TEST_CASE("shell_quote: names that need no quoting are kept as they are", "[quote]") {
    CHECK(shell_quote("plain") == "plain");
    CHECK(shell_quote("a-b.c_d:e,f+g@h%i") == "a-b.c_d:e,f+g@h%i");
    CHECK(shell_quote("a#") == "a#");
    CHECK(shell_quote("a~") == "a~");
    CHECK(shell_quote("{a}") == "{a}");
    CHECK(shell_quote("/usr/bin/tool") == "/usr/bin/tool");
}

TEST_CASE("shell_quote: shell special characters are single-quoted", "[quote]") {
    CHECK(shell_quote("a b") == "'a b'");
    CHECK(shell_quote("x$y") == "'x$y'");
    CHECK(shell_quote("a\\b") == "'a\\b'");
    CHECK(shell_quote("a\"b") == "'a\"b'");
    CHECK(shell_quote("st*") == "'st*'");
    CHECK(shell_quote("q?") == "'q?'");
    CHECK(shell_quote("a=b") == "'a=b'");
    CHECK(shell_quote("#c") == "'#c'");
    CHECK(shell_quote("~home") == "'~home'");
    CHECK(shell_quote("{") == "'{'");
}

TEST_CASE("shell_quote: single quotes", "[quote]") {
    CHECK(shell_quote("it's") == "\"it's\"");
    CHECK(shell_quote("'") == "\"'\"");
    CHECK(shell_quote("a'b c") == "\"a'b c\"");
    CHECK(shell_quote("#'") == "\"#'\"");
    CHECK(shell_quote("a'$b") == "'a'\\''$b'");
    CHECK(shell_quote("a'!b") == "'a'\\''!b'");
    CHECK(shell_quote("'#") == "''\\''#'");
}

TEST_CASE("shell_quote: control bytes are escaped", "[quote]") {
    CHECK(shell_quote("a\x1b"
                      "b") == "'a'$'\\033''b'"); // ESC
    CHECK(shell_quote("\x1b") == "''$'\\033'");
    CHECK(shell_quote("\x1b]0;owned\x07") == "''$'\\033'']0;owned'$'\\a'"); // a title change
    CHECK(shell_quote("\abell") == "''$'\\a''bell'");                       // BEL
    CHECK(shell_quote("line1\nline2") == "'line1'$'\\n''line2'");
    CHECK(shell_quote("tab\tx") == "'tab'$'\\t''x'");
    CHECK(shell_quote("del\x7f") == "'del'$'\\177'");
    CHECK(shell_quote(std::string_view("\x01\x02\x03\x04\x05\x06\b\v\f\r\x0e\x1f", 12)) ==
          "''$'\\001\\002\\003\\004\\005\\006\\b\\v\\f\\r\\016\\037'");
    // No file name holds NUL; a string that does is escaped by the same rule.
    CHECK(shell_quote(std::string_view("a\0b", 3)) == "'a'$'\\000''b'");
    CHECK(shell_quote("a\x1b\x1b"
                      "b") == "'a'$'\\033\\033''b'");
    CHECK(shell_quote("x\x1b'y") == "'x'$'\\033'\\''y'");
    CHECK(shell_quote("a'\x1b"
                      "b") == "'a'\\'''$'\\033''b'");
}

TEST_CASE("shell_quote: invalid UTF-8 is escaped byte by byte", "[quote]") {
    CHECK(shell_quote("bad\xc3") == "'bad'$'\\303'");                   // truncated sequence
    CHECK(shell_quote("\xff") == "''$'\\377'");                         // never valid
    CHECK(shell_quote("\x80") == "''$'\\200'");                         // lone continuation byte
    CHECK(shell_quote("over\xc0\xaf") == "'over'$'\\300\\257'");        // overlong '/'
    CHECK(shell_quote("sur\xed\xa0\x80") == "'sur'$'\\355\\240\\200'"); // a surrogate
    CHECK(shell_quote("big\xf4\x90\x80\x80") == "'big'$'\\364\\220\\200\\200'"); // > U+10FFFF
    CHECK(shell_quote("trunc\xe2\x82") == "'trunc'$'\\342\\202'");
}

TEST_CASE("shell_quote: valid UTF-8 is kept, non-printable characters are escaped", "[quote]") {
    CHECK(shell_quote("caf\xc3\xa9") == "caf\xc3\xa9");
    CHECK(shell_quote("\xe2\x82\xac") == "\xe2\x82\xac");
    CHECK(shell_quote("emoji\xf0\x9f\x98\x80") == "emoji\xf0\x9f\x98\x80");
    CHECK(shell_quote("\xc3\xa9 b") == "'\xc3\xa9 b'");
    CHECK(shell_quote("a'\xc3\xa9") == "\"a'\xc3\xa9\"");
    CHECK(shell_quote("c1\xc2\x9bx") == "'c1'$'\\302\\233''x'");      // U+009B, the C1 CSI
    CHECK(shell_quote("ls\xe2\x80\xa8") == "'ls'$'\\342\\200\\250'"); // U+2028 line separator
    CHECK(shell_quote("\xef\xbf\xbf") == "''$'\\357\\277\\277'");     // U+FFFF
}

TEST_CASE("shell_quote: the empty string and quoting::always", "[quote]") {
    CHECK(shell_quote("") == "''");
    CHECK(shell_quote("", quoting::always) == "''");
    CHECK(shell_quote("plain", quoting::always) == "'plain'");
    CHECK(shell_quote("a b", quoting::always) == "'a b'");
    CHECK(shell_quote("it's", quoting::always) == "\"it's\"");
    CHECK(shell_quote("a\x1b"
                      "b",
                      quoting::always) == "'a'$'\\033''b'");
}

TEST_CASE("shell_quote: the result is one line without control bytes", "[quote]") {
    std::string every_byte;
    for (int b = 1; b < 256; ++b) every_byte += static_cast<char>(b);
    const std::string q = shell_quote(every_byte);
    CHECK(no_control_bytes(q));
    CHECK(q.find('\n') == std::string::npos);
    CHECK(no_control_bytes(shell_quote(std::string(1, '\0'))));
}

TEST_CASE("shell_escape_text: free text", "[quote]") {
    // Safe text is unchanged, quotes and all.
    CHECK(shell_escape_text("invalid redirect 'a b' on [1:lower] 'x' (§2.3)") ==
          "invalid redirect 'a b' on [1:lower] 'x' (§2.3)");
    CHECK(shell_escape_text("") == "");
    // A run of unsafe bytes inside '...' reads like shell_quote(name, quoting::always).
    CHECK(shell_escape_text("redirect 'a\x1b"
                            "b' on 'x'") == "redirect 'a'$'\\033''b' on 'x'");
    CHECK(shell_escape_text("redirect 'a\x1b' on 'x'") == "redirect 'a'$'\\033' on 'x'");
    CHECK(shell_escape_text("redirect '\x1b"
                            "a' here") == "redirect ''$'\\033''a' here");
    // Outside quotes: $'...'.
    CHECK(shell_escape_text("shares its inode with /a\nb") == "shares its inode with /a$'\\n'b");
    CHECK(shell_escape_text("bell\x07\x07") == "bell$'\\a\\a'");
    CHECK(shell_escape_text("bad \xc3 byte") == "bad $'\\303' byte");
    CHECK(shell_escape_text("caf\xc3\xa9") == "caf\xc3\xa9");
    std::string every_byte;
    for (int b = 0; b < 256; ++b) every_byte += static_cast<char>(b);
    CHECK(no_control_bytes(shell_escape_text(every_byte)));
    CHECK(no_control_bytes(shell_escape_text("'" + every_byte + "'")));
}

TEST_CASE("lint to_text: one line whatever the path and message hold", "[quote][lint]") {
    const lint_finding f{.path = "/ok\nerror /x invalid-redirect: forged",
                         .severity = lint_severity::error,
                         .code = lint_code::invalid_redirect,
                         .message = "invalid redirect 'z\x07' on [1:l\x1b] 'ok\nerror'"};
    CHECK(to_text(f) ==
          "error '/ok'$'\\n''error /x invalid-redirect: forged' invalid-redirect: "
          "invalid redirect 'z'$'\\a' on [1:l$'\\033'] 'ok'$'\\n''error'");
    // The JSON form keeps the bytes (JSON-escaped).
    CHECK(to_json(f).find("\"path\": \"/ok\\nerror /x") != std::string::npos);
}
