// SPDX-License-Identifier: MIT
// Fault injection on random layer stacks (ovlcore/testing/fault_injection.hpp): failing backend
// calls surface as the errno of docs/overlayfs-semantics.md §5.6.1, nothing a failure produced is
// cached (§5 lookups, §8 listings, §6 lazy lowerdata), lazy lowerdata is resolved again after a
// failed attempt and once after a success, short reads are looped over. The overlay is built
// with faults off: its construction is the mount (a layer root that cannot be read fails it).
#include <catch2/catch.hpp>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>
#include <vector>

#include <ovlcore/backend/memory.hpp>
#include <ovlcore/backend/posix.hpp>
#include <ovlcore/dump.hpp>
#include <ovlcore/layer_stack.hpp>
#include <ovlcore/overlay.hpp>
#include <ovlcore/testing/differential.hpp>
#include <ovlcore/testing/fault_injection.hpp>
#include <ovlcore/testing/stack_gen.hpp>
#include <ovlcore/xattr_view.hpp>

#include "support/temp_dir.hpp"

using namespace ovlcore;
using ovlcore::testing::fault_injection_fs;
using ovlcore::testing::fault_op;
using ovlcore::testing::fault_plan;
using ovlcore::testing::fault_rule;
using ovlcore::testing::json;

namespace {

using faulty_fs = fault_injection_fs<memory_fs>;
using faulty_overlay = overlay<faulty_fs>;

/// The dump of `ov` (docs/dump-format.md) with the xattrs every object shows (§2.1).
template <class Ov>
std::vector<json> dump_with_xattrs(const Ov& ov, const std::vector<std::string>& probes) {
    auto records = ovlcore::testing::parse_dump_lines(
        to_jsonl(dump_records(ov, std::span<const std::string>(probes))));
    ovlcore::testing::detail::add_xattrs(records, [&](const std::string& p) {
        return ovlcore::testing::detail::overlay_xattrs(ov, p);
    });
    return records;
}

/// The same for a fresh overlay over the unfaulted layers.
std::vector<json> fresh_dump(const memory_fs& mem, const std::string& options,
                             const std::vector<std::string>& probes) {
    return ovlcore::testing::parse_dump_lines(
        ovlcore::testing::ovlcore_dump_jsonl(mem, options, probes, {}, true));
}

/// A rule failing `count` calls of `op` from the first on (0: all of them) with `error`.
fault_rule failing(fault_op op, std::errc error, std::uint64_t count) {
    fault_rule r;
    r.op = op;
    r.count = count;
    r.error = error;
    return r;
}

std::string errno_text(std::errc e) { return std::string(errno_name(e)); }

/// Every errno a record carries (lookup/open, listing, xattrs).
std::set<std::string> record_errors(const json& r) {
    std::set<std::string> out;
    for (const char* field : {"error", "readdir_error", "xattrs_error"})
        if (r.contains(field)) out.insert(r[field].get<std::string>());
    return out;
}

/// The errnos an answer may carry without faults: the lookup catalogue (§5.6), the data walk of
/// §6 (EXDEV), the open refusals (ENXIO) and verity's ERANGE (§7).
std::set<std::string> answer_errnos() {
    std::set<std::string> out;
    for (const auto e :
         {std::errc::no_such_file_or_directory, std::errc::filename_too_long,
          std::errc::invalid_argument, std::errc::permission_denied, std::errc::io_error,
          std::errc::operation_not_permitted, std::errc::too_many_symbolic_link_levels, errc_remote,
          errc_stale, std::errc::not_a_directory, std::errc::cross_device_link,
          std::errc::no_such_device_or_address, std::errc::result_out_of_range})
        out.insert(errno_text(e));
    return out;
}

struct built_stack {
    json doc;
    ovlcore::testing::scenario sc;
    memory_fs mem;
    std::string options;
};

/// Generates a random stack and builds it in b.mem.
void build(built_stack& b, const ovlcore::testing::stack_gen_options& opt = {}) {
    b.doc = (*ovlcore::testing::gen_random_stack(opt)).doc;
    b.sc = ovlcore::testing::to_scenario(b.doc);
    b.options = ovlcore::testing::build_in_memory(b.sc, b.mem);
}

std::string diff_report(const std::vector<json>& fresh, const std::vector<json>& after,
                        const json& doc) {
    const auto diffs = ovlcore::testing::compare_dumps(fresh, after);
    if (diffs.empty()) return {};
    return ovlcore::testing::describe_differences(diffs, "fresh  ", "faulted") + doc.dump(1);
}

/// The random-faults property over the layers `inner` holds (built from `b`): faults on after the
/// mount, one to three dumps, then faults off and one more dump, equal to a fresh overlay's.
template <backing_filesystem B>
void check_random_faults(const B& inner, const built_stack& b, const std::string& options) {
    fault_injection_fs<B> faulty(inner);
    faulty.stop();
    auto stack = make_layer_stack(faulty, options);
    if (!stack) {
        RC_TAG("refused mount");
        return;
    }
    const overlay<fault_injection_fs<B>> ov(faulty, std::move(*stack));
    fault_plan plan;
    plan.probability = *rc::gen::element(0.02, 0.1, 0.3);
    plan.short_read_probability = 0.5;
    plan.seed = *rc::gen::arbitrary<std::uint64_t>();
    faulty.arm(plan);
    auto allowed = answer_errnos();
    for (const auto e : plan.errors) allowed.insert(errno_text(e));
    const int passes = *rc::gen::inRange(1, 3);
    for (int pass = 0; pass < passes; ++pass) {
        for (const auto& r : dump_with_xattrs(ov, b.sc.paths))
            for (const auto& e : record_errors(r)) {
                RC_LOG() << r.dump() << "\n";
                RC_ASSERT(allowed.count(e) == 1);
            }
    }
    RC_TAG(faulty.failed() == 0 ? "no fault injected" : "faults injected");
    faulty.stop();
    const auto after = dump_with_xattrs(ov, b.sc.paths);
    const auto fresh = ovlcore::testing::parse_dump_lines(
        ovlcore::testing::ovlcore_dump_jsonl(inner, options, b.sc.paths, {}, true));
    const auto report = diff_report(fresh, after, b.doc);
    if (!report.empty()) RC_FAIL("answers after the faults stopped differ:\n" + report);
}

} // namespace

