#!/bin/sh
# SPDX-License-Identifier: MIT
# ovl-fuse's mount point and its lifetime (issue 12; docs/tools/ovl-fuse.md, docs/fuse.md §6):
#   1. a regular file, a missing path and a directory the caller cannot search are refused like
#      mount(2) refuses them (ENOTDIR, ENOENT, EACCES), exit 1, "ovl-fuse: cannot mount on PATH:
#      ERRNO: text", nothing mounted;
#   2. auto_unmount is the default: after SIGKILL the mount goes away (polled for 30 s: on a
#      loaded machine under ASan fusermount3 took more than 5 s); with
#      -o noauto_unmount it stays (the opt-out works);
#   3. SIGTERM, SIGINT and SIGHUP each unmount and exit 0;
#   4. round trips (docs/fuse.md §2, §4; ovl-fuse --stats): reading a file costs one LOOKUP, OPEN
#      and READ (and RELEASE), no FLUSH; reading it again only OPEN (page cache kept); `ls -l`
#      of the stack costs no LOOKUP (readdirplus=unaliased answers every name); SEEK_HOLE and
#      SEEK_DATA through the mount answer as on the data file (python3 only);
#   5. a lazy metacopy's st_blocks (spec §6, §10 Q3): the estimate before the first open, the data
#      file's after it, through the kernel's attribute cache (python3 only, for the xattrs);
#   6. -o noopen (docs/fuse.md §2): one OPEN (answered ENOSYS) and one READ for two reads of a
#      file, SEEK_HOLE/SEEK_DATA without an open handle, and the lazy metacopy's st_blocks after
#      its first read.
# Everything runs in a private mount namespace (unshare -m), as root: exit 77 (ctest: Skipped,
# never Passed) when not root, or /dev/fuse, unshare, setpriv or fusermount3 are missing.
#
#   ovl_fuse_mount.sh OVL_FUSE WORK_DIR
# Exit status: 0 passed, 1 failed, 64 usage error, 77 skipped.
set -u
if [ $# -ne 2 ]; then
    echo "usage: $0 OVL_FUSE WORK_DIR" >&2
    exit 64
fi
OVL_FUSE=$1 WORK=$2

skip() {
    echo "=================================================================="
    echo "SKIPPED: $*: ovl-fuse mount point and signal tests not run"
    echo "=================================================================="
    exit 77
}
[ "$(id -u)" -eq 0 ] || skip "not root"
{ [ -c /dev/fuse ] && [ -r /dev/fuse ] && [ -w /dev/fuse ]; } || skip "/dev/fuse is not usable"
for tool in unshare setpriv fusermount3 timeout; do
    command -v "$tool" > /dev/null || skip "$tool is missing"
done
unshare -m --propagation private true 2> /dev/null || skip "unshare -m does not work here"

rm -rf "$WORK" && mkdir -p "$WORK" || { echo "FAIL: cannot make $WORK" >&2; exit 1; }
WORK=$(cd "$WORK" && pwd -P)
chmod 755 "$WORK" # setpriv'd runs below must reach it
mkdir -p "$WORK/lower1" "$WORK/lower2" "$WORK/mnt" "$WORK/locked/inner" "$WORK/closed"
echo upper > "$WORK/lower1/file"
echo lower > "$WORK/lower2/file"
echo other > "$WORK/lower2/other"
printf x > "$WORK/lower2/sparse" && truncate -s 1048576 "$WORK/lower2/sparse"
: > "$WORK/regular"
chmod 700 "$WORK/locked"  # nobody cannot look up locked/inner
chmod 600 "$WORK/closed"  # nobody can stat it but not search it

cat > "$WORK/inner.sh" <<'EOF'
OVL_FUSE=$1 WORK=$2
OPTS="lowerdir=$WORK/lower1:$WORK/lower2"
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
mounted() { grep -q " $1 " /proc/self/mountinfo; }
# Whatever a failing ovl-fuse left behind is removed, so the next check starts clean.
cleanup() { umount -l "$1" 2> /dev/null; }

# 1. Mount points refused like mount(2). `timeout`: an ovl-fuse that mounts anyway would serve
# in the foreground forever.
refused() { # NAME EXPECTED_ERRNO RUN_AS PATH
    name=$1 errno=$2 as=$3 path=$4
    if [ "$as" = root ]; then
        timeout 10 "$OVL_FUSE" -f -o "$OPTS" "$path" > "$WORK/$name.out" 2>&1
    else
        timeout 10 setpriv --reuid=65534 --regid=65534 --clear-groups \
            "$OVL_FUSE" -f -o "$OPTS" "$path" > "$WORK/$name.out" 2>&1
    fi
    status=$?
    text=$(cat "$WORK/$name.out")
    [ "$status" -eq 1 ] || fail "$name: exit $status, expected 1 ($text)"
    case "$text" in
    *"ovl-fuse: cannot mount on $path: $errno: "*) ;;
    *) fail "$name: expected 'ovl-fuse: cannot mount on $path: $errno: ...', got '$text'" ;;
    esac
    if mounted "$path"; then
        fail "$name: something was mounted on $path"
        cleanup "$path"
    fi
}
refused "regular file" ENOTDIR root "$WORK/regular"
refused "regular file, trailing slash" ENOTDIR root "$WORK/regular/"
refused "missing" ENOENT root "$WORK/missing"
refused "missing parent" ENOENT root "$WORK/missing/mnt"
refused "parent not searchable" EACCES nobody "$WORK/locked/inner"
refused "not searchable" EACCES nobody "$WORK/closed"

