#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Checks that every C/C++ file under include/ tools/ examples/ tests/ benchmarks/ is formatted as
# .clang-format says, with the pinned clang-format major version (other versions format some
# constructs differently, so they are refused rather than trusted).
# Usage: scripts/check-format.sh [--fix]
#   (no option)  print each file that is not formatted; exit 1 if there is one, 0 otherwise
#   --fix        reformat those files in place
# CLANG_FORMAT=/path/to/clang-format overrides the binary (default: clang-format-14, else
# clang-format). Exit status 2: wrong clang-format version, not found, or usage error.
set -uo pipefail

pinned_major=14
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

fix=0
case "${1:-}" in
"") ;;
--fix) fix=1 ;;
*) echo "usage: scripts/check-format.sh [--fix]" >&2; exit 2 ;;
esac

clang_format="${CLANG_FORMAT:-}"
if [ -z "$clang_format" ]; then
    for candidate in "clang-format-$pinned_major" clang-format; do
        if command -v "$candidate" >/dev/null 2>&1; then clang_format="$candidate"; break; fi
    done
fi
if [ -z "$clang_format" ] || ! command -v "$clang_format" >/dev/null 2>&1; then
    echo "check-format: clang-format $pinned_major not found (Debian: apt-get install" \
         "clang-format-$pinned_major, or set CLANG_FORMAT)" >&2
    exit 2
fi
version="$("$clang_format" --version)"
major="$(sed -nE 's/.*clang-format version ([0-9]+)\..*/\1/p' <<<"$version")"
if [ "$major" != "$pinned_major" ]; then
    echo "check-format: $clang_format is \"$version\"; the style is pinned to clang-format" \
         "$pinned_major (other versions format differently). Install clang-format-$pinned_major" \
         "or point CLANG_FORMAT at it." >&2
    exit 2
fi

cd "$repo" || exit 2
mapfile -d '' files < <(find include tools examples tests benchmarks -type f \
    \( -name '*.c' -o -name '*.h' -o -name '*.cc' -o -name '*.cpp' -o -name '*.cxx' \
       -o -name '*.hh' -o -name '*.hpp' -o -name '*.hxx' \) -print0 | sort -z)
if [ "${#files[@]}" -eq 0 ]; then
    echo "check-format: no C/C++ files found under $repo" >&2
    exit 2
fi

bad=()
for f in "${files[@]}"; do
    if ! "$clang_format" --style=file --dry-run --Werror "$f" >/dev/null 2>&1; then bad+=("$f"); fi
done

if [ "${#bad[@]}" -eq 0 ]; then
    echo "check-format: ${#files[@]} files checked, all formatted ($version)"
    exit 0
fi
if [ "$fix" -eq 1 ]; then
    "$clang_format" --style=file -i "${bad[@]}" || exit 2
    printf 'check-format: reformatted %s\n' "${bad[@]}"
    echo "check-format: reformatted ${#bad[@]} of ${#files[@]} files"
    exit 0
fi
printf 'check-format: not formatted: %s\n' "${bad[@]}"
echo "check-format: to see the changes: $clang_format --style=file FILE | diff FILE -"
echo "check-format: ${#bad[@]} of ${#files[@]} files need formatting (fix: scripts/check-format.sh --fix)"
exit 1
