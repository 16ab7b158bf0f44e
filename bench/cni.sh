#!/usr/bin/env bash
# CNI attach latency: berth-bridge vs the reference bridge plugin (Debian's
# containernetworking-plugins) vs netavark, side by side in one run; then the
# scaling curve of berth attaches with a published port each on one bridge.
#
# usage: bench/cni.sh                  (as root; RUNS=30 WARMUP=3 ROUNDS=5)
#   BERTH_BIN=path   use that berth binary instead of building one
#   BERTH_CNI=path   use that berth-cni binary for the plugins (default: the
#                    one built by lib.sh build_berth_cni, musl when it can)
#   SCALE_N=1005     containers attached for the scaling curve (0: skip it)
#   SCALE_STATE="tmpfs disk"   where berth's plugin state lives for the
#                    curve (one curve each; on disk one pass only)
#   SCALE_PASSES=3   passes of the tmpfs curve, each from an empty host
#   SCALE_REF_N=0    also run the curve with the reference bridge+portmap
#                    chain for that many containers (iptables: slow, grows)
#
# 1. ADD+DEL on an existing container netns, one process pair per run, then
#    ADD alone and DEL alone (the other half untimed, hyperfine --prepare),
#    for the same network: a bridge with a gateway, a /16, ipMasq,
#    host-local IPAM (netavark: podman does IPAM and passes a static IP, and
#    its NAT network is its ipMasq). Each tool has its own bridge and subnet;
#    one "anchor" container stays attached to each, so every timed ADD finds
#    the bridge and the masquerade rules there, as in steady state.
#    berth and the reference run twice: with their state (IPAM leases) on
#    disk, where both keep it by default (berth: a file per lease, durable
#    through its lease journal, one in-place fdatasync per ADD; the
#    reference: a file per lease, no fsync), and on tmpfs (as podman keeps
#    its IPAM db under /run). Then the same without ipMasq (berth changes
#    no firewall state at all; netavark: an internal network, no NAT), and
#    a summary of both ADD+DEL figures side by side.
# 2. Scaling: containers 1..SCALE_N attached to one bridge through berth's CNI
#    client (`berth cni add`, conflist berth-bridge + berth-portmap), each with
#    a published host port; the attach (ADD) of each is timed, and the medians
#    of attaches 8-12, 95-105 and 995-1005 are compared, per pass and pooled
#    over the passes. Each attach in those windows is paired with a control
#    made right after it: the 10th container of a second, small host, so the
#    ratio can also be read free of the machine's load drift.
#
# Everything runs in a sandbox host (lib.sh in_sandbox: new net, mount and
# PID namespaces, private /run): the container netns made here with
# `ip netns add` live in that private /run, the bridges, veths and firewall
# rules in the sandbox's network namespace, and all of it dies with it. Plugin
# state goes to a temp dir (removed at exit) or the sandbox's /run.
source "$(dirname "$0")/lib.sh"
need containernetworking-plugins netavark nftables iptables iproute2 hyperfine jq
build_berth
ROUNDS=${ROUNDS:-5}
SCALE_N=${SCALE_N:-1005}
SCALE_STATE=${SCALE_STATE:-tmpfs disk}
SCALE_PASSES=${SCALE_PASSES:-3}
SCALE_REF_N=${SCALE_REF_N:-0}
in_sandbox "$0" "$@"

# A sysfs of the sandbox's own network namespace: plugins that look at
# /sys/class/net see the sandbox's links, not the machine's.
mount -t sysfs berth-bench-sys /sys

