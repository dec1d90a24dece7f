// SPDX-License-Identifier: MIT
// tools/common/images_cli.hpp: what ovl-tree, ovl-lint and ovl-fuse share for --images (docs/
// cli.md §4): the option's help text, the choice of backend (posix_fs, or image_stack_fs of
// ovlcore/backend/images.hpp, where a layer path naming a regular file is an EROFS image read
// without mounting it), and the stderr lines for an image that cannot be read. Without --images
// nothing changes: a regular file as a layer is the kernel's mount error. Not part of the library.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <ovlcore/backend/images.hpp>
#include <ovlcore/backend/posix.hpp>
#include <ovlcore/quote.hpp>

namespace ovlcore::cli {

/// The --images help text (docs/cli.md §4).
inline constexpr const char* images_help =
    "a layer path naming a regular file is an EROFS image, read without\n"
    "mounting it, as if mounted read-only on its own (composefs:\n"
    "lowerdir=IMAGE::OBJECTS); other paths are directories as usual";

/// Calls `body(fs)` with the backend the tool reads layers through, made once here (relative
/// layer paths resolve against the working directory, as by mount(2)): an image_stack_fs with
/// --images, else a posix_fs. Returns what `body` returns; `body` is instantiated for both.
template <class Body>
decltype(auto) with_layer_backend(bool images, Body&& body) {
    if (images) {
        const image_stack_fs fs(image_policy{});
        return std::forward<Body>(body)(fs);
    }
    const posix_fs fs;
    return std::forward<Body>(body)(fs);
}

/// Prints "<tool>: --images: <message>" on stderr for every image that could not be read (the
/// refusal that follows says only which path failed to resolve). Nothing for other backends.
template <class B>
void report_image_failures(std::string_view tool, const B& fs) {
    if constexpr (std::is_same_v<B, image_stack_fs>) {
        for (const auto& message : fs.route_messages())
            std::fprintf(stderr, "%.*s: --images: %s\n", static_cast<int>(tool.size()), tool.data(),
                         shell_escape_text(message).c_str());
    } else {
        (void)tool;
        (void)fs;
    }
}

} // namespace ovlcore::cli
