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
// field, a 32-byte salt field and 144 reserved bytes, all zero-padded. The tree is built as the
// data streams in, one pending 4 KiB block per level (detail::verity_tree), so memory does not
// grow with the file. The SHA-256 is pluggable (hash.hpp: a content_hasher type, or a
// sha256_function at run time); the built-in one is the default, the tools pass OpenSSL's.
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
#include <utility>
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

/// The Merkle tree (see the top of this file) built while the data streams in: each level keeps
/// one 4 KiB block of the hashes not yet hashed into the level above, so memory is one block per
/// level (a 1 TB file has five levels), never a hash per data block.
class verity_tree {
public:
    explicit verity_tree(sha256_function sha256) noexcept
        : m_sha256(sha256 != nullptr ? sha256 : &sha256_with<builtin_sha256>) {}

    /// The next data block (4 KiB, zero-padded at the end of the file).
    void add_block(std::span<const char> block) { push(0, m_sha256(block)); }

    /// The root hash: all zeros without data; the single hash of the highest level.
    [[nodiscard]] std::array<std::uint8_t, 32> root() {
        if (m_levels.empty()) return {};
        for (std::size_t i = 0;; ++i) {
            if (i + 1 == m_levels.size() && m_levels[i].total == 1) {
                std::array<std::uint8_t, 32> out{};
                std::copy_n(m_levels[i].block.begin(), out.size(), out.begin());
                return out;
            }
            if (m_levels[i].pending != 0) push(i + 1, seal(m_levels[i])); // zero-padded block
        }
    }

    /// The levels held so far (each one 4 KiB block): what bounds the memory.
    [[nodiscard]] std::size_t level_count() const noexcept { return m_levels.size(); }

private:
    static constexpr std::size_t per_block = verity_block_size / 32;
    struct level {
        std::array<char, verity_block_size> block{}; ///< pending hashes, zero-padded
        std::size_t pending = 0;                     ///< hashes in `block`
        std::uint64_t total = 0;                     ///< hashes this level ever received
    };

    /// Hashes a level's pending block and empties it.
    std::array<std::uint8_t, 32> seal(level& l) {
        const auto out = m_sha256(l.block);
        l.block.fill(0);
        l.pending = 0;
        return out;
    }

    void push(std::size_t at, const std::array<std::uint8_t, 32>& hash) {
        if (at == m_levels.size()) m_levels.emplace_back();
        level& l = m_levels[at];
        std::copy(hash.begin(), hash.end(),
                  l.block.begin() + static_cast<std::ptrdiff_t>(32 * l.pending));
        ++l.pending;
        ++l.total;
        if (l.pending == per_block) push(at + 1, seal(l)); // `l` is not used after this
    }

    sha256_function m_sha256;
    std::vector<level> m_levels;
};

} // namespace detail

/// The fs-verity SHA-256 file digest (4 KiB blocks, no salt) of the bytes `read(offset, buffer)`
/// (-> result<std::size_t>, 0 at end of file) returns from offset 0 to the end, each SHA-256
/// computed by `sha256` (hash.hpp; the tools pass OpenSSL's). A read error is returned as it is.
/// Memory: one 4 KiB block per tree level (detail::verity_tree) and one 64 KiB read buffer,
/// whatever the file's size.
/// @see spec §7
template <class Read>
[[nodiscard]] result<verity_digest> compute_verity_digest_from(Read&& read,
                                                               sha256_function sha256) {
    if (sha256 == nullptr) sha256 = &sha256_with<builtin_sha256>; // none given: the built-in
    constexpr std::size_t chunk = 16 * verity_block_size;
    std::vector<char> buffer(chunk);
    detail::verity_tree tree(sha256);
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
        const std::span<char> data = std::span<char>(buffer).first(std::min(filled, chunk));
        for (std::size_t at = 0; at < data.size(); at += verity_block_size) {
            const std::span<char> block =
                data.subspan(at, std::min(verity_block_size, data.size() - at));
            if (block.size() == verity_block_size) {
                tree.add_block(block);
                continue;
            }
            std::array<char, verity_block_size> last{}; // the file's end, zero-padded
            std::copy(block.begin(), block.end(), last.begin());
            tree.add_block(last);
        }
        size += filled;
    }
    const std::array<std::uint8_t, 32> root = tree.root();
    std::array<char, 256> descriptor{};
    descriptor[0] = 1;  // version
    descriptor[1] = 1;  // hash algorithm: SHA-256
    descriptor[2] = 12; // log2 of the block size
    for (std::size_t i = 0; i < 8; ++i) descriptor[8 + i] = static_cast<char>(size >> (8 * i));
    std::copy(root.begin(), root.end(), descriptor.begin() + 16);
    const auto digest = sha256(descriptor);
    verity_digest out{.algo = verity_algo::sha256, .size = 32};
    std::copy(digest.begin(), digest.end(), out.bytes.begin());
    return out;
}

/// compute_verity_digest_from() with the SHA-256 of the content_hasher H (hash.hpp).
/// @see spec §7
template <content_hasher H = builtin_sha256, class Read>
[[nodiscard]] result<verity_digest> compute_verity_digest_from(Read&& read) {
    return compute_verity_digest_from(std::forward<Read>(read), &sha256_with<H>);
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
/// `measure`), else computed in userspace with `sha256` when `compute`; ENODATA when neither
/// gives one.
template <backing_filesystem B>
[[nodiscard]] result<verity_digest>
file_verity_digest(const B& fs, const typename B::file& file, bool measure, bool compute,
                   sha256_function sha256 = &sha256_with<builtin_sha256>) {
    if constexpr (can_measure_verity<B>)
        if (measure) return fs.measure_verity(file);
    if (compute)
        return compute_verity_digest_from(
            [&](std::uint64_t offset, std::span<char> buf) { return fs.read(file, offset, buf); },
            sha256);
    return fail(std::errc::no_message_available); // ENODATA
}

} // namespace ovlcore