work=$(mktemp -d /tmp/berth-bench-cni.XXXXXX)   # on disk, like /var/lib
trap 'rm -rf "$work"' EXIT
tmpfs=/run/berth-bench && mkdir -p "$tmpfs"      # the sandbox's private tmpfs
REF=/usr/lib/cni
NV=/usr/lib/podman/netavark
bin=$work/bin && mkdir -p "$bin"
# The plugins as they are installed: links to the berth-cni binary (the
# plugins alone, a faster start; build_berth_cni in lib.sh), else to berth
# itself, which answers to the plugin names too.
plugins_bin=${BERTH_CNI:-$BERTH}
for p in berth-bridge berth-host-local berth-portmap berth-loopback; do ln -s "$plugins_bin" "$bin/$p"; done
export CNI_PATH="$bin:$REF"
export NV_CONFIG=$work/netavark && mkdir -p "$NV_CONFIG"
P="sh $BENCH_DIR/cni-pair.sh"

ns() { ip netns add "$1" && ip -n "$1" link set lo up; }
median() { sort -n | awk '{a[NR]=$1} END{if (NR) print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# ratios: berth's two variants against the reference and netavark, from the
# last compare's times ($work/cmp.json), with the same medians.
ratios() {
    local b t r q n
    b=$(jq -r '.["berth"][]' "$work/cmp.json" | median)
    t=$(jq -r '.["berth, state on tmpfs"][]' "$work/cmp.json" | median)
    r=$(jq -r '.["reference"][]' "$work/cmp.json" | median)
    q=$(jq -r '.["reference, state on tmpfs"][]' "$work/cmp.json" | median)
    n=$(jq -r '.["netavark"] // [] | .[]' "$work/cmp.json" | median)
    awk -v b="$b" -v t="$t" -v r="$r" -v q="$q" -v n="$n" 'BEGIN{
        printf "  ratios: state on disk: berth/reference %.2f", b/r
        if (n != "") printf ", berth/netavark %.2f", b/n
        printf "; state on tmpfs: berth/reference %.2f", t/q
        if (n != "") printf ", berth/netavark %.2f", t/n
        printf "\n"}'
}

# bridge_conf TYPE IPAM_TYPE BRIDGE SUBNET IPMASQ STATE_DIR
bridge_conf() {
    cat <<EOF
{ "cniVersion": "1.0.0", "name": "bench-$3", "type": "$1",
  "bridge": "$3", "isGateway": true, "ipMasq": $5,
  "ipam": { "type": "$2", "subnet": "$4", "dataDir": "$6/ipam-$3",
            "routes": [ { "dst": "0.0.0.0/0" } ] } }
EOF
}
# name:plugin:bridge:subnet:ipmasq:state
nets="ref:bridge:br-ref:10.240.0.0/16:true:$work
berth:berth-bridge:br-berth:10.241.0.0/16:true:$work
reftmp:bridge:br-reftmp:10.246.0.0/16:true:$tmpfs
berthtmp:berth-bridge:br-berthtmp:10.245.0.0/16:true:$tmpfs
refnm:bridge:br-refnm:10.243.0.0/16:false:$work
berthnm:berth-bridge:br-berthnm:10.244.0.0/16:false:$work
refnmtmp:bridge:br-refnmt:10.247.0.0/16:false:$tmpfs
berthnmtmp:berth-bridge:br-berthnmt:10.248.0.0/16:false:$tmpfs"
while IFS=: read -r name plugin bridge subnet masq state; do
    ipam=host-local && [ "$plugin" = bridge ] || ipam=berth-host-local
    bridge_conf "$plugin" "$ipam" "$bridge" "$subnet" "$masq" "$state" >"$work/$name.json"
done <<<"$nets"

