// SPDX-License-Identifier: MIT
// tests/support/temp_dir.hpp: an RAII temporary directory under /tmp (or $TMPDIR), removed with
// everything in it when the object dies. Test support only.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include <unistd.h>

namespace ovlcore::test {

/// mkdtemp(3) directory "<tmp>/<prefix>XXXXXX" (mode 0700), removed recursively on destruction
/// (symlinks inside are removed, never followed). Throws std::system_error if it cannot be made.
class temp_dir {
public:
    explicit temp_dir(std::string_view prefix = "ovlcore-test-") {
        const char* env = std::getenv("TMPDIR");
        std::string base = (env && *env) ? env : "/tmp";
        std::string templ = base + "/" + std::string(prefix) + "XXXXXX";
        if (::mkdtemp(templ.data()) == nullptr)
            throw std::system_error(errno, std::generic_category(), "mkdtemp " + templ);
        m_path = templ;
    }
    temp_dir(temp_dir&& other) noexcept : m_path(std::exchange(other.m_path, {})) {}
    temp_dir& operator=(temp_dir&& other) noexcept {
        if (this != &other) {
            remove();
            m_path = std::exchange(other.m_path, {});
        }
        return *this;
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    ~temp_dir() { remove(); }

    [[nodiscard]] const std::filesystem::path& path() const noexcept { return m_path; }
    /// path() / rel
    [[nodiscard]] std::filesystem::path operator/(const std::filesystem::path& rel) const {
        return m_path / rel;
    }
    /// The path as a string, for C APIs.
    [[nodiscard]] std::string str() const { return m_path.string(); }

private:
    std::filesystem::path m_path;

    void remove() noexcept {
        if (m_path.empty()) return;
        std::error_code ec;
        std::filesystem::remove_all(m_path, ec); // best effort; never throws from a destructor
        if (ec) { // e.g. a mode 0000 directory when not root: make directories writable, retry
            make_writable(m_path);
            std::filesystem::remove_all(m_path, ec);
        }
        m_path.clear();
    }

    static void make_writable(const std::filesystem::path& dir) noexcept {
        std::error_code ec;
        if (!std::filesystem::is_directory(std::filesystem::symlink_status(dir, ec))) return;
        std::filesystem::permissions(dir, std::filesystem::perms::owner_all,
                                     std::filesystem::perm_options::add, ec);
        for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end;
             it.increment(ec))
            make_writable(it->path());
    }
};

} // namespace ovlcore::test
