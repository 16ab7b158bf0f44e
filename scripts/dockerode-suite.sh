#!/usr/bin/env bash
# Runs dockerode's own test suite (test/*.js of a dockerode checkout, mocha)
# against berthd, inside a throwaway sandbox: its own network, mount and PID
# namespaces (`unshare`), /run on a tmpfs (so /var/run/docker.sock, where
# dockerode's tests connect, is berthd's socket and the host's is never
# touched), berthd's state there too, its containers' cgroups under a parent
# named for this run and removed at the end. The machine's root network
# namespace is never touched.
#
#   DOCKERODE_SRC=/path/to/dockerode ./scripts/dockerode-suite.sh          # as root
#   DOCKERODE_SRC=... BERTH_BIN=... ./scripts/dockerode-suite.sh [mocha args]
#
# DOCKERODE_SRC must have its node_modules (`npm install` there: mocha,
# chai, memorystream, bluebird, docker-modem, tar-fs). NODE overrides the
# node binary. DRODE_FILES overrides the test files (names under test/,
# without .js); DRODE_NO_DESELECT=1 runs the deselected tests too;
# DRODE_KEEP_LOG=FILE keeps berthd's log. Extra arguments go to mocha.
#
# Images: the tests run `ubuntu` / `ubuntu:latest` (bash -c ..., uptime,
# wc, sleep, tail), their Dockerfiles say FROM ubuntu and FROM alpine,
# which they would pull from Docker Hub. The sandbox has no internet, so
# the script imports a rootfs made of the host's static busybox, with a
# /bin/bash that runs busybox's sh, and tags it ubuntu:latest,
# alpine:latest and busybox:latest.
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$PWD

# Not run: swarm.js needs swarm mode (services, secrets, configs, nodes,
# tasks and the swarm itself; berthd is a single engine without swarm);
# plugin.js needs managed plugins (pulled from Docker Hub, installed by
# dockerd's plugin manager, which berth does not have).
EXCLUDED_FILES="swarm plugin"

# util.js last: its prepareBuildContext test calls fs.rm without a
# callback, which on node >= 20 throws once the removal is done; mocha
# counts that against whatever test runs then and stops the run there.
DEFAULT_FILES="docker container image networks promises buildkit_test util"

# Deselected, with the reason. mocha has no per-test deselect, so these
# full titles (describe blocks and test, space-joined) become one
# `--grep ... --invert` pattern.
DESELECT=(
    # internet: pulls ubuntu:latest from Docker Hub
    "#docker #pull should pull image from remote source"
    "#docker #pull should pull image from remote source using followProgress"
    "#docker #pull should pull image from remote source using followProgress and firing only in the end"
    "#docker #pull should pull image from remote source using followProgress and pause"
    "#docker #createImage should create an image"
    # internet: searches Docker Hub
    "#docker #searchImages should return search results"
    # internet: asks Docker Hub for ubuntu:latest's distribution manifest
    "#image #distribution should distribution an image"
    # BuildKit: version=2 builds speak BuildKit's gRPC session protocol
    # (and pull=true pulls alpine from Docker Hub); berth has the classic
    # builder only
    "#docker #buildImage should build image with buildKit"
    "#followProgress integration should follow BuildKit build progress"
)

# Debian packages the sandbox relies on.
PACKAGES=(busybox-static nftables iproute2 util-linux)
OUTSIDE_STEPS=(check_root check_inputs build_berth enter_sandbox)
INSIDE_STEPS=(start_berthd make_image run_suite)

source "$repo/scripts/demo-lib.sh"

check_inputs() {
    banner "check dockerode's checkout and the node that runs it"
    [ -n "${DOCKERODE_SRC:-}" ] || fail "set DOCKERODE_SRC to a dockerode checkout"
    [ -f "$DOCKERODE_SRC/test/spec_helper.js" ] || fail "$DOCKERODE_SRC has no test/spec_helper.js"
    [ -f "$DOCKERODE_SRC/node_modules/mocha/bin/mocha.js" ] ||
        fail "$DOCKERODE_SRC has no node_modules/mocha: run npm install there"
    NODE=${NODE:-node}
    "$NODE" --version >/dev/null || fail "no node ($NODE)"
    export DOCKERODE_SRC NODE
    say "dockerode: $DOCKERODE_SRC; node: $("$NODE" --version)"
}

