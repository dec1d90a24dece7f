// SPDX-License-Identifier: MIT
// Kernel differential on EROFS image stacks (docs/overlayfs-semantics.md §X.2, docs/erofs.md):
// the kernel overlay over lower layers turned into images by mkfs.erofs and mounted read-only
// (mount -t erofs, in a private mount namespace of a forked child; the upper and work dirs stay
// directories) must give the same canonical dump (dump-format.md) as ovlcore reading the unmounted
// image files; a refused stack by errno only. The stacks: every corpus scenario (tests/data/kernel/
// scenarios, tests/data/extra) whose shape allows images, and random stacks of the property
// generator (ovlcore/testing/stack_gen.hpp, fixed seed; probes below symlinks dropped and the
// kernel's ESTALE discarded, as random_stacks.cpp does). Two shapes:
//   one image per lower layer   ovlcore through `ovl-tree --images` (corpus) or image_stack_fs
//                               (random stacks), the image files named in the options;
//   all lowers in one image     subdirectories l0, l1, ... of one image mounted once; ovlcore
//                               reads them in process through a composite_fs whose test-only
//                               policy resolves each subdirectory with erofs_fs (the tools cannot
//                               name a subdirectory of an image).
// A stack whose shape allows no images ({ROOT} in the options, a layer inside another, the upper
// also a lower, no lower) or whose tree mkfs.erofs 1.5 refuses (a 255-byte name) is counted and
// printed with its reason. Also: without --images a regular file as a layer is the kernel's mount
// error.
//
// Skips loudly (WARN, no assertion) when mkfs.erofs is missing or EROFS cannot be mounted; the
// executable already exits 77 when overlays cannot be mounted (main.cpp). The corpus is split
// into parts so that each test case stays short under ASan.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <rapidcheck.h>

#include <ovlcore/backend/composite.hpp>
#include <ovlcore/backend/erofs.hpp>
#include <ovlcore/backend/images.hpp>
#include <ovlcore/backend/module_defaults_sysfs.hpp>
#include <ovlcore/backend/posix.hpp>
#include <ovlcore/backend/posix_tree.hpp>
#include <ovlcore/dump.hpp>
#include <ovlcore/testing/differential.hpp>
#include <ovlcore/testing/scenario.hpp>
#include <ovlcore/testing/stack_gen.hpp>

#include "support/erofs_tree.hpp"
#include "support/kernel_mount.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;

