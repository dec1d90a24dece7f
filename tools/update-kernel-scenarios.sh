#!/bin/sh
# SPDX-License-Identifier: MIT
# Refresh tests/data/kernel/ with a verbatim copy of an externally recorded kernel scenario corpus.
# Manual: manual() below (--help); the conventions and exit codes are those of every tool
# (docs/cli.md, tools/common/exit_codes.hpp).
set -eu
tool=update-kernel-scenarios.sh
usage="usage: $tool [--] SOURCE_DIR   (or OVLCORE_SCENARIOS=SOURCE_DIR $tool)
       $tool --help | --version"

manual() {
    cat <<EOF
NAME
    $tool - refresh tests/data/kernel/ from a kernel-recorded scenario corpus

SYNOPSIS
    $tool [--] SOURCE_DIR
    OVLCORE_SCENARIOS=SOURCE_DIR $tool
    $tool --help | --version

DESCRIPTION
    Replaces tests/data/kernel/scenarios/ and tests/data/kernel/expected/ of this repository
    with a verbatim copy of SOURCE_DIR/NAME.json and SOURCE_DIR/expected/NAME.jsonl (every
    scenario needs its dump). SOURCE_DIR/README.md, the description of the format, is copied
    as tests/data/kernel/README.md with its links to the semantics and dump-format documents
    pointed at this repository's docs/. Nothing is mounted: the dumps are recorded
    beforehand with kernel_oracle.py record.

OPTIONS
    SOURCE_DIR
        the corpus (default: \$OVLCORE_SCENARIOS)
    --
        end of the options: every later argument is an operand
    -h, --help
        print this manual and exit
    -V, --version
        print the version line and exit

EXIT STATUS
    0   success
    1   SOURCE_DIR has no expected/ directory, a scenario has no dump, a copy failed
    64  usage error: unknown option, no SOURCE_DIR, more than one

EXAMPLES
    tools/$tool /path/to/recorded-corpus
    OVLCORE_SCENARIOS=/path/to/recorded-corpus tools/$tool

SEE ALSO
    kernel_oracle.py(1), tests/data/kernel/README.md, docs/cli.md
EOF
}

usage_error() {
    printf "%s: %s\n%s\nTry '%s --help' for more information.\n" "$tool" "$1" "$usage" "$tool" >&2
    exit 64
}

version() {
    v=$(dirname "$0")/../include/ovlcore/version.hpp
    num() { sed -n "s/^#define OVLCORE_VERSION_$1 \([0-9]*\).*/\1/p" "$v"; }
    kernel() { sed -n "s/.*kernel_baseline_$1 = \([0-9]*\);.*/\1/p" "$v"; }
    echo "$tool (ovlcore $(num MAJOR).$(num MINOR).$(num PATCH)), overlayfs semantics of Linux" \
        "$(kernel major).$(kernel minor)"
}

src=''
ended=false
for arg in "$@"; do
    if ! $ended; then
        case $arg in
        --) ended=true; continue ;;
        -h | --help) manual; exit 0 ;;
        -V | --version) version; exit 0 ;;
        -?*) usage_error "unknown option '$arg'" ;;
        esac
    fi
    [ -z "$src" ] || usage_error "unexpected argument '$arg'"
    src=$arg
done
src=${src:-${OVLCORE_SCENARIOS:-}}
[ -n "$src" ] || usage_error "no SOURCE_DIR given (or set OVLCORE_SCENARIOS)"

here=$(cd "$(dirname "$0")/.." && pwd)
dst=$here/tests/data/kernel
[ -d "$src/expected" ] || { echo "$tool: no $src/expected" >&2; exit 1; }
rm -rf "$dst/scenarios" "$dst/expected"
mkdir -p "$dst/scenarios" "$dst/expected"
n=0
for f in "$src"/*.json; do
    [ -e "$f" ] || continue
    name=$(basename "$f" .json)
    [ -f "$src/expected/$name.jsonl" ] || { echo "$tool: missing expected/$name.jsonl" >&2; exit 1; }
    cp "$f" "$dst/scenarios/$name.json"
    cp "$src/expected/$name.jsonl" "$dst/expected/$name.jsonl"
    n=$((n + 1))
done
if [ -f "$src/README.md" ]; then
    sed -e 's#`\.\./spec/dump-format\.md`#`docs/dump-format.md`#g' \
        -e 's#`\.\./spec/overlayfs-semantics\.md`#`docs/overlayfs-semantics.md`#g' \
        "$src/README.md" >"$dst/README.md"
fi
echo "copied $n scenarios from $src to $dst"
