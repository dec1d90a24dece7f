#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The ovlcore demo: installs missing Debian packages, builds ovl-tree and ovl-mkstack out of tree
# in build/demo, materialises the example layer stack examples/demo/stack.json on disk, and shows
# ovlcore's merged view of it, readable and as JSON lines (the dump format the kernel oracle uses).
# Runs from any working directory; OVLCORE_BUILD_ROOT=DIR builds in DIR/demo instead.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${OVLCORE_BUILD_ROOT:-$repo/build}/demo"
scenario="$repo/examples/demo/stack.json"
jobs="$(nproc 2>/dev/null || echo 2)"

bash "$repo/scripts/setup-deps.sh"

mkdir -p "$build"
echo "== configure and build (build/demo: ovl-tree, ovl-mkstack)"
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    -DOVLCORE_BUILD_TESTS=OFF -DOVLCORE_BUILD_TOOLS=ON -DOVLCORE_BUILD_EXAMPLES=OFF \
    -DOVLCORE_BUILD_BENCHMARKS=OFF \
    -DOVLCORE_INSTALL=OFF >"$build/configure.log" 2>&1 || {
    cat "$build/configure.log" >&2
    echo "demo: cmake configure failed" >&2
    exit 1
}
cmake --build "$build" -j"$jobs" --target ovl-tree ovl-mkstack

stack="$build/demo-stack"
rm -rf "$stack"
echo
echo "== ovl-mkstack examples/demo/stack.json $stack"
opts="$("$build/bin/ovl-mkstack" "$scenario" "$stack" | tail -n 1)"
if [ -z "$opts" ]; then
    echo "demo: ovl-mkstack printed no mount options" >&2
    exit 1
fi
echo "mount options: $opts"

# Layer paths in the options are resolved from the directory holding the layers.
cd "$stack"
echo
echo "== ovl-tree -o \"\$opts\""
"$build/bin/ovl-tree" -o "$opts"
echo
echo "== ovl-tree -o \"\$opts\" --format jsonl"
"$build/bin/ovl-tree" -o "$opts" --format jsonl
