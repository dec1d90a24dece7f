// SPDX-License-Identifier: MIT
// Kernel differential on EROFS image stacks (docs/overlayfs-semantics.md §X.2, docs/erofs.md):
// for every corpus scenario (tests/data/kernel/scenarios, tests/data/extra) whose lower layers
// can be images, each lower layer becomes an image made by mkfs.erofs from the layer's tree
// (the upper and work dirs stay directories). The kernel overlay over the images mounted
// read-only (mount -t erofs, in a private mount namespace of a forked child) must give the same
// canonical dump (dump-format.md) as `ovl-tree --images` over the image files; a refused stack
// by errno only. Also: without --images a regular file as a layer is the kernel's mount error.
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
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <ovlcore/backend/posix_tree.hpp>
#include <ovlcore/dump.hpp>
#include <ovlcore/testing/differential.hpp>
#include <ovlcore/testing/scenario.hpp>

#include "support/kernel_mount.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;

namespace {

#ifdef OVLCORE_OVL_TREE_PATH
constexpr std::string_view built_ovl_tree = OVLCORE_OVL_TREE_PATH;
#else
constexpr std::string_view built_ovl_tree;
#endif

/// ovl-tree: the build's, else $OVLCORE_OVL_TREE; "" when neither.
std::string ovl_tree() {
    if (!built_ovl_tree.empty()) return std::string(built_ovl_tree);
    const char* env = std::getenv("OVLCORE_OVL_TREE");
    return env ? env : "";
}

/// Runs argv (no shell), stdout captured, stderr to /dev/null; the output and the exit status
/// (-1 when it did not exit normally).
std::pair<std::string, int> run(const std::vector<std::string>& argv) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        ::dup2(fds[1], 1);
        const int null = ::open("/dev/null", O_WRONLY);
        if (null >= 0) ::dup2(null, 2);
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    ::close(fds[1]);
    std::string out = ovlcore::test::read_all(fds[0]);
    ::close(fds[0]);
    const int status = ovlcore::test::wait_child(pid);
    return {std::move(out), WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

/// Why image stacks cannot be tested here, or nullopt.
std::optional<std::string> missing_tools() {
    if (ovl_tree().empty()) return "ovl-tree was not built";
    if (run({"mkfs.erofs", "--help"}).second == 127)
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

/// The image of the tree at `src`, made at `image` (fixed timestamps, xattrs kept); false when
/// mkfs.erofs refuses the tree (1.5 fails on a 255-byte name, quirk_enametoolong).
bool make_image(const fs::path& src, const fs::path& image) {
    return run({"mkfs.erofs", "-T0", image.string(), src.string()}).second == 0;
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
/// upper; nullopt when the scenario cannot be turned into images (a layer's subdirectory or
/// {ROOT} in the options, the upper also a lower).
std::optional<std::set<std::string>> image_layers(const ovlcore::testing::scenario& sc) {
    if (sc.options.find("{ROOT}") != std::string::npos) return std::nullopt;
    std::set<std::string> out;
    for (const auto& l : sc.layers) {
        const std::string key = "{" + l.name + "}";
        std::size_t uses = 0;
        bool upper = false;
        for (std::size_t at = sc.options.find(key); at != std::string::npos;
             at = sc.options.find(key, at + 1)) {
            ++uses;
            if (at + key.size() < sc.options.size() && sc.options[at + key.size()] == '/')
                return std::nullopt;
            upper = upper || std::string_view(sc.options).substr(0, at).ends_with("upperdir=");
        }
        if (upper && uses > 1) return std::nullopt;
        if (uses > 0 && !upper) out.insert(l.name);
    }
    if (out.empty()) return std::nullopt;
    return out;
}

/// The kernel's dump of `options` with the images mounted first (name -> image, on mnt/<name>).
std::string kernel_dump(const std::string& options, const std::map<std::string, fs::path>& images,
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

/// ovl-tree --images -o OPTIONS --format=jsonl with the scenario's probes.
std::string tree_dump(const std::string& options, const std::vector<std::string>& probes) {
    std::vector<std::string> argv = {ovl_tree(), "--images", "-o", options, "--format=jsonl"};
    for (const auto& p : probes) argv.push_back("--probe=" + p);
    auto [out, status] = run(argv);
    if (status != 0 && status != 2)
        throw std::runtime_error("ovl-tree --images exited " + std::to_string(status));
    return std::move(out);
}

enum class outcome { agrees, differs, not_imageable, mkfs_refused, skipped };

/// One scenario: images made, the kernel and ovl-tree --images compared.
outcome run_scenario(const fs::path& file) {
    const auto sc = ovlcore::testing::load_scenario(file);
    const auto lowers = image_layers(sc);
    if (!lowers) return outcome::not_imageable;
    ovlcore::test::temp_dir tmp("ovlcore-image-stacks-");
    const fs::path root = fs::path(tmp.str()), src = root / "src", img = root / "img",
                   mnt = root / "mnt", ovl = root / "ovl";
    for (const auto& d : {src, img, mnt, ovl}) fs::create_directories(d);
    (void)ovlcore::testing::build_on_disk(sc, src);
    std::map<std::string, fs::path> images;
    for (const auto& name : *lowers) {
        if (!make_image(src / name, img / name)) {
            WARN(file.filename().string() << ": mkfs.erofs refused layer " << name);
            return outcome::mkfs_refused;
        }
        fs::create_directories(mnt / name);
        images.emplace(name, img / name);
    }
    const auto at = [&](const fs::path& base) {
        return [&, base](const std::string& name) {
            return (lowers->contains(name) ? base / name : src / name).string();
        };
    };
    // ovl-tree first: a kernel mount with an upper may write into the upper dir (spec §5.7).
    const std::string tree = tree_dump(substitute(sc, at(img)), sc.paths);
    const std::string kernel = kernel_dump(substitute(sc, at(mnt)), images, mnt, ovl, sc.paths);
    if (kernel.starts_with("SKIP: ")) {
        WARN(file.filename().string() << ": " << kernel);
        return outcome::skipped;
    }
    const auto diff =
        ovlcore::testing::compare_dump_text(kernel, tree,
                                            {.drop_below_symlinks = false,
                                             .expected_name = "kernel over mounted images",
                                             .actual_name = "ovl-tree --images"});
    if (diff.agree()) return outcome::agrees;
    FAIL_CHECK(file.filename().string() << ": " << diff.first_difference());
    return outcome::differs;
}

/// The corpus, sorted; part `part` of `parts` (every parts-th file).
std::vector<fs::path> corpus_part(std::size_t part, std::size_t parts) {
    std::vector<fs::path> all;
    for (const char* dir : {"kernel/scenarios", "extra"})
        for (const auto& e : fs::directory_iterator(fs::path(OVLCORE_TEST_DATA_DIR) / dir))
            if (e.path().extension() == ".json") all.push_back(e.path());
    std::sort(all.begin(), all.end());
    std::vector<fs::path> out;
    for (std::size_t i = part; i < all.size(); i += parts) out.push_back(all[i]);
    return out;
}

void run_part(std::size_t part, std::size_t parts) {
    if (skip_without_images()) return;
    std::map<outcome, std::size_t> counts;
    for (const auto& file : corpus_part(part, parts)) ++counts[run_scenario(file)];
    INFO(counts[outcome::agrees] << " agree, " << counts[outcome::differs] << " differ, "
                                 << counts[outcome::not_imageable] << " not imageable, "
                                 << counts[outcome::skipped] << " skipped");
    CHECK(counts[outcome::differs] == 0);
    CHECK(counts[outcome::mkfs_refused] <= 1);
    if (counts[outcome::skipped] == 0) CHECK(counts[outcome::agrees] > 30);
}

} // namespace

TEST_CASE("image stacks: corpus part 1/6, kernel over mounted images == ovl-tree --images",
          "[images]") {
    run_part(0, 6);
}
TEST_CASE("image stacks: corpus part 2/6, kernel over mounted images == ovl-tree --images",
          "[images]") {
    run_part(1, 6);
}
TEST_CASE("image stacks: corpus part 3/6, kernel over mounted images == ovl-tree --images",
          "[images]") {
    run_part(2, 6);
}
TEST_CASE("image stacks: corpus part 4/6, kernel over mounted images == ovl-tree --images",
          "[images]") {
    run_part(3, 6);
}
TEST_CASE("image stacks: corpus part 5/6, kernel over mounted images == ovl-tree --images",
          "[images]") {
    run_part(4, 6);
}
TEST_CASE("image stacks: corpus part 6/6, kernel over mounted images == ovl-tree --images",
          "[images]") {
    run_part(5, 6);
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
    REQUIRE(make_image(root / "src", root / "image"));
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
