#!/usr/bin/env bash
# berth's main demo: installs what it needs, builds berth (release), and runs
# berthd inside a throwaway sandbox (its own network, mount and PID
# namespaces, made with `unshare`), then drives it with berth's own CLI as a
# Docker user would: an image from the host's busybox, a user-defined
# network, a web container published on a port, a client that finds it by
# name through berthd's embedded DNS, the real `docker` CLI against the same
# daemon when it is installed, and a teardown that leaves nothing behind.
# The machine's own networking is never touched.
#
#   ./scripts/demo.sh            # as root
#   BERTH_BIN=/path/to/berth ./scripts/demo.sh   # use that binary, skip install and build
#
# Structure: one function per step; OUTSIDE_STEPS run on the machine,
# INSIDE_STEPS run in the sandbox. Each step prints what it does first.
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$PWD

# Debian packages the demo relies on.
PACKAGES=(busybox-static nftables iproute2 jq util-linux procps)
OUTSIDE_STEPS=(check_root install_deps build_berth enter_sandbox)
INSIDE_STEPS=(show_sandbox show_berth start_berthd make_image create_network run_web
              fetch_by_name fetch_by_published_port docker_cli_too teardown check_nothing_left)

source "$repo/scripts/demo-lib.sh"

# ----------------------------------------------------------------- inside --

# berthd's state lives on a tmpfs in this mount namespace; its containers'
# cgroups under a parent named for this run, removed at the end.
inside_setup() {
    sandbox_state demo
    trap on_exit EXIT
}

# If a step fails, stop berthd (its containers stop with the sandbox).
on_exit() {
    local rc=$?
    if [ -n "${BERTHD_PID:-}" ] && kill -0 "$BERTHD_PID" 2>/dev/null; then
        berth rm -f web >/dev/null 2>&1 || true
        kill -TERM "$BERTHD_PID" 2>/dev/null || true
        wait "$BERTHD_PID" 2>/dev/null || true
    fi
    remove_cgroups
    [ "$rc" = 0 ] || say "demo failed at step $step_no (berthd's log: see above)" >&2
    exit "$rc"
}

show_sandbox() {
    banner "the sandbox is a host of its own: only a loopback link"
    run ip -br link
}

show_berth() {
    banner "the berth binary"
    run "$BERTH_BIN" --version
}

start_berthd() {
    banner "start berthd (berth daemon), Docker Engine API on $SOCK"
    say "+ berth daemon -H $BERTH_HOST --data-root $work/lib --exec-root $work/exec --cgroup-parent $CGROUP_PARENT &"
    "$BERTH_BIN" daemon -H "$BERTH_HOST" --data-root "$work/lib" --exec-root "$work/exec" \
        --cgroup-parent "$CGROUP_PARENT" --config-file "$work/daemon.json" \
        </dev/null >"$work/berthd.log" 2>&1 &
    BERTHD_PID=$!
    echo '{}' >"$work/daemon.json"
    local i
    for i in $(seq 1 100); do
        berth version --format '{{.Server.Version}}' >/dev/null 2>&1 && break
        kill -0 "$BERTHD_PID" 2>/dev/null || { cat "$work/berthd.log" >&2; fail "berthd exited"; }
        sleep 0.1
    done
    run berth version
    say "the default network's bridge, made by berthd:"
    run ip -br addr show berth0
}

make_image() {
    banner "make an image from the host's busybox (no registry): berth import of a rootfs tar"
    local r=$work/rootfs
    mkdir -p "$r/bin" "$r/etc" "$r/www"
    cp /bin/busybox "$r/bin/busybox"
    chroot "$r" /bin/busybox --install -s /bin
    echo "root:x:0:0:root:/:/bin/sh" >"$r/etc/passwd"
    echo "root:x:0:" >"$r/etc/group"
    echo "hello from berth's web container" >"$r/www/index.html"
    say "+ tar -C $r -c . | berth import - demo/busybox:latest"
    tar -C "$r" -c . | berth import - demo/busybox:latest
    run berth images
}

create_network() {
    banner "a user-defined bridge network: isolated, with name resolution"
    run berth network create --subnet 10.89.0.0/24 demo
    run berth network ls
}

run_web() {
    banner "run the web container on it (busybox httpd), publishing 8080 -> 80"
    run berth run -d --name web --network demo -p 8080:80 demo/busybox:latest httpd -f -p 80 -h /www
    run berth ps
    WEB_IP=$(berth inspect -f '{{.NetworkSettings.Networks.demo.IPAddress}}' web)
    say "web's address on demo: $WEB_IP"
    run berth port web
    # Wait until httpd listens, bounded: it starts in well under a second.
    local i
    for i in $(seq 1 50); do
        berth exec web sh -c 'netstat -ltn | grep -q ":80 "' 2>/dev/null && break
        sleep 0.1
    done
}


fetch_by_name() {
    banner "a client container on the same network fetches http://web/ by name (berthd's DNS)"
    run berth run --rm --network demo demo/busybox:latest cat /etc/resolv.conf
    local page
    page=$(berth run --rm --network demo demo/busybox:latest wget -q -O - http://web/)
    say "client got: $page"
    [ "$page" = "hello from berth's web container" ] || fail "unexpected page: $page"
}

fetch_by_published_port() {
    banner "from the sandbox host, fetch the same page through the published port"
    local page
    page=$(nowget timeout 10 busybox wget -q -O - "http://127.0.0.1:8080/")
    say "host (127.0.0.1:8080) got: $page"
    [ "$page" = "hello from berth's web container" ] || fail "unexpected page: $page"
}

docker_cli_too() {
    banner "the real docker CLI talks to the same daemon"
    if ! command -v docker >/dev/null 2>&1; then
        say "no docker CLI installed: skipped"
        return
    fi
    run env DOCKER_HOST="$BERTH_HOST" docker ps --format 'table {{.Names}}\t{{.Image}}\t{{.Status}}\t{{.Ports}}'
    run env DOCKER_HOST="$BERTH_HOST" docker network inspect demo --format '{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}'
}

teardown() {
    banner "tear down: remove the container and the network, stop berthd"
    run berth rm -f web
    run berth network rm demo
    run berth image rm demo/busybox:latest
    say "+ kill -TERM $BERTHD_PID  (berthd)"
    kill -TERM "$BERTHD_PID"
    wait "$BERTHD_PID" || true
    BERTHD_PID=
}

check_nothing_left() {
    banner "check: no container process, no veth, no published port, no mount left"
    local veths
    veths=$(ip -br link show type veth | wc -l)
    say "veths: $veths"
    [ "$veths" = 0 ] || fail "veths left: $(ip -br link show type veth)"
    if nft list ruleset 2>/dev/null | grep -q 8080; then
        fail "port mapping left"
    fi
    if grep -q " $work/lib" /proc/self/mountinfo; then
        fail "mounts left: $(grep " $work/lib" /proc/self/mountinfo)"
    fi
    local left
    left=$(ps -e -o pid=,comm= | awk '$2 == "httpd" || $2 == "berth"' | wc -l)
    [ "$left" = 0 ] || fail "processes left: $(ps -e -o pid=,comm= | awk '$2 == "httpd" || $2 == "berth"')"
    remove_cgroups
    say "clean. Leaving the sandbox: its namespaces, links, rules and mounts vanish with it."
}

# ------------------------------------------------------------------- main --

demo_main "$@"
