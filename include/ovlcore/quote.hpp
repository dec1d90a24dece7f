// SPDX-License-Identifier: MIT
// ovlcore/quote.hpp: byte strings made safe for a terminal, quoted the way GNU ls quotes names on
// a terminal (--quoting-style=shell-escape): control bytes and invalid UTF-8 become $'\033'-style
// escapes, so no name, symlink target, redirect value or message can move the cursor, retitle the
// terminal or start a new line (docs/cli.md §9 "Text output"). Portable, no dependencies; the
// readable outputs of the tools use it, the JSON outputs do not (they are JSON-escaped).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ovlcore {

/// When shell_quote() puts quotes around a string that needs no escaping.
enum class quoting : std::uint8_t {
    as_needed, ///< ls --quoting-style=shell-escape: "plain" stays plain
    always,    ///< ls --quoting-style=shell-escape-always: "plain" becomes "'plain'"
};

namespace detail {

/// Length of the character at the start of `s`, a valid UTF-8 sequence, or 0 if that sequence is
/// invalid (bad lead, missing or bad continuation, overlong form, surrogate, above U+10FFFF).
/// `code` receives the code point.
[[nodiscard]] constexpr std::size_t utf8_char(std::string_view s, char32_t& code) noexcept {
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    const unsigned lead = byte(0);
    std::size_t n = 0;
    unsigned low = 0x80, high = 0xBF; // the allowed range of the second byte
    if (lead < 0x80) {
        code = lead;
        return 1;
    }
    if (lead >= 0xC2 && lead <= 0xDF) {
        n = 2;
        code = lead & 0x1FU;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        n = 3;
        code = lead & 0x0FU;
        if (lead == 0xE0) low = 0xA0;  // no overlong forms
        if (lead == 0xED) high = 0x9F; // no surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        n = 4;
        code = lead & 0x07U;
        if (lead == 0xF0) low = 0x90;  // no overlong forms
        if (lead == 0xF4) high = 0x8F; // nothing above U+10FFFF
    } else {
        return 0;
    }
    if (s.size() < n || byte(1) < low || byte(1) > high) return 0;
    for (std::size_t i = 1; i < n; ++i) {
        if ((byte(i) & 0xC0U) != 0x80U) return 0;
        code = (code << 6U) | (byte(i) & 0x3FU);
    }
    return n;
}

/// Whether a decoded character is shown as is: not a C0 or C1 control, not DEL, not the line and
/// paragraph separators U+2028/U+2029 and not the noncharacters U+FFFE/U+FFFF.
[[nodiscard]] constexpr bool printable_char(char32_t c) noexcept {
    return !(c < 0x20 || (c >= 0x7F && c <= 0x9F) || c == 0x2028 || c == 0x2029 || c == 0xFFFE ||
             c == 0xFFFF);
}

/// Length of the unit at the start of `s` and whether it is shown as is (printable) or escaped
/// byte by byte (a control, a non-printable character, or one byte of invalid UTF-8).
struct text_unit {
    std::size_t size = 1;
    bool printable = false;
};

[[nodiscard]] constexpr text_unit next_unit(std::string_view s) noexcept {
    char32_t code = 0;
    const std::size_t n = utf8_char(s, code);
    if (n == 0) return {.size = 1, .printable = false};
    return {.size = n, .printable = printable_char(code)};
}

/// Appends the escape of one byte as inside $'...': \a \b \t \n \v \f \r, else three octal digits.
inline void append_byte_escape(std::string& out, unsigned char b) {
    switch (b) {
    case '\a': out += "\\a"; return;
    case '\b': out += "\\b"; return;
    case '\t': out += "\\t"; return;
    case '\n': out += "\\n"; return;
    case '\v': out += "\\v"; return;
    case '\f': out += "\\f"; return;
    case '\r': out += "\\r"; return;
    default: break;
    }
    out += '\\';
    out += static_cast<char>('0' + ((b >> 6U) & 7U));
    out += static_cast<char>('0' + ((b >> 3U) & 7U));
    out += static_cast<char>('0' + (b & 7U));
}

/// Characters that make the shell (and so ls) quote a name wherever they appear.
[[nodiscard]] constexpr bool shell_special(char c) noexcept {
    return std::string_view(" !\"$&'()*;<=>?[\\^`|").find(c) != std::string_view::npos;
}

/// Characters that a double-quoted name may hold (ls uses "..." only for a name with a single
/// quote and nothing else that double quotes or C would treat differently).
[[nodiscard]] constexpr bool double_quote_safe(char c) noexcept {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           std::string_view(" %+,-./:@]_'").find(c) != std::string_view::npos;
}

} // namespace detail

