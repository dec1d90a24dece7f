// SPDX-License-Identifier: MIT
// bench_lazy.cpp: does a stat walk of a composefs-like stack stay away from the data-only layer,
// and what does the first open pay for lazy lowerdata (W3)? (spec §6: the data path is resolved
// on open, never by stat/readdir)
//
//   stat_walk<B>/N     fresh overlay, read_dir + lstat of every path (must not touch the store:
//                      counter "data_layer_calls", measured once on a counting backend, is 0)
//   first_byte<B>/N    fresh overlay, walk + open + read 1 byte of every file (resolves the data)
//   read_all<B>/N      fresh overlay, walk + open + read every file completely
//   floor_stat<B>/N    floor: the backend's own read_dir + lstat of the metacopy layer (no overlay)
// B = memory_fs (N = 10k, built in memory) and posix_fs (workload w3-N<N> of run.py: 10k and
// 100k, skipped when missing). Counter "units" = merged entries per second. The counting backend
// is local (layer_counting_fs, on the library's forwarding_fs): benchmarks use no test code.
#include "bench_support.hpp"

#include <ovlcore/backend/forwarding.hpp>

#include <atomic>
#include <map>
#include <type_traits>

namespace {

using namespace ovlbench;

/// W3 in memory: N metacopy files (dirs of 100) with absolute redirects into "objects".
std::string build_w3(memory_fs& fs, int N) {
    std::mt19937_64 rng(3000u + static_cast<unsigned>(N));
    char meta[64], obj[64];
    for (int n = 0; n < N; n++) {
        const auto h = rng();
        std::snprintf(meta, sizeof meta, "/w3/0/d%04d/f%02d", n / 100, n % 100);
        std::snprintf(obj, sizeof obj, "/%02x/%014llx", static_cast<unsigned>(h & 0xff),
                      static_cast<unsigned long long>(h >> 8));
        const std::size_t size = 1 + rng() % 2047;
        fs.add_file(std::string("/w3/objects") + obj, std::string(size, 'x'));
        memory_fs::entry_attrs a;
        a.size = size;
        fs.add_file(meta, "", a);
        fs.set_xattr(meta, "trusted.overlay.metacopy", "");
        fs.set_xattr(meta, "trusted.overlay.redirect", obj);
    }
    fs.set_cwd("/w3");
    return "lowerdir=0::objects";
}

struct w3_stack {
    std::unique_ptr<memory_fs> mem;
    std::optional<posix_fs> posix;
    std::string options;
};

template <class B>
w3_stack& stack_for(int N) {
    static std::map<int, w3_stack> cache;
    auto [it, fresh] = cache.try_emplace(N);
    w3_stack& s = it->second;
    if (!fresh) return s;
    if constexpr (std::is_same_v<B, memory_fs>) {
        s.mem = std::make_unique<memory_fs>();
        s.options = build_w3(*s.mem, N);
    } else if (auto d = workload("w3-N" + std::to_string(N))) {
        s.options = d->options;
        if (auto f = posix_fs::with_working_dir(d->dir)) s.posix.emplace(std::move(*f));
    }
    return s;
}

template <class B>
const B* fs_of(w3_stack& s) {
    if constexpr (std::is_same_v<B, memory_fs>)
        return s.mem.get();
    else
        return s.posix ? &*s.posix : nullptr;
}

/// Counts the calls into one layer (the one whose root is `layer`): every operation that takes a
/// layer_ref, a handle or a file. resolve_dir, which only mount-time setup makes, goes to the base uncounted.
template <ovlcore::backing_filesystem B>
class layer_counting_fs : public ovlcore::rooted_forwarding_fs<B> {
public:
    using base = ovlcore::rooted_forwarding_fs<B>;
    using typename base::file;
    using typename base::handle;
    using typename base::layer_ref;

    layer_counting_fs(const B& inner, ovlcore::file_id layer) noexcept
        : base(inner), m_layer(layer) {}

    [[nodiscard]] std::uint64_t calls() const noexcept { return m_calls.load(); }

    [[nodiscard]] ovlcore::result<ovlcore::real_object<handle>> root(const layer_ref& l) const {
        note(l.root);
        return base::root(l);
    }
    [[nodiscard]] ovlcore::result<ovlcore::real_object<handle>>
    lookup(const handle& dir, std::string_view name) const {
        note(dir.root);
        return base::lookup(dir, name);
    }
    [[nodiscard]] ovlcore::result<std::vector<ovlcore::dir_entry>> read_dir(const handle& h) const {
        note(h.root);
        return base::read_dir(h);
    }
    [[nodiscard]] ovlcore::result<std::optional<std::string>>
    get_xattr(const handle& h, std::string_view name) const {
        note(h.root);
        return base::get_xattr(h, name);
    }
    [[nodiscard]] ovlcore::result<std::vector<std::string>> list_xattr(const handle& h) const {
        note(h.root);
        return base::list_xattr(h);
    }
    [[nodiscard]] ovlcore::result<std::string> read_link(const handle& h) const {
        note(h.root);
        return base::read_link(h);
    }
    [[nodiscard]] ovlcore::result<ovlcore::real_object<handle>>
    lookup_beneath(const layer_ref& l, std::string_view path) const {
        note(l.root);
        return base::lookup_beneath(l, path);
    }
    [[nodiscard]] ovlcore::result<file> open_file(const handle& h) const {
        note(h.root);
        return base::open_file(h);
    }
    [[nodiscard]] ovlcore::result<std::size_t> read(const file& f, std::uint64_t offset,
                                                    std::span<char> buffer) const {
        note(f.root);
        return base::read(f, offset, buffer);
    }

private:
    void note(ovlcore::file_id root) const noexcept {
        if (root == m_layer) m_calls.fetch_add(1, std::memory_order_relaxed);
    }

