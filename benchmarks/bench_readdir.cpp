// SPDX-License-Identifier: MIT
// bench_readdir.cpp: what does the merged listing of one big directory cost (W4: 100k merged
// entries over 4 layers, 10% whiteouts)? (spec §8.2: union of the layers, first occurrence wins,
// whiteouts dropped)
//
//   readdir<memory_fs>/E     fresh overlay per iteration, read_dir("/big") (+ the root lookup)
//   readdir<posix_fs>/E      the same over the real layers (workload w4 of run.py, else skipped)
//   readdir_hot<B>/E         one overlay, listed again (listing cache)
//   floor_layers<memory_fs>  floor: the backend's read_dir of the 4 layer directories, no merge
//   floor_layers<posix_fs>   floor: getdents64 of the 4 real directories, no merge
// E = merged entries (memory: 10k and 100k built in memory; posix: the w4 workload's size).
// Counter "units" = merged entries per second.
#include "bench_support.hpp"

#include <map>
#include <type_traits>

namespace {

using namespace ovlbench;

/// W4 in memory: `merged` names visible, 10% more whited out (a file below, a whiteout above),
/// 15% of the visible names also present in a lower layer.
std::string build_w4(memory_fs& fs, int merged) {
    std::mt19937 rng(4);
    const int L = 4, total = merged * 10 / 9;
    for (int i = 0; i < L; i++) fs.add_dir("/w4/" + std::to_string(i) + "/big");
    char name[32];
    for (int n = 0; n < total; n++) {
        std::snprintf(name, sizeof name, "/big/e%07d", n);
        if (n % 10 == 9) {
            const int top = 1 + static_cast<int>(rng() % 3);
            fs.add_file("/w4/" + std::to_string(top) + name, "");
            fs.add_whiteout("/w4/" +
                            std::to_string(static_cast<int>(rng() % static_cast<unsigned>(top))) +
                            name);
            continue;
        }
        const int top = static_cast<int>(rng() % 4);
        fs.add_file("/w4/" + std::to_string(top) + name, "");
        if (top < L - 1 && rng() % 100 < 15)
            fs.add_file(
                "/w4/" +
                    std::to_string(top + 1 +
                                   static_cast<int>(rng() % static_cast<unsigned>(L - 1 - top))) +
                    name,
                "");
    }
    fs.set_cwd("/w4");
    return "lowerdir=0:1:2:3";
}

struct w4_stack {
    std::unique_ptr<memory_fs> mem;
    std::optional<posix_fs> posix;
    std::optional<disk_stack> disk;
    std::string options;
};

template <class B>
w4_stack& stack_for(int merged) {
    static std::map<int, w4_stack> cache;
    auto [it, fresh] = cache.try_emplace(merged);
    w4_stack& s = it->second;
    if (!fresh) return s;
    if constexpr (std::is_same_v<B, memory_fs>) {
        s.mem = std::make_unique<memory_fs>();
        s.options = build_w4(*s.mem, merged);
    } else {
        s.disk = workload(merged == 100000 ? "w4" : "w4-E" + std::to_string(merged));
        if (!s.disk) return s;
        s.options = s.disk->options;
        if (auto f = posix_fs::with_working_dir(s.disk->dir)) s.posix.emplace(std::move(*f));
    }
    return s;
}

template <class B>
const B* fs_of(w4_stack& s) {
    if constexpr (std::is_same_v<B, memory_fs>)
        return s.mem.get();
    else
        return s.posix ? &*s.posix : nullptr;
}

template <class B, bool hot>
void readdir_bench(benchmark::State& state) {
    auto& s = stack_for<B>(static_cast<int>(state.range(0)));
    const B* fs = fs_of<B>(s);
    if (!fs) {
        state.SkipWithError("workload missing: run benchmarks/run.py or make_workload.py first");
        return;
    }
    std::unique_ptr<ovlcore::overlay<B>> ov;
    std::size_t n = 0;
    if (hot) {
        ov = make_overlay(*fs, s.options, &state);
        if (!ov) return;
        (void)ov->read_dir("/big");
    }
    for (auto _ : state) {
        if (!hot) {
            state.PauseTiming();
            ov.reset();
            state.ResumeTiming();
            ov = make_overlay(*fs, s.options, &state);
            if (!ov) return;
        }
        auto l = ov->read_dir("/big");
        n = l ? l->size() : 0;
        benchmark::DoNotOptimize(l);
    }
    counts c;
    c.entries = n;
    report(state, c, n);
}

template <class B>
void floor_layers(benchmark::State& state) {
    auto& s = stack_for<B>(static_cast<int>(state.range(0)));
    const B* fs = fs_of<B>(s);
    if (!fs) {
        state.SkipWithError("workload missing: run benchmarks/run.py or make_workload.py first");
        return;
    }
    std::vector<typename B::layer_ref> layers;
    for (const char* l : {"0", "1", "2", "3"})
        if (auto r = fs->resolve_dir(l)) layers.push_back(r->ref);
    std::size_t raw = 0;
    for (auto _ : state) {
        raw = 0;
        for (const auto& l : layers)
            if (auto r = ovlcore::read_dir_path(*fs, l, "big")) raw += r->size();
    }
    counts c;
    c.entries = raw;
    // per merged entry, like the benchmarks above
    report(state, c, static_cast<std::uint64_t>(state.range(0)));
}

void sizes_memory(benchmark::internal::Benchmark* b) {
    b->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond)->UseRealTime();
}
void sizes_posix(benchmark::internal::Benchmark* b) {
    b->Arg(100000)->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK_TEMPLATE(readdir_bench, memory_fs, false)
    ->Name("readdir<memory_fs>")
    ->Apply(sizes_memory);
BENCHMARK_TEMPLATE(readdir_bench, posix_fs, false)->Name("readdir<posix_fs>")->Apply(sizes_posix);
BENCHMARK_TEMPLATE(readdir_bench, memory_fs, true)
    ->Name("readdir_hot<memory_fs>")
    ->Apply(sizes_memory);
BENCHMARK_TEMPLATE(readdir_bench, posix_fs, true)
    ->Name("readdir_hot<posix_fs>")
    ->Apply(sizes_posix);
BENCHMARK_TEMPLATE(floor_layers, memory_fs)->Apply(sizes_memory);
BENCHMARK_TEMPLATE(floor_layers, posix_fs)->Apply(sizes_posix);

} // namespace
