// SPDX-License-Identifier: MIT
// Tests of ovlcore/verity.hpp and of the verity_support modes of the open-time check (spec §7,
// §2.2): the userspace fs-verity digest against `fsverity digest` (fsverity-utils 1.5; recorded
// values, and the tool itself when installed), posix_fs's FS_IOC_MEASURE_VERITY, and digests
// checked at open through overlay<B> on both backends (docs/contributing.md §20).
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ovlcore/backend/forwarding.hpp>
#include <ovlcore/backend/memory.hpp>
#include <ovlcore/backend/posix.hpp>
#include <ovlcore/lint.hpp>
#include <ovlcore/lowerdata.hpp>
#include <ovlcore/verity.hpp>

#include "support/overlay_fixture.hpp"
#include "support/spec_names.hpp"
#include "support/string_makers.hpp"
#include "support/temp_dir.hpp"

using namespace ovlcore;

// The file's own namespace: these names stay out of the files compiled next to it
// (docs/contributing.md §18).
namespace verity_test {
using ovlcore::test::spec_names::eio;
using ovlcore::test::spec_names::mc;
using ovlcore::test::spec_names::redirect;

namespace {

/// The test content: byte i of block b is (131 i + 17 b) mod 256 (every block differs).
std::string pattern(std::size_t size) {
    std::string out(size, '\0');
    for (std::size_t i = 0; i < size; ++i)
        out[i] = static_cast<char>((i * 131 + (i >> 12) * 17) & 0xffU);
    return out;
}

/// `fsverity digest FILE`'s first word, or "" when the tool is not installed.
std::string fsverity_tool_digest(const std::string& file) {
    const std::string cmd = "fsverity digest '" + file + "' 2>/dev/null";
    std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(cmd.c_str(), "r"), ::pclose);
    if (!p) return {};
    char buf[256] = {};
    if (std::fgets(buf, sizeof buf, p.get()) == nullptr) return {};
    std::string line(buf);
    return line.substr(0, line.find(' '));
}

/// The metacopy value (spec §2.2) carrying `d`.
std::string metacopy_with(const verity_digest& d) {
    std::string v{'\0', static_cast<char>(4 + d.size), '\0', static_cast<char>(d.algo)};
    for (const auto b : d.view()) v += static_cast<char>(b);
    return v;
}

/// Hex digits to a digest of algorithm `algo`.
verity_digest from_hex(std::string_view hex, verity_algo algo = verity_algo::sha256) {
    verity_digest d{.algo = algo, .size = static_cast<std::uint8_t>(hex.size() / 2)};
    for (std::size_t i = 0; i < d.size; ++i)
        d.bytes[i] =
            static_cast<std::uint8_t>(std::stoi(std::string(hex.substr(2 * i, 2)), nullptr, 16));
    return d;
}

/// `fsverity digest` of pattern(64 MiB) (fsverity-utils 1.5).
constexpr std::string_view verity_64mib_digest =
    "b04b92448986f229d5040b5750afdd3b470981d727dd25f11e2b8b96ab143f70";

/// `fsverity digest` of "data\n" (fsverity-utils 1.5).
constexpr std::string_view data_digest =
    "223c0c4f67bbe577eaba3943d77c8071ab42385702862cb24b7c24900c74d631";

/// A backend whose filesystem "enforces" one digest on every file (docs/contributing.md §25):
/// the measure path of verity_support::measure where this kernel has no fs-verity.
template <class B>
class measuring_fs : public forwarding_fs<B> {
public:
    measuring_fs(const B& fs, result<verity_digest> answer)
        : forwarding_fs<B>(fs), m_answer(std::move(answer)) {}
    [[nodiscard]] result<verity_digest> measure_verity(const typename B::file&) const {
        return m_answer;
    }

private:
    result<verity_digest> m_answer;
};
static_assert(can_measure_verity<measuring_fs<memory_fs>>);
static_assert(!can_measure_verity<memory_fs>);
/// Writes `content` to DIR/name and opens it through posix_fs.
posix_fs::file open_posix(const posix_fs& fs, const test::temp_dir& dir, const std::string& name,
                          const std::string& content) {
    std::ofstream((dir.path() / name).string(), std::ios::binary) << content;
    auto layer = fs.resolve_dir(dir.path().string());
    REQUIRE(layer);
    auto obj = walk(fs, layer->ref, name);
    REQUIRE(obj);
    auto file = fs.open_file(obj->handle);
    REQUIRE(file);
    return std::move(*file);
}
} // namespace

