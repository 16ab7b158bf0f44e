#!/usr/bin/env bash
# Installs berth's binaries into $PREFIX/bin (default /usr/local/bin):
#   berth       the CLI (and, by its invoked name, the CNI plugins)
#   berth-cni   the CNI plugins alone (a faster start per CNI call; static
#               for musl when that Rust target is installed), linked
#               as $PREFIX/lib/cni/berth-{bridge,host-local,...} for CNI_PATH
#   berth-monitor  the per-container monitor alone; berthd starts it when it
#               sits beside berthd's binary (else `berth monitor`), a smaller
#               resident set per running container
#   berth-runc  the runc-compatible OCI runtime, a binary of its own so that
#               engines which resolve the runtime's path (realpath) still run
#               the runtime; register it with podman, dockerd or containerd as
#               docs/runtime-cli.md shows.
# Usage: scripts/install.sh [--debug]   (PREFIX=/opt/berth scripts/install.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX="${PREFIX:-/usr/local}"
profile=release
[ "${1:-}" = "--debug" ] && profile=debug
flags=()
[ "$profile" = release ] && flags+=(--release)
export BERTH_COMMIT="${BERTH_COMMIT:-$(git rev-parse --short=12 HEAD 2>/dev/null || true)}"
cargo build "${flags[@]}" -p berth --bins -p berth-runc -p berth-cni
# berth-monitor relinked static and non-PIE: one runs per container, and
# without ld.so, a shared libc and load-time relocations it keeps about
# half the pages resident (see crates/cli/src/bin/berth-monitor.rs).
[ "$profile" = release ] && scripts/build-monitor.sh
target="${CARGO_TARGET_DIR:-target}/$profile"
# berth-cni (crates/cni) and berth-runc (crates/runtime-cli) have no C
# code: with the musl target installed (rustup target add
# x86_64-unknown-linux-musl) they are built static, which starts several
# times faster than a glibc binary (no dynamic loading, no CPUID probing,
# which traps to the hypervisor on a VM); else for the host. Both are a
# fresh process per CNI call / runtime operation.
musl=x86_64-unknown-linux-musl
static_bin() {
    if [ "$(uname -m)" = x86_64 ] && rustup target list --installed 2>/dev/null | grep -qx "$musl"; then
        cargo build "${flags[@]}" -p "$1" --bin "$1" --target "$musl" >&2
        echo "${CARGO_TARGET_DIR:-target}/$musl/$profile/$1"
    else
        echo "$target/$1"
    fi
}
cni=$(static_bin berth-cni)
runc=$(static_bin berth-runc)
install -d "$PREFIX/bin"
install -m 0755 "$target/berth" "$target/berth-monitor" "$PREFIX/bin/"
install -m 0755 "$cni" "$PREFIX/bin/berth-cni"
install -m 0755 "$runc" "$PREFIX/bin/berth-runc"
install -d "$PREFIX/lib/cni"
for p in bridge host-local loopback portmap macvlan ipvlan; do
    ln -sf "$PREFIX/bin/berth-cni" "$PREFIX/lib/cni/berth-$p"
done
echo "installed $PREFIX/bin/berth, berth-runc, berth-cni, berth-monitor; CNI plugins in $PREFIX/lib/cni"
"$PREFIX/bin/berth-runc" --version