# Starts `ovl-fuse -f ARGS... $WORK/mnt` in the background, its pid in $pid (SIGINT and SIGHUP at
# their defaults: sh makes background jobs ignore SIGINT, and libfuse keeps an ignored signal
# ignored), and waits up to 10 s for the mount; false (ovl-fuse killed) when it does not come.
spawn() { # ERR_FILE ARGS...
    err=$1
    shift
    env --default-signal=INT,HUP,TERM "$OVL_FUSE" -f "$@" "$WORK/mnt" 2> "$err" &
    pid=$!
    i=0
    while [ "$(stat -f -c %t "$WORK/mnt" 2> /dev/null)" != "65735546" ]; do
        i=$((i + 1))
        if [ $i -gt 200 ] || ! kill -0 $pid 2> /dev/null; then
            kill -9 $pid 2> /dev/null
            wait $pid
            return 1
        fi
        sleep 0.05
    done
    return 0
}
# spawn with $OPTS and EXTRA_OPTIONS, then checks that the mount serves the stack.
start() { # NAME EXTRA_OPTIONS
    if ! spawn "$WORK/$1.err" -o "$OPTS$2"; then
        fail "$1: ovl-fuse did not mount: $(cat "$WORK/$1.err")"
        return 1
    fi
    [ "$(cat "$WORK/mnt/file")" = upper ] || fail "$1: the mount does not serve lower1/file"
    return 0
}
# Polls /proc/self/mountinfo for up to 30 s; true when the mount is gone (prints how long it
# took when that was more than a second).
gone_within_30s() {
    i=0
    while mounted "$WORK/mnt"; do
        i=$((i + 1))
        [ $i -gt 600 ] && return 1
        sleep 0.05
    done
    [ $i -gt 20 ] && echo "note: the mount went away after about $((i / 20)) s"
    return 0
}

# 2. auto_unmount by default: SIGKILL leaves no "Transport endpoint is not connected" mount.
if start "SIGKILL"; then
    kill -KILL $pid
    wait $pid
    if ! gone_within_30s; then
        fail "SIGKILL: the mount is still there after 30 s (auto_unmount is not on)"
        cleanup "$WORK/mnt"
    fi
fi
# The opt-out: with -o noauto_unmount the dead mount stays (as it does without auto_unmount).
if start "SIGKILL, noauto_unmount" ",noauto_unmount"; then
    kill -KILL $pid
    wait $pid
    sleep 1
    mounted "$WORK/mnt" || fail "-o noauto_unmount: the mount went away after SIGKILL"
    cleanup "$WORK/mnt"
fi

# 3. SIGTERM, SIGINT, SIGHUP: unmounted, exit 0.
for sig in TERM INT HUP; do
    if start "SIG$sig"; then
        kill -$sig $pid
        wait $pid
        status=$?
        [ "$status" -eq 0 ] || fail "SIG$sig: exit $status, expected 0 ($(cat "$WORK/SIG$sig.err"))"
        if mounted "$WORK/mnt"; then
            fail "SIG$sig: still mounted after ovl-fuse exited"
            cleanup "$WORK/mnt"
        fi
    fi
done

# 4. Round trips, counted by --stats.
count() { # KIND FILE: the count of KIND in ovl-fuse's "requests: ..." line (0 if absent)
    n=$(sed -n "/requests:/s/.*[:,] $1 \([0-9][0-9]*\).*/\1/p" "$2" | head -n 1)
    echo "${n:-0}"
}
spawn "$WORK/stats.err" --stats -o "$OPTS" ||
    fail "round trips: ovl-fuse did not mount: $(cat "$WORK/stats.err")"
cat "$WORK/mnt/file" > /dev/null
cat "$WORK/mnt/file" > /dev/null
ls -l "$WORK/mnt" > /dev/null
opens=2
if command -v python3 > /dev/null; then
    opens=3 # one more open of sparse
    seeks() { # FILE: SEEK_HOLE from 0, SEEK_DATA from there (or its errno)
        python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
hole = os.lseek(fd, 0, os.SEEK_HOLE)
try:
    data = os.lseek(fd, hole, os.SEEK_DATA)
except OSError as e:
    data = e.errno
print(hole, data)' "$1"
    }
    real=$(seeks "$WORK/lower2/sparse") through=$(seeks "$WORK/mnt/sparse")
    [ "$real" = "$through" ] ||
        fail "lseek: SEEK_HOLE/SEEK_DATA through the mount give '$through', the file '$real'"