namespace {
using ovlcore::test::built_ovl_tree;
using ovlcore::test::machine_defaults;

/// ovl-tree: the build's, else $OVLCORE_OVL_TREE; "" when neither.
std::string ovl_tree() {
    if (!built_ovl_tree.empty()) return std::string(built_ovl_tree);
    const char* env = std::getenv("OVLCORE_OVL_TREE");
    return env ? env : "";
}

/// Runs argv (no shell, argv[0] looked up in $PATH), stdout captured, stderr to /dev/null; the
/// output and the exit status (-1 when it did not exit normally).
std::pair<std::string, int> run(const std::vector<std::string>& argv) {
    auto done = ovlcore::test::run(
        argv, {.capture_stdout = true, .stderr_file = "/dev/null", .search_path = true});
    return {std::move(done.out), WIFEXITED(done.exit.status) ? WEXITSTATUS(done.exit.status) : -1};
}

/// Why image stacks cannot be tested here, or nullopt.
std::optional<std::string> missing_tools() {
    if (ovl_tree().empty()) return "ovl-tree was not built";
    if (ovlcore::test::erofs::mkfs_path().empty())
        return "mkfs.erofs is missing (scripts/setup-deps.sh installs erofs-utils)";
    std::ifstream in("/proc/filesystems");
    std::string line;
    while (std::getline(in, line))
        if (line.ends_with("\terofs")) return std::nullopt;
    return "the kernel has no EROFS (no erofs in /proc/filesystems)";
}

bool skip_without_images() {
    static const std::optional<std::string> problem = missing_tools();
    if (problem) WARN("SKIPPED image stacks: " << *problem);
    return problem.has_value();
}

/// The image of the tree at `src`, made at `image` (fixed timestamps, xattrs kept): "" or why
/// mkfs.erofs refused the tree (1.5 fails on a 255-byte name, quirk_enametoolong).
std::string make_image(const fs::path& src, const fs::path& image) {
    return ovlcore::test::erofs::mkfs(image, src, {"-T0"});
}

/// The scenario's options with each {NAME} replaced by `where(NAME)`.
template <class Where>
std::string substitute(const ovlcore::testing::scenario& sc, const Where& where) {
    std::string out = sc.options;
    const auto replace = [&](const std::string& name) {
        const std::string key = "{" + name + "}";
        for (std::size_t at = out.find(key); at != std::string::npos; at = out.find(key, at)) {
            const std::string value = where(name);
            out.replace(at, key.size(), value);
            at += value.size();
        }
    };
    for (const auto& l : sc.layers) replace(l.name);
    for (const auto& w : sc.workdirs) replace(w);
    return out;
}

/// The names of the layers that become images: every layer named in the options except the
/// upper; nullopt when the scenario's shape does not allow images, with the reason in `why`.
std::optional<std::set<std::string>> image_layers(const ovlcore::testing::scenario& sc,
                                                  std::string& why) {
    if (sc.options.find("{ROOT}") != std::string::npos) {
        why = "{ROOT} in the options (layers named through their common parent directory)";
        return std::nullopt;
    }
    std::set<std::string> out;
    for (const auto& l : sc.layers) {
        const std::string key = "{" + l.name + "}";
        std::size_t uses = 0;
        bool upper = false;
        for (std::size_t at = sc.options.find(key); at != std::string::npos;
             at = sc.options.find(key, at + 1)) {
            ++uses;
            const bool as_upper = std::string_view(sc.options).substr(0, at).ends_with("upperdir=");
            if (at + key.size() < sc.options.size() && sc.options[at + key.size()] == '/') {
                why = std::string(as_upper ? "the upper dir" : "a layer or work dir") +
                      " is a subdirectory of layer " + l.name;
                return std::nullopt;
            }
            upper = upper || as_upper;
        }
        if (upper && uses > 1) {
            why = "the upper layer " + l.name + " is named again (as a lower or work dir)";
            return std::nullopt;
        }
        if (uses > 0 && !upper) out.insert(l.name);
    }
    if (out.empty()) {
        why = "no lower layer";
        return std::nullopt;
    }
    return out;
}

/// How the lower layers become images: one image per lower layer, each mounted on mnt/<NAME>; or
/// all of them in one image as its subdirectories l0, l1, ... (in the scenario's layer order),
/// mounted once on mnt/one, the overlay's lowers being mnt/one/l0, mnt/one/l1, ...
enum class image_shape { per_layer, one_image };

/// A scenario's stack built under a root directory (src: the layer trees, the upper and work dirs
/// stay there; img: the images; mnt: their mount points; ovl: the overlay's), lowers as images.
struct imaged_stack {
    std::string refused;        ///< why mkfs.erofs refused a tree ("" when the images were made)
    std::string kernel_options; ///< the lowers at their mount points under mnt
    std::string image_options;  ///< the lowers as image files (per_layer), or img/one/l<i>
                                ///< (one_image: one_image_policy's paths)
    std::map<std::string, fs::path> images; ///< mount point name under mnt -> image file
};

imaged_stack make_imaged_stack(const ovlcore::testing::scenario& sc,
                               const std::set<std::string>& lowers, const fs::path& root,
                               image_shape shape) {
    const fs::path src = root / "src", img = root / "img", mnt = root / "mnt";
    for (const auto& d : {src, img, mnt, root / "ovl"}) fs::create_directories(d);
    (void)ovlcore::testing::build_on_disk(sc, src);
    imaged_stack out;
    std::map<std::string, std::string> kernel_at, image_at; // lower name -> path
    if (shape == image_shape::per_layer) {
        for (const auto& name : lowers) {
            out.refused = make_image(src / name, img / name);
            if (!out.refused.empty()) {
                out.refused = "layer " + name + ": " + out.refused;
                return out;
            }
            fs::create_directories(mnt / name);
            out.images.emplace(name, img / name);
            kernel_at[name] = (mnt / name).string();
            image_at[name] = (img / name).string();
        }
    } else {
        // rename(2) keeps every inode as built (xattrs, devices, owners) under its new name
        const fs::path one = root / "one";
        fs::create_directories(one);
        std::size_t i = 0;
        for (const auto& l : sc.layers) {
            if (!lowers.contains(l.name)) continue;
            const std::string sub = "l" + std::to_string(i++);
            fs::rename(src / l.name, one / sub);
            kernel_at[l.name] = (mnt / "one" / sub).string();
            image_at[l.name] = (img / "one" / sub).string();
        }
        out.refused = make_image(one, img / "one");
        if (!out.refused.empty()) return out;
        fs::create_directories(mnt / "one");
        out.images.emplace("one", img / "one");
    }
    const auto at = [&](const std::map<std::string, std::string>& lowers_at) {
        return [&](const std::string& name) {
            const auto it = lowers_at.find(name);
            return it != lowers_at.end() ? it->second : (src / name).string();
        };
    };
    out.kernel_options = substitute(sc, at(kernel_at));
    out.image_options = substitute(sc, at(image_at));
    return out;
}

/// The routing policy of the one_image shape (composite.hpp), in this test only: a layer path
/// below `prefix` (the image file's path and "/") is that subdirectory of `image`, resolved with
/// erofs_fs::resolve_dir as mount(2) resolves mnt/one/l<i> on the mounted image; any other path
/// is a directory (posix_fs). The tools cannot name a subdirectory of an image.
struct one_image_policy {
    std::shared_ptr<const ovlcore::posix_fs> dirs = std::make_shared<const ovlcore::posix_fs>();
    std::shared_ptr<const ovlcore::erofs_fs> image;
    std::string prefix;

