#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Soak ovl-fuse: a long run of verified parallel reads and listings over a big layer stack.

    soak.py [--objects N] [--duration S] [--interval S] [--readers R] [--data DIR]
            [--ovl-fuse PATH] [--ovl-fuse-args ARGS] [--seed K] [--nice K] [--keep-going]
    soak.py --summary-only DIR/soak-<date>.json     print the markdown summary of a run again

Builds (once, cached under DIR) a layer stack of N file slots (default 1,000,000) in the
composefs shape plus ordinary lower layers, mounts it with ovl-fuse in a private mount
namespace on DIR/mnt, and for --duration seconds runs R reader processes (random files: open,
read all, compare with the content an independent model computes from the layers on disk) and
one lister (os.scandir walks of random subtrees, every directory compared with the model, every
entry lstat'ed). Every --interval seconds it samples the ovl-fuse process (VmRSS, VmHWM, open
fds, threads) and the workers' cumulative operations and errors, prints a table row, and at the
end writes DIR/soak-<date>.json (raw) and DIR/soak-<date>.md (summary, no machine paths).
After the load it makes the kernel forget (`echo 2 > /proc/sys/vm/drop_caches`: FORGET for every
unused inode, docs/fuse.md §3) and samples the RSS again once it settles, to compare with the RSS
right after the mount (--no-drop-caches skips this).
Not a CI test: a long run for memory, descriptor and thread growth and for wrong answers.

The stack (DIR/stack-N<N>-s<K>/, mounted as lowerdir=0:1:2:3::objects,metacopy=on):
    objects  data-only layer: the metacopy files' data, objects/xx/<30 hex> (256 fan-out)
    3, 2     ordinary lower layers (a third of the files; some hidden by an older copy above)
    1        metacopy layer: ~60% of the files, empty trusted.overlay.metacopy and an absolute
             trusted.overlay.redirect into objects, sparse st_size (spec §2.2, §2.3, §6);
             some with a decoy file under the same name in layer 2 (the redirect must win)
    0        top: ~2% ordinary files over the metacopy ones, ~1% whiteouts (char 0:0, §3),
             ~0.2% of the leaf directories opaque (trusted.overlay.opaque "y", §2.1) with
             10 new files each
Paths: aTTT/bLL/fNN (100 files per leaf directory, 100 leaf directories per top directory).
The model that checks the answers reads those layers directly (lstat, xattrs), not the mount.

Needs root (mknod, trusted.* xattrs, mounts), /dev/fuse, fusermount3, unshare, python3 (stdlib).
Everything happens below DIR; the mount lives in a private mount namespace (the script re-runs
itself under `unshare -m --propagation private`) and is removed with `fusermount3 -u` at the
end and on SIGINT/SIGTERM.

