#!/usr/bin/env bash
# Shows every guard of issue 17 item 0 red against a deliberately broken build, and green on the
# unbroken one (see README.md in this folder). Not part of CI: it builds once per break.
#
#   tests/guards-red/run.sh            every NN-*.patch here
#   tests/guards-red/run.sh 03 07      only the patches whose names start with 03 or 07
#
# Each patch names its break and its guard in its header:
#   Break: <what the patch breaks>
#   Guard: <package> <test target> <test name> [<test name>…]
# A patch is red when every named test FAILS (after the patched tree compiled); a patch that does
# not apply, does not compile or whose tests did not run is a broken script, not a red guard.
# Then the same tests run on the unbroken tree and must pass. Exits non-zero unless every break
# is red and every guard green on the unbroken tree.
#
# Environment: DONGBO_TEST_PG_URL (required: a skipped PostgreSQL test would pass), CARGO_TARGET_DIR
# (default: target/guards-red of the repository, seeded once from target/debug when that exists),
# TMPDIR (where the temporary worktree goes).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(git -C "$here" rev-parse --show-toplevel)
: "${DONGBO_TEST_PG_URL:?set DONGBO_TEST_PG_URL: the guards run on PostgreSQL too, and a skipped test would pass}"
export DONGBO_TEST_PG_URL
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target/guards-red}
export CARGO_TERM_COLOR=never

# One shared target directory, so crates a patch does not touch are built once. Seeded from the
# repository's own build when there is one (a copy: the builds must not share files).
seeded=
if [[ ! -d $CARGO_TARGET_DIR && -d $repo/target/debug ]]; then
    seeded=1
    echo "seeding $CARGO_TARGET_DIR from $repo/target/debug" >&2
    mkdir -p "$CARGO_TARGET_DIR"
    cp -a "$repo/target/debug" "$CARGO_TARGET_DIR/debug"
fi
logs=$CARGO_TARGET_DIR/guards-red-logs
mkdir -p "$logs"

