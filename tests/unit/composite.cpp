// SPDX-License-Identifier: MIT
// composite_fs (ovlcore/backend/composite.hpp, docs/overlayfs-semantics.md §X.2): a stack whose
// layers come from different backends (posix_fs directories and memory_fs directories, routed by
// path) shows exactly the merged tree of the same stack all in posix_fs, on every scenario of the
// corpus; a path the policy cannot route refuses the stack with the route's errno and keeps its
// message (a bounded number of them); handles of two members with the same names never mix;
// optional calls are forwarded per member (spec §0, §1.3, §8.2).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <ovlcore/backend/composite.hpp>
#include <ovlcore/backend/images.hpp>
#include <ovlcore/backend/memory.hpp>
#include <ovlcore/backend/posix.hpp>
#include <ovlcore/layer_stack.hpp>
#include <ovlcore/testing/differential.hpp>
#include <ovlcore/testing/scenario.hpp>

#include "support/string_makers.hpp"
#include "support/temp_dir.hpp"

using namespace ovlcore;

namespace {

/// Routes the paths under `disk_root/<name>` (name in `names`) to the memory_fs, where the same
/// layer was built under /ROOT/<name>; everything else goes to the posix_fs. Paths starting with
/// `refused` cannot be routed (EBADMSG, to tell the route's errno from a walk's).
struct split_policy {
    std::shared_ptr<const posix_fs> disk;
    std::shared_ptr<const memory_fs> memory;
    std::string disk_root;
    std::set<std::string> names;
    std::string refused = "/refused";

    [[nodiscard]] result<composite_route<posix_fs, memory_fs>, route_refusal>
    route(std::string_view path) const {
        if (path.starts_with(refused))
            return fail(route_refusal{.code = std::errc::bad_message,
                                      .message = "'" + std::string(path) + "': refused"});
        const std::string prefix = disk_root + "/";
        if (path.starts_with(prefix)) {
            const std::string_view rest = path.substr(prefix.size());
            const std::string name(rest.substr(0, rest.find('/')));
            if (names.contains(name))
                return composite_route<posix_fs, memory_fs>{.backend = memory,
                                                            .path = "/ROOT/" + std::string(rest)};
        }
        return composite_route<posix_fs, memory_fs>{.backend = disk, .path = std::string(path)};
    }
};

using mixed_fs = composite_fs<split_policy, posix_fs, memory_fs>;
static_assert(backing_filesystem<mixed_fs>);
static_assert(knows_dot_positions<mixed_fs>); // posix_fs knows them
static_assert(detail::has_next_data<mixed_fs>);
static_assert(can_measure_verity<mixed_fs>);
static_assert(detail::has_release_cached<mixed_fs>); // posix_fs has it

/// A composite of memory_fs alone has neither optional call, as memory_fs.
struct memory_only_policy {
    std::shared_ptr<const memory_fs> memory;
    [[nodiscard]] result<composite_route<memory_fs>, route_refusal>
    route(std::string_view path) const {
        return composite_route<memory_fs>{.backend = memory, .path = std::string(path)};
    }
};
static_assert(backing_filesystem<composite_fs<memory_only_policy, memory_fs>>);
static_assert(!knows_dot_positions<composite_fs<memory_only_policy, memory_fs>>);
static_assert(!detail::has_next_data<composite_fs<memory_only_policy, memory_fs>>);
static_assert(!can_measure_verity<composite_fs<memory_only_policy, memory_fs>>);
static_assert(!detail::has_release_cached<composite_fs<memory_only_policy, memory_fs>>);

/// Whether the layer `name` may come from the memory_fs: it is used in the options only as a
/// whole layer, never as upperdir or workdir (they must share a mount) nor through a subpath.
bool movable_layer(const testing::scenario& s, const std::string& name) {
    const std::string key = "{" + name + "}";
    for (std::size_t at = s.options.find(key); at != std::string::npos;
         at = s.options.find(key, at + 1)) {
        const std::string_view before = std::string_view(s.options).substr(0, at);
        if (before.ends_with("upperdir=") || before.ends_with("workdir=")) return false;
        if (at + key.size() < s.options.size() && s.options[at + key.size()] == '/') return false;
    }
    return true;
}

std::vector<std::filesystem::path> corpus(std::size_t part) {
    std::vector<std::filesystem::path> out;
    for (const char* dir : {"kernel/scenarios", "extra"}) {
        for (const auto& e : std::filesystem::directory_iterator(
                 std::filesystem::path(OVLCORE_TEST_DATA_DIR) / dir))
            if (e.path().extension() == ".json") out.push_back(e.path());
    }
    std::sort(out.begin(), out.end());
    std::vector<std::filesystem::path> half;
    for (std::size_t i = part; i < out.size(); i += 2) half.push_back(out[i]);
    return half;
}

/// Part `part` (0 or 1) of the corpus: every scenario's stack with every other movable layer
/// from a memory_fs equals the all-posix stack.
void compare_mixed_stacks(std::size_t part) {
    if (::geteuid() != 0) {
        WARN("SKIPPED: needs root (whiteouts, ownership and trusted.* xattrs on disk)");
        return;
    }
    std::size_t compared = 0, mixed = 0;
    for (const auto& file : corpus(part)) {
        const auto sc = testing::load_scenario(file);
        if (sc.layers.size() < 2) continue;
        CAPTURE(file.filename().string());
        test::temp_dir tmp("ovlcore-composite-");
        const std::string options = testing::build_on_disk(sc, tmp.str());
        auto memory = std::make_shared<memory_fs>();
        (void)testing::build_in_memory(sc, *memory);
        auto disk = posix_fs::with_working_dir(tmp.str());
        REQUIRE(disk);
        auto disk_fs = std::make_shared<const posix_fs>(std::move(*disk));

        // Every other layer (never the upper: upper and work share a mount) from memory.
        split_policy policy{.disk = disk_fs,
                            .memory = memory,
                            .disk_root =
                                std::filesystem::absolute(tmp.str()).lexically_normal().string(),
                            .names = {}};
        while (policy.disk_root.size() > 1 && policy.disk_root.back() == '/')
            policy.disk_root.pop_back();
        // Layers on two filesystems are a different stack where the kernel decides by "all layers
        // on one filesystem" (§9, §8.2 step 6: d_ino of impure dirs): keep those scenarios whole.
        const bool samefs_matters = file.filename().string().find("impure") != std::string::npos;
        for (std::size_t i = 0; i < sc.layers.size(); ++i)
            if (!samefs_matters && (i + file.filename().string().size()) % 2 == 1 &&
                movable_layer(sc, sc.layers[i].name))
                policy.names.insert(sc.layers[i].name);
        if (!policy.names.empty()) ++mixed;
        const mixed_fs composite(policy);

        const std::string expected = testing::ovlcore_dump_jsonl(*disk_fs, options, sc.paths);
        const std::string actual = testing::ovlcore_dump_jsonl(composite, options, sc.paths);
        const auto diff = testing::compare_dump_text(expected, actual,
                                                     {.drop_below_symlinks = false,
                                                      .expected_name = "posix_fs",
                                                      .actual_name = "composite_fs"});
        INFO(diff.first_difference());
        CHECK(diff.agree());
        ++compared;
    }
    CHECK(compared > 100);
    CHECK(mixed > 40);
}

} // namespace

