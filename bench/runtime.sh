#!/usr/bin/env bash
# OCI runtime latency: berth vs runc vs crun, side by side in one run.
#   run of /bin/true, and create+start+delete, for a busybox bundle in a new
#   (empty) network namespace; the peak RSS (VmHWM) of each runtime process
#   for `run /bin/true`; then berth and runc in the real hybrid layout.
# usage: sudo bench/runtime.sh      (RUNS=30 WARMUP=3 ROUNDS=3 RSS_RUNS=5 by default)
#
# crun 1.8 refuses this machine's hybrid cgroup layout, so the side-by-side
# runs happen in a private mount namespace where /sys/fs/cgroup/unified is
# covered by a tmpfs (a pure v1 view; the host's mounts are untouched). berth
# is also timed in the real hybrid view.
source "$(dirname "$0")/lib.sh"
# Runs split into passes over all commands, so a drift in the machine's
# load hits every runtime alike.
export ROUNDS=${ROUNDS:-3}
need runc crun busybox-static hyperfine jq
build_berth
in_sandbox "$0" "$@"

work=$(mktemp -d /tmp/berth-bench-rt.XXXXXX)
trap 'rm -rf "$work"' EXIT
mount -t tmpfs -o size=1m berth-bench-v1view /sys/fs/cgroup/unified

bin=$work/bin && mkdir -p "$bin"
# The berth-runc binary (the runtime CLI alone, what engines register:
# build_berth_runc, static for musl when it can), else berth under that name.
ln -s "$BERTH_RUNC" "$bin/berth-runc"
bundle=$work/bundle
"$BERTH" runtime spec --bundle "$bundle" >/dev/null 2>&1 || true
mkdir -p "$bundle/rootfs/bin"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
ln -sf busybox "$bundle/rootfs/bin/true"; ln -sf busybox "$bundle/rootfs/bin/sh"
(cd "$bundle" && runc spec && jq '.process.terminal=false | .process.args=["/bin/true"]' config.json >c && mv c config.json)

# State roots on tmpfs, where all three keep them by default (/run/berth,
# /run/runc, /run/crun): under /tmp (ext4 here, mounted with `discard`)
# every freed state-file block costs a synchronous discard, which measures
# the disk rather than the runtime. /run is the sandbox's own tmpfs.
roots=$(mktemp -d /run/berth-bench-roots.XXXXXX)
for r in berth runc crun; do mkdir -p "$roots/$r"; done
B="$bin/berth-runc --root $roots/berth"
R="runc --root $roots/runc"
C="crun --root $roots/crun"
echo "versions: $($bin/berth-runc --version 2>&1 | head -1) ($(basename "$(readlink "$bin/berth-runc")") binary); $(runc --version | head -1); $(crun --version | head -1)"

compare "run /bin/true (v1 view)" \
    berth "$B run --bundle $bundle bb-a" \
    runc "$R run --bundle $bundle bb-b" \
    crun "$C run --bundle $bundle bb-c"

csd() { echo "sh -c '$1 create --bundle $bundle $2 </dev/null >/dev/null && $1 start $2 && $1 delete -f $2'"; }
compare "create+start+delete (v1 view)" \
    berth "$(csd "$B" bb-d)" \
    runc "$(csd "$R" bb-e)" \
    crun "$(csd "$C" bb-f)"

# Peak RSS of the runtime process itself (the monitor-less footprint): its
# VmHWM read from /proc/PID/status at the moment it exits (ptrace
# PTRACE_O_TRACEEXIT stop: the memory is still mapped, nothing has been
# reaped). Not getrusage: a forked launcher's pre-exec memory (python's,
# ~10 MB) is charged to the child's ru_maxrss, and so would be a runtime's
# own pre-exec children. Median of RSS_RUNS runs, in the v1 view so crun
# can take part. Most of it is the binary's file pages (shared page cache),
# so the anonymous and file parts at exit are shown too.
cat >"$work/peak_rss.py" <<'PY'
import ctypes, os, sys, signal, statistics
PTRACE_TRACEME, PTRACE_CONT, PTRACE_SETOPTIONS = 0, 7, 0x4200
PTRACE_O_TRACEEXIT, PTRACE_EVENT_EXIT = 0x40, 6
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]

def once(argv):
    pid = os.fork()
    if pid == 0:
        null = os.open("/dev/null", os.O_RDWR)
        os.dup2(null, 0); os.dup2(null, 1)
        libc.ptrace(PTRACE_TRACEME, 0, None, None)
        os.execvp(argv[0], argv)
    _, st = os.waitpid(pid, 0)  # stopped at its execve
    libc.ptrace(PTRACE_SETOPTIONS, pid, None, PTRACE_O_TRACEEXIT)
    libc.ptrace(PTRACE_CONT, pid, None, None)
    got = None
    while True:
        _, st = os.waitpid(pid, 0)
        if os.WIFEXITED(st) or os.WIFSIGNALED(st):
            break
        sig = os.WSTOPSIG(st)
        if st >> 16 == PTRACE_EVENT_EXIT:
            with open(f"/proc/{pid}/status") as f:
                kv = dict(l.split(":", 1) for l in f)
            got = [int(kv[k].split()[0]) for k in ("VmHWM", "RssAnon", "RssFile")]
            sig = 0
        elif sig == signal.SIGTRAP:
            sig = 0
        libc.ptrace(PTRACE_CONT, pid, None, ctypes.c_void_p(sig))
    if os.waitstatus_to_exitcode(st) != 0 or got is None:
        sys.exit(f"peak_rss: {argv} failed ({st})")
    return got

runs, cmd = int(sys.argv[1]), sys.argv[2:]
samples = [once([a.replace("{i}", str(i)) for a in cmd]) for i in range(runs)]
print(" ".join(str(int(statistics.median(col))) for col in zip(*samples)))
PY
printf '\n== peak RSS of the runtime process for `run /bin/true` (VmHWM at exit, median of %s runs, KiB)\n' "${RSS_RUNS:=5}"
declare -A hwm
for r in "berth:$B" "runc:$R" "crun:$C"; do
    name=${r%%:*} cmd=${r#*:}
    # shellcheck disable=SC2086 # $cmd is a command line
    read -r peak anon file < <(python3 "$work/peak_rss.py" "$RSS_RUNS" $cmd run --bundle "$bundle" "rss-$name-{i}")
    hwm[$name]=$peak
    printf '  %-8s %8s KiB   (at exit: anon %s KiB, file-backed %s KiB)\n' "$name" "$peak" "$anon" "$file"
done
printf '  berth/crun = %.2f   berth/runc = %.2f\n' \
    "$(awk -v a="${hwm[berth]}" -v b="${hwm[crun]}" 'BEGIN{print a/b}')" \
    "$(awk -v a="${hwm[berth]}" -v b="${hwm[runc]}" 'BEGIN{print a/b}')"

umount /sys/fs/cgroup/unified
compare "run /bin/true, real hybrid cgroup view (crun refuses it)" \
    berth "$B run --bundle $bundle bb-g" \
    runc "$R run --bundle $bundle bb-h"
