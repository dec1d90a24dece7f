// SPDX-License-Identifier: MIT
// ovlcore/verity.hpp: fs-verity file digests for the verity check of metacopy data (spec §7,
// §2.2): the digest computed in userspace over any backend (SHA-256 Merkle tree over 4 KiB
// blocks, no salt, what `fsverity digest` prints), and the optional backend call that asks the
// filesystem for the digest it enforces (posix_fs: FS_IOC_MEASURE_VERITY). Users include it (or
// ovlcore.hpp); lowerdata.hpp uses it for overlay_options::verity.
//
// The file digest (fs-verity's "file measurement") is the hash of a 256-byte descriptor that
// holds the Merkle tree's root hash and the file size. The tree: the data cut into 4096-byte
// blocks (the last one zero-padded) and each block hashed; the hashes packed 128 to a 4096-byte
// block (zero-padded) and each such block hashed, level after level, until one hash is left, the
// root hash. An empty file has an all-zero root hash; a file of one block has the hash of that
// block as root hash. Descriptor: version 1, hash algorithm 1 (SHA-256), log2 block size 12,
// salt size 0, 4 zero bytes, the file size (64-bit little-endian), the root hash in a 64-byte
// field, a 32-byte salt field and 144 reserved bytes, all zero-padded.
#pragma once

#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "backend.hpp"
#include "hash.hpp"
#include "result.hpp"
#include "xattr.hpp"

namespace ovlcore {

/// The block size of the digests computed here (fs-verity's default, composefs's choice).
inline constexpr std::size_t verity_block_size = 4096;

/// An fs-verity file digest: the algorithm (spec §2.2 digest_algo numbers) and its bytes
/// (32 for SHA-256, 64 for SHA-512). Bytes past `size` are zero, so == compares digests.
struct verity_digest {
    verity_algo algo = verity_algo::none;
    std::uint8_t size = 0;
    std::array<std::uint8_t, 64> bytes{};

