#!/usr/bin/env bash
# DNS: queries per second and p99 latency of berthd's embedded resolver
# (the bridge driver in process, as berthd runs it:
# crates/engine/examples/net_pair.rs; it serves 127.0.0.11:53 inside each
# container's netns) vs aardvark-dns (Podman's, Debian) on the same
# machine, with the same container names, asked from the same container
# netns over the same path (loopback inside that netns: berth on
# 127.0.0.11, aardvark on the container's own address, so it sees the
# container as the asker, as it does behind netavark).
#
# Throughput: dnsperf as fast as it goes (DNS_CLIENTS clients, 100 in
# flight) for DNS_SECS; latency: dnsperf at a fixed DNS_QPS, every reply's
# latency (-v), p50 and p99. Interleaved berth, aardvark, berth, ... so
# drift hits both alike; medians over DNS_REPS.
#
# usage: bench/engine-dns.sh   (as root; DNS_SECS=5 DNS_REPS=3 DNS_QPS=2000
#   DNS_CLIENTS=4 DNS_NAMES=8)
#   NET_PAIR_BIN=path   use that build of the net_pair example
# Everything runs in a sandbox host (lib.sh in_sandbox).
source "$(dirname "$0")/lib.sh"
need dnsperf aardvark-dns nftables iproute2
SECS=${DNS_SECS:-5}
REPS=${DNS_REPS:-3}
QPS=${DNS_QPS:-2000}
CLIENTS=${DNS_CLIENTS:-4}
NAMES=${DNS_NAMES:-8}
AARDVARK=${AARDVARK:-/usr/lib/podman/aardvark-dns}
if [ -z "${NET_PAIR_BIN:-}" ] && [ "${BERTH_BENCH_SANDBOX:-}" != 1 ]; then
    (cd "$REPO" && cargo build --release -q -p berth-engine --example net_pair)
    NET_PAIR_BIN=${CARGO_TARGET_DIR:-$REPO/target}/release/examples/net_pair
fi
export NET_PAIR_BIN
[ -x "$NET_PAIR_BIN" ] || { echo "no net_pair binary at $NET_PAIR_BIN" >&2; exit 1; }
[ -x "$AARDVARK" ] || { echo "no aardvark-dns at $AARDVARK" >&2; exit 1; }
in_sandbox "$0" "$@"
mount -t sysfs berth-bench-sys /sys
work=$(mktemp -d /tmp/berth-bench-dns.XXXXXX)
mkfifo "$work/hold"
PAIR_PID=
AARDVARK_PID=
cleanup() {
    [ -z "$AARDVARK_PID" ] || kill "$AARDVARK_PID" 2>/dev/null || true
    exec 7>&- || true
    [ -z "$PAIR_PID" ] || wait "$PAIR_PID" || true
    rm -rf "$work"
}
trap cleanup EXIT

names=()
for i in $(seq "$NAMES"); do names+=("c$i"); done
"$NET_PAIR_BIN" "$work/berth" /run/netns "${names[@]}" <"$work/hold" >"$work/pair.txt" &
PAIR_PID=$!
exec 7>"$work/hold"
for _ in $(seq 100); do grep -q ready "$work/pair.txt" && break; sleep 0.1; done
grep -q ready "$work/pair.txt" || { echo "net_pair did not come up" >&2; exit 1; }
CLIENT=c1
CLIENT_IP=$(awk -v n="$CLIENT" '$1 == n {print $2}' "$work/pair.txt")
in_client() { nsenter --net=/run/netns/$CLIENT "$@"; }

# The same names for both: every container's name, A queries.
: >"$work/queries.txt"
mkdir -p "$work/aardvark"
echo "$CLIENT_IP" >"$work/aardvark/pairnet"
for n in "${names[@]}"; do
    ip=$(awk -v n="$n" '$1 == n {print $2}' "$work/pair.txt")
    echo "$n A" >>"$work/queries.txt"
    # [id] [ipv4 list] [ipv6 list] [names], as netavark writes it.
    printf '%s %s  %s\n' "$(printf '%s' "$n" | sha256sum | cut -c1-64)" "$ip" "$n" >>"$work/aardvark/pairnet"
