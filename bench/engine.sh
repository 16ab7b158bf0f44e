#!/usr/bin/env bash
# Engine benchmarks: berthd vs Debian's podman and a confined dockerd
# (docker.io 20.10), side by side in one run, inside one throwaway sandbox
# (own network, mount and PID namespaces; every state dir on a tmpfs).
# usage: sudo bench/engine.sh     (RUNS=20 WARMUP=2 ROUNDS=5; N=100 P=10 for
#                                  the fleet; FLEET=0 runs section 1 only)
#
#  1. `run --rm --network none busybox true`, then `run --rm busybox true`
#     on each engine's default network (berthd's bridge `berth0`,
#     dockerd's docker0, podman's `podman` network through netavark):
#     berth's CLI -> berthd, the docker CLI (v28, /usr/local/bin/docker)
#     -> berthd, the same docker CLI -> dockerd 20.10, podman (runc,
#     cgroupfs). Medians and ratios; the RUNS are split into ROUNDS
#     hyperfine passes over all four, so drift hits each alike.
#  2. N containers `run -d --network none busybox sleep` P at a time, then
#     `rm -f` of them all (P at a time): total time, and the peak of the
#     summed RSS of every process in the sandbox except the containers'
#     own (`sleep`) and this script's (sampled every 50 ms).
#  3. berthd's idle RSS, and RSS/PSS per monitor (berth-monitor) with 10
#     containers running (conmon and containerd-shim-runc-v2 beside them).
#
# dockerd runs with its default bridge (docker0, --bip 10.239.0.1/16) and
# its iptables(-nft) rules, podman with netavark (10.234.0.0/16), berthd
# with its own default (the first free /16 from 172.17.0.0): all of it in
# the sandbox's netns only. containerd is started by dockerd; both die
# with the sandbox. podman gets limits at or under this root's hard
# limits (MACHINE.md).
source "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-20}
WARMUP=${WARMUP:-2}
N=${N:-100}
P=${P:-10}
ROUNDS=${ROUNDS:-5}
FLEET=${FLEET:-1}
need busybox-static hyperfine jq podman docker.io netavark iptables
build_berth
in_sandbox "$0" "$@"

DOCKER=${DOCKER_CLI:-/usr/local/bin/docker}
[ -x "$DOCKER" ] || DOCKER=$(command -v docker)
work=$(mktemp -d /run/berth-bench-engine.XXXXXX) # /run is the sandbox's tmpfs
mount -t tmpfs berth-bench-varlib /var/lib       # podman/containerd caches stay here
CG=berth-bench-engine-$$

# A sysfs of this netns (dockerd and podman read /sys/class/net), with the
# cgroup hierarchies kept visible under it.
mkdir -p "$work/cgstash"
mount --rbind /sys/fs/cgroup "$work/cgstash"
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
mount --rbind "$work/cgstash" /sys/fs/cgroup
umount -l "$work/cgstash"

