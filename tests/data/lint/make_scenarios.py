#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the ovl-lint scenarios (NAME.json, scenario format of tests/data/kernel/README.md, plus an
optional {"ovlcore": {"data_redirects": ...}} object naming the extension to lint under) and the
findings expected from them (expected/NAME.jsonl: one {"path", "severity", "code"} per line; an
empty file for a clean stack). Every expectation is stated by hand from the spec section in `why`
and the lint codes of include/ovlcore/lint.hpp; tests/unit/lint.cpp compares them as sets.

    python3 tests/data/lint/make_scenarios.py
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
MC = "trusted.overlay.metacopy"
RD = "trusted.overlay.redirect"
WH = "trusted.overlay.whiteout"


def meta(path, redirect=None, size=6, value=""):
    x = {MC: value}
    if redirect is not None:
        x[RD] = redirect
    return {"path": path, "type": "reg", "content": "", "size": size, "xattrs": x}


def reg(path, content):
    return {"path": path, "type": "reg", "content": content}


def finding(path, severity, code):
    return {"path": path, "severity": severity, "code": code}


SCENARIOS = {}


def scenario(name, why, options, layers, findings, scope=None, workdirs=None):
    doc = {"why": why, "options": options}
    if workdirs:
        doc["workdirs"] = workdirs
    if scope:
        doc["ovlcore"] = {"data_redirects": scope}
    doc["layers"] = [{"name": n, "entries": e} for n, e in layers]
    SCENARIOS[name] = (doc, findings)


DIGEST_V1 = "hex:01240001" + "ab" * 32   # version 1: refused by an open with verity (2.2)

scenario("lint_data_redirect_in_lower",
         "5.3/10 Q1: '/d/f' of a lower metacopy resolves in normal lower B; C lacks it",
         "lowerdir={A}:{B}::{C},metacopy=on",
         [("A", [meta("m", "/d/f")]), ("B", [reg("d/f", "B:d/f\n")]), ("C", [reg("x", "x\n")])],
         [finding("/m", "warning", "data-redirect-in-lower")])
scenario("lint_data_redirect_shadowed",
         "5.3/10 Q1 (edge 16): B/d/f silently wins over the data-only C/d/f",
         "lowerdir={A}:{B}::{C},metacopy=on",
         [("A", [meta("m", "/d/f")]), ("B", [reg("d/f", "B:d/f\n")]), ("C", [reg("d/f", "C:d/f\n")])],
         [finding("/m", "warning", "data-redirect-shadowed")])
scenario("lint_strict_shadowed_clean",
         "strict scoping: the same stack takes C/d/f, nothing to report",
         "lowerdir={A}:{B}::{C},metacopy=on",
         [("A", [meta("m", "/d/f")]), ("B", [reg("d/f", "B:d/f\n")]), ("C", [reg("d/f", "C:d/f\n")])],
         [], scope="strict")
scenario("lint_dir_blocks_data_redirect",
         "10 Q1 (edge 16): a mere dir B/d makes '/d/f' fail with EIO instead of using C/d/f",
         "lowerdir={A}:{B}::{C},metacopy=on",
         [("A", [meta("m", "/d/f")]), ("B", [reg("d/other", "o\n")]), ("C", [reg("d/f", "C:d/f\n")])],
         [finding("/m", "error", "dir-blocks-data-redirect")])
scenario("lint_dangling_data_redirect",
         "6 (edge 18): lazy data found in no data-only layer: stat works, open fails with ENOENT",
         "lowerdir={A}::{C}",
         [("A", [meta("m", "/d/missing")]), ("C", [reg("d/f", "C:d/f\n")])],
         [finding("/m", "error", "dangling-data-redirect")])
scenario("lint_invalid_redirect",
         "2.3 (edge 11): 'a/b' is EINVAL; '//d/f' is EINVAL in kernel mode (scoped redirect)",
         "lowerdir={A}:{B}::{C},metacopy=on",
         [("A", [meta("m", "a/b"), meta("s", "//d/f")]), ("B", [reg("b", "b\n")]),
          ("C", [reg("d/f", "C:d/f\n")])],
         [finding("/m", "error", "invalid-redirect"), finding("/s", "error", "invalid-redirect")])
scenario("lint_metacopy_without_data",
         "5.5: a metacopy file with nothing below it: EIO",
         "lowerdir={A}:{B},metacopy=on",
         [("A", [meta("m")]), ("B", [reg("b", "b\n")])],
         [finding("/m", "error", "metacopy-without-data")])
scenario("lint_refused_by_options",
         "5.3 (edge 17): metacopy=off and a metacopy in a middle layer: EPERM",
         "lowerdir={A}:{B}::{C}",
         [("A", [meta("m", "/d/f")]), ("B", [reg("b", "b\n")]), ("C", [reg("d/f", "C:d/f\n")])],
         [finding("/m", "error", "refused-by-options")])
