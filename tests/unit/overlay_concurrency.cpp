// SPDX-License-Identifier: MIT
// Races on one overlay's caches (issue 12): threads released together on a fresh overlay look up,
// list, stat, open and read the same and different names at random, racing to create the cached
// children (spec §5.3), objects (§10 Q2), listings (§8.2) and lazy lowerdata entries (§6); every
// answer must equal a single-threaded overlay's over the same layers, every thread must get the
// same node for a path, and the shared overlay must dump like a fresh one afterwards; and lookups
// racing releases of a bounded cache (issue 11, docs/fuse.md §3). Tagged [concurrency]: the tsan
// lane of scripts/test.sh runs it under ThreadSanitizer.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <latch>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <ovlcore/backend/memory.hpp>
#include <ovlcore/backend/posix.hpp>
#include <ovlcore/dump.hpp>
#include <ovlcore/layer_stack.hpp>
#include <ovlcore/overlay.hpp>

#include "support/fs_tree.hpp"
#include "support/overlay_fixture.hpp"

using namespace ovlcore;

namespace {

constexpr int dir_count = 6;
constexpr std::string_view concurrency_options =
    "lowerdir=A:B::D,upperdir=U,workdir=W,metacopy=on,redirect_dir=on";

/// Per dir: names from each lower and the upper, a shadowed name, a whiteout, an opaque dir, a
/// relative symlink, a renamed (redirected) dir over a whiteout (§4), an upper metacopy over its
/// lower data (§6), lazy lowerdata in the data-only layer (own and shared data files) and names
/// that fail (ENOENT, ENOTDIR, ELOOP). Nothing order dependent (§10 Q2: no hardlinks, no second
/// name of a redirected dir): any lookup order gives the same answers.
template <class B>
void build_layers(test::fs_tree<B>& t) {
    t.add_dir("W").add_file("D/obj/shared", "data shared by many lazy files");
    for (int i = 0; i < dir_count; ++i) {
        const std::string d = "d" + std::to_string(i) + "/";
        for (int j = 0; j < 3; ++j) {
            const std::string n = std::to_string(j);
            t.add_file("A/" + d + "a" + n, "A " + d + n).add_file("B/" + d + "b" + n, "B " + d + n);
        }
        t.add_file("A/" + d + "s", "upper lower").add_file("B/" + d + "s", "hidden lower");
        t.add_whiteout("A/" + d + "w").add_file("B/" + d + "w", "whited out");
        t.add_file("A/" + d + "o/in", "in")
            .set_xattr("A/" + d + "o", "trusted.overlay.opaque", "y");
        t.add_file("B/" + d + "o/hidden", "behind an opaque dir").add_file("B/" + d + "o/x", "x");
        t.add_symlink("A/" + d + "l", "a0").add_file("B/" + d + "sub/y", "y");
        t.add_file("A/" + d + "sub/x", "x").add_file("U/" + d + "u", "upper only");
        t.add_file("A/" + d + "orig/p", "p").add_file("B/" + d + "orig/q", "q");
        t.add_whiteout("U/" + d + "orig").add_dir("U/" + d + "moved");
        t.set_xattr("U/" + d + "moved", "trusted.overlay.redirect", "orig");
        t.add_file("A/" + d + "mc", "metacopy data in a lower", {.mode = 0644});
        t.add_file("U/" + d + "mc", "", {.mode = 0600, .size = 24});
        t.set_xattr("U/" + d + "mc", "trusted.overlay.metacopy", "");
        const std::string object = "obj/z" + std::to_string(i);
        t.add_file("D/" + object, "lazy data of " + d);
        t.add_file("A/" + d + "z", "", {.size = 15})
            .set_xattr("A/" + d + "z", "trusted.overlay.metacopy", "");
        t.set_xattr("A/" + d + "z", "trusted.overlay.redirect", "/" + object);
        t.add_file("A/" + d + "y", "", {.size = 30})
            .set_xattr("A/" + d + "y", "trusted.overlay.metacopy", "");
        t.set_xattr("A/" + d + "y", "trusted.overlay.redirect", "/obj/shared");
    }
}

/// The paths the threads use: everything a walk finds, plus failing names.
template <class Overlay>
std::vector<std::string> paths_of(const Overlay& ov) {
    std::set<std::string> paths;
    for (const auto& rec : dump_records(ov)) paths.insert(rec.path);
    for (int i = 0; i < dir_count; ++i) {
        const std::string d = "/d" + std::to_string(i) + "/";
        for (const char* bad : {"w", "orig", "o/hidden", "nothing", "a0/x", "l/x", "l/", "sub/y/"})
            paths.insert(d + bad);
    }
    return {paths.begin(), paths.end()};
}

/// Answers as strings, for comparison and for the failure message. atime is left out: the
/// backend's own reads move it on disk (relatime), it is not the overlay's answer.
template <class Overlay>
std::string stat_answer(const Overlay& ov, std::string_view path) {
    auto st = ov.lstat(path);
    if (st) st->atime = {};
    return Catch::Detail::stringify(st);
}

template <class Overlay>
std::string listing_answer(const Overlay& ov, std::string_view path) {
    const auto listing = ov.read_dir(path);
    if (!listing) return std::string(errno_name(listing.error()));
    std::string out;
    for (const auto& e : *listing) out += Catch::Detail::stringify(e);
    return out;
}

template <class Overlay>
std::string content_answer(const Overlay& ov, std::string_view path) {
    const auto file = ov.open(path);
    if (!file) return std::string(errno_name(file.error()));
    std::string out = "data ";
    char buf[7]; // small, so that reads at many offsets run concurrently
    for (;;) {
        const auto n = ov.read(*file, out.size() - 5, buf);
        if (!n) return out + " then " + std::string(errno_name(n.error()));
        if (*n == 0) return out;
        out.append(buf, *n);
    }
}

template <class Overlay>
std::string link_answer(const Overlay& ov, std::string_view path) {
    return Catch::Detail::stringify(ov.read_link(path));
}

/// What one thread overlay answers for each path: stat before and after every file was opened
/// (a lazy file's st_blocks is known only once its data is, §6), listing, content, link target.
struct expected_answers {
    std::map<std::string, std::string> stat_before, stat_after, listing, content, link;
};

template <class Overlay>
expected_answers single_threaded(const Overlay& ov, const std::vector<std::string>& paths) {
    expected_answers a;
    for (const auto& p : paths) a.stat_before[p] = stat_answer(ov, p);
    for (const auto& p : paths) {
        a.listing[p] = listing_answer(ov, p);
        a.content[p] = content_answer(ov, p);
        a.link[p] = link_answer(ov, p);
    }
    for (const auto& p : paths) a.stat_after[p] = stat_answer(ov, p);
    return a;
}

} // namespace

