// SPDX-License-Identifier: MIT
// fault_injection_fs (ovlcore/testing/fault_injection.hpp): chosen and random faults, short reads,
// stop/resume; and the engine's rules for failing backend calls (spec §5.6.1): which errno
// surfaces in which step, and that no answer a failure shaped is cached (regressions: lookups,
// listings and lazy lowerdata found through a failure used to be kept).
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <ovlcore/backend/forwarding.hpp>
#include <ovlcore/backend/memory.hpp>
#include <ovlcore/layer_stack.hpp>
#include <ovlcore/overlay.hpp>
#include <ovlcore/testing/fault_injection.hpp>
#include <ovlcore/xattr_view.hpp>

#include "support/overlay_fixture.hpp"
#include "support/string_makers.hpp"

using namespace ovlcore;
using ovlcore::test::make_overlay;
using ovlcore::testing::fault_injection_fs;
using ovlcore::testing::fault_op;
using ovlcore::testing::fault_plan;
using ovlcore::testing::fault_rule;

namespace {

using faulty_fs = fault_injection_fs<memory_fs>;

fault_rule rule(fault_op op, std::errc error, std::uint64_t nth = 1, std::uint64_t count = 1) {
    fault_rule r;
    r.op = op;
    r.error = error;
    r.nth = nth;
    r.count = count;
    return r;
}

fault_plan plan_of(std::vector<fault_rule> rules) {
    fault_plan p;
    p.rules = std::move(rules);
    return p;
}

template <class Ov>
result<std::string> read_all(const Ov& ov, std::string_view path, std::size_t chunk = 7) {
    OVLCORE_TRY_ASSIGN(f, ov.open(path));
    std::string out;
    std::vector<char> buf(chunk);
    for (std::uint64_t off = 0;;) {
        OVLCORE_TRY_ASSIGN(n, ov.read(f, off, std::span<char>(buf)));
        if (n == 0) break;
        out.append(buf.data(), n);
        off += n;
    }
    return out;
}

std::vector<std::string> names(const result<std::vector<dir_entry>>& listing) {
    std::vector<std::string> out;
    if (listing)
        for (const auto& e : *listing) out.push_back(e.name);
    return out;
}

const std::errc estale = static_cast<std::errc>(ESTALE);

} // namespace

TEST_CASE("testing: fault_injection_fs fails the chosen calls", "[testing][faults]") {
    memory_fs mem;
    mem.add_file("/L/a", "alpha").add_file("/L/b", "beta");
    faulty_fs fs(mem, plan_of({rule(fault_op::lookup, estale, 2, 2)}));
    const auto root = fs.resolve_dir("/L");
    REQUIRE(root.has_value());
    const auto& l = root->ref;
    const auto top = fs.root(l); // another op: not matched
    REQUIRE(top.has_value());
    const auto a = fs.lookup(top->handle, "a");
    CHECK(a.has_value());                                 // 1st matching call
    CHECK(fs.lookup(top->handle, "a").error() == estale); // 2nd
    CHECK(fs.lookup(top->handle, "b").error() == estale); // 3rd
    const auto b = fs.lookup(top->handle, "b");           // count 2 exhausted
    CHECK(b.has_value());
    REQUIRE(a.has_value());
    CHECK(fs.read_link(a->handle).error() == std::errc::invalid_argument); // other op: forwarded
    CHECK(fs.calls(fault_op::lookup) == 4);
    CHECK(fs.calls(fault_op::root) == 1);
    CHECK(fs.failed() == 2);
    REQUIRE(fs.log().size() == 2);
    CHECK(fs.log()[0].op == fault_op::lookup);
    CHECK(fs.log()[0].path == "a");
    CHECK(fs.log()[0].layer == l.root);
    REQUIRE(b.has_value());

    SECTION("by layer and path, every call from the n-th on") {
        fault_rule r = rule(fault_op::get_xattr, std::errc::not_enough_memory, 1, 0);
        r.path = "b";
        r.layer = l.root;
        fs.arm(plan_of({r}));
        CHECK(fs.get_xattr(a->handle, "user.x").has_value());
        CHECK(fs.get_xattr(b->handle, "user.x").error() == std::errc::not_enough_memory);
        CHECK(fs.get_xattr(b->handle, "user.x").error() == std::errc::not_enough_memory);
        r.layer = file_id{.dev = 999, .ino = 999};
        fs.arm(plan_of({r}));
        CHECK(fs.get_xattr(b->handle, "user.x").has_value());
    }
    SECTION("stop and resume") {
        fs.arm(plan_of({rule(fault_op::read_dir, std::errc::interrupted, 1, 0)}));
        fs.stop();
        CHECK(fs.read_dir(top->handle).has_value());
        fs.resume();
        CHECK(fs.read_dir(top->handle).error() == std::errc::interrupted);
    }
}

