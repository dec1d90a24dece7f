#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the scenario files tests/data/extra/NAME.json (not the expected dumps).

The expected dumps are never written by hand: record them from the running kernel with
  tools/kernel_oracle.py record tests/data/extra/*.json --out-dir tests/data/extra
Usage: python3 tests/data/extra/make_scenarios.py [OUT_DIR]   (default: the directory of this file)
"""
import json, os, sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
T = "trusted.overlay."
U = "user.overlay."
SC = {}


def S(name, why, options, layers, paths=None, workdirs=None, focus=None):
    assert name not in SC, name
    d = {"why": why, "options": options}
    if workdirs:
        d["workdirs"] = workdirs
    if paths:
        d["paths"] = paths
    if focus:
        d["focus"] = focus
    d["layers"] = layers
    SC[name] = d


def L(name, *entries):
    out = []
    for e in entries:
        e = dict(e)
        if e["type"] == "reg" and "content" not in e:
            e["content"] = "%s:%s\n" % (name, e["path"])
        out.append(e)
    return {"name": name, "entries": out}


def R(path, content=None, **kw):
    e = {"path": path, "type": "reg"}
    if content is not None:
        e["content"] = content
    e.update(kw)
    return e


def D(path, **kw):
    e = {"path": path, "type": "dir"}
    e.update(kw)
    return e


def W(path, **kw):
    e = {"path": path, "type": "whiteout"}
    e.update(kw)
    return e


def LN(path, target, **kw):
    e = {"path": path, "type": "lnk", "target": target}
    e.update(kw)
    return e


def DEV(path, kind, rdev, **kw):
    e = {"path": path, "type": kind, "rdev": rdev}
    e.update(kw)
    return e


def M(path, size, redirect=None, mc="", prefix=T, **kw):
    x = {prefix + "metacopy": mc}
    if redirect is not None:
        x[prefix + "redirect"] = redirect
    e = {"path": path, "type": "reg", "content": "", "size": size, "xattrs": x}
    e.update(kw)
    return e


def XW(path, prefix=T, value=""):
    return {"path": path, "type": "reg", "content": "", "xattrs": {prefix + "whiteout": value}}


def X(**kv):
    return {"xattrs": {T + k: v for k, v in kv.items()}}


UPPER = ",upperdir={U},workdir={W}"

# ================================================================================================
# opt_: §1 option parsing, resolution and superblock checks
AB = [L("A", R("a")), L("B", R("b"))]
S("opt_unknown_parameter", "§1.1 unknown key fails with EINVAL 'Unknown parameter'",
  "lowerdir={A}:{B},foo", AB)
S("opt_flag_with_value", "§1.1 a flag option given a value fails ('Unexpected value for userxattr')",
  "lowerdir={A}:{B},userxattr=on", AB)
S("opt_bad_enum_redirect_dir", "§1.1 bad enum value fails ('Bad value for redirect_dir')",
  "lowerdir={A}:{B},redirect_dir=maybe", AB)
S("opt_bare_metacopy", "§1.1 bare 'metacopy' without value is a bad value",
  "lowerdir={A}:{B},metacopy", AB)
S("opt_bad_enum_verity", "§1.1 verity accepts only off/on/require",
  "lowerdir={A}:{B},verity=yes", AB)
S("opt_bad_enum_fsync", "§1.1 fsync accepts only volatile/auto/strict",
  "lowerdir={A}:{B},fsync=always", AB)
S("opt_all_enums_valid", "§1.1 every option with a valid value mounts (lower-only mount)",
  "lowerdir={A}:{B},redirect_dir=follow,index=off,nfs_export=off,metacopy=off,uuid=null,xino=off,"
  "verity=off,fsync=strict,default_permissions", AB)
S("opt_repeat_last_wins", "§1.1 repeated lowerdir: the last one wins (B:C is mounted, not A:B)",
  "lowerdir={A}:{B},lowerdir={B}:{C}", [L("A", R("a")), L("B", R("b")), L("C", R("c"))],
  paths=["/a"])
S("opt_upperdir_last_wins", "§1.1 repeated upperdir: the last one wins",
  "lowerdir={A},upperdir={U1},upperdir={U},workdir={W}",
  [L("A", R("a")), L("U1", R("u1")), L("U", R("u"))], workdirs=["W"], paths=["/u1"])
S("opt_leading_colon", "§1.2 lowerdir starting with ':' -> 'cannot append lower layer'",
  "lowerdir=:{A}:{B}", AB)
S("opt_triple_colon", "§1.2 ':::' in lowerdir is rejected",
  "lowerdir={A}:::{B}", AB)
S("opt_trailing_colon", "§1.2 lowerdir ending with ':' -> 'unescaped trailing colons'",
  "lowerdir={A}:{B}:", AB)
S("opt_trailing_double_colon", "§1.2 lowerdir ending with '::' -> 'unescaped trailing colons'",
  "lowerdir={A}:{B}::", AB)
S("opt_regular_after_data", "§1.2 'A::C:B': a single-colon layer after a '::' layer is rejected",
  "lowerdir={A}::{C}:{B}", AB + [L("C", R("c"))])
S("opt_single_lowerdir_plus", "§1.5 edge 1: one lowerdir+ and no upper -> 'at least 2 lowerdir are needed'",
  "lowerdir+={A}", AB)
S("opt_escaped_colon_data_layer", "§1.2 an escaped ':' inside a data-only layer path ('::c\\:d')",
  "lowerdir={A}::{ROOT}/c\\:d,metacopy=on", [L("A", M("m", 7, "/data")), L("c:d", R("data", "C:data\n")),
                                               L("c", R("data", "wrong\n"))])
S("opt_too_many_layers", "§1.2 501 lower layers -> 'too many lower directories, limit is 500'",
  "lowerdir=" + ":".join(["A"] * 501), AB)
S("opt_escaped_backslash", "§1.2 '\\\\' in a lowerdir element is unescaped to one backslash",
  "lowerdir={ROOT}/b\\\\s:{B}", [L("b\\s", R("f", "backslash layer\n")), L("B", R("b")),
                                  L("bs", R("f", "wrong layer\n"))])
S("opt_escaped_comma_only", "§1.2 edge 4: 'lowerdir=/p\\,q:/a' mounts directory 'p,q'",
  "lowerdir={ROOT}/p\\,q:{A}", [L("p,q", R("f", "comma layer\n")), L("A", R("a")),
                                L("p", R("f", "wrong\n"))])
S("opt_escaped_upperdir", "§1.2 upperdir/workdir values are unescaped too ('u\\,1' -> 'u,1')",
  "lowerdir={A},upperdir={ROOT}/u\\,1,workdir={W}", [L("A", R("a")), L("u,1", R("u"))],
  workdirs=["W"])
S("opt_relative_paths", "§1.2 relative layer paths resolve against the caller's cwd",
  "lowerdir=A:B", AB)
S("opt_relative_dot_dotdot", "§1.2 relative paths with ./ and sub/../ resolve normally",
  "lowerdir=./A:A/../B", AB)
S("opt_symlinked_layer", "§1.2 layer paths are resolved following symlinks",
  "lowerdir={ROOT}/link/A:{B}", [L("A", R("a")), L("B", R("b")), L("link", LN("A", "../A"))])
S("opt_lowerdir_plus", "§1.2 lowerdir+ appends normal layers through plain mount(2)",
  "lowerdir+={A},lowerdir+={B}", AB)
S("opt_lowerdir_plus_datadir_plus", "§1.2 lowerdir+ and datadir+ build A::C; metacopy data from C",
  "lowerdir+={A},datadir+={C},metacopy=on",
  [L("A", R("a"), M("meta", 7, "/data")), L("C", R("data", "C:data\n"))], paths=["/data"])
S("opt_lowerdir_plus_after_lowerdir", "§1.2 edge 3: lowerdir+ after lowerdir= is rejected",
  "lowerdir={A},lowerdir+={B}", AB)
S("opt_lowerdir_plus_after_datadir", "§1.2 lowerdir+ after datadir+ is rejected",
  "lowerdir+={A},datadir+={C},lowerdir+={B}", AB + [L("C", R("c"))])
S("opt_lowerdir_replaces_plus", "§1.2 edge 3: lowerdir= after lowerdir+ silently replaces them",
  "lowerdir+={A},lowerdir+={B},lowerdir={B}:{C}", [L("A", R("a")), L("B", R("b")), L("C", R("c"))],
  paths=["/a"])
S("opt_lowerdir_plus_not_unescaped", "§1.2 edge 4: lowerdir+ value keeps backslashes: 'x\\:y' -> ENOENT when only 'x:y' exists",
  "lowerdir+={ROOT}/x\\:y,lowerdir+={A}", [L("x:y", R("f")), L("A", R("a"))])
S("opt_lowerdir_plus_backslash_literal", "§1.2 lowerdir+ value is literal: a dir really named 'x\\:y' is used",
  "lowerdir+={ROOT}/x\\:y,lowerdir+={A}", [L("x\\:y", R("f", "backslash colon\n")), L("A", R("a")),
                                           L("x:y", R("f", "wrong\n"))])
S("opt_lowerdir_plus_literal_colon", "§1.2 a literal ':' in a lowerdir+ value is fine",
  "lowerdir+={ROOT}/p:q,lowerdir+={A}", [L("p:q", R("f", "colon layer\n")), L("A", R("a"))])
S("opt_lowerdir_empty", "§1.1 empty lowerdir= drops every lower -> missing 'lowerdir'",
  "lowerdir={A}:{B},lowerdir=", AB)
S("opt_no_options", "§1.5 no lowerdir at all -> missing 'lowerdir'", "", AB)
S("opt_missing_lower_path", "§1.3 a lower path that does not resolve fails with its errno (ENOENT)",
  "lowerdir=A:missing", AB)
S("opt_lower_not_directory", "§1.3 a lower path that is not a directory -> EINVAL",
  "lowerdir=A:B/b", AB)
S("opt_missing_workdir", "§1.5 upperdir without workdir -> missing 'workdir'",
  "lowerdir={A},upperdir={U}", [L("A", R("a")), L("U", R("u"))])
S("opt_one_lower_one_data", "§1.5 edge 1: lowerdir=A::C (one normal + one data layer, no upper) mounts",
  "lowerdir={A}::{C}", [L("A", R("a")), L("C", R("c"))], paths=["/c"])
S("opt_only_data_layers", "§1.5 only data-only lowers (datadir+) -> 'at least one non-data lowerdir is required'",
  "datadir+={C},datadir+={A}", [L("A", R("a")), L("C", R("c"))])
S("opt_one_lower_with_upper", "§1.5 one lower plus an upper is enough",
  "lowerdir={A}" + UPPER, [L("A", R("a")), L("U", R("u"))], workdirs=["W"])
S("opt_workdir_inside_upper", "§1.5 workdir inside upperdir -> 'must be separate subtrees'",
  "lowerdir={A},upperdir={U},workdir={U}/w", [L("A", R("a")), L("U", D("w"))])
S("opt_upper_inside_workdir", "§1.5 upperdir inside workdir -> 'must be separate subtrees'",
  "lowerdir={A},upperdir={W}/u,workdir={W}", [L("A", R("a")), L("W", D("u"))])
S("opt_lower_equals_upper", "§1.5 the same dir as lower and upper -> conflicting path (ELOOP)",
  "lowerdir={A}:{B},upperdir={A},workdir={W}", AB, workdirs=["W"])
S("opt_overlapping_lowers", "§1.5 edge 2: lowerdir=A:A/sub -> ELOOP 'overlapping lowerdir path'",
  "lowerdir={A}:{A}/sub", [L("A", R("sub/x"))])
S("opt_overlapping_lowers_reverse", "§1.5 lowerdir=A/sub:A (descendant first) -> ELOOP",
  "lowerdir={A}/sub:{A}", [L("A", R("sub/x"))])
S("opt_upper_inside_lower", "§1.5/§5.6 edge 2: upperdir=A/sub with lowerdir=A mounts; /sub then gives ELOOP",
  "lowerdir={A},upperdir={A}/sub,workdir={W}", [L("A", R("a"), R("sub/x"))], workdirs=["W"],
  paths=["/sub", "/sub/x"])
S("opt_conflict_metacopy_redirect_off", "§1.4 edge 5: metacopy=on,redirect_dir=off with upper -> conflicting options (reported as follow)",
  "lowerdir={A}" + UPPER + ",metacopy=on,redirect_dir=off", [L("A", R("a")), L("U")], workdirs=["W"])
S("opt_conflict_metacopy_redirect_nofollow", "§1.4 metacopy=on,redirect_dir=nofollow -> conflicting options",
  "lowerdir={A}" + UPPER + ",metacopy=on,redirect_dir=nofollow", [L("A", R("a")), L("U")],
  workdirs=["W"])
S("opt_metacopy_redirect_on_ok", "§1.4 metacopy=on,redirect_dir=on with upper mounts",
  "lowerdir={A}" + UPPER + ",metacopy=on,redirect_dir=on", [L("A", R("a")), L("U")], workdirs=["W"])
S("opt_conflict_nfs_export_index_off", "§1.4 nfs_export=on,index=off with upper -> conflicting options",
  "lowerdir={A}" + UPPER + ",nfs_export=on,index=off", [L("A", R("a")), L("U")], workdirs=["W"])
S("opt_conflict_nfs_export_metacopy", "§1.4 nfs_export=on,metacopy=on with upper -> conflicting options",
  "lowerdir={A}" + UPPER + ",nfs_export=on,metacopy=on", [L("A", R("a")), L("U")], workdirs=["W"])
S("opt_nfs_export_lower_only_fallback", "§1.4 nfs_export=on without upper falls back to off and mounts",
  "lowerdir={A}:{B},nfs_export=on", AB)
S("opt_conflict_userxattr_redirect", "§1.4 userxattr,redirect_dir=on -> conflicting options",
  "lowerdir={A}:{B},userxattr,redirect_dir=on", AB)
S("opt_conflict_userxattr_metacopy", "§1.4 userxattr,metacopy=on -> conflicting options",
  "lowerdir={A}:{B},userxattr,metacopy=on", AB)
S("opt_userxattr_nofollow_ok", "§1.4 userxattr with redirect_dir=nofollow is accepted",
  "lowerdir={A}:{B},userxattr,redirect_dir=nofollow", AB)
S("opt_userxattr_verity_ok", "§1.4 userxattr,verity=on is accepted since 6.16",
  "lowerdir={A}:{B},userxattr,verity=on", AB)
S("opt_metacopy_off_verity_require_ok", "§1.4 metacopy=off,verity=require mounts (conflict removed in 6.16)",
  "lowerdir={A}:{B},metacopy=off,verity=require", AB)
S("opt_datadir_metacopy_off_ok", "§1.4 lowerdir=A::C,metacopy=off mounts (no 'require metacopy' error)",
  "lowerdir={A}::{C},metacopy=off", [L("A", R("a")), L("C", R("c"))])
S("opt_useless_options_lower_only", "§1.4 workdir, index=on, volatile, uuid=on are ignored on a lower-only mount",
  "lowerdir={A}:{B},workdir={W},index=on,volatile,uuid=on", AB, workdirs=["W"])
S("opt_workdir_other_mount", "§1.5 workdir on another mount than upperdir -> 'must reside under the same mount'",
  "lowerdir={A},upperdir={U},workdir=/proc", [L("A", R("a")), L("U")])
S("opt_volatile_with_upper", "§1.1 volatile with an upper mounts",
  "lowerdir={A}" + UPPER + ",volatile", [L("A", R("a")), L("U", R("u"))], workdirs=["W"])

# ================================================================================================
# xattr_: §2 names, namespaces, escaping
S("xattr_user_ns_ignored_by_default", "§2.1 without userxattr, user.overlay.* xattrs are ignored (opaque, whiteout, redirect)",
  "lowerdir={A}:{B}",
  [L("A", D("d", xattrs={U + "opaque": "y"}), R("w", "", xattrs={U + "whiteout": ""}),
     D("r", xattrs={U + "redirect": "/t"})),
   L("B", R("d/b"), R("w"), R("t/x"), R("r/y"))])
S("xattr_userxattr_whiteout_redirect", "§2.1 with userxattr, user.overlay.whiteout/opaque are honoured and trusted.* ignored",
  "lowerdir={A}:{B},userxattr,redirect_dir=nofollow",
  [L("A", R("w", "", xattrs={U + "whiteout": ""}), R("tw", "", xattrs={T + "whiteout": ""}),
     D("d", xattrs={U + "opaque": "y"}), D("e", xattrs={T + "opaque": "y"})),
   L("B", R("w"), R("tw"), R("d/b"), R("e/b"))], paths=["/w"])
S("xattr_userxattr_metacopy_eperm", "§2.1/§1.4 userxattr forces metacopy off: user.overlay.metacopy file gives EPERM",
  "lowerdir={A}:{B},userxattr", [L("A", M("f", 4, prefix=U)), L("B", R("f"))])
S("xattr_userxattr_trusted_metacopy_ignored", "§2.1 userxattr: trusted.overlay.metacopy is not interpreted (plain file)",
  "lowerdir={A}:{B},userxattr", [L("A", M("f", 4)), L("B", R("f"))])
S("xattr_escaped_opaque_not_honoured", "§2.1 trusted.overlay.overlay.opaque=y is an escaped xattr, not opaque for this overlay",
  "lowerdir={A}:{B}", [L("A", D("d", xattrs={T + "overlay.opaque": "y"}), R("d/a")),
                       L("B", R("d/b"))])
S("xattr_escaped_whiteout_not_honoured", "§2.1 trusted.overlay.overlay.whiteout does not make an xwhiteout",
  "lowerdir={A}:{B}", [L("A", D("d", xattrs={T + "opaque": "x"}),
                           R("d/f", "", xattrs={T + "overlay.whiteout": ""})), L("B", R("d/f"))])
S("xattr_escaped_metacopy_not_honoured", "§2.1 trusted.overlay.overlay.metacopy is not a metacopy marker",
  "lowerdir={A}:{B}", [L("A", R("f", "", size=3, xattrs={T + "overlay.metacopy": ""})), L("B", R("f"))])
S("xattr_metacopy_on_dir_symlink_ignored", "§2.1 metacopy xattr is ignored on non-regular files",
  "lowerdir={A}:{B}", [L("A", D("d", xattrs={T + "metacopy": ""}), LN("l", "t", xattrs={T + "metacopy": ""}),
                           R("d/a")),
                       L("B", R("d/b"), R("l"))])
S("xattr_whiteouts_marker_ignored", "§2.1 the 6.7-only 'overlay.whiteouts' dir marker is ignored: xwhiteout hides on stat but stays listed",
  "lowerdir={A}:{B}", [L("A", D("d", xattrs={T + "whiteouts": "y"}), XW("d/f")), L("B", R("d/f"), R("d/g"))])

# ================================================================================================
# opaque_: §2.1 opaque values
for tag, val, why in [("yes", "yes", "3-byte 'yes'"), ("upper_Y", "Y", "'Y'"), ("n", "n", "'n'"),
                      ("empty", "", "empty value"), ("y_nul", "hex:7900", "'y' followed by NUL (2 bytes)")]:
    S("opaque_value_" + tag.lower().replace("upper_", "cap_"),
      "§2.1 edge 7: opaque value %s does not make the dir opaque" % why, "lowerdir={A}:{B}",
      [L("A", D("d", xattrs={T + "opaque": val}), R("d/a")), L("B", R("d/b"))])
S("opaque_value_x_not_opaque", "§2.1 opaque=x marks xwhiteouts but does not hide lower entries",
  "lowerdir={A}:{B}", [L("A", D("d", xattrs={T + "opaque": "x"}), R("d/a")), L("B", R("d/b"), R("d/s/t"))])
S("opaque_on_layer_root", "§2.1 edge 8: opaque=y on a lower layer root has no effect",
  "lowerdir={A}:{B}", [L("A", D("/", xattrs={T + "opaque": "y"}), R("a")), L("B", R("b"))])
S("opaque_on_upper_root", "§2.1 opaque=y on the upper layer root has no effect",
  "lowerdir={A}" + UPPER, [L("A", R("a")), L("U", D("/", xattrs={T + "opaque": "y"}), R("u"))],
  workdirs=["W"])
S("opaque_upper_dir", "§2.1 opaque=y on an upper dir hides the lower dir's entries",
  "lowerdir={A}" + UPPER, [L("A", R("d/a"), R("e/a")), L("U", D("d", xattrs={T + "opaque": "y"}), R("d/u"),
                                                       D("e"))], workdirs=["W"], paths=["/d/a"])
S("opaque_middle_layer", "§2.1 opaque in a middle layer stops the merge below it but merges above",
  "lowerdir={A}:{B}:{C}", [L("A", R("d/a")), L("B", D("d", xattrs={T + "opaque": "y"}), R("d/b")),
                           L("C", R("d/c"))], paths=["/d/c"])
S("opaque_redirect_ignored", "§5.4 a redirect on an opaque (y) dir is ignored",
  "lowerdir={A}:{B},redirect_dir=on", [L("A", D("d", xattrs={T + "opaque": "y", T + "redirect": "/t"}), R("d/a")),
                                       L("B", R("t/x"), R("d/b"))])

# ================================================================================================
# redirect_: §2.3 validation, §5.4 modes
def inv(name, value, why):
    S(name, why, "lowerdir={A}:{B}",
      [L("A", D("d", xattrs={T + "redirect": value}), R("d/a"), R("ok")), L("B", R("t/x"), R("d/b"))])


inv("redirect_invalid_empty", "", "§2.3 edge 11: empty redirect -> EINVAL")
inv("redirect_invalid_double_slash", "//t", "§2.3 edge 11: '//t' -> EINVAL")
inv("redirect_invalid_slash_only", "/", "§2.3 edge 11: '/' -> EINVAL")
inv("redirect_invalid_trailing_slash", "/t/", "§2.3 edge 11: '/t/' -> EINVAL")
inv("redirect_invalid_inner_double_slash", "/t//x", "§2.3 '/t//x' -> EINVAL")
inv("redirect_invalid_relative_with_slash", "t/x", "§2.3 edge 11: relative 'a/b' -> EINVAL")
inv("redirect_dot_abs", "/./t", "§2.3 edge 11: '/./t' passes validation, walking '.' gives EACCES")
inv("redirect_dotdot_abs", "/../t", "§2.3 edge 11: '/../t' -> EACCES")
inv("redirect_rel_dot", ".", "§2.3 relative '.' -> EACCES")
inv("redirect_rel_dotdot", "..", "§2.3 relative '..' -> EACCES")
inv("redirect_abs_inner_dot", "/t/./x", "§2.3 '/t/./x' -> EACCES")
S("redirect_nul_truncation", "§2.3 the redirect value is used up to the first NUL byte",
  "lowerdir={A}:{B}", [L("A", D("d", xattrs={T + "redirect": "hex:2f74007a7a"}), R("d/a")),
                       L("B", R("t/x"), R("d/b"))])
S("redirect_invalid_bottom_ignored", "§5.3 edge 13: an invalid redirect on a dir in the bottom normal layer is not read",
  "lowerdir={A}:{B}", [L("A", R("a")), L("B", D("d", xattrs={T + "redirect": "//bad"}), R("d/b"))])
S("redirect_invalid_bottom_with_datalayer", "§5.3 edge 13: with data-only layers the bottom layer's invalid redirect gives EINVAL",
  "lowerdir={A}:{B}::{C}", [L("A", R("a")), L("B", D("d", xattrs={T + "redirect": "//bad"}), R("d/b")),
                            L("C", R("c"))])
S("redirect_valid_bottom_nofollow_datalayer", "§5.3 edge 13: nofollow + data layers: valid redirect on a bottom-layer dir -> EPERM",
  "lowerdir={A}:{B}::{C},redirect_dir=nofollow",
  [L("A", R("a")), L("B", D("d", xattrs={T + "redirect": "/t"}), R("d/b"), R("t/x")), L("C", R("c"))])
S("redirect_nofollow_lower_dir_eperm", "§5.4 nofollow: a redirect on a lower dir above the last layer -> EPERM",
  "lowerdir={A}:{B},redirect_dir=nofollow", [L("A", D("d", xattrs={T + "redirect": "/t"}), R("d/a")),
                                             L("B", R("t/x"), R("d/b"))])
S("redirect_nofollow_last_layer_ignored", "§5.4 nofollow: a redirect on a dir in the last layer of the stack is ignored",
  "lowerdir={A}:{B},redirect_dir=nofollow", [L("A", R("a")), L("B", D("d", xattrs={T + "redirect": "/t"}),
                                                                R("d/b"), R("t/x"))])
for mode in ["on", "follow", "off", "nofollow"]:
    S("redirect_mode_%s_upper" % mode,
      "§5.4 redirect_dir=%s: upper dir with absolute redirect to a lower dir" % mode,
      "lowerdir={A}" + UPPER + ",redirect_dir=" + mode,
      [L("A", R("t/x"), R("n/y")), L("U", D("n", xattrs={T + "redirect": "/t"}), R("n/u"), W("t"))],
      workdirs=["W"])
    S("redirect_mode_%s_lower" % mode,
      "§5.4 redirect_dir=%s: lower dir (not bottom) with relative redirect" % mode,
      "lowerdir={A}:{B},redirect_dir=" + mode,
      [L("A", D("n", xattrs={T + "redirect": "t"}), R("n/a")), L("B", R("t/x"), R("n/y"))])
S("redirect_nofollow_upper_missing_target", "§5.4 edge 12: nofollow, upper dir redirect to a missing target still EPERM",
  "lowerdir={A}" + UPPER + ",redirect_dir=nofollow",
  [L("A", R("a")), L("U", D("n", xattrs={T + "redirect": "/missing"}), R("n/u"))], workdirs=["W"])
S("redirect_nofollow_upper_pure_parent", "§5.4 nofollow: upper redirect ignored when the parent is pure upper",
  "lowerdir={A}" + UPPER + ",redirect_dir=nofollow",
  [L("A", R("a"), R("t/x")), L("U", D("p/n", xattrs={T + "redirect": "/t"}), R("p/n/u"))], workdirs=["W"])
S("redirect_upper_pure_parent_follow", "§5.3/§5.4 follow: an absolute redirect on an upper dir whose parent is pure upper is followed from the lower roots",
  "lowerdir={A}" + UPPER, [L("A", R("a"), R("p/t/x")), L("U", D("q/n", xattrs={T + "redirect": "/p/t"}), R("q/n/u"), W("p"))],
  workdirs=["W"])
S("redirect_invalid_upper_pure_parent_follow", "§5.3 follow (check_redirect): an invalid redirect on an upper dir in a pure-upper parent is read -> EINVAL",
  "lowerdir={A}" + UPPER, [L("A", R("a")), L("U", D("q/n", xattrs={T + "redirect": "//bad"}), R("q/n/u"))],
  workdirs=["W"])
S("redirect_invalid_upper_pure_parent_nofollow", "§5.3 nofollow, no data layers: the upper redirect of a dir in a pure-upper parent is not read (invalid value ignored)",
  "lowerdir={A}" + UPPER + ",redirect_dir=nofollow",
  [L("A", R("a")), L("U", D("q/n", xattrs={T + "redirect": "//bad"}), R("q/n/u"))], workdirs=["W"])
S("redirect_abs_path_through_file", "§5.1 step 6: a non-dir met on a non-last component of an absolute redirect stops the lookup below",
  "lowerdir={A}:{B}:{C}", [L("A", D("x", xattrs={T + "redirect": "/p/q"}), R("x/a")), L("B", R("p")),
                           L("C", R("p/q/c"), R("x/c"))])
S("redirect_abs_path_through_opaque", "§5.1 step 7: an opaque=y dir on an intermediate component of an absolute redirect stops below",
  "lowerdir={A}:{B}:{C}", [L("A", D("x", xattrs={T + "redirect": "/p/q"}), R("x/a")),
                           L("B", D("p", xattrs={T + "opaque": "y"}), R("p/q/b")),
                           L("C", R("p/q/c"), R("x/c"))])
S("redirect_rel_on_upper_dir", "§5.4 relative redirect on an upper dir merges the renamed lower dir",
  "lowerdir={A}" + UPPER, [L("A", R("s/old/o")), L("U", D("s/new", xattrs={T + "redirect": "old"}), R("s/new/u"),
                                                  W("s/old"))], workdirs=["W"])
S("redirect_target_missing", "§5.4 a redirect to a missing target yields the dir alone",
  "lowerdir={A}:{B}", [L("A", D("n", xattrs={T + "redirect": "/nope"}), R("n/a")), L("B", R("n/b"))])
S("redirect_target_not_dir", "§5.4 a redirect to a regular file yields the dir alone",
  "lowerdir={A}:{B}", [L("A", D("n", xattrs={T + "redirect": "/f"}), R("n/a")), L("B", R("f"), R("n/b"))])
S("redirect_on_regular_file_ignored", "§5.4 a redirect on a non-metacopy regular file is ignored",
  "lowerdir={A}:{B}", [L("A", R("f", xattrs={T + "redirect": "/g"})), L("B", R("g"), R("f"))])
S("redirect_rel_same_parent", "§5.4 relative redirect renames within the same parent (sub/r -> sub/orig)",
  "lowerdir={A}:{B}", [L("A", D("sub/r", xattrs={T + "redirect": "orig"}), R("sub/r/a"), W("sub/orig")),
                       L("B", R("sub/orig/o"), R("r/x"))])
S("redirect_abs_continues_below_layer", "§5.4 a redirect read in lower layer k continues at the root stack below k",
  "lowerdir={A}:{B}:{C}", [L("A", R("y/a"), R("x/a")), L("B", D("x", xattrs={T + "redirect": "/y"}), R("x/b")),
                           L("C", R("y/c"), R("x/c"))])
S("redirect_chain", "§5.2 a redirect target can carry its own redirect (A/x -> /y, B/y -> /z)",
  "lowerdir={A}:{B}:{C}", [L("A", D("x", xattrs={T + "redirect": "/y"}), R("x/a")),
                           L("B", D("y", xattrs={T + "redirect": "/z"}), R("y/b")),
                           L("C", R("z/c"), R("y/c"), R("x/c"))])
S("redirect_abs_nested_component_redirect", "§5.2 walking an absolute redirect path, an intermediate dir's redirect rewrites the rest",
  "lowerdir={A}:{B}:{C}", [L("A", D("x", xattrs={T + "redirect": "/p/q"}), R("x/a")),
                           L("B", D("p", xattrs={T + "redirect": "/r"}), R("p/q/b")),
                           L("C", R("r/q/c"), R("p/q/c"))])

# ================================================================================================
# whiteout_: §3
S("whiteout_chr00_any_mode_owner", "§3 a char 0:0 device with mode 0644 and owner 5:5 is still a whiteout",
  "lowerdir={A}:{B}", [L("A", DEV("f", "chr", "0:0", mode="0644", uid=5, gid=5), DEV("g", "chr", "0:0", mode="0755"), R("a")),
                       L("B", R("f"), R("g"))], paths=["/g"])
S("whiteout_not_blk_or_other_chr", "§3 blk 0:0, chr 1:3 and chr 0:1 are not whiteouts",
  "lowerdir={A}:{B}", [L("A", DEV("b", "blk", "0:0"), DEV("n", "chr", "1:3"), DEV("z", "chr", "0:1")),
                       L("B", R("b"), R("n"), R("z"))])
S("whiteout_in_upper", "§3 char 0:0 in the upper hides the lower file and dir",
  "lowerdir={A}" + UPPER, [L("A", R("f"), R("d/x"), R("k")), L("U", W("f"), W("d"))], workdirs=["W"],
  paths=["/f", "/d", "/d/x"])
S("whiteout_alone_no_lower", "§3 a whiteout with nothing below is simply negative",
  "lowerdir={A}:{B}", [L("A", W("d/w"), R("d/a")), L("B", R("d/b"))])
S("whiteout_xwhiteout_upper", "§3 edge 9: xwhiteout in the upper hides the name for stat but stays listed",
  "lowerdir={A}" + UPPER, [L("A", R("d/f"), R("d/g")), L("U", XW("d/f"))], workdirs=["W"])
S("whiteout_xwhiteout_upper_with_x_marker", "§3 opaque=x on an upper dir has no effect: xwhiteout still listed",
  "lowerdir={A}" + UPPER, [L("A", R("d/f"), R("d/g")), L("U", D("d", xattrs={T + "opaque": "x"}), XW("d/f"))],
  workdirs=["W"])
S("whiteout_xwhiteout_lower_no_marker", "§3 edge 9: xwhiteout in a lower dir without opaque=x: ENOENT but listed",
  "lowerdir={A}:{B}", [L("A", XW("d/f"), R("d/a")), L("B", R("d/f"), R("d/g"))])
S("whiteout_xwhiteout_lowest_with_marker", "§3 edge 9: xwhiteout in the lowest normal layer is listed even with opaque=x",
  "lowerdir={A}:{B}", [L("A", R("d/a")), L("B", D("d", xattrs={T + "opaque": "x"}), XW("d/f"), R("d/g"))])
S("whiteout_xwhiteout_middle_with_marker", "§3 xwhiteout in a middle layer dir with opaque=x hides a bottom file and is not listed",
  "lowerdir={A}:{B}:{C}", [L("A", R("d/a")), L("B", D("d", xattrs={T + "opaque": "x"}), XW("d/f"),
                             XW("d/h")), L("C", R("d/f"), R("d/c"), R("d/h"))], paths=["/d/h"])
S("whiteout_xwhiteout_root_marker", "§3 opaque=x on a (non-lowest) lower root filters its xwhiteouts from the root listing",
  "lowerdir={A}:{B}", [L("A", D("/", xattrs={T + "opaque": "x"}), XW("f"), XW("h"), R("a")), L("B", R("f"), R("g"), R("h"))],
  paths=["/h"])
S("whiteout_xwhiteout_nonzero_size", "§3 a file with overlay.whiteout but size 1 is an ordinary file",
  "lowerdir={A}:{B}", [L("A", R("f", "1", xattrs={T + "whiteout": ""})), L("B", R("f"))])
S("whiteout_xwhiteout_on_dir", "§3 the whiteout xattr on a directory does not make it a whiteout",
  "lowerdir={A}:{B}", [L("A", D("d", xattrs={T + "whiteout": ""}), R("d/a")), L("B", R("d/b"))])
S("whiteout_xwhiteout_with_value", "§3 xwhiteout: any xattr value counts (presence only)",
  "lowerdir={A}:{B}", [L("A", D("d", xattrs={T + "opaque": "x"}), XW("d/f", value="whatever")),
                       L("B", R("d/f"), R("d/g"))])
S("whiteout_nonmerged_dir_raw", "§3/§8.1 edge 10: a char 0:0 whiteout in a non-merged dir is listed, stat gives ENOENT",
  "lowerdir={A}:{B}", [L("A", W("d/w"), XW("d/x"), R("d/a")), L("B", R("b"))])
S("whiteout_nonmerged_dir_origin", "§3/§8.1 edge 10: an empty overlay.origin on the non-merged dir hides its whiteouts",
  "lowerdir={A}:{B}", [L("A", D("d", xattrs={T + "origin": ""}), W("d/w"), R("d/a")), L("B", R("b"))])
S("whiteout_nonmerged_upper_dir", "§3/§8.1 pure-upper dir without origin lists its whiteout raw",
  "lowerdir={A}" + UPPER, [L("A", R("a")), L("U", W("p/w"), R("p/u"))], workdirs=["W"])
S("whiteout_hides_dir_and_upper_dir_replaces", "§3 a dir in A over a whiteout in B over a dir in C: only A's entries",
  "lowerdir={A}:{B}:{C}", [L("A", R("d/a")), L("B", W("d")), L("C", R("d/c"))], paths=["/d/c"])
S("whiteout_userxattr_xwhiteout", "§3 with userxattr, user.overlay.whiteout makes an xwhiteout; opaque=x via user ns",
  "lowerdir={A}:{B}:{C},userxattr", [L("A", R("d/a")), L("B", D("d", xattrs={U + "opaque": "x"}), XW("d/f", prefix=U)),
                                     L("C", R("d/f"), R("d/c"))])

# ================================================================================================
# metacopy_: §2.2, §5.5, §7
def mc(name, why, mcval, opts, size=5, paths=None):
    S(name, why, "lowerdir={A}:{B}" + opts, [L("A", M("f", size, mc=mcval)), L("B", R("f", "hello data\n"))],
      paths=paths)


HDR4 = "hex:00040000"
DIG36 = "hex:002400" + "01" + "ab" * 32
mc("metacopy_xattr_size1_metacopy_off", "§2.2 edge 15: metacopy xattr of 1 byte -> EIO even with metacopy=off", "hex:00", "")
mc("metacopy_xattr_size2_metacopy_on", "§2.2 metacopy xattr of 2 bytes -> EIO", "hex:0002", ",metacopy=on")
mc("metacopy_xattr_size3_metacopy_off", "§2.2 edge 15: metacopy xattr of 3 bytes -> EIO with metacopy=off", "hex:000300", "")
mc("metacopy_xattr_size4_header", "§2.2 4-byte header (no digest) is a valid metacopy", HDR4, ",metacopy=on")
mc("metacopy_xattr_size4_verity_on", "§7 4-byte header (no digest) with verity=on opens fine", HDR4,
   ",metacopy=on,verity=on")
mc("metacopy_oversize_verity_require", "§2.2 100-byte metacopy xattr with verity=require -> open fails",
   "hex:" + "00" * 100, ",metacopy=on,verity=require")
mc("metacopy_xattr_size68_verity_on", "§2.2 68-byte (max) value with SHA-512 digest + verity=on: no fs-verity -> EIO",
   "hex:004400" + "02" + "cd" * 64, ",metacopy=on,verity=on")
mc("metacopy_xattr_size69_verity_on", "§2.2 69-byte value (> 68) with verity=on -> ERANGE",
   "hex:004500" + "02" + "cd" * 65, ",metacopy=on,verity=on")
mc("metacopy_xattr_size4_verity_require", "§7 4-byte header has no digest: verity=require fails at open (EIO), stat ok",
   HDR4, ",metacopy=on,verity=require")
mc("metacopy_empty_verity_require", "§7 edge 25: empty metacopy + verity=require: stat ok, open EIO", "",
   ",metacopy=on,verity=require")
mc("metacopy_empty_verity_on", "§7 empty metacopy (no digest) + verity=on opens fine", "", ",metacopy=on,verity=on")
mc("metacopy_digest_verity_off", "§2.2 36-byte digest with verity=off: contents not checked, data readable",
   DIG36, ",metacopy=on")
mc("metacopy_digest_verity_on", "§7 36-byte digest with verity=on: no fs-verity here -> open EIO", DIG36,
   ",metacopy=on,verity=on")
mc("metacopy_digest_verity_require", "§7 36-byte digest with verity=require -> open EIO", DIG36,
   ",metacopy=on,verity=require")
mc("metacopy_oversize_verity_on", "§2.2 edge 25: 100-byte metacopy xattr with verity=on -> open ERANGE",
   "hex:" + "00" * 100, ",metacopy=on,verity=on")
mc("metacopy_oversize_verity_off", "§2.2 100-byte metacopy xattr with verity=off: never parsed, data readable",
   "hex:" + "00" * 100, ",metacopy=on")
mc("metacopy_bad_version_verity_on", "§2.2 version 1 in a 36-byte metacopy with verity=on -> open EIO",
   "hex:012400" + "01" + "ab" * 32, ",metacopy=on,verity=on")
mc("metacopy_bad_version_verity_off", "§2.2 version 1 with verity=off: never parsed", "hex:012400" + "01" + "ab" * 32,
   ",metacopy=on")
mc("metacopy_len_mismatch_verity_on", "§2.2 len field != xattr size with verity=on -> open EIO",
   "hex:002000" + "01" + "ab" * 32, ",metacopy=on,verity=on")
mc("metacopy_off_lower_eperm", "§5.3 metacopy=off (default): a lower metacopy over data -> EPERM", "", "")
S("metacopy_off_upper_no_lower", "§5.3 edge 14: upper metacopy with metacopy=off and nothing below -> EPERM",
  "lowerdir={A}" + UPPER, [L("A", R("a")), L("U", M("f", 5))], workdirs=["W"])
S("metacopy_on_upper_no_lower", "§5.3 upper metacopy with metacopy=on and nothing below -> EIO",
  "lowerdir={A}" + UPPER + ",metacopy=on", [L("A", R("a")), L("U", M("f", 5))], workdirs=["W"])
S("metacopy_upper_over_lower_data", "§5.5/§9 upper metacopy over lower data: upper attrs, lower content",
  "lowerdir={A}" + UPPER + ",metacopy=on",
  [L("A", R("f", "lower data\n", mode="0755", uid=7)), L("U", M("f", 11, mode="0600", uid=1000, gid=100))],
  workdirs=["W"])
S("metacopy_chain_three_layers", "§5.5 metacopy over metacopy continues: data from the third layer, attrs from the top",
  "lowerdir={A}:{B}:{C},metacopy=on",
  [L("A", M("f", 9, mode="0640", uid=3)), L("B", M("f", 2, mode="0600")), L("C", R("f", "C data!!\n"))])
S("metacopy_chain_redirect_in_middle", "§5.3 the middle metacopy's absolute redirect moves the data lookup",
  "lowerdir={A}:{B}:{C},metacopy=on",
  [L("A", M("f", 4)), L("B", M("f", 4, "/g")), L("C", R("g", "C:g\n"), R("f", "C:f\n"))])
for what, ent in [("dir", D("f")), ("symlink", LN("f", "t")), ("chr", DEV("f", "chr", "1:3")),
                  ("whiteout", W("f")), ("fifo", {"path": "f", "type": "fifo"})]:
    S("metacopy_over_" + what, "§5.5 a metacopy over a %s below -> EIO" % what,
      "lowerdir={A}:{B}:{C},metacopy=on", [L("A", M("f", 4)), L("B", ent), L("C", R("f"))])
S("metacopy_rel_redirect", "§2.3 a relative redirect on a metacopy file renames within the parent",
  "lowerdir={A}:{B},metacopy=on", [L("A", M("d/f", 6, "g")), L("B", R("d/g", "B:d/g\n"), R("d/f"))])
S("metacopy_redirect_missing_target", "§5.5 metacopy redirect to a missing file -> EIO",
  "lowerdir={A}:{B},metacopy=on", [L("A", M("f", 4, "/nope")), L("B", R("f"))])
S("metacopy_size_truncated_view", "§9 st_size comes from the metacopy file even if the data is longer: reads return that many bytes",
  "lowerdir={A}:{B},metacopy=on", [L("A", M("f", 3)), L("B", R("f", "0123456789\n"))])
S("metacopy_userxattr_ignored_trusted", "§2.1 userxattr mount: metacopy in user ns -> EPERM, trusted metacopy is a plain file",
  "lowerdir={A}:{B},userxattr", [L("A", M("u", 4, prefix=U), M("t", 4)), L("B", R("u"), R("t"))])

# ================================================================================================
# dataonly_: §6
def dl(name, why, c_entries, redirect="/d/x", opts=",metacopy=on", size=6, extra_layers=None, paths=None):
    layers = [L("A", M("m", size, redirect), R("a"))] + [L("C", *c_entries)] + (extra_layers or [])
    o = "lowerdir={A}::{C}" + "".join("::{%s}" % l["name"] for l in (extra_layers or [])) + opts
    S(name, why, o, layers, paths=paths)


dl("dataonly_missing_data", "§6 edge 18: lazy file stats fine but open fails with ENOENT", [R("other")])
dl("dataonly_symlink_middle", "§6 edge 19: symlink in a middle component -> ELOOP at open",
   [LN("d", "e"), R("e/x")])
dl("dataonly_symlink_final", "§6 edge 19: final symlink -> ENOENT at open", [LN("d/x", "y"), R("d/y")])
dl("dataonly_file_as_dir", "§6 edge 19: a file used as a directory -> ENOTDIR", [R("d")])
dl("dataonly_dotdot_escape", "§6 edge 19: '/../x' escaping the layer root -> EXDEV", [R("x")], redirect="/../x")
dl("dataonly_dotdot_inside", "§6 edge 19: '/d/../d/x' stays inside and works", [R("d/x", "C:d/x\n")],
   redirect="/d/../d/x")
dl("dataonly_dot_component", "§6 '/./d/x' works in the data-only walk", [R("d/x", "C:d/x\n")],
   redirect="/./d/x")
dl("dataonly_target_dir", "§6 target is a directory -> ENOENT", [R("d/x/y")])
dl("dataonly_target_whiteout", "§6 target is a whiteout (char 0:0) -> ENOENT", [W("d/x")])
dl("dataonly_second_layer_hit", "§6 first data layer misses, second has the file",
   [R("other")], extra_layers=[L("D", R("d/x", "D:d/x\n"))])
dl("dataonly_first_layer_wins", "§6 first data layer in mount order that has the file wins",
   [R("d/x", "C:d/x\n")], extra_layers=[L("D", R("d/x", "D:d/x\n"))])
dl("dataonly_error_order_eloop_then_enoent", "§6 edge 20: ::C::D, C gives ELOOP, D ENOENT -> ENOENT (last layer's error)",
   [LN("d", "e"), R("e/x")], extra_layers=[L("D", R("other"))])
dl("dataonly_error_order_enoent_then_eloop", "§6 edge 20: ::C::D, C gives ENOENT, D ELOOP -> ELOOP",
   [R("other")], extra_layers=[L("D", LN("d", "e"), R("e/x"))])
dl("dataonly_metacopy_in_data_raw", "§6 a metacopy file in a data layer is used as raw data (zeros)",
   [M("d/x", 6, "/elsewhere")], size=6)
dl("dataonly_xattrs_not_interpreted", "§6 opaque/whiteout xattrs in a data layer are not interpreted",
   [D("d", xattrs={T + "opaque": "y"}), R("d/x", "", xattrs={T + "whiteout": ""})], size=0)
dl("dataonly_metacopy_off_bottom_ok", "§5.3 edge 17: lowerdir=A::C with metacopy off: bottom metacopy reads data from C",
   [R("d/x", "C:d/x\n")], opts="")
dl("dataonly_relative_redirect_eio", "§6 a relative redirect never reaches data layers -> EIO", [R("x"), R("d/x")],
   redirect="x")
dl("dataonly_no_redirect_eio", "§6 no redirect on the last metacopy -> EIO", [R("m"), R("d/x")], redirect=None)
dl("dataonly_size_from_metacopy", "§9 size/mode/owner from the metacopy even when data is longer",
   [R("d/x", "0123456789abcdef\n", mode="0700", uid=9)], size=4)
S("dataonly_metacopy_off_middle_eperm", "§5.3 edge 17: lowerdir=A:B::C metacopy off: metacopy in A -> EPERM, in B works",
  "lowerdir={A}:{B}::{C}", [L("A", M("ma", 6, "/d/x")), L("B", M("mb", 6, "/d/x")), L("C", R("d/x", "C:d/x\n"))])
S("dataonly_b_lacks_dir_uses_c", "§5.3/§10 edge 16: B has no /d at all -> C/d/x is used",
  "lowerdir={A}:{B}::{C},metacopy=on", [L("A", M("m", 6, "/d/x")), L("B", R("b")), L("C", R("d/x", "C:d/x\n"))])
S("dataonly_b_regular_wins", "§5.3 edge 16: B/d/x regular wins over C",
  "lowerdir={A}:{B}::{C},metacopy=on", [L("A", M("m", 6, "/d/x")), L("B", R("d/x", "B:d/x\n")),
                                        L("C", R("d/x", "C:d/x\n"))])
S("dataonly_upper_metacopy_direct_eio", "§6 an upper metacopy cannot point directly into a data-only layer -> EIO",
  "lowerdir={A}::{C}" + UPPER + ",metacopy=on", [L("A", R("a")), L("U", M("m", 6, "/d/x")),
                                                   L("C", R("d/x", "C:d/x\n"))], workdirs=["W"])
S("dataonly_upper_over_lower_metacopy", "§6 upper metacopy over a lower metacopy with absolute redirect reaches the data layer",
  "lowerdir={A}::{C}" + UPPER + ",metacopy=on",
  [L("A", M("m", 6, "/d/x")), L("U", M("m", 6, mode="0600")), L("C", R("d/x", "C:d/x\n"))], workdirs=["W"])
S("dataonly_nofollow_dir_redirect_eperm", "§5.3 with data layers and redirect_dir=nofollow any dir redirect -> EPERM",
  "lowerdir={A}:{B}::{C},redirect_dir=nofollow",
  [L("A", D("n", xattrs={T + "redirect": "/t"}), R("n/a")), L("B", R("t/x")), L("C", R("c"))])
S("dataonly_dir_redirect_into_data_invisible", "§6 a dir redirect never reaches data-only layers",
  "lowerdir={A}::{C}", [L("A", D("n", xattrs={T + "redirect": "/t"}), R("n/a")), L("C", R("t/x"))],
  paths=["/n/x", "/t"])
S("dataonly_datadir_plus_two", "§1.2/§6 datadir+ twice: data found in the second data layer",
  "lowerdir+={A},datadir+={C},datadir+={D},metacopy=on",
  [L("A", M("m", 6, "/d/x")), L("C", R("c")), L("D", R("d/x", "D:d/x\n"))])

# ================================================================================================
# type_: §5.5
def tp(name, why, upper_ent, lower_ents, third=None):
    layers = [L("A", upper_ent), L("B", *lower_ents)]
    o = "lowerdir={A}:{B}"
    if third:
        layers.append(L("C", *third))
        o += ":{C}"
    S(name, why, o, layers)


tp("type_file_over_dir", "§5.5 a regular file above a dir: the file only", R("x"), [R("x/a")])
tp("type_symlink_over_dir", "§5.5 a symlink above a dir: the symlink only", LN("x", "target"), [R("x/a")])
tp("type_symlink_over_file", "§5.5 a symlink above a regular file", LN("x", "../elsewhere"), [R("x")])
tp("type_device_over_dir", "§5.5 a char device above a dir", DEV("x", "chr", "1:3"), [R("x/a")])
tp("type_fifo_over_file", "§5.5 a fifo above a regular file", {"path": "x", "type": "fifo"}, [R("x")])
tp("type_sock_over_dir", "§5.5 a socket above a dir", {"path": "x", "type": "sock"}, [R("x/a")])
tp("type_dir_over_symlink", "§5.5 a dir above a symlink: dir, not merged", R("x/a"), [LN("x", "t"), R("t/b")])
tp("type_dir_over_device", "§5.5 a dir above a block device", R("x/a"), [DEV("x", "blk", "7:0")])
tp("type_dir_file_dir", "§5.5 dir / file / dir: the lookup stops at the file, the bottom dir is not merged",
   R("x/a"), [R("x")], third=[R("x/c")])
tp("type_file_over_whiteout", "§5.5 a regular file above a whiteout above a file", R("x", "A wins\n"), [W("x")],
   third=[R("x")])
S("type_all_kinds", "§9 every file type in a merged dir, with rdev and symlink targets",
  "lowerdir={A}:{B}", [L("A", R("d/r"), LN("d/l", "/abs/target"), DEV("d/c", "chr", "1:5"),
                           DEV("d/b", "blk", "8:17"), {"path": "d/p", "type": "fifo"},
                           {"path": "d/s", "type": "sock"}), L("B", R("d/z"))])

# ================================================================================================
# stat_: §9 visible fields
S("stat_merged_dir_top_attrs", "§9 a merged dir takes mode/uid/gid from the top layer's dir",
  "lowerdir={A}:{B}", [L("A", D("d", mode="0700", uid=3, gid=4), R("d/a")), L("B", D("d", mode="0777", uid=9), R("d/b"))])
S("stat_upper_dir_attrs", "§9 with an upper the upper dir supplies the attrs",
  "lowerdir={A}" + UPPER, [L("A", D("d", mode="0777", uid=9), R("d/a")), L("U", D("d", mode="0750", uid=1, gid=2))],
  workdirs=["W"])
S("stat_special_mode_bits", "§9 suid/sgid/sticky bits pass through",
  "lowerdir={A}:{B}", [L("A", D("t", mode="1777"), D("g", mode="2755"), R("s", mode="4755"), R("n", mode="0000")),
                       L("B", R("t/x"), R("g/x", mode="6711"))])
S("stat_lower_metacopy_attrs", "§9 lower metacopy: mode/uid/gid/size of the metacopy, data of the lower",
  "lowerdir={A}:{B},metacopy=on",
  [L("A", M("f", 8, mode="4750", uid=11, gid=12)), L("B", R("f", "datafile-longer\n", mode="0644", uid=1, gid=1))])
S("stat_root_attrs_upper", "§9 the root takes attrs from the upper root",
  "lowerdir={A}" + UPPER, [L("A", D("/", mode="0700"), R("a")), L("U", D("/", mode="0751", uid=5, gid=6))],
  workdirs=["W"])
S("stat_root_attrs_lower", "§9 the root of a lower-only mount takes attrs from the top lower root",
  "lowerdir={A}:{B}", [L("A", D("/", mode="0711", uid=2, gid=3), R("a")), L("B", D("/", mode="0777"), R("b"))])
S("stat_symlink_size_target", "§9 symlink size is the target length",
  "lowerdir={A}:{B}", [L("A", LN("l", "a/b/c/d"), LN("m", "x" * 100)), L("B", R("b"))])

# ================================================================================================
# readdir_: §8
S("readdir_merge_three_layers", "§8.2 merged listing: union of names, upper type wins, whiteouts dropped",
  "lowerdir={A}:{B}:{C}", [L("A", R("d/x"), W("d/w")), L("B", R("d/x/sub"), R("d/w"), R("d/b")),
                           L("C", R("d/c"), R("d/w"))], paths=["/d/w"])
S("readdir_upper_and_lowers", "§8.2 merged dir with upper + 2 lowers; upper whiteout removes a lower name",
  "lowerdir={A}:{B}" + UPPER, [L("A", R("d/a"), R("d/g")), L("B", R("d/b"), R("d/g")), L("U", R("d/u"), W("d/b"))],
  workdirs=["W"], paths=["/d/b"])
S("readdir_opaque_subdir_not_merged", "§8.1 a dir under an opaque dir is pure and listed raw (its whiteout shows)",
  "lowerdir={A}:{B}", [L("A", D("d", xattrs={T + "opaque": "y"}), W("d/s/w"), R("d/s/a")), L("B", R("d/s/w"), R("d/s/b"))])
S("readdir_impure_failing_lookup", "§8.2 step 6: in an impure upper dir an entry whose overlay lookup fails (EIO metacopy) is dropped from the listing (no readdir error)",
  "lowerdir={A}" + UPPER + ",metacopy=on", [L("A", R("d/a")), L("U", D("d", xattrs={T + "impure": "y"}), R("d/u"), M("d/m", 4))],
  workdirs=["W"])
S("readdir_impure_upper_dir", "§8.2 an upper dir with impure=y still lists its entries",
  "lowerdir={A}" + UPPER, [L("A", R("d/a")), L("U", D("d", xattrs={T + "impure": "y"}), R("d/u"))],
  workdirs=["W"])
S("readdir_nonmerged_origin_xwhiteout", "§8.1/§3 non-merged dir with origin uses merged mode; its xwhiteout (no x marker) is still listed",
  "lowerdir={A}:{B}", [L("A", D("d", xattrs={T + "origin": ""}), XW("d/x"), R("d/a")), L("B", R("b"))])

# ================================================================================================
# quirk_: §10, §1.5 namelen
S("quirk_absolute_redirect_reset", "§10 Q1 edge 16: A:B::C, A/m -> /d/x, B has /d without x -> EIO (C not consulted)",
  "lowerdir={A}:{B}::{C},metacopy=on", [L("A", M("m", 6, "/d/x")), L("B", R("d/other")), L("C", R("d/x", "C:d/x\n"))])
S("quirk_no_estale_lower_only_two_redirects", "§10 Q2 (lower-only mount): two lower dirs redirecting to one dir both merge it, no ESTALE",
  "lowerdir={A}:{B}", [L("A", D("r1", xattrs={T + "redirect": "/orig"}), D("r2", xattrs={T + "redirect": "/orig"}),
                           W("orig")), L("B", R("orig/o"))])
S("quirk_no_estale_lower_only_orig_after_redirect", "§10 Q2 (lower-only mount): the still-visible redirect target stays usable after the redirected dir",
  "lowerdir={A}:{B}", [L("A", D("a_r", xattrs={T + "redirect": "/orig"}), R("a_r/a")), L("B", R("orig/o"))])
S("quirk_no_estale_lower_only_redirect_after_orig", "§10 Q2 (lower-only mount): the redirect target looked up first, then the redirected dir: both fine",
  "lowerdir={A}:{B}", [L("A", D("z_r", xattrs={T + "redirect": "/orig"}), R("z_r/a")), L("B", R("orig/o"))])
S("quirk_estale_upper_two_redirects", "§10 Q2 edge 24: two upper dirs redirecting to one lower dir: the second looked up (r2) gets ESTALE",
  "lowerdir={A}" + UPPER, [L("A", R("orig/o")), L("U", D("r1", xattrs={T + "redirect": "/orig"}), R("r1/u"),
                                                D("r2", xattrs={T + "redirect": "/orig"}), W("orig"))],
  workdirs=["W"])
S("quirk_estale_upper_orig_after_redirect", "§10 Q2 edge 24: after an upper dir redirecting to lower /orig, the still-visible /orig gets ESTALE",
  "lowerdir={A}" + UPPER, [L("A", R("orig/o")), L("U", D("a_r", xattrs={T + "redirect": "/orig"}), R("a_r/u"))],
  workdirs=["W"])
S("quirk_estale_upper_redirect_after_orig", "§10 Q2: /orig looked up first (byte order), then the upper dir redirecting to it gets ESTALE",
  "lowerdir={A}" + UPPER, [L("A", R("orig/o")), L("U", D("z_r", xattrs={T + "redirect": "/orig"}), R("z_r/u"))],
  workdirs=["W"])
S("quirk_inode_alias_upper_metacopy_mode", "§10 Q2 edge 23: a lower file looked up after an upper metacopy redirecting to it shows the metacopy's mode",
  "lowerdir={A}" + UPPER + ",metacopy=on",
  [L("A", R("dat", "lower data\n", mode="0755")), L("U", M("a_meta", 11, "/dat", mode="0600"))], workdirs=["W"])
S("quirk_estale_upper_metacopy_after_lower_file", "§10 Q2: the lower file looked up first (byte order), then an upper metacopy redirecting to it gets ESTALE",
  "lowerdir={A}" + UPPER + ",metacopy=on",
  [L("A", R("a_dat", "lower data\n", mode="0755")), L("U", M("z_meta", 11, "/a_dat", mode="0600"))], workdirs=["W"])
S("quirk_two_upper_metacopies_same_data", "§10 Q2: two upper metacopies redirecting to one lower file: the second gets ESTALE",
  "lowerdir={A}" + UPPER + ",metacopy=on",
  [L("A", R("z_dat", "lower data\n")), L("U", M("m1", 11, "/z_dat"), M("m2", 11, "/z_dat"))], workdirs=["W"])
S("quirk_enametoolong", "§1.5 a name longer than the max f_namelen (255) -> ENAMETOOLONG; 255 works",
  "lowerdir={A}:{B}", [L("A", R("n" * 255, "long\n")), L("B", R("b"))], paths=["/" + "n" * 256, "/" + "q" * 300])
S("readdir_xwhiteout_marker_per_dir", "§3/§10 Q4: after an x-marked dir of layer B was looked up, an unmarked dir of B still lists its xwhiteout",
  "lowerdir={A}:{B}:{C}", [L("A", R("e/a"), R("d/a")), L("B", D("d", xattrs={T + "opaque": "x"}), XW("d/f"), XW("e/f")),
                           L("C", R("d/f"), R("e/f"), R("e/c"))])


# ---- second batch
S("opt_metacopy_redirect_follow_lower_only", "§1.4 step 4: without upper redirect_dir=follow becomes on, so metacopy=on,redirect_dir=follow mounts",
  "lowerdir={A}:{B},metacopy=on,redirect_dir=follow", [L("A", M("f", 4)), L("B", R("f", "B:f\n"))])
S("opt_metacopy_redirect_off_lower_only", "§1.4 without upper redirect_dir=off -> follow -> on: metacopy=on mounts",
  "lowerdir={A}:{B},metacopy=on,redirect_dir=off", [L("A", M("f", 4)), L("B", R("f", "B:f\n"))])
S("opt_conflict_metacopy_nofollow_lower_only", "§1.4 without upper metacopy=on,redirect_dir=nofollow still conflicts",
  "lowerdir={A}:{B},metacopy=on,redirect_dir=nofollow", AB)
S("opt_nfs_export_nofollow_lower_only", "§1.4 step 6: nfs_export=on,redirect_dir=nofollow without upper (index forced on)",
  "lowerdir={A}:{B},nfs_export=on,redirect_dir=nofollow", AB)
S("opt_nfs_export_index_off_lower_only", "§1.4 step 6: nfs_export=on,index=off without upper: falls back before the conflict check",
  "lowerdir={A}:{B},nfs_export=on,index=off", AB)
S("opt_nfs_export_metacopy_lower_only", "§1.4 steps 6-7: nfs_export=on,metacopy=on without upper: nfs_export falls back, mounts",
  "lowerdir={A}:{B},nfs_export=on,metacopy=on", [L("A", M("f", 4)), L("B", R("f", "B:f\n"))])
S("opt_conflict_userxattr_redirect_off", "§1.4 step 8: userxattr,redirect_dir=off conflicts (off reported as follow)",
  "lowerdir={A}:{B},userxattr,redirect_dir=off", AB)
S("opt_userxattr_metacopy_off_ok", "§1.4 step 8: userxattr,metacopy=off is accepted",
  "lowerdir={A}:{B},userxattr,metacopy=off", AB)
S("opt_workdir_equals_upper", "§1.5 workdir = upperdir -> rejected",
  "lowerdir={A},upperdir={U},workdir={U}", [L("A", R("a")), L("U", R("u"))])
S("opt_workdir_is_lower", "§1.5 workdir is also a lower layer",
  "lowerdir={A}:{B},upperdir={U},workdir={B}", AB + [L("U", R("u"))])
S("opt_lower_inside_upper", "§1.5 a lower layer inside the upper layer",
  "lowerdir={U}/sub,upperdir={U},workdir={W}", [L("U", R("u"), R("sub/s"))], workdirs=["W"], paths=["/sub"])
S("opt_workdir_inside_lower", "§1.5 workdir inside a lower layer",
  "lowerdir={A},upperdir={U},workdir={A}/w", [L("A", R("a"), D("w")), L("U", R("u"))], paths=["/w"])
S("opt_data_layer_nested_in_lower", "§1.5 a data-only layer inside a normal lower -> overlapping",
  "lowerdir={A}::{A}/sub", [L("A", R("a"), R("sub/x"))])
S("redirect_nul_first_byte", "§2.3 a redirect starting with NUL is empty after truncation",
  "lowerdir={A}:{B}", [L("A", D("d", xattrs={T + "redirect": "hex:00742f78"}), R("d/a")), L("B", R("t/x"), R("d/b"))])
S("redirect_long_value", "§2.3 a 300-byte absolute redirect (above redirect_max=256) is still read and followed",
  "lowerdir={A}:{B}", [L("A", D("d", xattrs={T + "redirect": "/" + "/".join(["k" * 29] * 10)}), R("d/a")),
                       L("B", R("/".join(["k" * 29] * 10) + "/x"))])
S("redirect_component_too_long", "§5.1 step 2: a redirect component longer than NAME_MAX counts as not found",
  "lowerdir={A}:{B}", [L("A", D("d", xattrs={T + "redirect": "/" + "q" * 300}), R("d/a")), L("B", R("d/b"))])
S("redirect_target_whiteout", "§5.1 step 4: a redirect target that is a whiteout in the next layer stops the merge",
  "lowerdir={A}:{B}:{C}", [L("A", D("n", xattrs={T + "redirect": "/t"}), R("n/a")), L("B", W("t")), L("C", R("t/c"))])
S("redirect_upper_opaque_ignored", "§5.4 an upper opaque dir's redirect is ignored",
  "lowerdir={A}" + UPPER, [L("A", R("t/x"), R("n/y")),
                           L("U", D("n", xattrs={T + "redirect": "/t", T + "opaque": "y"}), R("n/u"))], workdirs=["W"])
S("metacopy_upper_lower_chain", "§5.5 upper metacopy over lower metacopy over lower data: upper attrs, bottom data",
  "lowerdir={A}:{B}" + UPPER + ",metacopy=on",
  [L("A", M("f", 7, mode="0640")), L("B", R("f", "B:data\n")), L("U", M("f", 7, mode="0604", uid=8))], workdirs=["W"])
S("metacopy_upper_rel_redirect", "§2.3 an upper metacopy with a relative redirect reads the renamed lower file",
  "lowerdir={A}" + UPPER + ",metacopy=on", [L("A", R("old", "A:old\n")), L("U", M("new", 6, "old"), W("old"))],
  workdirs=["W"])
S("metacopy_upper_off_with_lower_eperm", "§5.3 metacopy=off: upper metacopy over lower data -> EPERM",
  "lowerdir={A}" + UPPER, [L("A", R("f", "A:f\n")), L("U", M("f", 4))], workdirs=["W"])
S("dataonly_metacopy_off_upper_chain", "§5.3 metacopy=off: upper metacopy over the bottom lower metacopy with data layer -> EPERM",
  "lowerdir={A}::{C}" + UPPER, [L("A", M("m", 6, "/d/x")), L("U", M("m", 6)), L("C", R("d/x", "C:d/x\n"))],
  workdirs=["W"])
S("dataonly_verity_require_no_digest", "§7 verity=require: lower->data metacopy without digest: stat ok, open EIO",
  "lowerdir={A}::{C},verity=require", [L("A", M("m", 6, "/d/x")), L("C", R("d/x", "C:d/x\n"))])
S("dataonly_lower_meta_chain_to_data", "§5.3 lowerdir=A:B::C, metacopy=on: A meta -> B meta with abs redirect -> data in C",
  "lowerdir={A}:{B}::{C},metacopy=on", [L("A", M("m", 6, mode="0611")), L("B", M("m", 6, "/d/x")),
                                        L("C", R("d/x", "C:d/x\n"))])
S("dataonly_lower_meta_top_redirect_only", "§5.3 A meta with abs redirect, B meta at that path without redirect: chain ends on B's metacopy; last redirect read was none",
  "lowerdir={A}:{B}::{C},metacopy=on", [L("A", M("m", 6, "/d/x")), L("B", M("d/x", 6)), L("C", R("d/x", "C:d/x\n"))])
S("whiteout_upper_over_lower_whiteout_dir", "§3 upper dir over a lower whiteout: the dir is not merged with anything below",
  "lowerdir={A}:{B}" + UPPER, [L("A", W("d")), L("B", R("d/b")), L("U", R("d/u"))], workdirs=["W"])
S("type_upper_file_over_lower_dir", "§5.5 upper regular file over a lower dir",
  "lowerdir={A}" + UPPER, [L("A", R("x/a")), L("U", R("x", "U:x\n"))], workdirs=["W"])
S("type_upper_dir_over_lower_file", "§5.5 upper dir over a lower file: the dir alone",
  "lowerdir={A}:{B}" + UPPER, [L("A", R("x")), L("B", R("x/b")), L("U", R("x/u"))], workdirs=["W"])
S("stat_upper_file_over_lower_file", "§9 upper non-metacopy file shadows the lower file entirely (attrs and data)",
  "lowerdir={A}" + UPPER, [L("A", R("f", "lower\n", mode="0755", uid=3)), L("U", R("f", "upper!\n", mode="0600"))],
  workdirs=["W"])
S("readdir_upper_whiteout_over_lower_dir_listing", "§8.2 names whited out in the upper are absent from the merged listing, others from every layer present",
  "lowerdir={A}:{B}" + UPPER, [L("A", R("d/a1"), R("d/a2")), L("B", R("d/b1"), R("d/a2")), L("U", W("d/a1"), W("d/b1"), R("d/u"))],
  workdirs=["W"])

# ---- third batch
S("opt_conflict_userxattr_redirect_off_upper", "§1.4 step 8 with upper: userxattr,redirect_dir=off conflicts and reports follow",
  "lowerdir={A}" + UPPER + ",userxattr,redirect_dir=off", [L("A", R("a")), L("U")], workdirs=["W"])
S("redirect_nofollow_last_of_parent_stack", "§5.3 nofollow: a dir in the last layer of its parent's stack (not the bottom layer) has its redirect ignored, even an invalid one",
  "lowerdir={A}:{B}:{C},redirect_dir=nofollow", [L("A", R("p/a")), L("B", D("p/n", xattrs={T + "redirect": "//bad"}), R("p/n/x")),
                                                L("C", R("c"))])
S("redirect_follow_last_of_parent_stack", "§5.3 follow: the same dir (last of its parent's stack, not bottom layer) has its invalid redirect read -> EINVAL",
  "lowerdir={A}:{B}:{C},redirect_dir=follow", [L("A", R("p/a")), L("B", D("p/n", xattrs={T + "redirect": "//bad"}), R("p/n/x")),
                                              L("C", R("c"))])
S("whiteout_xwhiteout_nonmerged_with_marker", "§3/§8.1 a non-merged dir with opaque=x (not lowest layer) is listed raw: its xwhiteout shows",
  "lowerdir={A}:{B}", [L("A", D("d", xattrs={T + "opaque": "x"}), XW("d/f"), R("d/a")), L("B", R("b"))])
S("whiteout_xwhiteout_marker_nothing_below", "§3 an xwhiteout in an x-marked merged dir with nothing below is hidden from the listing",
  "lowerdir={A}:{B}", [L("A", D("d", xattrs={T + "opaque": "x"}), XW("d/f"), R("d/a")), L("B", R("d/b"))])


# ---- fourth batch: overlay lookups during readdir (§8.2 steps 5-6; the first five were found by
# tests/kernel/random_stacks.cpp). Layers are given literally, as recorded.
S('readdir_impure_lookup_error',
  '§8.2 step 6 (kernel deviates): pure upper dir /c with impure=y, listed raw; readdir looks every name up for d_ino first; c/a is a metacopy refused under metacopy=off (EPERM), so the whole readdir of /c fails with EPERM (the spec says the entry is dropped)',
  'lowerdir={A},upperdir={U},workdir={W}',
  [{"name": 'U', "entries": [{'path': 'c', 'type': 'dir', 'xattrs': {'trusted.overlay.impure': 'y'}}, {'content': '', 'path': 'c/a', 'type': 'reg', 'xattrs': {'trusted.overlay.metacopy': ''}}]}, {"name": 'A', "entries": []}],
  workdirs=['W'],
  focus=['/c', '/c/a'])
S('readdir_impure_lookup_error_userxattr',
  '§8.2 step 6 (kernel deviates), §2.1 userxattr: pure upper dir /a with user.overlay.impure=y, listed raw; a/c is a metacopy refused under userxattr (EPERM): the whole readdir of /a fails with EPERM',
  'workdir={W},upperdir={U},lowerdir={A},userxattr',
  [{"name": 'U', "entries": [{'path': 'a', 'type': 'dir', 'xattrs': {'user.overlay.impure': 'y'}}, {'content': 'U:meta:a/c\n', 'path': 'a/c', 'type': 'reg', 'xattrs': {'user.overlay.metacopy': ''}}]}, {"name": 'A', "entries": []}],
  workdirs=['W'],
  focus=['/a', '/a/c'])
S('readdir_xwhiteout_check_error_dir_lowest',
  '§3, §8.2 step 5 (kernel deviates): merged /a (upper a + A/a with opaque=x; A is the lowest layer of /a, not of the mount): the xwhiteout check looks up b, a metacopy refused under metacopy=off (EPERM); on ext4 A/a lists b before . and .. (hash order), so nothing was emitted before the failure and readdir of /a fails with EPERM',
  'lowerdir={A}:{B},upperdir={U},workdir={W}',
  [{"name": 'U', "entries": [{'path': 'a', 'type': 'dir'}]}, {"name": 'A', "entries": [{'path': 'a', 'type': 'dir', 'xattrs': {'trusted.overlay.opaque': 'x'}}, {'content': '', 'path': 'a/b', 'type': 'reg', 'xattrs': {'trusted.overlay.metacopy': ''}}]}, {"name": 'B', "entries": []}],
  workdirs=['W'],
  focus=['/a', '/a/b'])
S('readdir_xwhiteout_check_error_dropped',
  '§3, §8.2 step 5: root with lower A root opaque=x (A not the lowest): the xwhiteout check of b fails with EPERM after . and .. were emitted, so b is silently dropped (no readdir error)',
  'lowerdir={A}:{B}',
  [{"name": 'A', "entries": [{'path': '/', 'type': 'dir', 'xattrs': {'trusted.overlay.opaque': 'x'}}, {'content': '', 'path': 'b', 'type': 'reg', 'xattrs': {'trusted.overlay.metacopy': ''}}]}, {"name": 'B', "entries": []}],
  focus=['/b'])
S('readdir_xwhiteout_check_error_dropped_subdir',
  "§3, §8.2 step 5: merged /b (A/b opaque=x over B/b): the xwhiteout check of A/b/b fails with EPERM after the lowest dir's . and .. were emitted, so b is silently dropped (no readdir error)",
  'workdir={W},upperdir={U},lowerdir={A}:{B}',
  [{"name": 'U', "entries": []}, {"name": 'A', "entries": [{'path': 'b', 'type': 'dir', 'xattrs': {'trusted.overlay.opaque': 'x'}}, {'content': '', 'path': 'b/b', 'type': 'reg', 'xattrs': {'trusted.overlay.metacopy': ''}}]}, {"name": 'B', "entries": [{'path': 'b', 'type': 'dir'}]}],
  workdirs=['W'],
  focus=['/b/b'])
S('readdir_impure_raw_negative_listed',
  '§8.2 step 6: pure upper impure dir listed raw: a char 0:0 whiteout and an xwhiteout there have negative lookups, which change nothing: both stay listed (only a failing lookup fails the readdir)',
  'lowerdir={A},upperdir={U},workdir={W}',
  [{"name": 'U', "entries": [{'path': 'd', 'type': 'dir', 'xattrs': {'trusted.overlay.impure': 'y'}}, {'path': 'd/w', 'type': 'whiteout'}, {'content': '', 'path': 'd/x', 'type': 'reg', 'xattrs': {'trusted.overlay.whiteout': ''}}, {'content': 'f\n', 'path': 'd/f', 'type': 'reg'}]}, {"name": 'A', "entries": [{'content': 'a\n', 'path': 'a', 'type': 'reg'}]}],
  workdirs=['W'])
S('readdir_impure_raw_lookup_eio',
  '§8.2 step 6 (kernel deviates): pure upper impure dir listed raw with a metacopy file without data (EIO under metacopy=on): the whole readdir fails with EIO',
  'lowerdir={A},upperdir={U},workdir={W},metacopy=on',
  [{"name": 'U', "entries": [{'path': 'd', 'type': 'dir', 'xattrs': {'trusted.overlay.impure': 'y'}}, {'content': '', 'path': 'd/m', 'type': 'reg', 'xattrs': {'trusted.overlay.metacopy': ''}}, {'content': 'f\n', 'path': 'd/f', 'type': 'reg'}]}, {"name": 'A', "entries": [{'content': 'a\n', 'path': 'a', 'type': 'reg'}]}],
  workdirs=['W'])
S('readdir_impure_not_impure_no_lookup',
  '§8.2 step 6: the same pure upper dir without impure=y is not looked up during readdir: the refused metacopy m is listed, only its own lstat fails (EPERM)',
  'lowerdir={A},upperdir={U},workdir={W}',
  [{"name": 'U', "entries": [{'path': 'd', 'type': 'dir'}, {'content': '', 'path': 'd/m', 'type': 'reg', 'xattrs': {'trusted.overlay.metacopy': ''}}, {'content': 'f\n', 'path': 'd/f', 'type': 'reg'}]}, {"name": 'A', "entries": [{'content': 'a\n', 'path': 'a', 'type': 'reg'}]}],
  workdirs=['W'])
S('readdir_impure_merged_two_failures',
  "§8.2 step 6: merged impure dir: the upper names m1, m2 both fail (EPERM); the first failure comes after the lowest dir's entries were emitted and is swallowed (m1 dropped), the next getdents call starts with m2 and fails: readdir of /d fails with EPERM",
  'lowerdir={A},upperdir={U},workdir={W}',
  [{"name": 'U', "entries": [{'path': 'd', 'type': 'dir', 'xattrs': {'trusted.overlay.impure': 'y'}}, {'content': '', 'path': 'd/m1', 'type': 'reg', 'xattrs': {'trusted.overlay.metacopy': ''}}, {'content': '', 'path': 'd/m2', 'type': 'reg', 'xattrs': {'trusted.overlay.metacopy': ''}}]}, {"name": 'A', "entries": [{'content': 'a\n', 'path': 'd/a', 'type': 'reg'}]}],
  workdirs=['W'])
S('readdir_impure_merged_failure_between',
  '§8.2 step 6: merged impure dir: failing upper names separated by an emitted one are each swallowed and dropped (no readdir error)',
  'lowerdir={A},upperdir={U},workdir={W}',
  [{"name": 'U', "entries": [{'path': 'd', 'type': 'dir', 'xattrs': {'trusted.overlay.impure': 'y'}}, {'content': '', 'path': 'd/m1', 'type': 'reg', 'xattrs': {'trusted.overlay.metacopy': ''}}, {'content': 'f\n', 'path': 'd/f', 'type': 'reg'}, {'content': '', 'path': 'd/m2', 'type': 'reg', 'xattrs': {'trusted.overlay.metacopy': ''}}]}, {"name": 'A', "entries": [{'content': 'a\n', 'path': 'd/a', 'type': 'reg'}]}],
  workdirs=['W'])
S('readdir_xwhiteout_check_positive_listed',
  '§3, §8.2 step 5: the xwhiteout check of a regular file in an x-marked non-lowest lower dir that is no whiteout finds it (positive lookup): listed',
  'lowerdir={A}:{B}',
  [{"name": 'A', "entries": [{'path': 'd', 'type': 'dir', 'xattrs': {'trusted.overlay.opaque': 'x'}}, {'content': 'f\n', 'path': 'd/f', 'type': 'reg'}, {'content': '', 'path': 'd/x', 'type': 'reg', 'xattrs': {'trusted.overlay.whiteout': ''}}]}, {"name": 'B', "entries": [{'content': 'g\n', 'path': 'd/g', 'type': 'reg'}]}])
S('readdir_xwhiteout_check_error_c',
  '§3, §8.2 step 5: like readdir_xwhiteout_check_error_dir_lowest with the failing name c: ext4 lists A/a as . c .. (hash order), so . was emitted before the failed check of c (EPERM), which is swallowed: c is silently dropped',
  'lowerdir={A}:{B},upperdir={U},workdir={W}',
  [{"name": 'U', "entries": [{'path': 'a', 'type': 'dir'}]}, {"name": 'A', "entries": [{'path': 'a', 'type': 'dir', 'xattrs': {'trusted.overlay.opaque': 'x'}}, {'content': '', 'path': 'a/c', 'type': 'reg', 'xattrs': {'trusted.overlay.metacopy': ''}}]}, {"name": 'B', "entries": []}],
  workdirs=['W'])
S('readdir_xwhiteout_check_error_after_file',
  "§3, §8.2 step 5 (kernel deviates): x-marked A/a, the lowest dir of /a (not the mount's lowest), holds a refused metacopy b (EPERM) and plain files: the failure surfaces only if nothing was emitted before it in that getdents call; ext4 lists A/a as b . k .. z y (hash order), so readdir of /a fails with EPERM",
  'lowerdir={A}:{B},upperdir={U},workdir={W}',
  [{"name": 'U', "entries": [{'path': 'a', 'type': 'dir'}]}, {"name": 'A', "entries": [{'path': 'a', 'type': 'dir', 'xattrs': {'trusted.overlay.opaque': 'x'}}, {'content': '', 'path': 'a/b', 'type': 'reg', 'xattrs': {'trusted.overlay.metacopy': ''}}, {'content': 'z\n', 'path': 'a/z', 'type': 'reg'}, {'content': 'y\n', 'path': 'a/y', 'type': 'reg'}, {'content': 'k\n', 'path': 'a/k', 'type': 'reg'}]}, {"name": 'B', "entries": []}],
  workdirs=['W'])
S('readdir_xwhiteout_check_not_regular',
  '§3, §8.2 step 5: only DT_REG names get the xwhiteout check: in an x-marked non-lowest lower dir a symlink and a dir are listed without a lookup',
  'lowerdir={A}:{B}',
  [{"name": 'A', "entries": [{'path': 'd', 'type': 'dir', 'xattrs': {'trusted.overlay.opaque': 'x'}}, {'path': 'd/l', 'target': 'nowhere', 'type': 'lnk'}, {'path': 'd/s', 'type': 'dir'}, {'content': '', 'path': 'd/x', 'type': 'reg', 'xattrs': {'trusted.overlay.whiteout': ''}}]}, {"name": 'B', "entries": [{'content': 'g\n', 'path': 'd/g', 'type': 'reg'}]}])
S('readdir_xwhiteout_unmarked_error_listed',
  '§3, §8.2: without opaque=x there is no xwhiteout check: a refused metacopy (EPERM) in a merged lower dir is listed, only its lstat fails',
  'lowerdir={A}:{B}',
  [{"name": 'A', "entries": [{'content': '', 'path': 'd/b', 'type': 'reg', 'xattrs': {'trusted.overlay.metacopy': ''}}, {'content': 'f\n', 'path': 'd/f', 'type': 'reg'}]}, {"name": 'B', "entries": [{'content': 'g\n', 'path': 'd/g', 'type': 'reg'}]}])

S('readdir_xwhiteout_check_error_dots_apart',
  "§3, §8.2 step 5: root with lower A root opaque=x over B: the xwhiteout checks of c (refused metacopy, EPERM; c is in B, so in the front list) and b (metacopy value of 2 bytes, EIO; main list) both fail; ext4 lists B's root as . c .. so each failure follows an emitted dot in its own getdents call: both are dropped silently, no readdir error (found by tests/kernel/random_stacks.cpp, seed 424242)",
  'lowerdir={A}:{B}',
  [{"name": "A", "entries": [{'path': '/', 'type': 'dir', 'xattrs': {'trusted.overlay.opaque': 'x'}}, {'content': '', 'path': 'b', 'type': 'reg', 'xattrs': {'trusted.overlay.metacopy': 'hex:0003'}}, {'content': '', 'path': 'c', 'type': 'reg', 'xattrs': {'trusted.overlay.metacopy': ''}}]}, {"name": "B", "entries": [{'content': '', 'path': 'c', 'type': 'reg'}]}])


os.makedirs(OUT, exist_ok=True)
for name, d in SC.items():
    with open(os.path.join(OUT, name + ".json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(d, indent=1, ensure_ascii=False) + "\n")
counts = {}
for n in SC:
    counts[n.split("_")[0]] = counts.get(n.split("_")[0], 0) + 1
print(len(SC), "scenarios:", ", ".join("%s %d" % kv for kv in sorted(counts.items())))
