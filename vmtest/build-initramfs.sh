#!/usr/bin/env bash
# Build a small initramfs (newc cpio) that boots a stock Debian kernel in QEMU,
# loads network/overlay/nftables modules, mounts a pure cgroup v2 hierarchy,
# runs built-in self-tests and an optional payload, then powers off.
# Adapted for berth from the shared vmtest recipe: util-linux tools for
# SandboxHost, a root overlay (-r) for test binaries at their host paths, and a
# choice of compression (uncompressed boots fastest under TCG).
#
# Usage: build-initramfs.sh [options]
#   -k KVER     kernel version (default: newest /boot/vmlinuz-* that has /lib/modules/KVER)
#   -d BASEDIR  root under which boot/vmlinuz-KVER and lib/modules/KVER live
#               (default $VMTEST_KERNEL_DIR=/var/cache/berth-vmtest/kernel, where
#               setup-host.sh unpacks the kernel .deb; else /)
#   -o OUT      output initrd (default $VMTEST_WORK/initrd.cpio, VMTEST_WORK=/tmp/berth-vmtest)
#   -p PAYLOAD  executable -> /payload/run, or a directory (must contain an
#               executable 'run') copied to /payload.  Shared libraries of
#               dynamic ELF files are copied in automatically (via ldd).
#   -b BIN      extra host binary to include (with its shared libs), same path;
#               repeatable
#   -f SRC:DST  extra file/dir to copy to DST inside the initramfs; repeatable
#   -r DIR      overlay DIR onto the image root (DIR/a/b -> /a/b); shared libs
#               of its executable ELF files are copied too; repeatable
#   -m MOD      extra module to insmod at boot (with deps); repeatable
#   -h          help
# Environment: VMTEST_COMPRESS=none|gzip|zstd (default none: QEMU loads the
# initrd into guest RAM itself, so skipping decompression saves emulated CPU
# time; gzip/zstd make a smaller file).
#
# Needs: busybox (static preferred), kmod (modprobe/depmod), cpio, gzip,
# iproute2 (ip), nftables (nft), ldconfig.  See setup-host.sh.
# Prints the paths of initrd and kernel at the end; also writes OUT.kver,
# OUT.kernel (bzImage path), OUT.vmlinux (uncompressed ELF kernel extracted to
# $VMTEST_WORK/vmlinux-KVER for fast PVH boot; VMTEST_NO_PVH=1 skips it) and
# OUT.libs (list of host shared libraries copied into the image).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="${VMTEST_WORK:-/tmp/berth-vmtest}"
KDIR_DEFAULT="${VMTEST_KERNEL_DIR:-/var/cache/berth-vmtest/kernel}"
BASE="/"
ls "$KDIR_DEFAULT"/boot/vmlinuz-* >/dev/null 2>&1 && BASE="$KDIR_DEFAULT"
KVER=""; OUT=""; PAYLOAD=""
EXTRA_BINS=(); EXTRA_FILES=(); EXTRA_MODS=(); OVERLAYS=()
COMPRESS="${VMTEST_COMPRESS:-none}"

usage() { sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while getopts "k:d:o:p:b:f:r:m:h" opt; do
    case "$opt" in
        k) KVER="$OPTARG" ;;
        d) BASE="$OPTARG" ;;
        o) OUT="$OPTARG" ;;
        p) PAYLOAD="$OPTARG" ;;
        b) EXTRA_BINS+=("$OPTARG") ;;
        f) EXTRA_FILES+=("$OPTARG") ;;
        r) OVERLAYS+=("$OPTARG") ;;
        m) EXTRA_MODS+=("$OPTARG") ;;
        h) usage 0 ;;
        *) usage 2 ;;
    esac
done

die() { echo "build-initramfs: $*" >&2; exit 1; }
case "$COMPRESS" in none|gzip|zstd) ;; *) die "VMTEST_COMPRESS must be none, gzip or zstd" ;; esac
for t in modprobe depmod cpio gzip ldd ldconfig; do
    command -v "$t" >/dev/null || die "missing '$t' (run setup-host.sh)"
done
BUSYBOX="$(command -v busybox || true)"
[ -n "$BUSYBOX" ] || die "missing busybox (apt-get install busybox-static)"

# ---------------------------------------------------------------- kernel ---
BASE="${BASE%/}"   # "/" -> "" so paths read /boot/..., /lib/modules/...
if [ -z "$KVER" ]; then
    for v in $(ls "$BASE"/boot/vmlinuz-* 2>/dev/null | sed 's|.*/vmlinuz-||' | sort -V -r); do
        if [ -d "$BASE/lib/modules/$v/kernel" ]; then KVER="$v"; break; fi
    done
    [ -n "$KVER" ] || die "no kernel found under $BASE/boot with modules in $BASE/lib/modules (apt-get install linux-image-amd64)"
