#!/usr/bin/env bash
# berthd's attach of the 1000th container publishing a port vs the 10th
# (the bridge driver in process, as the engine calls it at container
# start): per-network isolation and ports live in nftables sets/maps, so
# an attach should cost the same with 10 or 1000 containers. Target: the
# 1000th's median <= 1.2 x the 10th's.
#
# usage: bench/engine-net-scale.sh      (as root; RUNS=30 COUNT=1000)
#   NET_SCALE_BIN=path   use that build of the net_scale example instead
#                        of building it (cargo build --release)
# Each timed attach is of a fresh netns with one published port (untimed:
# netns creation, the detach after it); crates/engine/examples/net_scale.rs.
# Each is paired with a control attach right after it, to a second small
# host (a netns of its own with 9 containers), so the load's drift over
# the run can be read out: the raw, CPU-time and paired ratios are printed.
# Everything runs in a sandbox host (lib.sh in_sandbox).
source "$(dirname "$0")/lib.sh"
need nftables iproute2
COUNT=${COUNT:-1000}
if [ -z "${NET_SCALE_BIN:-}" ] && [ "${BERTH_BENCH_SANDBOX:-}" != 1 ]; then
    (cd "$REPO" && cargo build --release -q -p berth-engine --example net_scale)
    NET_SCALE_BIN=${CARGO_TARGET_DIR:-$REPO/target}/release/examples/net_scale
fi
export NET_SCALE_BIN
[ -x "$NET_SCALE_BIN" ] || { echo "no net_scale binary at $NET_SCALE_BIN" >&2; exit 1; }
in_sandbox "$0" "$@"
mount -t sysfs berth-bench-sys /sys
work=$(mktemp -d /tmp/berth-bench-scale.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "kernel $(uname -r), $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg); RUNS=$RUNS COUNT=$COUNT"
echo "berth (in process, ms): name median p90 runs"
"$NET_SCALE_BIN" "$work" "$RUNS" "$COUNT" | tee "$work/out.txt"
awk -v n="$COUNT" '
    $1 == "ratio" { printf "attach of the %sth / the 10th: %.2f raw (target <= 1.2)\n", n, $2 }
    $1 == "cpu-ratio" { printf "  CPU time of the attach, %sth / 10th: %.2f\n", n, $2 }
    $1 == "paired-ratio" { printf "  paired with a same-moment control (the 10th of a small second host): %.2f\n", $2 }' "$work/out.txt"
