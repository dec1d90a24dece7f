#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kernel_oracle.py: mount overlay scenarios with the running kernel and print their canonical dumps.

The manual is MANUAL below (printed by --help; docs/tools/kernel_oracle.md). The command-line
conventions and exit codes are those of every ovlcore tool (docs/cli.md, tools/common/exit_codes.hpp).
Only the Python standard library is used.
"""

MANUAL = """NAME
    kernel_oracle.py - mount overlay scenarios with the running kernel and print their dumps

SYNOPSIS
    kernel_oracle.py record [--out-dir=DIR] [--] SCENARIO.json...
    kernel_oracle.py check [--] SCENARIO.json EXPECTED.jsonl
    kernel_oracle.py self-test [--] [DIR]
    kernel_oracle.py --help | --version

DESCRIPTION
    Builds the layers of each scenario (the format of docs/testing.md §1) in a fresh
    temporary directory, mounts them with mount(2) as overlayfs, walks the mount and prints the
    canonical dump of docs/dump-format.md: what ovl-tree -o --format=jsonl prints for the same
    stack, so ovlcore's answer and the kernel's can be compared record by record. A mount the
    kernel refuses gives one {"mount_error": ERRNO, "message": ...} record, with the kernel's
    log line (from /dev/kmsg, best effort).

    record     prints the dump of every SCENARIO.json (a "# SCENARIO" line before each when
               there are several), or writes DIR/expected/NAME.jsonl with --out-dir
    check      records SCENARIO.json and compares it with EXPECTED.jsonl as sets of records
               (a mount_error record compares by errno only); prints the differences and
               PASS or FAIL
    self-test  checks every DIR/NAME.json (or DIR/scenarios/NAME.json) against
               DIR/expected/NAME.jsonl; DIR defaults to $OVLCORE_SCENARIOS, else the
               kernel corpus tests/data/kernel of this repository. --self-test is the same.

    Needs root and overlayfs. The script re-executes itself under
    `unshare -m --propagation private`, so every mount lives in a private mount namespace;
    each scenario's temporary directory is removed afterwards ($OVL_ORACLE_TMP, default /tmp).

    Walk order (it matters for the order-dependent cases of spec §10): depth first from "/",
    children in byte order; every entry is lstat()ed, a regular file is then opened and read
    completely, a symlink is read, a directory is listed and recursed into. Afterwards the
    scenario's "paths" probes are lstat()ed (and read) in the order given; each gets a
    record, none is recursed into.

OPTIONS
    --out-dir=DIR
        record: write DIR/expected/NAME.jsonl for each scenario instead of printing
    --
        end of the options: every later argument is an operand
    -h, --help
        print this manual and exit
    -V, --version
        print the versions of the tool, of ovlcore and of the kernel whose overlayfs
        semantics ovlcore follows, and exit

EXIT STATUS
    0   success (check, self-test: every dump equals the expected one)
    1   a dump differs from the expected one, or a scenario or dump cannot be read
    64  usage error: unknown option or command, missing or extra argument
    77  not root: nothing was run (ctest shows it as skipped)