# netavark network options: NAME INTERNAL IP BRIDGE NET_ID (netavark gets
# static IPs; the IP's first two octets name its /16). An internal network
# is netavark's network without NAT (and without outbound traffic), the
# nearest it has to ipMasq false.
nv_opts() {
    local net=${3%.*.*}
    cat <<EOF
{ "container_id": "$(printf 'bench%059d' "${3##*.}")", "container_name": "bench-nv-${3##*.}",
  "networks": { "$1": { "interface_name": "eth0", "static_ips": [ "$3" ] } },
  "network_info": { "$1": {
      "name": "$1", "id": "$(printf '%064x' "$5")",
      "driver": "bridge", "network_interface": "$4",
      "subnets": [ { "subnet": "$net.0.0/16", "gateway": "$net.0.1" } ],
      "ipv6_enabled": false, "internal": $2, "dns_enabled": false } } }
EOF
}
nv_opts benchnv false 10.242.0.2 br-nv 4242 >"$work/nv-anchor.json"
nv_opts benchnv false 10.242.0.3 br-nv 4242 >"$work/nv.json"
nv_opts benchnvi true 10.249.0.2 br-nvi 4243 >"$work/nvi-anchor.json"
nv_opts benchnvi true 10.249.0.3 br-nvi 4243 >"$work/nvi.json"

echo "versions: $("$BERTH" --version) (plugins: $plugins_bin); reference plugins $(dpkg-query -W -f '${Version}' containernetworking-plugins);" \
    "$("$NV" --version); $(nft --version); $(iptables --version)"
echo "kernel $(uname -r), $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg); RUNS=$RUNS ROUNDS=$ROUNDS WARMUP=$WARMUP"
echo "disk fsync now (dd 4k, oflag=dsync, x20): $(dd if=/dev/zero of="$work/fsync-probe" bs=4k count=20 oflag=dsync 2>&1 | tail -1 | awk '{print $(NF-1), $NF}')"
rm -f "$work/fsync-probe"

# --- anchors and sanity --------------------------------------------------
echo
echo "anchors (stay attached during the timed runs):"
while IFS=: read -r name plugin _; do
    ns "anchor-$name"
    ns "c-$name"
    exe=$bin/$plugin && [ "$plugin" != bridge ] || exe=$REF/bridge
    out=$(CNI_COMMAND=ADD CNI_CONTAINERID="anchor-$name" CNI_IFNAME=eth0 CNI_NETNS="/run/netns/anchor-$name" \
        "$exe" <"$work/$name.json")
    printf '  %-9s %s\n' "$name" "$(jq -c '{ips: [.ips[].address], interfaces: [.interfaces[].name]}' <<<"$out")"
done <<<"$nets"
for v in nv nvi; do
    ns "anchor-$v" && ns "c-$v"
    printf '  %-9s %s\n' "$v" "$("$NV" --config "$NV_CONFIG" -f "$work/$v-anchor.json" setup "/run/netns/anchor-$v" | jq -c '[.[] | .interfaces.eth0.subnets[].ipnet]')"
done

B="cni $bin/berth-bridge $work/berth.json c-berth"
T="cni $bin/berth-bridge $work/berthtmp.json c-berthtmp"
R="cni $REF/bridge $work/ref.json c-ref"
Q="cni $REF/bridge $work/reftmp.json c-reftmp"
N="nv $work/nv.json c-nv"
for x in "$B" "$T" "$R" "$Q" "$N" "nv $work/nvi.json c-nvi"; do $P $x; done
for n in c-berth c-berthtmp c-ref c-reftmp c-nv c-nvi; do
    if ip -n "$n" link show eth0 >/dev/null 2>&1; then echo "$n: eth0 left after ADD+DEL" >&2; exit 1; fi
done
echo "  ADD+DEL sanity: ok (eth0 gone from each container after DEL)"

# --- 1. ADD+DEL side by side ---------------------------------------------
export COMPARE_JSON=$work/cmp.json
compare "ADD+DEL, existing netns, bridge + host-local IPAM + ipMasq (netavark: NAT network, static IP)" \
    berth "$P $B" "berth, state on tmpfs" "$P $T" reference "$P $R" "reference, state on tmpfs" "$P $Q" netavark "$P $N"
ratios
cp "$work/cmp.json" "$work/cmp-masq.json"
echo "  target: berth/reference <= 0.25"

# (netavark's teardown fails when nothing is attached: tolerated here)
PREPARE=("sh -c '$P $B del || true'" "sh -c '$P $T del || true'" "sh -c '$P $R del || true'" "sh -c '$P $Q del || true'"
    "sh -c '$P $N del 2>/dev/null || true'")
compare "ADD alone (untimed DEL before each run)" \
    berth "$P $B add" "berth, state on tmpfs" "$P $T add" reference "$P $R add" "reference, state on tmpfs" "$P $Q add" \
    netavark "$P $N add"
ratios
PREPARE=("sh -c '$P $B del; $P $B add'" "sh -c '$P $T del; $P $T add'" "sh -c '$P $R del; $P $R add'"
    "sh -c '$P $Q del; $P $Q add'" "sh -c '$P $N del 2>/dev/null; $P $N add'")
compare "DEL alone (untimed ADD before each run)" \
    berth "$P $B del" "berth, state on tmpfs" "$P $T del" reference "$P $R del" "reference, state on tmpfs" "$P $Q del" \
    netavark "$P $N del"
ratios
PREPARE=()

compare "ADD+DEL without ipMasq (berth: no firewall change at all)" \
    berth "$P cni $bin/berth-bridge $work/berthnm.json c-berthnm" \
    "berth, state on tmpfs" "$P cni $bin/berth-bridge $work/berthnmtmp.json c-berthnmtmp" \
    reference "$P cni $REF/bridge $work/refnm.json c-refnm" \
    "reference, state on tmpfs" "$P cni $REF/bridge $work/refnmtmp.json c-refnmtmp" \
    "netavark (internal network: no NAT)" "$P nv $work/nvi.json c-nvi"
ratios
cp "$work/cmp.json" "$work/cmp-nomasq.json"
unset COMPARE_JSON

# Both ADD+DEL figures side by side, from the two compares above.
summary() {
    local f=$1 n=$2 b t r q v
    b=$(jq -r '.["berth"][]' "$f" | median)
    t=$(jq -r '.["berth, state on tmpfs"][]' "$f" | median)
    r=$(jq -r '.["reference"][]' "$f" | median)
    q=$(jq -r '.["reference, state on tmpfs"][]' "$f" | median)
    v=$(jq -r --arg n "$n" '.[$n] // [] | .[]' "$f" | median)
    awk -v b="$b" -v t="$t" -v r="$r" -v q="$q" -v v="$v" 'BEGIN{
        printf "%7.2f / %-7.2f %5.2f     %7.2f / %-7.2f %5.2f     %8.2f  %5.2f",
            b*1000, r*1000, b/r, t*1000, q*1000, t/q, v*1000, (v > 0 ? b/v : 0)}'
}
printf '\n== ADD+DEL summary: berth / reference ms and berth/reference (target <= 0.25), state on disk and on tmpfs; netavark ms and berth(disk)/netavark\n'
printf '  %-10s %-29s %-29s %s\n' "" "state on disk" "state on tmpfs" "netavark"
printf '  %-10s %s\n' "ipMasq" "$(summary "$work/cmp-masq.json" netavark)"
printf '  %-10s %s\n' "no ipMasq" "$(summary "$work/cmp-nomasq.json" "netavark (internal network: no NAT)")"

