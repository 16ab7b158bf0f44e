#!/usr/bin/env bash
# berth's test command: builds, snapshots the root namespaces, runs every
# test of the workspace (as root: the integration tests make sandbox hosts),
# runs the VM tests if vmtest/ci.sh exists, then fails if anything leaked.
#
#   ./scripts/test.sh [extra cargo test args, e.g. -- --nocapture]
#
# Environment: CARGO_TARGET_DIR (default ./target), BERTH_SKIP_VMTEST=1 to
# skip the VM tests.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 2
repo=$PWD

if [ "$(id -u)" != 0 ]; then
    echo "test.sh: run as root (the integration tests create namespaces): sudo $0" >&2
    exit 2
fi
# sudo resets PATH; rustup installs cargo under the invoking user's home.
if ! command -v cargo >/dev/null 2>&1; then
    for d in "${HOME:-/root}/.cargo/bin" /root/.cargo/bin; do
        [ -x "$d/cargo" ] && PATH="$d:$PATH" && break
    done
fi
command -v cargo >/dev/null 2>&1 || { echo "test.sh: cargo not found (install Rust)" >&2; exit 2; }

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
# Tests get a temp dir of their own, so the leak check sees exactly what they
# left there and not what the rest of the machine does in /tmp meanwhile.
# (Short on purpose: unix socket paths under it must stay below 108 bytes.)
test_tmp=$(mktemp -d /tmp/berth-test.XXXXXX) || exit 2
# Like /tmp: containers in user namespaces (mapped, non-root IDs) must reach
# their rootfs under it; mktemp's 0700 would refuse them.
chmod 1777 "$test_tmp"
export TMPDIR=$test_tmp
leakcheck="$CARGO_TARGET_DIR/debug/berth-leakcheck"
snapshot="$CARGO_TARGET_DIR/leak-snapshot.json"

declare -a names results times
failed=0

# step NAME CMD...: runs one step, records PASS/FAIL and its wall time.
step() {
    local name=$1
    shift
    echo
    echo "==> $name: $*"
    local start=$SECONDS rc=0
    "$@" || rc=$?
    names+=("$name")
    times+=("$((SECONDS - start))s")
    if [ "$rc" = 0 ]; then
        results+=("PASS")
    else
        results+=("FAIL (exit $rc)")
        failed=1
    fi
    return "$rc"
}

skip() {
    names+=("$1")
    results+=("SKIP: $2")
    times+=("-")
    echo
    echo "==> $1: skipped ($2)"
}

summary() {
    echo
    echo "==================== summary ===================="
    local i
    for i in "${!names[@]}"; do
        printf '  %-12s %-8s %s\n' "${names[$i]}" "${times[$i]}" "${results[$i]}"
    done
    if [ "$failed" = 0 ]; then
        echo "all steps passed"
    else
        echo "FAILED"
    fi
}

# The build must work before anything else means something.
if ! step build cargo build --workspace --all-targets; then
    rmdir "$test_tmp"
    summary
    exit 1
fi
# Snapshot first, with the leak checker built before the suite starts.
if ! step snapshot "$leakcheck" snapshot "$snapshot"; then
    rmdir "$test_tmp"
    summary
    exit 1
fi

step tests cargo test --workspace --no-fail-fast "$@"

if [ "${BERTH_SKIP_VMTEST:-0}" = 1 ]; then
    skip vmtest "BERTH_SKIP_VMTEST=1"
elif [ -x vmtest/ci.sh ]; then
    step vmtest vmtest/ci.sh
else
    skip vmtest "vmtest/ci.sh not present"
fi

# Last, so it also catches what the VM tests left.
step leak-check "$leakcheck" check "$snapshot"

# An empty temp dir goes; a non-empty one stays for inspection (the leak
# check listed what is in it).
rmdir "$test_tmp" 2>/dev/null || echo "test temp dir kept: $test_tmp"

summary
exit "$failed"
