// SPDX-License-Identifier: MIT
// Tests for the content side of ovlcore/dump.hpp (dump-format.md): a pluggable content_hasher,
// holes of sparse files hashed without being read where the backend has next_data (backend.hpp;
// posix_fs: SEEK_DATA/SEEK_HOLE), and dumps without data (dump_options::content = false, which
// opens no file, so lazy lowerdata stays unresolved, §6). Bytes read and files opened are counted
// by a forwarding_fs decorator; expected digests come from coreutils sha256sum and the built-in
// SHA-256 of the same bytes.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "ovlcore/backend/forwarding.hpp"
#include "ovlcore/backend/memory.hpp"
#include "ovlcore/backend/posix.hpp"
#include "ovlcore/backend/posix_tree.hpp"
#include "ovlcore/dump.hpp"
#include "ovlcore/layer_stack.hpp"
#include "ovlcore/overlay.hpp"

#include "support/string_makers.hpp"
#include "support/temp_dir.hpp"

namespace {

using ovlcore::dump_record;
using ovlcore::file_type;

/// Counts regular-file opens, bytes read, next_data and lookup_beneath calls; forwards all.
template <ovlcore::backing_filesystem B>
struct content_counting_fs : ovlcore::forwarding_fs<B> {
    using base = ovlcore::forwarding_fs<B>;
    using base::base;
    using typename base::file;
    using typename base::handle;
    using typename base::layer_ref;

    [[nodiscard]] ovlcore::result<file> open_file(const handle& h) const {
        ++opens;
        return base::open_file(h);
    }
    [[nodiscard]] ovlcore::result<std::size_t> read(const file& f, std::uint64_t offset,
                                                    std::span<char> buffer) const {
        auto got = base::read(f, offset, buffer);
        if (got) bytes_read += *got;
        return got;
    }
    [[nodiscard]] ovlcore::result<ovlcore::real_object<handle>>
    lookup_beneath(const layer_ref& l, std::string_view p) const {
        ++beneath_calls;
        return base::lookup_beneath(l, p);
    }

    mutable std::atomic<std::uint64_t> opens{0};
    mutable std::atomic<std::uint64_t> bytes_read{0};
    mutable std::atomic<std::uint64_t> beneath_calls{0};
};

/// The same, but hiding the optional next_data: the dump must then read every byte.
template <ovlcore::backing_filesystem B>
struct no_holes_fs : content_counting_fs<B> {
    using content_counting_fs<B>::content_counting_fs;
    void next_data(const typename content_counting_fs<B>::file&, std::uint64_t) const = delete;
};

static_assert(ovlcore::detail::has_next_data<content_counting_fs<ovlcore::posix_fs>>,
              "forwarding_fs forwards next_data when the inner backend has it");
static_assert(!ovlcore::detail::has_next_data<no_holes_fs<ovlcore::posix_fs>>);
static_assert(!ovlcore::detail::has_next_data<content_counting_fs<ovlcore::memory_fs>>);

/// A hasher that records what it is fed; its digest's first 8 bytes are the byte count.
struct recording_hasher {
    static inline std::vector<std::string>* log = nullptr;
    std::string fed;
    void update(std::span<const char> data) { fed.append(data.data(), data.size()); }
    std::array<std::uint8_t, 32> final() {
        log->push_back(fed);
        std::array<std::uint8_t, 32> out{};
        for (std::size_t i = 0; i < 8; ++i)
            out[i] = static_cast<std::uint8_t>(fed.size() >> (8 * (7 - i)));
        return out;
    }
};
static_assert(ovlcore::content_hasher<recording_hasher>);

const dump_record& record_of(const std::vector<dump_record>& records, std::string_view path) {
    for (const auto& r : records)
        if (r.path == path) return r;
    FAIL("no record for " << path);
    return records.front();
}

/// pwrite of `data` at `offset` into an existing file (which keeps its size otherwise).
void write_at(const std::string& file, std::uint64_t offset, std::string_view data) {
    const int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    REQUIRE(::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset)) ==
            static_cast<ssize_t>(data.size()));
    REQUIRE(::fsync(fd) == 0);
    ::close(fd);
}

