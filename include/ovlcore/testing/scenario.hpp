// SPDX-License-Identifier: MIT
// ovlcore/testing/scenario.hpp: layer-stack scenarios, the unit the property-testing headers
// generate, shrink and compare: a JSON document (format: docs/testing.md §1) naming
// layers, their entries and the mount options, parsed and then built in a memory_fs or on disk,
// the same way for both, so the two backends agree (spec §0 layers, §3 whiteouts). Opt-in
// (target ovlcore::testing, needs nlohmann_json); errors are exceptions (std::runtime_error
// naming the file and entry), as befits test code.
//
// Building rules, identical for both targets:
// - every layer is a directory <root>/<name> with mode 0755 owned 0:0, made in JSON order, then
//   the workdirs (<root>/<W>, 0755, empty); entries are made in JSON order;
// - missing parents of an entry are directories 0755 owned 0:0; an entry "/" is the layer root
//   itself (its mode/uid/gid/xattrs apply to it); an entry for an existing directory path with
//   type "dir" only changes its attributes; an entry for another existing path replaces it;
// - reg: `content` written first, then `size` truncates or extends it (sparse); dir; lnk
//   (`target`; symlinks always have mode 0777); chr/blk (`rdev` "MAJ:MIN"); fifo; sock; whiteout
//   (char device 0:0, mode 0000 unless `mode` says otherwise);
// - default modes 0644 (non-directories) and 0755 (directories), uid/gid 0 unless given, set
//   explicitly (chmod after chown), so the result does not depend on the umask;
// - xattrs in JSON order; a value "hex:..." is bytes, anything else is the text itself.
// On disk, chown/mknod/trusted.* need root: when not root, entries without explicit uid/gid keep
// the caller's ids and anything needing a privilege throws.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "../backend/memory.hpp"
#include "../detail/path.hpp"
#include "../types.hpp"

