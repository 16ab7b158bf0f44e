# Shared by berth's demos (sourced, not run): printing, and the steps that run
# on the machine before a demo enters its sandbox. A demo sets PACKAGES,
# OUTSIDE_STEPS and INSIDE_STEPS, defines its inside steps, then calls
# demo_main "$@".

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
fail() {
    say "demo failed: $*" >&2
    exit 1
}

check_root() {
    banner "check that we run as root"
    if [ "$(id -u)" != 0 ]; then
        say "$(basename "$0") needs root (it creates namespaces): sudo $0" >&2
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
    if [ -n "${BERTH_BIN:-}" ]; then
        fail "missing packages: ${missing[*]} (BERTH_BIN is set, so the demo installs nothing)"
    fi
    export DEBIAN_FRONTEND=noninteractive
    run apt-get update -q
    run apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
}

build_berth() {
    if [ -n "${BERTH_BIN:-}" ]; then
        banner "use the berth binary given in BERTH_BIN"
        [ -x "$BERTH_BIN" ] || fail "BERTH_BIN=$BERTH_BIN is not an executable"
        say "using $BERTH_BIN"
        return
    fi
    banner "build berth (cargo build --release -p berth --bin berth)"
    if ! command -v cargo >/dev/null 2>&1; then
        local d
        for d in "${HOME:-/root}/.cargo/bin" /root/.cargo/bin; do
            [ -x "$d/cargo" ] && PATH="$d:$PATH" && break
        done
    fi
    command -v cargo >/dev/null 2>&1 || { say "cargo not found: install Rust first" >&2; exit 2; }
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
    run cargo build --release -p berth --bin berth
    BERTH_BIN="$CARGO_TARGET_DIR/release/berth"
    say "built $BERTH_BIN"
}

enter_sandbox() {
    banner "enter a throwaway sandbox (unshare --net --mount --pid --fork)"
    say "everything below happens in fresh namespaces that vanish when the demo ends"
    # --kill-child: if this script dies, the sandbox dies with it.
    run unshare --net --mount --pid --fork --kill-child --propagation private --mount-proc \
        env BERTH_BIN="$BERTH_BIN" DEMO_STEP_NO="$step_no" "$0" --inside
}

# Inside the sandbox: lo up, /run on a tmpfs (berthd's state and the
# sandbox's /run vanish with it), berthd's dirs and socket under
# /run/berth-NAME, and a cgroup parent named for this run. Sets work, SOCK,
# BERTH_HOST, CGROUP_PARENT.
sandbox_state() {
    ip link set lo up
    mount -t tmpfs -o mode=0755 "berth-$1-run" /run
    work=/run/berth-$1
    mkdir -p "$work/lib" "$work/exec"
    SOCK="$work/berth.sock"
    export BERTH_HOST="unix://$SOCK"
    CGROUP_PARENT="berth-$1-$(od -An -N4 -tx4 /dev/urandom | tr -d " ")"
}

# A relative cgroup parent lands below this process's own cgroup in each
# hierarchy, so look a few levels down.
remove_cgroups() {
    local d
    find /sys/fs/cgroup -maxdepth 6 -type d -name "$CGROUP_PARENT" 2>/dev/null |
        while read -r d; do find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done
    return 0
}

berth() { "$BERTH_BIN" "$@"; }

# launch_berthd [daemon flags...]: berthd on $SOCK with the sandbox's state
# dirs and cgroup parent (sandbox_state), a daemon.json of `{}`, its log in
# $work/berthd.log; waits until it answers. Sets BERTHD_PID.
launch_berthd() {
    echo '{}' >"$work/daemon.json"
    "$BERTH_BIN" daemon -H "$BERTH_HOST" "$@" --data-root "$work/lib" --exec-root "$work/exec" \
        --cgroup-parent "$CGROUP_PARENT" --config-file "$work/daemon.json" \
        </dev/null >"$work/berthd.log" 2>&1 &
    BERTHD_PID=$!
    local i
    for i in $(seq 1 100); do
        berth version --format '{{.Server.Version}}' >/dev/null 2>&1 && break
        kill -0 "$BERTHD_PID" 2>/dev/null || { cat "$work/berthd.log" >&2; fail "berthd exited"; }
        sleep 0.1
    done
}

# stop_berthd: removes what a suite left (containers first, so their
# cgroups go), then stops berthd by its PID.
stop_berthd() {
    if [ -n "${BERTHD_PID:-}" ] && kill -0 "$BERTHD_PID" 2>/dev/null; then
        local ids
        ids=$(berth ps -aq 2>/dev/null || true)
        [ -z "$ids" ] || berth rm -f $ids >/dev/null 2>&1 || true
        kill -TERM "$BERTHD_PID" 2>/dev/null || true
        wait "$BERTHD_PID" 2>/dev/null || true
    fi
}

nowget() { env -u http_proxy -u https_proxy -u HTTP_PROXY -u HTTPS_PROXY -u no_proxy "$@"; }

# The outside steps, or (as `$0 --inside` in the sandbox) inside_setup and
# the inside steps.
demo_main() {
    if [ "${1:-}" = "--inside" ]; then
        step_no=${DEMO_STEP_NO:-0}
        inside_setup
        for s in "${INSIDE_STEPS[@]}"; do "$s"; done
    else
        for s in "${OUTSIDE_STEPS[@]}"; do "$s"; done
        say ""
        say "demo finished"
    fi
}