# Floors every plugin pays: deleting one veth (the kernel waits for RCU),
# and starting processes.
ns c-floor
PREPARE=("ip link add vfloor type veth peer name eth0 netns c-floor" true true)
compare "floors: kernel veth deletion; process starts (ratios meaningless)" \
    "ip link del (container veth)" "ip -n c-floor link del eth0" \
    "ip link show (process only)" "ip -n c-floor link show lo" \
    "berth-bridge VERSION" "sh -c 'CNI_COMMAND=VERSION $bin/berth-bridge </dev/null >/dev/null'"
PREPARE=()

echo "  after the runs, ports on each bridge (1 each: the anchors):" \
    "$(for b in br-berth br-berthtmp br-ref br-reftmp br-nv br-nvi; do echo -n "$b $(ip -o link show master $b | wc -l) "; done)"

# --- 2. scaling curve -----------------------------------------------------
# The load of a shared machine drifts over the half minute a curve takes, so
# every attach in the three windows is paired with a control attach made
# right after it: "the 10th container" of a small second host (a netns of
# its own, with its own bridge, berth table and state, holding 9 containers),
# detached again (untimed) so it stays at 9. Both ratios are printed: the
# raw one between windows (drift included) and the paired one.

# cni_add HOSTNS CONFLIST NETNS PORT: one timed `berth cni add` run in the
# network namespace HOSTNS ("" for the sandbox host; entered with nsenter
# either way, so both sides of a pair pay the same exec); prints the ms.
cni_add() {
    local t0 t1 hostns=/proc/$$/ns/net
    [ -z "$1" ] || hostns=/run/netns/$1
    t0=$EPOCHREALTIME
    if ! nsenter "--net=$hostns" "$BERTH" cni --cache-dir "$work/cache" add -p "$4:80/tcp" "$2" "/run/netns/$3" "$3" eth0 >/dev/null; then
        echo "scale: attach of $3 failed" >&2
        return 1
    fi
    t1=$EPOCHREALTIME
    awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f\n", (b-a)*1000}'
}