namespace ovlcore::testing {

/// One ENTRY of a layer.
struct scenario_entry {
    std::string path;                  ///< relative to the layer root, "" for the root ("/")
    std::string type;                  ///< reg dir lnk chr blk fifo sock whiteout
    std::string content;               ///< reg: bytes written first
    std::optional<std::uint64_t> size; ///< reg: truncate/extend to this size afterwards
    std::optional<std::uint32_t> mode; ///< permission bits (07777)
    std::optional<std::uint32_t> uid;
    std::optional<std::uint32_t> gid;
    std::string target;           ///< lnk
    std::uint32_t rdev_major = 0; ///< chr/blk
    std::uint32_t rdev_minor = 0;
    std::vector<std::pair<std::string, std::string>> xattrs; ///< decoded values, JSON order
};

struct scenario_layer {
    std::string name;
    std::vector<scenario_entry> entries;
};

// nlohmann's json member makes clang-tidy 14 see a throwing implicit member; none throws.
struct scenario {     // NOLINT(bugprone-exception-escape)
    std::string name; ///< file stem ("" when parsed from a string)
    std::string why;
    std::string options; ///< with {NAME}/{ROOT} placeholders
    std::vector<std::string> workdirs;
    std::vector<std::string> paths; ///< extra probes
    std::vector<std::string> focus;
    std::vector<scenario_layer> layers;
    nlohmann::ordered_json raw; ///< the whole document
};

namespace detail {

[[noreturn]] inline void scenario_error(const std::string& where, const std::string& what) {
    throw std::runtime_error(where + ": " + what);
}

inline std::uint32_t parse_mode(const nlohmann::ordered_json& v, const std::string& where) {
    if (v.is_number_unsigned()) return v.get<std::uint32_t>() & 07777u;
    if (!v.is_string()) scenario_error(where, "mode must be an octal string such as \"0644\"");
    const auto s = v.get<std::string>();
    if (s.empty() || s.size() > 6 || s.find_first_not_of("01234567") != std::string::npos)
        scenario_error(where, "bad mode \"" + s + "\"");
    return static_cast<std::uint32_t>(std::stoul(s, nullptr, 8)) & 07777u;
}

inline std::string decode_xattr_value(const std::string& v, const std::string& where) {
    if (v.rfind("hex:", 0) != 0) return v;
    const std::string_view hex = std::string_view(v).substr(4);
    if (hex.size() % 2 != 0) scenario_error(where, "odd number of hex digits in \"" + v + "\"");
    auto nibble = [&](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        scenario_error(where, "bad hex digit in \"" + v + "\"");
    };
    std::string out;
    for (std::size_t i = 0; i < hex.size(); i += 2)
        out.push_back(static_cast<char>(nibble(hex[i]) * 16 + nibble(hex[i + 1])));
    return out;
}

inline std::vector<std::string> string_list(const nlohmann::ordered_json& doc, const char* key,
                                            const std::string& where) {
    std::vector<std::string> out;
    if (!doc.contains(key)) return out;
    if (!doc[key].is_array()) scenario_error(where, std::string(key) + " must be an array");
    for (const auto& v : doc[key]) out.push_back(v.get<std::string>());
    return out;
}

inline scenario_entry parse_entry(const nlohmann::ordered_json& e, const std::string& where0) {
    if (!e.is_object()) scenario_error(where0, "an entry must be an object");
    scenario_entry out;
    if (!e.contains("path") || !e.contains("type"))
        scenario_error(where0, "entry needs path and type");
    std::string p = e["path"].get<std::string>();
    const std::string where = where0 + " entry \"" + p + "\"";
    while (!p.empty() && p.front() == '/') p.erase(0, 1);
    while (!p.empty() && p.back() == '/') p.pop_back();
    for (auto c : ovlcore::detail::split_path(p))
        if (c == "." || c == "..") scenario_error(where, "no . or .. in entry paths");
    out.path = p;
    out.type = e["type"].get<std::string>();
    static constexpr std::string_view types[] = {"reg", "dir",  "lnk",  "chr",
                                                 "blk", "fifo", "sock", "whiteout"};
    if (std::find(std::begin(types), std::end(types), out.type) == std::end(types))
        scenario_error(where, "unknown type \"" + out.type + "\"");
    if (out.path.empty() && out.type != "dir") scenario_error(where, "\"/\" must be a dir");
    if (e.contains("content")) out.content = e["content"].get<std::string>();
    if (e.contains("size")) out.size = e["size"].get<std::uint64_t>();
    if (e.contains("mode")) out.mode = parse_mode(e["mode"], where);
    if (e.contains("uid")) out.uid = e["uid"].get<std::uint32_t>();
    if (e.contains("gid")) out.gid = e["gid"].get<std::uint32_t>();
    if (e.contains("target")) out.target = e["target"].get<std::string>();
    if (out.type == "lnk" && !e.contains("target")) scenario_error(where, "lnk needs a target");
    if (e.contains("rdev")) {
        const auto r = e["rdev"].get<std::string>();
        const auto colon = r.find(':');
        if (colon == std::string::npos || colon == 0 || colon + 1 == r.size() ||
            r.find_first_not_of("0123456789:") != std::string::npos)
            scenario_error(where, "rdev must be \"MAJ:MIN\"");
        out.rdev_major = static_cast<std::uint32_t>(std::stoul(r.substr(0, colon)));
        out.rdev_minor = static_cast<std::uint32_t>(std::stoul(r.substr(colon + 1)));
    }
    if (e.contains("xattrs")) {
        if (!e["xattrs"].is_object()) scenario_error(where, "xattrs must be an object");
        for (const auto& [k, v] : e["xattrs"].items())
            out.xattrs.emplace_back(k, decode_xattr_value(v.get<std::string>(), where));
    }
    return out;
}

} // namespace detail

/// Parses a scenario document. `name` is informational (used in error messages).
inline scenario parse_scenario(const nlohmann::ordered_json& doc, std::string name = {}) {
    const std::string where = name.empty() ? std::string("scenario") : name;
    if (!doc.is_object()) detail::scenario_error(where, "not a JSON object");
    scenario s;
    s.name = std::move(name);
    s.raw = doc;
    try {
        s.why = doc.value("why", "");
        if (!doc.contains("options")) detail::scenario_error(where, "missing \"options\"");
        s.options = doc["options"].get<std::string>();
        s.workdirs = detail::string_list(doc, "workdirs", where);
        s.paths = detail::string_list(doc, "paths", where);
        s.focus = detail::string_list(doc, "focus", where);
        if (!doc.contains("layers") || !doc["layers"].is_array())
            detail::scenario_error(where, "missing \"layers\" array");
        for (const auto& l : doc["layers"]) {
            scenario_layer layer;
            layer.name = l.at("name").get<std::string>();
            if (layer.name.empty() || layer.name.find('/') != std::string::npos ||
                layer.name == "." || layer.name == "..")
                detail::scenario_error(where, "bad layer name \"" + layer.name + "\"");
            if (l.contains("entries"))
                for (const auto& e : l["entries"])
                    layer.entries.push_back(detail::parse_entry(e, where + " layer " + layer.name));
            s.layers.push_back(std::move(layer));
        }
    } catch (const nlohmann::json::exception& e) {
        detail::scenario_error(where, e.what());
    }
    return s;
}

/// Reads and parses a scenario file (its stem becomes scenario::name).
inline scenario load_scenario(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) detail::scenario_error(file.string(), "cannot open");
    nlohmann::ordered_json doc;
    try {
        doc = nlohmann::ordered_json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        detail::scenario_error(file.string(), e.what());
    }
    return parse_scenario(doc, file.stem().string());
}