fi
MODDIR="$BASE/lib/modules/$KVER"
KERNEL="$BASE/boot/vmlinuz-$KVER"
if [ ! -f "$MODDIR/modules.dep" ]; then
    # a linux-image .deb unpacked with dpkg-deb -x has no modules.dep yet
    [ -d "$MODDIR/kernel" ] || die "$MODDIR not found"
    echo "build-initramfs: running depmod for $MODDIR" >&2
    depmod -b "${BASE:-/}" "$KVER"
fi
[ -f "$KERNEL" ] || die "$KERNEL not found"

OUT="${OUT:-$WORK/initrd.cpio}"
STAGE="$WORK/stage.$$"
mkdir -p "$WORK" "$(dirname "$OUT")"
rm -rf "$STAGE"
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE"/{bin,sbin,usr/bin,usr/sbin,lib/x86_64-linux-gnu,lib64,etc/vmtest,proc,sys,dev,run,tmp,root,mnt,payload}
mkdir -p "$STAGE/var"; ln -s ../run "$STAGE/var/run"
chmod 1777 "$STAGE/tmp"

LIBLIST="$OUT.libs"; : > "$LIBLIST"

# copy_elf SRC DST: copy a file; if it is a dynamic ELF, also its shared libs
copy_elf() {
    local src="$1" dst="$2"
    mkdir -p "$STAGE$(dirname "$dst")"
    rm -f "$STAGE$dst"
    cp -L "$src" "$STAGE$dst"
    copy_libs "$src"
}

# copy_libs FILE: if FILE is a dynamic ELF, copy its shared libs into the image
copy_libs() {
    local src="$1" lib
    [ "$(head -c4 "$src" | od -An -c | tr -d ' ')" = '177ELF' ] || return 0
    if ldd "$src" >/dev/null 2>&1; then
        ldd "$src" | awk '/=> \//{print $3} /^[[:space:]]*\/[^ ]+ \(/{print $1}' | while read -r lib; do
            [ -e "$STAGE$lib" ] && continue
            mkdir -p "$STAGE$(dirname "$lib")"
            cp -L "$lib" "$STAGE$lib"
            echo "$lib  (for $(basename "$src"))" >> "$LIBLIST"
        done
    fi
}

# --------------------------------------------------------------- busybox ---
copy_elf "$BUSYBOX" /bin/busybox
"$BUSYBOX" --list-full | while read -r p; do
    [ "$p" = bin/busybox ] && continue
    mkdir -p "$STAGE/$(dirname "$p")"
    ln -sf /bin/busybox "$STAGE/$p"
done

# /bin/sh = dash: Debian's busybox-static is built with FEATURE_SH_STANDALONE,
# i.e. inside busybox sh an applet name ('ip', 'modprobe', ...) wins over
# $PATH, which would shadow the real iproute2 'ip'.  dash honours $PATH.
# busybox sh stays available as /bin/ash.
DASH="$(command -v dash || true)"
if [ -n "$DASH" ]; then
    copy_elf "$DASH" /bin/dash
    ln -sf dash "$STAGE/bin/sh"
else
    echo "build-initramfs: WARNING: no dash; /bin/sh is busybox (applets shadow ip/nft in PATH)" >&2
fi

# ------------------------------------------- iproute2 + nftables (glibc) ---
# busybox 'ip' cannot create ipvlan/vxlan/netns, and there is no busybox nft.
for b in ip nft; do
    p="$(command -v "$b" || true)"
    [ -n "$p" ] || die "missing host '$b' (apt-get install iproute2 nftables)"
    copy_elf "$p" "/usr/sbin/$b"
    rm -f "$STAGE/sbin/$b" "$STAGE/bin/$b"   # drop busybox symlinks of same name
done
[ -d /etc/iproute2 ] && cp -a /etc/iproute2 "$STAGE/etc/"
# util-linux over busybox for what berth-testsupport's SandboxHost runs:
# busybox unshare lacks --kill-child and --fork, its mount lacks --move
# semantics identical to util-linux, and nsenter's options differ.
for b in unshare nsenter mount umount; do
    p="$(command -v "$b" || true)"
    [ -n "$p" ] || die "missing host '$b' (apt-get install util-linux mount)"
    copy_elf "$p" "/usr/bin/$b"
    for d in bin sbin usr/sbin; do
        if [ -L "$STAGE/$d/$b" ]; then ln -sf "/usr/bin/$b" "$STAGE/$d/$b"; fi
    done