BERTHD_PID= DOCKERD_PID=
cleanup() {
    set +e
    [ -n "$DOCKERD_PID" ] && "$DOCKER" -H "unix://$work/docker.sock" ps -aq 2>/dev/null | xargs -r "$DOCKER" -H "unix://$work/docker.sock" rm -f >/dev/null 2>&1
    [ -n "$BERTHD_PID" ] && "$BERTH" -H "unix://$work/berth.sock" ps -aq 2>/dev/null | xargs -r "$BERTH" -H "unix://$work/berth.sock" rm -f >/dev/null 2>&1
    "${PODMAN[@]}" rm -af >/dev/null 2>&1
    [ -n "$DOCKERD_PID" ] && kill "$DOCKERD_PID" 2>/dev/null
    [ -n "$BERTHD_PID" ] && kill "$BERTHD_PID" 2>/dev/null
    sleep 1
    for h in /sys/fs/cgroup/*/"$CG" /sys/fs/cgroup/unified/"$CG"; do
        [ -d "$h" ] && find "$h" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    # everything else (processes, mounts, netns) dies with the sandbox
}
trap cleanup EXIT

# --- the image: busybox, imported into each engine ---------------------------
root=$work/rootfs && mkdir -p "$root/bin" "$root/etc" "$root/tmp"
cp /bin/busybox "$root/bin/" && ln -s busybox "$root/bin/sh" && ln -s busybox "$root/bin/sleep" && ln -s busybox "$root/bin/true"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
tar -C "$root" -cf "$work/busybox.tar" .

# --- berthd --------------------------------------------------------------------
echo '{}' >"$work/berth.json"
"$BERTH" daemon -H "unix://$work/berth.sock" --data-root "$work/berth-lib" --exec-root "$work/berth-run" \
    --config-file "$work/berth.json" --cgroup-parent "/$CG/berth" --log-level warn >"$work/berthd.log" 2>&1 &
BERTHD_PID=$!
B=("$BERTH" -H "unix://$work/berth.sock")
DB=("$DOCKER" -H "unix://$work/berth.sock")

# --- dockerd 20.10 ---------------------------------------------------------------
echo "{\"deprecated-key-path\": \"$work/docker-key.json\"}" >"$work/docker.json"
dockerd --config-file "$work/docker.json" --data-root "$work/docker-lib" --exec-root "$work/docker-run" \
    -H "unix://$work/docker.sock" --pidfile "$work/docker.pid" --exec-opt native.cgroupdriver=cgroupfs \
    --cgroup-parent "/$CG/docker" --bip 10.239.0.1/16 --ip6tables=false --userland-proxy=false \
    --storage-driver overlay2 --log-level warn >"$work/dockerd.log" 2>&1 &
DOCKERD_PID=$!
DD=("$DOCKER" -H "unix://$work/docker.sock")

# --- podman ------------------------------------------------------------------------
nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] && nofile=1048576
nproc=$(ulimit -Hu); { [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; } && nproc=32768
mkdir -p "$work/podman-tmp" "$work/podman-networks"
cat >"$work/containers.conf" <<EOF
[containers]
log_driver = "k8s-file"
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$work/podman-tmp/events.log"
runtime = "runc"
tmp_dir = "$work/podman-tmp"
[network]
network_backend = "netavark"
network_config_dir = "$work/podman-networks"
default_subnet = "10.234.0.0/16"
EOF
export CONTAINERS_CONF=$work/containers.conf CONTAINERS_REGISTRIES_CONF=/dev/null
PODMAN=(podman --root "$work/podman-root" --runroot "$work/podman-run" --tmpdir "$work/podman-tmp"
        --cgroup-manager cgroupfs --events-backend file --storage-driver overlay
        --network-backend netavark --network-config-dir "$work/podman-networks")
PRUN="--cgroup-parent /$CG/podman"

for _ in $(seq 200); do
    "${B[@]}" version >/dev/null 2>&1 && "${DD[@]}" version >/dev/null 2>&1 && break
    sleep 0.1
done
"${B[@]}" version >/dev/null || { cat "$work/berthd.log"; exit 1; }
"${DD[@]}" version >/dev/null || { tail -20 "$work/dockerd.log"; exit 1; }
"${B[@]}" import --change 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null
"${DD[@]}" import --change 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null
"${PODMAN[@]}" import --change 'CMD ["sh"]' "$work/busybox.tar" localhost/busybox:latest >/dev/null

echo "berth $("${B[@]}" version --format '{{.Server.Version}}' 2>/dev/null), dockerd $("${DD[@]}" version --format '{{.Server.Version}}') ($(containerd --version | awk '{print $3}'), runc), $(podman --version) (runc, cgroupfs); docker CLI $("$DOCKER" version --format '{{.Client.Version}}' 2>/dev/null)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
# Each engine's default network really is a bridge with an address.
echo "default networks: berth $("${B[@]}" run --rm busybox busybox ip -o -4 addr show eth0 | awk '{print $4}'),"\
" dockerd $("${DD[@]}" run --rm busybox busybox ip -o -4 addr show eth0 | awk '{print $4}'),"\
" podman $("${PODMAN[@]}" run --rm $PRUN localhost/busybox busybox ip -o -4 addr show eth0 | awk '{print $4}')"

# --- 1. run --rm true --------------------------------------------------------------------
# same_cli_ratio: docker CLI -> berthd over docker CLI -> dockerd, from the
# times compare kept in $work/cmp.json (the same client, two servers).
same_cli_ratio() {
    jq -r 'def med: sort | if length % 2 == 1 then .[(length - 1) / 2] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
        "  same docker CLI: berthd/dockerd 20.10 = \((.["docker CLI -> berthd"] | med) / (.["docker CLI -> dockerd 20.10"] | med) * 100 | round / 100) (target <= 0.4)"' "$work/cmp.json"
}
export COMPARE_JSON=$work/cmp.json
compare "run --rm --network none busybox true" \
    "berth CLI -> berthd" "${B[*]} run --rm --network none busybox true" \
    "docker CLI -> berthd" "${DB[*]} run --rm --network none busybox true" \
    "docker CLI -> dockerd 20.10" "${DD[*]} run --rm --network none busybox true" \
    "podman" "${PODMAN[*]} run --rm $PRUN --network none localhost/busybox true"
same_cli_ratio
compare "run --rm busybox true (default network: a bridge)" \
    "berth CLI -> berthd" "${B[*]} run --rm busybox true" \
    "docker CLI -> berthd" "${DB[*]} run --rm busybox true" \
    "docker CLI -> dockerd 20.10" "${DD[*]} run --rm busybox true" \
    "podman (netavark)" "${PODMAN[*]} run --rm $PRUN localhost/busybox true"
same_cli_ratio
echo "  (targets: berth <= 0.5 x podman; goal 0.2)"
unset COMPARE_JSON
[ "$FLEET" = 1 ] || exit 0

# --- 2. N containers, P at a time -----------------------------------------------------------
# rss_total REGEX: summed VmRSS (kB) of the sandbox's processes whose
# comm matches (an engine's daemons, shims/monitors, runtimes and CLIs).
rss_total() {
    local sum=0 comm rss
    for d in /proc/[0-9]*; do
        { read -r comm <"$d/comm"; } 2>/dev/null || continue
        [[ $comm =~ $1 ]] || continue
        rss=$(awk '/^VmRSS/{print $2}' "$d/status" 2>/dev/null || true)
        sum=$((sum + ${rss:-0}))
    done
    echo "$sum"
}
fleet() { # fleet NAME COMM-REGEX CLI...: N run -d, P at a time, then rm -f of them all
    local name=$1 re=$2; shift 2
    local cli=("$@") peak=0 base t0 t1 t2 ids
    local run=(run -d --network none)
    [ "$name" = podman ] && run+=($PRUN)
    local img=busybox
    [ "$name" = podman ] && img=localhost/busybox
    base=$(rss_total "$re")
    ( while :; do rss_total "$re"; sleep 0.05; done ) >"$work/rss.$name" &
    local sampler=$!
    t0=$(date +%s%N)
    seq "$N" | xargs -P "$P" -I{} "${cli[@]}" "${run[@]}" "$img" sleep 1000 >/dev/null
    t1=$(date +%s%N)
    ids=$("${cli[@]}" ps -aq)
    # podman's rm -f stops with SIGTERM and a 10 s grace (sleep as PID 1
    # ignores it); docker's and berth's rm -f kill at once: -t 0 alike.
    local rm=(rm -f)
    [ "$name" = podman ] && rm+=(-t 0)
    echo "$ids" | xargs -P "$P" -n 1 "${cli[@]}" "${rm[@]}" >/dev/null
    t2=$(date +%s%N)
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    peak=$(sort -n "$work/rss.$name" | tail -1)
    local left
    left=$("${cli[@]}" ps -aq | grep -c . || true)
    printf '  %-28s run -d x%d: %7.0f ms   rm -f: %7.0f ms   total %7.0f ms   peak RSS %6.1f MiB (idle %5.1f MiB)   left %d\n' \
        "$name" "$(echo "$ids" | grep -c .)" "$(( (t1 - t0) / 1000000 ))" "$(( (t2 - t1) / 1000000 ))" "$(( (t2 - t0) / 1000000 ))" \
        "$(awk -v k="$peak" 'BEGIN{print k/1024}')" "$(awk -v k="$base" 'BEGIN{print k/1024}')" "$left"
    echo "$(( (t2 - t0) / 1000000 )) $peak" >"$work/fleet.$name"
}
printf '\n== %d containers run -d (%d at a time), then rm -f (%d at a time)\n' "$N" "$P" "$P"
fleet "berth CLI -> berthd" '^berth$' "${B[@]}"
fleet "docker CLI -> berthd" '^(berth|docker)$' "${DB[@]}"
fleet "docker CLI -> dockerd 20.10" '^(docker|dockerd|containerd|containerd-shim|runc|docker-init)' "${DD[@]}"
fleet podman '^(podman|conmon|runc)$' "${PODMAN[@]}"
read -r bt bp <"$work/fleet.berth CLI -> berthd"
for peer in "docker CLI -> dockerd 20.10" podman; do
    read -r pt pp <"$work/fleet.$peer"
    printf '  berth CLI vs %-28s time %.2f   peak RSS %.2f\n' "$peer" "$(awk -v a="$bt" -v b="$pt" 'BEGIN{print a/b}')" "$(awk -v a="$bp" -v b="$pp" 'BEGIN{print a/b}')"
done

# --- 3. idle and per-container memory ---------------------------------------------------------
kb() { awk -v f="$2" '$1 == f":" {print $2}' "/proc/$1/${3:-status}" 2>/dev/null || echo 0; }
printf '\n== memory (kB; RSS counts shared pages in full, PSS shares them out)\n'
sleep 1
echo "  berthd idle:  VmRSS $(kb "$BERTHD_PID" VmRSS)  Pss $(kb "$BERTHD_PID" Pss smaps_rollup)  (target RSS <= 15360)"
for _ in $(seq 10); do "${B[@]}" run -d --network none busybox sleep 1000 >/dev/null; done
for _ in $(seq 10); do "${DD[@]}" run -d --network none busybox sleep 1000 >/dev/null; done
for _ in $(seq 10); do "${PODMAN[@]}" run -d $PRUN --network none localhost/busybox sleep 1000 >/dev/null; done
per() { # per COMM-PATTERN LABEL: mean VmRSS and Pss of matching processes
    local pat=$1 label=$2 n=0 rss=0 pss=0 p
    for p in $(pgrep -f "$pat"); do
        n=$((n + 1))
        rss=$((rss + $(kb "$p" VmRSS))); pss=$((pss + $(kb "$p" Pss smaps_rollup)))
    done
    [ "$n" -gt 0 ] && printf '  %-26s x%-3d mean VmRSS %6d  mean Pss %6d\n' "$label" "$n" $((rss / n)) $((pss / n))
}
# berthd starts berth-monitor from beside its binary, else `berth monitor`.
per "^($(dirname "$BERTH")/berth-monitor |$BERTH monitor )" "berth monitor"
per "^/usr/bin/conmon" "podman conmon"
per "containerd-shim-runc-v2" "containerd-shim-runc-v2"
echo "  berthd with 10 running:  VmRSS $(kb "$BERTHD_PID" VmRSS)  Pss $(kb "$BERTHD_PID" Pss smaps_rollup)"
