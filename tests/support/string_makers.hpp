// SPDX-License-Identifier: MIT
// tests/support/string_makers.hpp: failures print domain values (docs/contributing.md §28). Catch2
// StringMaker specialisations for std::errc, file_type, layer_kind, stat_info (every field, as
// operator== compares them), dir_entry and result<T>, all through the formatters of
// <ovlcore/fmt.hpp>; and err(r), "ok" or the errno name of a result, for REQUIRE(err(r) == "ok");
// sorted(v), for comparing lists whose order is not the point.
//
// Every ovlcore_tests source that asserts on these types must see these specialisations (a TU
// without them would instantiate Catch's generic StringMaker for the same type: an ODR clash).
// fs_tree.hpp (and so overlay_fixture.hpp) includes this header; the other test files include it
// directly. Test support only.
#pragma once

#include <algorithm>
#include <string>
#include <system_error>
#include <vector>

#include <catch2/catch.hpp>

#include <ovlcore/fmt.hpp>
#include <ovlcore/result.hpp>
#include <ovlcore/types.hpp>

namespace ovlcore::test {

/// "ok" or the errno name of a result, so that a failed REQUIRE(err(r) == "ok") says which errno.
template <class R>
std::string err(const R& r) {
    return r ? std::string("ok") : std::string(ovlcore::errno_name(r.error()));
}

/// `v` in ascending order.
inline std::vector<std::string> sorted(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
}

} // namespace ovlcore::test

namespace Catch {

template <>
struct StringMaker<std::errc> {
    static std::string convert(std::errc e) { return fmt::format("{}", e); }
};

template <>
struct StringMaker<ovlcore::file_type> {
    static std::string convert(ovlcore::file_type t) { return fmt::format("{}", t); }
};

template <>
struct StringMaker<ovlcore::layer_kind> {
    static std::string convert(ovlcore::layer_kind k) { return fmt::format("{}", k); }
};

template <>
struct StringMaker<ovlcore::stat_info> {
    static std::string convert(const ovlcore::stat_info& st) {
        return "{" + fmt::format("{:f}", st) + "}";
    }
};

template <>
struct StringMaker<ovlcore::dir_entry> {
    static std::string convert(const ovlcore::dir_entry& e) {
        return "{" + fmt::format("{}", e) + "}";
    }
};

/// The value as Catch shows it (through the specialisations above where they apply), or the
/// errno name.
template <class T>
struct StringMaker<ovlcore::result<T>> {
    static std::string convert(const ovlcore::result<T>& r) {
        if (!r) return std::string(ovlcore::errno_name(r.error()));
        return Catch::Detail::stringify(*r);
    }
};

template <>
struct StringMaker<ovlcore::result<void>> {
    static std::string convert(const ovlcore::result<void>& r) { return fmt::format("{}", r); }
};

} // namespace Catch
