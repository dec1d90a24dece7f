// SPDX-License-Identifier: MIT
// Replay driver for the fuzz bodies (docs/contributing.md §27): linked with one
// tests/fuzz/<name>.cpp, which defines LLVMFuzzerTestOneInput, it runs that body over every file
// given on the command line (directories are read recursively, in sorted order; a missing directory
// is reported, not an error) and then over deterministic pseudo-random inputs built from bytes that
// matter to ovlcore's parsers. A crash, sanitizer report or assertion fails the ctest run.
//
// Usage: ovlcore_fuzz_<name>_replay [CORPUS_DIR_OR_FILE...] [--random N] [--seed S]
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

namespace fs = std::filesystem;

void run_one(const std::vector<std::uint8_t>& input) {
    // A copy in an exactly-sized heap buffer, so ASan sees reads past the end.
    auto* copy = new std::uint8_t[input.size()]; // new[0] is valid and non-null
    std::copy(input.begin(), input.end(), copy);
    LLVMFuzzerTestOneInput(copy, input.size());
    delete[] copy;
}

bool replay_file(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "replay: cannot read %s\n", file.c_str());
        return false;
    }
    const std::vector<std::uint8_t> input((std::istreambuf_iterator<char>(in)),
                                          std::istreambuf_iterator<char>());
    run_one(input);
    return true;
}

// xorshift64*: the same inputs on every machine and every run.
struct rng {
    std::uint64_t state;
    std::uint64_t next() {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        return state * 2685821657736338717ULL;
    }
    std::size_t below(std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(next() % n); }
};

std::vector<std::uint8_t> random_input(rng& r) {
    // Tokens of mount options, overlay xattrs and paths, mixed with raw bytes.
    // clang-format off
    static constexpr std::string_view tokens[] = {
        "lowerdir=", "lowerdir+=", "datadir+=", "upperdir=", "workdir=", "redirect_dir=",
        "metacopy=", "index=", "userxattr", "xino=", "verity=", "on", "off", "follow", "nofollow",
        "nfs_export=", "uuid=", "volatile", ":", "::", ",", "\\", "\\:", "\\,", "=", "/", "//",
        ".", "..", "a", "b/c", "trusted.overlay.", "user.overlay.", "redirect", "opaque", "y",
        "x", "origin", "metacopy", "whiteout", std::string_view("\0", 1), "\xff", " ", "\n"};
    // clang-format on
    std::vector<std::uint8_t> out;
    const std::size_t pieces = r.below(24);
    for (std::size_t i = 0; i < pieces; ++i) {
        if (r.below(4) == 0) {
            out.push_back(static_cast<std::uint8_t>(r.next() & 0xff));
        } else {
            const auto token = tokens[r.below(std::size(tokens))];
            out.insert(out.end(), token.begin(), token.end());
        }
    }
    return out;
}

} // namespace

int main(int argc, char* argv[]) {
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);

    long random_count = 500;
    std::uint64_t seed = 0x6f766c636f7265ULL; // "ovlcore"
    std::vector<fs::path> roots;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        if (arg == "--random" && i + 1 < argc)
            random_count = std::strtol(argv[++i], nullptr, 10);
        else if (arg == "--seed" && i + 1 < argc)
            seed = std::strtoull(argv[++i], nullptr, 0);
        else
            roots.emplace_back(arg);
    }

    std::size_t files = 0;
    bool ok = true;
    for (const auto& root : roots) {
        std::error_code ec;
        if (fs::is_regular_file(root, ec)) {
            ok = replay_file(root) && ok;
            ++files;
            continue;
        }
        if (!fs::is_directory(root, ec)) {
            std::fprintf(stderr, "replay: no corpus at %s (replaying random inputs only)\n",
                         root.c_str());
            continue;
        }
        std::vector<fs::path> entries;
        for (const auto& e : fs::recursive_directory_iterator(root, ec))
            if (e.is_regular_file()) entries.push_back(e.path());
        std::sort(entries.begin(), entries.end());
        for (const auto& file : entries) {
            ok = replay_file(file) && ok;
            ++files;
        }
    }

    run_one({}); // the empty input
    rng r{seed};
    for (long i = 0; i < random_count; ++i) run_one(random_input(r));

    std::printf("replayed %zu corpus files and %ld pseudo-random inputs\n", files,
                random_count + 1);
    return ok ? 0 : 1;
}
