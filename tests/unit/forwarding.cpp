// SPDX-License-Identifier: MIT
// forwarding_fs (ovlcore/backend/forwarding.hpp): the forwarding backend base models
// backing_filesystem over every backend, forwards the optional dot_positions only when the wrapped
// backend has it, and a derived class that overrides one call changes that call alone (spec §0,
// §2, §6: the operations of backend.hpp; §8.2 for dot_positions).
#include <catch2/catch.hpp>

#include <algorithm>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <ovlcore/backend/forwarding.hpp>
#include <ovlcore/backend/memory.hpp>
#include <ovlcore/backend/posix.hpp>
#include <ovlcore/dump.hpp>
#include <ovlcore/layer_stack.hpp>
#include <ovlcore/overlay.hpp>
#include <ovlcore/readdir.hpp>

#include "support/string_makers.hpp"

using namespace ovlcore;

static_assert(backing_filesystem<forwarding_fs<memory_fs>>);
static_assert(backing_filesystem<forwarding_fs<posix_fs>>);
static_assert(backing_filesystem<rooted_forwarding_fs<memory_fs>>);
static_assert(backing_filesystem<rooted_forwarding_fs<posix_fs>>);
static_assert(backing_filesystem<forwarding_fs<forwarding_fs<memory_fs>>>); // wrappers compose
// dot_positions (§8.2) exactly when the wrapped backend has it
static_assert(knows_dot_positions<forwarding_fs<posix_fs>>);
static_assert(knows_dot_positions<rooted_forwarding_fs<posix_fs>>);
static_assert(!knows_dot_positions<memory_fs>);
static_assert(!knows_dot_positions<forwarding_fs<memory_fs>>);

namespace {

/// The documented way to hide the optional call: a deleted dot_positions.
struct dots_first_fs : forwarding_fs<posix_fs> {
    using forwarding_fs::forwarding_fs;
    void dot_positions(const handle&) const = delete;
};
static_assert(backing_filesystem<dots_first_fs>);
static_assert(!knows_dot_positions<dots_first_fs>);

/// Overrides get_xattr only: hides one attribute name, forwards the rest.
template <backing_filesystem B>
struct hide_xattr_fs : forwarding_fs<B> {
    using base = forwarding_fs<B>;
    using base::base;
    using typename base::handle;

    std::string hidden;
    mutable int calls = 0;

    [[nodiscard]] result<std::optional<std::string>> get_xattr(const handle& h,
                                                               std::string_view name) const {
        ++calls;
        if (name == hidden) return std::optional<std::string>{};
        return base::get_xattr(h, name);
    }
};
static_assert(backing_filesystem<hide_xattr_fs<memory_fs>>);

memory_fs two_layers() {
    memory_fs fs;
    fs.add_dir("/L/upper/d").set_xattr("/L/upper/d", "trusted.overlay.opaque", "y");
    fs.add_file("/L/upper/f", "upper f\n");
    fs.add_file("/L/lower/d/hidden", "below an opaque dir\n");
    fs.add_file("/L/lower/g", "lower g\n");
    fs.add_symlink("/L/lower/s", "g");
    return fs;
}

template <class B>
std::vector<std::string> names(const overlay<B>& ov, std::string_view dir) {
    std::vector<std::string> out;
    auto entries = ov.read_dir(dir);
    REQUIRE(entries.has_value());
    for (const auto& e : *entries) out.push_back(e.name);
    std::sort(out.begin(), out.end());
    return out;
}

} // namespace

TEST_CASE("forwarding_fs: an overlay through it answers as through the backend itself",
          "[backend][forwarding]") {
    const memory_fs base = two_layers();
    const forwarding_fs<memory_fs> fwd(base);
    const rooted_forwarding_fs<memory_fs> rooted(base);
    constexpr std::string_view options = "lowerdir=/L/upper:/L/lower";
    const std::vector<std::string> probes{"/d/hidden", "/s", "/nope"};

    const auto dump_of = [&](const auto& fs) {
        auto stack = make_layer_stack(fs, options);
        REQUIRE(stack.has_value());
        using B = std::remove_cvref_t<decltype(fs)>;
        const overlay<B> ov(fs, std::move(*stack));
        return to_jsonl(dump_records(ov, std::span<const std::string>(probes)));
    };
    const std::string direct = dump_of(base);
    CHECK(dump_of(fwd) == direct);
    CHECK(dump_of(rooted) == direct);
    CHECK(&fwd.inner() == &base);
}

TEST_CASE("forwarding_fs: rooted handles carry the layer root", "[backend][forwarding]") {
    const memory_fs base = two_layers();
    const rooted_forwarding_fs<memory_fs> fs(base);
    auto upper = fs.resolve_dir("/L/upper");
    auto direct = base.resolve_dir("/L/upper");
    REQUIRE(upper.has_value());
    REQUIRE(direct.has_value());
    CHECK(upper->ref.root == file_id_of(direct->st));
    CHECK(upper->ref.inner == direct->ref);
    CHECK(upper->st.ino == direct->st.ino);
    auto root = fs.root(upper->ref);
    REQUIRE(root.has_value());
    CHECK(root->handle.root == upper->ref.root);
    auto found = fs.lookup(root->handle, "f");
    REQUIRE(found.has_value());
    CHECK(found->handle.root == upper->ref.root); // a child keeps its dir's layer root
    CHECK(fs.path_of(found->handle) == "f");
    auto beneath = fs.lookup_beneath(upper->ref, "/d");
    REQUIRE(beneath.has_value());
    CHECK(beneath->handle.root == upper->ref.root);
    auto f = fs.open_file(found->handle);
    REQUIRE(f.has_value());
    CHECK(f->root == upper->ref.root);
    std::string buf(64, '\0');
    auto n = fs.read(*f, 0, buf);
    REQUIRE(n.has_value());
    CHECK(buf.substr(0, *n) == "upper f\n");
    CHECK(fs.resolve_dir("/L/missing").error() == std::errc::no_such_file_or_directory);
}

TEST_CASE("forwarding_fs: a derived override is used, the rest forwards", "[backend][forwarding]") {
    const memory_fs base = two_layers();
    hide_xattr_fs<memory_fs> fs(base);
    fs.hidden = "trusted.overlay.opaque";
    auto stack = make_layer_stack(fs, "lowerdir=/L/upper:/L/lower");
    REQUIRE(stack.has_value());
    const overlay<hide_xattr_fs<memory_fs>> ov(fs, std::move(*stack));

    // §2.1, §5: with opaque hidden by the override, /d merges with the lower /d
    CHECK(names(ov, "/d") == std::vector<std::string>{"hidden"});
    CHECK(fs.calls > 0);
    // everything else forwarded: lstat, read_link, open/read of both layers
    auto s = ov.lstat("/s");
    REQUIRE(s.has_value());
    CHECK(s->type == file_type::symlink);
    CHECK(ov.read_link("/s").value() == "g");
    CHECK(names(ov, "/") == std::vector<std::string>{"d", "f", "g", "s"});

    // and without the override's effect, the opaque dir hides the lower one again
    const forwarding_fs<memory_fs> plain(base);
    auto stack2 = make_layer_stack(plain, "lowerdir=/L/upper:/L/lower");
    REQUIRE(stack2.has_value());
    const overlay<forwarding_fs<memory_fs>> ov2(plain, std::move(*stack2));
    CHECK(names(ov2, "/d").empty());
}
