#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/tools/ovl_tree_sparse.sh OVL_TREE WORKDIR: ovl-tree --format=jsonl on a sparse file in a
# layer (and --walk of that layer) prints the sha256 that coreutils sha256sum computes for the
# whole file; --no-data prints no sha256 at all (docs/dump-format.md "Dumps without data").
# Run by ctest ("tools: ovl-tree sparse files and --no-data").
set -eu
TREE=$1
WORK=$2
rm -rf "$WORK"
mkdir -p "$WORK/l1" "$WORK/l2"
cd "$WORK"
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
# A 1 GiB file of holes with a few data blocks, a dense file, an empty file.
truncate -s 1G l1/sparse
printf 'first' | dd of=l1/sparse bs=1 seek=4096 conv=notrunc status=none
printf 'middle' | dd of=l1/sparse bs=1 seek=314572805 conv=notrunc status=none
printf 'z' | dd of=l1/sparse bs=1 seek=1073741823 conv=notrunc status=none
printf 'dense content\n' > l2/dense
: > l2/empty

expect_sha() { # expect_sha OUTPUT PATH FILE
    want=$(sha256sum "$3" | cut -d' ' -f1)
    grep -F "\"path\": \"$2\"" "$1" | grep -qF "\"sha256\": \"$want\"" ||
        fail "$1: $2 has not the sha256 of $3 ($want): $(grep -F "\"$2\"" "$1")"
}
"$TREE" -o lowerdir=l1:l2 --format jsonl > stack.jsonl || fail "ovl-tree -o exited $?"
expect_sha stack.jsonl /sparse l1/sparse
expect_sha stack.jsonl /dense l2/dense
expect_sha stack.jsonl /empty l2/empty
"$TREE" --walk l1 --format jsonl > walk.jsonl || fail "ovl-tree --walk exited $?"
expect_sha walk.jsonl /sparse l1/sparse

"$TREE" -o lowerdir=l1:l2 --format jsonl --no-data > nodata.jsonl || fail "--no-data exited $?"
"$TREE" --walk l1 --format jsonl --no-data >> nodata.jsonl || fail "--walk --no-data exited $?"
grep -q sha256 nodata.jsonl && fail "--no-data printed a sha256: $(grep sha256 nodata.jsonl)"
[ "$(grep -F '"path": "/sparse"' nodata.jsonl | grep -cF '"size": 1073741824}')" = 2 ] ||
    fail "--no-data: /sparse records do not end with its size: $(grep -F /sparse nodata.jsonl)"
[ "$(grep -c '"type": "reg"' nodata.jsonl)" = 4 ] || fail "--no-data: not 4 reg records"
"$TREE" -o lowerdir=l1:l2 --no-data > /dev/null 2>&1 && fail "--no-data without jsonl accepted"
cd /
rm -rf "$WORK"
echo "ovl-tree sparse: ok"
