#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs clang-tidy (pinned: major version 14, checks from .clang-tidy) over a cheap but covering set
# of translation units: tests/compile's generated all-headers files (one each for the public,
# the FUSE and the testing headers: together they include every header), the tools and the
# examples. Configures (does not build) a build dir with CMAKE_EXPORT_COMPILE_COMMANDS=ON for the
# compilation database.
# Usage: scripts/check-tidy.sh [BUILD_DIR]   (default: $OVLCORE_BUILD_ROOT/tidy, else build/tidy)
# Prints every distinct finding once and a one-line summary; exits 0 when clang-tidy reported
# nothing, 1 on findings, 2 when clang-tidy 14 is missing or the configure step fails.
# CLANG_TIDY=/path/to/clang-tidy overrides the binary (default: clang-tidy-14, else clang-tidy).
set -uo pipefail

pinned_major=14
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-${OVLCORE_BUILD_ROOT:-$repo/build}/tidy}"
jobs="$(nproc 2>/dev/null || echo 2)"

clang_tidy="${CLANG_TIDY:-}"
if [ -z "$clang_tidy" ]; then
    for candidate in "clang-tidy-$pinned_major" clang-tidy; do
        if command -v "$candidate" >/dev/null 2>&1; then clang_tidy="$candidate"; break; fi
    done
fi
if [ -z "$clang_tidy" ] || ! command -v "$clang_tidy" >/dev/null 2>&1; then
    echo "check-tidy: clang-tidy $pinned_major not found (Debian: apt-get install" \
         "clang-tidy-$pinned_major, or set CLANG_TIDY)" >&2
    exit 2
fi
major="$("$clang_tidy" --version | sed -nE 's/.*LLVM version ([0-9]+)\..*/\1/p')"
if [ "$major" != "$pinned_major" ]; then
    echo "check-tidy: $clang_tidy is LLVM ${major:-?}; the checks are pinned to clang-tidy" \
         "$pinned_major (other versions have other checks and findings)." >&2
    exit 2
fi

# clang++ when there is one: clang-tidy then sees the flags it was configured for.
cxx=()
command -v clang++ >/dev/null 2>&1 && cxx=(-DCMAKE_CXX_COMPILER=clang++)
if ! cmake -S "$repo" -B "$build" "${cxx[@]}" -DCMAKE_BUILD_TYPE=Debug \
        -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DOVLCORE_BUILD_TESTS=ON -DOVLCORE_BUILD_EXAMPLES=ON \
        -DOVLCORE_BUILD_BENCHMARKS=OFF >"$build.configure.log" 2>&1; then
    cat "$build.configure.log" >&2
    echo "check-tidy: configuring $build failed" >&2
    exit 2
fi
rm -f "$build.configure.log"

# The TUs: tests/compile's generated [fuse_|testing_]all_headers_1.cpp (a header's findings are
# the same in every TU that includes it, so the one-header-per-TU files would only repeat them, at
# 60 TUs instead of 3), and every TU under tools/ and examples/.
select_re="/tests/compile/generated/[a-z_]*all_headers_1\.cpp$|^$repo/(tools|examples)/"
mapfile -t tus < <(sed -nE 's/^ *"file": "(.*)",?$/\1/p' "$build/compile_commands.json" |
                   grep -E "$select_re" | sort -u)
if [ "${#tus[@]}" -eq 0 ]; then
    echo "check-tidy: no translation units selected from $build/compile_commands.json" >&2
    exit 2
fi

log="$build/clang-tidy.log"
start=$(date +%s)
echo "check-tidy: $clang_tidy over ${#tus[@]} translation units, $jobs in parallel"
runner="$(command -v "run-clang-tidy-$pinned_major" || command -v run-clang-tidy || true)"
if [ -n "$runner" ]; then
    # run-clang-tidy takes regexes: escape and anchor each file name.
    mapfile -t tu_res < <(printf '%s\n' "${tus[@]}" | sed -E 's/[][\.^$*+?(){}|]/\\&/g; s/.*/^&$/')
    "$runner" -quiet -clang-tidy-binary "$(command -v "$clang_tidy")" -p "$build" -j "$jobs" \
        "${tu_res[@]}" >"$log" 2>&1
    rc=$?
else
    printf '%s\0' "${tus[@]}" |
        xargs -0 -n 1 -P "$jobs" "$clang_tidy" --quiet -p "$build" >"$log" 2>&1
    rc=$?
fi

# A header finding shows up once per TU that includes the header: print each one once (colours
# stripped, "dir/../" folded so that one header has one spelling).
findings="$(sed -E 's/\x1b\[[0-9;]*m//g' "$log" |
            grep -E '^([^ ]+:[0-9]+:[0-9]+: )?(warning|error): .*\[[^]]+\]$' |
            sed -E ':a; s#/[^/]+/\.\./#/#; ta; s/,-warnings-as-errors\]$/]/' | sort -u)"
count=0
[ -n "$findings" ] && count="$(wc -l <<<"$findings")"
elapsed=$(($(date +%s) - start))
if [ "$count" -ne 0 ]; then
    sed "s|^$repo/||" <<<"$findings"
    echo "check-tidy: $count distinct findings in ${#tus[@]} TUs (${elapsed}s; full log: $log)"
    exit 1
fi
if [ "$rc" -ne 0 ]; then
    grep -E 'error:' "$log" | sort -u | head -n 40
    echo "check-tidy: clang-tidy failed (exit $rc) without a finding; see $log" >&2
    exit 1
fi
echo "check-tidy: ${#tus[@]} TUs clean (${elapsed}s)"
