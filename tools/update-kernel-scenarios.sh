#!/bin/sh
# SPDX-License-Identifier: MIT
# Refresh tests/data/kernel/ with a verbatim copy of the shared kernel-recorded scenarios.
# Usage: tools/update-kernel-scenarios.sh [SOURCE_DIR]   (default: /work/shared/scenarios)
# SOURCE_DIR holds NAME.json scenarios and expected/NAME.jsonl kernel dumps (shared/scenarios/README.md).
set -eu
src=${1:-/work/shared/scenarios}
here=$(cd "$(dirname "$0")/.." && pwd)
dst=$here/tests/data/kernel
[ -d "$src/expected" ] || { echo "no $src/expected" >&2; exit 1; }
rm -rf "$dst/scenarios" "$dst/expected"
mkdir -p "$dst/scenarios" "$dst/expected"
n=0
for f in "$src"/*.json; do
    [ -e "$f" ] || continue
    name=$(basename "$f" .json)
    [ -f "$src/expected/$name.jsonl" ] || { echo "missing expected/$name.jsonl" >&2; exit 1; }
    cp "$f" "$dst/scenarios/$name.json"
    cp "$src/expected/$name.jsonl" "$dst/expected/$name.jsonl"
    n=$((n + 1))
done
[ -f "$src/README.md" ] && cp "$src/README.md" "$dst/README.md"
echo "copied $n scenarios from $src to $dst"
