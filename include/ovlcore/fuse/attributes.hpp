// SPDX-License-Identifier: MIT
// ovlcore/fuse/attributes.hpp: ovlcore's stat_info and file types as the struct stat and mode
// bits a FUSE reply carries. Implements docs/fuse.md §2 (getattr, lookup, readdir); spec §9.
#pragma once

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>

#include "../types.hpp"

namespace ovlcore::fuse {

/// The S_IFMT bits of a file type (0 for unknown).
[[nodiscard]] inline mode_t type_bits(file_type t) noexcept {
    switch (t) {
    case file_type::regular: return S_IFREG;
    case file_type::directory: return S_IFDIR;
    case file_type::symlink: return S_IFLNK;
    case file_type::char_device: return S_IFCHR;
    case file_type::block_device: return S_IFBLK;
    case file_type::fifo: return S_IFIFO;
    case file_type::socket: return S_IFSOCK;
    case file_type::unknown: break;
    }
    return 0;
}

/// An overlay object's stat (spec §9) as struct stat. st_dev is left 0: FUSE reports its own.
[[nodiscard]] inline struct stat to_stat(const stat_info& s) noexcept {
    struct stat st {};
    st.st_ino = s.ino;
    st.st_mode = type_bits(s.type) | (s.mode & 07777U);
    st.st_nlink = static_cast<nlink_t>(s.nlink);
    st.st_uid = s.uid;
    st.st_gid = s.gid;
    st.st_rdev = makedev(s.rdev_major, s.rdev_minor);
    st.st_size = static_cast<off_t>(s.size);
    st.st_blocks = static_cast<blkcnt_t>(s.blocks);
    st.st_blksize = static_cast<blksize_t>(s.blksize);
    st.st_atim.tv_sec = s.atime.sec;
    st.st_atim.tv_nsec = s.atime.nsec;
    st.st_mtim.tv_sec = s.mtime.sec;
    st.st_mtim.tv_nsec = s.mtime.nsec;
    st.st_ctim.tv_sec = s.ctime.sec;
    st.st_ctim.tv_nsec = s.ctime.nsec;
    return st;
}

/// The struct stat of a directory entry that was not looked up: its inode number and type only.
[[nodiscard]] inline struct stat entry_stat(const dir_entry& e) noexcept {
    struct stat st {};
    st.st_ino = e.ino;
    st.st_mode = type_bits(e.type);
    return st;
}

} // namespace ovlcore::fuse
