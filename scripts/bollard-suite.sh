#!/usr/bin/env bash
# Runs bollard's own integration tests (tests/*.rs of a bollard checkout,
# the Rust Docker client) against berthd, inside a throwaway sandbox: its
# own network, mount and PID namespaces (`unshare`), berthd's state and a
# registry's storage on a tmpfs, its containers' cgroups under a parent
# named for this run and removed at the end. The machine's root network
# namespace is never touched.
#
#   BOLLARD_SRC=/path/to/bollard ./scripts/bollard-suite.sh            # as root
#   BOLLARD_SRC=... BERTH_BIN=... ./scripts/bollard-suite.sh [test-binary args]
#
# The tests are built outside the sandbox (`cargo test --no-run`: crates
# come from crates.io, into BOLLARD_TARGET_DIR, default
# $BOLLARD_SRC/target) and run inside it offline, one thread, as bollard's
# CI does (resources/dockerfiles/bin/run_integration_tests.sh).
# BOLLARD_FEATURES: cargo features (default "chrono", as CI's test_chrono
# job: the unix tests plus the ones that need a time crate).
# BOLLARD_TESTS overrides the test files (names under tests/, no .rs).
# Extra arguments go to the test binaries (e.g. a name filter, --exact).
# Exit status: cargo test's (0 when every test passed).
#
# Registry: the tests pull localhost:5000/hello-world:linux,
# localhost:5000/alpine and localhost:5000/fussybeaver/uhttpd with basic
# auth (user "bollard", password REGISTRY_PASSWORD), and push
# localhost:5000/my-hello-world. CI runs registry:2 with an htpasswd file;
# here it is Debian's docker-registry (same code, distribution 2.8) on
# 127.0.0.1:5000 inside the sandbox, with an htpasswd file from
# apache2-utils. The images are made from the host's static busybox (the
# sandbox has no internet) and pushed there through berthd:
#   hello-world:linux   /hello, a busybox sh script printing hello-world's
#                       text ("\nHello from Docker!\n..."; a test reads its
#                       second log line), CMD ["/hello"]
#   alpine              busybox with alpine's layout and users, CMD ["/bin/sh"]
#   fussybeaver/uhttpd  busybox plus /usr/sbin/run_uhttpd (busybox httpd
#                       takes uhttpd's -f -p 80 -h /www), /www/index.html
#                       and OpenWrt's /etc/config/uhttpd (a test cats it)
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$PWD

# Not run: these need swarm mode (configs, secrets, services, nodes, tasks
# and the swarm itself are swarm objects; berthd is a single engine without
# swarm), managed plugins (installed from Docker Hub by dockerd's plugin
# manager, which berth does not have), a podman service, or BuildKit
# (export_test is all BuildKit sessions: without the buildkit feature it
# compiles to nothing).
EXCLUDED_TESTS="config_test secret_test service_test node_test task_test swarm_test plugin_test
 podman_test export_test"

DEFAULT_TESTS="container_test image_test exec_test network_test volume_test system_test
 version_test distribution race_test"

# Skipped, with the reason (libtest --skip, exact names).
SKIP=(
    # internet: searches Docker Hub for hello-world
    "integration_test_search_images"
)

PACKAGES=(busybox-static docker-registry apache2-utils nftables iproute2 util-linux)
OUTSIDE_STEPS=(check_root check_inputs build_berth build_tests enter_sandbox)
INSIDE_STEPS=(start_berthd start_registry make_images run_suite)

source "$repo/scripts/demo-lib.sh"