namespace {
/// memory_fs with the optional calls (backend.hpp): dots after the first entry, data from 1 on.
struct dotted_fs : forwarding_fs<memory_fs> {
    using forwarding_fs<memory_fs>::forwarding_fs;
    [[nodiscard]] result<std::array<std::size_t, 2>> dot_positions(const handle&) const {
        return std::array<std::size_t, 2>{1, 1};
    }
    [[nodiscard]] result<data_extent> next_data(const file&, std::uint64_t offset) const {
        return data_extent{.begin = std::max<std::uint64_t>(offset, 1), .end = 5};
    }
};
} // namespace

TEST_CASE("testing: fault_injection_fs fails dot_positions and next_data too",
          "[testing][faults]") {
    // Both optional calls are forwarded when the wrapped backend has them, and can fail (a gap
    // of issue 12: they used to be passed through untouched).
    memory_fs mem;
    mem.add_file("/L/d/f", "hello");
    const dotted_fs dotted(mem);
    fault_injection_fs<dotted_fs> fs(dotted);
    static_assert(knows_dot_positions<fault_injection_fs<dotted_fs>>);
    static_assert(detail::has_next_data<fault_injection_fs<dotted_fs>>);
    static_assert(!knows_dot_positions<faulty_fs>);
    const auto l = fs.resolve_dir("/L");
    REQUIRE(l.has_value());
    const auto d = walk(fs, l->ref, "d");
    const auto f = walk(fs, l->ref, "d/f");
    REQUIRE(d.has_value());
    REQUIRE(f.has_value());
    auto file = fs.open_file(f->handle);
    REQUIRE(file.has_value());
    CHECK(fs.dot_positions(d->handle).value() == std::array<std::size_t, 2>{1, 1});
    CHECK(fs.next_data(*file, 0).value() == data_extent{.begin = 1, .end = 5});
    fault_rule dots = rule(fault_op::dot_positions, std::errc::io_error);
    dots.path = "d";
    fs.arm(plan_of({dots, rule(fault_op::next_data, estale)}));
    CHECK(fs.dot_positions(d->handle).error() == std::errc::io_error);
    CHECK(fs.dot_positions(d->handle).has_value()); // count 1
    CHECK(fs.next_data(*file, 0).error() == estale);
    CHECK(fs.next_data(*file, 0).has_value());
    CHECK(fs.calls(fault_op::dot_positions) == 3);
    CHECK(fs.calls(fault_op::next_data) == 3);
    REQUIRE(fs.log().size() == 2);
    CHECK(fs.log()[0].path == "d");
    CHECK(fs.log()[1].op == fault_op::next_data);
}

TEST_CASE("testing: fault_injection_fs random faults follow the seed", "[testing][faults]") {
    memory_fs mem;
    mem.add_file("/L/a", "alpha");
    const auto run = [&](std::uint64_t seed) {
        fault_plan p;
        p.probability = 0.5;
        p.seed = seed;
        faulty_fs fs(mem, p);
        fs.stop();
        const auto root = fs.resolve_dir("/L");
        REQUIRE(root.has_value());
        const auto top = fs.root(root->ref);
        REQUIRE(top.has_value());
        fs.resume();
        std::vector<int> outcome;
        for (int i = 0; i < 64; ++i) {
            const auto st = fs.lookup(top->handle, "a");
            outcome.push_back(st ? 0 : static_cast<int>(st.error()));
        }
        return outcome;
    };
    const auto first = run(7);
    CHECK(first == run(7));
    CHECK(first != run(8));
    for (const int e : first)
        CHECK((e == 0 || e == EIO || e == ENOMEM || e == EINTR || e == ESTALE || e == EACCES));
}