    [[nodiscard]] ovlcore::result<ovlcore::composite_route<ovlcore::posix_fs, ovlcore::erofs_fs>,
                                  ovlcore::route_refusal>
    route(std::string_view path) const {
        using route_type = ovlcore::composite_route<ovlcore::posix_fs, ovlcore::erofs_fs>;
        if (path.starts_with(prefix))
            return route_type{.backend = image, .path = std::string(path.substr(prefix.size()))};
        return route_type{.backend = dirs, .path = std::string(path)};
    }
};

using one_image_fs = ovlcore::composite_fs<one_image_policy, ovlcore::posix_fs, ovlcore::erofs_fs>;
static_assert(ovlcore::backing_filesystem<one_image_fs>);

/// ovlcore's dump of the stack read from the unmounted image files in this process:
/// image_stack_fs (what --images uses) for per_layer, one_image_fs for one_image.
std::string image_dump(const imaged_stack& st, image_shape shape,
                       const std::vector<std::string>& probes) {
    if (shape == image_shape::per_layer) {
        const ovlcore::image_stack_fs fs(ovlcore::image_policy{});
        return ovlcore::testing::ovlcore_dump_jsonl(fs, st.image_options, probes,
                                                    machine_defaults());
    }
    const fs::path file = st.images.at("one");
    std::string why;
    auto image = ovlcore::erofs_fs::open(file.string(), &why);
    if (!image) throw std::runtime_error("erofs_fs::open: " + why);
    const one_image_fs fs(
        one_image_policy{.image = std::make_shared<const ovlcore::erofs_fs>(std::move(*image)),
                         .prefix = file.string() + "/"});
    return ovlcore::testing::ovlcore_dump_jsonl(fs, st.image_options, probes, machine_defaults());
}

/// One kernel dump of `options` with the images mounted first (name -> image, on mnt/<name>).
std::string kernel_dump_once(const std::string& options,
                             const std::map<std::string, fs::path>& images,
                             const fs::path& mnt_root, const fs::path& ovl,
                             const std::vector<std::string>& probes) {
    auto child = ovlcore::test::output_of_child(60, [&]() -> std::string {
        if (ovlcore::test::enter_private_mount_namespace()) ::_exit(4);
        for (const auto& [name, image] : images) {
            const fs::path where = mnt_root / name;
            if (::mount(image.c_str(), where.c_str(), "erofs", MS_RDONLY, nullptr) != 0)
                return "SKIP: mount -t erofs " + image.string() + ": " + std::strerror(errno);
        }
        if (::mount("overlay", ovl.c_str(), "overlay", 0, options.c_str()) != 0)
            return ovlcore::mount_error_json(static_cast<std::errc>(errno), "mount(2)") + "\n";
        auto tree = ovlcore::mounted_tree::open_root(ovl.string());
        if (!tree) ::_exit(6);
        return ovlcore::to_jsonl(
            ovlcore::dump_records(*tree, std::span<const std::string>(probes)));
    });
    if (!WIFEXITED(child.status) || WEXITSTATUS(child.status) != 0)
        throw std::runtime_error("kernel dump child failed (status " +
                                 std::to_string(child.status) + ")");
    return std::move(child.out);
}

/// The kernel's dump (kernel_dump_once), taken again when a read of the freshly mounted image
/// failed with EAGAIN: seen once under CI load from a file-backed EROFS mount, a transient answer
/// of the block layer below it, never an overlay rule (no stack here can make a read EAGAIN).
std::string kernel_dump(const std::string& options, const std::map<std::string, fs::path>& images,
                        const fs::path& mnt_root, const fs::path& ovl,
                        const std::vector<std::string>& probes) {
    std::string out;
    for (int attempt = 1; attempt <= 3; ++attempt) {
        out = kernel_dump_once(options, images, mnt_root, ovl, probes);
        if (out.find("\"EAGAIN\"") == std::string::npos) break;
        std::fprintf(stderr, "image stacks: the kernel's dump read EAGAIN (attempt %d of 3)\n",
                     attempt);
    }
    return out;
}

/// ovl-tree --images -o OPTIONS --format=jsonl with the scenario's probes.
std::string tree_dump(const std::string& options, const std::vector<std::string>& probes) {
    std::vector<std::string> argv = {ovl_tree(), "--images", "-o", options, "--format=jsonl"};
    for (const auto& p : probes) argv.push_back("--probe=" + p);
    auto [out, status] = run(argv);
    if (status != 0 && status != 2)
        throw std::runtime_error("ovl-tree --images exited " + std::to_string(status));
    return std::move(out);
}

enum class image_outcome { agrees, differs, not_imageable, mkfs_refused, skipped, order_dependent };

/// What a run of stacks saw: counts, and the reasons of the stacks not compared.
struct tally {
    std::map<image_outcome, std::size_t> counts;
    std::size_t refused_mounts = 0; ///< of the agreeing stacks: mount(2) refused (by errno)
    std::vector<std::string> reasons;