#define OVL_FIXTURE(f)                                                                             \
  test::overlay_fixture<TestType> f;                                                               \
  if (!f.privileged()) return

TEST_CASE("7 verity: the userspace digest equals `fsverity digest`", "[spec.7][verity]") {
    // Recorded with fsverity-utils 1.5 (`fsverity digest`, SHA-256, 4 KiB blocks, no salt).
    const std::pair<std::size_t, std::string_view> cases[] = {
        {0, "3d248ca542a24fc62d1c43b916eae5016878e2533c88238480b26128a1f1af95"},
        {1, "b803429503d95915829b29fdbc8bbad142f3abfd11b1cadf5526582e685c0551"},
        {4095, "de15d5663f795e809c7e0c4c468790d71f2aa25eab530244231e05b19c673f2d"},
        {4096, "0d5fa6409d4b558cae4fb7fd1e06719f23b827c810519a104556c55134466f70"},
        {4097, "84a5da6093034cb337f7e0c23efe25ccda13584ed2d6d284a187228b7871e766"},
        {4096 * 128, "e7ebbe29fbf8738a8c32f7876d834f189722554cb64555065557e1c4b2e986fa"},
        {4096 * 128 + 1, "1189fc1d5ea0a865f5c47516e684f0660fc8833e48ede6ff7b46cae5329451e8"},
        {1048577, "78f7cdc40d098acc2717f71ac6466173fc2860bfc4438f7708f00171bb898d7a"},
    };
    test::temp_dir dir;
    posix_fs fs;
    bool tool = true;
    for (const auto& [size, expected] : cases) {
        CAPTURE(size);
        const std::string content = pattern(size);
        CHECK(to_string(compute_verity_digest(content)) == "sha256:" + std::string(expected));
        // Through a backend (open_file + read), and against the installed tool.
        const std::string name = "f" + std::to_string(size);
        const auto file = open_posix(fs, dir, name, content);
        const auto d = compute_verity_digest(fs, file);
        REQUIRE(d);
        CHECK(to_string(*d) == "sha256:" + std::string(expected));
        const std::string live = fsverity_tool_digest((dir.path() / name).string());
        if (live.empty())
            tool = false;
        else
            CHECK(live == to_string(*d));
    }
    if (!tool) WARN("fsverity (Debian package fsverity) is not installed: recorded values only");
    CHECK(to_string(compute_verity_digest(std::string_view("data\n"))) ==
          "sha256:" + std::string(data_digest));
}

TEST_CASE("7 verity: the userspace digest of 64 MiB equals `fsverity digest`",
          "[spec.7][verity][slow]") {
    // Recorded with fsverity-utils 1.5; a three-level tree. Timed: at most a few seconds.
    const std::string content = pattern(std::size_t{64} << 20);
    const auto start = std::chrono::steady_clock::now();
    const auto d = compute_verity_digest(content);
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    UNSCOPED_INFO("64 MiB hashed in " << s << " s");
    CHECK(to_string(d) == "sha256:" + std::string(verity_64mib_digest));
}

namespace {
/// A cheap stand-in for SHA-256 (FNV-1a in four lanes) to build big trees fast.
std::array<std::uint8_t, 32> fake_sha256(std::span<const char> data) {
    std::array<std::uint64_t, 4> lane{1469598103934665603ULL, 1, 2, 3};
    for (std::size_t i = 0; i < data.size(); ++i) {
        auto& h = lane[i & 3U];
        h = (h ^ static_cast<std::uint8_t>(data[i])) * 1099511628211ULL;
    }
    std::array<std::uint8_t, 32> out{};
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = static_cast<std::uint8_t>(lane[i / 8] >> (8 * (i % 8)));
    return out;
}

/// The tree as verity.hpp's top describes it, every hash of a level held at once.
std::array<std::uint8_t, 32> naive_root(std::vector<std::array<std::uint8_t, 32>> level) {
    if (level.empty()) return {};
    while (level.size() > 1) {
        std::vector<std::array<std::uint8_t, 32>> up;
        for (std::size_t first = 0; first < level.size(); first += 128) {
            std::array<char, verity_block_size> block{};
            for (std::size_t i = first; i < std::min(level.size(), first + 128); ++i)
                std::copy(level[i].begin(), level[i].end(),
                          block.begin() + static_cast<std::ptrdiff_t>(32 * (i - first)));
            up.push_back(fake_sha256(block));
        }
        level = std::move(up);
    }
    return level.front();
}

std::atomic<int> counted_hashes{0};
std::array<std::uint8_t, 32> counting_sha256(std::span<const char> data) {
    ++counted_hashes;
    return sha256_with<builtin_sha256>(data);
}
std::array<std::uint8_t, 32> broken_sha256(std::span<const char>) { return {}; }
} // namespace