EXAMPLES
    sudo tools/kernel_oracle.py record examples/demo/stack.json
    sudo tools/kernel_oracle.py record --out-dir=tests/data/extra tests/data/extra/*.json
    sudo tools/kernel_oracle.py check tests/data/kernel/scenarios/merge_two_layers.json \\
        tests/data/kernel/expected/merge_two_layers.jsonl
    sudo tools/kernel_oracle.py self-test tests/data/extra

SEE ALSO
    ovl-tree(1), ovl-mkstack(1), docs/tools/kernel_oracle.md, docs/dump-format.md, docs/cli.md
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
# --self-test without a directory: $OVLCORE_SCENARIOS, else the vendored kernel corpus.
DEFAULT_SCENARIOS = os.environ.get("OVLCORE_SCENARIOS") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "kernel")
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

# Exit statuses (docs/cli.md; the numbers of tools/common/exit_codes.hpp, plus ctest's "skipped").
EXIT_SUCCESS, EXIT_FAILURE, EXIT_USAGE, EXIT_SKIPPED = 0, 1, 64, 77
TOOL = "kernel_oracle.py"
USAGE = """usage: kernel_oracle.py record [--out-dir=DIR] [--] SCENARIO.json...
       kernel_oracle.py check [--] SCENARIO.json EXPECTED.jsonl
       kernel_oracle.py self-test [--] [DIR]
       kernel_oracle.py --help | --version
"""


class UsageError(Exception):
    pass


def version_text():
    """The --version line, in the words of the C++ tools (tools/common/stack_cli.hpp)."""
    header = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "include", "ovlcore",
                          "version.hpp")
    fields = {}
    try:
        with open(header) as f:
            for line in f:
                words = line.replace(";", " ").split()
                if len(words) == 3 and words[0] == "#define":
                    fields[words[1]] = words[2]
                elif len(words) >= 6 and words[3] in ("kernel_baseline_major", "kernel_baseline_minor"):
                    fields[words[3]] = words[5]
        return "%s (ovlcore %s.%s.%s), overlayfs semantics of Linux %s.%s" % (
            TOOL, fields["OVLCORE_VERSION_MAJOR"], fields["OVLCORE_VERSION_MINOR"],
            fields["OVLCORE_VERSION_PATCH"], fields["kernel_baseline_major"],
            fields["kernel_baseline_minor"])
    except (OSError, KeyError):
        return "%s (ovlcore version unknown: %s not found)" % (TOOL, header)


def parse_args(argv):
    """Returns (command, operands, options); raises UsageError. -h/-V win over the rest."""
    command, operands, out_dir, flags = None, [], None, set()
    i, ended = 0, False
    while i < len(argv):
        arg = argv[i]
        i += 1
        if ended or arg == "-" or not arg.startswith("-"):
            if command is None and not ended:
                command = arg
            else:
                operands.append(arg)
        elif arg == "--":
            ended = True
        elif arg in ("-h", "--help"):
            flags.add("help")
        elif arg in ("-V", "--version"):
            flags.add("version")
        elif arg == "--self-test":
            if command is not None:
                raise UsageError("--self-test is a command; %r was given too" % command)
            command = "self-test"
        elif arg == "--out-dir" or arg.startswith("--out-dir="):
            if arg == "--out-dir":
                if i >= len(argv):
                    raise UsageError("--out-dir needs a value")
                out_dir = argv[i]
                i += 1
            else:
                out_dir = arg.split("=", 1)[1]
        else:
            raise UsageError("unknown option '%s'" % arg)
    if flags:
        return ("help" if "help" in flags else "version"), [], None
    if command is None:
        raise UsageError("no command given")
    if command == "record":
        if not operands:
            raise UsageError("record: no scenario given")
    elif out_dir is not None:
        raise UsageError("--out-dir applies to record only")
    if command == "check" and len(operands) != 2:
        raise UsageError("check takes SCENARIO.json EXPECTED.jsonl")
    if command == "self-test" and len(operands) > 1:
        raise UsageError("self-test takes at most one DIR")
    if command not in ("record", "check", "self-test"):
        raise UsageError("unknown command '%s' (record, check, self-test)" % command)
    return command, operands, out_dir


def cmd_record(files, out_dir):
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
    return EXIT_SUCCESS


def cmd_check(args):
    ok, diff = compare(record_scenario(args[0]), load_dump(args[1]))
    for line in diff:
        print(line)
    print("%s %s" % ("PASS" if ok else "FAIL", args[0]))
    return EXIT_SUCCESS if ok else EXIT_FAILURE


def cmd_self_test(args):
    sdir = args[0] if args else DEFAULT_SCENARIOS
    # Flat layout (DIR/NAME.json) or the vendored one (DIR/scenarios/NAME.json).
    jdir = os.path.join(sdir, "scenarios") if os.path.isdir(os.path.join(sdir, "scenarios")) else sdir
    names = sorted(f[:-5] for f in os.listdir(jdir) if f.endswith(".json"))
    passed = 0
    for n in names:
        exp = os.path.join(sdir, "expected", n + ".jsonl")
        if not os.path.exists(exp):
            print("FAIL %s (no expected dump)" % n)
            continue
        ok, diff = compare(record_scenario(os.path.join(jdir, n + ".json")), load_dump(exp))
        print("%s %s" % ("PASS" if ok else "FAIL", n))
        for line in diff:
            print("    " + line)
        passed += ok
    print("self-test: %d/%d passed" % (passed, len(names)))
    return EXIT_SUCCESS if passed == len(names) else EXIT_FAILURE


def main(argv):
    try:
        command, operands, out_dir = parse_args(argv)
    except UsageError as ex:
        sys.stderr.write("%s: %s\n%sTry '%s --help' for more information.\n" % (TOOL, ex, USAGE, TOOL))
        return EXIT_USAGE
    if command == "help":
        sys.stdout.write(MANUAL)
        return EXIT_SUCCESS
    if command == "version":
        print(version_text())
        return EXIT_SUCCESS
    if os.environ.get(NS_MARKER) != "1":
        if os.geteuid() != 0:
            sys.stderr.write("%s: needs root (mount(2) of overlayfs)\n" % TOOL)
            return EXIT_SKIPPED
        env = dict(os.environ)
        env[NS_MARKER] = "1"
        argv_abs = [os.path.abspath(__file__)] + argv
        os.execvpe("unshare", ["unshare", "-m", "--propagation", "private", sys.executable]
                   + argv_abs, env)
    try:
        if command == "record":
            return cmd_record(operands, out_dir)
        if command == "check":
            return cmd_check(operands)
        return cmd_self_test(operands)
    except (OSError, ValueError) as ex:  # an unreadable scenario or dump (json errors are ValueErrors)
        sys.stderr.write("%s: %s\n" % (TOOL, ex))
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
