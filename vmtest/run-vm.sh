#!/usr/bin/env bash
# Boot the stock Debian kernel + vmtest initramfs in QEMU, capture the serial
# console to a log, and exit with the guest's verdict.
#
# Usage: run-vm.sh [options]
#   -i INITRD   initrd (default $VMTEST_WORK/initrd.cpio, VMTEST_WORK=/tmp/berth-vmtest)
#   -k KERNEL   kernel image: bzImage or uncompressed vmlinux (PVH).  Default:
#               INITRD.vmlinux if build-initramfs.sh extracted one, else
#               INITRD.kernel (the /boot/vmlinuz-* bzImage)
#   -A ACCEL    kvm | tcg | auto (default auto: tcg when /dev/kvm is backed by
#               kvm_pvm (cannot run stock kernels); else kvm if a 30 s probe
#               boot reaches init; else tcg)
#   -B BIOS     qboot | seabios (default qboot when /usr/share/qemu/qboot.rom exists)
#   -m MEM      guest memory in MiB (default 1024)
#   -s SMP      guest vCPUs (default 2)
#   -t SECS     wall-clock limit for the whole VM run (default 600)
#   -a ARGS     extra kernel command-line args (e.g. "vmtest.selftest=0")
#   -l LOG      serial log file (default $VMTEST_WORK/serial-<accel>.log)
#   -q          don't echo the serial console to stdout
#   -I          interactive: console on this terminal (Ctrl-A X quits qemu),
#               boots with vmtest.shell=1 (busybox shell after the tests)
#   -h          help
#
# Exit status: 0 all good; 1 a self-test failed; N the payload's exit code
# (if non-zero); 124 timeout; 3 guest never reached VMTEST-DONE (crash/panic);
# 4 qemu could not start / bad arguments.
# The VM has NO network device (-nic none); only the serial console is wired.
set -uo pipefail

WORK="${VMTEST_WORK:-/tmp/berth-vmtest}"
INITRD="$WORK/initrd.cpio"; KERNEL=""; ACCEL=auto; BIOS=""; MEM=1024; SMP=2; TMO=600
EXTRA=""; LOG=""; QUIET=0; INTERACTIVE=0
usage() { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while getopts "i:k:A:B:m:s:t:a:l:qIh" opt; do
    case "$opt" in
        i) INITRD="$OPTARG" ;; k) KERNEL="$OPTARG" ;; A) ACCEL="$OPTARG" ;;
        B) BIOS="$OPTARG" ;;   m) MEM="$OPTARG" ;;    s) SMP="$OPTARG" ;;
        t) TMO="$OPTARG" ;;    a) EXTRA="$OPTARG" ;;  l) LOG="$OPTARG" ;;
        q) QUIET=1 ;; I) INTERACTIVE=1 ;; h) usage 0 ;; *) usage 4 ;;
    esac
done
die() { echo "run-vm: $*" >&2; exit 4; }
[ -f "$INITRD" ] || die "no initrd $INITRD (run build-initramfs.sh)"
if [ -z "$KERNEL" ]; then
    KERNEL="$(cat "$INITRD.vmlinux" 2>/dev/null)"
    [ -f "$KERNEL" ] || KERNEL="$(cat "$INITRD.kernel" 2>/dev/null)"
fi
[ -f "$KERNEL" ] || die "no kernel '$KERNEL' (-k)"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing (setup-host.sh)"
QBOOT=/usr/share/qemu/qboot.rom
if [ -z "$BIOS" ]; then if [ -f "$QBOOT" ]; then BIOS=qboot; else BIOS=seabios; fi; fi
case "$BIOS" in qboot|seabios) ;; *) die "-B must be qboot or seabios" ;; esac
case "$ACCEL" in kvm|tcg|auto) ;; *) die "-A must be kvm, tcg or auto" ;; esac

APPEND="console=ttyS0 quiet loglevel=3 panic=-1 cgroup_no_v1=all $EXTRA"

