// SPDX-License-Identifier: MIT
// bench_walk.cpp: what does a full merged walk (read_dir + lstat of every path) cost, per entry,
// on the memory and the POSIX backend (W1 at several widths, W2)? (spec §5, §8, §9)
//
//   walk<memory_fs>/NAME   fresh overlay per iteration over the workload copied into memory
//   walk<posix_fs>/NAME    the same over the real layer directories
//   walk_hot<B>/NAME       one overlay, walked again (object cache and listings warm)
//   floor_plain_walk/NAME  floor: getdents + fstatat of every real entry of every layer directory
//                          of the same stack (no merge, no overlay)
// NAME = w1-L1, w1-L16, w1-L128, w1-L500, w2 from the run.py cache ($OVLCORE_BENCH_DATA, default
// build/bench-data; missing ones are skipped), plus "synthetic-w1-L16" built in memory.
// Counter "units" = merged entries per second.
#include "bench_support.hpp"

#include <map>
#include <type_traits>

namespace {

using namespace ovlbench;

const char* const k_names[] = {"w1-L1", "w1-L16", "w1-L128", "w1-L500", "w2"};

struct loaded {
    std::optional<disk_stack> disk;
    std::unique_ptr<memory_fs> mem;
    std::optional<posix_fs> posix;
    std::string options;
};

loaded& load(const std::string& name) {
    static std::map<std::string, std::unique_ptr<loaded>> cache;
    auto& p = cache[name];
    if (p) return *p;
    p = std::make_unique<loaded>();
    if (name.rfind("synthetic-w1-L", 0) == 0) {
        p->mem = std::make_unique<memory_fs>();
        std::vector<std::string> files, misses;
        p->options = build_w1(*p->mem, std::stoi(name.substr(14)), files, misses);
        return *p;
    }
    p->disk = workload(name);
    if (!p->disk) return *p;
    p->options = p->disk->options;
    if (auto f = posix_fs::with_working_dir(p->disk->dir)) p->posix.emplace(std::move(*f));
    return *p;
}

template <class B>
const B* backend(loaded& l) {
    if constexpr (std::is_same_v<B, memory_fs>) {
        if (!l.mem && l.disk) l.mem = memory_copy(*l.disk); // once, before timing
        return l.mem.get();
    } else
        return l.posix ? &*l.posix : nullptr;
}

template <class B>
void walk_bench(benchmark::State& state, const std::string& name, bool hot) {
    auto& l = load(name);
    const B* fs = backend<B>(l);
    if (!fs) {
        state.SkipWithError("workload missing: run benchmarks/run.py or make_workload.py first");
        return;
    }
    std::unique_ptr<ovlcore::overlay<B>> ov;
    counts c;
    if (hot) {
        ov = make_overlay(*fs, l.options, &state);
        if (!ov) return;
        walk(*ov, "/", c, read_mode::none);
    }
    for (auto _ : state) {
        if (!hot) {
            state.PauseTiming();
            ov.reset();
            state.ResumeTiming();
            ov = make_overlay(*fs, l.options, &state);
            if (!ov) return;
        }
        c = counts{};
        walk(*ov, "/", c, read_mode::none);
    }
    report(state, c, c.entries);
}

void floor_plain_walk(benchmark::State& state, const std::string& name) {
    auto& l = load(name);
    if (!l.disk) {
        state.SkipWithError("workload missing: run benchmarks/run.py or make_workload.py first");
        return;
    }
    counts c;
    for (auto _ : state) {
        c = counts{};
        for (const auto& layer : l.disk->layers) {
            const int fd =
                ::open((l.disk->dir + "/" + layer).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (fd < 0) continue;
            plain_walk(fd, c);
            ::close(fd);
        }
    }
    report(state, c, c.entries);
}

struct registrar {
    registrar() {
        for (const char* n : k_names) {
            const std::string name = n;
            benchmark::RegisterBenchmark(
                ("walk<memory_fs>/" + name).c_str(),
                [name](benchmark::State& s) { walk_bench<memory_fs>(s, name, false); })
                ->Unit(benchmark::kMillisecond)
                ->UseRealTime();
            benchmark::RegisterBenchmark(
                ("walk<posix_fs>/" + name).c_str(),
                [name](benchmark::State& s) { walk_bench<posix_fs>(s, name, false); })
                ->Unit(benchmark::kMillisecond)
                ->UseRealTime();
            benchmark::RegisterBenchmark(
                ("walk_hot<memory_fs>/" + name).c_str(),
                [name](benchmark::State& s) { walk_bench<memory_fs>(s, name, true); })
                ->Unit(benchmark::kMillisecond)
                ->UseRealTime();
            benchmark::RegisterBenchmark(
                ("walk_hot<posix_fs>/" + name).c_str(),
                [name](benchmark::State& s) { walk_bench<posix_fs>(s, name, true); })
                ->Unit(benchmark::kMillisecond)
                ->UseRealTime();
            benchmark::RegisterBenchmark(("floor_plain_walk/" + name).c_str(),
                                         [name](benchmark::State& s) { floor_plain_walk(s, name); })
                ->Unit(benchmark::kMillisecond)
                ->UseRealTime();
        }
        benchmark::RegisterBenchmark(
            "walk<memory_fs>/synthetic-w1-L16",
            [](benchmark::State& s) { walk_bench<memory_fs>(s, "synthetic-w1-L16", false); })
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
    }
};

registrar g_registrar;

} // namespace
