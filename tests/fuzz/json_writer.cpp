// SPDX-License-Identifier: MIT
// Fuzz target for the JSON writer of the canonical dump (ovlcore/detail/json.hpp, dump-format.md)
// and the lines built with it (to_json(dump_record), mount_error_json in ovlcore/dump.hpp):
// arbitrary byte strings as keys and values, the output parsed back with nlohmann::json.
//
// What the writer promises (detail/json.hpp): pure ASCII output; well-formed UTF-8 comes back
// byte for byte from any JSON parser; every byte that is not part of a well-formed UTF-8 sequence
// is written as the lone surrogate \udc80..\udcff (PEP 383), which nlohmann::json rejects. So the
// check is: (1) the output parses as-is iff the string is well-formed UTF-8, and then gives the
// bytes back; (2) in every case, after each lone-surrogate escape \udcXX is swapped for \uf7XX (a
// private-use character), it parses and gives the string with each stray byte b replaced by
// U+F700+b, and the swapped escapes are exactly the stray bytes, in order.
//
// Input: the whole input as one string, then the same bytes read as fields (one length byte, then
// that many bytes) for an object, a dump record and a mount_error line.
#include <ovlcore/detail/json.hpp>
#include <ovlcore/dump.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

using json = nlohmann::json;

// ---- an independent UTF-8 oracle (Unicode table 3-7) -------------------------------------------

// Length of the well-formed sequence at s[i] and its code point, or 0.
std::size_t decode_utf8(std::string_view s, std::size_t i, std::uint32_t& cp) {
    const auto b = [&](std::size_t k) {
        return static_cast<std::uint32_t>(static_cast<unsigned char>(s[k]));
    };
    const std::uint32_t b0 = b(i);
    std::size_t len = 0;
    std::uint32_t min = 0;
    if (b0 < 0x80) {
        cp = b0;
        return 1;
    }
    if ((b0 & 0xE0U) == 0xC0U) {
        len = 2, cp = b0 & 0x1FU, min = 0x80;
    } else if ((b0 & 0xF0U) == 0xE0U) {
        len = 3, cp = b0 & 0x0FU, min = 0x800;
    } else if ((b0 & 0xF8U) == 0xF0U) {
        len = 4, cp = b0 & 0x07U, min = 0x10000;
    } else {
        return 0;
    }
    if (s.size() - i < len) return 0;
    for (std::size_t k = 1; k < len; ++k) {
        if ((b(i + k) & 0xC0U) != 0x80U) return 0;
        cp = (cp << 6) | (b(i + k) & 0x3FU);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0U | (cp >> 6)));
        out.push_back(static_cast<char>(0x80U | (cp & 0x3FU)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0U | (cp >> 12)));
        out.push_back(static_cast<char>(0x80U | ((cp >> 6) & 0x3FU)));
        out.push_back(static_cast<char>(0x80U | (cp & 0x3FU)));
    } else {
        out.push_back(static_cast<char>(0xF0U | (cp >> 18)));
        out.push_back(static_cast<char>(0x80U | ((cp >> 12) & 0x3FU)));
        out.push_back(static_cast<char>(0x80U | ((cp >> 6) & 0x3FU)));
        out.push_back(static_cast<char>(0x80U | (cp & 0x3FU)));
    }
}

struct expectation {
    std::string mapped; ///< s with each stray byte b replaced by U+F700+b
    std::string stray;  ///< the stray bytes, in order
};

expectation expect(std::string_view s) {
    expectation e;
    for (std::size_t i = 0; i < s.size();) {
        std::uint32_t cp = 0;
        if (const std::size_t len = decode_utf8(s, i, cp); len != 0) {
            e.mapped.append(s.substr(i, len));
            i += len;
        } else {
            const auto byte = static_cast<unsigned char>(s[i]);
            check(byte >= 0x80); // ASCII is always well-formed
            append_utf8(e.mapped, 0xF700U + byte);
            e.stray.push_back(static_cast<char>(byte));
            ++i;
        }
    }
    return e;
}

// ---- the swap of lone surrogates -----------------------------------------------------------------

unsigned hex_value(char c) {
    if (c >= '0' && c <= '9') return static_cast<unsigned>(c - '0');
    check(c >= 'a' && c <= 'f'); // the writer uses lowercase hex
    return static_cast<unsigned>(c - 'a' + 10);
}

