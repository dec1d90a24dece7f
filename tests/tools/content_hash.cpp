// SPDX-License-Identifier: MIT
// tests/tools/content_hash.cpp: the tools' SHA-256 (tools/common/evp_sha256.hpp, OpenSSL EVP)
// gives the digest of the built-in one (ovlcore::builtin_sha256) and of coreutils sha256sum, for
// sizes around the 64-byte block and its 56-byte padding limit, fed whole and in odd pieces, so a
// dump keeps the same `sha256` fields (docs/dump-format.md); and the fs-verity digest computed
// with it (sha256_with<evp_sha256>, what the tools pass, verity.hpp) equals the built-in one and
// the digests `fsverity digest` gave (tests/unit/verity.cpp, spec §7). Run by ctest
// ("tools: content hash"); argument: a scratch directory. Exit 0 when all agree.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <ovlcore/dump.hpp>
#include <ovlcore/verity.hpp>

#include "common/evp_sha256.hpp"

namespace {

template <ovlcore::content_hasher H>
std::string digest_of(std::string_view data, std::size_t piece) {
    H hash;
    for (std::size_t at = 0; at < data.size(); at += piece) {
        const std::size_t n = data.size() - at < piece ? data.size() - at : piece;
        hash.update(std::span<const char>(data.data() + at, n));
    }
    return ovlcore::detail::hex_digest(hash.final());
}

std::string sha256sum(const std::string& file) {
    const std::string cmd = "sha256sum '" + file + "'";
    FILE* pipe = ::popen(cmd.c_str(), "r");
    if (pipe == nullptr) return "popen failed";
    std::array<char, 64> hex{};
    const std::size_t got = std::fread(hex.data(), 1, hex.size(), pipe);
    ::pclose(pipe);
    return std::string(hex.data(), got);
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fputs("usage: content_hash SCRATCH_DIR\n", stderr);
        return 64;
    }
    const std::string dir = argv[1];
    int failures = 0;
    const std::vector<std::size_t> sizes = {0, 1, 55, 56, 63, 64, 65, 4096, 1024 * 1024 + 1};
    for (const std::size_t size : sizes) {
        std::string data(size, '\0');
        std::uint32_t x = 2463534242U + static_cast<std::uint32_t>(size); // xorshift32 bytes
        for (char& c : data) {
            x ^= x << 13U;
            x ^= x >> 17U;
            x ^= x << 5U;
            c = static_cast<char>(x & 0xFFU);
        }
        const std::string file = dir + "/content-" + std::to_string(size);
        std::ofstream(file, std::ios::binary)
            .write(data.data(), static_cast<std::streamsize>(size));
        const std::string reference = sha256sum(file);
        for (const std::size_t piece : {std::size_t{1} << 16, std::size_t{1}, std::size_t{7},
                                        std::size_t{64}, std::size_t{100}}) {
            if (piece == 1 && size > 4096) continue; // byte by byte: slow, nothing new
            const std::string evp = digest_of<ovlcore::cli::evp_sha256>(data, piece);
            const std::string builtin = digest_of<ovlcore::builtin_sha256>(data, piece);
            if (evp != reference || builtin != reference) {
                std::fprintf(stderr, "size %zu, pieces of %zu: evp %s builtin %s sha256sum %s\n",
                             size, piece, evp.c_str(), builtin.c_str(), reference.c_str());
                ++failures;
            }
        }
        std::remove(file.c_str());
        // The fs-verity digest with the tools' SHA-256 equals the built-in one (spec §7).
        auto read = [&](std::uint64_t offset, std::span<char> buf) -> ovlcore::result<std::size_t> {
            if (offset >= data.size()) return std::size_t{0};
            const std::size_t n = std::min(buf.size(), data.size() - offset);
            std::copy_n(data.data() + offset, n, buf.data());
            return n;
        };
        const auto evp = ovlcore::compute_verity_digest_from(
            read, &ovlcore::sha256_with<ovlcore::cli::evp_sha256>);
        const auto builtin = ovlcore::compute_verity_digest_from(read);
        if (!evp || !builtin || *evp != *builtin) {
            std::fprintf(stderr, "size %zu: fs-verity digests differ (evp %s, builtin %s)\n", size,
                         evp ? ovlcore::to_string(*evp).c_str() : "error",
                         builtin ? ovlcore::to_string(*builtin).c_str() : "error");
            ++failures;
        }
    }
    // A recorded `fsverity digest` (fsverity-utils 1.5, tests/unit/verity.cpp): "data\n".
    const auto recorded = ovlcore::compute_verity_digest_from(
        [](std::uint64_t offset, std::span<char> buf) -> ovlcore::result<std::size_t> {
            const std::string_view data = "data\n";
            if (offset >= data.size() || buf.empty()) return std::size_t{0};
            const std::size_t n = std::min(buf.size(), data.size() - offset);
            std::copy_n(data.data() + offset, n, buf.data());
            return n;
        },
        &ovlcore::sha256_with<ovlcore::cli::evp_sha256>);
    if (!recorded ||
        ovlcore::to_string(*recorded) !=
            "sha256:223c0c4f67bbe577eaba3943d77c8071ab42385702862cb24b7c24900c74d631") {
        std::fputs("fs-verity digest of \"data\\n\" with evp_sha256 differs from fsverity's\n",
                   stderr);
        ++failures;
    }
    if (failures == 0) std::printf("content hash: %zu sizes agree\n", sizes.size());
    return failures == 0 ? 0 : 1;
}
