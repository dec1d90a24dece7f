// SPDX-License-Identifier: MIT
// benchmarks/bench_support.hpp: shared helpers of the bench_*.cpp executables: where the
// run.py workloads live, copying an on-disk layer stack into a memory_fs, a synthetic in-memory
// W1 stack, and walkers over an overlay's path API and over plain real directories (the floors).
// Spec: §2 (xattrs copied verbatim), §3 (whiteouts), §6 (metacopy + data-only layers).
#pragma once

#include <benchmark/benchmark.h>

#include <ovlcore/backend/memory.hpp>
#include <ovlcore/backend/posix.hpp>
#include <ovlcore/layer_stack.hpp>
#include <ovlcore/overlay.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace ovlbench {

using ovlcore::file_type;
using ovlcore::memory_fs;
using ovlcore::posix_fs;

// ---- workloads on disk (benchmarks/make_workload.py, cached by run.py) -------------------------

/// The workload cache: $OVLCORE_BENCH_DATA, else build/bench-data below the working directory.
inline std::string data_dir() {
    if (const char* d = std::getenv("OVLCORE_BENCH_DATA")) return d;
    return "build/bench-data";
}

inline std::optional<std::string> read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

inline std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

/// A workload directory with its options (relative layer paths) and lookup list.
struct disk_stack {
    std::string dir;
    std::string options;
    std::vector<std::string> layers;  ///< every layer directory named in the options
    std::vector<std::string> lookups; ///< "/a/b" paths (W1 only)
};