// Checks the output is printable ASCII, swaps each lone-surrogate escape \udcXX for \uf7XX and
// returns the bytes XX in order (in `stray`). Escapes are found by walking the JSON text.
std::string swap_lone_surrogates(const std::string& text, std::string& stray) {
    std::string out;
    out.reserve(text.size());
    bool in_string = false;
    bool after_high = false; // the previous token was a \ud800..\udbff escape
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        check(c >= 0x20 && c <= 0x7E); // pure ASCII, no raw control byte
        if (!in_string) {
            if (c == '"') in_string = true;
            out.push_back(c);
            continue;
        }
        if (c == '"') {
            check(!after_high);
            in_string = false;
            out.push_back(c);
            continue;
        }
        if (c != '\\') {
            check(!after_high);
            out.push_back(c);
            continue;
        }
        check(i + 1 < text.size());
        const char kind = text[++i];
        if (kind != 'u') {
            check(!after_high);
            out.push_back('\\');
            out.push_back(kind);
            continue;
        }
        check(i + 4 < text.size());
        unsigned unit = 0;
        for (int k = 1; k <= 4; ++k)
            unit = unit * 16 + hex_value(text[i + static_cast<std::size_t>(k)]);
        i += 4;
        if (unit >= 0xDC00 && unit <= 0xDFFF && !after_high) {
            check(unit >= 0xDC80 && unit <= 0xDCFF); // only bytes 0x80..0xff can be stray
            stray.push_back(static_cast<char>(unit - 0xDC00));
            out += "\\uf7";
            out.append(text, i - 1, 2);
            continue;
        }
        if (after_high) check(unit >= 0xDC00 && unit <= 0xDFFF); // a pair is always complete
        after_high = unit >= 0xD800 && unit <= 0xDBFF;
        out.append(text, i - 5, 6);
    }
    check(!in_string);
    return out;
}

// ---- one string ----------------------------------------------------------------------------------

void check_string(std::string_view s) {
    std::string text;
    ovlcore::detail::append_json_string(text, s);
    const expectation e = expect(s);

    // (1) as written
    const bool utf8 = e.stray.empty();
    const json direct = json::parse(text, nullptr, /*allow_exceptions=*/false);
    check(direct.is_discarded() == !utf8);
    if (utf8) check(direct.is_string() && direct.get_ref<const std::string&>() == s);

    // (2) with the lone surrogates swapped
    std::string stray;
    const std::string swapped = swap_lone_surrogates(text, stray);
    check(stray == e.stray);
    const json parsed = json::parse(swapped, nullptr, false);
    check(parsed.is_string() && parsed.get_ref<const std::string&>() == e.mapped);
}

// ---- objects: the exact member sequence through nlohmann's SAX interface ------------------------

using member = std::pair<std::string, std::variant<std::string, std::uint64_t>>;

struct recorder : nlohmann::json_sax<json> {
    std::vector<member> members;
    int depth = 0;
    bool ok = true;
    std::string pending_key;
    bool fail() { return ok = false; }
    bool null() override { return fail(); }
    bool boolean(bool) override { return fail(); }
    bool number_integer(number_integer_t) override { return fail(); }
    bool number_unsigned(number_unsigned_t v) override {
        members.emplace_back(std::move(pending_key), std::uint64_t{v});
        return depth == 1 || fail();
    }
    bool number_float(number_float_t, const string_t&) override { return fail(); }
    bool string(string_t& v) override {
        members.emplace_back(std::move(pending_key), std::move(v));
        return depth == 1 || fail();
    }
    bool binary(binary_t&) override { return fail(); }
    bool start_object(std::size_t) override { return ++depth == 1 || fail(); }
    bool key(string_t& k) override {
        pending_key = std::move(k);
        return true;
    }
    bool end_object() override { return --depth == 0 || fail(); }
    bool start_array(std::size_t) override { return fail(); }
    bool end_array() override { return fail(); }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
        return fail();
    }
};

// Parses one object line (after the swap) and checks its members, in order, against `expected`
// (strings given raw, mapped here).
void check_object(const std::string& text, const std::vector<member>& expected) {
    std::string stray, want_stray;
    const std::string swapped = swap_lone_surrogates(text, stray);
    recorder rec;
    check(json::sax_parse(swapped, &rec) && rec.ok && rec.depth == 0);
    check(rec.members.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const expectation key = expect(expected[i].first);
        want_stray += key.stray;
        check(rec.members[i].first == key.mapped);
        if (const auto* s = std::get_if<std::string>(&expected[i].second)) {
            const expectation value = expect(*s);
            want_stray += value.stray;
            check(std::get<std::string>(rec.members[i].second) == value.mapped);
        } else {
            check(rec.members[i].second == expected[i].second);
        }
    }
    check(stray == want_stray);
    // Spaced like Python's json.dumps (detail/json.hpp).
    check(text.front() == '{' && text.back() == '}');
    if (!expected.empty()) check(text.compare(0, 2, "{\"") == 0);
}

