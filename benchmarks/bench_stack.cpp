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
//
// W3 as a composefs image (docs/benchmarks.md, make_workload.py w3-image): when DIR holds
// options-images.txt (lowerdir=meta.erofs::objects,...), also stack_walk/image, stack_first/image,
// stack_read/image and stack_walk_hot/image over image_stack_fs (ovlcore/backend/images.hpp, the
// tools' --images): the metadata layer is read from the EROFS image file, never mounted. Each warm
// iteration opens the image afresh (a fresh kernel mount of the image re-reads its inodes too);
// opening it is timed, as part of building the overlay.
#include "bench_support.hpp"

#include <ovlcore/backend/images.hpp>

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

/// image_stack_fs over DIR: image and directory paths resolve against DIR, as by mount(2) there.
std::unique_ptr<ovlcore::image_stack_fs> open_images(const std::string& dir) {
    auto dirs = posix_fs::with_working_dir(dir);
    if (!dirs) return nullptr;
    return std::make_unique<ovlcore::image_stack_fs>(ovlcore::image_policy{
        .dirs = std::make_shared<const posix_fs>(std::move(*dirs)), .working_dir = dir});
}

/// run_question over image_stack_fs, with a fresh backend (the image opened again) per warm
/// iteration; opening the image happens in make_overlay (resolve_dir), inside the timing.
void run_image_question(benchmark::State& state, const std::string& dir, const std::string& options,
                        question q, bool hot) {
    std::unique_ptr<ovlcore::image_stack_fs> fs;
    std::unique_ptr<ovlcore::overlay<ovlcore::image_stack_fs>> ov;
    const auto refused = [&] { // make_overlay reported the refusal; add the image's message
        if (!fs)
            state.SkipWithError(("cannot open directory " + dir).c_str());
        else
            for (const auto& m : fs->route_messages()) state.SkipWithError(m.c_str());
    };
    if (hot) {
        fs = open_images(dir);
        if (fs) ov = make_overlay(*fs, options, &state);
        if (!ov) return refused();
        counts c;
        walk(*ov, "/", c, read_mode::none); // fill the object cache
    }
    counts c;
    for (auto _ : state) {
        if (!hot) {
            state.PauseTiming();
            ov.reset();
            fs = open_images(dir);
            state.ResumeTiming();
            if (fs) ov = make_overlay(*fs, options, &state);
            if (!ov) return refused();
        }
        c = counts{};
        switch (q) {
        case question::walk: walk(*ov, "/", c, read_mode::none); break;
        case question::read: walk(*ov, "/", c, read_mode::all); break;
        case question::first: walk(*ov, "/", c, read_mode::first); break;
        case question::readdir:
        case question::lookup: break;
        }
        benchmark::DoNotOptimize(c);
    }
    report(state, c, c.entries);
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
        register_images();
    }

    /// The */image benchmarks, when the workload has an EROFS image (options-images.txt).
    void register_images() {
        auto opts = read_text(stack.dir + "/options-images.txt");
        if (!opts) return;
        image_options = trim(*opts);
        const std::pair<const char*, question> qs[] = {
            {"walk", question::walk}, {"read", question::read}, {"first", question::first}};
        for (const auto& [name, q] : qs)
            benchmark::RegisterBenchmark(("stack_" + std::string(name) + "/image").c_str(),
                                         [this, q = q](benchmark::State& st) {
                                             run_image_question(st, stack.dir, image_options, q,
                                                                false);
                                         })
                ->Unit(benchmark::kMillisecond)
                ->UseRealTime();
        benchmark::RegisterBenchmark("stack_walk_hot/image",
                                     [this](benchmark::State& st) {
                                         run_image_question(st, stack.dir, image_options,
                                                            question::walk, true);
                                     })
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
    }

    std::string image_options;
};

registrar g_registrar;

} // namespace
