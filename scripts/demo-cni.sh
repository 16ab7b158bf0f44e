#!/usr/bin/env bash
# berth's CNI demo (the runtime and CNI plugins, no daemon): installs what it
# needs, builds berth (release; or uses BERTH_BIN), and runs the demo inside a
# throwaway sandbox (its own network, mount and PID namespaces, made with
# `unshare`), so the machine's own networking is never touched and nothing is
# left behind.
#
# Structure: one function per step; OUTSIDE_STEPS run on the machine,
# INSIDE_STEPS run in the sandbox. To grow the demo, add a function and list
# it. Each step prints what it does before doing it.
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$PWD

# Debian packages the demo (and the tests) rely on.
PACKAGES=(busybox-static nftables iproute2 runc crun containernetworking-plugins jq util-linux procps)
OUTSIDE_STEPS=(check_root install_deps build_berth enter_sandbox)
INSIDE_STEPS=(show_sandbox show_berth build_bundles make_netns write_network attach_networks
              start_web fetch_by_ip fetch_by_published_port teardown check_nothing_left)

source "$repo/scripts/demo-lib.sh"

# ----------------------------------------------------------------- inside --

# Private /run and a scratch dir; everything lives in this mount namespace.
inside_setup() {
    ip link set lo up
    mount -t tmpfs -o mode=0755 berth-demo-run /run
    mkdir -p /run/netns /run/berth-demo/cni-bin /run/berth-demo/cni-cache /run/berth-demo/runtime
    work=/run/berth-demo
}

show_sandbox() {
    banner "the sandbox is a host of its own: only a loopback link"
    run ip -br link
}

show_berth() {
    banner "the berth binary"
    run "$BERTH_BIN" --version
}

# Every piece of state the demo makes lives under $work (a tmpfs inside the
# sandbox): runtime state, CNI cache, IPAM leases, port mappings.
cni() { berth cni --cni-path "$work/cni-bin" --cache-dir "$work/cni-cache" "$@"; }
rt() { berth runtime --root "$work/runtime" "$@"; }
HOST_IP=10.99.0.1

# bundle NAME ARGS...: a busybox rootfs + config.json whose container joins
# the network namespace /run/netns/NAME (made and attached beforehand).
bundle() {
    local name=$1; shift
    local b=$work/bundles/$name
    mkdir -p "$b/rootfs/bin" "$b/rootfs/etc" "$b/rootfs/www"
    cp /bin/busybox "$b/rootfs/bin/busybox"
    chroot "$b/rootfs" /bin/busybox --install -s /bin
    echo "root:x:0:0:root:/:/bin/sh" >"$b/rootfs/etc/passwd"
    echo "root:x:0:" >"$b/rootfs/etc/group"
    rt spec --bundle "$b"
    local args
    args=$(printf '%s\n' "$@" | jq -R . | jq -s -c .)
    jq --arg ns "/run/netns/$name" --arg host "$name" --argjson args "$args" \
        '.process.terminal = false | .process.args = $args | .hostname = $host
         | .linux.namespaces = [.linux.namespaces[] | if .type == "network" then .path = $ns else . end]' \
        <"$b/config.json" >"$b/config.json.new"
    mv "$b/config.json.new" "$b/config.json"
}

build_bundles() {
    banner "build two OCI bundles from the host's busybox (no registry): web and client"
    bundle web httpd -f -p 80 -h /www
    echo "hello from berth's web container" >"$work/bundles/web/rootfs/www/index.html"
    bundle client sh -c 'wget -q -O - "http://$WEB_IP/"'
    run ls "$work/bundles"
    say "web runs:    $(jq -c .process.args "$work/bundles/web/config.json")"
    say "network ns:  $(jq -c '.linux.namespaces[] | select(.type=="network")' "$work/bundles/web/config.json")"
}

make_netns() {
    banner "make a network namespace per container before it starts (the runtime joins it)"
    run ip netns add web
    run ip netns add client
    run ip netns list
}

