#!/usr/bin/env bash
# What berthd's quiet-time upkeep costs the next request: once the API has
# been quiet for 0.5 s berthd unmaps its code pages (docs/engine.md,
# Memory), and the next request faults back what it runs. Times `version`
# and `run --rm --network none busybox true` after a 0.9 s pause (pages
# unmapped) vs a 0.2 s one (not yet), against one berthd in a sandbox.
# usage: sudo bench/berthd-quiet.sh   (RUNS=30 ROUNDS=3; BERTH_BIN=path)
source "$(dirname "$0")/lib.sh"
need busybox-static hyperfine jq
build_berth
in_sandbox "$0" "$@"

work=$(mktemp -d /run/berth-bench-quiet.XXXXXX) # /run is the sandbox's tmpfs
CG=berth-bench-quiet-$$
BERTHD_PID=
cleanup() {
    set +e
    [ -n "$BERTHD_PID" ] && kill "$BERTHD_PID" 2>/dev/null
    sleep 1
    for h in /sys/fs/cgroup/*/"$CG" /sys/fs/cgroup/unified/"$CG" /sys/fs/cgroup/"$CG"; do
        [ -d "$h" ] && find "$h" -depth -type d -exec rmdir {} + 2>/dev/null
    done
}
trap cleanup EXIT

root=$work/rootfs && mkdir -p "$root/bin" "$root/etc"
cp /bin/busybox "$root/bin/" && ln -s busybox "$root/bin/sh" && ln -s busybox "$root/bin/true"
tar -C "$root" -cf "$work/busybox.tar" .
echo '{}' >"$work/berth.json"
"$BERTH" daemon -H "unix://$work/berth.sock" --data-root "$work/berth-lib" --exec-root "$work/berth-run" \
    --config-file "$work/berth.json" --cgroup-parent "/$CG/berth" --log-level warn >"$work/berthd.log" 2>&1 &
BERTHD_PID=$!
B="$BERTH -H unix://$work/berth.sock"
for _ in $(seq 200); do $B version >/dev/null 2>&1 && break; sleep 0.1; done
$B version >/dev/null || { cat "$work/berthd.log"; exit 1; }
$B import "$work/busybox.tar" busybox:latest >/dev/null

PREPARE=("sleep 0.2" "sleep 0.9")
compare "version after a 0.2 s vs a 0.9 s pause (code pages unmapped after 0.5 s quiet)" \
    "pause 0.2" "$B version" "pause 0.9" "$B version"
compare "run --rm --network none busybox true, same pauses" \
    "pause 0.2" "$B run --rm --network none busybox true" "pause 0.9" "$B run --rm --network none busybox true"