cni_del() { # HOSTNS CONFLIST NETNS PORT
    nsenter "--net=/run/netns/$1" "$BERTH" cni --cache-dir "$work/cache" del -p "$4:80/tcp" "$2" "/run/netns/$3" "$3" eth0 >/dev/null
}

in_window() { [ "$1" -ge 8 ] && [ "$1" -le 12 ] || { [ "$1" -ge 95 ] && [ "$1" -le 105 ]; } || { [ "$1" -ge 995 ] && [ "$1" -le 1005 ]; }; }

# window_median FILES COLUMN LO HI: median of column COLUMN (2: the attach,
# 3: its control) over attaches LO..HI.
window_median() { cat $1 | awk -v c="$2" -v lo="$3" -v hi="$4" '$1>=lo && $1<=hi && $c != "" {print $c}' | median; }

# detach_all PREFIX N BRIDGE [HOSTNS]: drop the containers' netns (the
# kernel deletes their veths in one batch), wait until the bridge has no
# port left, then delete it and berth's nft table, so the next pass starts
# from nothing.
detach_all() {
    local i in=()
    [ -z "${4:-}" ] || in=(-n "$4")
    for ((i = 1; i <= $2; i++)); do ip netns del "$1$i" 2>/dev/null || true; done
    for i in $(seq 300); do
        [ "$(ip "${in[@]}" -o link show master "$3" 2>/dev/null | wc -l)" -eq 0 ] && break
        sleep 0.1
    done
    ip "${in[@]}" link del "$3" 2>/dev/null || true
    if [ -n "${4:-}" ]; then ip netns exec "$4" nft delete table inet berth 2>/dev/null || true
    else nft delete table inet berth 2>/dev/null || true; fi
}

# scale_conf NAME BRIDGE SUBNET PLUGIN_PREFIX STATE_DIR: bridge + portmap
scale_conf() {
    cat <<EOF
{ "cniVersion": "1.0.0", "name": "$1", "plugins": [
  { "type": "${4}bridge", "bridge": "$2", "isGateway": true, "ipMasq": true,
    "ipam": { "type": "${4}host-local", "subnet": "$3", "dataDir": "$5/ipam-$1" } },
  { "type": "${4}portmap", "dataDir": "$5/portmap-$1", "capabilities": { "portMappings": true } } ] }
EOF
}