void make_sparse(const std::string& file, std::uint64_t size) {
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(::ftruncate(fd, static_cast<off_t>(size)) == 0);
    ::close(fd);
}

/// coreutils sha256sum of a file (the reference for the dump's `sha256`).
std::string sha256sum(const std::string& file) {
    const std::string cmd = "sha256sum '" + file + "'";
    FILE* pipe = ::popen(cmd.c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::array<char, 65> hex{};
    const std::size_t got = std::fread(hex.data(), 1, 64, pipe);
    ::pclose(pipe);
    REQUIRE(got == 64);
    return std::string(hex.data(), 64);
}

std::string builtin_hex(std::string_view bytes) {
    ovlcore::builtin_sha256 h;
    h.update(std::span<const char>(bytes.data(), bytes.size()));
    return ovlcore::detail::hex_digest(h.final());
}

} // namespace

TEST_CASE("dump: sha256 comes from the content_hasher given to dump_records", "[dump][hash]") {
    ovlcore::memory_fs fs;
    fs.add_file("/L1/a", "alpha").add_file("/L1/b", "").add_file("/L2/c", std::string(70000, 'c'));
    auto stack = ovlcore::make_layer_stack(fs, "lowerdir=/L1:/L2");
    REQUIRE(stack.has_value());
    const ovlcore::overlay<ovlcore::memory_fs> ov(fs, std::move(*stack));

    std::vector<std::string> log;
    recording_hasher::log = &log;
    const auto records = ovlcore::dump_records<recording_hasher>(ov);
    // One fresh hasher per regular file, fed its whole content in order (walk order: a, b, c).
    CHECK(log == std::vector<std::string>{"alpha", "", std::string(70000, 'c')});
    CHECK(record_of(records, "/a").sha256 == "0000000000000005" + std::string(48, '0'));
    CHECK(record_of(records, "/c").sha256 == "0000000000011170" + std::string(48, '0'));
    // The default is the built-in SHA-256.
    CHECK(record_of(ovlcore::dump_records(ov), "/a").sha256 == builtin_hex("alpha"));
}

