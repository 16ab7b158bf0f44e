#!/usr/bin/env bash
# Runs docker-py's own integration suite (tests/integration of a docker-py
# checkout) against berthd, inside a throwaway sandbox: its own network,
# mount and PID namespaces (`unshare`), berthd's state on a tmpfs, its
# containers' cgroups under a parent named for this run and removed at the
# end. The machine's root network namespace is never touched.
#
#   DOCKER_PY_SRC=/path/to/docker-py ./scripts/docker-py-suite.sh        # as root
#   DOCKER_PY_SRC=... PYTHON=/venv/bin/python BERTH_BIN=... ./scripts/docker-py-suite.sh [pytest args]
#
# PYTHON must have pytest and docker-py's dependencies (requests, urllib3;
# paramiko for the ssh tests; pytest-timeout is used when present); the
# docker package itself is imported from DOCKER_PY_SRC (PYTHONPATH).
# DPY_FILES overrides the test files (names under tests/integration).
# berthd also listens on tcp://127.0.0.1:2375 (the sandbox's own loopback);
# DPY_TCP=1 points docker-py at it instead of the unix socket (docker-py's
# websocket attach test only works over TCP, and needs websocket-client:
# DPY_PYTHONPATH is added to PYTHONPATH, e.g. a `pip install --target` dir).
# Extra arguments are passed to pytest (e.g. -k, -x, -v).
#
# Images: the suite wants alpine:3.10 (TEST_IMG), `alpine` and `busybox`
# (Dockerfiles say FROM busybox), which it would pull from Docker Hub. The
# sandbox has no internet, so the script imports a rootfs made of the host's
# static busybox and tags it alpine:3.10, alpine:latest and busybox:latest:
# busybox's applets (sh, echo, cat, sleep, top, ls, env, id, wget, nc,
# ...) cover what the tests run in their containers.
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$PWD

# Not run: these need swarm mode (services, secrets, configs, nodes and the
# swarm itself are swarm objects; berthd is a single engine without swarm)
# or managed plugins (pulled from Docker Hub, installed by dockerd's plugin
# manager, which berth does not have).
EXCLUDED_FILES="api_swarm_test api_service_test api_secret_test api_config_test api_plugin_test
 models_swarm_test models_services_test models_nodes_test"

DEFAULT_FILES="api_container_test api_exec_test api_image_test api_network_test api_volume_test
 api_healthcheck_test api_client_test api_build_test models_containers_test models_images_test
 models_networks_test models_volumes_test models_resources_test errors_test regression_test
 client_test"

# Deselected, with the reason (pytest's --deselect matches ids by prefix,
# so every test is listed by its full name). Internet: the test pulls an image other than
# the local ones from Docker Hub (or asks the Hub for a manifest); the
# sandbox has no route out, so it cannot pass anywhere offline.
DESELECT=(
    # internet: pulls hello-world from Docker Hub
    "api_image_test.py::PullImageTest::test_pull"
    "api_image_test.py::PullImageTest::test_pull_streaming"
    "api_image_test.py::PullImageTest::test_pull_invalid_platform"
    "api_image_test.py::ImportImageTest::test_get_load_image"
    "api_image_test.py::PruneImagesTest::test_prune_images"
    # internet: asks Docker Hub for busybox:latest's distribution manifest
    "api_image_test.py::InspectDistributionTest::test_inspect_distribution"
    # internet: pulls alpine:latest, hello-world (all tags) or by digest
    "models_images_test.py::ImageCollectionTest::test_list"
    "models_images_test.py::ImageCollectionTest::test_list_with_repository"
    "models_images_test.py::ImageCollectionTest::test_pull"
    "models_images_test.py::ImageCollectionTest::test_pull_multiple"
    "models_images_test.py::ImageCollectionTest::test_pull_with_sha"
    "models_images_test.py::ImageCollectionTest::test_pull_with_tag"
    "models_images_test.py::ImageTest::test_tag_and_remove"
    # internet: wants Docker Hub's "not found" for a missing repository
    "models_containers_test.py::ContainerCollectionTest::test_run_with_image_that_does_not_exist"
)

# Debian packages the sandbox relies on.
PACKAGES=(busybox-static nftables iproute2 util-linux)
OUTSIDE_STEPS=(check_root check_inputs build_berth enter_sandbox)
INSIDE_STEPS=(start_berthd make_image run_suite)

source "$repo/scripts/demo-lib.sh"

check_inputs() {
    banner "check docker-py's checkout and the python that runs it"
    [ -n "${DOCKER_PY_SRC:-}" ] || fail "set DOCKER_PY_SRC to a docker-py checkout"
    [ -d "$DOCKER_PY_SRC/tests/integration" ] || fail "$DOCKER_PY_SRC has no tests/integration"
    PYTHON=${PYTHON:-python3}
    "$PYTHON" -c "import pytest, requests" || fail "$PYTHON lacks pytest or requests"
    export DOCKER_PY_SRC PYTHON
    say "docker-py: $DOCKER_PY_SRC; python: $PYTHON"
}

enter_sandbox() {
    banner "enter a throwaway sandbox (unshare --net --mount --pid --fork)"
    run unshare --net --mount --pid --fork --kill-child --propagation private --mount-proc \
        env BERTH_BIN="$BERTH_BIN" DEMO_STEP_NO="$step_no" DOCKER_PY_SRC="$DOCKER_PY_SRC" \
        PYTHON="$PYTHON" DPY_NO_DESELECT="${DPY_NO_DESELECT:-}" DPY_FILES="${DPY_FILES:-}" DPY_KEEP_LOG="${DPY_KEEP_LOG:-}" \
        DPY_TCP="${DPY_TCP:-}" DPY_PYTHONPATH="${DPY_PYTHONPATH:-}" "$0" --inside "$@"
}