done
for b in "${EXTRA_BINS[@]}"; do
    [ -e "$b" ] || die "extra binary $b not found"
    copy_elf "$b" "$b"
done

# --------------------------------------------------------------- modules ---
# Modules insmod'ed at boot, in dependency order (resolved by kmod from the
# Debian kernel's modules.dep; host /etc/modprobe.d is ignored via -C /dev/null).
BOOT_MODULES=(ipvlan macvlan vxlan veth bridge 8021q dummy overlay nf_tables tun brd "${EXTRA_MODS[@]}")
declare -A MODOPTS=( [dummy]="numdummies=0" [brd]="rd_nr=1 rd_size=16384" )
# Everything under these dirs (plus deps) is also copied, and depmod'ed, so the
# kernel can autoload it via /sbin/modprobe (busybox), e.g. nft_chain_nat.
AUTOLOAD_DIRS=(${VMTEST_MODULE_DIRS:-kernel/net/netfilter kernel/net/ipv4 kernel/net/ipv6 kernel/net/bridge kernel/net/sched kernel/net/8021q kernel/net/802 kernel/net/llc kernel/drivers/net/ipvlan kernel/drivers/net/vxlan kernel/drivers/net/wireguard kernel/drivers/net/bonding kernel/drivers/net/team kernel/fs/overlayfs})
AUTOLOAD_FILES=(kernel/drivers/net/dummy.ko kernel/drivers/net/macvlan.ko kernel/drivers/net/macvtap.ko kernel/drivers/net/tap.ko kernel/drivers/net/tun.ko kernel/drivers/net/veth.ko kernel/drivers/net/vrf.ko kernel/drivers/net/ifb.ko kernel/drivers/net/geneve.ko kernel/drivers/net/nlmon.ko kernel/drivers/block/brd.ko kernel/drivers/block/loop.ko)

SMOD="$STAGE/lib/modules/$KVER"
mkdir -p "$SMOD"
: > "$STAGE/etc/vmtest/modules.boot"
declare -A SEEN=()
for m in "${BOOT_MODULES[@]}"; do
    deps="$(modprobe -C /dev/null -d "${BASE:-/}" -S "$KVER" --show-depends "$m" 2>&1)" \
        || die "modprobe --show-depends $m failed: $deps"
    while read -r kind path _rest; do
        [ "$kind" = insmod ] || continue           # 'builtin X' lines need nothing
        rel="${path#*/lib/modules/"$KVER"/}"
        name="$(basename "$rel" .ko)"
        [ -n "${SEEN[$rel]:-}" ] && continue
        SEEN[$rel]=1
        echo "$rel ${MODOPTS[$name]:-}" >> "$STAGE/etc/vmtest/modules.boot"
    done <<< "$deps"
done

# closure over modules.dep for the autoload set + boot set
declare -A DEP=()
while IFS=: read -r mod rest; do DEP[$mod]="$rest"; done < "$MODDIR/modules.dep"
want=()
for d in "${AUTOLOAD_DIRS[@]}"; do
    [ -d "$MODDIR/$d" ] || continue
    while read -r f; do want+=("${f#"$MODDIR"/}"); done < <(find "$MODDIR/$d" -name '*.ko*')
done
for f in "${AUTOLOAD_FILES[@]}"; do [ -e "$MODDIR/$f" ] && want+=("$f"); done
for f in "${!SEEN[@]}"; do want+=("$f"); done
declare -A COPY=()
while [ "${#want[@]}" -gt 0 ]; do
    f="${want[-1]}"; unset 'want[-1]'
    [ -n "${COPY[$f]:-}" ] && continue
    COPY[$f]=1
    for dep in ${DEP[$f]:-}; do want+=("$dep"); done
done
for f in "${!COPY[@]}"; do
    mkdir -p "$SMOD/$(dirname "$f")"
    cp "$MODDIR/$f" "$SMOD/$f"
done
for f in modules.order modules.builtin modules.builtin.modinfo; do
    [ -f "$MODDIR/$f" ] && cp "$MODDIR/$f" "$SMOD/"
done
depmod -b "$STAGE" "$KVER"
echo "$KVER" > "$STAGE/etc/vmtest/kver"

# ------------------------------------------------------- init + selftest ---
install -m 0755 "$HERE/guest/init" "$STAGE/init"
install -m 0755 "$HERE/guest/selftest.sh" "$STAGE/etc/vmtest/selftest.sh"
printf '/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n' > "$STAGE/etc/ld.so.conf"
echo 'root:x:0:0:root:/root:/bin/sh' > "$STAGE/etc/passwd"
echo 'root:x:0:'                     > "$STAGE/etc/group"
echo 'vmtest'                        > "$STAGE/etc/hostname"
# initial console for init (kernel opens /dev/console before init runs)
mknod -m 600 "$STAGE/dev/console" c 5 1 2>/dev/null || true
mknod -m 666 "$STAGE/dev/null"    c 1 3 2>/dev/null || true