enter_sandbox() {
    banner "enter a throwaway sandbox (unshare --net --mount --pid --fork)"
    run unshare --net --mount --pid --fork --kill-child --propagation private --mount-proc \
        env BERTH_BIN="$BERTH_BIN" DEMO_STEP_NO="$step_no" DOCKERODE_SRC="$DOCKERODE_SRC" \
        NODE="$NODE" DRODE_NO_DESELECT="${DRODE_NO_DESELECT:-}" DRODE_FILES="${DRODE_FILES:-}" \
        DRODE_KEEP_LOG="${DRODE_KEEP_LOG:-}" "$0" --inside "$@"
}

# ----------------------------------------------------------------- inside --

inside_setup() {
    sandbox_state drode
    trap on_exit EXIT
}

# Remove what the suite left (containers first, so their cgroups go), stop
# berthd by its PID, then remove the cgroup parent.
on_exit() {
    local rc=$?
    stop_berthd
    remove_cgroups
    exit "$rc"
}

start_berthd() {
    banner "start berthd on $SOCK (and /var/run/docker.sock, the sandbox's own /run)"
    launch_berthd
    # /run is this sandbox's tmpfs (sandbox_state), so this link is gone
    # with the sandbox; dockerode's spec_helper only looks here.
    ln -sf "$SOCK" /run/docker.sock
    [ -S /var/run/docker.sock ] || fail "/var/run/docker.sock is not berthd's socket"
    say "berthd pid $BERTHD_PID"
}

make_image() {
    banner "import the host's busybox as ubuntu:latest, alpine:latest, busybox:latest"
    local r=$work/rootfs
    mkdir -p "$r"/{bin,sbin,etc,tmp,root,dev,proc,sys,home,mnt,opt,srv,run,lib,media}
    mkdir -p "$r"/usr/{bin,sbin,lib,local/bin} "$r"/var/{opt,tmp,log,lib,cache,spool,empty}
    chmod 1777 "$r/tmp" "$r/var/tmp"
    cp /bin/busybox "$r/bin/busybox"
    chroot "$r" /bin/busybox --install -s /bin
    # The tests say `bash -c ...` and `bash` reading commands on stdin;
    # busybox's sh runs all of them.
    printf '#!/bin/sh\nexec /bin/sh "$@"\n' >"$r/bin/bash"
    chmod 755 "$r/bin/bash"
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
        >"$r/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
    tar -C "$r" -c . | berth import --change 'CMD ["bash"]' - ubuntu:latest >/dev/null
    berth tag ubuntu:latest alpine:latest
    berth tag ubuntu:latest busybox:latest
    berth images
}

# mocha's --grep is a regular expression: escape the titles' specials.
deselect_pattern() {
    local t out=""
    for t in "${DESELECT[@]}"; do
        t=$(printf '%s' "$t" | sed 's/[][\\.^$*+?(){}|/]/\\&/g')
        out="${out:+$out|}^$t\$"
    done
    printf '%s' "$out"
}

run_suite() {
    banner "run dockerode's tests against berthd"
    local files=${DRODE_FILES:-$DEFAULT_FILES} f args=()
    for f in $files; do
        case " $EXCLUDED_FILES " in *" $f "*) say "skip $f (swarm/plugin)"; continue ;; esac
        args+=("test/$f.js")
    done
    if [ -z "${DRODE_NO_DESELECT:-}" ]; then
        args+=(--grep "$(deselect_pattern)" --invert)
    fi
    cd "$DOCKERODE_SRC"
    say "+ mocha -R spec --exit ${args[*]} ${MOCHA_ARGS[*]}"
    set +e
    # spec_helper.js reads `DOCKER_SOCKET || isWin ? pipe : sock`, so a set
    # DOCKER_SOCKET would pick the Windows pipe: unset, and DOCKER_HOST too.
    env -u DOCKER_HOST -u DOCKER_SOCKET "$NODE" node_modules/mocha/bin/mocha.js -R spec --exit \
        "${args[@]}" "${MOCHA_ARGS[@]}"
    SUITE_RC=$?
    set -e
    say "mocha exit status $SUITE_RC; berthd's log: $work/berthd.log (gone with the sandbox)"
    [ -z "${DRODE_KEEP_LOG:-}" ] || cp "$work/berthd.log" "$DRODE_KEEP_LOG"
}

# ------------------------------------------------------------------- main --

if [ "${1:-}" = "--inside" ]; then
    shift
    MOCHA_ARGS=("$@")
    step_no=${DEMO_STEP_NO:-0}
    inside_setup
    for s in "${INSIDE_STEPS[@]}"; do "$s"; done
    exit 0
fi
BERTH_BIN=${BERTH_BIN:-$repo/target/debug/berth}
for s in "${OUTSIDE_STEPS[@]}"; do "$s" "$@"; done