TEST_CASE("7 verity: the Merkle tree streams, one block per level", "[spec.7][verity]") {
    // Equal to the whole-level tree for counts around the 128-hash block boundaries, while it
    // holds only one block per level (a 1 TB file: five levels, 20 KiB).
    for (const std::size_t blocks :
         {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{127}, std::size_t{128},
          std::size_t{129}, std::size_t{128 * 128}, std::size_t{128 * 128 + 1},
          std::size_t{2 * 128 * 128 + 3}}) {
        CAPTURE(blocks);
        detail::verity_tree tree(&fake_sha256);
        std::vector<std::array<std::uint8_t, 32>> hashes;
        std::array<char, verity_block_size> block{};
        for (std::size_t b = 0; b < blocks; ++b) {
            std::copy_n(reinterpret_cast<const char*>(&b), sizeof b, block.begin());
            tree.add_block(block);
            hashes.push_back(fake_sha256(block));
        }
        std::size_t levels = 0; // ceil(log128(blocks)) + 1 for a non-empty file
        for (std::size_t n = blocks; n > 0; n = n > 1 ? (n + 127) / 128 : 0) ++levels;
        CHECK(tree.level_count() <= levels);
        CHECK(tree.root() == naive_root(std::move(hashes)));
    }
}

TEST_CASE("7 verity: no hasher given is the built-in SHA-256", "[spec.7][verity]") {
    const std::string data(5000, 'x');
    const auto read = [&](std::uint64_t at, std::span<char> out) -> result<std::size_t> {
        const auto n =
            std::min<std::size_t>(out.size(), data.size() - static_cast<std::size_t>(at));
        std::copy_n(data.data() + at, n, out.data());
        return n;
    };
    const auto none = compute_verity_digest_from(read, nullptr);
    const auto builtin = compute_verity_digest_from(read, &sha256_with<builtin_sha256>);
    REQUIRE(none.has_value());
    REQUIRE(builtin.has_value());
    CHECK(none->bytes == builtin->bytes);
}

TEST_CASE("7 verity: the linter hashes with lint_options::verity_sha256", "[spec.7][verity]") {
    memory_fs fs;
    fs.add_file("/A/ok", "", {.size = 5})
        .set_xattr("/A/ok", mc, metacopy_with(from_hex(data_digest)))
        .add_file("/B/ok", "data\n");
    auto stack = make_layer_stack(fs, "lowerdir=/A:/B,metacopy=on,verity=on");
    REQUIRE(stack);
    auto mismatches = [](const lint_report& r) {
        return std::count_if(r.findings.begin(), r.findings.end(), [](const lint_finding& f) {
            return f.code == lint_code::digest_mismatch;
        });
    };
    counted_hashes = 0;
    CHECK(mismatches(lint_stack(
              fs, *stack,
              {.verity = verity_support::compute, .verity_sha256 = &counting_sha256})) == 0);
    CHECK(counted_hashes == 2);
    CHECK(mismatches(lint_stack(
              fs, *stack, {.verity = verity_support::compute, .verity_sha256 = &broken_sha256})) ==
          1);
}

