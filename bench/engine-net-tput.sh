#!/usr/bin/env bash
# TCP throughput (iperf3) container<->container on a berth bridge network
# (two netns attached by berthd's bridge driver in process:
# crates/engine/examples/net_pair.rs) vs the same two kinds of netns joined
# by a raw veth pair. Runs interleaved (berth, veth, bridge, berth, ...)
# so drift hits each alike. Target: berth >= 0.95 x veth.
# A third row, a plain Linux bridge in a netns of its own (no firewall
# rules, so no conntrack), tells the bridge hop's cost from berth's.
#
# usage: bench/engine-net-tput.sh   (as root; IPERF_SECS=5 IPERF_REPS=3)
#   NET_PAIR_BIN=path   use that build of the net_pair example
# Everything runs in a sandbox host (lib.sh in_sandbox).
source "$(dirname "$0")/lib.sh"
need iperf3 nftables iproute2 jq
SECS=${IPERF_SECS:-5}
REPS=${IPERF_REPS:-3}
if [ -z "${NET_PAIR_BIN:-}" ] && [ "${BERTH_BENCH_SANDBOX:-}" != 1 ]; then
    (cd "$REPO" && cargo build --release -q -p berth-engine --example net_pair)
    NET_PAIR_BIN=${CARGO_TARGET_DIR:-$REPO/target}/release/examples/net_pair
fi
export NET_PAIR_BIN
[ -x "$NET_PAIR_BIN" ] || { echo "no net_pair binary at $NET_PAIR_BIN" >&2; exit 1; }
in_sandbox "$0" "$@"
mount -t sysfs berth-bench-sys /sys
work=$(mktemp -d /tmp/berth-bench-tput.XXXXXX)
mkfifo "$work/hold"
PAIR_PID=
cleanup() {
    exec 7>&- || true
    [ -z "$PAIR_PID" ] || wait "$PAIR_PID" || true
    rm -rf "$work"
}
trap cleanup EXIT
# The raw pair first: `ip netns add` makes /run/netns a shared bind mount
# of itself; a netns net_pair had mounted there before would then be
# mounted twice and its file could not be removed (EBUSY) at the end.
ip netns add va && ip netns add vb
ip -n va link set lo up && ip -n vb link set lo up
ip -n va link add eth0 type veth peer name eth0 netns vb
ip -n va addr add 10.236.0.1/24 dev eth0 && ip -n va link set eth0 up
ip -n vb addr add 10.236.0.2/24 dev eth0 && ip -n vb link set eth0 up
# The plain bridge: netns pbr holds br0, pa and pb hang off it.
ip netns add pbr && ip netns add pa && ip netns add pb
ip -n pbr link set lo up && ip -n pbr link add br0 type bridge && ip -n pbr link set br0 up
for n in pa pb; do
    ip -n "$n" link set lo up
    ip -n pbr link add "v$n" type veth peer name eth0 netns "$n"
    ip -n pbr link set "v$n" master br0 && ip -n pbr link set "v$n" up
done
ip -n pa addr add 10.237.0.1/24 dev eth0 && ip -n pa link set eth0 up
ip -n pb addr add 10.237.0.2/24 dev eth0 && ip -n pb link set eth0 up
"$NET_PAIR_BIN" "$work/berth" /run/netns ta tb <"$work/hold" >"$work/pair.txt" &
PAIR_PID=$!
exec 7>"$work/hold"
for _ in $(seq 100); do grep -q ready "$work/pair.txt" && break; sleep 0.1; done
grep -q ready "$work/pair.txt" || { echo "net_pair did not come up" >&2; exit 1; }
SRV=$(awk '$1 == "ta" {print $2}' "$work/pair.txt")


echo "$(iperf3 --version | head -1); kernel $(uname -r), $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg); ${SECS}s x $REPS runs each"
echo "MTU: berth eth0 $(ip -n ta -o link show eth0 | grep -o 'mtu [0-9]*'), veth $(ip -n va -o link show eth0 | grep -o 'mtu [0-9]*')"
ip netns exec tb busybox ping -c1 -W2 "$SRV" >/dev/null && echo "berth ping ok"

# one_run SERVER_NS CLIENT_NS ADDR -> Gbit/s received
one_run() {
    local pid out
    ip netns exec "$1" iperf3 -s -1 -B "$3" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 50); do ip netns exec "$1" ss -ltn 2>/dev/null | grep -q ":5201 " && break; sleep 0.1; done
    out=$(ip netns exec "$2" iperf3 -c "$3" -t "$SECS" -J) || { kill "$pid" 2>/dev/null; return 1; }
    wait "$pid" 2>/dev/null || true
    jq -r '.end.sum_received.bits_per_second / 1e9' <<<"$out"
}
b="" v="" p=""
for _ in $(seq "$REPS"); do
    b+="$(one_run ta tb "$SRV") "
    v+="$(one_run va vb 10.236.0.1) "
    p+="$(one_run pa pb 10.237.0.1) "
done
# Traffic within a berth network is untracked (notrack): berth's netns,
# where its bridge is, should hold no conntrack entry for the pair's flows.
echo "conntrack entries in berth's netns after the runs: $(cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null || echo 0)"
for n in va vb pa pb pbr; do ip netns del "$n"; done
python3 - "$b" "$v" "$p" <<'PY'
import statistics, sys
b, v, p = ([float(x) for x in a.split()] for a in sys.argv[1:4])
mb, mv, mp = statistics.median(b), statistics.median(v), statistics.median(p)
runs = lambda xs: ' '.join(f'{x:.2f}' for x in xs)
print(f"berth bridge network: median {mb:.2f} Gbit/s  runs {runs(b)}")
print(f"raw veth pair:        median {mv:.2f} Gbit/s  runs {runs(v)}")
print(f"plain Linux bridge:   median {mp:.2f} Gbit/s  runs {runs(p)}")
print(f"ratio berth/veth {mb/mv:.2f} (target >= 0.95); plain bridge/veth {mp/mv:.2f}; berth/plain bridge {mb/mp:.2f}")
PY