TEST_CASE("X.2 composite: posix_fs and memory_fs layers equal the all-posix stack (part 1/2)",
          "[composite][spec.X.2]") {
    compare_mixed_stacks(0);
}

TEST_CASE("X.2 composite: posix_fs and memory_fs layers equal the all-posix stack (part 2/2)",
          "[composite][spec.X.2]") {
    compare_mixed_stacks(1);
}

TEST_CASE("X.2 composite: a path the policy cannot route refuses the stack with the route's errno",
          "[composite][spec.X.2]") {
    auto memory = std::make_shared<memory_fs>();
    memory->add_file("/l1/f", "1\n").add_file("/l2/g", "2\n");
    const composite_fs<split_policy, posix_fs, memory_fs> fs(
        split_policy{.disk = std::make_shared<const posix_fs>(),
                     .memory = memory,
                     .disk_root = "/nowhere",
                     .names = {}});
    // split_policy sends unknown paths to posix_fs: use the memory-only composite for success.
    const composite_fs<memory_only_policy, memory_fs> mem(memory_only_policy{.memory = memory});
    auto ok = make_layer_stack(mem, "lowerdir=/l1:/l2", {});
    REQUIRE(ok);
    CHECK(ok->lowers().size() == 2);

    auto refused = make_layer_stack(fs, "lowerdir=/refused/a:/l2", {});
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == std::errc::bad_message);
    CHECK(refused.error().message == "overlayfs: failed to resolve '/refused/a': -74");
    REQUIRE(fs.route_messages().size() == 1);
    CHECK(fs.route_messages()[0] == "'/refused/a': refused");
}