TEST_CASE("7 verity: posix_fs measures with FS_IOC_MEASURE_VERITY", "[spec.7][verity]") {
    // This kernel has no CONFIG_FS_VERITY (and files here have no fs-verity): the ioctl answers
    // ENOTTY or EOPNOTSUPP (no support) or ENODATA (no fs-verity on the file); never a digest.
    test::temp_dir dir;
    const posix_fs fs;
    const auto file = open_posix(fs, dir, "f", "data\n");
    const auto d = fs.measure_verity(file);
    if (d) {
        // A filesystem with fs-verity enabled on this file: it is the digest of its content.
        CHECK(to_string(*d) == "sha256:" + std::string(data_digest));
    } else {
        CHECK((d.error() == std::errc::inappropriate_io_control_operation ||
               d.error() == std::errc::operation_not_supported ||
               d.error() == std::errc::no_message_available));
    }
}

TEMPLATE_TEST_CASE("7 verity: compute checks the data file's digest at open", "[spec.7][verity]",
                   memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    const auto good = from_hex(data_digest);
    f.tree.add_file("A/ok", "", {.size = 5}).set_xattr("A/ok", mc, metacopy_with(good));
    f.tree.add_file("B/ok", "data\n");
    // The data differs from what the digest describes: one byte changed.
    f.tree.add_file("A/bad", "", {.size = 5}).set_xattr("A/bad", mc, metacopy_with(good));
    f.tree.add_file("B/bad", "dbta\n");
    // The right bytes labelled SHA-512: compute models files as SHA-256 fs-verity files.
    auto other = good;
    other.algo = verity_algo::sha512;
    f.tree.add_file("A/algo", "", {.size = 5}).set_xattr("A/algo", mc, metacopy_with(other));
    f.tree.add_file("B/algo", "data\n");
    // Algorithm 0 with digest bytes is "no digest" (spec §7 [V]).
    std::string zero = metacopy_with(good);
    zero[3] = 0;
    f.tree.add_file("A/zero", "", {.size = 5}).set_xattr("A/zero", mc, zero);
    f.tree.add_file("B/zero", "dbta\n");
    f.tree.add_file("A/none", "", {.size = 5}).set_xattr("A/none", mc, "");
    f.tree.add_file("B/none", "data\n");
    SECTION("verity=on") {
        f.mount("lowerdir=A:B,metacopy=on,verity=on", {.verity = verity_support::compute});
        CHECK(f.content("/ok") == "data\n");
        CHECK(f.content("/ok") == "data\n"); // remembered: no second check needed
        CHECK(f.lstat_error("/bad") == std::errc{});
        CHECK(f.open_error("/bad") == eio);
        CHECK(f.open_error("/bad") == eio); // a failure is not remembered
        CHECK(f.open_error("/algo") == eio);
        CHECK(f.content("/zero") == "dbta\n");
        CHECK(f.content("/none") == "data\n");
    }
    SECTION("verity=require") {
        f.mount("lowerdir=A:B,metacopy=on,verity=require", {.verity = verity_support::compute});
        CHECK(f.content("/ok") == "data\n");
        CHECK(f.open_error("/bad") == eio);
        CHECK(f.open_error("/zero") == eio); // "has no digest specified"
        CHECK(f.open_error("/none") == eio);
    }
    SECTION("the overlay's SHA-256 (overlay_options::verity_sha256) is used, same digest") {
        counted_hashes = 0;
        f.mount("lowerdir=A:B,metacopy=on,verity=on",
                {.verity = verity_support::compute, .verity_sha256 = &counting_sha256});
        CHECK(f.content("/ok") == "data\n");
        CHECK(counted_hashes == 2); // the one data block, then the descriptor
    }
    SECTION("a wrong SHA-256 plugged in makes the check fail") {
        f.mount("lowerdir=A:B,metacopy=on,verity=on",
                {.verity = verity_support::compute, .verity_sha256 = &broken_sha256});
        CHECK(f.open_error("/ok") == eio);
    }
    SECTION("verity=off: never checked") {
        f.mount("lowerdir=A:B,metacopy=on", {.verity = verity_support::compute});
        CHECK(f.content("/bad") == "dbta\n");
    }
    SECTION("the default (this kernel, no fs-verity): every digest is EIO") {
        f.mount("lowerdir=A:B,metacopy=on,verity=on");
        CHECK(f.open_error("/ok") == eio);
        CHECK(f.content("/zero") == "dbta\n"); // algorithm 0: not measured at all
    }
}