/// The scenario files (*.json) of a directory, sorted by name.
inline std::vector<std::filesystem::path> list_scenarios(const std::filesystem::path& dir) {
    std::vector<std::filesystem::path> out;
    for (const auto& e : std::filesystem::directory_iterator(dir))
        if (e.is_regular_file() && e.path().extension() == ".json") out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

/// `options` with {ROOT} -> root and {NAME} -> root + "/" + NAME for every layer and workdir
/// name; any other brace text is left alone.
inline std::string substitute_options(const scenario& s, std::string_view root) {
    std::string out;
    const std::string_view in = s.options;
    for (std::size_t i = 0; i < in.size();) {
        if (in[i] == '{') {
            const auto close = in.find('}', i + 1);
            if (close != std::string_view::npos) {
                const std::string_view key = in.substr(i + 1, close - i - 1);
                bool known = key == "ROOT";
                for (const auto& l : s.layers) known = known || l.name == key;
                for (const auto& w : s.workdirs) known = known || w == key;
                if (known) {
                    out += root;
                    if (key != "ROOT") {
                        out += '/';
                        out += key;
                    }
                    i = close + 1;
                    continue;
                }
            }
        }
        out += in[i++];
    }
    return out;
}

/// Makes one entry under the directory `base` of `fs` (the rules at the top of this file).
inline void add_entry_in_memory(memory_fs& fs, const std::string& base, const scenario_entry& e) {
    const std::string p = e.path.empty() ? base : base + "/" + e.path;
    memory_fs::entry_attrs a;
    a.mode = e.mode;
    a.uid = e.uid.value_or(0);
    a.gid = e.gid.value_or(0);
    if (e.type == "reg") {
        a.size = e.size;
        fs.add_file(p, e.content, a);
    } else if (e.type == "dir") {
        fs.add_dir(p, a);
    } else if (e.type == "lnk") {
        a.mode = std::nullopt; // symlinks are always 0777 on Linux
        fs.add_symlink(p, e.target, a);
    } else if (e.type == "chr") {
        fs.add_device(p, file_type::char_device, e.rdev_major, e.rdev_minor, a);
    } else if (e.type == "blk") {
        fs.add_device(p, file_type::block_device, e.rdev_major, e.rdev_minor, a);
    } else if (e.type == "fifo") {
        fs.add_fifo(p, a);
    } else if (e.type == "sock") {
        fs.add_socket(p, a);
    } else if (e.type == "whiteout") {
        fs.add_whiteout(p, a);
    } else {
        throw std::runtime_error("unknown entry type \"" + e.type + "\"");
    }
    for (const auto& [k, v] : e.xattrs) fs.set_xattr(p, k, v);
}

/// Builds the scenario in `fs`: layers at /ROOT/<name>, workdirs at /ROOT/<W>, cwd /ROOT.
/// Returns the options with {NAME} -> /ROOT/<name>, {ROOT} -> /ROOT.
inline std::string build_in_memory(const scenario& s, memory_fs& fs) {
    const std::string root = "/ROOT";
    fs.add_dir(root);
    for (const auto& layer : s.layers) {
        const std::string base = root + "/" + layer.name;
        fs.add_dir(base);
        for (const auto& e : layer.entries) add_entry_in_memory(fs, base, e);
    }
    for (const auto& w : s.workdirs) fs.add_dir(std::string(root).append("/").append(w));
    fs.set_cwd(root);
    return substitute_options(s, root);
}

namespace detail {

[[noreturn]] inline void sys_error(const std::string& what, int err = errno) {
    throw std::system_error(err, std::generic_category(), what);
}

/// mkdir with an explicit mode (umask-independent), owner uid:gid. An existing directory is kept.
inline void make_dir(const std::string& p, std::uint32_t mode, std::optional<std::uint32_t> uid,
                     std::optional<std::uint32_t> gid, bool root) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            std::error_code ec;
            std::filesystem::remove_all(p, ec);
            if (ec) sys_error("remove " + p, ec.value());
            if (::mkdir(p.c_str(), 0700) != 0) sys_error("mkdir " + p);
        }
    } else if (::mkdir(p.c_str(), 0700) != 0) {
        sys_error("mkdir " + p);
    }
    if ((uid || gid || root) && ::lchown(p.c_str(), uid.value_or(0), gid.value_or(0)) != 0)
        sys_error("chown " + p);
    if (::chmod(p.c_str(), mode) != 0) sys_error("chmod " + p);
}

