# shellcheck shell=bash
# Shared by berth's benchmark scripts. Sourced, not run.
#
# Safety: every benchmark re-executes itself inside a throwaway "sandbox
# host" (new network, mount and PID namespaces with a private /run), so no
# link, address, route, firewall rule or netns ever reaches the machine's
# root namespaces, and everything it started dies with it.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)
RUNS=${RUNS:-30}
WARMUP=${WARMUP:-3}

# in_sandbox "$0" "$@": re-run the calling script inside a sandbox host.
in_sandbox() {
    if [ "${BERTH_BENCH_SANDBOX:-}" = 1 ]; then return 0; fi
    export BERTH_BENCH_SANDBOX=1
    exec unshare --net --mount --pid --fork --kill-child --propagation private --mount-proc \
        -- bash -c 'set -e; ip link set lo up; mount -t tmpfs -o mode=0755 berth-bench-run /run; mkdir -p /run/netns; exec bash "$@"' \
        bench "$@"
}

need() {
    local missing=()
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing: ${missing[*]}" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

build_berth() {
    # Inside the sandbox (the script re-ran itself there) the binary was
    # built already, before in_sandbox: don't run cargo a second time.
    if [ "${BERTH_BENCH_SANDBOX:-}" = 1 ] && [ -n "${BERTH:-}" ] && [ -x "$BERTH" ]; then return 0; fi
    # BERTH_BIN=path: benchmark that binary as it is (no cargo build).
    if [ -n "${BERTH_BIN:-}" ]; then
        BERTH=$(realpath "$BERTH_BIN")
        [ -x "$BERTH" ] || { echo "BERTH_BIN $BERTH_BIN is not executable" >&2; exit 1; }
        export BERTH
        # Its plugins binary: BERTH_CNI, else a berth-cni beside it, else
        # berth itself (it answers to the plugin names too).
        if [ -z "${BERTH_CNI:-}" ]; then
            BERTH_CNI=$BERTH && [ -x "$(dirname "$BERTH")/berth-cni" ] && BERTH_CNI=$(dirname "$BERTH")/berth-cni
        fi
        BERTH_CNI=$(realpath "$BERTH_CNI") && export BERTH_CNI
        build_berth_runc
        return 0
    fi
    (cd "$REPO" && cargo build --release -q -p berth --bins && scripts/build-monitor.sh -q)
    BERTH=${CARGO_TARGET_DIR:-$REPO/target}/release/berth
    [ -x "$BERTH" ] || { echo "no berth binary at $BERTH" >&2; exit 1; }
    export BERTH
    build_berth_cni
    build_berth_runc
}

# static_bin PKG: builds package PKG's binary of the same name (berth-cni,
# berth-runc: no C code), as scripts/install.sh does: static for musl when
# that Rust target is installed (no dynamic loading, no glibc CPUID probing
# at each start), else for the host target. Prints its path.
static_bin() {
    local tgt=${CARGO_TARGET_DIR:-$REPO/target} musl=x86_64-unknown-linux-musl
    if [ "$(uname -m)" = x86_64 ] && rustup target list --installed 2>/dev/null | grep -qx "$musl"; then
        (cd "$REPO" && cargo build --release -q -p "$1" --bin "$1" --target "$musl") >&2
        echo "$tgt/$musl/release/$1"
    else
        (cd "$REPO" && cargo build --release -q -p "$1" --bin "$1") >&2
        echo "$tgt/release/$1"
    fi
}

# The CNI plugins' own binary (crates/cni). Sets BERTH_CNI; BERTH_CNI=path
# given beforehand is used as it is.
build_berth_cni() {
    if [ -n "${BERTH_CNI:-}" ]; then
        BERTH_CNI=$(realpath "$BERTH_CNI") && export BERTH_CNI && return 0
    fi
    BERTH_CNI=$(static_bin berth-cni)
    [ -x "$BERTH_CNI" ] || { echo "no berth-cni binary at $BERTH_CNI" >&2; exit 1; }
    export BERTH_CNI
}

# The runtime CLI's own binary (crates/runtime-cli). Sets BERTH_RUNC;
# BERTH_RUNC=path given beforehand is used as it is; with BERTH_BIN and no
# BERTH_RUNC, a berth-runc beside BERTH_BIN, else berth itself.
build_berth_runc() {
    if [ -n "${BERTH_RUNC:-}" ]; then
        BERTH_RUNC=$(realpath "$BERTH_RUNC") && export BERTH_RUNC && return 0
    fi
    if [ -n "${BERTH_BIN:-}" ]; then
        BERTH_RUNC=$BERTH && [ -x "$(dirname "$BERTH")/berth-runc" ] && BERTH_RUNC=$(dirname "$BERTH")/berth-runc
        export BERTH_RUNC
        return 0
    fi
    BERTH_RUNC=$(static_bin berth-runc)
    [ -x "$BERTH_RUNC" ] || { echo "no berth-runc binary at $BERTH_RUNC" >&2; exit 1; }
    export BERTH_RUNC
}

# median_ms JSON_FILE INDEX -> median wall time in ms of hyperfine result INDEX
median_ms() { jq -r ".results[$2].median * 1000" "$1"; }

# compare TITLE NAME_A CMD_A NAME_B CMD_B [NAME_C CMD_C ...]: side by side in
# one run, then medians and ratios against the first command. hyperfine runs
# each command's runs back to back; with ROUNDS=k (default 1) the RUNS are
# split into k hyperfine passes over all commands, so slow drifts in the
# machine's load hit every command alike. Medians are over all runs.
# Set COMPARE_JSON=FILE to keep the merged times ({name: [seconds...]}), and
# the array PREPARE=(CMD_A CMD_B ...) to run CMD_X before each timed run of
# command X (hyperfine --prepare, untimed).
compare() {
    local title=$1; shift
    local names=() cmds=() dir
    while [ $# -gt 0 ]; do names+=("$1"); cmds+=("$2"); shift 2; done
    dir=$(mktemp -d)
    local args=() rounds=${ROUNDS:-1}
    [ "$rounds" -ge 1 ] && [ "$rounds" -le "$RUNS" ] || rounds=1
    local per=$(( (RUNS + rounds - 1) / rounds ))
    for i in "${!cmds[@]}"; do
        [ -z "${PREPARE[$i]:-}" ] || args+=(--prepare "${PREPARE[$i]}")
    done
    for i in "${!cmds[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
    local r warm=$WARMUP
    for ((r = 0; r < rounds; r++)); do
        if ! hyperfine -N --style none --warmup "$warm" --runs "$per" --export-json "$dir/$r.json" "${args[@]}" >/dev/null 2>&1; then
            hyperfine -N --warmup 1 --runs 2 "${args[@]}" || true
            rm -rf "$dir"
            echo "compare: '$title' failed (see above)" >&2
            return 1
        fi
        warm=$(( WARMUP > 0 ? 1 : 0 ))
    done
    # Merge: per command, every run of every round.
    jq -s '[.[].results] | transpose | map({name: .[0].command, times: (map(.times) | add | sort)})' \
        "$dir"/*.json >"$dir/merged.json"
    printf '\n== %s (median of %s runs, %s round(s), ms)\n' "$title" "$(jq '.[0].times | length' "$dir/merged.json")" "$rounds"
    local meds
    mapfile -t meds < <(jq -r '.[] | .times as $t | ($t | length) as $n
        | (if $n % 2 == 1 then $t[($n - 1) / 2] else ($t[$n / 2 - 1] + $t[$n / 2]) / 2 end) * 1000' "$dir/merged.json")
    for i in "${!names[@]}"; do
        printf '  %-34s %8.2f ms   %s/%s = %.2f\n' "${names[$i]}" "${meds[$i]}" "${names[0]}" "${names[$i]}" \
            "$(awk -v a="${meds[0]}" -v b="${meds[$i]}" 'BEGIN{print a/b}')"
    done
    if [ -n "${COMPARE_JSON:-}" ]; then
        jq 'map({(.name): .times}) | add' "$dir/merged.json" >"$COMPARE_JSON"
    fi
    rm -rf "$dir"
}