# One temporary detached worktree of HEAD, reset to HEAD before each patch. Git rewrites only
# the files a patch touched, so cargo rebuilds only the crates that changed (a fresh checkout per
# patch would give every file a new time and rebuild the whole workspace each time).
head=$(git -C "$repo" rev-parse HEAD)
tree=$(mktemp -d "${TMPDIR:-/tmp}/dongbo-guards-red.XXXXXX")
cleanup() { git -C "$repo" worktree remove --force "$tree" 2>/dev/null || rm -rf "$tree"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
git -C "$repo" worktree add --detach -q "$tree" "$head"

# Cargo decides what to rebuild by file times, and a checkout gives every file a new one. A file
# whose content the target directory's last build saw keeps the time it has in the repository:
# every tracked file when the directory was just seeded from the repository's build (unless it is
# modified there), and otherwise those unchanged since the commit the last full run was of. Files
# a patch touches always keep their new time (their crates may have been built patched).
stamp=$CARGO_TARGET_DIR/guards-red-head
{
    git -C "$repo" diff --name-only HEAD
    sed -n 's|^diff --git a/\(.*\) b/.*|\1|p' "$here"/[0-9]*.patch
    if [[ -f $stamp ]]; then
        git -C "$repo" diff --name-only "$(cat "$stamp")" "$head" 2>/dev/null || git -C "$repo" ls-files
    elif [[ -z $seeded ]]; then
        git -C "$repo" ls-files
    fi
} | sort -u >"$tree.changed"
git -C "$repo" ls-files | sort | comm -23 - "$tree.changed" | while IFS= read -r f; do
    if [[ -f $repo/$f ]]; then touch -r "$repo/$f" "$tree/$f"; fi
done
rm -f "$tree.changed"
git -C "$tree" update-index -q --refresh || true

reset_tree() {
    git -C "$tree" reset -q --hard HEAD
    git -C "$tree" clean -fdq
}

# Builds the guard's test target (and, for the end-to-end tests, the dongbo binary they run).
# Always with --workspace: one feature set for every build, so dependencies are built once.
build() { # pkg target log
    (cd "$tree" && cargo test --workspace --test "$2" --no-run) >>"$3" 2>&1 || return 1
    if [[ $1 == dongbo-tests ]]; then
        (cd "$tree" && cargo build -p dongbo-api --bin dongbo) >>"$3" 2>&1 || return 1
    fi
}

# Runs the named tests; prints one outcome per test: ok, FAILED or missing.
run_tests() { # log pkg target case...
    local log=$1 pkg=$2 target=$3
    shift 3
    (cd "$tree" && timeout "${GUARDS_RED_TIMEOUT:-1800}" cargo test --workspace --test "$target" -- --exact "$@") \
        >>"$log" 2>&1 || true
    local case outcome
    for case in "$@"; do
        outcome=$(sed -n "s/^test $case \.\.\. \(ok\|FAILED\)\$/\1/p" "$log" | tail -1)
        echo "${outcome:-missing}"
    done
}

# The assertion message with which `case` failed in a log, shortened for the table.
why() { # log case
    grep -A1 -m1 "^thread '$2'.* panicked at" "$1" | tail -1 | cut -c1-100 | tr '|' '/' || true
}

rows=()
failures=0
row() { rows+=("| $1 | \`$2\` | $3 | ${4:-} |"); }

patches=()
for p in "$here"/[0-9]*.patch; do
    name=$(basename "$p" .patch)
    if (($# == 0)); then
        patches+=("$p")
    else
        for want in "$@"; do [[ $name == "$want"* ]] && patches+=("$p"); done
    fi
done
((${#patches[@]} > 0)) || { echo "no patch matches: $*" >&2; exit 2; }

declare -A guards=()
for p in "${patches[@]}"; do
    name=$(basename "$p" .patch)
    guard=$(sed -n 's/^Guard: //p' "$p" | head -1)
    read -r -a g <<<"$guard"
    if ((${#g[@]} < 3)); then
        row "$name" "(no Guard: line)" "BROKEN SCRIPT"
        failures=$((failures + 1))
        continue
    fi
    pkg=${g[0]} target=${g[1]} cases=("${g[@]:2}")
    guards[$guard]=1
    log=$logs/$name.log
    : >"$log"
    echo "[$name] $(sed -n 's/^Break: //p' "$p" | head -1)" >&2
    reset_tree
    if ! git -C "$tree" apply "$p" 2>>"$log"; then
        row "$name" "$target" "BROKEN SCRIPT (the patch does not apply)"
        failures=$((failures + 1))
        continue
    fi
    if ! build "$pkg" "$target" "$log"; then
        row "$name" "$target" "BROKEN SCRIPT (the patched tree does not compile; $log)"
        failures=$((failures + 1))
        continue
    fi
    mapfile -t outcomes < <(run_tests "$log" "$pkg" "$target" "${cases[@]}")
    for i in "${!cases[@]}"; do
        case ${outcomes[$i]} in
            FAILED) verdict=red ;;
            ok) verdict="GREEN: the guard missed the break"; failures=$((failures + 1)) ;;
            *) verdict="BROKEN SCRIPT (the test did not run; $log)"; failures=$((failures + 1)) ;;
        esac
        row "$name" "$target ${cases[$i]}" "$verdict" "$(why "$log" "${cases[$i]}")"
        echo "    ${cases[$i]}: $verdict" >&2
    done
done

# The same guards on the unbroken tree.
reset_tree
for guard in "${!guards[@]}"; do
    read -r -a g <<<"$guard"
    pkg=${g[0]} target=${g[1]} cases=("${g[@]:2}")
    log=$logs/unbroken-$target.log
    : >"$log"
    echo "[unbroken] $target ${cases[*]}" >&2
    if ! build "$pkg" "$target" "$log"; then
        row "unbroken" "$target" "BROKEN SCRIPT (HEAD does not compile; $log)"
        failures=$((failures + 1))
        continue
    fi
    mapfile -t outcomes < <(run_tests "$log" "$pkg" "$target" "${cases[@]}")
    for i in "${!cases[@]}"; do
        case ${outcomes[$i]} in
            ok) verdict=green ;;
            FAILED) verdict="RED on the unbroken tree ($log)"; failures=$((failures + 1)) ;;
            *) verdict="BROKEN SCRIPT (the test did not run; $log)"; failures=$((failures + 1)) ;;
        esac
        row "unbroken" "$target ${cases[$i]}" "$verdict"
    done
done

echo
echo "| break | guard test | result | failed with |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
# What the target directory was last built from (outside the patched files), for the next run.
echo "$head" >"$stamp"
echo
if ((failures > 0)); then
    echo "$failures row(s) not as they must be (logs in $logs)"
    exit 1
fi
echo "every break red, every guard green on the unbroken tree (logs in $logs)"
