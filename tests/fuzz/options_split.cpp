// SPDX-License-Identifier: MIT
// Fuzz target for the mount-option splitter and escaping of include/ovlcore/options.hpp
// (spec §1.2): no crash or UB on any input, and the round-trip properties that must hold.
#include <ovlcore/options.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

// The input, read as a list of paths separated by '\n', escaped, joined and split again.
void check_lowerdir_round_trip(std::string_view input) {
    std::vector<std::string_view> paths;
    for (std::size_t begin = 0; begin <= input.size();) {
        const auto end = std::min(input.find('\n', begin), input.size());
        paths.push_back(input.substr(begin, end - begin));
        begin = end + 1;
    }
    bool usable = paths.size() <= ovlcore::max_lower_layers;
    std::string value;
    for (const auto p : paths) {
        usable = usable && !p.empty();
        check(ovlcore::unescape(ovlcore::escape_path(p)) == p);
        check(ovlcore::unescape(ovlcore::escape_path(p, false)) == p);
        value += (value.empty() ? "" : ":") + ovlcore::escape_path(p);
    }
    if (!usable) return;
    auto elements = ovlcore::split_lowerdir(value);
    check(elements.has_value());
    check(elements->size() == paths.size());
    for (std::size_t i = 0; i < paths.size(); ++i) {
        check(ovlcore::unescape((*elements)[i].raw) == paths[i]);
        check(!(*elements)[i].data_only);
    }
    // One option among others: the splitter keeps it whole.
    const std::string data = "ro,lowerdir=" + value + ",userxattr";
    const auto items = ovlcore::split_options(data);
    check(items.size() == 3);
    check(items[1] == "lowerdir=" + value);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(bytes), size);

    // Splitting never loses a byte: the items joined with ',' give the input back.
    const auto items = ovlcore::split_options(input);
    check(items.size() == ovlcore::count_options(input));
    std::string joined;
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) joined += ',';
        joined += items[i];
        if (auto kv = ovlcore::split_key_value(items[i]); kv && kv->value) {
            // split_lowerdir and its constexpr twin agree; every element is non-empty text.
            auto elements = ovlcore::split_lowerdir(*kv->value);
            const long count = ovlcore::count_lowerdir(*kv->value);
            check(elements.has_value() == (count >= 0));
            if (elements) {
                check(static_cast<long>(elements->size()) == count);
                for (const auto& e : *elements) check(!e.raw.empty() || kv->value->empty());
            } else {
                check(elements.error().code == std::errc::invalid_argument &&
                      !elements.error().message.empty());
            }
        }
    }
    check(joined == input);

    // The whole parser accepts or rejects with EINVAL (paths are not resolved here).
    auto parsed = ovlcore::parse_mount_options(input);
    if (parsed) {
        check(parsed->data_count <= parsed->lowers.size());
        check(parsed->lowers.size() <= ovlcore::max_lower_layers);
        auto resolution = ovlcore::resolve_options(*parsed);
        if (!resolution) check(resolution.error().code == std::errc::invalid_argument);
    } else {
        check(parsed.error().code == std::errc::invalid_argument &&
              !parsed.error().message.empty());
    }

    check_lowerdir_round_trip(input);
    return 0;
}
