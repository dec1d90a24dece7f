// SPDX-License-Identifier: MIT
// ovlcore/detail/unique_fd.hpp: an owned file descriptor, shared by the Linux backends
// (posix.hpp, posix_tree.hpp, erofs.hpp, images.hpp) so that a descriptor they take over is closed
// on every path out, std::bad_alloc included (docs/contributing.md §13). Internal: users do not
// include it.
#pragma once

#include <utility>

#include <unistd.h>

namespace ovlcore::detail {

/// An owned file descriptor (closed on destruction). Movable, not copyable.
class unique_fd {
public:
    unique_fd() noexcept = default;
    explicit unique_fd(int fd) noexcept : m_fd(fd) {}
    unique_fd(unique_fd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
    unique_fd& operator=(unique_fd&& other) noexcept {
        if (this != &other) reset(std::exchange(other.m_fd, -1));
        return *this;
    }
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    ~unique_fd() { reset(); }

    [[nodiscard]] int get() const noexcept { return m_fd; }
    [[nodiscard]] bool valid() const noexcept { return m_fd >= 0; }
    void reset(int fd = -1) noexcept {
        if (m_fd >= 0) ::close(m_fd);
        m_fd = fd;
    }

private:
    int m_fd = -1;
};

} // namespace ovlcore::detail
