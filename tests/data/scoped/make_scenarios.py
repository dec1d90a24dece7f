#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the scoped-redirect scenarios (NAME.json) and their expected dumps (expected/NAME.jsonl).

The expected dumps are written by hand from the definition of scoped/strict data redirects in
include/ovlcore/extensions.hpp (also README "Differences from the kernel"): every record below is
stated explicitly; only the sha256 of a named file content is computed. The kernel's answers for
the same stacks in default mode (the "ovlcore" key is ignored by the kernel) live in kernel/ and
are recorded, never written:

    python3 tests/data/scoped/make_scenarios.py
    sudo python3 tools/kernel_oracle.py record tests/data/scoped/*.json --out-dir /tmp/rec
    cp /tmp/rec/expected/*.jsonl tests/data/scoped/kernel/
"""
import hashlib
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
MC = "trusted.overlay.metacopy"
RD = "trusted.overlay.redirect"
OP = "trusted.overlay.opaque"


def meta(path, redirect, size=6, ns="trusted"):
    x = {ns + ".overlay.metacopy": ""}
    if redirect is not None:
        x[ns + ".overlay.redirect"] = redirect
    return {"path": path, "type": "reg", "content": "", "size": size, "xattrs": x}


def reg(path, content):
    return {"path": path, "type": "reg", "content": content}


def d(path, **xattrs):
    e = {"path": path, "type": "dir"}
    if xattrs:
        e["xattrs"] = xattrs
    return e


# --- expected records ---------------------------------------------------------------------------

def r_dir(path, mode="0755"):
    return {"path": path, "type": "dir", "mode": mode, "uid": 0, "gid": 0}


def r_reg(path, content, size=None, mode="0644"):
    return {"path": path, "type": "reg", "mode": mode, "uid": 0, "gid": 0,
            "size": len(content) if size is None else size,
            "sha256": hashlib.sha256(content.encode()).hexdigest()}


def r_reg_err(path, size, err, mode="0644"):
    return {"path": path, "type": "reg", "mode": mode, "uid": 0, "gid": 0, "size": size, "error": err}


def r_err(path, err):
    return {"path": path, "error": err}


SCENARIOS = {}


def scenario(name, why, options, layers, expected, scope="scoped", workdirs=None, paths=None):
    doc = {"why": why, "options": options}
    if workdirs:
        doc["workdirs"] = workdirs
    if paths:
        doc["paths"] = paths
    doc["ovlcore"] = {"data_redirects": scope}
    doc["layers"] = [{"name": n, "entries": e} for n, e in layers]
    SCENARIOS[name] = (doc, expected)


CD = "C:d/f\n"   # 6 bytes, the data the redirects are meant for
BD = "B:d/f\n"   # 6 bytes, a same-named file in a normal lower

scenario(
    "scoped_basic",
    "scoped: '//d/f' on a lower metacopy takes C/d/f although B/d/f exists; '/d/f' keeps the kernel "
    "meaning (B wins, spec 5.3); kernel: '//d/f' is EINVAL (2.3)",
    "lowerdir={A}:{B}::{C},metacopy=on",
    [("A", [meta("m", "//d/f"), meta("k", "/d/f")]),
     ("B", [reg("d/f", BD), meta("bm", "//d/f")]),
     ("C", [reg("d/f", CD)])],
    [r_dir("/"), r_dir("/d"), r_reg("/d/f", BD), r_reg("/k", BD), r_reg("/m", CD), r_reg("/bm", CD)])

scenario(
    "scoped_dir_in_lower",
    "scoped: a dir B/d does not stop '//d/f' (no normal lower is searched); '/d/f' still fails with "
    "EIO as in the kernel (10 Q1); kernel: '//d/f' is EINVAL",
    "lowerdir={A}:{B}::{C},metacopy=on",
    [("A", [meta("m", "//d/f"), meta("k", "/d/f")]),
     ("B", [reg("d/other", "o\n")]),
     ("C", [reg("d/f", CD)])],
    [r_dir("/"), r_dir("/d"), r_reg("/d/other", "o\n"), r_err("/k", "EIO"), r_reg("/m", CD)])

scenario(
    "scoped_data_errors",
    "scoped: data-only walk rules and errnos of spec 6 in layer order, the errno of the last layer "
    "tried (C: ENOENT, D: ENOTDIR/ELOOP), in-root '..' works, stat works before open; kernel: every "
    "'//' value is EINVAL",
    "lowerdir={A}:{B}::{C}::{D},metacopy=on",
    [("A", [meta("missing", "//d/missing"), meta("notdir", "//e/x"), meta("loop", "//l/f"),
            meta("second", "//d/g"), meta("dots", "//d/../d/f")]),
     ("B", [reg("b", "b\n")]),
     ("C", [reg("d/f", CD)]),
     ("D", [reg("d/g", "D:d/g\n"), reg("e", "e\n"), {"path": "l", "type": "lnk", "target": "d"}])],
    [r_dir("/"), r_reg("/b", "b\n"), r_reg_err("/missing", 6, "ENOENT"),
     r_reg_err("/notdir", 6, "ENOTDIR"), r_reg_err("/loop", 6, "ELOOP"),
     r_reg("/second", "D:d/g\n"), r_reg("/dots", CD)])

scenario(
    "scoped_no_data_layers",
    "scoped: without data-only layers '//d/f' finds no data: EIO (the kernel's metacopy without "
    "data); a bottom-layer metacopy's redirect is not read at all (5.3), EIO in both modes",
    "lowerdir={A}:{B},metacopy=on",
    [("A", [meta("m", "//d/f")]),
     ("B", [reg("d/f", BD), meta("bm", "//d/f")])],
    [r_dir("/"), r_dir("/d"), r_reg("/d/f", BD), r_err("/m", "EIO"), r_err("/bm", "EIO")])

scenario(
    "scoped_upper_and_dirs",
    "scoped: '//' is EINVAL on an upper metacopy and on dirs (upper or lower), as in the kernel; an "
    "upper metacopy over a lower '//d/f' metacopy gets C/d/f",
    "lowerdir={A}:{B}::{C},upperdir={U},workdir={W},metacopy=on,redirect_dir=on",
    [("U", [meta("um", "//d/f"), d("udir", **{RD: "//d"}), meta("m2", None)]),
     ("A", [meta("m2", "//d/f"), d("adir", **{RD: "//d"}), reg("adir/x", "x\n")]),
     ("B", [reg("d/f", BD), reg("adir/y", "y\n")]),
     ("C", [reg("d/f", CD)])],
    [r_dir("/"), r_dir("/d"), r_reg("/d/f", BD), r_err("/um", "EINVAL"), r_err("/udir", "EINVAL"),
     r_err("/adir", "EINVAL"), r_reg("/m2", CD)],
    workdirs=["W"])

scenario(
    "scoped_nofollow",
    "scoped: like the kernel's lower->data case (6.16) a scoped redirect needs neither metacopy=on "
    "nor redirect following; '/d/f' in a middle layer stays EPERM (5.3)",
    "lowerdir={A}:{B}::{C},redirect_dir=nofollow",
    [("A", [meta("m", "//d/f"), meta("k", "/d/f")]),
     ("B", [reg("d/f", BD)]),
     ("C", [reg("d/f", CD)])],
    [r_dir("/"), r_dir("/d"), r_reg("/d/f", BD), r_err("/k", "EPERM"), r_reg("/m", CD)])

scenario(
    "scoped_userxattr",
    "scoped: with userxattr the value is read from user.overlay.redirect; trusted.* stays ignored "
    "(2.1); kernel: EINVAL for the user.* '//' value",
    "lowerdir={A}:{B}::{C},userxattr",
    [("A", [meta("m", "//d/f", ns="user"),
            {"path": "t", "type": "reg", "content": "A:t\n", "xattrs": {MC: "", RD: "//d/f"}}]),
     ("B", [reg("d/f", BD)]),
     ("C", [reg("d/f", CD)])],
    [r_dir("/"), r_dir("/d"), r_reg("/d/f", BD), r_reg("/m", CD), r_reg("/t", "A:t\n")])

scenario(
    "scoped_invalid_forms",
    "scoped: '//', '///d', '//d/', '//d//f' stay EINVAL; a non-metacopy file's redirect is never "
    "read (5.1 step 6), whatever its value",
    "lowerdir={A}:{B}::{C},metacopy=on",
    [("A", [meta("m1", "//"), meta("m2", "///d"), meta("m3", "//d/"), meta("m4", "//d//f"),
            {"path": "p", "type": "reg", "content": "A:p\n", "xattrs": {RD: "//d/f"}}]),
     ("B", [reg("b", "b\n")]),
     ("C", [reg("d/f", CD)])],
    [r_dir("/"), r_reg("/b", "b\n"), r_err("/m1", "EINVAL"), r_err("/m2", "EINVAL"),
     r_err("/m3", "EINVAL"), r_err("/m4", "EINVAL"), r_reg("/p", "A:p\n")])

scenario(
    "strict_basic",
    "strict: '/x' on a lower metacopy means '//x': C wins over B/d/f, B/e (a dir) no longer gives "
    "EIO; relative redirects keep their meaning; kernel: B/d/f, EIO, EINVAL",
    "lowerdir={A}:{B}::{C},metacopy=on",
    [("A", [meta("m", "/d/f"), meta("q", "/e/g"), meta("s", "//d/f"), meta("r", "f2", size=3)]),
     ("B", [reg("d/f", BD), reg("e/h", "h\n"), reg("f2", "f2\n")]),
     ("C", [reg("d/f", CD), reg("e/g", "C:e/g\n")])],
    [r_dir("/"), r_dir("/d"), r_reg("/d/f", BD), r_dir("/e"), r_reg("/e/h", "h\n"),
     r_reg("/f2", "f2\n"), r_reg("/m", CD), r_reg("/q", "C:e/g\n"), r_reg("/s", CD),
     r_reg("/r", "f2\n", size=3)],
    scope="strict")

scenario(
    "strict_upper_kept",
    "strict: an upper metacopy's '/d/f' keeps the kernel meaning (normal lowers first), even with "
    "data-only layers",
    "lowerdir={A}::{C},upperdir={U},workdir={W},metacopy=on,redirect_dir=on",
    [("U", [meta("um", "/d/f"), {"path": "d", "type": "whiteout"}]),
     ("A", [reg("d/f", "A:d/f\n"), reg("a", "a\n")]),
     ("C", [reg("d/f", CD)])],
    [r_dir("/"), r_reg("/a", "a\n"), r_reg("/um", "A:d/f\n")],
    scope="strict", workdirs=["W"])


def main():
    for name, (doc, expected) in SCENARIOS.items():
        with open(os.path.join(HERE, name + ".json"), "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        with open(os.path.join(HERE, "expected", name + ".jsonl"), "w") as f:
            for rec in sorted(expected, key=lambda r: r["path"].encode()):
                f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