    ovlcore::file_id m_layer;
    mutable std::atomic<std::uint64_t> m_calls{0};
};

/// Calls into the data-only layer during one stat walk (expected: 0; all ones on a setup failure).
template <class B>
std::uint64_t data_layer_calls(const B& fs, const std::string& options) {
    auto objects = fs.resolve_dir("objects");
    if (!objects) return ~std::uint64_t{0};
    layer_counting_fs<B> counting(fs, ovlcore::file_id_of(objects->st));
    auto ov = make_overlay(counting, options);
    if (!ov) return ~std::uint64_t{0};
    const auto before = counting.calls();
    counts c;
    walk(*ov, "/", c, read_mode::none);
    return counting.calls() - before;
}

template <class B, read_mode RM>
void w3_bench(benchmark::State& state) {
    auto& s = stack_for<B>(static_cast<int>(state.range(0)));
    const B* fs = fs_of<B>(s);
    if (!fs) {
        state.SkipWithError("workload missing: run benchmarks/run.py or make_workload.py first");
        return;
    }
    counts c;
    std::unique_ptr<ovlcore::overlay<B>> ov;
    for (auto _ : state) {
        state.PauseTiming();
        ov.reset();
        state.ResumeTiming();
        ov = make_overlay(*fs, s.options, &state);
        if (!ov) return;
        c = counts{};
        walk(*ov, "/", c, RM);
    }
    report(state, c, c.entries);
    if constexpr (RM == read_mode::none)
        state.counters["data_layer_calls"] = static_cast<double>(data_layer_calls(*fs, s.options));
}

template <class B>
void floor_stat(benchmark::State& state) {
    auto& s = stack_for<B>(static_cast<int>(state.range(0)));
    const B* fs = fs_of<B>(s);
    if (!fs) {
        state.SkipWithError("workload missing: run benchmarks/run.py or make_workload.py first");
        return;
    }
    auto layer = fs->resolve_dir("0");
    if (!layer) {
        state.SkipWithError("no layer 0");
        return;
    }
    counts c;
    for (auto _ : state) {
        c = counts{};
        auto root = fs->root(layer->ref);
        if (!root) break;
        auto top = fs->read_dir(root->handle);
        if (!top) break;
        for (const auto& d : *top) {
            c.entries++;
            auto dir = fs->lookup(root->handle, d.name);
            if (!dir) continue;
            auto kids = fs->read_dir(dir->handle);
            if (!kids) continue;
            for (const auto& k : *kids) {
                c.entries++;
                auto st = fs->lookup(dir->handle, k.name);
                benchmark::DoNotOptimize(st);
            }
        }
    }
    report(state, c, c.entries);
}

void mem_sizes(benchmark::internal::Benchmark* b) {
    b->Arg(10000)->Unit(benchmark::kMillisecond)->UseRealTime();
}
void disk_sizes(benchmark::internal::Benchmark* b) {
    b->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK_TEMPLATE(w3_bench, memory_fs, read_mode::none)
    ->Name("stat_walk<memory_fs>")
    ->Apply(mem_sizes);
BENCHMARK_TEMPLATE(w3_bench, memory_fs, read_mode::first)
    ->Name("first_byte<memory_fs>")
    ->Apply(mem_sizes);
BENCHMARK_TEMPLATE(w3_bench, memory_fs, read_mode::all)
    ->Name("read_all<memory_fs>")
    ->Apply(mem_sizes);
BENCHMARK_TEMPLATE(floor_stat, memory_fs)->Name("floor_stat<memory_fs>")->Apply(mem_sizes);
BENCHMARK_TEMPLATE(w3_bench, posix_fs, read_mode::none)
    ->Name("stat_walk<posix_fs>")
    ->Apply(disk_sizes);
BENCHMARK_TEMPLATE(w3_bench, posix_fs, read_mode::first)
    ->Name("first_byte<posix_fs>")
    ->Apply(disk_sizes);
BENCHMARK_TEMPLATE(w3_bench, posix_fs, read_mode::all)
    ->Name("read_all<posix_fs>")
    ->Apply(disk_sizes);
BENCHMARK_TEMPLATE(floor_stat, posix_fs)->Name("floor_stat<posix_fs>")->Apply(disk_sizes);

} // namespace