TEST_CASE("testing: short reads return fewer bytes and a loop reads everything",
          "[testing][faults]") {
    memory_fs mem;
    const std::string content(1000, 'q');
    mem.add_file("/L/f", content).add_dir("/L2");
    fault_plan p;
    p.short_read_probability = 1.0;
    p.seed = 3;
    faulty_fs fs(mem, p);
    fs.stop();
    auto ov = make_overlay(fs, "lowerdir=/L:/L2"); // §12.1: one lower alone is refused
    fs.resume();
    auto f = ov.open("/f");
    REQUIRE(f.has_value());
    std::vector<char> buf(100);
    const auto n = ov.read(*f, 0, std::span<char>(buf));
    REQUIRE(n.has_value());
    CHECK(*n >= 1);
    CHECK(*n < 100);
    CHECK(read_all(ov, "/f", 64).value_or("") == content);
    CHECK(!fs.log().empty());
    CHECK(fs.log().front().short_read);
}

TEST_CASE("5.6.1 a failing lstat in a layer fails the lookup with its errno, not cached",
          "[spec.5.6][spec.5.1][faults]") {
    memory_fs mem;
    mem.add_file("/U/x", "upper").add_dir("/W").add_file("/A/x", "lower");
    faulty_fs fs(mem);
    auto ov = make_overlay(fs, "lowerdir=/A,upperdir=/U,workdir=/W");
    fs.arm(plan_of({rule(fault_op::lookup, std::errc::io_error)}));
    CHECK(ov.lstat("/x").error() == std::errc::io_error); // §5.1 step 2: any other error returned
    CHECK(read_all(ov, "/x").value_or("") == "upper");    // the failure was not kept
}

TEST_CASE("5.6.1 a failing getxattr of redirect or metacopy fails the lookup, of opaque does not",
          "[spec.5.6][spec.5.1][faults]") {
    memory_fs mem;
    mem.add_dir("/A/d").add_file("/A/d/up", "").add_dir("/W");
    mem.add_file("/B/d/hidden", "below").add_file("/B/m", "data");
    mem.set_xattr("/A/d", "trusted.overlay.opaque", "y");
    faulty_fs fs(mem);
    auto ov = make_overlay(fs, "lowerdir=/A:/B");
    SECTION("opaque: read as none (the dir merges), the answer is not kept") {
        fs.arm(plan_of({rule(fault_op::get_xattr, std::errc::not_enough_memory, 1, 0)}));
        // Every xattr read fails: the lookup of d reads opaque (soft, §5.1 step 7), then
        // redirect (hard, §5.1 step 8): ENOMEM.
        CHECK(ov.lstat("/d").error() == std::errc::not_enough_memory);
        fs.stop();
        CHECK(names(ov.read_dir("/d")) == std::vector<std::string>{"up"});
    }
    SECTION("opaque alone fails: the dir is merged while it fails, opaque once it works") {
        fault_rule r = rule(fault_op::get_xattr, std::errc::io_error);
        r.path = "d";
        fs.arm(plan_of({r}));
        const auto merged = names(ov.read_dir("/d"));
        CHECK(merged == std::vector<std::string>{"hidden", "up"});
        fs.stop();
        CHECK(names(ov.read_dir("/d")) == std::vector<std::string>{"up"});
        CHECK(ov.lstat("/d/hidden").error() == std::errc::no_such_file_or_directory);
    }
}

