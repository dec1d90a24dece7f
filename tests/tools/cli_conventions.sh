#!/bin/sh
# SPDX-License-Identifier: MIT
# The command-line conventions of docs/cli.md, checked for every tool (run by ctest as
# "tools: cli conventions"): --help/-h print the man-page sections and exit 0; --version/-V exit 0
# with the version line; an unknown option exits 64; `-o a -o b` is `-o a,b`; `--` ends the
# options; a stack the kernel would refuse exits 2; ovl-lint exits 3 for warnings and 4 for
# errors. Nothing is mounted (ovl-fuse is only run on stacks it refuses before mounting).
#
#   cli_conventions.sh WORK_DIR SOURCE_DIR TOOL...   (TOOL: paths of ovl-tree, ovl-lint,
#                                                     ovl-mkstack and, when built, ovl-fuse)
set -u
if [ $# -lt 3 ]; then
    echo "usage: $0 WORK_DIR SOURCE_DIR TOOL..." >&2
    exit 64
fi
WORK=$1 SRC=$2
shift 2
TREE='' LINT='' MKSTACK='' FUSE=''
for t in "$@"; do
    case $t in /*) ;; *) t=$PWD/$t ;; esac
    case $(basename "$t") in
    ovl-tree) TREE=$t ;;
    ovl-lint) LINT=$t ;;
    ovl-mkstack) MKSTACK=$t ;;
    ovl-fuse) FUSE=$t ;;
    *) echo "unknown tool $t" >&2; exit 64 ;;
    esac
done
[ -n "$TREE" ] && [ -n "$LINT" ] && [ -n "$MKSTACK" ] || { echo "need ovl-tree, ovl-lint, ovl-mkstack" >&2; exit 64; }
ORACLE="$SRC/tools/kernel_oracle.py"
UPDATE="$SRC/tools/update-kernel-scenarios.sh"

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

# run NAME CMD...: runs CMD with stdout in $WORK/NAME.out, stderr in $WORK/NAME.err; sets $rc.
run() {
    name=$1
    shift
    "$@" > "$WORK/$name.out" 2> "$WORK/$name.err"
    rc=$?
}
# expect STATUS NAME CMD...: runs CMD and checks its exit status.
expect() {
    want=$1
    shift
    run "$@"
    if [ "$rc" -eq "$want" ]; then
        ok "$1: exit $rc"
    else
        fail "$1: exit $rc, expected $want; stderr: $(head -c 600 "$WORK/$1.err")"
    fi
}

rm -rf "$WORK" && mkdir -p "$WORK" && WORK=$(cd "$WORK" && pwd -P) || { echo "cannot make $WORK" >&2; exit 1; }

# --- every tool: --help, --version, unknown option ----------------------------------------------
# (label, command prefix): the C++ tools and the two helpers of tools/.
check_common() {
    label=$1
    shift
    expect 0 "$label-help" "$@" --help
    for section in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" EXAMPLES "SEE ALSO"; do
        grep -qx "$section" "$WORK/$label-help.out" || fail "$label --help has no $section section"
    done
    grep -q "^    64 " "$WORK/$label-help.out" || fail "$label --help: EXIT STATUS does not list 64"
    expect 0 "$label-h" "$@" -h
    cmp -s "$WORK/$label-help.out" "$WORK/$label-h.out" || fail "$label: -h differs from --help"
    expect 0 "$label-version" "$@" --version
    grep -q "ovlcore [0-9]*\.[0-9]*\.[0-9]*" "$WORK/$label-version.out" ||
        fail "$label --version: no ovlcore version: $(cat "$WORK/$label-version.out")"
    expect 0 "$label-V" "$@" -V
    cmp -s "$WORK/$label-version.out" "$WORK/$label-V.out" || fail "$label: -V differs from --version"
    expect 64 "$label-unknown" "$@" --no-such-option
    grep -q -- "--no-such-option" "$WORK/$label-unknown.err" ||
        fail "$label: the usage error does not name the option: $(cat "$WORK/$label-unknown.err")"
}
# Every option a manual lists appears on the tool's page in docs/tools/ (written as `NAMES`).
check_page() { # check_page LABEL PAGE: uses $WORK/LABEL-help.out
    [ -f "$SRC/docs/tools/$2" ] || { fail "no docs/tools/$2"; return; }
    sed -n '/^OPTIONS$/,/^[A-Z]/p' "$WORK/$1-help.out" | grep '^    [^ ]' | sed 's/^ *//' |
        while IFS= read -r names; do
            grep -qF "\`$names\`" "$SRC/docs/tools/$2" || echo "$names"
        done > "$WORK/$1-undocumented.txt"
    [ -s "$WORK/$1-undocumented.txt" ] &&
        fail "docs/tools/$2 lacks options of $1 --help: $(tr '\n' ' ' < "$WORK/$1-undocumented.txt")"
}
check_common ovl-tree "$TREE"
check_common ovl-lint "$LINT"
check_common ovl-mkstack "$MKSTACK"
[ -n "$FUSE" ] && check_common ovl-fuse "$FUSE"
check_common kernel_oracle python3 "$ORACLE"
check_common update-kernel-scenarios sh "$UPDATE"
check_page ovl-tree ovl-tree.md
check_page ovl-lint ovl-lint.md
check_page ovl-mkstack ovl-mkstack.md
[ -n "$FUSE" ] && check_page ovl-fuse ovl-fuse.md
check_page kernel_oracle kernel_oracle.md