TEST_CASE("dump: holes of sparse files are hashed as zeros without being read (posix_fs)",
          "[dump][hash][posix]") {
    const ovlcore::test::temp_dir tmp("ovlcore-dump-sparse-");
    const std::string l1 = tmp.path().string() + "/l1", l2 = tmp.path().string() + "/l2";
    REQUIRE(::mkdir(l1.c_str(), 0755) == 0);
    REQUIRE(::mkdir(l2.c_str(), 0755) == 0);
    constexpr std::uint64_t page = 4096, mib = 1024 * 1024;

    // Data pages in the middle, after a leading hole, and at the very end; the rest holes.
    const std::uint64_t size = 8 * mib + 2 * page;
    const std::string sparse = l1 + "/sparse";
    make_sparse(sparse, size);
    const std::string a(page, 'a'), b(2 * page, 'b'), z(page, 'z');
    write_at(sparse, 3 * page, a);
    write_at(sparse, 5 * mib, b);
    write_at(sparse, size - page, z);
    // A trailing hole, a file that is all hole, and a dense file.
    const std::string tail = l2 + "/tail", empty_hole = l2 + "/hole", dense = l2 + "/dense";
    make_sparse(tail, 3 * mib + 17);
    write_at(tail, 0, a);
    make_sparse(empty_hole, 2 * mib);
    make_sparse(dense, 0);
    write_at(dense, 0, std::string(100000, 'd'));
    const std::uint64_t data_bytes = a.size() + b.size() + z.size() + a.size() + 100000;

    std::string content(size, '\0');
    content.replace(3 * page, a.size(), a);
    content.replace(5 * mib, b.size(), b);
    content.replace(size - page, z.size(), z);
    const std::string expected = builtin_hex(content);
    REQUIRE(expected == sha256sum(sparse));

    const std::string options = "lowerdir=" + l1 + ":" + l2;
    const ovlcore::posix_fs posix;
    SECTION("overlay<posix_fs> reads the data extents only") {
        const content_counting_fs<ovlcore::posix_fs> fs(posix);
        auto stack = ovlcore::make_layer_stack(fs, options);
        REQUIRE(stack.has_value());
        const ovlcore::overlay<content_counting_fs<ovlcore::posix_fs>> ov(fs, std::move(*stack));
        const auto records = ovlcore::dump_records(ov);
        CHECK(record_of(records, "/sparse").sha256 == expected);
        CHECK(record_of(records, "/tail").sha256 == sha256sum(tail));
        CHECK(record_of(records, "/hole").sha256 == sha256sum(empty_hole));
        CHECK(record_of(records, "/dense").sha256 == sha256sum(dense));
        CHECK(fs.opens == 4);
        // Plus one byte read at the end of each trailing hole (/tail, /hole): reads must reach it.
        CHECK(fs.bytes_read == data_bytes + 2);
    }
    SECTION("without next_data every byte is read, with the same digests") {
        const no_holes_fs<ovlcore::posix_fs> fs(posix);
        auto stack = ovlcore::make_layer_stack(fs, options);
        REQUIRE(stack.has_value());
        const ovlcore::overlay<no_holes_fs<ovlcore::posix_fs>> ov(fs, std::move(*stack));
        const auto records = ovlcore::dump_records(ov);
        CHECK(record_of(records, "/sparse").sha256 == expected);
        CHECK(record_of(records, "/hole").sha256 == sha256sum(empty_hole));
        CHECK(fs.bytes_read == size + (3 * mib + 17) + 2 * mib + 100000);
    }
    SECTION("mounted_tree (ovl-tree --walk) skips the holes too") {
        auto tree = ovlcore::mounted_tree::open_root(l1);
        REQUIRE(tree.has_value());
        static_assert(ovlcore::detail::tree_has_next_data<const ovlcore::mounted_tree>);
        CHECK(record_of(ovlcore::dump_records(*tree), "/sparse").sha256 == expected);
    }
}

TEST_CASE("dump: without content no regular file is opened and lazy lowerdata stays unresolved",
          "[dump][hash]") {
    // A composefs-like stack (§6): a metacopy file whose data is in the data-only layer.
    ovlcore::memory_fs mem;
    ovlcore::memory_fs::entry_attrs attrs;
    attrs.size = 9;
    mem.add_file("/M/tool", "", attrs)
        .set_xattr("/M/tool", "trusted.overlay.metacopy", "")
        .set_xattr("/M/tool", "trusted.overlay.redirect", "/ab/cdef01")
        .add_file("/M/plain", "plain data\n")
        .add_file("/D/ab/cdef01", "tool-data");
    const content_counting_fs<ovlcore::memory_fs> fs(mem);
    auto stack = ovlcore::make_layer_stack(fs, "lowerdir=/M::/D");
    REQUIRE(stack.has_value());
    const ovlcore::overlay<content_counting_fs<ovlcore::memory_fs>> ov(fs, std::move(*stack));

    const auto records = ovlcore::dump_records(ov, {}, {.content = false});
    CHECK(fs.opens == 0);
    CHECK(fs.bytes_read == 0);
    CHECK(fs.beneath_calls == 0); // §6: the data-only layer is not consulted
    for (const auto& r : records) {
        CHECK_FALSE(r.sha256.has_value());
        CHECK_FALSE(r.error.has_value());
    }
    CHECK(record_of(records, "/tool").size == 9U);
    CHECK(record_of(records, "/plain").type == file_type::regular);
    const auto pending = ov.which_layers("/tool");
    REQUIRE(pending.has_value());
    CHECK(pending->pending_lowerdata == "/ab/cdef01");
    CHECK(ovlcore::to_jsonl(records).find("sha256") == std::string::npos);

    // The full dump of the same overlay opens both files and resolves the lazy data.
    const auto full = ovlcore::dump_records(ov);
    CHECK(fs.opens == 2);
    CHECK(fs.beneath_calls > 0);
    CHECK(record_of(full, "/tool").sha256 == builtin_hex("tool-data"));
}
