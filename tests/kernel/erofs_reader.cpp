// SPDX-License-Identifier: MIT
// Kernel differential of the EROFS reader (include/ovlcore/backend/erofs.hpp, docs/erofs.md):
// erofs_fs over an image file must answer every backend call exactly like posix_fs over the same
// image mounted by the kernel (mount -t erofs -o ro, in a private mount namespace of a
// forked child): stats (all but st_dev), listings in order with d_ino, dot positions, xattrs in
// order, link targets, contents. Images: a tree with every feature, random trees, every layer of
// every corpus scenario (tests/data/kernel/scenarios, tests/data/extra), and a composefs-shaped
// metacopy file (an all-hole chunk map).
//
// Without mkfs.erofs or a kernel that mounts EROFS, each case prints a SKIPPED banner and exits
// 77 (ctest: Skipped); the executable already exits 77 without root (main.cpp).
#include <catch2/catch.hpp>

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include <ovlcore/backend/erofs.hpp>
#include <ovlcore/testing/scenario.hpp>

#include "support/erofs_tree.hpp"
#include "support/kernel_mount.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
namespace et = ovlcore::test::erofs;
using ovlcore::test::temp_dir;

namespace {
using ovlcore::test::skip_exit_code;

/// Mounts `image` read-only on `mnt` in a private mount namespace of a forked child and runs
/// compare(image, mnt, mounted) there: the differences, one per line ("" when equal), or
/// "MOUNT FAILED: ..." when the kernel refuses the image.
std::string compare_with_mount(const fs::path& image, const fs::path& mnt) {
    auto child = ovlcore::test::output_of_child(120, [&]() -> std::string {
        if (ovlcore::test::enter_private_mount_namespace()) ::_exit(4);
        if (::mount(image.c_str(), mnt.c_str(), "erofs", MS_RDONLY, nullptr) != 0)
            return std::string("MOUNT FAILED: ") + std::strerror(errno);
        std::string out;
        for (const auto& d : et::compare(image, mnt, et::against::mounted)) out += d + "\n";
        return out;
    });
    if (!WIFEXITED(child.status) || WEXITSTATUS(child.status) != 0)
        return "compare child failed (status " + std::to_string(child.status) + ")\n";
    return child.out;
}

/// Exits 77 with a banner unless mkfs.erofs exists and the kernel mounts an image it makes.
void skip_without_erofs() {
    static const std::string problem = [] {
        if (et::mkfs_path().empty()) return std::string("mkfs.erofs is missing");
        temp_dir dir{"ovlcore-erofs-check-"};
        fs::create_directory(dir / "src");
        fs::create_directory(dir / "mnt");
        if (auto e = et::mkfs(dir / "img", dir / "src", {}); !e.empty()) return e;
        const std::string out = compare_with_mount(dir / "img", dir / "mnt");
        if (out.starts_with("MOUNT FAILED")) return "mount -t erofs: " + out;
        return std::string();
    }();
    if (problem.empty()) return;
    const std::string rule(100, '=');
    std::fprintf(stderr,
                 "%s\nSKIPPED: the EROFS reader tests need mkfs.erofs and EROFS mounts: %s\n%s\n",
                 rule.c_str(), problem.c_str(), rule.c_str());
    std::fflush(nullptr);
    std::exit(skip_exit_code); // ctest runs each case alone: Skipped
}

/// Images `src` with `options` and compares the reader with the mounted image; the differences.
std::string image_and_compare(const fs::path& src, const std::vector<std::string>& options,
                              const fs::path& work) {
    fs::create_directories(work / "mnt");
    if (auto e = et::mkfs(work / "img", src, options); !e.empty()) return e;
    return compare_with_mount(work / "img", work / "mnt");
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

} // namespace

TEST_CASE("erofs reader: a tree with every feature equals the mounted image", "[erofs]") {
    skip_without_erofs();
    for (const auto& options : et::mkfs_variants()) {
        std::string label;
        for (const auto& o : options) label += o + " ";
        INFO("mkfs.erofs " << label);
        temp_dir dir{"ovlcore-erofs-"};
        fs::create_directory(dir / "src");
        et::make_feature_tree(dir / "src");
        CHECK(image_and_compare(dir / "src", options, dir.path()) == "");
    }
}

TEST_CASE("erofs reader: random trees equal the mounted image", "[erofs]") {
    skip_without_erofs();
    for (unsigned seed = 1; seed <= 12; ++seed) {
        INFO("seed " << seed);
        temp_dir dir{"ovlcore-erofs-"};
        fs::create_directory(dir / "src");
        et::make_random_tree(dir / "src", seed, 150);
        const std::vector<std::string> options =
            seed % 3 == 0   ? std::vector<std::string>{"--chunksize=4096"}
            : seed % 3 == 1 ? std::vector<std::string>{}
                            : std::vector<std::string>{"-Enoinline_data", "-T0"};
        CHECK(image_and_compare(dir / "src", options, dir.path()) == "");
    }
}

namespace {

/// Does a layer hold a 255-byte name? mkfs.erofs 1.5 cannot image those (it fails).
bool has_name_of_255(const ovlcore::testing::scenario_layer& layer) {
    for (const auto& e : layer.entries) {
        std::string_view rest = e.path;
        while (!rest.empty()) {
            const auto slash = rest.find('/');
            if (rest.substr(0, slash).size() >= 255) return true;
            if (slash == std::string_view::npos) break;
            rest.remove_prefix(slash + 1);
        }
    }
    return false;
}

/// Part `part` of `parts` (parts keep each case short under ASan) of the corpus
/// (tests/data/kernel/scenarios, tests/data/extra): every
/// layer imaged and compared with the mounted image. The number of layers compared.
std::size_t compare_corpus_part(std::size_t part, std::size_t parts) {
    const fs::path data = OVLCORE_TEST_DATA_DIR;
    std::vector<fs::path> files;
    for (const fs::path& corpus : {data / "kernel/scenarios", data / "extra"})
        for (const auto& file : ovlcore::testing::list_scenarios(corpus)) files.push_back(file);
    std::size_t layers = 0;
    for (std::size_t i = part; i < files.size(); i += parts) {
        INFO(files[i].string());
        const auto s = ovlcore::testing::load_scenario(files[i]);
        temp_dir dir{"ovlcore-erofs-"};
        fs::create_directory(dir / "tree");
        (void)ovlcore::testing::build_on_disk(s, dir / "tree");
        for (const auto& layer : s.layers) {
            if (has_name_of_255(layer)) {
                WARN("not imaged (mkfs.erofs 1.5 fails on 255-byte names): "
                     << files[i].stem().string() << " layer " << layer.name);
                continue;
            }
            INFO("layer " << layer.name);
            const fs::path work = dir / ("work-" + layer.name);
            CHECK(image_and_compare(dir / "tree" / layer.name, {}, work) == "");
            ++layers;
        }
    }
    return layers;
}

} // namespace

TEST_CASE("erofs reader: corpus part 1/6, every layer equals the mounted image", "[erofs]") {
    skip_without_erofs();
    CHECK(compare_corpus_part(0, 6) > 15);
}

TEST_CASE("erofs reader: corpus part 2/6, every layer equals the mounted image", "[erofs]") {
    skip_without_erofs();
    CHECK(compare_corpus_part(1, 6) > 15);
}

TEST_CASE("erofs reader: corpus part 3/6, every layer equals the mounted image", "[erofs]") {
    skip_without_erofs();
    CHECK(compare_corpus_part(2, 6) > 15);
}

TEST_CASE("erofs reader: corpus part 4/6, every layer equals the mounted image", "[erofs]") {
    skip_without_erofs();
    CHECK(compare_corpus_part(3, 6) > 15);
}

TEST_CASE("erofs reader: corpus part 5/6, every layer equals the mounted image", "[erofs]") {
    skip_without_erofs();
    CHECK(compare_corpus_part(4, 6) > 15);
}

TEST_CASE("erofs reader: corpus part 6/6, every layer equals the mounted image", "[erofs]") {
    skip_without_erofs();
    CHECK(compare_corpus_part(5, 6) > 15);
}

TEST_CASE("erofs reader: a composefs-shaped metacopy file equals the mounted image", "[erofs]") {
    skip_without_erofs();
    temp_dir dir{"ovlcore-erofs-"};
    fs::create_directory(dir / "src");
    fs::create_directory(dir / "mnt");
    et::write_file(dir / "src/meta", std::string(5 * 4096 + 123, 'm'));
    et::set_xattr(dir / "src/meta", "trusted.overlay.metacopy", "");
    et::set_xattr(dir / "src/meta", "trusted.overlay.redirect", "/ab/cdef");
    et::write_file(dir / "src/other", "o");
    REQUIRE(et::mkfs(dir / "img", dir / "src", {"--chunksize=4096"}) == "");
    std::string image = slurp(dir / "img");
    auto fs0 = ovlcore::erofs_fs::open_bytes(image);
    REQUIRE(fs0);
    auto meta = ovlcore::walk(*fs0, fs0->image_root(), "meta");
    REQUIRE(meta);
    image = et::all_holes(std::move(image), meta->st.ino);
    et::write_file(dir / "holes.img", image);
    CHECK(compare_with_mount(dir / "holes.img", dir / "mnt") == "");
}

TEST_CASE("erofs reader: long xattr name prefixes equal the mounted image", "[erofs]") {
    skip_without_erofs();
    temp_dir dir{"ovlcore-erofs-"};
    fs::create_directory(dir / "src");
    fs::create_directory(dir / "mnt");
    et::write_file(dir / "src/f", "f");
    et::set_xattr(dir / "src/f", "user.redirect", "/objects/ab");
    et::set_xattr(dir / "src/f", "user.plain", "p");
    REQUIRE(et::mkfs(dir / "img", dir / "src", {"-T0"}) == "");
    et::write_file(dir / "prefixed.img", et::with_long_prefix(slurp(dir / "img"), "redirect"));
    CHECK(compare_with_mount(dir / "prefixed.img", dir / "mnt") == "");
}
