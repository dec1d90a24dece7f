// SPDX-License-Identifier: MIT
// bench_lint.cpp: how long does ovl-lint take on a composefs-like stack (W3: N metacopy files with
// absolute redirects into a data-only object store, spec §6), and does it look each object up at
// most once? (lint.hpp: one lookup per name, one data-only lookup per distinct redirect, no reads)
//
//   lint<posix_fs>/N   lint_mount() of workload w3-N<N> (10k, 100k; skipped when missing).
//                      Counters: units = paths linted per second, data_lookups (= distinct
//                      objects), findings (0 for W3).
// Floor: stat_walk<posix_fs>/N and floor_stat<posix_fs>/N of bench_lazy on the same workload.
#include "bench_support.hpp"

#include <ovlcore/lint.hpp>

namespace {

using namespace ovlbench;

void lint_w3(benchmark::State& state) {
    const auto d = workload("w3-N" + std::to_string(state.range(0)));
    std::optional<posix_fs> fs;
    if (d)
        if (auto f = posix_fs::with_working_dir(d->dir)) fs.emplace(std::move(*f));
    if (!fs) {
        state.SkipWithError("workload missing: run benchmarks/run.py or make_workload.py first");
        return;
    }
    ovlcore::lint_report report;
    for (auto _ : state) {
        report = ovlcore::lint_mount(*fs, d->options);
        benchmark::DoNotOptimize(report);
    }
    counts c;
    c.entries = report.paths;
    c.errors = report.findings.size();
    ovlbench::report(state, c, report.paths);
    state.counters["data_lookups"] = static_cast<double>(report.data_lookups);
    state.counters["metacopy"] = static_cast<double>(report.metacopy);
    state.counters["findings"] = static_cast<double>(report.findings.size());
}

BENCHMARK(lint_w3)
    ->Name("lint<posix_fs>")
    ->Arg(10000)
    ->Arg(100000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);

} // namespace