/// Loads DIR/options.txt (+ lookups.txt) as make_workload.py writes them.
inline std::optional<disk_stack> load_disk_stack(const std::string& dir) {
    auto opts = read_text(dir + "/options.txt");
    if (!opts) return std::nullopt;
    disk_stack s{dir, trim(*opts), {}, {}};
    std::string list = s.options.substr(s.options.find('=') + 1);
    std::string cur;
    for (char c : list + ":") {
        if (c == ':') {
            if (!cur.empty()) s.layers.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    if (auto l = read_text(dir + "/lookups.txt")) {
        std::istringstream in(*l);
        for (std::string line; std::getline(in, line);)
            if (!line.empty()) s.lookups.push_back("/" + line);
    }
    return s;
}

/// A named workload of the cache (e.g. "w1-L16"), if run.py or make_workload.py built it.
inline std::optional<disk_stack> workload(const std::string& name) {
    return load_disk_stack(data_dir() + "/" + name);
}

// ---- disk -> memory_fs ---------------------------------------------------------------------------

/// Copies the real tree at `disk` into `fs` at `mem` (absolute): types, modes, owners, sizes
/// (sparse st_size kept), contents, device numbers and every trusted.overlay.* xattr.
inline void copy_into(memory_fs& fs, const std::string& disk, const std::string& mem) {
    struct ::stat st {};
    if (::lstat(disk.c_str(), &st) != 0) return;
    memory_fs::entry_attrs attrs;
    attrs.mode = st.st_mode & 07777;
    attrs.uid = st.st_uid;
    attrs.gid = st.st_gid;
    if (S_ISDIR(st.st_mode)) {
        fs.add_dir(mem, attrs);
    } else if (S_ISREG(st.st_mode)) {
        std::string content = read_text(disk).value_or("");
        attrs.size = static_cast<std::uint64_t>(st.st_size);
        // a sparse metacopy file: keep st_size, no content (its bytes are zeros anyway)
        if (st.st_blocks == 0 || content.find_first_not_of('\0') == std::string::npos)
            content.clear();
        fs.add_file(mem, content, attrs);
    } else if (S_ISLNK(st.st_mode)) {
        std::array<char, 4096> buf{};
        const auto n = ::readlink(disk.c_str(), buf.data(), buf.size());
        fs.add_symlink(mem, std::string_view(buf.data(), n > 0 ? static_cast<std::size_t>(n) : 0),
                       attrs);
    } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
        fs.add_device(mem, S_ISCHR(st.st_mode) ? file_type::char_device : file_type::block_device,
                      major(st.st_rdev), minor(st.st_rdev), attrs);
    } else if (S_ISFIFO(st.st_mode)) {
        fs.add_fifo(mem, attrs);
    }
    std::array<char, 4096> names{};
    const auto len = ::llistxattr(disk.c_str(), names.data(), names.size());
    for (ssize_t off = 0; len > 0 && off < len;) {
        const std::string name(names.data() + off);
        off += static_cast<ssize_t>(name.size()) + 1;
        if (name.rfind("trusted.overlay.", 0) != 0 && name.rfind("user.overlay.", 0) != 0) continue;
        std::array<char, 4096> val{};
        const auto vl = ::lgetxattr(disk.c_str(), name.c_str(), val.data(), val.size());
        if (vl >= 0)
            fs.set_xattr(mem, name, std::string_view(val.data(), static_cast<std::size_t>(vl)));
    }
    if (S_ISDIR(st.st_mode)) {
        DIR* d = ::opendir(disk.c_str());
        if (!d) return;
        std::vector<std::string> kids;
        while (const dirent* e = ::readdir(d)) {
            const std::string n = e->d_name;
            if (n != "." && n != "..") kids.push_back(n);
        }
        ::closedir(d);
        for (const auto& n : kids) copy_into(fs, disk + "/" + n, (mem == "/" ? "" : mem) + "/" + n);
    }
}

/// The disk stack copied into a fresh memory_fs at /stack, cwd /stack (same options string).
inline std::unique_ptr<memory_fs> memory_copy(const disk_stack& s) {
    auto fs = std::make_unique<memory_fs>();
    fs->add_dir("/stack");
    for (const auto& l : s.layers) copy_into(*fs, s.dir + "/" + l, "/stack/" + l);
    fs->set_cwd("/stack");
    return fs;
}

// ---- a synthetic W1 stack in memory (same shape as make_workload.py's, own random numbers) --------

/// L lower layers sharing 10 x 5 dirs x 100 files (each file in a random layer, 10% older
/// copies below, 5% whited out, two opaque dirs from L >= 4). Returns the options; fills the
/// merged files (for lookups) and a few absent paths.
inline std::string build_w1(memory_fs& fs, int L, std::vector<std::string>& files,
                            std::vector<std::string>& misses) {
    std::mt19937 rng(1000u + static_cast<unsigned>(L));
    auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi - 1)(rng); };
    auto chance = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
    std::string opts = "lowerdir=";
    const int layers = L == 1 ? 2 : L; // overlayfs wants two lowers without an upper
    for (int i = 0; i < layers; i++) {
        fs.add_dir("/w1/" + std::to_string(i));
        opts += (i ? ":" : "") + std::to_string(i);
    }
    for (int a = 0; a < 10; a++) {
        for (int b = 0; b < 5; b++) {
            const std::string d = "d" + std::to_string(a) + "/s" + std::to_string(b);
            const int opaque_at = (L >= 4 && a < 2 && b == 0) ? pick(1, L - 1) : -1;
            if (opaque_at >= 0) {
                fs.add_dir("/w1/" + std::to_string(opaque_at) + "/" + d);
                fs.set_xattr("/w1/" + std::to_string(opaque_at) + "/" + d, "trusted.overlay.opaque",
                             "y");
            }
            for (int n = 0; n < 100; n++) {
                const std::string rel = d + "/f" + std::to_string(n);
                const int owner = pick(0, L);
                fs.add_file("/w1/" + std::to_string(owner) + "/" + rel, "content of " + rel);
                if (owner < L - 1 && chance(0.10))
                    fs.add_file("/w1/" + std::to_string(pick(owner + 1, L)) + "/" + rel, "old");
                if (opaque_at >= 0 && owner > opaque_at) {
                    misses.push_back("/" + rel);
                    continue;
                }
                if (owner > 0 && chance(0.05)) {
                    fs.add_whiteout("/w1/" + std::to_string(pick(0, owner)) + "/" + rel);
                    misses.push_back("/" + rel);
                    continue;
                }
                files.push_back("/" + rel);
            }
            misses.push_back("/" + d + "/nope");
        }
    }
    fs.set_cwd("/w1");
    return opts;
}