TEMPLATE_TEST_CASE("overlay: threads racing on a fresh overlay's caches answer like one thread",
                   "[overlay][concurrency][spec.5.3][spec.6][spec.8][spec.10]", memory_fs,
                   posix_fs) {
    using overlay_type = overlay<TestType>;
    test::fs_tree<TestType> t;
    if (!t.privileged()) {
        WARN("skipped: whiteouts and trusted.* xattrs on disk need root");
        return;
    }
    build_layers(t);
    const auto make = [&] {
        auto stack = make_layer_stack(t.fs(), concurrency_options);
        REQUIRE(stack.has_value());
        return std::make_unique<overlay_type>(t.fs(), std::move(*stack));
    };
    const auto reference = make();
    const std::vector<std::string> paths = paths_of(*reference);
    const expected_answers expected = single_threaded(*reference, paths);
    REQUIRE(paths.size() > 150);
    const std::string expected_dump = to_jsonl(dump_records(*make()));

    constexpr unsigned thread_count = 8;
    constexpr int rounds = test::fs_tree<TestType>::is_memory ? 6 : 3;
    constexpr int random_ops = 300;
    for (int round = 0; round < rounds; ++round) {
        CAPTURE(round);
        const auto shared = make();
        const overlay_type& ov = *shared;
        std::latch start(thread_count);
        std::vector<std::vector<std::string>> mismatches(thread_count);
        std::vector<std::map<std::string, typename overlay_type::node_handle>> nodes(thread_count);
        std::vector<std::thread> threads;
        for (unsigned id = 0; id < thread_count; ++id) {
            threads.emplace_back([&, id] {
                auto& bad = mismatches[id];
                const auto check = [&](const char* what, const std::string& path,
                                       const std::string& got, const std::string& want,
                                       const std::string* also = nullptr) {
                    if (got != want && (also == nullptr || got != *also))
                        bad.push_back(std::string(what) + " " + path + ": got " + got +
                                      ", expected " + want);
                };
                std::mt19937 rng(static_cast<std::uint32_t>(20261206 + round * 100) + id);
                start.arrive_and_wait();
                // Every thread first walks the same names at once (the tightest race for one
                // cache slot), then opens the same lazy files, then goes its own random way.
                for (const auto& p : paths)
                    check("lstat", p, stat_answer(ov, p), expected.stat_before.at(p),
                          &expected.stat_after.at(p));
                for (int i = 0; i < dir_count; ++i) {
                    for (const char* lazy : {"/z", "/y"}) {
                        const std::string p = "/d" + std::to_string(i) + lazy;
                        check("read", p, content_answer(ov, p), expected.content.at(p));
                    }
                }
                std::uniform_int_distribution<std::size_t> pick(0, paths.size() - 1);
                for (int op = 0; op < random_ops; ++op) {
                    const std::string& p = paths[pick(rng)];
                    switch (rng() % 5) {
                    case 0:
                        check("lstat", p, stat_answer(ov, p), expected.stat_before.at(p),
                              &expected.stat_after.at(p));
                        break;
                    case 1:
                        check("read_dir", p, listing_answer(ov, p), expected.listing.at(p));
                        break;
                    case 2: check("read", p, content_answer(ov, p), expected.content.at(p)); break;
                    case 3: check("read_link", p, link_answer(ov, p), expected.link.at(p)); break;
                    default:
                        if (const auto n = ov.resolve(p)) nodes[id][p] = *n;
                        break;
                    }
                }
                for (const auto& p : paths)
                    if (const auto n = ov.resolve(p)) nodes[id][p] = *n;
            });
        }
        for (auto& th : threads) th.join();
        for (const auto& bad : mismatches) {
            INFO((bad.empty() ? std::string() : bad.front()));
            CHECK(bad.empty());
        }
        // One node per name, whichever thread created it (a racing duplicate is discarded).
        std::size_t disagreeing = 0;
        for (const auto& [path, node] : nodes[0])
            for (unsigned id = 1; id < thread_count; ++id)
                if (const auto it = nodes[id].find(path);
                    it == nodes[id].end() || it->second != node)
                    ++disagreeing;
        CHECK(disagreeing == 0);
        CHECK(to_jsonl(dump_records(ov)) == expected_dump);
    }
}

