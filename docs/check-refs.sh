#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# docs/check-refs.sh: checks that the repository explains itself (docs/README.md).
#   1. Every "§N", "§N.M", "§N.M.K", "§N.M step K", "§N cases K, L", "§10 Qn" in the sources,
#      tests, tools, examples, benchmarks, scripts, README.md and docs/ resolves to a heading or
#      a numbered item of docs/overlayfs-semantics.md; "NAME.md §N" resolves in docs/NAME.md
#      (e.g. "docs/contributing.md §20").
#   2. Nothing points outside the repository: no "shared/", "style rule", "style.md",
#      "perf-anchors" in those files.
#   3. Relative links in markdown files name files that exist.
# Usage: docs/check-refs.sh [REPO_ROOT]   (default: the parent of this script's directory)
# Exit status: 0 all resolved, 1 unresolved references or outside pointers (listed on stdout).
set -euo pipefail

root=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
cd "$root"
spec=docs/overlayfs-semantics.md
self=docs/check-refs.sh
[[ -f $spec ]] || { echo "check-refs: $spec not found under $root" >&2; exit 1; }

scan_roots=(include tests tools examples benchmarks scripts cmake docs README.md CMakeLists.txt
            .clang-format .clang-tidy)

# The files to scan: tracked or untracked-but-not-ignored text files under the roots.
list_files() {
    local existing=()
    for p in "${scan_roots[@]}"; do [[ -e $p ]] && existing+=("$p"); done
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git ls-files -co --exclude-standard -- "${existing[@]}"
    else
        find "${existing[@]}" -type f
    fi | grep -vx "$self" | while IFS= read -r f; do
        [[ -f $f ]] && grep -Iq . "$f" 2>/dev/null && printf '%s\n' "$f"
    done
}

# Ids that a document defines, one per line:
#   "## N. title" -> N          "### N.M title" -> N.M      ("### 12.M" also -> "12 case M")
#   "K. text" (numbered item at column 0, under heading H) -> "H step K" and "H.K"
#   "**Qn" under heading H -> "H Qn" (and "N Qn" for its top-level section N)
#   contributing-style "### §N" or "### N." headings -> N
ids_of() {
    awk '
    function emit(s) { print s }
    /^```/ { fence = !fence; next }
    fence { next }
    /^#+ / {
        h = $0; sub(/^#+ +/, "", h); sub(/^§/, "", h)
        if (match(h, /^[0-9A-Z]+(\.[0-9]+)*([. ]|$)/)) {
            cur = substr(h, 1, RLENGTH); sub(/[. ]$/, "", cur); emit(cur)
            top = cur; sub(/\..*/, "", top)
            if (cur ~ /^12\.[0-9]+$/) { n = cur; sub(/^12\./, "", n); emit("12 case " n) }
        }
        next
    }
    /^[0-9]+\. / && cur != "" {
        k = $0; sub(/\..*/, "", k); emit(cur " step " k); emit(cur "." k)
    }
    {
        line = $0
        while (match(line, /\*\*Q[0-9]+/)) {
            q = substr(line, RSTART + 2, RLENGTH - 2)
            emit(cur " " q); emit(top " " q)
            line = substr(line, RSTART + RLENGTH)
        }
    }' "$1" | sort -u
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ids_of "$spec" >"$tmp/ids.overlayfs-semantics"
for d in docs/*.md; do
    n=$(basename "$d" .md)
    [[ -f $tmp/ids.$n ]] || ids_of "$d" >"$tmp/ids.$n"
done

list_files >"$tmp/files"
status=0

# "docs/contributing.md §20, §21 and §23 (a)": the later items cite the same document. Rewrites
# them as "contributing.md §21" etc.; one output line per input line, so line numbers hold. Works
# on bytes, so that a file with invalid UTF-8 (test data) is still read to its end.
expand_lists() {
    perl -pe '1 while s{\b([\w-]+\.md) (§[0-9]+(?:\.[0-9]+)*(?: \([a-z]\))?)(, and |, | and | or |/)§}{$1 $2$3$1 §}'
}

# 1. References. Each match is split into the ids it needs.
ref_re='([A-Za-z0-9_-]+\.md )?§ ?[0-9]+(\.[0-9]+)*( (steps?|cases?|items?) [0-9]+(( ?[-–,/] ?| and | or )[0-9]+)*| Q[0-9]+(/Q[0-9]+)*)?'
while IFS= read -r f; do
    { expand_lists <"$f" | grep -noE "$ref_re" || true; } | while IFS= read -r hit; do
        lineno=${hit%%:*}
        ref=${hit#*:}
        doc=overlayfs-semantics
        if [[ $ref =~ ^([A-Za-z0-9_-]+)\.md\ (.*)$ ]]; then
            doc=${BASH_REMATCH[1]}
            ref=${BASH_REMATCH[2]}
        fi
        body=${ref#§}
        body=${body# }
        sec=${body%% *}
        rest=
        [[ $body == *" "* ]] && rest=${body#* }
        needed=()
        if [[ -z $rest ]]; then
            needed=("$sec")
        elif [[ $rest =~ ^Q ]]; then
            IFS=/ read -ra qs <<<"$rest"
            for q in "${qs[@]}"; do needed+=("$sec $q"); done
        else
            kind=${rest%% *}
            nums=$(grep -oE '[0-9]+' <<<"${rest#* }")
            case $kind in
            case | cases) for k in $nums; do needed+=("$sec case $k"); done ;;
            *) for k in $nums; do needed+=("$sec step $k"); done ;;
            esac
        fi
        if [[ ! -f $tmp/ids.$doc ]]; then
            echo "$f:$lineno: '$ref' cites docs/$doc.md, which does not exist"
            echo x >>"$tmp/fail"
            continue
        fi
        for id in "${needed[@]}"; do
            if ! grep -qxF "$id" "$tmp/ids.$doc"; then
                echo "$f:$lineno: '$ref' does not resolve in docs/$doc.md (no '$id')"
                echo x >>"$tmp/fail"
            fi
        done
    done
done <"$tmp/files"

# 2. Pointers outside the repository.
while IFS= read -r f; do
    { grep -niE 'shared/|style rules?|style\.md|perf-anchors' "$f" 2>/dev/null || true; } |
        while IFS= read -r hit; do
            echo "$f:${hit%%:*}: points outside the repository: ${hit#*:}" | cut -c1-200
            echo x >>"$tmp/fail"
        done
done <"$tmp/files"

# 3. Relative links in the markdown files must name files or directories of the repository.
while IFS= read -r f; do
    [[ $f == *.md ]] || continue
    { grep -noE '\]\([^)#[:space:]]+(#[^)]*)?\)' "$f" 2>/dev/null || true; } |
        while IFS= read -r hit; do
            target=${hit#*](}
            target=${target%)}
            target=${target%%#*}
            case $target in http://* | https://* | mailto:* | "") continue ;; esac
            if [[ ! -e $(dirname "$f")/$target ]]; then
                echo "$f:${hit%%:*}: broken link: $target"
                echo x >>"$tmp/fail"
            fi
        done
done <"$tmp/files"

if [[ -s $tmp/fail ]]; then
    echo "check-refs: $(wc -l <"$tmp/fail") problem(s)"
    status=1
else
    echo "check-refs: all § references resolve; nothing points outside the repository"
fi
exit $status