Exit status: 0 the run finished without errors and ovl-fuse exited 0 after the unmount;
1 errors were seen (wrong content, wrong listing, unexpected errno), the mount or the build
failed, ovl-fuse died or exited non-zero, or the run was interrupted; 64 usage error.
"""
import argparse
import datetime
import errno
import json
import multiprocessing as mp
import os
import random
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import time

STACK_VERSION = 2  # bump when the layout changes: cached stacks are rebuilt
XO = "trusted.overlay."
LOWERS = ["0", "1", "2", "3"]
DATA_LAYERS = ["objects"]
OPTIONS = "lowerdir=0:1:2:3::objects,metacopy=on"
EX_USAGE = 64
NAMESPACE_MARK = "OVLCORE_SOAK_IN_NAMESPACE"
MAX_SAMPLES = 40  # error samples kept


def slot_path(i):
    leaf = i // 100
    return f"a{leaf // 100:03d}/b{leaf % 100:02d}/f{i % 100:02d}"


# --------------------------------------------------------------------------------------------
# The stack


def _wfile(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _whiteout(path):
    os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))


def build_stack(root, n, seed):
    """Write the layers of an n-slot stack under root (a fresh directory); return the counts."""
    rng = random.Random(seed * 1_000_003 + n)
    made = set()

    def mkd(layer, d):
        key = (layer, d)
        if key not in made:
            os.makedirs(os.path.join(root, layer, d), exist_ok=True)
            made.add(key)

    for layer in LOWERS + DATA_LAYERS:
        os.makedirs(os.path.join(root, layer))
    c = dict(slots=n, merged_files=0, metacopy=0, top_copies=0, whiteouts=0, decoys=0,
             shadowed=0, opaque_dirs=0, opaque_hidden=0, bytes=0)
    leaves = (n + 99) // 100
    for leaf in range(leaves):
        d = f"a{leaf // 100:03d}/b{leaf % 100:02d}"
        opaque = leaf % 487 == 7  # ~0.2% of the leaf directories, the 8th one in any stack
        if opaque:
            mkd("0", d)
            os.setxattr(os.path.join(root, "0", d), XO + "opaque", b"y")
            for k in range(10):
                data = os.urandom(rng.randrange(1, 2048))
                _wfile(os.path.join(root, "0", d, f"g{k:02d}"), data)
                c["merged_files"] += 1
                c["bytes"] += len(data)
            c["opaque_dirs"] += 1
        for i in range(leaf * 100, min(n, leaf * 100 + 100)):
            rel = slot_path(i)
            size = rng.randrange(1, 2048)
            r = rng.random()
            if r < 0.60:  # metacopy in layer 1, data in the object store
                h = "%032x" % rng.getrandbits(128)
                obj = f"{h[:2]}/{h[2:]}"
                mkd("objects", h[:2])
                _wfile(os.path.join(root, "objects", obj), os.urandom(size))
                mkd("1", d)
                fd = os.open(os.path.join(root, "1", rel), os.O_WRONLY | os.O_CREAT, 0o644)
                try:
                    os.ftruncate(fd, size)  # sparse: st_size of the data, no blocks
                    os.setxattr(fd, XO + "metacopy", b"")
                    os.setxattr(fd, XO + "redirect", ("/" + obj).encode())
                finally:
                    os.close(fd)
                c["metacopy"] += 1
                if rng.random() < 0.05:  # same name below: the redirect, not the name, counts
                    mkd("2", d)
                    _wfile(os.path.join(root, "2", rel), b"decoy " + os.urandom(16))
                    c["decoys"] += 1
            else:
                layer = "2" if r < 0.85 else "3"
                mkd(layer, d)
                _wfile(os.path.join(root, layer, rel), os.urandom(size))
                if layer == "2" and rng.random() < 0.10:
                    mkd("3", d)
                    _wfile(os.path.join(root, "3", rel), b"old " + os.urandom(8))
                    c["shadowed"] += 1
            if opaque:
                c["opaque_hidden"] += 1
                continue
            t = rng.random()
            if t < 0.01:
                mkd("0", d)
                _whiteout(os.path.join(root, "0", rel))
                c["whiteouts"] += 1
                continue
            if t < 0.03:
                size = rng.randrange(1, 2048)
                mkd("0", d)
                _wfile(os.path.join(root, "0", rel), os.urandom(size))
                c["top_copies"] += 1
            c["merged_files"] += 1
            c["bytes"] += size
    c["merged_dirs"] = leaves + (leaves + 99) // 100
    return c


def ensure_stack(data, n, seed, nice):
    """The cached stack for (n, seed) under data, built in a niced child when missing."""
    name = f"stack-N{n}-s{seed}"
    root = os.path.join(data, name)
    stamp = f"v{STACK_VERSION} N{n} s{seed}"
    mpath = os.path.join(root, "manifest.json")
    try:
        with open(mpath) as f:
            man = json.load(f)
        if man.get("stamp") == stamp:
            return root, man
    except (OSError, ValueError):
        pass
    tmp = root + ".tmp"
    for p in (tmp, root):
        if os.path.exists(p):
            shutil.rmtree(p)
    print(f"building {name} (once; cached under --data) ...", file=sys.stderr, flush=True)
    t0 = time.monotonic()
    q = mp.get_context("fork").Queue()

    def child():
        os.nice(nice)
        os.makedirs(tmp)
        q.put(build_stack(tmp, n, seed))

    p = mp.get_context("fork").Process(target=child)
    p.start()
    counts = q.get()
    p.join()
    if p.exitcode != 0:
        raise SystemExit(f"soak: building the stack failed (exit {p.exitcode})")
    man = {"stamp": stamp, "name": name, "options": OPTIONS,
           "build_seconds": round(time.monotonic() - t0, 1)}
    man.update(counts)
    with open(os.path.join(tmp, "manifest.json"), "w") as f:
        json.dump(man, f, indent=1)
    os.rename(tmp, root)
    print(f"built {name} in {man['build_seconds']} s: {counts['merged_files']} merged files, "
          f"{counts['merged_dirs']} dirs, {counts['metacopy']} metacopy", file=sys.stderr, flush=True)
    return root, man


# --------------------------------------------------------------------------------------------
# The model: what the merged view must be, read from the layers directly (never the mount)


def _is_whiteout(st):
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)


def _xattr(path, name):
    try:
        return os.getxattr(path, XO + name, follow_symlinks=False)
    except OSError as e:
        if e.errno in (errno.ENODATA, errno.ENOTSUP):
            return None
        raise


class Model:
    def __init__(self, root):
        self.root = root
        self.dir_state = {}  # (layer, dir) -> "absent" | "opaque" | "dir" | "blocked"

    def _dstate(self, layer, d):
        key = (layer, d)
        s = self.dir_state.get(key)
        if s is None:
            try:
                st = os.lstat(os.path.join(self.root, layer, d))
                if not stat.S_ISDIR(st.st_mode):
                    s = "blocked"  # whiteout or non-directory: hides the name below
                elif _xattr(os.path.join(self.root, layer, d), "opaque") == b"y":
                    s = "opaque"
                else:
                    s = "dir"
            except FileNotFoundError:
                s = "absent"
            self.dir_state[key] = s
        return s

    def _layers_for(self, d):
        """The lower layers that contribute to directory d (top first), or None if d is absent."""
        parts = d.split("/") if d else []
        out = []
        for layer in LOWERS:
            ok, stop = True, False
            for k in range(1, len(parts) + 1):
                s = self._dstate(layer, "/".join(parts[:k]))
                if s in ("absent", "blocked"):
                    ok = False
                    stop = s == "blocked"
                    break
                if s == "opaque":
                    stop = True  # hides the layers below for everything inside
            if ok:
                out.append(layer)
            if stop:
                break
        return out

    def file(self, rel):
        """(expected bytes, st_size) of a merged regular file, or None when it must not exist."""
        d = os.path.dirname(rel)
        layers = self._layers_for(d)
        for idx, layer in enumerate(layers):
            p = os.path.join(self.root, layer, rel)
            try:
                st = os.lstat(p)
            except FileNotFoundError:
                continue
            if _is_whiteout(st):
                return None
            if not stat.S_ISREG(st.st_mode):
                raise RuntimeError(f"model: unexpected file type at {layer}/{rel}")
            if _xattr(p, "metacopy") is None:
                with open(p, "rb") as f:
                    return f.read(), st.st_size
            redirect = _xattr(p, "redirect").decode()
            below = LOWERS[LOWERS.index(layer) + 1:] + DATA_LAYERS
            for dl in below:
                q = os.path.join(self.root, dl, redirect.lstrip("/"))
                try:
                    qst = os.lstat(q)
                except FileNotFoundError:
                    continue
                if stat.S_ISREG(qst.st_mode) and _xattr(q, "metacopy") is None:
                    with open(q, "rb") as f:
                        return f.read(), st.st_size
                raise RuntimeError(f"model: redirect target {dl}{redirect} is not a data file")
            raise RuntimeError(f"model: no data for {layer}/{rel}")
        return None

    def listing(self, d):
        """{name: ("d"|"f", st_size)} of merged directory d."""
        seen, out = set(), {}
        for layer in self._layers_for(d):
            with os.scandir(os.path.join(self.root, layer, d)) as it:
                for e in it:
                    if e.name in seen:
                        continue
                    seen.add(e.name)
                    st = e.stat(follow_symlinks=False)
                    if _is_whiteout(st):
                        continue
                    if stat.S_ISDIR(st.st_mode):
                        out[e.name] = ("d", None)
                    else:
                        out[e.name] = ("f", st.st_size)
        # a directory name shadowed by nothing but lower dirs merges; our stack has no
        # dir/file conflicts, so the top type is the merged type
        return out


# --------------------------------------------------------------------------------------------
# Workers (separate processes, niced; counters in shared memory, error samples in a queue)

# counters per worker: 0 operations, 1 errors, 2 bytes read / entries lstat'ed, 3 misses/dirs
NCOUNT = 4


_sent = [0]  # error samples this worker sent (a per-process copy after fork)


def _report(errq, who, msg):
    if _sent[0] >= MAX_SAMPLES:  # bounded: a full pipe would block the worker's exit
        return
    _sent[0] += 1
    try:
        errq.put_nowait(f"{time.strftime('%H:%M:%S')} {who}: {msg}")
    except Exception:
        pass


def reader(idx, mnt, root, n, extra, seed, nice, stop, counters, errq):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.nice(nice)
    rng = random.Random(seed * 7919 + idx)
    model = Model(root)
    base = idx * NCOUNT
    who = f"reader{idx}"
    while not stop.is_set():
        rel = rng.choice(extra) if extra and rng.random() < 0.01 else slot_path(rng.randrange(n))
        try:
            want = model.file(rel)
        except Exception as e:  # the model itself failed: count it, it is not ovl-fuse's
            counters[base + 1] += 1
            _report(errq, who, f"model {rel}: {e!r}")
            continue
        got, err = None, None
        try:
            with open(os.path.join(mnt, rel), "rb") as f:
                size = os.fstat(f.fileno()).st_size
                got = f.read()
        except OSError as e:
            err = e.errno
        counters[base] += 1
        if want is None:
            counters[base + 3] += 1
            if err != errno.ENOENT:
                counters[base + 1] += 1
                _report(errq, who, f"{rel}: expected ENOENT, got "
                        + (f"{errno.errorcode.get(err, err)}" if err else f"{len(got)} bytes"))
            continue
        if err is not None:
            counters[base + 1] += 1
            _report(errq, who, f"{rel}: {errno.errorcode.get(err, err)}")
            continue
        counters[base + 2] += len(got)
        if got != want[0] or size != want[1]:
            counters[base + 1] += 1
            _report(errq, who, f"{rel}: content differs (got {len(got)} bytes, st_size {size}; "
                    f"expected {len(want[0])} bytes, st_size {want[1]})")


def _listing_of(path):
    out = {}
    with os.scandir(path) as it:
        for e in it:
            st = e.stat(follow_symlinks=False)  # lstat over FUSE
            out[e.name] = ("d", None) if stat.S_ISDIR(st.st_mode) else ("f", st.st_size)
    return out


def lister(idx, mnt, root, n, seed, nice, stop, counters, errq):
    """Walks a random top directory (or the root, or a random leaf) and checks each listing."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.nice(nice)
    rng = random.Random(seed * 104729 + idx)
    model = Model(root)
    base = idx * NCOUNT
    tops = (n + 9999) // 10000
    who = "lister"
    while not stop.is_set():
        r = rng.random()
        if r < 0.05:
            todo = [""]
        elif r < 0.5:
            leaf = rng.randrange((n + 99) // 100)
            todo = [f"a{leaf // 100:03d}/b{leaf % 100:02d}"]
        else:
            todo = [f"a{rng.randrange(tops):03d}"]
        while todo and not stop.is_set():
            d = todo.pop()
            try:
                got = _listing_of(os.path.join(mnt, d))
            except OSError as e:
                counters[base] += 1
                counters[base + 1] += 1
                _report(errq, who, f"list {d or '.'}: {errno.errorcode.get(e.errno, e.errno)}")
                continue
            counters[base] += 1
            counters[base + 2] += len(got)
            counters[base + 3] += 1
            try:
                want = model.listing(d)
            except Exception as e:
                counters[base + 1] += 1
                _report(errq, who, f"model {d or '.'}: {e!r}")
                continue
            if got != want:
                counters[base + 1] += 1
                miss = sorted(set(want) - set(got))[:3]
                more = sorted(set(got) - set(want))[:3]
                diff = sorted(k for k in set(got) & set(want) if got[k] != want[k])[:3]
                _report(errq, who, f"list {d or '.'}: {len(got)} entries, expected {len(want)}; "
                        f"missing {miss}, unexpected {more}, different {diff}")
            if d.count("/") == 0:  # the root or a top dir: descend (leaf dirs hold files only)
                todo.extend(os.path.join(d, k) if d else k
                            for k, (t, _) in got.items() if t == "d")


# --------------------------------------------------------------------------------------------
# Sampling ovl-fuse


def proc_sample(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
            elif k == "Threads":
                out[k] = int(v)
    out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return out


def drop_caches_rss(pid, settle_s=60):
    """VmRSS (KiB) of `pid` once settled after `echo 2 > drop_caches`, or None if it cannot."""
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("2\n")
    except OSError as e:
        print(f"soak: cannot drop caches: {e}", flush=True)
        return None
    last, deadline = None, time.monotonic() + settle_s
    while time.monotonic() < deadline:
        time.sleep(1.0)
        try:
            rss = proc_sample(pid)["VmRSS"]
        except OSError:
            return None
        if last is not None and abs(rss - last) <= max(256, last // 200):
            return rss  # two samples a second apart within 0.5% (or 256 KiB)
        last = rss
    return last


def fmt_row(r):
    return (f"{r['minute']:>6.1f} {r['rss_kib'] / 1024:>9.1f} {r['hwm_kib'] / 1024:>9.1f} "
            f"{r['fds']:>5} {r['threads']:>7} {r['reads']:>10} {r['read_ops_s']:>8.0f} "
            f"{r['dirs']:>8} {r['lstats']:>10} {r['errors']:>6}")


HEADER = (f"{'min':>6} {'RSS MiB':>9} {'HWM MiB':>9} {'fds':>5} {'threads':>7} {'reads':>10} "
          f"{'reads/s':>8} {'dirs':>8} {'lstats':>10} {'errors':>6}")


def mountpoint(path):
    return subprocess.run(["mountpoint", "-q", path]).returncode == 0


# --------------------------------------------------------------------------------------------


def find_ovl_fuse(given, error):
    """The ovl-fuse binary: `given`, else build/bin/ovl-fuse, else the newest build*/bin/ovl-fuse
    next to the source tree (absolute); `error(message)` does not return."""
    if given is None:
        src = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        cands = [os.path.join(src, "build", "bin", "ovl-fuse")]
        parent = os.path.dirname(src)
        for base in (src, parent):
            try:
                cands += [os.path.join(base, d, "bin", "ovl-fuse") for d in sorted(os.listdir(base))
                          if d.startswith("build")]
            except OSError:
                pass
        found = [c for c in cands if os.access(c, os.X_OK)]
        if not found:
            error("ovl-fuse not found; build it or give --ovl-fuse PATH")
        given = found[0] if found[0] == cands[0] else max(found, key=os.path.getmtime)
    elif not os.access(given, os.X_OK):
        error(f"--ovl-fuse {given}: not an executable")
    return os.path.abspath(given)


def in_private_namespace(mark, script, argv):
    """None when this process already runs in the private mount namespace that `mark` names;
    else re-runs `script argv` under `unshare -m --propagation private` and returns its exit
    status (the mount is never visible outside that namespace)."""
    if os.environ.get(mark) == str(os.getpid()):
        return None
    if not shutil.which("unshare"):
        print(f"{os.path.basename(script)}: unshare not found", file=sys.stderr)
        return 1
    # the shell's pid survives the exec, so the re-run script recognises itself by it
    cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c",
           f'export {mark}=$$; exec "$0" "$@"', sys.executable, os.path.abspath(script)] + argv
    # the inner run handles SIGINT (stops, unmounts, writes its results): wait for it
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    child = subprocess.Popen(cmd, env=dict(os.environ))
    signal.signal(signal.SIGTERM, lambda s, f: child.send_signal(s))
    signal.signal(signal.SIGHUP, lambda s, f: child.send_signal(s))
    return child.wait()


def run_as_root_in_namespace(name, why, mark, script, argv, run):
    """`run()` as root in the private mount namespace of in_private_namespace() (re-running
    `script argv` there first); its exit status, or 1 (with a message naming `why` root is
    needed) for a user other than root."""
    if os.geteuid() != 0:
        print(f"{name}: needs root ({why})", file=sys.stderr)
        return 1
    outer = in_private_namespace(mark, script, argv)
    return run() if outer is None else outer


class UsageParser(argparse.ArgumentParser):
    """An argument parser whose usage errors exit with EX_USAGE."""

    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(EX_USAGE)


def parse(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = UsageParser(prog="soak.py", description=__doc__.split("\n\n")[0],
           usage="\n" + __doc__.split("\n\n")[1],
           epilog=__doc__.split("\n\n", 2)[2], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, default=1_000_000, metavar="N",
                    help="file slots in the stack (default 1000000)")
    ap.add_argument("--duration", type=float, default=1800, metavar="S",
                    help="seconds of load (default 1800)")
    ap.add_argument("--interval", type=float, default=60, metavar="S",
                    help="seconds between samples (default 60)")
    ap.add_argument("--readers", type=int, default=8, metavar="R", help="reader processes (default 8)")
    ap.add_argument("--data", default=os.path.join(os.path.dirname(here), "build", "soak-data"),
                    metavar="DIR", help="stack cache, mount point and results (default build/soak-data)")
    ap.add_argument("--ovl-fuse", metavar="PATH",
                    help="the ovl-fuse binary (default: build/bin/ovl-fuse, else the newest "
                         "build*/bin/ovl-fuse next to the source tree)")
    ap.add_argument("--ovl-fuse-args", default="-f -o {options} {mnt}", metavar="ARGS",
                    help="its arguments ({options}, {mnt}; default '-f -o {options} {mnt}')")
    ap.add_argument("--seed", type=int, default=1, help="stack and workload seed (default 1)")
    ap.add_argument("--nice", type=int, default=10, help="niceness of the workers and the build (default 10)")
    ap.add_argument("--no-drop-caches", action="store_true",
                    help="do not measure the RSS after the kernel forgets (drop_caches) at the end")
    ap.add_argument("--keep-going", action="store_true",
                    help="do not stop early when ovl-fuse dies (default: stop)")
    a = ap.parse_args(argv)
    if a.objects < 100 or a.duration <= 0 or a.interval <= 0 or a.readers < 1:
        ap.error("--objects >= 100, --duration > 0, --interval > 0, --readers >= 1")
    if "{options}" not in a.ovl_fuse_args or "{mnt}" not in a.ovl_fuse_args:
        ap.error("--ovl-fuse-args needs {options} and {mnt}")
    a.ovl_fuse = find_ovl_fuse(a.ovl_fuse, ap.error)
    a.data = os.path.abspath(a.data)
    return a


def run(a):
    for need in ("fusermount3", "mountpoint"):
        if not shutil.which(need):
            print(f"soak: {need} not found", file=sys.stderr)
            return 1
    if not os.path.exists("/dev/fuse"):
        print("soak: /dev/fuse missing", file=sys.stderr)
        return 1
    os.makedirs(os.path.join(a.data, "logs"), exist_ok=True)
    root, man = ensure_stack(a.data, a.objects, a.seed, a.nice)
    extra = []  # the opaque dirs' new files, read now and then
    for dp, _, fn in os.walk(os.path.join(root, "0")):
        if _xattr(dp, "opaque") == b"y":
            rel = os.path.relpath(dp, os.path.join(root, "0"))
            extra += [f"{rel}/{x}" for x in fn]
    mnt = os.path.join(a.data, "mnt")
    os.makedirs(mnt, exist_ok=True)
    if mountpoint(mnt):
        print(f"soak: {mnt} is already a mount point", file=sys.stderr)
        return 1
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")
    logpath = os.path.join(a.data, "logs", f"ovl-fuse-{stamp}.log")
    argv = [a.ovl_fuse] + [x.format(options=OPTIONS, mnt=mnt) for x in shlex.split(a.ovl_fuse_args)]
    log = open(logpath, "wb")
    t_mount = time.monotonic()
    fuse = subprocess.Popen(argv, cwd=root, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    while not mountpoint(mnt):
        if fuse.poll() is not None or time.monotonic() - t_mount > 120:
            print(f"soak: ovl-fuse did not mount (exit {fuse.poll()}); see {logpath}", file=sys.stderr)
            if fuse.poll() is None:
                fuse.terminate()
                fuse.wait()
            return 1
        time.sleep(0.05)
    mount_s = time.monotonic() - t_mount
    print(f"soak: {man['name']} mounted by pid {fuse.pid} in {mount_s:.2f} s: "
          f"{man['merged_files']} files, {man['merged_dirs']} dirs; {a.readers} readers + 1 lister "
          f"for {a.duration:g} s, sample every {a.interval:g} s", flush=True)

    interrupted = []

    def on_signal(signum, _frame):
        interrupted.append(signum)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    ctx = mp.get_context("fork")
    stop = ctx.Event()
    nw = a.readers + 1
    counters = ctx.Array("q", nw * NCOUNT, lock=False)
    errq = ctx.Queue(maxsize=10000)
    samples, errors_seen = [], []
    base = proc_sample(fuse.pid)
    workers = [ctx.Process(target=reader, args=(i, mnt, root, a.objects, extra, a.seed, a.nice,
                                                stop, counters, errq)) for i in range(a.readers)]
    workers.append(ctx.Process(target=lister, args=(a.readers, mnt, root, a.objects, a.seed,
                                                    a.nice, stop, counters, errq)))
    t0 = time.monotonic()
    for w in workers:
        w.start()
    print(HEADER, flush=True)

    def totals():
        reads = sum(counters[i * NCOUNT] for i in range(a.readers))
        rerr = sum(counters[i * NCOUNT + 1] for i in range(a.readers))
        rbytes = sum(counters[i * NCOUNT + 2] for i in range(a.readers))
        misses = sum(counters[i * NCOUNT + 3] for i in range(a.readers))
        lb = a.readers * NCOUNT
        return dict(reads=reads, read_errors=rerr, read_bytes=rbytes, enoent_expected=misses,
                    dirs=counters[lb], list_errors=counters[lb + 1], lstats=counters[lb + 2])

    def drain():
        while True:
            try:
                m = errq.get_nowait()
            except Exception:
                return
            if len(errors_seen) < MAX_SAMPLES:
                errors_seen.append(m)
                print("  ERROR " + m, flush=True)

    def sample(now):
        try:
            p = proc_sample(fuse.pid)
        except OSError:
            return None
        t = totals()
        prev = samples[-1] if samples else {"t": 0, "reads": 0}
        dt = (now - t0) - prev["t"]
        r = dict(t=round(now - t0, 1), minute=(now - t0) / 60, rss_kib=p["VmRSS"],
                 hwm_kib=p["VmHWM"], fds=p["fds"], threads=p["Threads"],
                 read_ops_s=(t["reads"] - prev["reads"]) / dt if dt > 0 else 0,
                 errors=t["read_errors"] + t["list_errors"], **t)
        samples.append(r)
        print(fmt_row(r), flush=True)
        return r

    died = None
    first = dict(t=0.0, minute=0.0, rss_kib=base["VmRSS"], hwm_kib=base["VmHWM"], fds=base["fds"],
                 threads=base["Threads"], read_ops_s=0, errors=0, **totals())
    samples.append(first)
    print(fmt_row(first), flush=True)
    next_t = t0 + a.interval
    end = t0 + a.duration
    while not interrupted:
        now = time.monotonic()
        if now >= end:
            break
        time.sleep(min(0.5, max(0.0, min(next_t, end) - now)))
        drain()
        if fuse.poll() is not None:
            died = fuse.returncode
            print(f"soak: ovl-fuse exited with status {died} during the run", flush=True)
            if not a.keep_going:
                break
        if time.monotonic() >= next_t and fuse.poll() is None:
            sample(time.monotonic())
            next_t += a.interval
    t_end = time.monotonic()
    if fuse.poll() is None and (not samples or t_end - t0 - samples[-1]["t"] > 1):
        sample(t_end)  # the end state
    stop.set()
    deadline = time.monotonic() + 60
    while any(w.is_alive() for w in workers) and time.monotonic() < deadline:
        drain()  # a worker with queued samples exits only once they are read
        for w in workers:
            w.join(timeout=0.05)
    for w in workers:
        if w.is_alive():
            w.terminate()
            w.join()
    drain()
    final = totals()
    # The kernel forgets every unused dentry and inode (FORGET, docs/fuse.md §3): ovl-fuse frees
    # the nodes; its RSS, once settled, compared with the RSS after the mount.
    forgotten = None
    if not a.no_drop_caches and fuse.poll() is None:
        forgotten = drop_caches_rss(fuse.pid)
        if forgotten is not None:
            print(f"soak: RSS after drop_caches {forgotten / 1024:.1f} MiB (after mount "
                  f"{base['VmRSS'] / 1024:.1f} MiB, {100.0 * forgotten / base['VmRSS']:.0f}%)",
                  flush=True)
    # unmount: fusermount3 -u, then ovl-fuse must exit 0 by itself
    umount_rc = None
    if fuse.poll() is None:
        umount_rc = subprocess.run(["fusermount3", "-u", mnt]).returncode
        try:
            fuse_rc = fuse.wait(timeout=60)
        except subprocess.TimeoutExpired:
            fuse.terminate()
            fuse_rc = fuse.wait()
            print("soak: ovl-fuse did not exit within 60 s of the unmount", flush=True)
            umount_rc = umount_rc or -1
    else:
        fuse_rc = fuse.returncode
    still = mountpoint(mnt)
    if still:
        subprocess.run(["fusermount3", "-uz", mnt])
    log.close()
    for s, h in old.items():
        signal.signal(s, h)

    errors = final["read_errors"] + final["list_errors"]
    ok = (errors == 0 and died is None and fuse_rc == 0 and umount_rc == 0 and not still
          and not interrupted)
    rel_log = os.path.relpath(logpath, a.data)
    result = dict(
        version=1, date=stamp, ok=ok, interrupted=bool(interrupted),
        stack={k: man[k] for k in man if k not in ("stamp",)}, options=OPTIONS,
        ovl_fuse=os.path.basename(a.ovl_fuse), ovl_fuse_args=a.ovl_fuse_args,
        ovl_fuse_version=_version(a.ovl_fuse), readers=a.readers, listers=1,
        duration_s=round(t_end - t0, 1), interval_s=a.interval, nice=a.nice, seed=a.seed,
        mount_s=round(mount_s, 2), host=_host(), totals=final, errors=errors,
        error_samples=errors_seen, died_status=died, umount_status=umount_rc,
        ovl_fuse_exit=fuse_rc, still_mounted=still, log="DATA/" + rel_log, samples=samples,
        rss_after_mount_kib=base["VmRSS"], rss_after_drop_caches_kib=forgotten)
    with open(os.path.join(a.data, f"soak-{stamp}.json"), "w") as f:
        json.dump(result, f, indent=1)
    md = markdown(result)
    with open(os.path.join(a.data, f"soak-{stamp}.md"), "w") as f:
        f.write(md)
    print()
    print(md)
    print(f"soak: wrote DATA/soak-{stamp}.json and DATA/soak-{stamp}.md (DATA = {a.data})")
    return 0 if ok else 1


def _version(path):
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
        return " ".join(out.split())[:200]
    except (OSError, subprocess.SubprocessError):
        return None


def _host():
    mem = None
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) // 1024
    except OSError:
        pass
    return dict(kernel=os.uname().release, cpus=os.cpu_count(), mem_mib=mem)


def markdown(r):
    s = r["samples"]
    st, tot = r["stack"], r["totals"]
    rss = [x["rss_kib"] for x in s]
    mins = r["duration_s"] / 60
    slope = ""
    half = r["duration_s"] / 2

    def fit(pts):  # least-squares slope in MiB/min
        if len(pts) < 2:
            return None
        mx = sum(p[0] for p in pts) / len(pts)
        my = sum(p[1] for p in pts) / len(pts)
        den = sum((p[0] - mx) ** 2 for p in pts)
        return sum((p[0] - mx) * (p[1] - my) for p in pts) / den if den > 0 else None

    pts = [(x["t"] / 60, x["rss_kib"] / 1024) for x in s]
    k1 = fit([p for p, x in zip(pts, s) if x["t"] <= half])
    k2 = fit([p for p, x in zip(pts, s) if x["t"] >= half])
    if k1 is not None and k2 is not None:
        slope = f"; slope {k1:+.2f} MiB/min over the first half, {k2:+.2f} MiB/min over the second"
    lines = [
        "# ovl-fuse soak" + (" (INTERRUPTED)" if r["interrupted"] else ""),
        "",
        f"generated by benchmarks/soak.py on {r['date']}; {r['host']['cpus']} CPUs, "
        f"{r['host']['mem_mib']} MiB, Linux {r['host']['kernel']}; {r['ovl_fuse_version'] or r['ovl_fuse']}",
        "",
        f"Stack `{st['name']}` (`{r['options']}`): {st['merged_files']:,} merged files in "
        f"{st['merged_dirs']:,} directories from {st['slots']:,} slots; {st['metacopy']:,} metacopy "
        f"files redirected into the data-only layer, {st['top_copies']:,} top-layer copies, "
        f"{st['whiteouts']:,} whiteouts, {st['opaque_dirs']} opaque directories, {st['decoys']:,} "
        f"decoys under redirects, {st['shadowed']:,} shadowed lower copies. Mounted with "
        f"`ovl-fuse {r['ovl_fuse_args']}` in {r['mount_s']} s.",
        "",
        f"Load: {r['readers']} reader processes (random file: open, fstat, read all, compare "
        f"with the layers) and 1 lister (scandir walks, every entry lstat'ed, every directory "
        f"compared with the layers), nice {r['nice']}, for {mins:.1f} min; ovl-fuse sampled every "
        f"{r['interval_s']:g} s.",
        "",
        "| min | RSS MiB | HWM MiB | fds | threads | reads | reads/s | dirs listed | lstats | errors |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for x in s:
        lines.append(f"| {x['minute']:.1f} | {x['rss_kib'] / 1024:.1f} | {x['hwm_kib'] / 1024:.1f} | "
                     f"{x['fds']} | {x['threads']} | {x['reads']:,} | {x['read_ops_s']:.0f} | "
                     f"{x['dirs']:,} | {x['lstats']:,} | {x['errors']} |")
    fds = [x["fds"] for x in s]
    thr = [x["threads"] for x in s]
    lines += [
        "",
        "Summary:",
        "",
        f"- RSS: start {rss[0] / 1024:.1f} MiB, peak {max(x['hwm_kib'] for x in s) / 1024:.1f} MiB "
        f"(VmHWM), end {rss[-1] / 1024:.1f} MiB{slope}",
        f"- open fds: {min(fds)}–{max(fds)}",
    ] + ([f"- RSS after the kernel forgot (drop_caches): {r['rss_after_drop_caches_kib'] / 1024:.1f} "
          f"MiB, {100.0 * r['rss_after_drop_caches_kib'] / r['rss_after_mount_kib']:.0f}% of the "
          f"{r['rss_after_mount_kib'] / 1024:.1f} MiB after the mount"]
         if r.get("rss_after_drop_caches_kib") else []) + [
        f"- threads: {min(thr)}–{max(thr)}",
        f"- operations: {tot['reads']:,} verified reads ({tot['read_bytes'] / 2**20:,.0f} MiB, "
        f"{tot['enoent_expected']:,} of them expected ENOENT), {tot['dirs']:,} directory listings "
        f"with {tot['lstats']:,} lstats",
        f"- errors: {r['errors']} (reads {tot['read_errors']}, listings {tot['list_errors']}); "
        f"ovl-fuse " + ("died during the run (status %s)" % r["died_status"] if r["died_status"] is not None
                       else f"exited {r['ovl_fuse_exit']} after `fusermount3 -u`"),
    ]
    if r["error_samples"]:
        lines += ["", "First errors:", ""] + [f"    {m}" for m in r["error_samples"][:10]]
    return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) == 2 and argv[0] == "--summary-only":
        try:
            with open(argv[1]) as f:
                print(markdown(json.load(f)), end="")
            return 0
        except (OSError, ValueError, KeyError) as e:
            print(f"soak: {argv[1]}: {e}", file=sys.stderr)
            return 1
    a = parse(argv)
    return run_as_root_in_namespace("soak", "trusted.* xattrs, mknod, mounts", NAMESPACE_MARK,
                                    __file__, argv, lambda: run(a))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
