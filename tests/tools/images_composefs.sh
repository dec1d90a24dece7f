#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/tools/images_composefs.sh: the --images extension of the tools (docs/cli.md §4,
# docs/overlayfs-semantics.md §X.2) on composefs's shape, `lowerdir=IMAGE::OBJECTS`: an EROFS
# image (mkfs.erofs) of a metadata tree whose root is opaque with the 256 whiteouts 00..ff and
# whose regular files are metacopy files (empty, or a 4-byte header and a digest) with absolute
# redirects into an object directory that is the data-only layer.
#   1. ovl-tree --images gives each file the object's content and the image's metadata;
#   2. ovl-lint --images finds nothing (exit 0);
#   3. where root can mount EROFS and overlayfs: the kernel overlay over the mounted image dumps
#      exactly like ovl-tree --images over the image file (and ovl-fuse --images, when given and
#      /dev/fuse works, like both);
#   4. without --images the image file as a layer is refused (exit 2, EINVAL), as the kernel
#      refuses it.
# Needs root (trusted.* xattrs, whiteouts) and mkfs.erofs: exit 77 (ctest: Skipped) without.
#
#   images_composefs.sh OVL_TREE OVL_LINT WORK_DIR [OVL_FUSE]
# Exit status: 0 passed, 1 failed, 64 usage error, 77 skipped.
set -u
if [ $# -lt 3 ] || [ $# -gt 4 ]; then
    echo "usage: $0 OVL_TREE OVL_LINT WORK_DIR [OVL_FUSE]" >&2
    exit 64
fi
TREE=$1 LINT=$2 WORK=$3 FUSE=${4:-}

skip() {
    echo "=================================================================="
    echo "SKIPPED: $*: --images composefs tests not run"
    echo "=================================================================="
    exit 77
}
[ "$(id -u)" -eq 0 ] || skip "not root"
command -v mkfs.erofs > /dev/null || skip "mkfs.erofs is missing (scripts/setup-deps.sh)"
command -v python3 > /dev/null || skip "python3 is missing (sets the xattrs)"

failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}
rm -rf "$WORK" && mkdir -p "$WORK" || { echo "FAIL: cannot make $WORK" >&2; exit 1; }
WORK=$(cd "$WORK" && pwd -P)
cd "$WORK" || exit 1
mkdir -p meta/usr/bin meta/etc objs/3f objs/a0 mnt ovl fusemnt

# The objects: named by (made-up) digests, as composefs names them.
printf 'tool binary\n' > objs/3f/0123456789abcdef
head -c 70000 /dev/zero | tr '\0' 'x' > objs/a0/fedcba9876543210
# The metadata tree.
printf 'inline config\n' > meta/etc/config
ln -s ../usr/bin/tool meta/etc/tool-link
: > meta/usr/bin/tool && truncate -s 12 meta/usr/bin/tool && chmod 0755 meta/usr/bin/tool
: > meta/usr/bin/big && truncate -s 70000 meta/usr/bin/big && chown 12:34 meta/usr/bin/big
i=0
while [ $i -lt 256 ]; do
    mknod "meta/$(printf %02x $i)" c 0 0 || skip "mknod failed"
    i=$((i + 1))
done
python3 - <<'EOF' || skip "cannot set trusted.* xattrs here"
import os
os.setxattr("meta", "trusted.overlay.opaque", b"y")
os.setxattr("meta/usr/bin/tool", "trusted.overlay.metacopy", b"")
os.setxattr("meta/usr/bin/tool", "trusted.overlay.redirect", b"/3f/0123456789abcdef")
os.setxattr("meta/usr/bin/big", "trusted.overlay.metacopy", bytes([0, 36, 0, 1]) + bytes(range(32)))
os.setxattr("meta/usr/bin/big", "trusted.overlay.redirect", b"/a0/fedcba9876543210")
EOF
mkfs.erofs -T0 image.erofs meta > mkfs.out 2>&1 || { cat mkfs.out; fail "mkfs.erofs failed"; exit 1; }

OPTS="lowerdir=image.erofs::objs,metacopy=on,redirect_dir=on"
sha() { sha256sum "$1" | cut -d' ' -f1; }
record() { grep -F "\"path\": \"$2\"," "$1"; }

# 1. ovl-tree --images
"$TREE" --images -o "$OPTS" --format=jsonl > tree.jsonl 2> tree.err ||
    fail "ovl-tree --images exited $? ($(cat tree.err))"