    std::string text() const {
        const auto n = [&](image_outcome o) {
            const auto it = counts.find(o);
            return std::to_string(it == counts.end() ? 0 : it->second);
        };
        std::string out = n(image_outcome::agrees) + " agree (" + std::to_string(refused_mounts) +
                          " of them refused mounts), " + n(image_outcome::differs) + " differ, " +
                          n(image_outcome::not_imageable) + " not imageable, " +
                          n(image_outcome::mkfs_refused) + " refused by mkfs.erofs, " +
                          n(image_outcome::order_dependent) + " discarded (ESTALE, spec §10 Q2), " +
                          n(image_outcome::skipped) + " skipped";
        for (const auto& r : reasons) out += "\n  " + r;
        return out;
    }
};

/// How a stack is compared with the kernel.
struct run_mode {
    image_shape shape = image_shape::per_layer;
    bool with_ovl_tree = false;       ///< per_layer: ovlcore through `ovl-tree --images`
    bool drop_below_symlinks = false; ///< ovlcore/testing/differential.hpp (random stacks)
    bool discard_estale = false;      ///< random stacks: the kernel's ESTALE (spec §10 Q2)
};

/// One stack: images made, the kernel's dump over the mounted images compared with ovlcore's
/// read from the image files. `label` names the stack in messages.
image_outcome run_stack(const std::string& label, const ovlcore::testing::scenario& sc,
                        const run_mode& mode, tally& t) {
    const auto note = [&](image_outcome o, const std::string& why) {
        t.reasons.push_back(label + ": " + why);
        return o;
    };
    std::string why;
    const auto lowers = image_layers(sc, why);
    if (!lowers) return note(image_outcome::not_imageable, "not imageable: " + why);
    ovlcore::test::temp_dir tmp("ovlcore-image-stacks-");
    const fs::path root = fs::path(tmp.str());
    const imaged_stack st = make_imaged_stack(sc, *lowers, root, mode.shape);
    if (!st.refused.empty()) return note(image_outcome::mkfs_refused, "mkfs.erofs: " + st.refused);
    // ovlcore first: a kernel mount with an upper may write into the upper dir (spec §5.7).
    const std::string ours = mode.with_ovl_tree ? tree_dump(st.image_options, sc.paths)
                                                : image_dump(st, mode.shape, sc.paths);
    const std::string kernel =
        kernel_dump(st.kernel_options, st.images, root / "mnt", root / "ovl", sc.paths);
    if (kernel.starts_with("SKIP: ")) return note(image_outcome::skipped, kernel);
    const auto diff = ovlcore::testing::compare_dump_text(
        kernel, ours,
        {.drop_below_symlinks = mode.drop_below_symlinks,
         .expected_name = "kernel over mounted images",
         .actual_name = mode.with_ovl_tree                     ? "ovl-tree --images"
                        : mode.shape == image_shape::per_layer ? "image_stack_fs"
                                                               : "erofs_fs subdirectories"});
    if (mode.discard_estale)
        for (const auto& r : diff.expected)
            if (r.value("error", "") == "ESTALE" || r.value("readdir_error", "") == "ESTALE")
                return note(image_outcome::order_dependent, "the kernel reported ESTALE");
    if (diff.agree()) {
        if (!diff.expected.empty() && diff.expected.front().contains("mount_error"))
            ++t.refused_mounts;
        return image_outcome::agrees;
    }
    FAIL_CHECK(label << ": " << diff.first_difference());
    return image_outcome::differs;
}

/// The corpus, sorted; part `part` of `parts` (every parts-th file).
std::vector<fs::path> corpus_files(std::size_t part, std::size_t parts) {
    std::vector<fs::path> all;
    for (const char* dir : {"kernel/scenarios", "extra"})
        for (const auto& e : fs::directory_iterator(fs::path(OVLCORE_TEST_DATA_DIR) / dir))
            if (e.path().extension() == ".json") all.push_back(e.path());
    std::sort(all.begin(), all.end());
    std::vector<fs::path> out;
    for (std::size_t i = part; i < all.size(); i += parts) out.push_back(all[i]);
    return out;
}

void run_part(std::size_t part, std::size_t parts, image_shape shape) {
    if (skip_without_images()) return;
    tally t;
    const run_mode mode{.shape = shape, .with_ovl_tree = shape == image_shape::per_layer};
    for (const auto& file : corpus_files(part, parts))
        ++t.counts[run_stack(file.filename().string(), ovlcore::testing::load_scenario(file), mode,
                             t)];
    WARN(t.text());
    CHECK(t.counts[image_outcome::differs] == 0);
    CHECK(t.counts[image_outcome::mkfs_refused] <= 1);
    if (t.counts[image_outcome::skipped] == 0) CHECK(t.counts[image_outcome::agrees] > 30);
}

/// Random stacks of the property generator (ovlcore/testing/stack_gen.hpp, as
/// random_stacks.cpp), a fixed seed: each stack's generator input is (seed, index).
constexpr std::uint64_t random_seed = 20261207;
constexpr int random_count = 20;

void run_random(image_shape shape) {
    if (skip_without_images()) return;
    tally t;
    const auto gen = ovlcore::testing::gen_stack();
    const run_mode mode{.shape = shape, .drop_below_symlinks = true, .discard_estale = true};
    for (int i = 0; i < random_count; ++i) {
        const auto doc = gen(rc::Random(random_seed * 1000003u + static_cast<std::uint64_t>(i)),
                             i * 100 / random_count)
                             .value();
        const auto sc = ovlcore::testing::to_scenario(doc);
        const image_outcome o = run_stack("random stack " + std::to_string(i), sc, mode, t);
        ++t.counts[o];
        if (o == image_outcome::differs) WARN("random stack " << i << ":\n" << doc.dump(1));
    }
    WARN(random_count << " random stacks (seed " << random_seed << "): " << t.text());
    CHECK(t.counts[image_outcome::differs] == 0);
    // most stacks mount: the trees themselves were compared
    if (t.counts[image_outcome::skipped] == 0)
        CHECK(t.counts[image_outcome::agrees] - t.refused_mounts >= random_count / 2);
}

} // namespace

