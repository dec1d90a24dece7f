// SPDX-License-Identifier: MIT
// ovlcore/detail/sha256.hpp: a small constexpr SHA-256 (FIPS 180-4) for the canonical dump's
// `sha256` field (dump-format.md). Internal: users do not include it.
//
// Written from the FIPS 180-4 description; tested against the FIPS 180-2 example vectors
// (tests/unit/dump.cpp). Speed is secondary: the dump hashes test-sized files.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ovlcore::detail {

/// Incremental SHA-256: update() any number of times, then digest() or hex_digest() once.
/// Every member is constexpr, so digests of literals can be checked with static_assert.
class sha256 {
public:
    using digest_type = std::array<std::uint8_t, 32>;

    constexpr void update(std::string_view data) noexcept {
        for (const char c : data) {
            m_block[m_block_len++] = static_cast<std::uint8_t>(c);
            if (m_block_len == m_block.size()) {
                compress();
                m_block_len = 0;
            }
        }
        m_total_bytes += data.size();
    }

    /// Pads, finishes and returns the digest. The object must not be updated afterwards.
    [[nodiscard]] constexpr digest_type digest() noexcept {
        const std::uint64_t bit_len = m_total_bytes * 8U;
        m_block[m_block_len++] = 0x80U;
        if (m_block_len > 56) {
            while (m_block_len < 64) m_block[m_block_len++] = 0;
            compress();
            m_block_len = 0;
        }
        while (m_block_len < 56) m_block[m_block_len++] = 0;
        for (int i = 7; i >= 0; --i)
            m_block[m_block_len++] = static_cast<std::uint8_t>(bit_len >> (8 * i));
        compress();
        m_block_len = 0;

        digest_type out{};
        for (std::size_t i = 0; i < 8; ++i)
            for (std::size_t j = 0; j < 4; ++j)
                out[4 * i + j] = static_cast<std::uint8_t>(m_state[i] >> (24 - 8 * j));
        return out;
    }

    /// The digest as 64 lowercase hex digits (the dump's spelling).
    [[nodiscard]] std::string hex_digest();

private:
    static constexpr std::uint32_t rotr(std::uint32_t x, int n) noexcept {
        return (x >> n) | (x << (32 - n));
    }

    constexpr void compress() noexcept {
        // The first 32 bits of the fractional parts of the cube roots of the first 64 primes.
        constexpr std::uint32_t k[64] = {
            0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
            0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
            0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
            0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
            0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
            0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
            0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
            0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
            0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
            0xc67178f2};

        std::uint32_t w[64] = {};
        for (std::size_t i = 0; i < 16; ++i)
            w[i] = (std::uint32_t{m_block[4 * i]} << 24) |
                   (std::uint32_t{m_block[4 * i + 1]} << 16) |
                   (std::uint32_t{m_block[4 * i + 2]} << 8) | std::uint32_t{m_block[4 * i + 3]};
        for (std::size_t i = 16; i < 64; ++i) {
            const std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
            const std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }

        std::uint32_t a = m_state[0], b = m_state[1], c = m_state[2], d = m_state[3];
        std::uint32_t e = m_state[4], f = m_state[5], g = m_state[6], h = m_state[7];
        for (std::size_t i = 0; i < 64; ++i) {
            const std::uint32_t s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
            const std::uint32_t ch = (e & f) ^ (~e & g);
            const std::uint32_t t1 = h + s1 + ch + k[i] + w[i];
            const std::uint32_t s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
            const std::uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
            const std::uint32_t t2 = s0 + maj;
            h = g;
            g = f;
            f = e;
            e = d + t1;
            d = c;
            c = b;
            b = a;
            a = t1 + t2;
        }
        m_state[0] += a;
        m_state[1] += b;
        m_state[2] += c;
        m_state[3] += d;
        m_state[4] += e;
        m_state[5] += f;
        m_state[6] += g;
        m_state[7] += h;
    }

    // Initial hash value: the first 32 bits of the fractional parts of the square roots of the
    // first 8 primes.
    std::array<std::uint32_t, 8> m_state = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                            0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    std::array<std::uint8_t, 64> m_block{};
    std::size_t m_block_len = 0;
    std::uint64_t m_total_bytes = 0;
};

/// A digest as 64 lowercase hex digits (the dump's spelling).
[[nodiscard]] inline std::string hex_digest(const sha256::digest_type& digest) {
    constexpr std::string_view digits = "0123456789abcdef";
    std::string out;
    out.reserve(64);
    for (const std::uint8_t b : digest) {
        out.push_back(digits[b >> 4U]);
        out.push_back(digits[b & 0x0FU]);
    }
    return out;
}

inline std::string sha256::hex_digest() { return detail::hex_digest(digest()); }

/// One-shot digest of `data`, usable in constant expressions.
[[nodiscard]] constexpr sha256::digest_type sha256_of(std::string_view data) noexcept {
    sha256 h;
    h.update(data);
    return h.digest();
}

/// One-shot lowercase hex digest of `data`.
[[nodiscard]] inline std::string sha256_hex(std::string_view data) {
    sha256 h;
    h.update(data);
    return h.hex_digest();
}

} // namespace ovlcore::detail