check_inputs() {
    banner "check bollard's checkout, cargo and the registry"
    [ -n "${BOLLARD_SRC:-}" ] || fail "set BOLLARD_SRC to a bollard checkout"
    [ -f "$BOLLARD_SRC/tests/common/mod.rs" ] || fail "$BOLLARD_SRC has no tests/common/mod.rs"
    local t
    for t in docker-registry htpasswd busybox unshare; do
        command -v "$t" >/dev/null || fail "$t not found (Debian packages: ${PACKAGES[*]})"
    done
    if ! command -v cargo >/dev/null 2>&1; then
        local d
        for d in "${HOME:-/root}/.cargo/bin" /root/.cargo/bin; do
            [ -x "$d/cargo" ] && PATH="$d:$PATH" && break
        done
    fi
    command -v cargo >/dev/null || fail "cargo not found: install Rust first"
    BOLLARD_FEATURES=${BOLLARD_FEATURES-chrono}
    BOLLARD_TARGET_DIR=${BOLLARD_TARGET_DIR:-$BOLLARD_SRC/target}
    export BOLLARD_SRC BOLLARD_FEATURES BOLLARD_TARGET_DIR PATH
    say "bollard: $BOLLARD_SRC ($(git -C "$BOLLARD_SRC" log -1 --format=%h 2>/dev/null || echo '?'));" \
        "features: ${BOLLARD_FEATURES:-none}; target: $BOLLARD_TARGET_DIR"
}

# The test binaries need crates.io, so they are built here, before the
# sandbox (which has no route out) is entered.
build_tests() {
    banner "build bollard's tests (cargo test --no-run)"
    local f
    TEST_ARGS=()
    for f in ${BOLLARD_TESTS:-$DEFAULT_TESTS}; do
        case " $EXCLUDED_TESTS " in *" $f "*) say "skip $f (swarm/plugin/podman/buildkit)"; continue ;; esac
        TEST_ARGS+=(--test "$f")
    done
    [ -z "$BOLLARD_FEATURES" ] || TEST_ARGS+=(--features "$BOLLARD_FEATURES")
    (cd "$BOLLARD_SRC" && CARGO_TARGET_DIR=$BOLLARD_TARGET_DIR run cargo test --no-run "${TEST_ARGS[@]}")
}

enter_sandbox() {
    banner "enter a throwaway sandbox (unshare --net --mount --pid --fork)"
    run unshare --net --mount --pid --fork --kill-child --propagation private --mount-proc \
        env BERTH_BIN="$BERTH_BIN" DEMO_STEP_NO="$step_no" BOLLARD_SRC="$BOLLARD_SRC" \
        BOLLARD_FEATURES="$BOLLARD_FEATURES" BOLLARD_TARGET_DIR="$BOLLARD_TARGET_DIR" \
        BOLLARD_TESTS="${BOLLARD_TESTS:-}" BOLLARD_NO_SKIP="${BOLLARD_NO_SKIP:-}" \
        BOLLARD_KEEP_LOG="${BOLLARD_KEEP_LOG:-}" PATH="$PATH" "$0" --inside "$@"
}

# ----------------------------------------------------------------- inside --

inside_setup() {
    sandbox_state bollard
    trap on_exit EXIT
}

# Remove what the suite left (containers first, so their cgroups go), stop
# berthd and the registry by their PIDs, then remove the cgroup parent.
on_exit() {
    local rc=$?
    stop_berthd
    if [ -n "${REGISTRY_PID:-}" ]; then
        kill -TERM "$REGISTRY_PID" 2>/dev/null || true
        wait "$REGISTRY_PID" 2>/dev/null || true
    fi
    remove_cgroups
    exit "$rc"
}

start_berthd() {
    banner "start berthd on $SOCK"
    launch_berthd
    # test_downversioning dials /var/run/docker.sock itself; /run is this
    # sandbox's tmpfs, so the link goes with it.
    ln -sf "$SOCK" /run/docker.sock
    say "berthd pid $BERTHD_PID"
}