case "$(record tree.jsonl /usr/bin/tool)" in
*'"mode": "0755"'*'"size": 12, "sha256": "'"$(sha objs/3f/0123456789abcdef)"'"'*) ;;
*) fail "/usr/bin/tool: not the image's metadata with the object's data: $(record tree.jsonl /usr/bin/tool)" ;;
esac
case "$(record tree.jsonl /usr/bin/big)" in
*'"uid": 12, "gid": 34, "size": 70000, "sha256": "'"$(sha objs/a0/fedcba9876543210)"'"'*) ;;
*) fail "/usr/bin/big: $(record tree.jsonl /usr/bin/big)" ;;
esac
record tree.jsonl /00 > /dev/null && fail "a whiteout of the opaque root is shown"
record tree.jsonl /3f > /dev/null && fail "the data-only layer is visible"
[ "$(grep -c . tree.jsonl)" -eq 8 ] || fail "expected 8 records, got: $(cat tree.jsonl)"
"$TREE" --images -o "$OPTS" > tree.txt 2>&1 || fail "ovl-tree --images (tree) exited $?"
grep -q "image.erofs" tree.txt || fail "the readable tree does not name the image: $(cat tree.txt)"

# 2. ovl-lint --images
"$LINT" --images -o "$OPTS" > lint.txt 2>&1 || fail "ovl-lint --images exited $?: $(cat lint.txt)"

# 4. Without --images: the kernel's refusal (a layer must be a directory).
"$TREE" -o "$OPTS" --format=jsonl > plain.jsonl 2> /dev/null
status=$?
[ "$status" -eq 2 ] || fail "without --images: exit $status, expected 2"
grep -q '"mount_error": "EINVAL"' plain.jsonl || fail "without --images: $(cat plain.jsonl)"
"$LINT" -o "$OPTS" > /dev/null 2>&1
[ $? -eq 2 ] || fail "ovl-lint without --images: not refused (exit 2)"
# A regular file that is not an image: EINVAL naming it.
printf 'not an image\n' > not-an-image
"$TREE" --images -o lowerdir=not-an-image:objs > bad.out 2>&1
status=$?
[ "$status" -eq 2 ] || fail "--images on a non-image: exit $status, expected 2"
grep -q "not-an-image" bad.out && grep -q "EINVAL" bad.out ||
    fail "--images on a non-image: no EINVAL naming the file: $(cat bad.out)"

# 3. The kernel, over the mounted image.
if grep -q '	erofs$' /proc/filesystems && grep -q '	overlay$' /proc/filesystems &&
    unshare -m --propagation private true 2> /dev/null; then
    unshare -m --propagation private sh -c '
        mount -t erofs -o ro image.erofs mnt || exit 3
        # Without --images the kernel refuses the image file as a layer, too.
        mount -t overlay overlay -o lowerdir=image.erofs::objs,metacopy=on,redirect_dir=on ovl \
            2> /dev/null && exit 4
        mount -t overlay overlay -o lowerdir=mnt::objs,metacopy=on,redirect_dir=on ovl || exit 5
        "$1" --walk ovl --format=jsonl' sh "$TREE" > kernel.jsonl 2> kernel.err
    status=$?
    if [ "$status" -ne 0 ]; then
        fail "kernel run exited $status: $(cat kernel.err)"
    elif ! cmp -s kernel.jsonl tree.jsonl; then
        fail "the kernel over the mounted image and ovl-tree --images differ: $(diff kernel.jsonl tree.jsonl)"
    else
        echo "kernel over the mounted image == ovl-tree --images ($(grep -c . tree.jsonl) records)"
    fi
    if [ -n "$FUSE" ] && [ -c /dev/fuse ] && command -v fusermount3 > /dev/null; then
        unshare -m --propagation private sh -c '
            "$1" --images -o "$3" fusemnt || exit 3
            "$2" --walk fusemnt --format=jsonl; status=$?
            fusermount3 -u fusemnt; exit $status' sh "$FUSE" "$TREE" "$OPTS" > fuse.jsonl 2> fuse.err
        status=$?
        if [ "$status" -ne 0 ]; then
            fail "ovl-fuse --images run exited $status: $(cat fuse.err)"
        elif ! cmp -s fuse.jsonl tree.jsonl; then
            fail "ovl-fuse --images and ovl-tree --images differ: $(diff fuse.jsonl tree.jsonl)"
        else
            echo "ovl-fuse --images == ovl-tree --images"
        fi
    fi
else
    echo "WARNING: EROFS or overlayfs cannot be mounted here: no comparison with the kernel"
fi

cd / && rm -rf "$WORK"
[ "$failures" -eq 0 ] || exit 1
echo "images composefs: ok"