# Tools that build a stack list 2 in EXIT STATUS; ovl-lint lists 3 and 4.
for label in ovl-tree ovl-lint ${FUSE:+ovl-fuse}; do
    grep -q "^    2 " "$WORK/$label-help.out" || fail "$label --help: EXIT STATUS does not list 2"
done
grep -q "^    3 " "$WORK/ovl-lint-help.out" && grep -q "^    4 " "$WORK/ovl-lint-help.out" ||
    fail "ovl-lint --help: EXIT STATUS does not list 3 and 4"

# Bad values and missing arguments are usage errors too.
expect 64 tree-bad-format "$TREE" -o lowerdir=a:b --format=xml
expect 64 tree-no-o "$TREE"
expect 64 tree-o-no-value "$TREE" -o
expect 64 lint-bad-defaults "$LINT" -o lowerdir=a:b --module-defaults=never
expect 64 lint-no-o "$LINT"
expect 64 mkstack-no-args "$MKSTACK"
expect 64 mkstack-extra-arg "$MKSTACK" a b c
expect 64 oracle-record-nothing python3 "$ORACLE" record
expect 64 oracle-check-one python3 "$ORACLE" check a.json
expect 64 oracle-unknown-command python3 "$ORACLE" no-such-command
expect 64 update-two-dirs sh "$UPDATE" a b

# --- the demo stack: -o a -o b is -o a,b; `--` ends the options --------------------------------
SCENARIO="$SRC/examples/demo/stack.json"
expect 0 mkstack-demo "$MKSTACK" "$SCENARIO" "$WORK/demo"
OPTS=$(cat "$WORK/mkstack-demo.out")
case $OPTS in *,*) ;; *) fail "demo options have no comma: '$OPTS'" ;; esac
# The same items, one -o each (the demo's layer paths hold no commas or backslashes).
set --
old_ifs=$IFS
IFS=,
for item in $OPTS; do set -- "$@" -o "$item"; done
IFS=$old_ifs
for fmt in jsonl tree; do
    expect 0 "tree-joined-$fmt" "$TREE" -o "$OPTS" --format=$fmt
    expect 0 "tree-split-$fmt" "$TREE" "$@" --format=$fmt
    [ -s "$WORK/tree-joined-$fmt.out" ] && cmp -s "$WORK/tree-joined-$fmt.out" "$WORK/tree-split-$fmt.out" ||
        fail "ovl-tree: -o a -o b differs from -o a,b ($fmt)"