# --------------------------------------------------------------- payload ---
if [ -n "$PAYLOAD" ]; then
    if [ -d "$PAYLOAD" ]; then
        [ -x "$PAYLOAD/run" ] || die "payload dir $PAYLOAD has no executable 'run'"
        cp -a "$PAYLOAD/." "$STAGE/payload/"
        while read -r f; do
            rel="${f#"$PAYLOAD"}"
            copy_elf "$f" "/payload$rel"
        done < <(find "$PAYLOAD" -type f -perm -u+x)
    else
        [ -x "$PAYLOAD" ] || die "payload $PAYLOAD is not executable"
        copy_elf "$PAYLOAD" /payload/run
    fi
    chmod 0755 "$STAGE/payload/run"
fi
for spec in "${EXTRA_FILES[@]}"; do
    src="${spec%%:*}"; dst="${spec#*:}"
    mkdir -p "$STAGE$(dirname "$dst")"
    cp -a "$src" "$STAGE$dst"
done
for ov in "${OVERLAYS[@]}"; do
    [ -d "$ov" ] || die "overlay $ov is not a directory"
    cp -a "$ov/." "$STAGE/"
    while read -r f; do copy_libs "$f"; done < <(find "$ov" -type f -perm -u+x)
done

ldconfig -r "$STAGE" 2>/dev/null || true

# ------------------------------------------------ uncompressed vmlinux ---
# QEMU can boot the uncompressed ELF vmlinux directly through its PVH entry
# point (Debian: CONFIG_PVH=y).  Under TCG this skips ~6 s of emulated XZ
# decompression per boot.  run-vm.sh uses it when OUT.vmlinux names a file.
VMLINUX="$WORK/vmlinux-$KVER"
extract_vmlinux() { # like linux/scripts/extract-vmlinux, for xz/zstd/gzip
    local img="$1" out="$2" magic tool off
    for spec in '\xfd7zXZ\x00:xz -dcq --single-stream' '\x28\xb5\x2f\xfd:zstd -dcq' '\x1f\x8b\x08:gzip -dcq'; do
        magic="${spec%%:*}"; tool="${spec#*:}"
        command -v "${tool%% *}" >/dev/null || continue
        for off in $(LC_ALL=C grep -obUaP "$magic" "$img" | cut -d: -f1 | head -n 5); do
            tail -c +$((off + 1)) "$img" | $tool > "$out.tmp" 2>/dev/null
            if [ "$(head -c4 "$out.tmp" | od -An -c | tr -d ' ')" = '177ELF' ]; then
                mv "$out.tmp" "$out"; return 0
            fi
        done
    done
    rm -f "$out.tmp"; return 1
}
if [ "${VMTEST_NO_PVH:-0}" != 1 ]; then
    if [ -s "$VMLINUX" ] && [ "$VMLINUX" -nt "$KERNEL" ] || extract_vmlinux "$KERNEL" "$VMLINUX"; then
        echo "$VMLINUX" > "$OUT.vmlinux"
    else
        echo "build-initramfs: could not extract vmlinux from $KERNEL; run-vm.sh will boot the bzImage" >&2
        rm -f "$OUT.vmlinux"
    fi
else
    rm -f "$OUT.vmlinux"
fi

# ------------------------------------------------------------------ pack ---
case "$COMPRESS" in
    none) squeeze() { cat; } ;;
    gzip) squeeze() { gzip -1 -n; } ;;
    zstd) squeeze() { zstd -q -3 -T0; } ;;
esac
( cd "$STAGE" && find . -print0 | LC_ALL=C sort -z \
    | cpio --null -o -H newc --owner=0:0 --quiet --reproducible ) | squeeze > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "$KVER" > "$OUT.kver"
echo "$KERNEL" > "$OUT.kernel"

nmods=$(find "$SMOD" -name '*.ko*' | wc -l)
echo "build-initramfs: kernel  $KERNEL ($KVER)${VMLINUX:+; PVH vmlinux $(cat "$OUT.vmlinux" 2>/dev/null || echo none)}"
echo "build-initramfs: initrd  $OUT ($(du -h "$OUT" | cut -f1), $nmods modules, $(wc -l < "$STAGE/etc/vmtest/modules.boot") insmod'ed at boot)"
echo "build-initramfs: payload ${PAYLOAD:-none}"
echo "build-initramfs: host libs copied: $(sort -u "$LIBLIST" | awk '{print $1}' | sort -u | wc -l) (list in $LIBLIST)"