TEST_CASE("5.6.1 a merged listing read through a failing lstat is not kept",
          "[spec.5.6][spec.8][faults]") {
    memory_fs mem;
    mem.add_whiteout("/A/gone").add_file("/A/kept", "k").add_file("/B/gone", "g");
    faulty_fs fs(mem);
    auto ov = make_overlay(fs, "lowerdir=/A:/B");
    // §8.2 step 4: the DT_CHR entry is checked with an lstat; a failing one keeps the entry.
    fs.arm(plan_of({rule(fault_op::lookup, std::errc::interrupted, 1, 0)}));
    CHECK(names(ov.read_dir("/")) == std::vector<std::string>{"gone", "kept"});
    fs.stop();
    CHECK(names(ov.read_dir("/")) == std::vector<std::string>{"kept"});
    // §8.2: a failing read_dir of a layer fails the listing with its errno.
    fs.arm(plan_of({rule(fault_op::read_dir, std::errc::io_error, 1, 0)}));
    CHECK(ov.read_dir("/").has_value()); // kept from the good listing
    CHECK(names(ov.read_dir("/")) == std::vector<std::string>{"kept"});
}

TEST_CASE("5.6.1 lazy lowerdata found below a failing data layer is used, not kept",
          "[spec.5.6][spec.6][faults]") {
    memory_fs mem;
    mem.add_file("/M/f", "")
        .set_xattr("/M/f", "trusted.overlay.metacopy", "")
        .set_xattr("/M/f", "trusted.overlay.redirect", "/obj");
    mem.add_file("/X/obj", "first").add_file("/Y/obj", "second");
    faulty_fs fs(mem);
    auto ov = make_overlay(fs, "lowerdir=/M::/X::/Y");
    REQUIRE(ov.lstat("/f").has_value());
    // §6: a layer whose walk fails is passed over; the kernel takes the next layer's file.
    fs.arm(plan_of({rule(fault_op::lookup_beneath, estale)}));
    CHECK(read_all(ov, "/f").value_or("") == "second");
    fs.stop();
    const auto before = fs.calls(fault_op::lookup_beneath);
    CHECK(read_all(ov, "/f").value_or("") == "first"); // resolved again, now kept
    CHECK(fs.calls(fault_op::lookup_beneath) == before + 1);
    CHECK(read_all(ov, "/f").value_or("") == "first");
    CHECK(fs.calls(fault_op::lookup_beneath) == before + 1);
    // every data layer failing: the last layer's errno (§6), retried at the next open
    auto ov2 = make_overlay(fs, "lowerdir=/M::/X::/Y");
    REQUIRE(ov2.lstat("/f").has_value());
    fs.arm(plan_of({rule(fault_op::lookup_beneath, std::errc::io_error, 1, 0)}));
    CHECK(ov2.open("/f").error() == std::errc::io_error);
    fs.stop();
    CHECK(read_all(ov2, "/f").value_or("") == "first");
}

TEST_CASE("5.6.1 readlink, listxattr, getxattr, open and read propagate the backend's errno",
          "[spec.5.6][faults]") {
    memory_fs mem;
    mem.add_symlink("/A/l", "target").add_file("/A/f", "content").add_dir("/B");
    mem.set_xattr("/A/f", "user.k", "v");
    faulty_fs fs(mem);
    auto ov = make_overlay(fs, "lowerdir=/A:/B");
    REQUIRE(ov.lstat("/l").has_value());
    REQUIRE(ov.lstat("/f").has_value());
    fs.arm(
        plan_of({rule(fault_op::read_link, std::errc::permission_denied),
                 rule(fault_op::list_xattr, estale), rule(fault_op::get_xattr, std::errc::io_error),
                 rule(fault_op::open_file, std::errc::not_enough_memory),
                 rule(fault_op::read, std::errc::interrupted)}));
    CHECK(ov.read_link("/l").error() == std::errc::permission_denied);
    CHECK(list_overlay_xattrs(ov, "/f").error() == estale);
    CHECK(get_overlay_xattr(ov, "/f", "user.k").error() == std::errc::io_error);
    CHECK(ov.open("/f").error() == std::errc::not_enough_memory);
    CHECK(read_all(ov, "/f").error() == std::errc::interrupted);
    CHECK(read_all(ov, "/f").value_or("") == "content");
    CHECK(ov.read_link("/l").value_or("") == "target");
}