TEST_CASE("image stacks: corpus part 1/6, kernel over mounted images == ovl-tree --images",
          "[images]") {
    run_part(0, 6, image_shape::per_layer);
}
TEST_CASE("image stacks: corpus part 2/6, kernel over mounted images == ovl-tree --images",
          "[images]") {
    run_part(1, 6, image_shape::per_layer);
}
TEST_CASE("image stacks: corpus part 3/6, kernel over mounted images == ovl-tree --images",
          "[images]") {
    run_part(2, 6, image_shape::per_layer);
}
TEST_CASE("image stacks: corpus part 4/6, kernel over mounted images == ovl-tree --images",
          "[images]") {
    run_part(3, 6, image_shape::per_layer);
}
TEST_CASE("image stacks: corpus part 5/6, kernel over mounted images == ovl-tree --images",
          "[images]") {
    run_part(4, 6, image_shape::per_layer);
}
TEST_CASE("image stacks: corpus part 6/6, kernel over mounted images == ovl-tree --images",
          "[images]") {
    run_part(5, 6, image_shape::per_layer);
}

TEST_CASE("image stacks: corpus part 1/6, all lowers in one image == its erofs_fs subdirectories",
          "[images]") {
    run_part(0, 6, image_shape::one_image);
}
TEST_CASE("image stacks: corpus part 2/6, all lowers in one image == its erofs_fs subdirectories",
          "[images]") {
    run_part(1, 6, image_shape::one_image);
}
TEST_CASE("image stacks: corpus part 3/6, all lowers in one image == its erofs_fs subdirectories",
          "[images]") {
    run_part(2, 6, image_shape::one_image);
}
TEST_CASE("image stacks: corpus part 4/6, all lowers in one image == its erofs_fs subdirectories",
          "[images]") {
    run_part(3, 6, image_shape::one_image);
}
TEST_CASE("image stacks: corpus part 5/6, all lowers in one image == its erofs_fs subdirectories",
          "[images]") {
    run_part(4, 6, image_shape::one_image);
}
TEST_CASE("image stacks: corpus part 6/6, all lowers in one image == its erofs_fs subdirectories",
          "[images]") {
    run_part(5, 6, image_shape::one_image);
}

