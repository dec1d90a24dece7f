#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Safe text (docs/cli.md §9), end to end (ctest "tools: safe text"): builds a layer stack whose
# names, symlink target, redirect values and a layer directory hold ESC, BEL, newlines, DEL and
# invalid UTF-8, runs ovl-tree (tree, --explain), ovl-lint (text) and the error paths, and checks
# that no readable output holds a raw control byte other than the newline ending a line, that each
# ovl-lint finding is exactly one line, that names are quoted as GNU ls quotes them, and that the
# jsonl outputs equal the ones recorded before the quoting existed (tests/data/safe_text/).
# Needs no root: the redirects are user.overlay.* xattrs (userxattr).
#
#   safe_text.py WORK_DIR DATA_DIR OVL_TREE OVL_LINT
import os
import re
import shutil
import subprocess
import sys

if len(sys.argv) != 5:
    print("usage: safe_text.py WORK_DIR DATA_DIR OVL_TREE OVL_LINT", file=sys.stderr)
    sys.exit(64)
WORK, DATA, TREE, LINT = (os.path.abspath(a) for a in sys.argv[1:])

ESC_NAME = b"a\x1b]0;pwned\x07b"  # would retitle the terminal
CLEAR_NAME = b"\x1b[2J\x7f"  # would clear the screen
FORGED = b"ok\nerror x invalid-redirect: forged"  # would forge a lint finding
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what, file=sys.stderr)


def build_stack(root):
    """Two lower layers, the first with a hostile directory name; returns the mount options."""
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    low = os.path.join(root.encode(), b"low\x1b]0;pwned\x07")
    base = os.path.join(root.encode(), b"base")

    def reg(path, content=b""):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content)
        os.chmod(path, 0o644)

    reg(low + b"/d/" + ESC_NAME, b"x")
    reg(low + b"/d/line1\nerror x fake-code: forged", b"y")
    reg(low + b"/d/bad\xc3")
    reg(low + b"/d/caf\xc3\xa9")
    reg(low + b"/d/" + CLEAR_NAME)
    os.symlink(b"t\x1b[2J\n\xff", low + b"/d/link\x1b")
    for name, value in ((b"r\nx", b"x\x1b[2J/y\n\xfe"), (FORGED, b"z/\x07")):
        os.mkdir(low + b"/" + name)  # a relative redirect with '/': invalid, EINVAL (§2.3)
        os.setxattr(low + b"/" + name, b"user.overlay.redirect", value)
    reg(base + b"/d/plain", b"z")
    for top in (low, base):
        for dirpath, dirnames, _ in os.walk(top):
            for d in dirnames:
                os.chmod(os.path.join(dirpath, d), 0o755)
        os.chmod(top, 0o755)
    return b"lowerdir=" + low + b":" + base + b",userxattr"


def run(*argv):
    p = subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=WORK)
    return p.returncode, p.stdout, p.stderr


def safe(name, text):
    """No control byte but the newline, no DEL, valid UTF-8 without C1 controls or U+2028/9."""
    bad = [b for b in text if (b < 0x20 and b != 0x0A) or b == 0x7F]
    check(not bad, "%s: raw control bytes %r" % (name, sorted(set(bad))))
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as e:
        check(False, "%s: invalid UTF-8 (%s)" % (name, e))
        return
    check(not re.search("[\x80-\x9f\u2028\u2029]", decoded), name + ": C1 control or separator")


def normalized(jsonl):
    """The recorded dumps were made by uid 0; any user's dump compares equal."""
    return re.sub(rb'"(uid|gid)": \d+', rb'"\1": 0', jsonl)


def expect_jsonl(name, actual):
    with open(os.path.join(DATA, name), "rb") as f:
        check(normalized(actual) == normalized(f.read()), "%s: jsonl differs from %s" % (name, name))


os.makedirs(WORK, exist_ok=True)
opts = build_stack(os.path.join(WORK, "stack"))
mo = ["-o", opts, "--module-defaults=stock"]

