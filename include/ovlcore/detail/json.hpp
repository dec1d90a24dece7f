// SPDX-License-Identifier: MIT
// ovlcore/detail/json.hpp: the tiny JSON writer behind the canonical dump (dump-format.md):
// RFC 8259 string escaping and objects written in a fixed key order. Internal: users do not
// include it.
//
// Strings are byte strings (file names, symlink targets, messages). The writer's output is pure
// ASCII and spells every string the way Python's `json.dumps(os.fsdecode(raw_bytes))` does:
//   - `"` and `\` are escaped, \b \f \n \r \t use their short forms, every other byte below
//     0x20 and DEL (0x7f) become \u00XX;
//   - well-formed UTF-8 sequences become \uXXXX (a surrogate pair above U+FFFF), so "é" is \u00e9;
//   - a byte that is not part of a well-formed UTF-8 sequence (RFC 3629, Unicode table 3-7: no
//     overlongs, no encoded surrogates, nothing above U+10FFFF) becomes the lone surrogate
//     \udc80..\udcff (PEP 383 "surrogateescape"), which keeps the raw byte recoverable.
// Writing \u00XX for such a byte would be wrong: it denotes the code point U+00XX, which a reader
// turns into two UTF-8 bytes. RFC 8259 §8.2 allows lone surrogates in the grammar but warns that
// readers differ (nlohmann::json rejects them), so they appear only for names that are not UTF-8.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ovlcore::detail {

/// Length of the well-formed UTF-8 sequence starting at s[i], or 0 if s[i] does not start one.
[[nodiscard]] constexpr std::size_t utf8_sequence_length(std::string_view s,
                                                         std::size_t i) noexcept {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char b0 = byte(i);
    if (b0 < 0x80) return 1;
    std::size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF; // allowed range of the second byte
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        len = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        len = 3;
        if (b0 == 0xE0) lo = 0xA0; // no overlongs
        if (b0 == 0xED) hi = 0x9F; // no UTF-16 surrogates
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        len = 4;
        if (b0 == 0xF0) lo = 0x90; // no overlongs
        if (b0 == 0xF4) hi = 0x8F; // nothing above U+10FFFF
    } else {
        return 0;
    }
    if (s.size() - i < len) return 0;
    if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
    for (std::size_t k = 2; k < len; ++k)
        if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
    return len;
}

/// Appends \uXXXX (lowercase hex, as Python writes it).
inline void append_json_u_escape(std::string& out, std::uint32_t unit) {
    constexpr std::string_view digits = "0123456789abcdef";
    out += "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) out.push_back(digits[(unit >> shift) & 0xFU]);
}

/// The two-character escape of `c` ("\\n" for a newline...), or nullptr if it has none.
[[nodiscard]] constexpr const char* json_short_escape(unsigned char c) noexcept {
    switch (c) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\b': return "\\b";
    case '\f': return "\\f";
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    default: return nullptr;
    }
}

/// Appends `s` as a quoted JSON string (see the header comment for the escaping rules).
inline void append_json_string(std::string& out, std::string_view s) {
    out.reserve(out.size() + s.size() + 2);
    out.push_back('"');
    std::size_t i = 0;
    while (i < s.size()) {
        // A run of printable ASCII that stands for itself is appended at once (a deep path is
        // mostly that).
        std::size_t plain = i;
        while (plain < s.size()) {
            const auto b = static_cast<unsigned char>(s[plain]);
            if (b < 0x20 || b >= 0x7F || b == '"' || b == '\\') break;
            ++plain;
        }
        if (plain > i) {
            out.append(s.data() + i, plain - i);
            i = plain;
            continue;
        }
        const auto c = static_cast<unsigned char>(s[i]);
        if (const char* esc = json_short_escape(c)) {
            out += esc;
            ++i;
        } else if (c < 0x20 || c == 0x7F) {
            append_json_u_escape(out, c);
            ++i;
        } else if (c < 0x80) {
            out.push_back(static_cast<char>(c));
            ++i;
        } else if (const std::size_t len = utf8_sequence_length(s, i); len == 0) {
            append_json_u_escape(out, 0xDC00U + c); // surrogateescape: the raw byte
            ++i;
        } else {
            std::uint32_t cp = c & (len == 2 ? 0x1FU : len == 3 ? 0x0FU : 0x07U);
            for (std::size_t k = 1; k < len; ++k)
                cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3FU);
            if (cp >= 0x10000) { // a surrogate pair
                cp -= 0x10000;
                append_json_u_escape(out, 0xD800U + (cp >> 10));
                append_json_u_escape(out, 0xDC00U + (cp & 0x3FFU));
            } else {
                append_json_u_escape(out, cp);
            }
            i += len;
        }
    }
    out.push_back('"');
}

/// Writes one JSON object, members in call order, spaced like Python's json.dumps:
/// `{"path": "/", "uid": 0}`. Call close() once at the end.
class json_object_writer {
public:
    explicit json_object_writer(std::string& out) : m_out(out) { m_out.push_back('{'); }

    json_object_writer& string_field(std::string_view key, std::string_view value) {
        key_prefix(key);
        append_json_string(m_out, value);
        return *this;
    }

    json_object_writer& number_field(std::string_view key, std::uint64_t value) {
        key_prefix(key);
        m_out += std::to_string(value);
        return *this;
    }

    void close() { m_out.push_back('}'); }

private:
    void key_prefix(std::string_view key) {
        if (!m_first) m_out += ", ";
        m_first = false;
        append_json_string(m_out, key);
        m_out += ": ";
    }

    std::string& m_out;
    bool m_first = true;
};

} // namespace ovlcore::detail
