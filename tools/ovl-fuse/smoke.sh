#!/bin/sh
# SPDX-License-Identifier: MIT
# Smoke test of ovl-fuse (run by ctest): --help works; a refused stack exits 2 with
# ovl-tree's errno and message; a bad readdirplus= value is a usage error (exit 64); the demo
# stack mounted with ovl-fuse and walked with `ovl-tree --walk` dumps exactly like `ovl-tree -o`;
# SIGTERM unmounts cleanly (exit 0).
# Exit 77 (ctest: Skipped) when /dev/fuse is not usable here.
#
#   smoke.sh OVL_FUSE OVL_TREE OVL_MKSTACK SCENARIO.json WORK_DIR
# Exit status: 0 passed, 1 failed, 64 usage error, 77 skipped (docs/cli.md).
set -u
if [ $# -ne 5 ]; then
    echo "usage: $0 OVL_FUSE OVL_TREE OVL_MKSTACK SCENARIO.json WORK_DIR" >&2
    exit 64
fi
OVL_FUSE=$1 OVL_TREE=$2 MKSTACK=$3 SCENARIO=$4 WORK=$5

fail() { echo "FAIL: $*" >&2; exit 1; }

rm -rf "$WORK" && mkdir -p "$WORK" || fail "cannot make $WORK"

# 1. --help is the man-page-like text.
"$OVL_FUSE" --help > "$WORK/help.txt" || fail "ovl-fuse --help exited $?"
grep -q "OPTION ROUTING" "$WORK/help.txt" || fail "--help does not explain the option routing"
grep -q "readdirplus=unaliased|known|eager|preload" "$WORK/help.txt" || fail "--help does not explain readdirplus="

# 2. A refused stack: exit 2, the same errno and message as ovl-tree (spec §1.3: ENOENT).
"$OVL_FUSE" -f -o "lowerdir=$WORK/missing:$WORK/also-missing" "$WORK" 2> "$WORK/refused.txt"
status=$?
[ "$status" -eq 2 ] || fail "refused stack: exit $status, expected 2 ($(cat "$WORK/refused.txt"))"
"$OVL_TREE" -o "lowerdir=$WORK/missing:$WORK/also-missing" 2> "$WORK/refused-tree.txt"
[ "$(sed 's/^ovl-fuse: //' "$WORK/refused.txt")" = "$(sed 's/^ovl-tree: //' "$WORK/refused-tree.txt")" ] ||
    fail "refusal differs: '$(cat "$WORK/refused.txt")' vs '$(cat "$WORK/refused-tree.txt")'"

# 2b. readdirplus= takes unaliased, known, eager or preload: anything else is refused before any
# mount, as a usage error (exit 64, like max_idle_threads=0), naming the option; it never reaches ovlcore (whose
# "Unknown parameter" would exit 2).
"$OVL_FUSE" -f -o "lowerdir=$WORK,readdirplus=bogus" "$WORK" 2> "$WORK/bad-readdirplus.txt"
status=$?
bad=$(cat "$WORK/bad-readdirplus.txt")
[ "$status" -eq 64 ] || fail "readdirplus=bogus: exit $status, expected 64 ($bad)"
grep -q "readdirplus=bogus" "$WORK/bad-readdirplus.txt" ||
    fail "readdirplus=bogus: the message does not name the option: $bad"

# 3. Mounting needs /dev/fuse.
if ! [ -c /dev/fuse ] || ! [ -r /dev/fuse ] || ! [ -w /dev/fuse ]; then
    echo "=================================================================="
    echo "SKIPPED: /dev/fuse is not usable here, ovl-fuse mounts not tested"
    echo "=================================================================="
    exit 77
fi

OPTIONS=$("$MKSTACK" "$SCENARIO" "$WORK/layers") || fail "ovl-mkstack failed"
mkdir -p "$WORK/mnt"
MNT=$(cd "$WORK/mnt" && pwd -P)
"$OVL_TREE" -o "$OPTIONS" --format jsonl > "$WORK/tree.jsonl" || fail "ovl-tree -o failed"

# Mount, walk, stop: in a private mount namespace when root, else in this one (fusermount3).
cat > "$WORK/mount-walk.sh" <<'EOF'
OVL_FUSE=$1 OVL_TREE=$2 OPTIONS=$3 MNT=$4 OUT=$5
"$OVL_FUSE" -f -o "$OPTIONS" "$MNT" 2> "$OUT.stderr" &
pid=$!
i=0
while [ "$(stat -f -c %t "$MNT" 2>/dev/null)" != "65735546" ]; do
    i=$((i + 1))
    if [ $i -gt 200 ] || ! kill -0 $pid 2>/dev/null; then
        echo "ovl-fuse did not mount: $(cat "$OUT.stderr")" >&2
        kill -9 $pid 2>/dev/null
        exit 1
    fi
    sleep 0.05
done
"$OVL_TREE" --walk "$MNT" --format jsonl > "$OUT"
walk=$?
kill -TERM $pid
wait $pid
stopped=$?
if grep -q " $MNT " /proc/self/mountinfo; then
    echo "still mounted after SIGTERM" >&2
    fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"
    exit 1
fi
[ $walk -eq 0 ] || { echo "ovl-tree --walk exited $walk" >&2; exit 1; }
[ $stopped -eq 0 ] || { echo "ovl-fuse exited $stopped after SIGTERM" >&2; exit 1; }
exit 0
EOF
if [ "$(id -u)" -eq 0 ] && command -v unshare > /dev/null; then
    unshare -m --propagation private sh "$WORK/mount-walk.sh" "$OVL_FUSE" "$OVL_TREE" "$OPTIONS" "$MNT" "$WORK/fuse.jsonl"
else
    sh "$WORK/mount-walk.sh" "$OVL_FUSE" "$OVL_TREE" "$OPTIONS" "$MNT" "$WORK/fuse.jsonl"
fi || fail "mount and walk failed"

cmp -s "$WORK/tree.jsonl" "$WORK/fuse.jsonl" ||
    fail "ovl-fuse mount dumps differently from ovl-tree -o:
$(diff "$WORK/tree.jsonl" "$WORK/fuse.jsonl")"
echo "ovl-fuse smoke test passed: $(wc -l < "$WORK/fuse.jsonl") paths agree with ovl-tree"
exit 0
