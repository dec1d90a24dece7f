// SPDX-License-Identifier: MIT
// ovlcore/option_resolution.hpp: the 6.16+ resolution of interdependent overlay options (redirect,
// metacopy, index, nfs_export, userxattr...) into the features of a mount, with the kernel's notes
// and conflicts (spec §1.4). Users include it via options.hpp.
#pragma once

#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "mount_error.hpp"
#include "option_parsing.hpp"
#include "result.hpp"

namespace ovlcore {

/// The features a mount ends up with after spec §1.4.
struct feature_set {
    redirect_mode redirect = redirect_mode::follow;
    bool metacopy = false;
    bool index = false;
    bool nfs_export = false;
    bool userxattr = false;
    verity_mode verity = verity_mode::off;
    xino_mode xino = xino_mode::off;
    uuid_mode uuid = uuid_mode::auto_;
    fsync_mode fsync = fsync_mode::auto_;
    bool default_permissions = false;
    bool override_creds = true;
    friend constexpr bool operator==(const feature_set&, const feature_set&) = default;
};

/// What option resolution gives an accepted mount: its features and the kernel's info lines for
/// the silent adjustments made on the way (without prefix), in the kernel's order.
struct option_resolution {
    feature_set features;
    std::vector<std::string> notes;
};

/// Applies the 6.16+ option resolution of spec §1.4 to `cfg` (drops a useless workdir) and
/// returns the resulting features with the kernel's info lines for silent adjustments (without
/// prefix); a conflict fails with EINVAL, the kernel's message and the notes logged before it.
/// The mounter is assumed to have CAP_SYS_ADMIN (spec §0), so step 9 never fails.
/// @see spec §1.4
template <class Handle>
[[nodiscard]] result<option_resolution, mount_error> resolve_options(mount_config<Handle>& cfg) {
    std::vector<std::string> notes;
    const auto note = [&](std::string text) { notes.push_back(std::move(text)); };
    // A conflict fails the mount; the notes logged before it go with the error.
    const auto conflict = [&](std::string_view what) {
        mount_error e =
            detail::mount_einval("overlayfs: conflicting options: " + std::string(what));
        e.notes = std::move(notes);
        return fail(std::move(e));
    };
    explicit_options set = cfg.set;
    const bool upper = cfg.upper.has_value();

    // Steps 1-4: options that mean nothing without an upper layer.
    if (!upper) {
        if (cfg.work) {
            note("option \"workdir=" + cfg.work->name +
                 "\" is useless in a non-upper mount, ignore");
            cfg.work.reset();
        }
        if (cfg.index && set.index) {
            note("option \"index=on\" is useless in a non-upper mount, ignore");
            set.index = false;
        }
        cfg.index = false;
        if (cfg.fsync == fsync_mode::volatile_) {
            note("option \"volatile\" is meaningless in a non-upper mount, ignoring it.");
            cfg.fsync = fsync_mode::auto_;
        }
        if (cfg.uuid == uuid_mode::on) {
            note("option \"uuid=on\" requires an upper fs, falling back to uuid=null.");
            cfg.uuid = uuid_mode::null;
        }
        if (cfg.redirect == redirect_mode::follow) cfg.redirect = redirect_mode::on;
    }
    // Step 5: metacopy needs redirect_dir=on.
    if (cfg.metacopy && cfg.redirect != redirect_mode::on) {
        const auto mode = std::string(to_string(cfg.redirect));
        if (set.metacopy && set.redirect) return conflict("metacopy=on,redirect_dir=" + mode);
        if (set.redirect) {
            note("disabling metacopy due to redirect_dir=" + mode);
            cfg.metacopy = false;
        } else {
            cfg.redirect = redirect_mode::on;
        }
    }
    // Step 6: nfs_export needs index.
    if (cfg.nfs_export && !cfg.index) {
        if (!upper && cfg.redirect != redirect_mode::nofollow) {
            note(
                "NFS export requires \"redirect_dir=nofollow\" on non-upper mount, falling back "
                "to nfs_export=off.");
            cfg.nfs_export = false;
        } else if (set.nfs_export && set.index) {
            return conflict("nfs_export=on,index=off");
        } else if (set.index) {
            note("disabling nfs_export due to index=off");
            cfg.nfs_export = false;
        } else {
            cfg.index = true;
        }
    }
    // Step 7: nfs_export excludes metacopy and verity.
    if (cfg.nfs_export && cfg.metacopy) {
        if (set.nfs_export && set.metacopy) return conflict("nfs_export=on,metacopy=on");
        if (set.metacopy) {
            note("disabling nfs_export due to metacopy=on");
            cfg.nfs_export = false;
        } else if (cfg.verity != verity_mode::off) {
            note("disabling nfs_export due to verity=" + std::string(to_string(cfg.verity)));
            cfg.nfs_export = false;
        } else {
            note("disabling metacopy due to nfs_export=on");
            cfg.metacopy = false;
        }
    }
    // Step 8: userxattr excludes redirect and metacopy.
    if (cfg.userxattr) {
        if (set.redirect && cfg.redirect != redirect_mode::nofollow)
            return conflict("userxattr,redirect_dir=" + std::string(to_string(cfg.redirect)));
        if (cfg.metacopy && set.metacopy) return conflict("userxattr,metacopy=on");
        cfg.redirect = redirect_mode::nofollow;
        cfg.metacopy = false;
    }
    return option_resolution{.features = {.redirect = cfg.redirect,
                                          .metacopy = cfg.metacopy,
                                          .index = cfg.index,
                                          .nfs_export = cfg.nfs_export,
                                          .userxattr = cfg.userxattr,
                                          .verity = cfg.verity,
                                          .xino = cfg.xino,
                                          .uuid = cfg.uuid,
                                          .fsync = cfg.fsync,
                                          .default_permissions = cfg.default_permissions,
                                          .override_creds = cfg.override_creds},
                             .notes = std::move(notes)};
}

} // namespace ovlcore