qemu_args() { # qemu_args ACCEL APPEND
    printf '%s\n' -nodefaults -no-user-config -display none -nic none -no-reboot \
        -m "$MEM" -smp "$SMP" -kernel "$KERNEL" -initrd "$INITRD" \
        -append "$2" -serial stdio -monitor none
    [ "$BIOS" = qboot ] && printf '%s\n' -bios "$QBOOT"
    if [ "$1" = kvm ]; then printf '%s\n' -accel kvm -cpu host
    else printf '%s\n' -accel tcg -cpu max; fi
}

# run_once ACCEL APPEND LOG LIMIT ECHO: runs qemu; sets QRC, T_BOOT, T_DONE, T_END
# (seconds since qemu start at the VMTEST-BOOT / VMTEST-DONE lines and at exit)
run_once() {
    local a="$1" app="$2" log="$3" limit="$4" echo="$5" args=() t0 l rcf
    mapfile -t args < <(qemu_args "$a" "$app")
    rcf="$(mktemp)"; : > "$log"
    T_BOOT=-; T_DONE=-
    t0=$EPOCHREALTIME
    while IFS= read -r l || [ -n "$l" ]; do
        l="${l%$'\r'}"
        case "$l" in
            VMTEST-BOOT:*) T_BOOT=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b-a}') ;;
            VMTEST-DONE:*) T_DONE=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b-a}') ;;
        esac
        printf '%s\n' "$l" >> "$log"
        [ "$echo" = 1 ] && printf '%s\n' "$l"
    done < <(timeout -k 5 "$limit" qemu-system-x86_64 "${args[@]}" </dev/null 2>&1; echo $? > "$rcf")
    T_END=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b-a}')
    QRC="$(cat "$rcf")"; rm -f "$rcf"
}

if [ "$ACCEL" = auto ]; then
    ACCEL=tcg
    if [ -d /sys/module/kvm_pvm ]; then
        echo "run-vm: /dev/kvm is kvm_pvm (nested PVM): stock kernels only run under instruction emulation there; using TCG" >&2
    elif [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
        run_once kvm "$APPEND vmtest.probe=1" "$WORK/kvm-probe.log" 30 0
        if grep -q '^VMTEST-DONE: rc=0 probe' "$WORK/kvm-probe.log"; then ACCEL=kvm
        else echo "run-vm: KVM probe did not reach init (see $WORK/kvm-probe.log); using TCG" >&2; fi
    fi
fi
LOG="${LOG:-$WORK/serial-$ACCEL.log}"
mkdir -p "$(dirname "$LOG")"

echo "run-vm: accel=$ACCEL bios=$BIOS kernel=$KERNEL initrd=$INITRD mem=${MEM}M smp=$SMP log=$LOG" >&2
if [ "$INTERACTIVE" = 1 ]; then
    mapfile -t args < <(qemu_args "$ACCEL" "$APPEND vmtest.shell=1")
    args=("${args[@]/#stdio/mon:stdio}")   # -serial mon:stdio: Ctrl-A X / Ctrl-A C
    exec qemu-system-x86_64 "${args[@]}"
fi
echo_console=1; [ "$QUIET" = 1 ] && echo_console=0
run_once "$ACCEL" "$APPEND" "$LOG" "$TMO" "$echo_console"
[ "$echo_console" = 1 ] && echo

summary="$(grep -E '^VMTEST-(SELFTEST|PAYLOAD-EXIT|DONE):' "$LOG" | tr '\n' ' ')"
echo "run-vm: accel=$ACCEL qemu_rc=$QRC time: init=${T_BOOT}s done=${T_DONE}s exit=${T_END}s | $summary" >&2

if [ "$QRC" = 124 ] || [ "$QRC" = 137 ]; then echo "run-vm: TIMEOUT after ${TMO}s" >&2; exit 124; fi
done_line="$(grep -E '^VMTEST-DONE: rc=' "$LOG" | tail -n1)"
if [ -z "$done_line" ]; then echo "run-vm: guest did not finish (no VMTEST-DONE line); see $LOG" >&2; exit 3; fi
grc="$(echo "$done_line" | sed -n 's/^VMTEST-DONE: rc=\([0-9]*\).*/\1/p')"
exit "${grc:-3}"