// ---- walkers -------------------------------------------------------------------------------

struct counts {
    std::uint64_t entries = 0, dirs = 0, files = 0, bytes = 0, sum_all = 0, sum_first = 0;
    std::uint64_t lookups = 0, hits = 0, errors = 0;
};

enum class read_mode { none, all, first };

/// Merged walk through the path API: read_dir + lstat of every path, optional reads.
template <class Overlay>
void walk(const Overlay& ov, const std::string& dir, counts& c, read_mode rm, bool do_stat = true) {
    auto listing = ov.read_dir(dir);
    if (!listing) {
        c.errors++;
        return;
    }
    std::vector<char> buf(rm == read_mode::all ? 1 << 16 : 1);
    for (const auto& e : *listing) {
        const std::string path = (dir == "/" ? "" : dir) + "/" + e.name;
        c.entries++;
        file_type t = e.type;
        if (do_stat) {
            auto st = ov.lstat(path);
            if (!st) {
                c.errors++;
                continue;
            }
            t = st->type;
        }
        if (t == file_type::directory) {
            c.dirs++;
            walk(ov, path, c, rm, do_stat);
        } else if (t == file_type::regular) {
            c.files++;
            if (rm == read_mode::none) continue;
            auto f = ov.open(path);
            if (!f) {
                c.errors++;
                continue;
            }
            std::uint64_t off = 0;
            for (;;) {
                auto n = ov.read(*f, off, std::span<char>(buf));
                if (!n) {
                    c.errors++;
                    break;
                }
                if (*n == 0) break;
                if (off == 0) c.sum_first += static_cast<unsigned char>(buf[0]);
                if (rm == read_mode::first) break;
                for (std::size_t i = 0; i < *n; i++)
                    c.sum_all += static_cast<unsigned char>(buf[i]);
                c.bytes += *n;
                off += *n;
            }
        }
    }
}

/// The floor for a non-overlay tree: getdents + fstatat of every entry of a real directory.
inline void plain_walk(int dirfd, counts& c) {
    std::vector<std::pair<std::string, unsigned char>> names;
    DIR* d = ::fdopendir(::dup(dirfd));
    if (!d) return;
    while (const dirent* e = ::readdir(d)) {
        const std::string n = e->d_name;
        if (n != "." && n != "..") names.emplace_back(n, e->d_type);
    }
    ::closedir(d);
    for (const auto& [n, t] : names) {
        struct ::stat st {};
        c.entries++;
        if (::fstatat(dirfd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            const int fd = ::openat(dirfd, n.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (fd >= 0) {
                plain_walk(fd, c);
                ::close(fd);
            }
        }
    }
}

/// Sets the natural-unit counters: "units" (per second) and the non-zero counts the runner checks.
inline void report(benchmark::State& state, const counts& c, std::uint64_t units) {
    state.counters["units"] = benchmark::Counter(static_cast<double>(units),
                                                 benchmark::Counter::kIsIterationInvariantRate);
    state.counters["units_per_iter"] = static_cast<double>(units); // run.py: CPU time per unit
    const std::pair<const char*, std::uint64_t> all[] = {
        {"entries", c.entries}, {"files", c.files},         {"bytes", c.bytes},
        {"sum_all", c.sum_all}, {"sum_first", c.sum_first}, {"lookups", c.lookups},
        {"hits", c.hits},       {"errors", c.errors}};
    for (const auto& [name, v] : all)
        if (v) state.counters[name] = static_cast<double>(v);
}

/// make_layer_stack + overlay, with the mount error as a benchmark error.
template <class B>
std::unique_ptr<ovlcore::overlay<B>> make_overlay(const B& fs, std::string_view options,
                                                  benchmark::State* state = nullptr) {
    auto stack = ovlcore::make_layer_stack(fs, options);
    if (!stack) {
        if (state) state->SkipWithError(("mount refused: " + stack.error().message).c_str());
        return nullptr;
    }
    return std::make_unique<ovlcore::overlay<B>>(fs, std::move(*stack));
}

} // namespace ovlbench