inline void make_parents(const std::string& base, const std::string& rel, bool root) {
    std::string cur = base;
    const auto parts = ovlcore::detail::split_path(rel);
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
        cur += '/';
        cur += parts[i];
        struct stat st {};
        if (::lstat(cur.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) continue;
        make_dir(cur, 0755, std::nullopt, std::nullopt, root);
    }
}

/// Removes a non-directory (or a whole directory) at p before it is replaced.
inline void clear_path(const std::string& p) {
    std::error_code ec;
    std::filesystem::remove_all(p, ec);
    if (ec) sys_error("remove " + p, ec.value());
}

inline void build_entry_on_disk(const std::string& base, const scenario_entry& e, bool root) {
    const std::string p = e.path.empty() ? base : base + "/" + e.path;
    make_parents(base, e.path, root);
    const bool chown_it = root || e.uid || e.gid;
    const uid_t uid = e.uid.value_or(0);
    const gid_t gid = e.gid.value_or(0);
    if (e.type == "dir") {
        make_dir(p, e.mode.value_or(0755), e.uid, e.gid, root);
    } else if (e.type == "reg") {
        clear_path(p);
        const int fd =
            ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) sys_error("create " + p);
        std::size_t done = 0;
        while (done < e.content.size()) {
            const ssize_t n = ::write(fd, e.content.data() + done, e.content.size() - done);
            if (n < 0) {
                if (errno == EINTR) continue;
                const int err = errno;
                ::close(fd);
                sys_error("write " + p, err);
            }
            done += static_cast<std::size_t>(n);
        }
        if (e.size && ::ftruncate(fd, static_cast<off_t>(*e.size)) != 0) {
            const int err = errno;
            ::close(fd);
            sys_error("truncate " + p, err);
        }
        ::close(fd);
        if (chown_it && ::lchown(p.c_str(), uid, gid) != 0) sys_error("chown " + p);
        if (::chmod(p.c_str(), e.mode.value_or(0644)) != 0) sys_error("chmod " + p);
    } else if (e.type == "lnk") {
        clear_path(p);
        if (::symlink(e.target.c_str(), p.c_str()) != 0) sys_error("symlink " + p);
        if (chown_it && ::lchown(p.c_str(), uid, gid) != 0) sys_error("chown " + p);
    } else {
        if (e.type != "chr" && e.type != "blk" && e.type != "fifo" && e.type != "sock" &&
            e.type != "whiteout")
            throw std::runtime_error("unknown entry type \"" + e.type + "\"");
        clear_path(p);
        mode_t kind = S_IFCHR;
        dev_t dev = 0;
        std::uint32_t mode = e.mode.value_or(0644);
        if (e.type == "chr") {
            dev = makedev(e.rdev_major, e.rdev_minor);
        } else if (e.type == "blk") {
            kind = S_IFBLK;
            dev = makedev(e.rdev_major, e.rdev_minor);
        } else if (e.type == "fifo") {
            kind = S_IFIFO;
        } else if (e.type == "sock") {
            kind = S_IFSOCK;
        } else { // whiteout (spec §3): char 0:0, mode 0000 by default
            mode = e.mode.value_or(0);
        }
        if (::mknod(p.c_str(), kind | 0600, dev) != 0)
            sys_error("mknod " + p + (root ? "" : " (needs root)"));
        if (chown_it && ::lchown(p.c_str(), uid, gid) != 0) sys_error("chown " + p);
        if (::chmod(p.c_str(), mode) != 0) sys_error("chmod " + p);
    }
    for (const auto& [k, v] : e.xattrs)
        if (::lsetxattr(p.c_str(), k.c_str(), v.data(), v.size(), 0) != 0)
            sys_error(std::string("setxattr ").append(k).append(" on ").append(p));
}

} // namespace detail

