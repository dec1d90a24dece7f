#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Build the benchmark layer stacks W1-W4 on disk (see benchmarks/README.md).

    make_workload.py DIR w1 L        wide: L lower layers sharing a 5,000-file tree
    make_workload.py DIR w2          container image: 5 layers, ~33k files, ~64 MiB
    make_workload.py DIR w3 N        composefs-like: N metacopy files -> data-only object store
    make_workload.py DIR w3-image N  the same W3, plus its metadata layer as an EROFS image
    make_workload.py DIR w4 [E]      big directory: E (100k) merged entries over 4 layers
    make_workload.py DIR all         every workload the runner uses

Each workload lands in DIR/<name>/ (w1-L16, w2, w3-N10000, w4) with layers named 0, 1, ...
(0 = top) plus "objects" for W3, a manifest.json (options string, expected merged entry count,
file count, content checksum) and, for W1, lookups.txt (random lookups, misses included).
Mount options use layer paths relative to the workload directory (500 absolute paths exceed
the one-page limit of mount(2)), so mount with the workload directory as working directory;
the absolute form is printed too. A workload is rebuilt only when its stamp differs.

Spec sections used: whiteouts = char 0:0 (§3), opaque = trusted.overlay.opaque "y" (§2.1),
metacopy = empty trusted.overlay.metacopy + absolute trusted.overlay.redirect into a
data-only layer, sparse st_size (§2.2, §2.3, §6). Needs root (mknod, trusted.* xattrs).
"""
import json
import os
import random
import shutil
import stat
import subprocess
import sys

VERSION = 4  # bump when the layout changes: cached workloads are rebuilt
XO = "trusted.overlay."


def _mkdirs(path, made):
    if path in made:
        return
    os.makedirs(path, exist_ok=True)
    made.add(path)


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def _whiteout(path):
    os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))


def _checksum(data):
    """Sum of all bytes (64-bit wrap) and the first byte: what the walkers report for reads."""
    return sum(data), (data[0] if data else 0)


class Expect:
    """The merged view the stack must show (the generator's own model, for cross-checks)."""

    def __init__(self):
        self.dirs = set()
        self.files = {}  # path -> content (bytes)

    def add_parents(self, path):
        parts = path.split("/")
        for i in range(1, len(parts)):
            self.dirs.add("/".join(parts[:i]))

    def summary(self):
        total = first = nbytes = 0
        for data in self.files.values():
            s, f = _checksum(data)
            total += s
            first += f
            nbytes += len(data)
        return {
            "entries": len(self.dirs) + len(self.files),
            "dirs": len(self.dirs),
            "files": len(self.files),
            "bytes": nbytes,
            "sum_all": total % (1 << 64),
            "sum_first": first % (1 << 64),
        }


def _content(rng, size):
    # random, never all zeros: a reader that returns zeros (sparse metacopy) is caught by the sum
    return bytes(rng.getrandbits(8) | 1 for _ in range(min(size, 64))) + os.urandom(max(0, size - 64))


# --------------------------------------------------------------------------------------------
# W1: L lower layers, a shared tree of 10 x 5 directories x 100 files = 5,000 files.


def build_w1(root, L):
    rng = random.Random(1000 + L)
    exp = Expect()
    made = set()
    lay = lambda i: os.path.join(root, str(i))
    for i in range(L):
        _mkdirs(lay(i), made)
    leaf_dirs = [f"d{a:02d}/s{b}" for a in range(10) for b in range(5)]
    # opaque dirs: two leaf dirs are opaque in a middle layer k (hides layers below k)
    opaque = {}
    if L >= 4:
        for d in rng.sample(leaf_dirs, 2):
            opaque[d] = rng.randrange(1, L - 1)
    whiteouted, hidden = [], []
    for d in leaf_dirs:
        k = opaque.get(d)
        if k is not None:
            _mkdirs(os.path.join(lay(k), d), made)
            os.setxattr(os.path.join(lay(k), d), XO + "opaque", b"y")
            exp.add_parents(d + "/x")
        for n in range(100):
            rel = f"{d}/f{n:03d}"
            owner = rng.randrange(L)
            data = _content(rng, rng.randrange(1, 200))
            _mkdirs(os.path.join(lay(owner), d), made)
            _write(os.path.join(lay(owner), rel), data)
            # an older copy further down (hidden by the owner's copy)
            if owner < L - 1 and rng.random() < 0.10:
                o2 = rng.randrange(owner + 1, L)
                _mkdirs(os.path.join(lay(o2), d), made)
                _write(os.path.join(lay(o2), rel), b"old")
            if k is not None and owner > k:
                hidden.append(rel)
                continue
            if owner > 0 and rng.random() < 0.05:
                w = rng.randrange(0, owner)
                if k is None or w <= k:
                    _mkdirs(os.path.join(lay(w), d), made)
                    _whiteout(os.path.join(lay(w), rel))
                    whiteouted.append(rel)
                    exp.add_parents(rel)  # the dir exists in some layer
                    continue
            exp.add_parents(rel)
            exp.files[rel] = data
    # lookups: 8,000 hits, 2,000 misses (absent names, whiteouted and opaque-hidden paths)
    files = sorted(exp.files)
    look = [rng.choice(files) for _ in range(8000)]
    misses = [f"{rng.choice(leaf_dirs)}/nope{i}" for i in range(1000)]
    misses += [rng.choice(whiteouted + hidden) for _ in range(1000)] if whiteouted + hidden else []
    look += misses
    rng.shuffle(look)
    with open(os.path.join(root, "lookups.txt"), "w") as f:
        f.write("\n".join(look) + "\n")
    hits = sum(1 for p in look if p in exp.files)
    lowers = [str(i) for i in range(L)]
    if L == 1:
        # overlayfs wants two lowers when there is no upper: add an empty bottom layer
        os.makedirs(os.path.join(root, "empty"))
        lowers.append("empty")
    return lowers, [], exp, {"lookups": len(look), "lookup_hits": hits,
                                                 "whiteouts": len(whiteouted), "opaque_dirs": len(opaque)}


# --------------------------------------------------------------------------------------------
# W2: container image, 5 layers (4 = base), ~33k files, ~64 MiB.


def _size(rng):
    r = rng.random()
    if r < 0.70:
        return rng.randrange(0, 1024)
    if r < 0.95:
        return rng.randrange(1024, 8192)
    return rng.randrange(8192, 40960)


def build_w2(root):
    rng = random.Random(2)
    exp = Expect()
    made = set()
    L = 5
    lay = lambda i: os.path.join(root, str(i))
    for i in range(L):
        _mkdirs(lay(i), made)
    tops = ["usr/lib", "usr/share", "usr/bin", "etc", "var/lib", "opt/app"]
    dirs = []
    for t in tops:
        for a in range(rng.randrange(15, 30)):
            for b in range(rng.randrange(3, 10)):
                dirs.append(f"{t}/p{a:02d}/m{b}")
    content = {}  # merged path -> (layer, data)
    # base layer: 20,000 files; then each upper layer adds, overrides and deletes
    plan = [(4, 20000, 0, 0, 0), (3, 5000, 2000, 300, 1), (2, 4000, 1000, 200, 2),
            (1, 3000, 800, 150, 1), (0, 1500, 500, 100, 0)]
    serial = 0
    for layer, new, over, wout, nopaque in plan:
        # opaque dirs first (replace an existing dir's content)
        for d in rng.sample(dirs, nopaque):
            _mkdirs(os.path.join(lay(layer), d), made)
            os.setxattr(os.path.join(lay(layer), d), XO + "opaque", b"y")
            for p in [p for p in content if p.startswith(d + "/")]:
                del content[p]
            for n in range(20):
                rel = f"{d}/fresh{serial}"
                serial += 1
                data = _content(rng, _size(rng))
                _write(os.path.join(lay(layer), rel), data)
                content[rel] = (layer, data)
        existing = [p for p in content if content[p][0] != layer]
        for p in rng.sample(existing, min(over, len(existing))):
            data = _content(rng, _size(rng))
            _mkdirs(os.path.join(lay(layer), os.path.dirname(p)), made)
            _write(os.path.join(lay(layer), p), data)
            content[p] = (layer, data)
        existing = [p for p in content if content[p][0] != layer]
        for p in rng.sample(existing, min(wout, len(existing))):
            _mkdirs(os.path.join(lay(layer), os.path.dirname(p)), made)
            _whiteout(os.path.join(lay(layer), p))
            del content[p]
        for _ in range(new):
            d = rng.choice(dirs)
            rel = f"{d}/f{serial}"
            serial += 1
            data = _content(rng, _size(rng))
            _mkdirs(os.path.join(lay(layer), d), made)
            _write(os.path.join(lay(layer), rel), data)
            content[rel] = (layer, data)
    # directories: every dir that exists in any layer is merged (whiteouts only hit files)
    for i in range(L):
        for dp, dn, fn in os.walk(lay(i)):
            rel = os.path.relpath(dp, lay(i))
            if rel != ".":
                exp.dirs.add(rel)
    for p, (_, data) in content.items():
        exp.files[p] = data
    return [str(i) for i in range(L)], [], exp, {}


# --------------------------------------------------------------------------------------------
# W3: composefs-like: one metacopy layer of N files in dirs of 100, absolute redirects into a
# data-only object store objects/xx/<hash> (256 fan-out dirs), sparse st_size.


def build_w3(root, N):
    rng = random.Random(3000 + N)
    exp = Expect()
    made = set()
    meta, objs = os.path.join(root, "0"), os.path.join(root, "objects")
    _mkdirs(meta, made)
    _mkdirs(objs, made)
    for n in range(N):
        d = f"d{n // 100:04d}"
        rel = f"{d}/f{n % 100:02d}"
        size = rng.randrange(1, 2048)
        data = _content(rng, size)
        h = "%032x" % rng.getrandbits(128)
        obj = f"{h[:2]}/{h[2:]}"
        _mkdirs(os.path.join(objs, h[:2]), made)
        _write(os.path.join(objs, obj), data)
        _mkdirs(os.path.join(meta, d), made)
        mp = os.path.join(meta, rel)
        with open(mp, "wb") as f:
            f.truncate(size)  # sparse: st_size as the data, no blocks
        os.setxattr(mp, XO + "metacopy", b"")
        os.setxattr(mp, XO + "redirect", ("/" + obj).encode())
        exp.add_parents(rel)
        exp.files[rel] = data
    return ["0"], ["objects"], exp, {}


# W3 as a real composefs image: the metadata layer 0/ of w3-N<N> packed by mkfs.erofs into
# DIR/w3-N<N>/meta.erofs (mkfs.erofs keeps every xattr of the source tree by default; -T0 fixes
# the timestamps so the image is reproducible). mkfs.erofs 1.5 stores the sparse files' holes
# as data (composefs's own writer stores none): the image is larger than composefs's, never
# read by a stat walk or a lint. options-images.txt holds the stack composefs mounts:
# lowerdir=meta.erofs::objects, for `--images` (ovlcore) or with meta.erofs replaced by the
# directory where the image is mounted (the kernel).
IMAGE = "meta.erofs"
IMAGE_OPTIONS = "metacopy=on,redirect_dir=on"


def build_w3_image(out, N, quiet=False):
    man = build(out, "w3", N, quiet=quiet)
    img = os.path.join(man["dir"], IMAGE)
    stamp = man["stamp"] + " image"
    if man.get("image_stamp") != stamp or not os.path.exists(img):
        mkfs = shutil.which("mkfs.erofs")
        if not mkfs:
            raise SystemExit("w3-image needs mkfs.erofs (Debian erofs-utils)")
        if os.path.exists(img):
            os.unlink(img)
        subprocess.run([mkfs, "-T0", "--quiet", img + ".tmp", os.path.join(man["dir"], "0")],
                       check=True, stdout=subprocess.DEVNULL)
        os.rename(img + ".tmp", img)
        man["image_stamp"] = stamp
        with open(os.path.join(man["dir"], "manifest.json"), "w") as f:
            json.dump(man, f, indent=1)
    man["image"] = IMAGE
    man["image_bytes"] = os.path.getsize(img)
    man["options_images"] = f"lowerdir={IMAGE}::objects,{IMAGE_OPTIONS}"
    with open(os.path.join(man["dir"], "options-images.txt"), "w") as f:
        f.write(man["options_images"] + "\n")
    return man


# --------------------------------------------------------------------------------------------
# W4: one directory "big" with 100k merged entries over 4 layers, 10% of names whited out.


def build_w4(root, merged=100000):
    rng = random.Random(4)
    exp = Expect()
    L = 4
    lay = lambda i: os.path.join(root, str(i))
    for i in range(L):
        os.makedirs(os.path.join(lay(i), "big"), exist_ok=True)
    total = merged * 10 // 9
    wout = set(rng.sample(range(total), total - merged))
    for n in range(total):
        name = f"big/e{n:07d}"
        if n in wout:
            top = rng.randrange(1, L)  # file somewhere below, whiteout above it
            open(os.path.join(lay(top), name), "wb").close()
            _whiteout(os.path.join(lay(rng.randrange(0, top)), name))
            continue
        top = rng.randrange(L)
        open(os.path.join(lay(top), name), "wb").close()
        if top < L - 1 and rng.random() < 0.15:
            open(os.path.join(lay(rng.randrange(top + 1, L)), name), "wb").close()
        exp.files[name] = b""
    exp.dirs.add("big")
    return [str(i) for i in range(L)], [], exp, {}


# --------------------------------------------------------------------------------------------


def workload_names(which, arg=None):
    if which == "w1":
        return f"w1-L{arg}"
    if which == "w3":
        return f"w3-N{arg}"
    if which == "w4" and arg is not None and int(arg) != 100000:
        return f"w4-E{arg}"
    return which


def build(out, which, arg=None, quiet=False):
    if which == "w4" and arg is None:
        arg = 100000
    name = workload_names(which, arg)
    root = os.path.join(os.path.abspath(out), name)
    stamp = f"v{VERSION} {which} {arg}"
    mpath = os.path.join(root, "manifest.json")
    try:
        with open(mpath) as f:
            man = json.load(f)
        if man.get("stamp") == stamp:
            return man
    except (OSError, ValueError):
        pass
    if os.path.exists(root):
        shutil.rmtree(root)
    os.makedirs(root)
    if which == "w1":
        lowers, data, exp, extra = build_w1(root, int(arg))
    elif which == "w2":
        lowers, data, exp, extra = build_w2(root)
    elif which == "w3":
        lowers, data, exp, extra = build_w3(root, int(arg))
    elif which == "w4":
        lowers, data, exp, extra = build_w4(root, int(arg) if arg is not None else 100000)
    else:
        raise SystemExit(f"unknown workload {which}")
    rel = "lowerdir=" + ":".join(lowers) + "".join("::" + d for d in data)
    absopt = "lowerdir=" + ":".join(os.path.join(root, x) for x in lowers) + \
        "".join("::" + os.path.join(root, d) for d in data)
    man = {"stamp": stamp, "name": name, "dir": root, "lowers": lowers, "data_layers": data,
           "options": rel, "options_abs": absopt}
    man.update(exp.summary())
    man.update(extra)
    with open(os.path.join(root, "options.txt"), "w") as f:
        f.write(rel + "\n")
    with open(mpath + ".tmp", "w") as f:
        json.dump(man, f, indent=1)
    os.rename(mpath + ".tmp", mpath)
    if not quiet:
        print(f"{name}: {man['entries']} entries, {man['files']} files, {man['bytes']} bytes",
              file=sys.stderr)
    return man


ALL = [("w1", 1), ("w1", 4), ("w1", 16), ("w1", 64), ("w1", 128), ("w1", 500), ("w2", None),
       ("w3", 10000), ("w3", 100000), ("w4", None)]


def main(argv):
    if len(argv) < 2 or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 64
    out, which = argv[0], argv[1]
    if which == "all":
        for w, a in ALL:
            build(out, w, a)
        return 0
    arg = argv[2] if len(argv) > 2 else None
    if which in ("w1", "w3", "w3-image") and arg is None:
        raise SystemExit(f"{which} needs a size argument")
    if which == "w3-image":
        man = build_w3_image(out, int(arg))
        print(f"cd {man['dir']} && ovl-tree --images -o {man['options_images']}")
        print(f"cd {man['dir']} && mount -t erofs -o ro {IMAGE} IMGMNT && mount -t overlay "
              f"overlay -o lowerdir=IMGMNT::objects,{IMAGE_OPTIONS} MOUNTPOINT")
        return 0
    man = build(out, which, arg)
    print(f"cd {man['dir']} && mount -t overlay overlay -o {man['options']} MOUNTPOINT")
    print(man["options_abs"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
