#!/usr/bin/env bash
# Install what vmtest needs on a Debian 12 (bookworm) host. Idempotent: it
# runs apt-get only when something is missing, so vmtest/ci.sh calls it on
# every run. Needs root (CI is root).
#
#   vmtest/setup-host.sh            # tools + kernel unpacked under $VMTEST_KERNEL_DIR
#   vmtest/setup-host.sh --check    # only report what is missing (exit 1 if anything)
#
# Why it is done this way:
# - The kernel is never installed as a package: linux-image-amd64's postinst
#   runs update-initramfs (~40-60 s) and writes /boot. We `apt-get download`
#   the image package that the linux-image-amd64 metapackage points at and
#   unpack it with `dpkg-deb -x` under VMTEST_KERNEL_DIR (default
#   /var/cache/berth-vmtest/kernel): ~5 s, nothing else on the host changes.
#   VMTEST_KERNEL_PKG picks another metapackage (e.g.
#   linux-image-amd64/bookworm-backports; untested).
# - qemu-system-x86: this machine kind ships qemu-utils 10.x from
#   bookworm-backports, and bookworm's qemu-system-x86 7.2 is refused next to
#   it ("qemu-utils Breaks qemu-system-common < 8.0"). So when the plain
#   install fails we add the bookworm-backports source (one file in
#   /etc/apt/sources.list.d, only if no backports source exists) and install
#   qemu-system-x86 from there.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
CHECK=0
[ "${1:-}" = --check ] && CHECK=1
KDIR="${VMTEST_KERNEL_DIR:-/var/cache/berth-vmtest/kernel}"
KPKG="${VMTEST_KERNEL_PKG:-linux-image-amd64}"
# --no-remove: never let apt resolve a conflict by removing an installed package
APT_OPTS=(-y -q --no-install-recommends --no-remove)

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
# busybox-static: the guest's userland; insmod is a sign of the full applet set.
{ [ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx insmod; } || need+=(busybox-static)
command -v modprobe >/dev/null || need+=(kmod)
command -v cpio     >/dev/null || need+=(cpio)
command -v ip       >/dev/null || need+=(iproute2)
command -v nft      >/dev/null || need+=(nftables)
command -v ldconfig >/dev/null || need+=(libc-bin)
command -v xz       >/dev/null || need+=(xz-utils)
command -v dash     >/dev/null || need+=(dash)
command -v jq       >/dev/null || need+=(jq)
command -v objcopy  >/dev/null || need+=(binutils)
# util-linux's unshare (--kill-child, --propagation) and mount (--rbind,
# --move) go into the guest: busybox's applets lack those options.
command -v unshare  >/dev/null || need+=(util-linux)
command -v mount    >/dev/null || need+=(mount)
kernel_ok() { ls "$KDIR"/boot/vmlinuz-* >/dev/null 2>&1 && ls -d "$KDIR"/lib/modules/*/kernel >/dev/null 2>&1; }
kernel_ok || need+=(kernel)

if [ "${#need[@]}" -eq 0 ]; then
    echo "setup-host: everything present (kernel under $KDIR: $(ls "$KDIR"/lib/modules))"
    exit 0
fi
if [ "$CHECK" = 1 ]; then
    echo "setup-host: missing: ${need[*]}"
    exit 1
fi
[ "$(id -u)" = 0 ] || { echo "setup-host: missing ${need[*]}; run as root to install" >&2; exit 1; }

echo "setup-host: installing: ${need[*]}"
apt-get update -qq

has() { printf '%s\n' "${need[@]}" | grep -qx "$1"; }

if has kernel; then
    # linux-image-amd64 is a metapackage: resolve the real image package.
    real="$(apt-cache depends "$KPKG" | awk '/Depends: linux-image-/{print $2; exit}')"
    [ -n "$real" ] || { echo "setup-host: cannot resolve $KPKG to an image package" >&2; exit 1; }
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    ( cd "$tmp" && apt-get download -q "$real" )
    rm -rf "$KDIR.new"
    mkdir -p "$KDIR.new"
    dpkg-deb -x "$tmp"/"$real"_*.deb "$KDIR.new"
    # swap in whole, so a half-unpacked kernel never looks valid
    rm -rf "$KDIR"
    mv "$KDIR.new" "$KDIR"
    echo "setup-host: unpacked $real under $KDIR"
fi

rest=()
for p in "${need[@]}"; do
    case "$p" in qemu-system-x86|kernel) ;; *) rest+=("$p") ;; esac
done
if [ "${#rest[@]}" -gt 0 ]; then
    apt-get install "${APT_OPTS[@]}" "${rest[@]}"
fi

if has qemu-system-x86; then
    if ! apt-get install "${APT_OPTS[@]}" qemu-system-x86; then
        echo "setup-host: plain install of qemu-system-x86 failed; using bookworm-backports"
        if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
            cat > /etc/apt/sources.list.d/berth-vmtest-backports.sources <<'EOF'
# added by berth vmtest/setup-host.sh: qemu-system-x86 must match the
# backports qemu-utils this machine kind ships
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
            apt-get update -qq
        fi
        apt-get install "${APT_OPTS[@]}" -t bookworm-backports qemu-system-x86
    fi
fi

echo "setup-host: done; qemu $(qemu-system-x86_64 --version | head -n1 | awk '{print $4}'), kernel $(ls "$KDIR"/lib/modules)"
