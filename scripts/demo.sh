#!/usr/bin/env bash
# berth's main demo: installs what it needs, builds berth (release), and runs
# the demo inside a throwaway sandbox (its own network, mount and PID
# namespaces, made with `unshare`), so the machine's own networking is never
# touched and nothing is left behind.
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
INSIDE_STEPS=(show_sandbox show_berth cni_version_handshake cni_loopback_attach whats_next)

step_no=0
say() { printf '%s\n' "$*"; }
banner() {
    step_no=$((step_no + 1))
    say ""
    say "=== step $step_no: $*"
}
run() {
    say "+ $*"
    "$@"
}

# ---------------------------------------------------------------- outside --

check_root() {
    banner "check that we run as root"
    if [ "$(id -u)" != 0 ]; then
        say "demo.sh needs root (it creates namespaces): sudo $0" >&2
        exit 2
    fi
    say "running as root"
}

install_deps() {
    banner "install missing Debian packages: ${PACKAGES[*]}"
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ "${#missing[@]}" = 0 ]; then
        say "all present"
        return
    fi
    export DEBIAN_FRONTEND=noninteractive
    run apt-get update -q
    run apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
}

build_berth() {
    banner "build berth (cargo build --release -p berth)"
    if ! command -v cargo >/dev/null 2>&1; then
        local d
        for d in "${HOME:-/root}/.cargo/bin" /root/.cargo/bin; do
            [ -x "$d/cargo" ] && PATH="$d:$PATH" && break
        done
    fi
    command -v cargo >/dev/null 2>&1 || { say "cargo not found: install Rust first" >&2; exit 2; }
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
    run cargo build --release -p berth
    export BERTH_BIN="$CARGO_TARGET_DIR/release/berth"
    say "built $BERTH_BIN"
}

enter_sandbox() {
    banner "enter a throwaway sandbox (unshare --net --mount --pid --fork)"
    say "everything below happens in fresh namespaces that vanish when the demo ends"
    # --kill-child: if this script dies, the sandbox dies with it.
    run unshare --net --mount --pid --fork --kill-child --propagation private --mount-proc \
        env BERTH_BIN="$BERTH_BIN" DEMO_STEP_NO="$step_no" "$0" --inside
}

# ----------------------------------------------------------------- inside --

# Private /run and a scratch dir; everything lives in this mount namespace.
inside_setup() {
    ip link set lo up
    mount -t tmpfs -o mode=0755 berth-demo-run /run
    mkdir -p /run/netns /run/berth-demo/cni-bin /run/berth-demo/cni-cache
    work=/run/berth-demo
}

show_sandbox() {
    banner "the sandbox is a host of its own: only a loopback link"
    run ip -br link
}

show_berth() {
    banner "the berth binary"
    run "$BERTH_BIN" version
}

cni_version_handshake() {
    banner "berth's CNI client talks CNI 1.1 to berth's plugins and the reference plugins"
    # One binary, many roles: a plugin is the berth binary under its name.
    ln -sf "$BERTH_BIN" "$work/cni-bin/berth-loopback"
    run "$BERTH_BIN" cni --cni-path "$work/cni-bin" version berth-loopback
    if [ -x /usr/lib/cni/bridge ]; then
        run "$BERTH_BIN" cni --cni-path /usr/lib/cni version bridge
    fi
}

cni_loopback_attach() {
    banner "attach a container netns with berth's loopback plugin"
    run ip netns add demo1
    cat >"$work/lo.conflist" <<'JSON'
{ "cniVersion": "1.1.0", "name": "demo-lo", "plugins": [ { "type": "berth-loopback" } ] }
JSON
    say "before: $(ip -n demo1 -br link)"
    run "$BERTH_BIN" cni --cni-path "$work/cni-bin" --cache-dir "$work/cni-cache" \
        add "$work/lo.conflist" /run/netns/demo1 demo1 lo
    say "after:  $(ip -n demo1 -br link)"
    run "$BERTH_BIN" cni --cni-path "$work/cni-bin" --cache-dir "$work/cni-cache" \
        del "$work/lo.conflist" /run/netns/demo1 demo1 lo
    run ip netns del demo1
}

whats_next() {
    banner "what comes next"
    say "berth's OCI runtime, bridge networking and the two-container CNI demo are in"
    say "progress; see README.md for the status table. Leaving the sandbox now: its"
    say "namespaces, links and mounts disappear with it."
}

# ------------------------------------------------------------------- main --

if [ "${1:-}" = "--inside" ]; then
    step_no=${DEMO_STEP_NO:-0}
    inside_setup
    for s in "${INSIDE_STEPS[@]}"; do "$s"; done
else
    for s in "${OUTSIDE_STEPS[@]}"; do "$s"; done
    say ""
    say "demo finished"
fi