// Lookups racing releases (issue 11): with a bounded cache of unreferenced nodes, threads take
// and drop references (the FUSE server's LOOKUP and FORGET) and walk paths (held only during the
// call) while other threads' releases free nodes, their inodes and their child tables (spec §10
// Q2, docs/fuse.md §3), and release_cached() empties the cache and drops the root's listing. Every
// answer must stay right and the cache must end within its bound.
TEST_CASE("overlay lifetime: lookups racing releases (bounded cache)",
          "[overlay][lifetime][threads][concurrency]") {
    test::overlay_fixture<memory_fs> f;
    for (int i = 0; i < 8; ++i) {
        const std::string d = "d" + std::to_string(i);
        for (int j = 0; j < 6; ++j)
            f.tree.add_file("A/" + d + "/s/f" + std::to_string(j), std::to_string(i * 10 + j));
        f.tree.add_file("B/" + d + "/b", "b");
    }
    for (const std::size_t kept : {std::size_t{0}, std::size_t{5}}) {
        CAPTURE(kept);
        auto& ov = f.mount("lowerdir=A:B", overlay_options{.max_unreferenced_nodes = kept});
        std::atomic<int> failures{0};
        std::vector<std::thread> threads;
        threads.reserve(6);
        for (int t = 0; t < 6; ++t)
            threads.emplace_back([&, t] {
                const auto root = ov.root().value();
                for (int round = 0; round < 60; ++round) {
                    const int i = (round + t) % 8, j = (round * 7 + t) % 6;
                    const std::string d = "d" + std::to_string(i);
                    bool failed = false;
                    // Node API with references (FUSE), and the path API (held during the call).
                    const auto dn = ov.lookup_retained(root, d, failed);
                    if (!dn) {
                        ++failures;
                        continue;
                    }
                    const auto sn = ov.lookup_retained(*dn, "s", failed);
                    if (!sn || ov.read_dir(*sn).value().size() != 6) ++failures;
                    const auto fn =
                        sn ? ov.lookup_retained(*sn, "f" + std::to_string(j), failed)
                           : result<test::overlay_fixture<memory_fs>::overlay_type::node_handle>(
                                 fail(std::errc::io_error));
                    if (!fn || ov.stat(*fn)->size != std::to_string(i * 10 + j).size()) ++failures;
                    if (ov.lstat("/" + d + "/b")->size != 1) ++failures;
                    // The whole cache and the root's listing dropped meanwhile (docs/fuse.md §3).
                    if (round % 6 == t) ov.release_cached();
                    if (ov.read_dir(root).value().size() != 8) ++failures;
                    if (f.content("/" + d + "/s/f" + std::to_string(j)) !=
                        std::to_string(i * 10 + j))
                        ++failures;
                    if (fn) ov.forget(*fn, 1);
                    if (sn) ov.forget(*sn, 1);
                    ov.forget(*dn, 1);
                }
            });
        for (auto& th : threads) th.join();
        CHECK(failures == 0);
        CHECK(ov.live_nodes() <= 1 + 3 * kept); // the root, the cache, and their ancestors
        CHECK(ov.unreferenced_nodes() <= kept);
    }
}