write_network() {
    banner "a CNI network: berth-bridge (bridge demo0, gateway, masquerade) + berth-host-local IPAM + berth-portmap"
    local p
    for p in berth-bridge berth-host-local berth-portmap berth-loopback; do
        ln -sf "$BERTH_BIN" "$work/cni-bin/$p"
    done
    cat >"$work/demo.conflist" <<JSON
{
  "cniVersion": "1.1.0",
  "name": "demo",
  "plugins": [
    { "type": "berth-bridge", "bridge": "demo0", "isGateway": true, "ipMasq": true,
      "hairpinMode": true,
      "ipam": { "type": "berth-host-local", "subnet": "10.88.0.0/24",
                "routes": [ { "dst": "0.0.0.0/0" } ], "dataDir": "$work/ipam" } },
    { "type": "berth-portmap", "capabilities": { "portMappings": true },
      "dataDir": "$work/portmap" }
  ]
}
JSON
    run cat "$work/demo.conflist"
    say "the sandbox host's own address (stands for a host's external address): $HOST_IP"
    run ip addr add "$HOST_IP/32" dev lo
}

attach_networks() {
    banner "attach both namespaces through berth's CNI client (web publishes 8080 -> 80)"
    cni add -p 8080:80/tcp "$work/demo.conflist" /run/netns/web web eth0 >"$work/web.json"
    cni add "$work/demo.conflist" /run/netns/client client eth0 >"$work/client.json"
    WEB_IP=$(jq -r '.ips[0].address | split("/")[0]' "$work/web.json")
    say "web    got $(jq -r '.ips[0].address' "$work/web.json") (gateway $(jq -r '.ips[0].gateway' "$work/web.json"))"
    say "client got $(jq -r '.ips[0].address' "$work/client.json")"
    run ip -br link show master demo0
    run ip -n web -br addr show eth0
    run ip -n web route
}

start_web() {
    banner "start the web container with berth's OCI runtime (busybox httpd, detached)"
    run rt run --detach --bundle "$work/bundles/web" web </dev/null >/dev/null 2>&1
    run rt list
    # Wait until httpd listens, bounded: it starts in well under a second.
    local i
    for i in $(seq 1 50); do
        ip netns exec web cat /proc/net/tcp 2>/dev/null | awk '$4 == "0A"' | grep -q ':0050 ' && break
        sleep 0.1
    done
}


fetch_by_ip() {
    banner "run the client container: it fetches the page from web by IP ($WEB_IP)"
    jq --arg ip "$WEB_IP" '.process.env += ["WEB_IP=" + $ip]' "$work/bundles/client/config.json" \
        >"$work/c.json" && mv "$work/c.json" "$work/bundles/client/config.json"
    local page
    page=$(rt run --bundle "$work/bundles/client" client </dev/null)
    say "client got: $page"
    [ "$page" = "hello from berth's web container" ] || { say "unexpected page" >&2; exit 1; }
}

fetch_by_published_port() {
    banner "from the sandbox host, fetch the same page through the published port $HOST_IP:8080"
    run nft list map inet berth dnat4_any 2>/dev/null | sed -n '/elements/,/}/p' || true
    local page
    page=$(nowget timeout 10 busybox wget -q -O - "http://$HOST_IP:8080/")
    say "host got: $page"
    [ "$page" = "hello from berth's web container" ] || { say "unexpected page" >&2; exit 1; }
}

teardown() {
    banner "tear down: stop and delete the container, detach both networks, remove the namespaces"
    run rt kill web KILL
    local i
    for i in $(seq 1 50); do
        [ "$(rt state web | jq -r .status)" = stopped ] && break
        sleep 0.1
    done
    run rt delete web
    run cni del "$work/demo.conflist" /run/netns/web web eth0
    run cni del "$work/demo.conflist" /run/netns/client client eth0
    run ip netns del web
    run ip netns del client
}

check_nothing_left() {
    banner "check: no container state, no veth left on demo0, no published port"
    run rt list
    say "ports on demo0: $(ip -br link show master demo0 | wc -l)"
    [ "$(ip -br link show master demo0 | wc -l)" = 0 ] || { say "veths left" >&2; exit 1; }
    if nft list map inet berth dnat4_any 2>/dev/null | grep -q 8080; then
        say "port mapping left" >&2
        exit 1
    fi
    say "clean. Leaving the sandbox: its namespaces, links, rules and mounts vanish with it."
}

# ------------------------------------------------------------------- main --

demo_main "$@"
