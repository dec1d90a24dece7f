// SPDX-License-Identifier: MIT
// Fuzz target for the EROFS reader (include/ovlcore/backend/erofs.hpp, docs/erofs.md §9):
// every backend call on every object reachable in a hostile image must end in a value or an
// errno, never a crash, an out-of-bounds read, a hang or a huge allocation.
//
// Input: the image from byte 1024 on (the superblock first): the body prepends 1024 zero bytes
// and pads the end with zeros to a whole 4 KiB block, so that seeds of a few hundred bytes are
// complete images. The superblock checksum feature bit is cleared, so mutations reach the
// metadata instead of failing the checksum.
#include <ovlcore/backend/erofs.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

void exercise(const ovlcore::erofs_fs& fs) {
    using handle = ovlcore::erofs_fs::handle;
    auto root = fs.root(fs.image_root());
    if (!root) return;
    std::vector<ovlcore::real_object<handle>> todo{*root};
    std::vector<char> buf(4096);
    int budget = 64;
    while (!todo.empty() && budget-- > 0) {
        const auto obj = todo.back();
        todo.pop_back();
        if (auto names = fs.list_xattr(obj.handle)) {
            for (const auto& n : *names) {
                check(!n.empty());
                auto v = fs.get_xattr(obj.handle, n);
                check(!v || v->has_value()); // a listed name is found
            }
        }
        if (auto t = fs.read_link(obj.handle)) check(t->size() <= 4095);
        (void)fs.path_of(obj.handle);
        if (auto f = fs.open_file(obj.handle)) {
            for (std::uint64_t off = 0; off < 65536; off += buf.size()) {
                auto n = fs.read(*f, off, buf);
                if (!n || *n == 0) break;
                check(*n <= buf.size());
            }
            std::uint64_t at = 0;
            for (int i = 0; i < 16; ++i) {
                auto ext = fs.next_data(*f, at);
                if (!ext) break;
                check(ext->begin >= at && ext->end >= ext->begin);
                if (ext->begin == ext->end) break;
                at = ext->end;
            }
        }
        (void)fs.dot_positions(obj.handle);
        if (auto entries = fs.read_dir(obj.handle)) {
            for (const auto& e : *entries) {
                check(!e.name.empty() && e.name.size() <= 255);
                check(e.name.find('/') == std::string::npos);
                if (auto c = fs.lookup(obj.handle, e.name)) todo.push_back(*c);
            }
        }
    }
    (void)fs.resolve_dir("/a/../b/c");
    (void)fs.lookup_beneath(fs.image_root(), "a/b");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
    if (size > (std::size_t{1} << 20)) return 0;
    std::string image(1024, '\0');
    image.append(reinterpret_cast<const char*>(bytes), size);
    image.resize((image.size() + 4095) / 4096 * 4096, '\0');
    if (size >= 9) image[1024 + 8] = static_cast<char>(image[1024 + 8] & ~1); // no checksum
    auto fs = ovlcore::erofs_fs::open_bytes(std::move(image));
    if (fs) exercise(*fs);
    return 0;
}
