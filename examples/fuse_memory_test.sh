#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs examples/fuse_memory.cpp under ctest: mounts it, reads through the mount what the in-memory
# stack holds (a replaced file, a whiteout, a symlink), stops it with SIGTERM (exit 0 expected).
# Exit 77 (ctest: Skipped) when /dev/fuse is not usable or mounting is not allowed here.
#
#   fuse_memory_test.sh FUSE_MEMORY WORK_DIR
set -u
if [ $# -ne 2 ]; then
    echo "usage: $0 FUSE_MEMORY WORK_DIR" >&2
    exit 1
fi
EXE=$1 WORK=$2
if ! [ -c /dev/fuse ] || ! [ -r /dev/fuse ] || ! [ -w /dev/fuse ]; then
    echo "SKIPPED: /dev/fuse is not usable here"
    exit 77
fi
rm -rf "$WORK" && mkdir -p "$WORK/mnt" || { echo "FAIL: cannot make $WORK" >&2; exit 1; }
MNT=$(cd "$WORK/mnt" && pwd -P)

cat > "$WORK/run.sh" <<'SCRIPT'
EXE=$1 MNT=$2 LOG=$3
"$EXE" "$MNT" 2> "$LOG" &
pid=$!
i=0
while [ "$(stat -f -c %t "$MNT" 2>/dev/null)" != "65735546" ]; do
    i=$((i + 1))
    if [ $i -gt 200 ] || ! kill -0 $pid 2>/dev/null; then
        echo "SKIPPED: the example did not mount: $(cat "$LOG")"
        kill -9 $pid 2>/dev/null
        exit 77
    fi
    sleep 0.05
done
status=0
[ "$(cat "$MNT/etc/motd")" = "hello from ovlcore::fuse" ] || { echo "FAIL: /etc/motd" >&2; status=1; }
[ "$(cat "$MNT/motd")" = "hello from ovlcore::fuse" ] || { echo "FAIL: /motd (symlink)" >&2; status=1; }
[ "$(readlink "$MNT/motd")" = "etc/motd" ] || { echo "FAIL: readlink /motd" >&2; status=1; }
[ ! -e "$MNT/etc/old" ] || { echo "FAIL: /etc/old is whited out" >&2; status=1; }
[ "$(ls "$MNT/etc")" = "motd" ] || { echo "FAIL: ls /etc: $(ls "$MNT/etc")" >&2; status=1; }
grep -q "^open: node" "$LOG" || { echo "FAIL: the wrapped open did not log" >&2; status=1; }
kill -TERM $pid
wait $pid
stopped=$?
[ $stopped -eq 0 ] || { echo "FAIL: exit $stopped after SIGTERM: $(cat "$LOG")" >&2; status=1; }
exit $status
SCRIPT
# In a private mount namespace when root, else in this one (fusermount3).
if [ "$(id -u)" -eq 0 ] && command -v unshare > /dev/null; then
    unshare -m --propagation private sh "$WORK/run.sh" "$EXE" "$MNT" "$WORK/stderr.txt"
else
    sh "$WORK/run.sh" "$EXE" "$MNT" "$WORK/stderr.txt"
fi
status=$?
[ $status -eq 0 ] && echo "fuse_memory example passed"
exit $status