TEST_CASE("image stacks: random stacks, one image per lower, kernel == image_stack_fs",
          "[images][random]") {
    run_random(image_shape::per_layer);
}

TEST_CASE("image stacks: random stacks, all lowers in one image == its erofs_fs subdirectories",
          "[images][random]") {
    run_random(image_shape::one_image);
}

TEST_CASE("image stacks: without --images a regular file as a layer is the kernel's mount error",
          "[images]") {
    if (skip_without_images()) return;
    ovlcore::test::temp_dir tmp("ovlcore-image-file-");
    const fs::path root = fs::path(tmp.str());
    fs::create_directories(root / "src" / "d");
    std::ofstream(root / "src" / "d" / "f") << "f\n";
    fs::create_directories(root / "dir");
    fs::create_directories(root / "ovl");
    REQUIRE(make_image(root / "src", root / "image").empty());
    for (const std::string& options :
         {"lowerdir=" + (root / "image").string() + ":" + (root / "dir").string(),
          "lowerdir=" + (root / "dir").string() + "::" + (root / "image").string()}) {
        CAPTURE(options);
        const auto [tree, status] = run({ovl_tree(), "-o", options, "--format=jsonl"});
        CHECK(status == 2);
        const std::string kernel = kernel_dump(options, {}, root, root / "ovl", {});
        const auto diff = ovlcore::testing::compare_dump_text(
            kernel, tree, {.expected_name = "kernel", .actual_name = "ovl-tree"});
        INFO(diff.first_difference());
        CHECK(kernel.find("mount_error") != std::string::npos);
        CHECK(diff.agree());
        // With --images the same stack is accepted: the image is a layer.
        const auto [with_images, status2] =
            run({ovl_tree(), "--images", "-o", options, "--format=jsonl"});
        CHECK(status2 == 0);
        const bool image_on_top = options.starts_with("lowerdir=" + (root / "image").string());
        CHECK((with_images.find("\"path\": \"/d/f\"") != std::string::npos) == image_on_top);
    }
}