    [[nodiscard]] std::span<const std::uint8_t> view() const noexcept {
        return {bytes.data(), size};
    }
    friend bool operator==(const verity_digest&, const verity_digest&) = default;
};

/// "sha256:<hex>" as `fsverity digest` and `fsverity measure` print it ("sha512:", or
/// "algo<N>:" for an unknown algorithm number).
[[nodiscard]] inline std::string to_string(const verity_digest& d) {
    std::string out = d.algo == verity_algo::sha256 ? "sha256:"
                      : d.algo == verity_algo::sha512
                          ? "sha512:"
                          : "algo" + std::to_string(static_cast<int>(d.algo)) + ":";
    static constexpr std::string_view hex = "0123456789abcdef";
    for (const std::uint8_t b : d.view()) {
        out += hex[b >> 4U];
        out += hex[b & 15U];
    }
    return out;
}

/// The digest a metacopy value carries (spec §2.2), or nullopt when it carries none: empty,
/// algorithm 0 (the kernel takes both as "no digest", spec §7) or more than 64 digest bytes.
[[nodiscard]] inline std::optional<verity_digest> digest_of(const metacopy_value& v) {
    if (v.digest_algo == 0 || v.digest.empty() || v.digest.size() > 64) return std::nullopt;
    verity_digest d{.algo = static_cast<verity_algo>(v.digest_algo),
                    .size = static_cast<std::uint8_t>(v.digest.size())};
    std::copy(v.digest.begin(), v.digest.end(), d.bytes.begin());
    return d;
}

/// Backends that can ask their filesystem for the fs-verity digest it enforces on an open file
/// provide `measure_verity(file)` (optional, detected like next_data, backend.hpp): the digest;
/// ENODATA when the file has no fs-verity; EOPNOTSUPP or ENOTTY when the filesystem or kernel has
/// none (posix_fs: FS_IOC_MEASURE_VERITY; without CONFIG_FS_VERITY every file answers so).
/// Wrappers derived from forwarding_fs forward it.
template <class B>
concept can_measure_verity = requires(const B& fs, const typename B::file& file) {
    { fs.measure_verity(file) } -> std::same_as<result<verity_digest>>;
};

namespace detail {

template <content_hasher H>
[[nodiscard]] std::array<std::uint8_t, 32> hash_block(std::span<const char> block) {
    H h;
    h.update(block);
    return h.final();
}

/// Hashes `count` 32-byte hashes (from `hashes`) packed into zero-padded 4 KiB blocks: the
/// next level of the tree, in place (the first ceil(count/128) entries).
template <content_hasher H>
[[nodiscard]] std::size_t hash_level(std::vector<std::array<std::uint8_t, 32>>& hashes,
                                     std::size_t count) {
    constexpr std::size_t per_block = verity_block_size / 32;
    std::array<char, verity_block_size> block{};
    std::size_t out = 0;
    for (std::size_t first = 0; first < count; first += per_block) {
        const std::size_t n = std::min(per_block, count - first);
        block.fill(0);
        for (std::size_t i = 0; i < n; ++i)
            std::copy(hashes[first + i].begin(), hashes[first + i].end(),
                      block.begin() + static_cast<std::ptrdiff_t>(32 * i));
        hashes[out++] = hash_block<H>(block);
    }
    return out;
}

} // namespace detail

/// The fs-verity SHA-256 file digest (4 KiB blocks, no salt) of the bytes `read(offset, buffer)`
/// (-> result<std::size_t>, 0 at end of file) returns from offset 0 to the end. A read error is
/// returned as it is. Memory: 32 bytes per 4 KiB of data, plus one 64 KiB buffer.
/// @see spec §7
template <content_hasher H = builtin_sha256, class Read>
[[nodiscard]] result<verity_digest> compute_verity_digest_from(Read&& read) {
    constexpr std::size_t chunk = 16 * verity_block_size;
    std::vector<char> buffer(chunk);
    std::vector<std::array<std::uint8_t, 32>> hashes;
    std::uint64_t size = 0;
    for (bool eof = false; !eof;) {
        std::size_t filled = 0; // a full chunk, or less at the end of the file
        while (filled < chunk) {
            OVLCORE_TRY_ASSIGN(n, read(size + filled, std::span<char>(buffer).subspan(filled)));
            if (n == 0) {
                eof = true;
                break;
            }
            filled += n;
        }
        std::fill(buffer.begin() + static_cast<std::ptrdiff_t>(filled), buffer.end(), char{0});
        for (std::size_t at = 0; at < filled; at += verity_block_size)
            hashes.push_back(detail::hash_block<H>(
                std::span<const char>(buffer).subspan(at, verity_block_size)));
        size += filled;
    }
    std::array<std::uint8_t, 32> root{}; // an empty file: all zeros
    if (!hashes.empty()) {
        std::size_t count = hashes.size();
        while (count > 1) count = detail::hash_level<H>(hashes, count);
        root = hashes.front();
    }
    std::array<char, 256> descriptor{};
    descriptor[0] = 1;  // version
    descriptor[1] = 1;  // hash algorithm: SHA-256
    descriptor[2] = 12; // log2 of the block size
    for (std::size_t i = 0; i < 8; ++i) descriptor[8 + i] = static_cast<char>(size >> (8 * i));
    std::copy(root.begin(), root.end(), descriptor.begin() + 16);
    const auto digest = detail::hash_block<H>(descriptor);
    verity_digest out{.algo = verity_algo::sha256, .size = 32};
    std::copy(digest.begin(), digest.end(), out.bytes.begin());
    return out;
}

/// compute_verity_digest_from() over an open file of any backend (its read()).
/// @see spec §7
template <content_hasher H = builtin_sha256, backing_filesystem B>
[[nodiscard]] result<verity_digest> compute_verity_digest(const B& fs,
                                                          const typename B::file& file) {
    return compute_verity_digest_from<H>(
        [&](std::uint64_t offset, std::span<char> buf) { return fs.read(file, offset, buf); });
}

/// compute_verity_digest_from() over bytes in memory.
template <content_hasher H = builtin_sha256>
[[nodiscard]] verity_digest compute_verity_digest(std::string_view data) {
    auto d = compute_verity_digest_from<H>(
        [&](std::uint64_t offset, std::span<char> buf) -> result<std::size_t> {
            if (offset >= data.size()) return std::size_t{0};
            const auto n = std::min(buf.size(), data.size() - static_cast<std::size_t>(offset));
            std::copy_n(data.data() + offset, n, buf.data());
            return n;
        });
    return *d;
}

/// The digest of an open file: the filesystem's (measure_verity, when the backend has it and
/// `measure`), else computed in userspace when `compute`; ENODATA when neither gives one.
template <content_hasher H = builtin_sha256, backing_filesystem B>
[[nodiscard]] result<verity_digest> file_verity_digest(const B& fs, const typename B::file& file,
                                                       bool measure, bool compute) {
    if constexpr (can_measure_verity<B>)
        if (measure) return fs.measure_verity(file);
    if (compute) return compute_verity_digest<H>(fs, file);
    return fail(std::errc::no_message_available); // ENODATA
}

} // namespace ovlcore
