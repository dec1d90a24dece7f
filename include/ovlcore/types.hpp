// SPDX-License-Identifier: MIT
// ovlcore/types.hpp: the value types every component shares: file_type, stat_info, dir_entry,
// layer_kind (spec §0, §9). Users include it (through ovlcore.hpp).
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

namespace ovlcore {

/// The type of a real or overlay object. `unknown` is a d_type the backend could not tell, or an
/// object that is none of the POSIX types (a "weird" object for lookup: EREMOTE, spec §5.1).
enum class file_type : std::uint8_t {
    unknown,
    regular,
    directory,
    symlink,
    char_device,
    block_device,
    fifo,
    socket,
};

/// The dump-format name of a type: "reg", "dir", "lnk", "chr", "blk", "fifo", "sock" ("unknown").
[[nodiscard]] constexpr std::string_view dump_name(file_type t) noexcept {
    switch (t) {
    case file_type::regular: return "reg";
    case file_type::directory: return "dir";
    case file_type::symlink: return "lnk";
    case file_type::char_device: return "chr";
    case file_type::block_device: return "blk";
    case file_type::fifo: return "fifo";
    case file_type::socket: return "sock";
    case file_type::unknown: break;
    }
    return "unknown";
}

/// A point in time as struct statx_timestamp carries it.
struct timestamp {
    std::int64_t sec = 0;
    std::uint32_t nsec = 0;
    friend constexpr auto operator<=>(const timestamp&, const timestamp&) = default;
};

/// What lstat reports for a real entry or an overlay object (spec §9).
struct stat_info {
    file_type type = file_type::unknown;
    std::uint32_t mode = 0; ///< permission bits with suid/sgid/sticky (st_mode & 07777)
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    std::uint64_t size = 0;
    std::uint64_t nlink = 1;
    std::uint64_t ino = 0;
    std::uint64_t dev = 0;
    std::uint32_t rdev_major = 0; ///< chr/blk only
    std::uint32_t rdev_minor = 0;
    std::uint64_t blocks = 0; ///< 512-byte units
    std::uint32_t blksize = 4096;
    timestamp atime{};
    timestamp mtime{};
    timestamp ctime{};
    friend constexpr bool operator==(const stat_info&, const stat_info&) = default;
};

/// Identity of a real object: (st_dev, st_ino).
struct file_id {
    std::uint64_t dev = 0;
    std::uint64_t ino = 0;
    // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 takes the 0 of `(a <=> b) < 0` for one
    friend constexpr auto operator<=>(const file_id&, const file_id&) = default;
};

/// The (st_dev, st_ino) of a stat.
[[nodiscard]] constexpr file_id file_id_of(const stat_info& st) noexcept {
    return file_id{.dev = st.dev, .ino = st.ino};
}

/// One name in a directory listing. `.` and `..` are never part of a backend listing.
struct dir_entry {
    std::string name;
    file_type type = file_type::unknown; ///< d_type; `unknown` if the backend cannot tell
    std::uint64_t ino = 0;               ///< d_ino (0 if unknown)
    friend bool operator==(const dir_entry&, const dir_entry&) = default;
};

/// Where a layer sits in the stack (spec §0): index 0 upper, then normal lowers, then data-only lowers.
enum class layer_kind : std::uint8_t { upper, lower, data_only };

[[nodiscard]] constexpr std::string_view to_string(layer_kind k) noexcept {
    switch (k) {
    case layer_kind::upper: return "upper";
    case layer_kind::lower: return "lower";
    case layer_kind::data_only: return "data-only";
    }
    return "?";
}

} // namespace ovlcore