TEST_CASE("5.6.1 random faults: no crash, only known errnos, and nothing failed is cached",
          "[property][faults][spec.5.6][spec.6][spec.8]") {
    // Any call may fail with any errno of backend_fault_errors, reads are often short. While
    // faults are on, an answer carries a catalogued errno or an injected one; once they stop, the
    // same overlay (whose caches saw the failures) answers exactly as a fresh one (§5.6.1).
    rc::prop("random faults", [] {
        built_stack b;
        build(b);
        check_random_faults(b.mem, b, b.options);
    });
}

TEST_CASE("5.6.1 random faults over posix_fs: nothing failed is cached",
          "[property][faults][spec.5.6][backend]") {
    if (::geteuid() != 0) {
        // trusted.overlay.* xattrs, chown and mknod of whiteouts need root on disk
        WARN("not root: the POSIX half of the fault properties is skipped");
        return;
    }
    // The same on disk, for a quarter of the stacks (building layers on disk costs more).
    rc::prop("random faults on disk", [] {
        built_stack b;
        build(b);
        if (!*rc::gen::weightedElement<bool>({{1, true}, {3, false}})) return;
        ovlcore::test::temp_dir tmp("ovlcore-faults-");
        const std::string options = ovlcore::testing::build_on_disk(b.sc, tmp.path());
        const posix_fs disk;
        check_random_faults(disk, b, options);
    });
}

