// SPDX-License-Identifier: MIT
// Bytes per object of the overlay's object cache (spec §10 Q2; issue 11: at most 512), measured
// by counting what operator new hands out while an overlay looks up 20,000 files (1,000 per dir)
// of memory_fs layers; the sizes of the structures that make up an object are printed too. Its
// own executable: it replaces the global operator new (docs/contributing.md §31).
#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <string_view>

#include <ovlcore/backend/memory.hpp>
#include <ovlcore/layer_stack.hpp>
#include <ovlcore/overlay.hpp>

namespace {

std::atomic<std::size_t> g_allocated{0}; // bytes requested, never decremented
std::atomic<std::size_t> g_live{0};      // bytes requested and not freed yet
constexpr std::size_t header = alignof(std::max_align_t);

} // namespace

// The size of each block sits in a header before it, so that frees can be counted too.
void* operator new(std::size_t n) {
    auto* p = static_cast<unsigned char*>(std::malloc(n + header)); // NOLINT: counting allocator
    if (!p) throw std::bad_alloc();
    *reinterpret_cast<std::size_t*>(p) = n;
    g_allocated.fetch_add(n, std::memory_order_relaxed);
    g_live.fetch_add(n, std::memory_order_relaxed);
    return p + header;
}
void operator delete(void* p) noexcept {
    if (!p) return;
    auto* block = static_cast<unsigned char*>(p) - header;
    g_live.fetch_sub(*reinterpret_cast<std::size_t*>(block), std::memory_order_relaxed);
    std::free(block); // NOLINT: counting allocator
}
void operator delete(void* p, std::size_t /*size*/) noexcept { operator delete(p); }

namespace {

using namespace ovlcore;

constexpr std::size_t limit = 512; // issue 11's target, bytes per cached object
constexpr int files = 20000;
constexpr int per_dir = 1000;

std::string file_path(std::string_view layer, int i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*s/d%03d/f%06d", static_cast<int>(layer.size()), layer.data(),
                  i / per_dir, i);
    return buf;
}

/// Looks up every file of `layer` through an overlay mounted with `options`, once its dirs are
/// cached; prints and checks the bytes allocated (and still live) per file object.
bool measure(const char* what, std::string_view options, std::string_view layer, bool guarded) {
    memory_fs fs;
    fs.add_dir("/U").add_dir("/W").add_dir("/A").add_dir("/B").set_cwd("/");
    for (int i = 0; i < files; ++i) fs.add_file(file_path("/" + std::string(layer), i), "x");
    auto stack = make_layer_stack(fs, options);
    if (!stack) {
        std::printf("FAIL %s: stack %.*s refused\n", what, static_cast<int>(options.size()),
                    options.data());
        return false;
    }
    const overlay<memory_fs> ov(fs, std::move(*stack));
    for (int d = 0; d < files / per_dir; ++d)
        if (!ov.lstat(file_path("", d * per_dir).substr(0, 5))) return false;
    const std::size_t allocated = g_allocated.load(), live = g_live.load();
    const std::size_t nodes = ov.live_nodes();
    for (int i = 0; i < files; ++i) {
        if (!ov.lstat(file_path("", i))) {
            std::printf("FAIL %s: %s not found\n", what, file_path("", i).c_str());
            return false;
        }
    }
    if (ov.live_nodes() - nodes != files) {
        std::printf("FAIL %s: %zu objects cached, not %d\n", what, ov.live_nodes() - nodes, files);
        return false;
    }
    const double per_object = static_cast<double>(g_allocated.load() - allocated) / files;
    const double live_per_object = static_cast<double>(g_live.load() - live) / files;
    const bool ok = !guarded || per_object <= static_cast<double>(limit);
    std::printf("%s %s: %.1f bytes allocated per cached object (%.1f still live)%s\n",
                ok ? "ok  " : "FAIL", what, per_object, live_per_object,
                guarded ? "" : " [not guarded]");
    return ok;
}

} // namespace

int main() {
    using B = memory_fs;
    std::printf(
        "layout (bytes): stat_info %zu, real_entry %zu, overlay_entry %zu (upper %zu, "
        "lowers %zu, lowerdata_redirect %zu), overlay_inode %zu, overlay_node %zu\n",
        sizeof(stat_info), sizeof(real_entry<B>), sizeof(overlay_entry<B>),
        sizeof(overlay_entry<B>::upper), sizeof(overlay_entry<B>::lowers),
        sizeof(overlay_entry<B>::lowerdata_redirect), sizeof(detail::overlay_inode<B>),
        sizeof(detail::overlay_node<B>));
    bool ok = measure("lower file", "lowerdir=A:B", "A", true);
    ok = measure("upper file", "lowerdir=A,upperdir=U,workdir=W", "U", true) && ok;
    return ok ? 0 : 1;
}