# ovl-tree: the readable tree and the dump.
rc, out, err = run(TREE, *mo)
check(rc == 0, "ovl-tree exit %d" % rc)
safe("ovl-tree tree", out + err)
for quoted in (b"'a'$'\\033'']0;pwned'$'\\a''b'", b"''$'\\033''[2J'$'\\177'", b"'bad'$'\\303'",
               b"caf\xc3\xa9 ", b"'link'$'\\033'", b"-> 't'$'\\033''[2J'$'\\n\\377'",
               b"'r'$'\\n''x'", b"'line1'$'\\n''error x fake-code: forged'",
               b"[merged 1:low$'\\033']0;pwned$'\\a' 2:base]"):
    check(quoted in out, "ovl-tree tree: no %r" % quoted)
rc, out, err = run(TREE, *mo, "--format=jsonl")
check(rc == 0, "ovl-tree --format=jsonl exit %d" % rc)
expect_jsonl("tree.jsonl", out)

# ovl-tree --explain, text and jsonl.
for i, path in enumerate((b"/r\nx", b"/d/link\x1b", b"/d/bad\xc3", b"/d/" + ESC_NAME, b"/" + FORGED)):
    rc, out, err = run(TREE, *mo, b"--explain=" + path)
    check(rc == 0, "ovl-tree --explain=%r exit %d" % (path, rc))
    safe("ovl-tree --explain=%r" % path, out + err)
    rc, out, err = run(TREE, *mo, b"--explain=" + path, "--format=jsonl")
    expect_jsonl("explain-%d.jsonl" % i, out)
rc, out, _ = run(TREE, *mo, b"--explain=/r\nx")
check(b"invalid redirect value 'x'$'\\033''[2J/y'$'\\n\\376' on 'r'$'\\n''x'" in out,
      "ovl-tree --explain: redirect value not quoted as expected")

# ovl-lint: one line per finding, the same findings as its jsonl.
rc, text, err = run(LINT, *mo)
check(rc == 4, "ovl-lint exit %d" % rc)
safe("ovl-lint text", text + err)
rc, jsonl, err = run(LINT, *mo, "--format=jsonl")
expect_jsonl("lint.jsonl", jsonl)
findings = jsonl.count(b"\n")
lines = text.split(b"\n")[:-1]
check(findings == 2 and len(lines) == findings + 1,
      "ovl-lint: %d text lines for %d findings and a summary" % (len(lines), findings))
check(all(re.match(rb"(error|warning|info) ", l) for l in lines[:-1]), "ovl-lint: a line is no finding")
check(lines[:1] == [b"error '/ok'$'\\n''error x invalid-redirect: forged' invalid-redirect: "
                    b"invalid redirect 'z/'$'\\a' on [1:low$'\\033']0;pwned$'\\a'] "
                    b"'ok'$'\\n''error x invalid-redirect: forged' (\xc2\xa72.3)"],
      "ovl-lint: first finding %r" % lines[:1])

# Error messages: a refused stack (the kernel's message quotes the layer path), a missing --walk
# directory, a usage error quoting an argument.
missing = os.path.join(WORK.encode(), b"missing\x1b[2J\n")
rc, out, err = run(TREE, "-o", b"lowerdir=" + missing, "--module-defaults=stock")
check(rc == 2 and err.startswith(b"ovl-tree: the kernel would refuse this mount: "),
      "ovl-tree refused: exit %d %r" % (rc, err))
safe("ovl-tree refused", out + err)
rc, out, err = run(LINT, "-o", b"lowerdir=" + missing, "--module-defaults=stock")
check(rc == 2 and out.count(b"\n") == 2, "ovl-lint refused: exit %d, %r" % (rc, out))
safe("ovl-lint refused", out + err)
rc, out, err = run(TREE, b"--walk=" + missing)
check(rc == 1 and err.count(b"\n") == 1, "ovl-tree --walk missing: exit %d %r" % (rc, err))
safe("ovl-tree --walk missing", out + err)
rc, out, err = run(TREE, *mo, b"--probe=x\x1b]0;pwned\x07")
check(rc == 64, "ovl-tree --probe usage error: exit %d" % rc)
safe("ovl-tree usage error", out + err)

print("%d failure(s)" % len(failures) if failures else "ok: all readable outputs are safe text")
sys.exit(1 if failures else 0)