# ----------------------------------------------------------------- inside --

inside_setup() {
    sandbox_state dpy
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
    banner "start berthd on $SOCK"
    launch_berthd -H tcp://127.0.0.1:2375
    say "berthd pid $BERTHD_PID"
}

make_image() {
    banner "import the host's busybox as alpine:3.10, alpine:latest, busybox:latest"
    local r=$work/rootfs
    # alpine's top-level layout and its stock users (the tests exec as
    # `postgres`, cd to /var/opt, ...).
    mkdir -p "$r"/{bin,sbin,etc,tmp,root,dev,proc,sys,home,mnt,opt,srv,run,lib,media}
    mkdir -p "$r"/usr/{bin,sbin,lib,local/bin} "$r"/var/{opt,tmp,log,lib,cache,spool,empty}
    chmod 1777 "$r/tmp" "$r/var/tmp"
    cp /bin/busybox "$r/bin/busybox"
    chroot "$r" /bin/busybox --install -s /bin
    cat >"$r/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/ash
bin:x:1:1:bin:/bin:/sbin/nologin
daemon:x:2:2:daemon:/sbin:/sbin/nologin
adm:x:3:4:adm:/var/adm:/sbin/nologin
lp:x:4:7:lp:/var/spool/lpd:/sbin/nologin
sync:x:5:0:sync:/sbin:/bin/sync
shutdown:x:6:0:shutdown:/sbin:/sbin/shutdown
halt:x:7:0:halt:/sbin:/sbin/halt
mail:x:8:12:mail:/var/spool/mail:/sbin/nologin
news:x:9:13:news:/usr/lib/news:/sbin/nologin
operator:x:11:0:operator:/root:/bin/sh
man:x:13:15:man:/usr/man:/sbin/nologin
postmaster:x:14:12:postmaster:/var/spool/mail:/sbin/nologin
ftp:x:21:21::/var/lib/ftp:/sbin/nologin
sshd:x:22:22:sshd:/dev/null:/sbin/nologin
at:x:25:25:at:/var/spool/cron/atjobs:/sbin/nologin
squid:x:31:31:Squid:/var/cache/squid:/sbin/nologin
xfs:x:33:33:X Font Server:/etc/X11/fs:/sbin/nologin
games:x:35:35:games:/usr/games:/sbin/nologin
postgres:x:70:70::/var/lib/postgresql:/bin/sh
cyrus:x:85:12::/usr/cyrus:/sbin/nologin
vpopmail:x:89:89::/var/vpopmail:/sbin/nologin
ntp:x:123:123:NTP:/var/empty:/sbin/nologin
smmsp:x:209:209:smmsp:/var/spool/mqueue:/sbin/nologin
guest:x:405:100:guest:/dev/null:/sbin/nologin
nobody:x:65534:65534:nobody:/:/sbin/nologin
PASSWD
    cat >"$r/etc/group" <<'GROUP'
root:x:0:root
bin:x:1:root,bin,daemon
daemon:x:2:root,bin,daemon
sys:x:3:root,bin,adm
adm:x:4:root,adm,daemon
tty:x:5:
disk:x:6:root,adm
lp:x:7:lp
wheel:x:10:root
mail:x:12:mail
news:x:13:news
floppy:x:19:root
audio:x:18:
ftp:x:21:
sshd:x:22:
postgres:x:70:
users:x:100:games
ntp:x:123:
nogroup:x:65533:
nobody:x:65534:
GROUP
    tar -C "$r" -c . | berth import - alpine:3.10 >/dev/null
    berth tag alpine:3.10 alpine:latest
    berth tag alpine:3.10 busybox:latest
    berth images
}

run_suite() {
    banner "run docker-py's integration tests against berthd"
    local files=${DPY_FILES:-$DEFAULT_FILES} f args=() timeout=()
    for f in $files; do
        case " $EXCLUDED_FILES " in *" $f "*) say "skip $f (swarm/plugin)"; continue ;; esac
        args+=("tests/integration/$f.py")
    done
    if [ -z "${DPY_NO_DESELECT:-}" ]; then
        for f in "${DESELECT[@]}"; do args+=(--deselect "tests/integration/$f"); done
    fi
    "$PYTHON" -c "import pytest_timeout" 2>/dev/null && timeout=(--timeout 120)
    cd "$DOCKER_PY_SRC"
    say "+ pytest ${args[*]}"
    set +e
    local host=$BERTH_HOST
    [ -z "${DPY_TCP:-}" ] || host=tcp://127.0.0.1:2375
    env DOCKER_HOST="$host" PYTHONPATH="$DOCKER_PY_SRC${DPY_PYTHONPATH:+:$DPY_PYTHONPATH}" \
        "$PYTHON" -m pytest -p no:cacheprovider -q -rfE "${timeout[@]}" "${args[@]}" "${PYTEST_ARGS[@]}"
    SUITE_RC=$?
    set -e
    say "pytest exit status $SUITE_RC; berthd's log: $work/berthd.log (gone with the sandbox)"
    [ -z "${DPY_KEEP_LOG:-}" ] || cp "$work/berthd.log" "$DPY_KEEP_LOG"
}

# ------------------------------------------------------------------- main --

if [ "${1:-}" = "--inside" ]; then
    shift
    PYTEST_ARGS=("$@")
    step_no=${DEMO_STEP_NO:-0}
    inside_setup
    for s in "${INSIDE_STEPS[@]}"; do "$s"; done
    exit 0
fi
BERTH_BIN=${BERTH_BIN:-$repo/target/debug/berth}
for s in "${OUTSIDE_STEPS[@]}"; do "$s" "$@"; done