done
in_client "$AARDVARK" --config "$work/aardvark" -p 53 run >"$work/aardvark.log" 2>&1 &
AARDVARK_PID=$!
for _ in $(seq 50); do
    in_client dig +short +time=1 +tries=1 @"$CLIENT_IP" c2 2>/dev/null | grep -q . && break
    sleep 0.1
done
# aardvark-dns run may fork into the background: its pid file then.
[ -s "$work/aardvark/aardvark.pid" ] && AARDVARK_PID=$(cat "$work/aardvark/aardvark.pid")

check() { # NAME SERVER: both must answer every name alike
    local n want got
    for n in "${names[@]}"; do
        want=$(awk -v n="$n" '$1 == n {print $2}' "$work/pair.txt")
        got=$(in_client dig +short +time=2 +tries=1 @"$2" "$n" A)
        [ "$got" = "$want" ] || { echo "$1 answered '$got' for $n (want $want)" >&2; cat "$work/aardvark.log" >&2; exit 1; }
    done
}
check berth 127.0.0.11
check aardvark "$CLIENT_IP"

echo "dnsperf $(dnsperf -h 2>&1 | awk '/^Version/ {print $2}'), $($AARDVARK --version 2>/dev/null | head -1); kernel $(uname -r), $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "names: ${#names[@]} containers; ${SECS}s per run, $REPS runs each; client netns $CLIENT ($CLIENT_IP)"

qps() { # SERVER -> queries per second
    in_client dnsperf -s "$1" -d "$work/queries.txt" -l "$SECS" -c "$CLIENTS" -q 100 2>/dev/null |
        awk '/Queries per second:/ {print $4}'
}
lat() { # SERVER -> "p50_us p99_us lost"
    in_client dnsperf -s "$1" -d "$work/queries.txt" -l "$SECS" -Q "$QPS" -v 2>/dev/null |
        python3 -c '
import sys
lat, lost = [], 0
for line in sys.stdin:
    f = line.split()
    # "> NOERROR c1 A 0.000123" per reply with -v
    if f and f[0] == ">" and len(f) >= 5:
        try:
            lat.append(float(f[-1]) * 1e6)
        except ValueError:
            pass
    if line.strip().startswith("Queries lost:"):
        lost = int(line.split()[2])
lat.sort()
if not lat:
    print("nan nan", lost); sys.exit()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
print(f"{q(0.50):.0f} {q(0.99):.0f} {lost}")
'
}
bq="" aq="" bl="" al=""
for _ in $(seq "$REPS"); do
    bq+="$(qps 127.0.0.11) "
    aq+="$(qps "$CLIENT_IP") "
    bl+="$(lat 127.0.0.11 | tr ' ' ,) "
    al+="$(lat "$CLIENT_IP" | tr ' ' ,) "
done
python3 - "$bq" "$aq" "$bl" "$al" "$QPS" <<'PY'
import statistics, sys
bq = [float(x) for x in sys.argv[1].split()]
aq = [float(x) for x in sys.argv[2].split()]
bl = [[float(v) for v in x.split(",")] for x in sys.argv[3].split()]
al = [[float(v) for v in x.split(",")] for x in sys.argv[4].split()]
med = statistics.median
mbq, maq = med(bq), med(aq)
print(f"\n== throughput (queries/s, median of {len(bq)})")
print(f"  berth embedded DNS   {mbq:10.0f}   runs {' '.join(f'{x:.0f}' for x in bq)}")
print(f"  aardvark-dns         {maq:10.0f}   runs {' '.join(f'{x:.0f}' for x in aq)}")
print(f"  ratio berth/aardvark {mbq / maq:.2f} (higher is better)")
print(f"\n== latency at {sys.argv[5]} queries/s (us, median over runs)")
for name, l in (("berth embedded DNS", bl), ("aardvark-dns", al)):
    p50, p99, lost = med(r[0] for r in l), med(r[1] for r in l), sum(r[2] for r in l)
    print(f"  {name:<20} p50 {p50:7.0f}   p99 {p99:7.0f}   lost {lost:.0f}")
b99, a99 = med(r[1] for r in bl), med(r[1] for r in al)
print(f"  ratio p99 aardvark/berth {a99 / b99:.2f} (higher is better for berth)")
PY