/// `bytes` as GNU ls prints a name on a terminal (--quoting-style=shell-escape in a UTF-8
/// locale): as is when it needs no quoting (no shell special character, no '#' or '~' in front,
/// not "{" or "}" alone, no control or invalid byte, not empty); "..." when its only problem is
/// a single quote (and it holds nothing else a shell treats differently in "..."); otherwise
/// '...' with each ' written '\'' and each run of control, non-printable or invalid UTF-8 bytes
/// written $'\n', $'\a', $'\033' (octal) between the quoted parts. Valid printable UTF-8 is kept.
/// The result is one line of printable text that a POSIX shell with $'' (bash, zsh, ksh) reads
/// back as `bytes`. @see docs/cli.md §9
[[nodiscard]] inline std::string shell_quote(std::string_view bytes,
                                             quoting when = quoting::as_needed) {
    bool special = bytes.empty() || bytes.front() == '#' || bytes.front() == '~' || bytes == "{" ||
                   bytes == "}";
    bool escapes = false, single = false, double_ok = true;
    for (std::size_t i = 0; i < bytes.size();) {
        const detail::text_unit u = detail::next_unit(bytes.substr(i));
        if (!u.printable) escapes = true;
        if (u.size == 1 && u.printable) {
            special = special || detail::shell_special(bytes[i]);
            single = single || bytes[i] == '\'';
            double_ok = double_ok && (detail::double_quote_safe(bytes[i]) ||
                                      (i == 0 && (bytes[i] == '#' || bytes[i] == '~')));
        }
        i += u.size;
    }
    if (!special && !escapes && when == quoting::as_needed) return std::string(bytes);
    if (single && !escapes && double_ok) return "\"" + std::string(bytes) + "\"";
    std::string out = "'";
    bool in_escape = false; // inside $'...' rather than '...'
    for (std::size_t i = 0; i < bytes.size();) {
        const detail::text_unit u = detail::next_unit(bytes.substr(i));
        if (!u.printable) {
            if (!in_escape) out += "'$'";
            in_escape = true;
            for (std::size_t k = 0; k < u.size; ++k)
                detail::append_byte_escape(out, static_cast<unsigned char>(bytes[i + k]));
        } else if (bytes[i] == '\'') {
            out += "'\\''"; // closes either kind of quote, an escaped quote, reopens '...'
            in_escape = false;
        } else {
            if (in_escape) out += "''";
            in_escape = false;
            out.append(bytes.substr(i, u.size));
        }
        i += u.size;
    }
    return out + "'";
}

/// A line of free text (a message that quotes names itself, a kernel log line, a layer label)
/// made safe the same way without adding quotes: printable text is kept as it is, and each run of
/// control, non-printable or invalid UTF-8 bytes (a newline too) becomes $'...' outside single
/// quotes and '$'...'' inside them, so that a name the text puts in '...' reads as shell_quote(
/// name, quoting::always) would show it. Safe text comes back unchanged. @see docs/cli.md §9
[[nodiscard]] inline std::string shell_escape_text(std::string_view text) {
    std::string out;
    bool quoted = false; // after an odd number of single quotes
    for (std::size_t i = 0; i < text.size();) {
        detail::text_unit u = detail::next_unit(text.substr(i));
        if (u.printable) {
            if (text[i] == '\'') quoted = !quoted;
            out.append(text.substr(i, u.size));
            i += u.size;
            continue;
        }
        out += quoted ? "'$'" : "$'";
        while (!u.printable) {
            for (std::size_t k = 0; k < u.size; ++k)
                detail::append_byte_escape(out, static_cast<unsigned char>(text[i + k]));
            i += u.size;
            if (i == text.size()) break;
            u = detail::next_unit(text.substr(i));
        }
        out += '\'';
        if (quoted && i < text.size() && text[i] == '\'') { // the run ends the quoted name
            quoted = false;
            ++i;
        } else if (quoted) {
            out += '\'';
        }
    }
    return out;
}

} // namespace ovlcore