start_registry() {
    banner "start docker-registry on 127.0.0.1:5000 (htpasswd user bollard)"
    local reg=$work/registry
    mkdir -p "$reg/data"
    REGISTRY_PASSWORD=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    export REGISTRY_PASSWORD
    htpasswd -Bbn bollard "$REGISTRY_PASSWORD" >"$reg/htpasswd"
    cat >"$reg/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $reg/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:5000
auth:
  htpasswd:
    realm: localhost:5000
    path: $reg/htpasswd
EOF
    docker-registry serve "$reg/config.yml" </dev/null >"$reg/log" 2>&1 &
    REGISTRY_PID=$!
    local i
    for i in $(seq 1 100); do
        nowget busybox wget -q -O /dev/null "http://127.0.0.1:5000/" 2>/dev/null && break
        kill -0 "$REGISTRY_PID" 2>/dev/null || { cat "$reg/log" >&2; fail "docker-registry exited"; }
        sleep 0.1
    done
    say "docker-registry pid $REGISTRY_PID"
}

# A directory tree with the host's static busybox and its applet links.
busybox_tree() {
    local r=$1
    mkdir -p "$r"/{bin,sbin,etc,tmp,root,dev,proc,sys,home,mnt,opt,srv,run,lib,media}
    mkdir -p "$r"/usr/{bin,sbin,lib,local/bin} "$r"/var/{opt,tmp,log,lib,cache,spool,empty,www}
    chmod 1777 "$r/tmp" "$r/var/tmp"
    cp "$(command -v busybox)" "$r/bin/busybox"
    chroot "$r" /bin/busybox --install -s /bin
    cat >"$r/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/ash
bin:x:1:1:bin:/bin:/sbin/nologin
daemon:x:2:2:daemon:/sbin:/sbin/nologin
nobody:x:65534:65534:nobody:/:/sbin/nologin
PASSWD
    cat >"$r/etc/group" <<'GROUP'
root:x:0:root
bin:x:1:root,bin,daemon
daemon:x:2:root,bin,daemon
nogroup:x:65533:
nobody:x:65534:
GROUP
}

make_images() {
    banner "make hello-world:linux, alpine and fussybeaver/uhttpd from busybox; push them to localhost:5000"
    local img=$work/images
    mkdir -p "$img/hello" "$img/alpine" "$img/uhttpd"

    # hello-world: just /hello (and the busybox its shebang names).
    mkdir -p "$img/hello/bin"
    cp "$(command -v busybox)" "$img/hello/bin/busybox"
    cat >"$img/hello/hello" <<'HELLO'
#!/bin/busybox sh
/bin/busybox cat <<'EOF'

Hello from Docker!
This message shows that your installation appears to be working correctly.

To generate this message, Docker took the following steps:
 1. The Docker client contacted the Docker daemon.
 2. The Docker daemon pulled the "hello-world" image from the Docker Hub.
    (amd64)
 3. The Docker daemon created a new container from that image which runs the
    executable that produces the output you are currently reading.
 4. The Docker daemon streamed that output to the Docker client, which sent it
    to your terminal.

To try something more ambitious, you can run an Ubuntu container with:
 $ docker run -it ubuntu bash

Share images, automate workflows, and more with a free Docker ID:
 https://hub.docker.com/

For more examples and ideas, visit:
 https://docs.docker.com/get-started/

EOF
HELLO
    chmod 755 "$img/hello/hello"
    tar -C "$img/hello" -c . | berth import -c 'CMD ["/hello"]' - localhost:5000/hello-world:linux >/dev/null

    busybox_tree "$img/alpine"
    tar -C "$img/alpine" -c . | berth import -c 'CMD ["/bin/sh"]' - localhost:5000/alpine:latest >/dev/null

    busybox_tree "$img/uhttpd"
    mkdir -p "$img/uhttpd/www"
    echo '<html><body>bollard</body></html>' >"$img/uhttpd/www/index.html"
    # OpenWrt's uhttpd config, which a test cats (its second line).
    mkdir -p "$img/uhttpd/etc/config"
    cat >"$img/uhttpd/etc/config/uhttpd" <<'CONFIG'
# Server configuration
config uhttpd main
	list listen_http	0.0.0.0:80
	option home		/www
	option max_requests	3
	option max_connections	100
	option script_timeout	60
	option network_timeout	30
	option http_keepalive	20
	option tcp_keepalive	1
CONFIG
    cat >"$img/uhttpd/usr/sbin/run_uhttpd" <<'UHTTPD'
#!/bin/sh
# uhttpd's -f (foreground) -p PORT -h HOME are busybox httpd's too.
exec /bin/httpd "$@"
UHTTPD
    chmod 755 "$img/uhttpd/usr/sbin/run_uhttpd"
    tar -C "$img/uhttpd" -c . |
        berth import -c 'EXPOSE 80' -c 'CMD ["/usr/sbin/run_uhttpd", "-f", "-p", "80", "-h", "/www"]' \
            - localhost:5000/fussybeaver/uhttpd:latest >/dev/null

    # berthd checks the login (POST /auth); berth push then sends it as
    # X-Registry-Auth. The config lives and dies with the sandbox.
    export DOCKER_CONFIG=$work/docker-config
    printf '%s\n' "$REGISTRY_PASSWORD" | berth login -u bollard --password-stdin localhost:5000
    local i
    for i in hello-world:linux alpine:latest fussybeaver/uhttpd:latest; do
        run berth push -q "localhost:5000/$i"
    done
    # The tests pull them; start with none in the engine so the pulls are real.
    berth rmi localhost:5000/hello-world:linux localhost:5000/alpine:latest \
        localhost:5000/fussybeaver/uhttpd:latest >/dev/null
    berth images
}