scenario("lint_malformed_metacopy",
         "2.2 (edge 15): a metacopy xattr of 2 bytes is EIO at lookup",
         "lowerdir={A}:{B},metacopy=on",
         [("A", [meta("m", value="hex:0001")]), ("B", [reg("m", "B:m\n")])],
         [finding("/m", "error", "malformed-metacopy")])
scenario("lint_malformed_digest",
         "2.2/7: version 1 digest: ignored with verity=off (warning)",
         "lowerdir={A}::{C}",
         [("A", [meta("m", "/d/f", value=DIGEST_V1)]), ("C", [reg("d/f", "C:d/f\n")])],
         [finding("/m", "warning", "malformed-digest")])
scenario("lint_malformed_digest_verity",
         "2.2/7: version 1 digest with verity=on: open fails with EIO (error)",
         "lowerdir={A}::{C},verity=on",
         [("A", [meta("m", "/d/f", value=DIGEST_V1)]), ("C", [reg("d/f", "C:d/f\n")])],
         [finding("/m", "error", "malformed-digest")])
scenario("lint_listed_not_found",
         "3/8.1 (edges 9, 10): an xwhiteout listed by the root, a whiteout listed by a dir that is "
         "not merged: both ENOENT on lookup",
         "lowerdir={A}:{B}",
         [("A", [{"path": "w", "type": "reg", "content": "", "xattrs": {WH: ""}},
                 {"path": "only/gone", "type": "whiteout"}, reg("only/kept", "k\n")]),
          ("B", [reg("b", "b\n")])],
         [finding("/w", "warning", "listed-not-found"),
          finding("/only/gone", "warning", "listed-not-found")])
scenario("lint_order_dependent",
         "10 Q2 (edge 24): /r1 redirects to the still visible /orig: one overlay inode, the second "
         "lookup (walk order: /r1) gives ESTALE",
         "lowerdir={A},upperdir={U},workdir={W},redirect_dir=on",
         [("U", [{"path": "r1", "type": "dir", "xattrs": {RD: "/orig"}}]),
          ("A", [reg("orig/x", "x\n")])],
         [finding("/r1", "warning", "order-dependent")], workdirs=["W"])
scenario("lint_mount_refused",
         "1.5 (edge 1): one lowerdir and no upper: the kernel refuses the mount (EINVAL)",
         "lowerdir={A}",
         [("A", [reg("a", "a\n")])],
         [finding("/", "error", "mount-refused")])
scenario("lint_lookup_failed",
         "2.3/5.1 (edge 11): a dir redirect '/./x' walks '.' through a normal layer: EACCES",
         "lowerdir={A}:{B}",
         [("A", [{"path": "r", "type": "dir", "xattrs": {RD: "/./x"}}]), ("B", [reg("x/y", "y\n")])],
         [finding("/r", "error", "lookup-failed")])
scenario("lint_clean_composefs",
         "6: a composefs-like stack (metadata layer + object store, lower->data without metacopy=on)",
         "lowerdir={A}::{C}",
         [("A", [meta("etc/a", "/ob/01"), meta("etc/b", "/ob/02"), meta("usr/c", "/ob/01"),
                 {"path": "usr/l", "type": "lnk", "target": "../etc/a"}]),
          ("C", [reg("ob/01", "one\n"), reg("ob/02", "two\n")])],
         [])
scenario("lint_clean_plain",
         "5.3/8.2: merged dirs, a whiteout and an opaque dir in a merged dir, no overlay surprises",
         "lowerdir={A}:{B}",
         [("A", [reg("d/a", "a\n"), {"path": "d/gone", "type": "whiteout"},
                 {"path": "o", "type": "dir", "xattrs": {"trusted.overlay.opaque": "y"}}]),
          ("B", [reg("d/b", "b\n"), reg("d/gone", "g\n"), reg("o/hidden", "h\n")])],
         [])
scenario("lint_clean_scoped",
         "scoped redirects: '//d/f' takes C/d/f although B/d/f exists: nothing to report",
         "lowerdir={A}:{B}::{C},metacopy=on",
         [("A", [meta("m", "//d/f")]), ("B", [reg("d/f", "B:d/f\n")]), ("C", [reg("d/f", "C:d/f\n")])],
         [], scope="scoped")


def main():
    os.makedirs(os.path.join(HERE, "expected"), exist_ok=True)
    for name, (doc, findings) in SCENARIOS.items():
        with open(os.path.join(HERE, name + ".json"), "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        with open(os.path.join(HERE, "expected", name + ".jsonl"), "w") as f:
            for rec in findings:
                f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
