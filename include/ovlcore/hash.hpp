// SPDX-License-Identifier: MIT
// ovlcore/hash.hpp: the SHA-256 hasher concept that the dump's content hashes (dump-format.md)
// and the fs-verity digests (verity.hpp, spec §7) are computed with, and the built-in model of it.
// Users include it through dump.hpp or verity.hpp, or directly to plug in their own hasher (a
// content_hasher type, or a sha256_function chosen at run time).
#pragma once

#include <array>
#include <concepts>
#include <cstdint>
#include <span>
#include <string_view>

#include "detail/sha256.hpp"

namespace ovlcore {

/// What computes a SHA-256 (the dump's `sha256` field, the blocks of an fs-verity Merkle tree): a
/// fresh default-constructed object per hash, update() with the bytes in order (split anywhere),
/// then final() once, which returns the digest. builtin_sha256 is the default (no dependency);
/// the tools plug in OpenSSL's (tools/common/evp_sha256.hpp). Any model must give the same digest.
template <class H>
concept content_hasher = std::default_initializable<H> &&
    requires(H& hash, std::span<const char> data) {
    hash.update(data);
    { hash.final() } -> std::same_as<std::array<std::uint8_t, 32>>;
};

/// The built-in SHA-256 (detail/sha256.hpp) as a content_hasher; about 130 MB/s.
class builtin_sha256 {
public:
    void update(std::span<const char> data) noexcept {
        m_hash.update(std::string_view(data.data(), data.size()));
    }
    [[nodiscard]] std::array<std::uint8_t, 32> final() noexcept { return m_hash.digest(); }

private:
    detail::sha256 m_hash;
};
static_assert(content_hasher<builtin_sha256>);

/// A SHA-256 of one buffer as a plain function: how a hasher is chosen at run time, e.g. for the
/// fs-verity digests of overlay_options::verity_sha256 and lint_options::verity_sha256
/// (verity.hpp). sha256_with<H> makes one from any content_hasher; the default everywhere is
/// sha256_with<builtin_sha256>, the tools pass sha256_with<cli::evp_sha256> (OpenSSL).
using sha256_function = std::array<std::uint8_t, 32> (*)(std::span<const char>);

/// The SHA-256 of `data` computed by a fresh H.
template <content_hasher H>
[[nodiscard]] std::array<std::uint8_t, 32> sha256_with(std::span<const char> data) {
    H hash;
    hash.update(data);
    return hash.final();
}

} // namespace ovlcore