# curve LABEL PLUGIN_PREFIX STATE_DIR PASSES N: the scaling curve, PASSES
# times from an empty host.
curve() {
    local label=$1 pfx=$2 dir=$3 passes=$4 n=$5 p i files=""
    printf '\n== scaling: %s: attach (ADD) of the Nth container on one bridge, one published port each, ms\n' "$label"
    printf '  %-6s %8s %8s %8s  %11s   %s\n' pass 10th 100th 1000th 1000th/10th "paired with a 10th at the same moment: 10th 100th 1000th"
    for ((p = 1; p <= passes; p++)); do
        local f=$work/curve-$pfx-$p.txt ctl=ctlhost$p
        : >"$f"
        scale_conf "sc$p" br-scale 10.250.0.0/16 "$pfx" "$dir/pass$p" >"$work/sc$p.conflist"
        scale_conf "ctl$p" br-ctl 10.251.0.0/16 "$pfx" "$dir/pass$p" >"$work/ctl$p.conflist"
        ns "$ctl"
        ip netns exec "$ctl" sysctl -qw net.ipv4.ip_forward=1
        for ((i = 1; i <= 9; i++)); do
            ns "c$p-$i"
            cni_add "$ctl" "$work/ctl$p.conflist" "c$p-$i" $((5000 + i)) >/dev/null
        done
        ns "c$p-x"
        for ((i = 1; i <= n; i++)); do
            ns "s$p-$i"
            local t c=""
            t=$(cni_add "" "$work/sc$p.conflist" "s$p-$i" $((2000 + i)))
            if in_window "$i"; then
                c=$(cni_add "$ctl" "$work/ctl$p.conflist" "c$p-x" 5100)
                cni_del "$ctl" "$work/ctl$p.conflist" "c$p-x" 5100
            fi
            echo "$i $t $c" >>"$f"
        done
        print_pass "$p" "$f"
        files="$files $f"
        detach_all "s$p-" "$n" br-scale
        ip netns del "c$p-x"
        detach_all "c$p-" 9 br-ctl "$ctl"
        ip netns del "$ctl"
    done
    [ "$passes" -gt 1 ] && print_pass all "$files"
    printf '  all attaches: median %.2f ms, max %.2f ms (target: 1000th/10th <= 1.2)\n' \
        "$(cat $files | cut -d' ' -f2 | median)" "$(cat $files | cut -d' ' -f2 | sort -n | tail -1)"
}

# print_pass LABEL FILES: window medians, raw ratio, and the paired view
# (window median / median of its controls).
print_pass() {
    local m10 m100 m1000 c10 c100 c1000
    m10=$(window_median "$2" 2 8 12); c10=$(window_median "$2" 3 8 12)
    m100=$(window_median "$2" 2 95 105); c100=$(window_median "$2" 3 95 105)
    m1000=$(window_median "$2" 2 995 1005); c1000=$(window_median "$2" 3 995 1005)
    printf '  %-6s %8.2f %8.2f %8.2f  %11s   %s\n' "$1" "$m10" "${m100:-0}" "${m1000:-0}" \
        "$(awk -v a="${m1000:-0}" -v b="$m10" 'BEGIN{printf "%.2f", a/b}')" \
        "$(awk -v a="$m10" -v b="$c10" -v c="${m100:-0}" -v d="${c100:-1}" -v e="${m1000:-0}" -v f="${c1000:-1}" \
            'BEGIN{printf "%.2f/%.2f=%.2f  %.2f/%.2f=%.2f  %.2f/%.2f=%.2f", a, b, a/b, c, d, c/d, e, f, e/f}')"
}

if [ "$SCALE_N" -gt 0 ]; then
    for state in $SCALE_STATE; do
        case $state in
        tmpfs) curve "berth-bridge + berth-portmap via berth cni add, state on tmpfs" berth- "$tmpfs" "$SCALE_PASSES" "$SCALE_N" ;;
        disk) curve "berth-bridge + berth-portmap via berth cni add, state on disk" berth- "$work" 1 "$SCALE_N" ;;
        *) echo "SCALE_STATE: tmpfs or disk" >&2; exit 2 ;;
        esac
    done
fi
if [ "$SCALE_REF_N" -gt 0 ]; then
    curve "reference bridge + portmap via berth cni add" "" "$work" 1 "$SCALE_REF_N"
fi