TEST_CASE("5.6.1 one failing backend operation surfaces as its errno",
          "[property][faults][spec.5.6][spec.6][spec.8]") {
    // Every call of one operation (lstat, read_dir, read_link, list_xattr, open_file, read or
    // lookup_beneath) fails with one errno E. These calls are hard failures in every
    // step that makes them (§5.6.1): an answer either does not depend on them (equal to the fresh
    // one) or carries E (as its error, its listing error or its xattr error). Calls that only
    // reach the answer through a soft step (lstat of a DT_CHR entry in a merged listing, §8.2
    // step 4) keep the entry, whose own lookup then fails with E. Records may disappear (below a
    // dir whose lookup or listing failed, or names a failing lookup drops from a listing, §8.2).
    rc::prop("one failing operation", [] {
        built_stack b;
        build(b);
        faulty_fs faulty(b.mem);
        faulty.stop();
        auto stack = make_layer_stack(faulty, b.options);
        if (!stack) {
            RC_TAG("refused mount");
            return;
        }
        const faulty_overlay ov(faulty, std::move(*stack));
        const fault_op op = *rc::gen::element(
            fault_op::lookup, fault_op::read_dir, fault_op::read_link, fault_op::list_xattr,
            fault_op::open_file, fault_op::read, fault_op::lookup_beneath);
        const std::errc error = *rc::gen::elementOf(ovlcore::testing::backend_fault_errors);
        RC_TAG(std::string(to_string(op)));
        fault_plan plan;
        plan.rules.push_back(failing(op, error, 0));
        faulty.arm(plan);
        const auto faulted = dump_with_xattrs(ov, b.sc.paths);
        const auto fresh = fresh_dump(b.mem, b.options, b.sc.paths);
        std::map<std::string, json> by_path;
        for (const auto& r : fresh)
            if (r.contains("path")) by_path[r["path"].get<std::string>()] = r;
        for (const auto& r : faulted) {
            if (!r.contains("path")) continue;
            const auto it = by_path.find(r["path"].get<std::string>());
            if (it != by_path.end() && it->second == r) continue;
            RC_LOG() << "faulted " << r.dump() << "\nfresh   "
                     << (it == by_path.end() ? std::string("(none)") : it->second.dump()) << "\n";
            RC_ASSERT(record_errors(r).count(errno_text(error)) == 1);
        }
        faulty.stop();
        const auto report = diff_report(fresh, dump_with_xattrs(ov, b.sc.paths), b.doc);
        if (!report.empty()) RC_FAIL("answers after the faults stopped differ:\n" + report);
    });
}

TEST_CASE("6 lazy lowerdata: a failed resolution is retried, a success is resolved once",
          "[property][faults][spec.6]") {
    // §6: "a failure is not remembered: every open tries again; a success is remembered". The
    // first data walk of each lazy file fails (one lookup_beneath call); counting the walks shows
    // the next open resolves again and later opens do not, and the answers equal a fresh
    // overlay's.
    rc::prop("lazy lowerdata after a failure", [] {
        built_stack b;
        ovlcore::testing::stack_gen_options opt;
        opt.force_data_only = true;
        build(b, opt);
        faulty_fs faulty(b.mem);
        faulty.stop();
        auto stack = make_layer_stack(faulty, b.options);
        if (!stack) {
            RC_TAG("refused mount");
            return;
        }
        const faulty_overlay ov(faulty, std::move(*stack));
        auto fresh_stack = make_layer_stack(b.mem, b.options);
        RC_ASSERT(fresh_stack.has_value());
        const overlay<memory_fs> fresh(b.mem, std::move(*fresh_stack));
        const std::errc error = *rc::gen::elementOf(ovlcore::testing::backend_fault_errors);
        int lazy = 0;
        for (const auto& path : b.sc.paths) {
            const auto where = ov.which_layers(path);
            if (!where || !where->pending_lowerdata) continue;
            ++lazy;
            fault_plan plan;
            plan.rules.push_back(failing(fault_op::lookup_beneath, error, 1));
            faulty.arm(plan);
            const auto first = ov.open(path);
            RC_ASSERT(faulty.failed() == 1u);
            // With one data-only layer the walk's errno is the open's (the last layer tried, §6).
            if (ov.stack().data_layers().size() == 1) RC_ASSERT(!first && first.error() == error);
            faulty.stop();
            const auto expected = fresh.open(path);
            const auto c0 = faulty.calls(fault_op::lookup_beneath);
            const auto second = ov.open(path);
            const auto c1 = faulty.calls(fault_op::lookup_beneath);
            RC_ASSERT(second.has_value() == expected.has_value());
            if (!expected) RC_ASSERT(second.error() == expected.error());
            RC_ASSERT(c1 > c0); // the failed attempt left nothing cached
            const auto third = ov.open(path);
            const auto c2 = faulty.calls(fault_op::lookup_beneath);
            RC_ASSERT(third.has_value() == expected.has_value());
            // The data entry, once found, is the fresh overlay's and is kept (an open may still
            // fail after it, e.g. verity, §7); while it is not found every open walks again.
            const auto resolved = ov.which_layers(path)->data_layer;
            RC_ASSERT(resolved == fresh.which_layers(path)->data_layer);
            if (resolved)
                RC_ASSERT(c2 == c1);
            else
                RC_ASSERT(c2 > c1);
        }
        RC_TAG(lazy == 0 ? "no lazy file" : "lazy files");
        const auto report = diff_report(fresh_dump(b.mem, b.options, b.sc.paths),
                                        dump_with_xattrs(ov, b.sc.paths), b.doc);
        if (!report.empty()) RC_FAIL("answers after the faults stopped differ:\n" + report);
    });
}
