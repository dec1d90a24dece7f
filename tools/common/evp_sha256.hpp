// SPDX-License-Identifier: MIT
// tools/common/evp_sha256.hpp: evp_sha256, the content_hasher (include/ovlcore/dump.hpp) the
// tools use for the dump's `sha256` field and, as sha256_with<evp_sha256> (hash.hpp), for the
// fs-verity digests of --verity-digests=compute (verity.hpp): OpenSSL's libcrypto through EVP,
// hardware-accelerated (SHA-NI, AVX2) where the CPU has it. Same digests as the built-in one
// (docs/dump-format.md).
// Tools only: the header-only library keeps no dependency (CMake: OpenSSL::Crypto, tools/).
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <span>

#include <openssl/evp.h>

#include <ovlcore/dump.hpp>

namespace ovlcore::cli {

/// SHA-256 through OpenSSL's EVP interface. A failing EVP call (only out of memory) aborts: the
/// dump has no channel for it and a wrong digest must never be printed.
class evp_sha256 {
public:
    evp_sha256() : m_ctx(EVP_MD_CTX_new()) {
        check(m_ctx != nullptr && EVP_DigestInit_ex(m_ctx.get(), EVP_sha256(), nullptr) == 1);
    }

    void update(std::span<const char> data) {
        check(EVP_DigestUpdate(m_ctx.get(), data.data(), data.size()) == 1);
    }

    [[nodiscard]] std::array<std::uint8_t, 32> final() {
        std::array<std::uint8_t, 32> out{};
        unsigned int len = 0;
        check(EVP_DigestFinal_ex(m_ctx.get(), out.data(), &len) == 1 && len == out.size());
        return out;
    }

private:
    struct ctx_free {
        void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
    };

    static void check(bool ok) {
        if (ok) return;
        std::fputs("ovlcore: OpenSSL SHA-256 failed\n", stderr);
        std::abort();
    }

    std::unique_ptr<EVP_MD_CTX, ctx_free> m_ctx;
};

static_assert(content_hasher<evp_sha256>, "evp_sha256 must model ovlcore::content_hasher");

} // namespace ovlcore::cli