// Reads length-prefixed fields.
struct reader {
    std::string_view rest;
    std::string field() {
        if (rest.empty()) return {};
        const std::size_t n =
            std::min<std::size_t>(static_cast<unsigned char>(rest[0]), rest.size() - 1);
        std::string out(rest.substr(1, n));
        rest.remove_prefix(1 + n);
        return out;
    }
    std::uint64_t number() {
        std::uint64_t v = 0;
        for (int k = 0; k < 8 && !rest.empty(); ++k) {
            v = (v << 8) | static_cast<unsigned char>(rest[0]);
            rest.remove_prefix(1);
        }
        return v;
    }
    unsigned small() {
        if (rest.empty()) return 0;
        const auto v = static_cast<unsigned char>(rest[0]);
        rest.remove_prefix(1);
        return v;
    }
};

void check_writer_object(reader& in) {
    std::string text;
    std::vector<member> expected;
    ovlcore::detail::json_object_writer obj(text);
    const unsigned count = in.small() % 8;
    for (unsigned i = 0; i < count; ++i) {
        std::string key = in.field();
        if (in.small() % 2 == 0) {
            std::string value = in.field();
            obj.string_field(key, value);
            expected.emplace_back(std::move(key), std::move(value));
        } else {
            const std::uint64_t value = in.number();
            obj.number_field(key, value);
            expected.emplace_back(std::move(key), value);
        }
    }
    obj.close();
    check_object(text, expected);
}

// A dump record line (dump-format.md): keys in the table's order, fields present as documented.
void check_dump_record(reader& in) {
    ovlcore::dump_record rec;
    rec.path = in.field();
    const unsigned flags = in.small() | (in.small() << 8);
    std::vector<member> expected{{"path", rec.path}};
    if (flags & 1U) {
        rec.type = static_cast<ovlcore::file_type>((flags >> 1) % 8);
        rec.mode = static_cast<std::uint32_t>(in.number());
        rec.uid = static_cast<std::uint32_t>(in.number());
        rec.gid = static_cast<std::uint32_t>(in.number());
        const std::uint32_t m = rec.mode & 07777U;
        std::string mode;
        for (int shift = 9; shift >= 0; shift -= 3)
            mode.push_back(static_cast<char>('0' + ((m >> shift) & 7U)));
        expected.emplace_back("type", std::string(ovlcore::dump_name(*rec.type)));
        expected.emplace_back("mode", mode);
        expected.emplace_back("uid", std::uint64_t{rec.uid});
        expected.emplace_back("gid", std::uint64_t{rec.gid});
    }
    if (flags & 16U) {
        rec.size = in.number();
        expected.emplace_back("size", *rec.size);
    }
    if (flags & 32U) {
        rec.sha256 = in.field();
        expected.emplace_back("sha256", *rec.sha256);
    }
    if (flags & 64U) {
        rec.error = static_cast<std::errc>(in.small());
        expected.emplace_back("error", std::string(ovlcore::errno_name(*rec.error)));
    }
    if (flags & 128U) {
        rec.target = in.field();
        expected.emplace_back("target", *rec.target);
    }
    if (flags & 256U) {
        rec.rdev = ovlcore::device_number{.major = static_cast<std::uint32_t>(in.number()),
                                          .minor = static_cast<std::uint32_t>(in.number())};
        expected.emplace_back("rdev", std::to_string(rec.rdev->major) + ":" +
                                          std::to_string(rec.rdev->minor));
    }
    if (flags & 512U) {
        rec.readdir_error = static_cast<std::errc>(in.small());
        expected.emplace_back("readdir_error",
                              std::string(ovlcore::errno_name(*rec.readdir_error)));
    }
    const std::string line = ovlcore::to_json(rec);
    check(line.find('\n') == std::string::npos); // one record, one line
    check_object(line, expected);
    const ovlcore::dump_record records[] = {rec, rec};
    check(ovlcore::to_jsonl(records) == line + "\n" + line + "\n");
}

void check_mount_error_line(reader& in) {
    const auto code = static_cast<std::errc>(in.small());
    const std::string message = in.field();
    const std::string line = ovlcore::mount_error_json(code, message);
    check(line.find('\n') == std::string::npos);
    check_object(line,
                 {{"mount_error", std::string(ovlcore::errno_name(code))}, {"message", message}});
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(bytes), size);
    check_string(input);
    reader in{input};
    check_writer_object(in);
    check_dump_record(in);
    check_mount_error_line(in);
    return 0;
}