run_suite() {
    banner "run bollard's integration tests against berthd"
    local args=(--offline --no-fail-fast) f
    for f in ${BOLLARD_TESTS:-$DEFAULT_TESTS}; do
        case " $EXCLUDED_TESTS " in *" $f "*) continue ;; esac
        args+=(--test "$f")
    done
    [ -z "$BOLLARD_FEATURES" ] || args+=(--features "$BOLLARD_FEATURES")
    local targs=(--test-threads 1)
    if [ -z "${BOLLARD_NO_SKIP:-}" ]; then
        for f in "${SKIP[@]}"; do targs+=(--skip "$f"); done
    fi
    cd "$BOLLARD_SRC"
    say "+ cargo test ${args[*]} -- ${targs[*]} ${TEST_BIN_ARGS[*]}"
    set +e
    env DOCKER_HOST="$BERTH_HOST" REGISTRY_HTTP_ADDR=localhost:5000 REGISTRY_PASSWORD="$REGISTRY_PASSWORD" \
        CARGO_TARGET_DIR="$BOLLARD_TARGET_DIR" \
        cargo test "${args[@]}" -- "${targs[@]}" "${TEST_BIN_ARGS[@]}" 2>&1 | tee "$work/suite.log"
    SUITE_RC=${PIPESTATUS[0]}
    set -e
    # libtest prints one "test result:" line per test binary.
    awk '/^test result:/ { p += $4; f += $6; i += $8 }
         END { printf "bollard suite: %d passed, %d failed, %d ignored\n", p, f, i }' "$work/suite.log"
    grep -E '^test .* \.\.\. FAILED$' "$work/suite.log" | sed 's/^/  /' || true
    say "cargo test exit status $SUITE_RC; berthd's log: $work/berthd.log (gone with the sandbox)"
    [ -z "${BOLLARD_KEEP_LOG:-}" ] || cp "$work/berthd.log" "$BOLLARD_KEEP_LOG"
}

# ------------------------------------------------------------------- main --

if [ "${1:-}" = "--inside" ]; then
    shift
    TEST_BIN_ARGS=("$@")
    step_no=${DEMO_STEP_NO:-0}
    inside_setup
    for s in "${INSIDE_STEPS[@]}"; do "$s"; done
    exit "$SUITE_RC"
fi
BERTH_BIN=${BERTH_BIN:-$repo/target/debug/berth}
for s in "${OUTSIDE_STEPS[@]}"; do "$s" "$@"; done