done
run lint-joined "$LINT" -o "$OPTS" --format=jsonl
joined_rc=$rc
run lint-split "$LINT" "$@" --format=jsonl
[ "$joined_rc" -eq "$rc" ] && cmp -s "$WORK/lint-joined.out" "$WORK/lint-split.out" ||
    fail "ovl-lint: -o a -o b differs from -o a,b (exit $joined_rc vs $rc)"
expect 0 mkstack-joined "$MKSTACK" -o index=off,xino=off "$SCENARIO" "$WORK/demo-joined"
expect 0 mkstack-split "$MKSTACK" -o index=off -o xino=off "$SCENARIO" "$WORK/demo-split"
# The scenario's options with the new root, then the extra ones.
want=$(echo "$OPTS" | sed "s#$WORK/demo/#$WORK/demo-joined/#g"),index=off,xino=off
[ "$(cat "$WORK/mkstack-joined.out")" = "$want" ] ||
    fail "ovl-mkstack -o index=off,xino=off: '$(cat "$WORK/mkstack-joined.out")', expected '$want'"
[ "$(sed "s#$WORK/demo-split/#$WORK/demo-joined/#g" "$WORK/mkstack-split.out")" = "$want" ] ||
    fail "ovl-mkstack: -o a -o b differs from -o a,b: $(cat "$WORK/mkstack-split.out")"

# `--` ends the options: after it, -o is an operand (which ovl-tree and ovl-lint do not take).
expect 0 tree-dashes-end "$TREE" -o "$OPTS" --format=jsonl --
cmp -s "$WORK/tree-dashes-end.out" "$WORK/tree-joined-jsonl.out" || fail "ovl-tree: a final -- changes the output"
expect 64 tree-dashes-operand "$TREE" -- -o "$OPTS"
grep -q "unexpected argument '-o'" "$WORK/tree-dashes-operand.err" ||
    fail "ovl-tree -- -o: $(cat "$WORK/tree-dashes-operand.err")"
expect 64 lint-dashes-operand "$LINT" -- -o "$OPTS"
# ovl-mkstack: a DIR named like an option.
(cd "$WORK" && "$MKSTACK" -- "$SCENARIO" -dashdir > "$WORK/mkstack-dashes.out" 2> "$WORK/mkstack-dashes.err")
rc=$?
[ "$rc" -eq 0 ] && [ -d "$WORK/-dashdir/upper" ] || fail "ovl-mkstack -- SCENARIO -dashdir: exit $rc: $(cat "$WORK/mkstack-dashes.err")"
expect 64 mkstack-no-dashes "$MKSTACK" "$SCENARIO" -dashdir2

# --- a stack the kernel would refuse: 2, the same errno and message everywhere ------------------
REFUSED="lowerdir=$WORK/missing:$WORK/also-missing"
expect 2 tree-refused "$TREE" -o "$REFUSED"
grep -q "^ovl-tree: the kernel would refuse this mount: ENOENT: " "$WORK/tree-refused.err" ||
    fail "ovl-tree refusal text: $(cat "$WORK/tree-refused.err")"
expect 2 tree-refused-jsonl "$TREE" -o "$REFUSED" --format=jsonl
grep -q '^{"mount_error": "ENOENT"' "$WORK/tree-refused-jsonl.out" ||
    fail "ovl-tree --format=jsonl refusal: $(cat "$WORK/tree-refused-jsonl.out")"
expect 2 lint-refused "$LINT" -o "$REFUSED"
grep -q "mount-refused" "$WORK/lint-refused.out" || fail "ovl-lint refusal: $(cat "$WORK/lint-refused.out")"
# A refusal after the info lines the kernel logs first (§1.4 notes, then the §1.5 error): the
# notes come first, in the kernel's order, in the text of every tool.
mkdir -p "$WORK/noted-A" "$WORK/noted-W"
NOTED="lowerdir=$WORK/noted-A,workdir=$WORK/noted-W,uuid=on"
expect 2 tree-noted "$TREE" -o "$NOTED"
[ "$(sed -n 1p "$WORK/tree-noted.err")" = "ovl-tree: overlayfs: option \"workdir=$WORK/noted-W\" is useless in a non-upper mount, ignore" ] &&
    [ "$(sed -n 2p "$WORK/tree-noted.err")" = "ovl-tree: overlayfs: option \"uuid=on\" requires an upper fs, falling back to uuid=null." ] &&
    [ "$(sed -n 3p "$WORK/tree-noted.err")" = "ovl-tree: the kernel would refuse this mount: EINVAL: overlayfs: at least 2 lowerdir are needed while upperdir nonexistent" ] ||
    fail "ovl-tree refusal notes: $(cat "$WORK/tree-noted.err")"
expect 2 lint-noted "$LINT" -o "$NOTED"
grep '^error / mount-refused: ' "$WORK/lint-noted.out" | grep -q 'uuid=null' ||
    fail "ovl-lint refusal without its notes on the finding's line: $(cat "$WORK/lint-noted.out")"
if [ -n "$FUSE" ]; then
    mkdir -p "$WORK/mnt"
    expect 2 fuse-refused "$FUSE" -f -o "$REFUSED" "$WORK/mnt"
    [ "$(sed 's/^ovl-fuse: //' "$WORK/fuse-refused.err")" = "$(sed 's/^ovl-tree: //' "$WORK/tree-refused.err")" ] ||
        fail "ovl-fuse refusal differs from ovl-tree's: $(cat "$WORK/fuse-refused.err")"
    # -o joined the same way; `--` makes a mount point named like an option an operand.
    expect 2 fuse-refused-split "$FUSE" -f -o "lowerdir=$WORK/missing:$WORK/also-missing" -o ro "$WORK/mnt"
    expect 2 fuse-refused-joined "$FUSE" -f -o "lowerdir=$WORK/missing:$WORK/also-missing,ro" "$WORK/mnt"
    cmp -s "$WORK/fuse-refused-split.err" "$WORK/fuse-refused-joined.err" ||
        fail "ovl-fuse: -o a -o b differs from -o a,b"
    # (the mount point is checked first, as mount(2) does: it must exist)
    mkdir -p "$WORK/-mnt"
    (cd "$WORK" && "$FUSE" -f -o "$REFUSED" -- -mnt > "$WORK/fuse-dashes.out" 2> "$WORK/fuse-dashes.err")
    rc=$?
    [ "$rc" -eq 2 ] || fail "ovl-fuse -o REFUSED -- -mnt: exit $rc, expected 2: $(cat "$WORK/fuse-dashes.err")"
    expect 64 fuse-no-dashes "$FUSE" -f -o "$REFUSED" -mnt
    expect 64 fuse-bad-readdirplus "$FUSE" -f -o "$REFUSED,readdirplus=bogus" "$WORK/mnt"
fi

# --- ovl-lint: 0 clean, 3 warnings, 4 errors (tests/data/lint, expected findings beside) --------
lint_case() { # lint_case STATUS NAME: materialise tests/data/lint/NAME.json and lint it
    if ! "$MKSTACK" "$SRC/tests/data/lint/$2.json" "$WORK/lint-$2" > "$WORK/lint-$2.opts" 2> "$WORK/lint-$2.mkerr"; then
        if [ "$(id -u)" -ne 0 ]; then
            echo "note: $2 needs root to materialise (trusted.* xattrs), not checked"
            return
        fi
        fail "ovl-mkstack $2: $(cat "$WORK/lint-$2.mkerr")"
        return
    fi
    expect "$1" "lint-$2" "$LINT" --module-defaults=stock -o "$(cat "$WORK/lint-$2.opts")"
}
lint_case 0 lint_clean_plain
lint_case 3 lint_order_dependent
lint_case 4 lint_dangling_data_redirect

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s); outputs in $WORK" >&2
    exit 1
fi
echo "all command-line conventions hold"
exit 0