/// Makes one entry under the existing directory `base` on disk (the rules at the top).
inline void add_entry_on_disk(const std::string& base, const scenario_entry& e) {
    detail::build_entry_on_disk(base, e, ::geteuid() == 0);
}

/// Builds the scenario on disk: layers at root/<name>, workdirs at root/<W>; `root` must exist.
/// Returns the options with {NAME} -> root/<name>, {ROOT} -> root (root made absolute).
inline std::string build_on_disk(const scenario& s, const std::filesystem::path& root) {
    const std::string r = std::filesystem::absolute(root).lexically_normal().string();
    std::string rr = r;
    while (rr.size() > 1 && rr.back() == '/') rr.pop_back();
    const bool is_root = ::geteuid() == 0;
    for (const auto& layer : s.layers) {
        const std::string base = rr + "/" + layer.name;
        detail::make_dir(base, 0755, std::nullopt, std::nullopt, is_root);
        for (const auto& e : layer.entries) detail::build_entry_on_disk(base, e, is_root);
    }
    for (const auto& w : s.workdirs)
        detail::make_dir(std::string(rr).append("/").append(w), 0755, std::nullopt, std::nullopt,
                         is_root);
    return substitute_options(s, rr);
}

/// Reads a JSON Lines dump (one object per non-empty line).
inline std::vector<nlohmann::json> load_dump(const std::filesystem::path& jsonl) {
    std::ifstream in(jsonl, std::ios::binary);
    if (!in) detail::scenario_error(jsonl.string(), "cannot open");
    std::vector<nlohmann::json> out;
    std::string line;
    for (std::size_t n = 1; std::getline(in, line); ++n) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        try {
            out.push_back(nlohmann::json::parse(line));
        } catch (const nlohmann::json::exception& e) {
            detail::scenario_error(jsonl.string() + ":" + std::to_string(n), e.what());
        }
    }
    return out;
}

} // namespace ovlcore::testing
