#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Kernel oracle: mount an overlay scenario with the running kernel and print its canonical dump.

Spec: shared/spec/dump-format.md (dump records), shared/scenarios/README.md (scenario format).

Usage:
  kernel_oracle.py record SCENARIO.json... [--out-dir DIR]   dump to DIR/expected/NAME.jsonl (or stdout)
  kernel_oracle.py check SCENARIO.json EXPECTED.jsonl         record and compare as sets of records
  kernel_oracle.py --self-test [SCENARIO_DIR]                 check every DIR/*.json against DIR/expected/

Needs root and overlayfs. The script re-executes itself under `unshare -m --propagation private`, so
every mount lives in a private mount namespace; each scenario gets a fresh copy of its layers in a new
temporary directory that is removed afterwards. Only the Python standard library is used.

Walk order (matters for the order-dependent quirks Q2/Q3/Q4 of spec section 10): depth-first from "/",
children in byte order; every entry is lstat()ed, a regular file is then opened and read completely,
a symlink is read, a directory is listed and recursed into. Afterwards the extra "paths" probes are
lstat()ed (and read) in the order given. Each probe gets a record; probes are not recursed into.
"""

import ctypes
import ctypes.util
import errno
import hashlib
import json
import os
import shutil
import stat
import sys
import tempfile

NS_MARKER = "OVLCORE_ORACLE_IN_NS"
DEFAULT_SCENARIOS = "/work/shared/scenarios"
MNT_DETACH = 2

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def fsenc(s):
    return s.encode("utf-8", "surrogateescape") if isinstance(s, str) else s


def errname(code):
    return errno.errorcode.get(code, "E%d" % code)


# ---------------------------------------------------------------------------------------------------
# Scenario materialization

DEFAULT_MODES = {"reg": 0o644, "dir": 0o755, "lnk": None, "chr": 0o644, "blk": 0o644,
                 "fifo": 0o644, "sock": 0o644, "whiteout": 0o000}


def xattr_value(v):
    if v.startswith("hex:"):
        return bytes.fromhex(v[4:])
    return fsenc(v)


def parse_rdev(s):
    major, minor = s.split(":")
    return os.makedev(int(major), int(minor))


def make_parents(path):
    parent = os.path.dirname(path)
    if parent and not os.path.lexists(parent):
        make_parents(parent)
        os.mkdir(parent, 0o755)


def make_entry(layer_dir, e):
    rel = e["path"].strip("/")
    path = os.path.join(layer_dir, rel) if rel else layer_dir
    kind = e.get("type", "reg")
    make_parents(path)
    if kind == "dir":
        if not os.path.isdir(path):
            os.mkdir(path, 0o755)
    elif kind == "reg":
        with open(fsenc(path), "wb") as f:
            f.write(fsenc(e.get("content", "")))
        if "size" in e:
            os.truncate(fsenc(path), int(e["size"]))
    elif kind == "lnk":
        os.symlink(fsenc(e["target"]), fsenc(path))
    elif kind in ("chr", "blk"):
        fmt = stat.S_IFCHR if kind == "chr" else stat.S_IFBLK
        os.mknod(fsenc(path), fmt | 0o644, parse_rdev(e.get("rdev", "0:0")))
    elif kind == "whiteout":
        os.mknod(fsenc(path), stat.S_IFCHR, os.makedev(0, 0))
    elif kind == "fifo":
        os.mkfifo(fsenc(path), 0o644)
    elif kind == "sock":
        os.mknod(fsenc(path), stat.S_IFSOCK | 0o644)
    else:
        raise ValueError("unknown entry type %r" % kind)
    bpath = fsenc(path)
    if "uid" in e or "gid" in e:
        os.lchown(bpath, int(e.get("uid", 0)), int(e.get("gid", 0)))
    if kind != "lnk":
        mode = int(e["mode"], 8) if "mode" in e else DEFAULT_MODES[kind]
        if mode is not None:
            os.chmod(bpath, mode)
    for name, value in e.get("xattrs", {}).items():
        os.setxattr(bpath, fsenc(name), xattr_value(value), follow_symlinks=False)


def materialize(scn, root):
    subst = {"ROOT": root}
    for layer in scn.get("layers", []):
        ldir = os.path.join(root, layer["name"])
        if not os.path.isdir(ldir):
            os.makedirs(ldir, 0o755)
        subst[layer["name"]] = ldir
        for e in layer.get("entries", []):
            make_entry(ldir, e)
    for w in scn.get("workdirs", []):
        wdir = os.path.join(root, w)
        os.makedirs(wdir, 0o755, exist_ok=True)
        subst[w] = wdir
    opts = scn.get("options", "")
    out, i = [], 0
    while i < len(opts):
        if opts[i] == "{":
            j = opts.find("}", i)
            key = opts[i + 1:j] if j > 0 else None
            if key is not None and key in subst:
                out.append(subst[key])
                i = j + 1
                continue
        out.append(opts[i])
        i += 1
    return "".join(out)


# ---------------------------------------------------------------------------------------------------
# Kernel log (best-effort mount error message)

class KmsgTail:
    def __init__(self):
        try:
            self.fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
            os.lseek(self.fd, 0, os.SEEK_END)
        except OSError:
            self.fd = None

    def read_new(self):
        lines = []
        if self.fd is None:
            return lines
        while True:
            try:
                rec = os.read(self.fd, 8192)
            except BlockingIOError:
                break
            except OSError as ex:
                if ex.errno == errno.EPIPE:
                    continue
                break
            if not rec:
                break
            head, _, msg = rec.decode("utf-8", "replace").partition(";")
            try:
                level = int(head.split(",")[0]) & 7
            except ValueError:
                level = 6
            lines.append((level, msg.split("\n")[0]))
        return lines

    def close(self):
        if self.fd is not None:
            os.close(self.fd)


def pick_message(lines):
    ovl = [(lv, m) for lv, m in lines if m.startswith("overlayfs: ") or m.startswith("overlay: ")]
    errs = [m for lv, m in ovl if lv <= 3]
    if errs:
        return errs[-1]
    if ovl:
        return ovl[-1][1]
    return ""


# ---------------------------------------------------------------------------------------------------
# Dump of a mounted tree (dump-format.md)

TYPE_NAMES = {stat.S_IFREG: "reg", stat.S_IFDIR: "dir", stat.S_IFLNK: "lnk", stat.S_IFCHR: "chr",
              stat.S_IFBLK: "blk", stat.S_IFIFO: "fifo", stat.S_IFSOCK: "sock"}


def record_for(mnt, path):
    """lstat `path` (overlay path, "/" or "/a/b") under mnt; returns (record, is_dir)."""
    real = mnt if path == "/" else mnt + fsenc(path)
    rec = {"path": path}
    try:
        st = os.lstat(real)
    except OSError as ex:
        rec["error"] = errname(ex.errno)
        return rec, False
    fmt = stat.S_IFMT(st.st_mode)
    kind = TYPE_NAMES.get(fmt, "unknown")
    rec["type"] = kind
    rec["mode"] = "%04o" % (st.st_mode & 0o7777)
    rec["uid"] = st.st_uid
    rec["gid"] = st.st_gid
    if kind == "reg":
        rec["size"] = st.st_size
        try:
            fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                h = hashlib.sha256()
                while True:
                    chunk = os.read(fd, 1 << 16)
                    if not chunk:
                        break
                    h.update(chunk)
                rec["sha256"] = h.hexdigest()
            finally:
                os.close(fd)
        except OSError as ex:
            rec["error"] = errname(ex.errno)
    elif kind == "lnk":
        rec["size"] = st.st_size
        try:
            rec["target"] = os.readlink(real).decode("utf-8", "surrogateescape")
        except OSError as ex:
            rec["error"] = errname(ex.errno)
    elif kind in ("chr", "blk"):
        rec["rdev"] = "%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
    return rec, kind == "dir"


def walk(mnt, path, out):
    rec, is_dir = record_for(mnt, path)
    out[path] = rec
    if not is_dir:
        return
    real = mnt if path == "/" else mnt + fsenc(path)
    try:
        names = os.listdir(real)
    except OSError as ex:
        rec["readdir_error"] = errname(ex.errno)
        return
    for name in sorted(names):
        child = ("/" if path == "/" else path + "/") + name.decode("utf-8", "surrogateescape")
        walk(mnt, child, out)


def path_key(rec):
    return fsenc(rec.get("path", ""))


def dump_mounted(mnt, probes):
    out = {}
    walk(mnt, "/", out)
    for p in probes:
        if p not in out:
            out[p] = record_for(mnt, p)[0]
    return [out[k] for k in sorted(out, key=fsenc)]


# ---------------------------------------------------------------------------------------------------
# Recording one scenario

def record_scenario(scn_path):
    with open(scn_path, "rb") as f:
        scn = json.loads(f.read().decode("utf-8"))
    base = tempfile.mkdtemp(prefix="ovl-oracle-", dir=os.environ.get("OVL_ORACLE_TMP", "/tmp"))
    root = os.path.join(base, "root")
    mnt = os.path.join(base, "mnt")
    old_cwd = os.getcwd()
    old_umask = os.umask(0)
    mounted = False
    try:
        os.mkdir(root, 0o755)
        os.mkdir(mnt, 0o755)
        options = materialize(scn, root)
        os.chdir(root)
        kmsg = KmsgTail()
        rc = _libc.mount(b"overlay", fsenc(mnt), b"overlay", 0, fsenc(options))
        err = ctypes.get_errno()
        lines = kmsg.read_new()
        kmsg.close()
        os.chdir(old_cwd)
        if rc != 0:
            # The temporary root differs on every run: show it as {ROOT} so dumps are reproducible.
            message = pick_message(lines).replace(root, "{ROOT}")
            return [{"mount_error": errname(err), "message": message}]
        mounted = True
        return dump_mounted(fsenc(mnt), scn.get("paths", []))
    finally:
        os.chdir(old_cwd)
        os.umask(old_umask)
        if mounted and _libc.umount2(fsenc(mnt), MNT_DETACH) != 0:
            sys.stderr.write("warning: umount2(%s) failed: %s\n" % (mnt, errname(ctypes.get_errno())))
        shutil.rmtree(base, ignore_errors=True)


def format_dump(records):
    return "".join(json.dumps(r) + "\n" for r in records)


# ---------------------------------------------------------------------------------------------------
# Comparing

def load_dump(path):
    recs = []
    with open(path, "rb") as f:
        for line in f.read().decode("utf-8").splitlines():
            if line.strip():
                recs.append(json.loads(line))
    return recs


def canon(rec, ignore_message):
    if ignore_message and "mount_error" in rec:
        rec = {"mount_error": rec["mount_error"]}
    return json.dumps(rec, sort_keys=True)


def compare(actual, expected):
    """Returns (equal, diff lines). mount_error records compare by errno only (dump-format.md)."""
    a = {canon(r, True) for r in actual}
    e = {canon(r, True) for r in expected}
    diff = ["- expected: " + x for x in sorted(e - a)] + ["+ kernel:   " + x for x in sorted(a - e)]
    notes = []
    if a == e:
        am = [r.get("message") for r in actual if "mount_error" in r]
        em = [r.get("message") for r in expected if "mount_error" in r]
        if am != em:
            notes.append("note: mount error message differs: expected %r, kernel %r" % (em, am))
    return a == e, diff + notes


# ---------------------------------------------------------------------------------------------------
# Commands

def cmd_record(args):
    out_dir = None
    files = []
    i = 0
    while i < len(args):
        if args[i] == "--out-dir":
            out_dir = args[i + 1]
            i += 2
        elif args[i].startswith("--out-dir="):
            out_dir = args[i].split("=", 1)[1]
            i += 1
        else:
            files.append(args[i])
            i += 1
    if not files:
        sys.stderr.write("record: no scenario given\n")
        return 64
    for scn in files:
        text = format_dump(record_scenario(scn))
        if out_dir is None:
            if len(files) > 1:
                sys.stdout.write("# %s\n" % scn)
            sys.stdout.write(text)
        else:
            exp_dir = os.path.join(out_dir, "expected")
            os.makedirs(exp_dir, exist_ok=True)
            name = os.path.splitext(os.path.basename(scn))[0]
            with open(os.path.join(exp_dir, name + ".jsonl"), "w") as f:
                f.write(text)
            sys.stderr.write("recorded %s\n" % os.path.join(exp_dir, name + ".jsonl"))
    return 0


def cmd_check(args):
    if len(args) != 2:
        sys.stderr.write("usage: kernel_oracle.py check SCENARIO.json EXPECTED.jsonl\n")
        return 64
    ok, diff = compare(record_scenario(args[0]), load_dump(args[1]))
    for line in diff:
        print(line)
    print("%s %s" % ("PASS" if ok else "FAIL", args[0]))
    return 0 if ok else 1


def cmd_self_test(args):
    sdir = args[0] if args else DEFAULT_SCENARIOS
    names = sorted(f[:-5] for f in os.listdir(sdir) if f.endswith(".json"))
    passed = 0
    for n in names:
        exp = os.path.join(sdir, "expected", n + ".jsonl")
        if not os.path.exists(exp):
            print("FAIL %s (no expected dump)" % n)
            continue
        ok, diff = compare(record_scenario(os.path.join(sdir, n + ".json")), load_dump(exp))
        print("%s %s" % ("PASS" if ok else "FAIL", n))
        for line in diff:
            print("    " + line)
        passed += ok
    print("self-test: %d/%d passed" % (passed, len(names)))
    return 0 if passed == len(names) else 1


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 64
    if os.environ.get(NS_MARKER) != "1":
        if os.geteuid() != 0:
            sys.stderr.write("kernel_oracle.py: needs root (mount(2) of overlayfs)\n")
            return 77
        env = dict(os.environ)
        env[NS_MARKER] = "1"
        argv_abs = [os.path.abspath(__file__)] + argv
        os.execvpe("unshare", ["unshare", "-m", "--propagation", "private", sys.executable]
                   + argv_abs, env)
    cmd, rest = argv[0], argv[1:]
    if cmd == "record":
        return cmd_record(rest)
    if cmd == "check":
        return cmd_check(rest)
    if cmd in ("--self-test", "self-test"):
        return cmd_self_test(rest)
    sys.stderr.write("unknown command %r (record, check, --self-test)\n" % cmd)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
