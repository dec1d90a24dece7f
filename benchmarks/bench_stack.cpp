// SPDX-License-Identifier: MIT
// bench_stack.cpp: how fast does ovlcore answer run.py's questions on one on-disk workload?
// The ovlcore-memory / ovlcore-posix columns of benchmarks/run.py (spec §5, §6, §8).
//
// OVLCORE_BENCH_STACK=DIR (a workload directory of make_workload.py) registers, for the memory
// backend (the layers copied into a memory_fs once, before timing) and the POSIX backend:
//   stack_walk/B     merged walk, lstat of every path            (W1, W3 walk+stat, W4 readdir+stat)
//   stack_readdir/B  merged walk by d_type, no lstat             (W4 readdir)
//   stack_read/B     walk + open + read every regular file       (W2, W3 open+read all)
//   stack_first/B    walk + open + read the first byte           (W3 read first byte)
//   stack_lookup/B   lstat of every path of DIR/lookups.txt      (W1 lookups)
//   stack_walk_floor plain getdents+fstatat walk of every layer directory (no merge)
// Every iteration builds a fresh overlay (like a fresh kernel mount with the layers in the page
// cache: "warm"); stack_walk_hot/B reuses one overlay (the kernel's "hot"). Counter "units" is
// entries (lookups) per second; the other counters are the counts run.py checks.
// Without OVLCORE_BENCH_STACK nothing is registered except a note.
#include "bench_support.hpp"

#include <cstdio>

namespace {

using namespace ovlbench;

enum class question { walk, readdir, read, first, lookup };

template <class B>
void run_question(benchmark::State& state, const B& fs, const disk_stack& s, question q, bool hot) {
    std::unique_ptr<ovlcore::overlay<B>> ov;
    if (hot) {
        ov = make_overlay(fs, s.options, &state);
        if (!ov) return;
        counts c;
        walk(*ov, "/", c, read_mode::none); // fill the object cache
    }
    counts c;
    std::uint64_t units = 0;
    for (auto _ : state) {
        if (!hot) {
            state.PauseTiming();
            ov.reset();
            state.ResumeTiming();
            ov = make_overlay(fs, s.options, &state);
            if (!ov) return;
        }
        c = counts{};
        switch (q) {
        case question::walk: walk(*ov, "/", c, read_mode::none); break;
        case question::readdir: walk(*ov, "/", c, read_mode::none, false); break;
        case question::read: walk(*ov, "/", c, read_mode::all); break;
        case question::first: walk(*ov, "/", c, read_mode::first); break;
        case question::lookup:
            for (const auto& p : s.lookups) {
                c.lookups++;
                if (ov->lstat(p)) c.hits++;
            }
            break;
        }
        benchmark::DoNotOptimize(c);
        units = q == question::lookup ? c.lookups : c.entries;
    }
    report(state, c, units);
}

struct registrar {
    std::unique_ptr<memory_fs> mem;
    std::unique_ptr<posix_fs> posix;
    disk_stack stack;

    /// The stack copied into memory on first use (not timed; only memory benchmarks pay it).
    const memory_fs& memory() {
        if (!mem) mem = memory_copy(stack);
        return *mem;
    }

    registrar() {
        const char* dir = std::getenv("OVLCORE_BENCH_STACK");
        if (!dir) {
            std::fprintf(stderr,
                         "bench_stack: set OVLCORE_BENCH_STACK=<workload dir> "
                         "(see benchmarks/README.md)\n");
            return;
        }
        auto s = load_disk_stack(dir);
        if (!s) {
            std::fprintf(stderr, "bench_stack: no options.txt in %s\n", dir);
            return;
        }
        stack = std::move(*s);
        if (auto p = posix_fs::with_working_dir(stack.dir))
            posix = std::make_unique<posix_fs>(std::move(*p));
        const std::pair<const char*, question> qs[] = {{"walk", question::walk},
                                                       {"readdir", question::readdir},
                                                       {"read", question::read},
                                                       {"first", question::first},
                                                       {"lookup", question::lookup}};
        for (const auto& [name, q] : qs) {
            if (q == question::lookup && stack.lookups.empty()) continue;
            const std::string n = name;
            benchmark::RegisterBenchmark(("stack_" + n + "/memory").c_str(),
                                         [this, q = q](benchmark::State& st) {
                                             run_question(st, memory(), stack, q, false);
                                         })
                ->Unit(benchmark::kMillisecond)
                ->UseRealTime();
            if (posix)
                benchmark::RegisterBenchmark(("stack_" + n + "/posix").c_str(),
                                             [this, q = q](benchmark::State& st) {
                                                 run_question(st, *posix, stack, q, false);
                                             })
                    ->Unit(benchmark::kMillisecond)
                    ->UseRealTime();
        }
        benchmark::RegisterBenchmark("stack_walk_hot/memory",
                                     [this](benchmark::State& st) {
                                         run_question(st, memory(), stack, question::walk, true);
                                     })
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
        if (posix)
            benchmark::RegisterBenchmark("stack_walk_hot/posix",
                                         [this](benchmark::State& st) {
                                             run_question(st, *posix, stack, question::walk, true);
                                         })
                ->Unit(benchmark::kMillisecond)
                ->UseRealTime();
        benchmark::RegisterBenchmark("stack_walk_floor",
                                     [this](benchmark::State& st) {
                                         counts c;
                                         for (auto _ : st) {
                                             c = counts{};
                                             for (const auto& l : stack.layers) {
                                                 const int fd =
                                                     ::open((stack.dir + "/" + l).c_str(),
                                                            O_RDONLY | O_DIRECTORY);
                                                 if (fd < 0) continue;
                                                 plain_walk(fd, c);
                                                 ::close(fd);
                                             }
                                         }
                                         report(st, c, c.entries);
                                     })
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
    }
};

registrar g_registrar;

} // namespace