fi
kill -TERM $pid
wait $pid
# (RELEASE is sent asynchronously after close: its count may lag behind, so it is not checked.)
for kind in lookup open read flush; do
    eval "$kind=\$(count $kind "$WORK/stats.err")"
done
# shellcheck disable=SC2154 # set by the eval above
[ "$lookup" -eq 1 ] && [ "$open" -eq $opens ] && [ "$read" -eq 1 ] && [ "$flush" -eq 0 ] ||
    fail "round trips: expected lookup 1, open $opens, read 1, flush 0:" \
        "$(cat "$WORK/stats.err")"

# 5. st_blocks of a lazy metacopy before and after its first open (docs/fuse.md §2 open).
if command -v python3 > /dev/null; then
    mkdir -p "$WORK/meta" "$WORK/data"
    truncate -s 1048576 "$WORK/meta/m" "$WORK/data/obj" # estimate: 2048 blocks; data: one page
    printf x | dd of="$WORK/data/obj" conv=notrunc status=none
    python3 -c 'import os, sys
os.setxattr(sys.argv[1], "trusted.overlay.metacopy", b"")
os.setxattr(sys.argv[1], "trusted.overlay.redirect", b"/obj")' "$WORK/meta/m"
    spawn "$WORK/lazy.err" -o "lowerdir=$WORK/meta::$WORK/data" ||
        fail "lazy metacopy: ovl-fuse did not mount: $(cat "$WORK/lazy.err")"
    before=$(stat -c %b "$WORK/mnt/m")
    head -c 1 "$WORK/mnt/m" > /dev/null
    after=$(stat -c %b "$WORK/mnt/m") data=$(stat -c %b "$WORK/data/obj")
    [ "$before" = 2048 ] && [ "$after" = "$data" ] ||
        fail "lazy metacopy st_blocks: $before before the first open (expected 2048)," \
            "$after after it (expected the data file's $data): $(cat "$WORK/lazy.err")"
    kill -TERM $pid
    wait $pid
fi

# 6. -o noopen (docs/fuse.md §2): the first OPEN answers ENOSYS, then the kernel asks no more;
# READ opens the data itself, and resolves a lazy metacopy's data as open would (st_blocks).
spawn "$WORK/noopen.err" --stats -o "$OPTS,noopen" ||
    fail "noopen: ovl-fuse did not mount: $(cat "$WORK/noopen.err")"
first=$(cat "$WORK/mnt/file") again=$(cat "$WORK/mnt/file")
if command -v python3 > /dev/null; then
    real=$(seeks "$WORK/lower2/sparse") through=$(seeks "$WORK/mnt/sparse")
    [ "$real" = "$through" ] ||
        fail "noopen lseek: SEEK_HOLE/SEEK_DATA through the mount give '$through', the file '$real'"
fi
kill -TERM $pid
wait $pid
for kind in open read; do
    eval "$kind=\$(count $kind "$WORK/noopen.err")"
done
[ "$first" = "$again" ] && [ "$first" = "$(cat "$WORK/lower1/file")" ] ||
    fail "noopen: the file reads '$first' then '$again'"
[ "$open" -eq 1 ] && [ "$read" -eq 1 ] ||
    fail "noopen: expected open 1 (ENOSYS), read 1: $(cat "$WORK/noopen.err")"
if [ -e "$WORK/meta/m" ]; then
    spawn "$WORK/lazy-noopen.err" -o "lowerdir=$WORK/meta::$WORK/data,noopen" ||
        fail "noopen lazy metacopy: ovl-fuse did not mount: $(cat "$WORK/lazy-noopen.err")"
    before=$(stat -c %b "$WORK/mnt/m")
    head -c 1 "$WORK/mnt/m" > /dev/null
    after=$(stat -c %b "$WORK/mnt/m") data=$(stat -c %b "$WORK/data/obj")
    [ "$before" = 2048 ] && [ "$after" = "$data" ] ||
        fail "noopen lazy metacopy st_blocks: $before before the first read (expected 2048)," \
            "$after after it (expected the data file's $data)"
    kill -TERM $pid
    wait $pid
fi
exit $((failures > 0))
EOF
unshare -m --propagation private sh "$WORK/inner.sh" "$OVL_FUSE" "$WORK" ||
    { echo "FAIL: ovl-fuse mount point / signal tests failed (see above)" >&2; exit 1; }
echo "ovl-fuse mount point and signal tests passed"
exit 0
