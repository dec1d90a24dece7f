// SPDX-License-Identifier: MIT
// bench_lookup.cpp: what does one lookup cost as the number of lower layers grows (W1)?
// Target: a cached path in memory < 100 ns, flat in L (spec §5.3: the engine walks the layers
// once per name; afterwards the overlay's object cache answers).
//
//   lookup_cached<memory_fs>/L   lstat of an already-looked-up path (object cache hit)
//   lookup_fresh<memory_fs>/L    a fresh overlay per iteration, every lookup walks the layers
//   lookup_cached<posix_fs>/L    the same on disk (workload w1-L<L> of run.py, else skipped)
//   lookup_fresh<posix_fs>/L
//   floor_hash/L                 floor: std::unordered_map<string, stat_info> find of the same
//                                paths (an in-memory merged index can do no better)
//   floor_fstatat/L              floor on disk: one fstatat(AT_SYMLINK_NOFOLLOW) of the path in
//                                the layer that holds it (the real file, no overlay at all)
// Lookups: 80% hits, 20% misses (absent names, whited-out and opaque-hidden paths).
// Counter "units" = lookups per second.
#include "bench_support.hpp"

#include <algorithm>
#include <map>
#include <type_traits>
#include <unordered_map>

namespace {

using namespace ovlbench;

constexpr int k_layers[] = {1, 4, 16, 64, 128, 500};

/// The W1 stack of L layers for backend B plus its lookup list.
template <class B>
struct w1_stack;

template <>
struct w1_stack<memory_fs> {
    memory_fs fs;
    std::string options;
    std::vector<std::string> paths; ///< hits and misses, shuffled
    std::vector<std::string> hits;
    explicit w1_stack(int L) {
        std::vector<std::string> misses;
        options = build_w1(fs, L, hits, misses);
        std::mt19937 rng(7);
        for (int i = 0; i < 8000; i++) paths.push_back(hits[rng() % hits.size()]);
        for (int i = 0; i < 2000; i++) paths.push_back(misses[rng() % misses.size()]);
        std::shuffle(paths.begin(), paths.end(), rng);
    }
    bool ok() const { return true; }
    std::string dir() const { return {}; }
};

template <>
struct w1_stack<posix_fs> {
    std::optional<posix_fs> fs_opt;
    std::optional<disk_stack> disk;
    std::string options;
    std::vector<std::string> paths;
    explicit w1_stack(int L) {
        disk = workload("w1-L" + std::to_string(L));
        if (!disk) return;
        if (auto f = posix_fs::with_working_dir(disk->dir)) fs_opt.emplace(std::move(*f));
        options = disk->options;
        paths = disk->lookups;
    }
    bool ok() const { return disk && fs_opt && !paths.empty(); }
    const posix_fs& fs_ref() const { return *fs_opt; }
};

template <class B>
w1_stack<B>& stack_for(int L) {
    static std::map<int, std::unique_ptr<w1_stack<B>>> cache;
    auto& p = cache[L];
    if (!p) p = std::make_unique<w1_stack<B>>(L);
    return *p;
}

template <class B>
const B& fs_of(w1_stack<B>& s) {
    if constexpr (std::is_same_v<B, memory_fs>)
        return s.fs;
    else
        return s.fs_ref();
}

template <class B>
void lookup_cached(benchmark::State& state) {
    auto& s = stack_for<B>(static_cast<int>(state.range(0)));
    if (!s.ok()) {
        state.SkipWithError("workload missing: run benchmarks/run.py or make_workload.py first");
        return;
    }
    auto ov = make_overlay(fs_of(s), s.options, &state);
    if (!ov) return;
    counts c;
    for (const auto& p : s.paths)
        if (ov->lstat(p)) c.hits++; // fill the cache
    std::size_t i = 0;
    for (auto _ : state) {
        auto r = ov->lstat(s.paths[i]);
        benchmark::DoNotOptimize(r);
        if (++i == s.paths.size()) i = 0;
    }
    c.lookups = s.paths.size();
    report(state, c, 1);
}

template <class B>
void lookup_fresh(benchmark::State& state) {
    auto& s = stack_for<B>(static_cast<int>(state.range(0)));
    if (!s.ok()) {
        state.SkipWithError("workload missing: run benchmarks/run.py or make_workload.py first");
        return;
    }
    counts c;
    for (auto _ : state) {
        auto ov = make_overlay(fs_of(s), s.options, &state);
        if (!ov) return;
        c = counts{};
        for (const auto& p : s.paths) {
            c.lookups++;
            if (ov->lstat(p)) c.hits++;
        }
        state.PauseTiming();
        ov.reset();
        state.ResumeTiming();
    }
    report(state, c, c.lookups);
}

void floor_hash(benchmark::State& state) {
    auto& s = stack_for<memory_fs>(static_cast<int>(state.range(0)));
    auto ov = make_overlay(s.fs, s.options, &state);
    if (!ov) return;
    std::unordered_map<std::string, ovlcore::stat_info> index;
    for (const auto& p : s.paths)
        if (auto st = ov->lstat(p)) index.emplace(p, *st);
    std::size_t i = 0;
    for (auto _ : state) {
        auto it = index.find(s.paths[i]);
        benchmark::DoNotOptimize(it);
        if (++i == s.paths.size()) i = 0;
    }
    report(state, counts{}, 1);
}

void floor_fstatat(benchmark::State& state) {
    auto& s = stack_for<posix_fs>(static_cast<int>(state.range(0)));
    if (!s.ok()) {
        state.SkipWithError("workload missing: run benchmarks/run.py or make_workload.py first");
        return;
    }
    // the real path of each lookup: the topmost layer holding it (misses: the top layer)
    std::vector<std::pair<int, std::string>> real;
    std::vector<int> fds;
    for (const auto& l : s.disk->layers)
        fds.push_back(::open((s.disk->dir + "/" + l).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    for (const auto& p : s.paths) {
        int where = fds[0];
        for (int fd : fds) {
            struct ::stat st {};
            if (::fstatat(fd, p.c_str() + 1, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                where = fd;
                break;
            }
        }
        real.emplace_back(where, p.substr(1));
    }
    std::size_t i = 0;
    for (auto _ : state) {
        struct ::stat st {};
        benchmark::DoNotOptimize(
            ::fstatat(real[i].first, real[i].second.c_str(), &st, AT_SYMLINK_NOFOLLOW));
        if (++i == real.size()) i = 0;
    }
    for (int fd : fds) ::close(fd);
    report(state, counts{}, 1);
}

void layer_args(benchmark::internal::Benchmark* b) {
    for (int L : k_layers) b->Arg(L);
}

BENCHMARK(lookup_cached<memory_fs>)->Apply(layer_args)->UseRealTime();
BENCHMARK(lookup_fresh<memory_fs>)->Apply(layer_args)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(floor_hash)->Apply(layer_args)->UseRealTime();
BENCHMARK(lookup_cached<posix_fs>)->Apply(layer_args)->UseRealTime();
BENCHMARK(lookup_fresh<posix_fs>)->Apply(layer_args)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(floor_fstatat)->Apply(layer_args)->UseRealTime();

} // namespace
