#!/usr/bin/env bash
# berthd's memory alone (the memory part of engine.sh without the peers,
# so it runs in a minute): inside one throwaway sandbox (own network,
# mount and PID namespaces; state on a tmpfs), network none only.
# usage: sudo bench/berthd-memory.sh    (N=100 P=10 M=10)
#   BERTH_BIN=path: measure that berth binary as it is (no build); its
#   berth-monitor is used when it sits beside it, as berthd does.
#
#  1. berthd idle right after start (image imported, one `version`).
#  2. N `run -d --network none busybox sleep` (P at a time), `rm -f` of
#     them all, then idle again (2 s later): what the burst left behind.
#  3. M containers running: VmRSS and Pss (/proc/PID/smaps_rollup) per
#     monitor, and berthd's.
#   SMAPS=dir: also keeps /proc/PID/smaps of berthd (idle, fresh) and of
#   one monitor there, to see which mappings the memory is in.
source "$(dirname "$0")/lib.sh"
N=${N:-100}
P=${P:-10}
M=${M:-10}
need busybox-static
build_berth
in_sandbox "$0" "$@"

work=$(mktemp -d /run/berth-bench-mem.XXXXXX) # /run is the sandbox's tmpfs
CG=berth-bench-mem-$$
BERTHD_PID=
cleanup() {
    set +e
    [ -n "$BERTHD_PID" ] && "$BERTH" -H "unix://$work/berth.sock" ps -aq 2>/dev/null | xargs -r "$BERTH" -H "unix://$work/berth.sock" rm -f >/dev/null 2>&1
    [ -n "$BERTHD_PID" ] && kill "$BERTHD_PID" 2>/dev/null
    sleep 1
    for h in /sys/fs/cgroup/*/"$CG" /sys/fs/cgroup/unified/"$CG"; do
        [ -d "$h" ] && find "$h" -depth -type d -exec rmdir {} + 2>/dev/null
    done
}
trap cleanup EXIT

root=$work/rootfs && mkdir -p "$root/bin" "$root/etc" "$root/tmp"
cp /bin/busybox "$root/bin/" && ln -s busybox "$root/bin/sh" && ln -s busybox "$root/bin/sleep"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
tar -C "$root" -cf "$work/busybox.tar" .

echo '{}' >"$work/berth.json"
"$BERTH" daemon -H "unix://$work/berth.sock" --data-root "$work/berth-lib" --exec-root "$work/berth-run" \
    --config-file "$work/berth.json" --cgroup-parent "/$CG/berth" --log-level warn >"$work/berthd.log" 2>&1 &
BERTHD_PID=$!
B=("$BERTH" -H "unix://$work/berth.sock")
for _ in $(seq 200); do "${B[@]}" version >/dev/null 2>&1 && break; sleep 0.1; done
"${B[@]}" version >/dev/null || { cat "$work/berthd.log"; exit 1; }
"${B[@]}" import --change 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null

kb() { awk -v f="$2" '$1 == f":" {print $2}' "/proc/$1/${3:-status}" 2>/dev/null || echo 0; }
berthd() { printf '  %-34s VmRSS %6d kB  Pss %6d kB  threads %d\n' "berthd $1" "$(kb "$BERTHD_PID" VmRSS)" "$(kb "$BERTHD_PID" Pss smaps_rollup)" "$(kb "$BERTHD_PID" Threads)"; }
echo "berth $(du -k "$BERTH" | cut -f1) kB binary; monitor: $( [ -x "$(dirname "$BERTH")/berth-monitor" ] && echo "berth-monitor $(du -k "$(dirname "$BERTH")/berth-monitor" | cut -f1) kB" || echo "berth monitor")"
sleep 1
berthd "idle, fresh"
[ -z "${SMAPS:-}" ] || { mkdir -p "$SMAPS" && cat "/proc/$BERTHD_PID/smaps" >"$SMAPS/berthd-idle.smaps"; }
seq "$N" | xargs -P "$P" -I{} "${B[@]}" run -d --network none busybox sleep 1000 >/dev/null
berthd "with $N running"
"${B[@]}" ps -aq | xargs -r -P "$P" -n 1 "${B[@]}" rm -f >/dev/null
sleep 2
berthd "idle after $N run -d + rm -f"
for _ in $(seq "$M"); do "${B[@]}" run -d --network none busybox sleep 1000 >/dev/null; done
n=0 rss=0 pss=0 exe=
for c in $("${B[@]}" ps -q --no-trunc); do
    pid=$("${B[@]}" inspect --format '{{.State.Pid}}' "$c")
    mon=$(awk '$1 == "PPid:" {print $2}' "/proc/$pid/status")
    exe=$(readlink "/proc/$mon/exe")
    [ -z "${SMAPS:-}" ] || [ "$n" != 0 ] || cat "/proc/$mon/smaps" >"$SMAPS/monitor.smaps"
    n=$((n + 1)); rss=$((rss + $(kb "$mon" VmRSS))); pss=$((pss + $(kb "$mon" Pss smaps_rollup)))
done
printf '  %-34s VmRSS %6d kB  Pss %6d kB  (x%d, %s)\n' "per monitor" $((rss / n)) $((pss / n)) "$n" "$(basename "$exe")"
berthd "with $M running"
