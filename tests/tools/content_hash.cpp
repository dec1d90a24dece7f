// SPDX-License-Identifier: MIT
// tests/tools/content_hash.cpp: the tools' SHA-256 (tools/common/evp_sha256.hpp, OpenSSL EVP)
// gives the digest of the built-in one (ovlcore::builtin_sha256) and of coreutils sha256sum, for
// sizes around the 64-byte block and its 56-byte padding limit, fed whole and in odd pieces, so a
// dump keeps the same `sha256` fields (docs/dump-format.md). Run by ctest
// ("tools: content hash"); argument: a scratch directory. Exit 0 when all agree.
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
    }
    if (failures == 0) std::printf("content hash: %zu sizes agree\n", sizes.size());
    return failures == 0 ? 0 : 1;
}
