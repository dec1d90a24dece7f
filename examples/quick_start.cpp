// SPDX-License-Identifier: MIT
// The README's example: a composefs-style stack in memory, lazy lowerdata at work (spec §5.3, §6).
// Built and run under ctest ("example: quick start"), so the README cannot drift from the API.
#include <cstdio>
#include <string_view>
#include <utility>

#include <ovlcore/ovlcore.hpp>

int main() {
    using namespace ovlcore;

    // Layer "meta" holds a metacopy file whose data lives in the data-only layer "store".
    memory_fs fs;
    fs.add_file("/meta/bin/app", "", {.mode = 0755, .size = 6})
        .set_xattr("/meta/bin/app", "trusted.overlay.metacopy", "")
        .set_xattr("/meta/bin/app", "trusted.overlay.redirect", "/objects/ab12")
        .add_file("/store/objects/ab12", "hello\n");

    // Exactly the string mount(2) would get: "::" makes "store" a data-only layer (spec §1.2).
    auto stack = make_layer_stack(fs, "lowerdir=/meta::/store");
    if (!stack) { // a mount_error: the errno, the kernel's message and its notes
        std::printf("the kernel would refuse this mount: %s\n", stack.error().message.c_str());
        return errno_value(stack.error());
    }
    overlay ov(fs, std::move(*stack));

    // stat: metadata from "meta"; the data-only layer is not touched yet (spec §6).
    auto st = ov.lstat("/bin/app");
    if (!st) return 1;
    std::printf("/bin/app: mode %04o, size %llu\n", st->mode,
                static_cast<unsigned long long>(st->size));

    // The first open resolves the redirect in the data-only layers, then caches it.
    auto file = ov.open("/bin/app");
    if (!file) return 1;
    char buf[16];
    auto n = ov.read(*file, 0, buf);
    if (!n) return 1;
    std::printf("content: %.*s", static_cast<int>(*n), buf);

    // A name that exists only in the data-only layer is invisible (spec §6): ENOENT.
    std::printf("/objects/ab12: %s\n", errno_name(ov.lstat("/objects/ab12").error()).data());
    return *n == 6 && std::string_view(buf, *n) == "hello\n" ? 0 : 1;
}