TEST_CASE("X.2 composite: handles remember their member backend", "[composite][spec.X.2]") {
    // Two members holding the same names with different contents and link targets: a call sent
    // to the wrong member would read the other member's answer.
    test::temp_dir tmp("ovlcore-composite-");
    const std::filesystem::path disk(tmp.str());
    std::filesystem::create_directories(disk / "p" / "d");
    std::ofstream(disk / "p" / "d" / "f") << "posix\n";
    std::filesystem::create_symlink("d/g", disk / "p" / "s");
    auto memory = std::make_shared<memory_fs>();
    memory->add_file("/ROOT/m/d/f", "memory\n").add_symlink("/ROOT/m/s", "d/f");
    const std::string root = std::filesystem::absolute(disk).lexically_normal().string();
    const mixed_fs fs(split_policy{.disk = std::make_shared<const posix_fs>(),
                                   .memory = memory,
                                   .disk_root = root,
                                   .names = {"m"}});
    auto mem_dir = fs.resolve_dir(root + "/m");
    auto disk_dir = fs.resolve_dir(root + "/p");
    REQUIRE(mem_dir);
    REQUIRE(disk_dir);
    CHECK(std::holds_alternative<composite_layer<memory_fs>>(mem_dir->ref));
    CHECK(std::holds_alternative<composite_layer<posix_fs>>(disk_dir->ref));
    CHECK(mem_dir->st.dev != disk_dir->st.dev);
    // Interleaved calls on both members' handles.
    auto mf = walk(fs, mem_dir->ref, "d/f");
    auto pf = walk(fs, disk_dir->ref, "d/f");
    REQUIRE(mf);
    REQUIRE(pf);
    CHECK(fs.path_of(mf->handle) == "d/f");
    CHECK(fs.path_of(pf->handle) == "d/f");
    CHECK(mf->st.size == 7);
    CHECK(pf->st.size == 6);
    auto mopen = fs.open_file(mf->handle);
    auto popen = fs.open_file(pf->handle);
    REQUIRE(mopen);
    REQUIRE(popen);
    std::string buf(16, '\0');
    auto got = fs.read(*popen, 0, std::span<char>(buf));
    REQUIRE(got);
    CHECK(buf.substr(0, *got) == "posix\n");
    got = fs.read(*mopen, 0, std::span<char>(buf));
    REQUIRE(got);
    CHECK(buf.substr(0, *got) == "memory\n");
    CHECK(read_link_path(fs, mem_dir->ref, "s").value_or("") == "d/f");
    CHECK(read_link_path(fs, disk_dir->ref, "s").value_or("") == "d/g");
    auto mroot = fs.root(mem_dir->ref);
    auto proot = fs.root(disk_dir->ref);
    REQUIRE(mroot);
    REQUIRE(proot);
    CHECK(fs.lookup(mroot->handle, "s").has_value());
    CHECK(fs.lookup(proot->handle, "s").has_value());
    auto mlist = fs.read_dir(mroot->handle);
    REQUIRE(mlist);
    CHECK(mlist->size() == 2);
    CHECK(fs.dot_positions(mroot->handle).value_or(std::array<std::size_t, 2>{9, 9}) ==
          std::array<std::size_t, 2>{0, 0}); // memory_fs: "dots first"
    // The data-only walk: the memory member has d/f, the posix member has no d/g.
    auto mbeneath = fs.lookup_beneath(mem_dir->ref, "/s");
    REQUIRE(mbeneath);
    CHECK(mbeneath->st.type == file_type::symlink);
    CHECK(fs.path_of(mbeneath->handle) == "s");
    CHECK(fs.lookup_beneath(disk_dir->ref, "/d/g").error() == std::errc::no_such_file_or_directory);
    CHECK(fs.lookup_beneath(mem_dir->ref, "/d/g").error() == std::errc::no_such_file_or_directory);
    auto pbeneath = fs.lookup_beneath(disk_dir->ref, "/d/f");
    REQUIRE(pbeneath);
    CHECK(pbeneath->st.ino == pf->st.ino);
}

TEST_CASE("X.2 composite: release_cached reaches every routed member that has it",
          "[composite][spec.X.2]") {
    test::temp_dir tmp("ovlcore-composite-");
    const std::filesystem::path disk(tmp.str());
    std::filesystem::create_directories(disk / "p" / "d");
    std::ofstream(disk / "p" / "d" / "f") << "posix\n";
    auto memory = std::make_shared<memory_fs>();
    memory->add_file("/ROOT/m/d/f", "memory\n");
    const auto posix = std::make_shared<const posix_fs>();
    const std::string root = std::filesystem::absolute(disk).lexically_normal().string();
    const mixed_fs fs(
        split_policy{.disk = posix, .memory = memory, .disk_root = root, .names = {"m"}});
    auto mem_dir = fs.resolve_dir(root + "/m");
    auto disk_dir = fs.resolve_dir(root + "/p");
    REQUIRE(mem_dir);
    REQUIRE(disk_dir);
    auto d = walk(fs, disk_dir->ref, "d");
    REQUIRE(d);
    REQUIRE(fs.read_dir(d->handle));
    REQUIRE(walk(fs, mem_dir->ref, "d/f"));
    CHECK(posix->open_dir_fds() > 0);
    fs.release_cached();
    CHECK(posix->open_dir_fds() == 0);
    auto f = fs.lookup(d->handle, "f"); // opened again on demand
    REQUIRE(f);
    CHECK(f->st.size == 6);
}

