#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""ovl-fuse's memory after the kernel forgets: RSS after mount, after a stat walk, after FORGET.

    forget_rss.py WORKLOAD_DIR [--ovl-fuse PATH] [--ovl-fuse-args ARGS] [--reps N]
                  [--malloc-stats] [--trim-probe] [--json FILE]

WORKLOAD_DIR is a workload of make_workload.py (its manifest.json gives the overlay options,
relative to the directory), e.g. DATA/w3-N100000. Each repetition mounts ovl-fuse on it (as
benchmarks/run.py does: cwd = the workload, `-f -o {options} {mnt}`), samples the daemon's
VmRSS and /proc/PID/smaps right after the mount, walks the mount (os.scandir + lstat of every
entry, the count checked against the manifest), samples again, makes the kernel forget
(`echo 2 > /proc/sys/vm/drop_caches`: FORGET for every unused inode, docs/fuse.md §3), waits
until the RSS is stable and samples a third time. It prints the three RSS figures, the
after-FORGET / after-mount ratio (issue 11's target: <= 1.20) and where the memory is (heap,
anonymous maps, file maps). --malloc-stats also asks glibc (malloc_stats() called in the daemon
through gdb; its output goes to the daemon's log, which is printed) at each sample;
--trim-probe calls malloc_trim(0) in the daemon after the last sample and samples once more.

Needs root (drop_caches, mounts), /dev/fuse, fusermount3, unshare; it re-runs itself under
`unshare -m --propagation private`, so the mount is never visible outside. The workload is
only read. Exit status: 0 measured, 1 failed (mount, walk count, daemon exit), 64 usage.
"""

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from soak import (UsageParser, drop_caches_rss, find_ovl_fuse, mountpoint,  # noqa: E402
                  proc_sample, run_as_root_in_namespace)

NAMESPACE_MARK = "OVLCORE_FORGET_RSS_IN_NAMESPACE"


def smaps_breakdown(pid):
    """Resident KiB by kind of mapping: heap (the main arena's [heap]), anon (other anonymous
    maps: thread arenas, thread stacks, large allocations), stack, file (binaries, libraries),
    other ([vdso], ...); `anon_maps` lists the anonymous maps holding resident pages as
    (size KiB, rss KiB)."""
    out = {"heap": 0, "anon": 0, "stack": 0, "file": 0, "other": 0}
    maps = []
    kind, size = None, 0
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split()
            if not head:
                continue
            if "-" in head[0] and not head[0].endswith(":"):  # a mapping's first line
                path = head[5] if len(head) > 5 else ""
                lo, hi = (int(x, 16) for x in head[0].split("-"))
                size = (hi - lo) // 1024
                kind = ("heap" if path == "[heap]" else "stack" if path == "[stack]" else
                        "anon" if path == "" else "other" if path.startswith("[") else "file")
            elif head[0] == "Rss:":
                rss = int(head[1])
                out[kind] += rss
                if kind == "anon" and rss:
                    maps.append((size, rss))
    out["anon_maps"] = sorted(maps, key=lambda m: -m[1])
    return out


def gdb_call(pid, call):
    """Runs `call` (e.g. "(void)malloc_stats()") in the daemon, gdb attached for a moment."""
    if not shutil.which("gdb"):
        return False
    r = subprocess.run(["gdb", "-p", str(pid), "-batch", "-nx", "-ex", "call " + call],
                       capture_output=True, text=True)
    return r.returncode == 0


def walk(mnt):
    """lstat of every entry below `mnt` (os.scandir); the number of entries."""
    n, stack = 0, [mnt]
    while stack:
        with os.scandir(stack.pop()) as it:
            for e in it:
                os.lstat(e.path)
                n += 1
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
    return n


def sample(pid, label, log, want_malloc):
    ps = proc_sample(pid)
    s = {"label": label, "rss_kib": ps["VmRSS"], "threads": ps["Threads"], "fds": ps["fds"],
         "smaps": smaps_breakdown(pid)}
    if want_malloc:
        start = os.path.getsize(log)
        if gdb_call(pid, "(void)malloc_stats()"):
            time.sleep(0.2)
            with open(log, errors="replace") as f:
                f.seek(start)
                s["malloc_stats"] = f.read()
    return s


def settle(pid, quiet_s=1.0, limit_s=10.0):
    """Waits until the daemon's RSS is unchanged for `quiet_s` (e.g. idle threads exiting)."""
    last, since, deadline = None, time.monotonic(), time.monotonic() + limit_s
    while time.monotonic() < deadline:
        rss = proc_sample(pid)["VmRSS"]
        if rss != last:
            last, since = rss, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
        time.sleep(0.1)


def one_run(a, man, mnt, logpath):
    argv = [a.ovl_fuse] + [x.format(options=man["options"], mnt=mnt)
                           for x in shlex.split(a.ovl_fuse_args)]
    with open(logpath, "ab") as log:
        fuse = subprocess.Popen(argv, cwd=a.workload, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    t0 = time.monotonic()
    while not mountpoint(mnt):
        if fuse.poll() is not None or time.monotonic() - t0 > 120:
            if fuse.poll() is None:
                fuse.terminate()
            fuse.wait()
            raise RuntimeError(f"ovl-fuse did not mount (exit {fuse.returncode}); see {logpath}")
        time.sleep(0.05)
    try:
        settle(fuse.pid)
        samples = [sample(fuse.pid, "after mount", logpath, a.malloc_stats)]
        t = time.monotonic()
        n = walk(mnt)
        walk_s = time.monotonic() - t
        if n != man["entries"]:
            raise RuntimeError(f"the walk saw {n} entries, the manifest says {man['entries']}")
        settle(fuse.pid)
        samples.append(sample(fuse.pid, "after walk", logpath, a.malloc_stats))
        if drop_caches_rss(fuse.pid) is None:
            raise RuntimeError("cannot drop caches")
        settle(fuse.pid, quiet_s=2.0, limit_s=30.0)
        samples.append(sample(fuse.pid, "after FORGET", logpath, a.malloc_stats))
        if a.trim_probe and gdb_call(fuse.pid, "(int)malloc_trim(0)"):
            samples.append(sample(fuse.pid, "+malloc_trim", logpath, a.malloc_stats))
    finally:
        subprocess.run(["fusermount3", "-u", mnt])
        rc = fuse.wait()
    if rc != 0:
        raise RuntimeError(f"ovl-fuse exited {rc}; see {logpath}")
    return {"entries": n, "walk_s": walk_s, "samples": samples}


def report(run):
    s = run["samples"]
    mib = [x["rss_kib"] / 1024 for x in s]
    print(f"entries {run['entries']}, walk {run['walk_s']:.1f} s; RSS MiB: after mount {mib[0]:.2f}, "
          f"after walk {mib[1]:.2f}, after FORGET {mib[2]:.2f}; ratio {mib[2] / mib[0]:.2f} "
          f"(target <= 1.20)")
    print(f"  {'KiB resident':<14}" + "".join(f"{x['label']:>14}" for x in s))
    for k in ("heap", "anon", "stack", "file", "other"):
        print(f"  {k:<14}" + "".join(f"{x['smaps'][k]:>14}" for x in s))
    for k in ("threads", "fds"):
        print(f"  {k:<14}" + "".join(f"{x[k]:>14}" for x in s))
    print("  anon maps (size KiB/rss KiB): " + " | ".join(
        x["label"] + ": " + ", ".join(f"{sz}/{r}" for sz, r in x["smaps"]["anon_maps"][:12])
        for x in s))
    for x in s:
        if x.get("malloc_stats"):
            print(f"  malloc_stats {x['label']}:\n    " +
                  "\n    ".join(x["malloc_stats"].strip().splitlines()))


def parse(argv):
    ap = UsageParser(prog="forget_rss.py", description=__doc__.split("\n\n")[0],
                     epilog=__doc__.split("\n\n", 1)[1],
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workload", help="a make_workload.py workload directory (has manifest.json)")
    ap.add_argument("--ovl-fuse", help="the ovl-fuse binary (default: build*/bin/ovl-fuse)")
    ap.add_argument("--ovl-fuse-args", default="-f -o {options} {mnt}",
                    help="ovl-fuse arguments, {options} and {mnt} substituted")
    ap.add_argument("--reps", type=int, default=1, help="mounts measured (default 1)")
    ap.add_argument("--malloc-stats", action="store_true",
                    help="also print glibc's malloc_stats() of the daemon at each sample (gdb)")
    ap.add_argument("--trim-probe", action="store_true",
                    help="then call malloc_trim(0) in the daemon (gdb) and sample once more: "
                    "what glibc still holds free, apart from live data and fragmentation")
    ap.add_argument("--json", help="write the raw samples there")
    a = ap.parse_args(argv)
    if a.reps < 1:
        ap.error("--reps >= 1")
    if "{options}" not in a.ovl_fuse_args or "{mnt}" not in a.ovl_fuse_args:
        ap.error("--ovl-fuse-args needs {options} and {mnt}")
    a.workload = os.path.abspath(a.workload)
    if not os.path.exists(os.path.join(a.workload, "manifest.json")):
        ap.error(f"{a.workload}: no manifest.json (not a make_workload.py workload)")
    a.ovl_fuse = find_ovl_fuse(a.ovl_fuse, ap.error)
    return a


def run(a):
    with open(os.path.join(a.workload, "manifest.json")) as f:
        man = json.load(f)
    runs = []
    with tempfile.TemporaryDirectory(prefix="forget_rss.") as tmp:
        mnt = os.path.join(tmp, "mnt")
        os.mkdir(mnt)
        logpath = os.path.join(tmp, "ovl-fuse.log")
        open(logpath, "w").close()
        for _ in range(a.reps):
            try:
                runs.append(one_run(a, man, mnt, logpath))
            except (RuntimeError, OSError) as e:
                print(f"forget_rss: {e}", file=sys.stderr)
                with open(logpath, errors="replace") as f:
                    sys.stderr.write(f.read()[-4000:])
                return 1
            report(runs[-1])
    if len(runs) > 1:
        def spread(values, fmt):
            v = sorted(values)
            return f"median {v[len(v) // 2]:{fmt}}, min {v[0]:{fmt}}, max {v[-1]:{fmt}}"
        print(f"over {len(runs)} mounts: ratio after FORGET / after mount " +
              spread([r["samples"][2]["rss_kib"] / r["samples"][0]["rss_kib"] for r in runs], ".2f") +
              "; heap+anon KiB after FORGET " +
              spread([r["samples"][2]["smaps"]["heap"] + r["samples"][2]["smaps"]["anon"]
                      for r in runs], "d"))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"workload": man.get("name"), "ovl_fuse_args": a.ovl_fuse_args,
                       "runs": runs}, f, indent=1)
    return 0


def main(argv):
    a = parse(argv)
    return run_as_root_in_namespace("forget_rss", "drop_caches, mounts", NAMESPACE_MARK, __file__,
                                    argv, lambda: run(a))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