TEMPLATE_TEST_CASE("7 verity: a corrupted object of a data-only layer is refused with EIO",
                   "[spec.7][spec.6][verity]", memory_fs, posix_fs) {
    // composefs's shape: lowerdir=IMAGE::OBJECTS, redirects into a content-addressed store.
    OVL_FIXTURE(f);
    const auto good = from_hex(data_digest);
    f.tree.add_file("I/etc/motd", "", {.size = 5}).set_xattr("I/etc/motd", mc, metacopy_with(good));
    f.tree.set_xattr("I/etc/motd", redirect, "/22/3c0c");
    f.tree.add_file("I/etc/issue", "", {.size = 5})
        .set_xattr("I/etc/issue", mc, metacopy_with(good));
    f.tree.set_xattr("I/etc/issue", redirect, "/22/bad0");
    f.tree.add_file("O/22/3c0c", "data\n").add_file("O/22/bad0", "dat4\n");
    f.mount("lowerdir=I::O,metacopy=on,verity=require", {.verity = verity_support::compute});
    CHECK(f.content("/etc/motd") == "data\n");
    CHECK(f.lstat_error("/etc/issue") == std::errc{});
    CHECK(f.open_error("/etc/issue") == eio);
}

TEMPLATE_TEST_CASE("7 verity: measure asks the backend for the enforced digest", "[spec.7][verity]",
                   memory_fs, posix_fs) {
    OVL_FIXTURE(f);
    const auto good = from_hex(data_digest);
    f.tree.add_file("A/f", "", {.size = 5}).set_xattr("A/f", mc, metacopy_with(good));
    f.tree.add_file("B/f", "data\n");
    const auto open_with = [&](result<verity_digest> measured) {
        const measuring_fs<TestType> fs(f.tree.fs(), std::move(measured));
        auto stack = make_layer_stack(fs, "lowerdir=A:B,metacopy=on,verity=on");
        REQUIRE(stack);
        const overlay ov(fs, std::move(*stack), null_trace{},
                         overlay_options{.verity = verity_support::measure});
        auto file = ov.open("/f");
        return file ? std::errc{} : file.error();
    };
    CHECK(open_with(good) == std::errc{});
    auto wrong = good;
    wrong.bytes[31] ^= 1U;
    CHECK(open_with(wrong) == eio); // "has the wrong fs-verity digest"
    auto sha512 = good;
    sha512.algo = verity_algo::sha512;
    CHECK(open_with(sha512) == eio);                                // the algorithm must match too
    CHECK(open_with(fail(std::errc::no_message_available)) == eio); // no fs-verity on the file
    SECTION("a backend that cannot measure, or this kernel: no digest, EIO") {
        f.mount("lowerdir=A:B,metacopy=on,verity=on", {.verity = verity_support::measure});
        // memory_fs has no measure_verity; posix_fs's files here have no fs-verity.
        CHECK(f.open_error("/f") == eio);
    }
}

TEMPLATE_TEST_CASE("7 verity: a successful check is remembered per inode, a failure is not",
                   "[spec.7][verity]", memory_fs, posix_fs) {
    test::overlay_fixture<TestType, true> f; // through spy_fs: counts open_file calls
    if (!f.privileged()) return;
    const auto good = from_hex(data_digest);
    f.tree.add_file("A/ok", "", {.size = 5}).set_xattr("A/ok", mc, metacopy_with(good));
    f.tree.add_file("B/ok", "data\n");
    f.tree.add_file("A/bad", "", {.size = 5}).set_xattr("A/bad", mc, metacopy_with(good));
    f.tree.add_file("B/bad", "dbta\n");
    f.mount("lowerdir=A:B,metacopy=on,verity=on", {.verity = verity_support::compute});
    REQUIRE(f.open_error("/ok") == std::errc{});
    CHECK(f.spy.open_calls == 2); // the digest's read, then the open itself
    REQUIRE(f.open_error("/ok") == std::errc{});
    CHECK(f.spy.open_calls == 3); // checked once (spec §7: a success is remembered)
    CHECK(f.open_error("/bad") == eio);
    CHECK(f.open_error("/bad") == eio);
    CHECK(f.spy.open_calls == 5); // each failing open measures again
}

} // namespace verity_test
