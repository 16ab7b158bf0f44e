#!/usr/bin/env bash
# berthd's network attach+detach (the bridge driver in process, as the
# engine calls it at container start and stop) vs the reference CNI bridge
# plugin and netavark, side by side in one run.
#
# usage: bench/engine-net.sh            (as root; RUNS=30 WARMUP=3)
#   NET_ATTACH_BIN=path   use that build of the net_attach example instead
#                         of building it (cargo build --release)
#
# berth is timed inside one process (crates/engine/examples/net_attach.rs:
# the driver opened once, as in berthd, each attach+detach timed with a
# monotonic clock); the peers are processes, so they are timed per run with
# hyperfine (bench/cni-pair.sh: one ADD and one DEL of the reference
# plugin, two plugin processes and a sh; netavark: setup + teardown).
# That difference is the design being measured: berthd attaches without a
# plugin process. Every tool gets a bridge with a gateway, a /16, IPAM,
# outbound masquerade, and one anchor container attached, so each timed
# attach finds its bridge and rules in place.
#
# Measurements:
#  1. attach+detach of an existing container netns (berth: attach, then
#     disconnect, which deletes the container's link, as CNI DEL does);
#  2. netns made + attach + detach + netns deleted: what a container start
#     and stop cost (berth tears down by deleting the netns; the peers'
#     plugins delete their veth in DEL, then the netns goes).
# Everything runs in a sandbox host (lib.sh in_sandbox).
source "$(dirname "$0")/lib.sh"
need containernetworking-plugins netavark nftables iproute2 hyperfine jq
if [ -z "${NET_ATTACH_BIN:-}" ] && [ "${BERTH_BENCH_SANDBOX:-}" != 1 ]; then
    (cd "$REPO" && cargo build --release -q -p berth-engine --example net_attach)
    NET_ATTACH_BIN=${CARGO_TARGET_DIR:-$REPO/target}/release/examples/net_attach
fi
export NET_ATTACH_BIN
[ -x "$NET_ATTACH_BIN" ] || { echo "no net_attach binary at $NET_ATTACH_BIN" >&2; exit 1; }
in_sandbox "$0" "$@"
mount -t sysfs berth-bench-sys /sys

work=$(mktemp -d /tmp/berth-bench-enet.XXXXXX)
trap 'rm -rf "$work"' EXIT
REF=/usr/lib/cni
NV=/usr/lib/podman/netavark
export NV_CONFIG=$work/netavark && mkdir -p "$NV_CONFIG"
ns() { ip netns add "$1" && ip -n "$1" link set lo up; }

cat >"$work/ref.json" <<EOF
{ "cniVersion": "1.0.0", "name": "bench-ref", "type": "bridge",
  "bridge": "br-ref", "isGateway": true, "ipMasq": true,
  "ipam": { "type": "host-local", "subnet": "10.240.0.0/16", "dataDir": "$work/ipam",
            "routes": [ { "dst": "0.0.0.0/0" } ] } }
EOF
nv_opts() {
    cat <<EOF
{ "container_id": "$(printf 'bench%059d' "$2")", "container_name": "bench-nv-$2",
  "networks": { "benchnv": { "interface_name": "eth0", "static_ips": [ "$1" ] } },
  "network_info": { "benchnv": {
      "name": "benchnv", "id": "$(printf '%064x' 4242)",
      "driver": "bridge", "network_interface": "br-nv",
      "subnets": [ { "subnet": "10.242.0.0/16", "gateway": "10.242.0.1" } ],
      "ipv6_enabled": false, "internal": false, "dns_enabled": false } } }
EOF
}
nv_opts 10.242.0.2 2 >"$work/nv-anchor.json"
nv_opts 10.242.0.3 3 >"$work/nv.json"

echo "reference plugins $(dpkg-query -W -f '${Version}' containernetworking-plugins); $("$NV" --version); $(nft --version)"
echo "kernel $(uname -r), $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg); RUNS=$RUNS WARMUP=$WARMUP"

# anchors
ns anchor-ref && ns c-ref && ns anchor-nv && ns c-nv
CNI_COMMAND=ADD CNI_CONTAINERID=anchor-ref CNI_IFNAME=eth0 CNI_NETNS=/run/netns/anchor-ref CNI_PATH=$REF \
    "$REF/bridge" <"$work/ref.json" >/dev/null
"$NV" --config "$NV_CONFIG" -f "$work/nv-anchor.json" setup /run/netns/anchor-nv >/dev/null

# berth, in process (its own anchors, networks and state under $work/berth)
echo
echo "berth (in process, ms): name median p90 runs"
"$NET_ATTACH_BIN" "$work/berth" "$((RUNS + WARMUP))" | tee "$work/berth.txt"

export CNI_PATH=$REF
P="sh $BENCH_DIR/cni-pair.sh"
fresh() { echo "sh -c 'ip netns add $1 && $P $2 $1 && ip netns del $1'"; }
hyperfine -N $(if [ -n "${HF_DEBUG:-}" ]; then echo --show-output; else echo --style none; fi) --warmup "$WARMUP" --runs "$RUNS" --export-json "$work/peers.json" \
    -n "reference existing" "$P cni $REF/bridge $work/ref.json c-ref" \
    -n "netavark existing" "$P nv $work/nv.json c-nv" \
    -n "reference fresh" "$(fresh c-fresh "cni $REF/bridge $work/ref.json")" \
    -n "netavark fresh" "$(fresh c-fresh2 "nv $work/nv.json")" >"${HF_DEBUG:-/dev/null}"
med() { jq -r --arg n "$1" '.results[] | select(.command == $n) | .median * 1000' "$work/peers.json"; }
b() { awk -v n="$1" '$1 == n {print $2}' "$work/berth.txt"; }
echo
printf '%-48s %10s\n' "attach+detach (median ms)" ""
for kind in existing fresh; do
    case $kind in
        existing) bn=berth-bridge-attach+detach-existing-netns; un=berth-benchnet-attach+detach-existing-netns ;;
        fresh) bn=berth-bridge-netns+attach+detach+netns-delete; un=berth-benchnet-netns+attach+detach+netns-delete ;;
    esac
    r=$(med "reference $kind") n=$(med "netavark $kind")
    awk -v k="$kind" -v bb="$(b $bn)" -v bu="$(b $un)" -v r="$r" -v n="$n" 'BEGIN{
        printf "%s netns: berth default bridge %.2f, berth user network (DNS entry too) %.2f, reference bridge %.2f, netavark %.2f\n", k, bb, bu, r, n
        printf "  ratios: berth bridge/reference %.2f, berth bridge/netavark %.2f, berth user/reference %.2f (target <= 0.1 x reference)\n", bb/r, bb/n, bu/r }'
done
