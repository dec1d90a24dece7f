// SPDX-License-Identifier: MIT
// Fuzz target for the metacopy xattr value (spec §2.2, ovlcore/xattr.hpp): the size rules at
// lookup and the v0 layout parsed at open (version, len, flags, digest_algo, digest). The input
// is the raw xattr value.
#include <ovlcore/xattr.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

// The v0 layout written back: 4 header bytes, then the digest.
std::string serialise(const ovlcore::metacopy_value& v) {
    std::string out;
    out.push_back(static_cast<char>(v.version));
    out.push_back(static_cast<char>(v.len));
    out.push_back(static_cast<char>(v.flags));
    out.push_back(static_cast<char>(v.digest_algo));
    out += v.digest;
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    const std::string_view raw(reinterpret_cast<const char*>(bytes), size);

    // §2.2 "Lookup": 0 bytes count as 4, 1..3 bytes are EIO, larger sizes are kept as they are.
    const auto recorded = ovlcore::metacopy_size_at_lookup(size);
    if (size == 0) {
        check(recorded.has_value() && *recorded == ovlcore::metacopy_min_size);
    } else if (size < ovlcore::metacopy_min_size) {
        check(!recorded.has_value() && recorded.error() == std::errc::io_error);
    } else {
        check(recorded.has_value() && *recorded == size);
    }
    if (recorded) check(ovlcore::metacopy_has_digest(*recorded) == (*recorded > 4));

    // §2.2 "Open": > 68 bytes ERANGE; empty = the emulated header; 1..3 bytes, a version other
    // than 0 or a len other than the size EIO.
    const auto v = ovlcore::parse_metacopy_at_open(raw);
    if (size > ovlcore::metacopy_max_size) {
        check(!v.has_value() && v.error() == std::errc::result_out_of_range);
        return 0;
    }
    if (size == 0) {
        check(v.has_value() && *v == ovlcore::metacopy_value{});
        check(v->len == ovlcore::metacopy_min_size && v->digest.empty());
        // The emulated header, written out, is a real 4-byte header that parses the same.
        const auto header = ovlcore::parse_metacopy_at_open(serialise(*v));
        check(header.has_value() && *header == *v);
        return 0;
    }
    const bool ok = size >= ovlcore::metacopy_min_size && bytes[0] == 0 && bytes[1] == size;
    check(v.has_value() == ok);
    if (!v) {
        check(v.error() == std::errc::io_error);
        return 0;
    }
    // Accepted: the fields are the bytes, the value re-serialises to itself and re-parses equal.
    check(v->version == 0 && v->len == size && v->flags == bytes[2] && v->digest_algo == bytes[3]);
    check(v->digest.size() == size - ovlcore::metacopy_min_size);
    check(v->digest.size() <= ovlcore::metacopy_max_size - ovlcore::metacopy_min_size);
    check(serialise(*v) == raw);
    const auto again = ovlcore::parse_metacopy_at_open(serialise(*v));
    check(again.has_value() && *again == *v);
    check(ovlcore::metacopy_has_digest(v->len) == !v->digest.empty());
    return 0;
}