TEST_CASE("X.2 composite: route messages are bounded, the rest counted", "[composite][spec.X.2]") {
    auto memory = std::make_shared<memory_fs>();
    const mixed_fs fs(split_policy{.disk = std::make_shared<const posix_fs>(),
                                   .memory = memory,
                                   .disk_root = "/nowhere",
                                   .names = {}});
    constexpr std::size_t cap = mixed_fs::max_route_messages;
    for (std::size_t i = 0; i < cap + 36; ++i)
        CHECK(fs.resolve_dir("/refused/" + std::to_string(i)).error() == std::errc::bad_message);
    const auto messages = fs.route_messages();
    REQUIRE(messages.size() == cap + 1);
    CHECK(messages.front() == "'/refused/0': refused");
    CHECK(messages[cap - 1] == "'/refused/" + std::to_string(cap - 1) + "': refused");
    CHECK(messages.back() ==
          "36 more refused paths (only the first " + std::to_string(cap) + " messages are kept)");
}

TEST_CASE("X.2 composite: the image policy reads regular files as EROFS images",
          "[composite][spec.X.2]") {
    if (std::system("command -v mkfs.erofs > /dev/null 2>&1") != 0) {
        WARN("SKIPPED: mkfs.erofs is missing (scripts/setup-deps.sh installs erofs-utils)");
        return;
    }
    test::temp_dir tmp("ovlcore-image-policy-");
    const std::filesystem::path root(tmp.str());
    std::filesystem::create_directories(root / "src" / "d");
    std::filesystem::create_directories(root / "dir");
    std::ofstream(root / "src" / "d" / "f") << "in the image\n";
    std::ofstream(root / "dir" / "g") << "in the dir\n";
    std::ofstream(root / "not-an-image") << "text\n";
    const std::string mkfs = "mkfs.erofs -T0 '" + (root / "image").string() + "' '" +
                             (root / "src").string() + "' > /dev/null 2>&1";
    REQUIRE(std::system(mkfs.c_str()) == 0);
    const image_stack_fs fs(image_policy{.working_dir = root.string()});

    // A regular file is an image (its root is the layer: read-only, EROFS), a dir a dir.
    auto image = fs.resolve_dir("image");
    REQUIRE(image);
    CHECK(image->read_only);
    CHECK(image->fs_magic == erofs_super_magic);
    CHECK(std::holds_alternative<composite_layer<erofs_fs>>(image->ref));
    auto stack = make_layer_stack(
        fs, "lowerdir=" + (root / "image").string() + ":" + (root / "dir").string(), {});
    REQUIRE(stack);
    const std::string dump = testing::ovlcore_dump_jsonl(
        fs, "lowerdir=" + (root / "image").string() + ":" + (root / "dir").string(), {});
    CHECK(dump.find("\"path\": \"/d/f\"") != std::string::npos);
    CHECK(dump.find("\"path\": \"/g\"") != std::string::npos);

    // Not an image: EINVAL, and a message naming the file.
    auto bad = make_layer_stack(
        fs, "lowerdir=" + (root / "not-an-image").string() + ":" + (root / "dir").string(), {});
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code == std::errc::invalid_argument);
    REQUIRE(fs.route_messages().size() == 1);
    CHECK(fs.route_messages()[0].find("not-an-image") != std::string::npos);

    // One image file named twice is one mount named twice (spec §1.5).
    auto twice = make_layer_stack(
        fs, "lowerdir=" + (root / "image").string() + ":" + (root / "image").string(), {});
    REQUIRE_FALSE(twice);
    CHECK(twice.error().code == std::errc::too_many_symbolic_link_levels);

    // Without the image policy the file is refused as the kernel refuses it (§1.3).
    const posix_fs plain;
    auto refused = make_layer_stack(
        plain, "lowerdir=" + (root / "image").string() + ":" + (root / "dir").string(), {});
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == std::errc::invalid_argument);
}
