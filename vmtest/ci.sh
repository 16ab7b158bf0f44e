#!/usr/bin/env bash
# Run the workspace's VM tests in one boot of a stock Debian kernel (QEMU/TCG).
#
#   vmtest/ci.sh                    # all workspace crates
#   vmtest/ci.sh -p berth-net       # cargo package selection, passed to cargo test
#
# 1. setup-host.sh (installs qemu, busybox, the kernel... only if missing)
# 2. cargo test --no-run --message-format=json "$@" (default --workspace)
# 3. picks the test binaries that hold at least one test whose name contains
#    $VMTEST_FILTER (default `vm_`, checked on the host with `--list`), plus
#    the harness self-check binaries in $VMTEST_ALWAYS (run whole)
# 4. copies them, debug info stripped, to their host paths in the image, with
#    the workspace's bin targets (so CARGO_BIN_EXE_* paths work), the files of
#    vmtest/guest-files.txt, and guest/run-tests as /payload/run
# 5. boots once: self-tests (VMTEST_SELFTEST=0 skips them), then the tests
#    with VMTEST=1 set; prints the console; exits 0 only if all passed.
#
# Environment: VMTEST_FILTER, VMTEST_ALWAYS (space-separated package:target,
# default "berth-testsupport:sandbox_basics"), VMTEST_SELFTEST (1),
# VMTEST_TIMEOUT (whole VM run, default 240 s), VMTEST_MEM (MiB, 1536),
# VMTEST_WORK (/tmp/berth-vmtest), CARGO_TARGET_DIR (cargo's, honoured).
# Exit status: 0 all passed; 1 a self-test failed; N = number of failed test
# binaries; 124 timeout; 3 the guest crashed; 4 setup/build error.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
FILTER="${VMTEST_FILTER:-vm_}"
ALWAYS="${VMTEST_ALWAYS:-berth-testsupport:sandbox_basics}"
SELFTEST="${VMTEST_SELFTEST:-1}"
TIMEOUT="${VMTEST_TIMEOUT:-240}"
MEM="${VMTEST_MEM:-1536}"
WORK="${VMTEST_WORK:-/tmp/berth-vmtest}"
export VMTEST_WORK="$WORK"
[ "$#" -gt 0 ] || set -- --workspace

say() { echo "vmtest: $*" >&2; }
die() { say "$*"; exit 4; }
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}'; }

t_all=$EPOCHREALTIME
"$HERE/setup-host.sh" >&2 || die "setup-host.sh failed"

mkdir -p "$WORK"
RUN="$(mktemp -d "$WORK/ci.XXXXXX")"
trap 'rm -rf "$RUN"' EXIT
PAYLOAD="$RUN/payload"; OVERLAY="$RUN/root"
mkdir -p "$PAYLOAD" "$OVERLAY"

# ---------------------------------------------------------------- build ---
t0=$EPOCHREALTIME
say "building test binaries: cargo test --no-run $*"
( cd "$ROOT" && cargo test --no-run --message-format=json "$@" ) > "$RUN/cargo.json" \
    || die "cargo test --no-run failed"
t_build=$(elapsed "$t0")

# package name: from the package id (…#name@ver), else the manifest dir's name
jq -r 'select(.reason == "compiler-artifact" and .executable != null and .profile.test == true)
       | [ ((.package_id | capture("#(?<n>[^@]+)@").n) // (.manifest_path | split("/") | .[-2])),
           (.manifest_path | sub("/Cargo.toml$"; "")), .target.name, .executable ] | @tsv' \
    "$RUN/cargo.json" | sort -u > "$RUN/tests.all"
jq -r 'select(.reason == "compiler-artifact" and .executable != null and .profile.test == false
              and (.target.kind | index("bin"))) | .executable' "$RUN/cargo.json" | sort -u > "$RUN/bins"

# -------------------------------------------------------------- select ---
: > "$PAYLOAD/tests.list"
ntests=0
while IFS=$'\t' read -r pkg dir target exe; do
    mode=""
    for a in $ALWAYS; do [ "$a" = "$pkg:$target" ] && mode='*'; done
    if [ -z "$mode" ]; then
        listed="$("$exe" --list "$FILTER" 2>/dev/null)" || die "$exe --list failed"
        n="$(grep -c ': test$' <<< "$listed" || true)"
        [ "$n" -gt 0 ] || continue
        ntests=$((ntests + n))
        say "  $pkg/$target: $n test(s) matching '$FILTER'"
        mode="$FILTER"
    else
        say "  $pkg/$target: whole binary (harness self-check)"
    fi
    printf '%s\t%s\t%s\t%s\n' "$pkg" "$dir" "$exe" "$mode" >> "$PAYLOAD/tests.list"
    mkdir -p "$OVERLAY$(dirname "$exe")"
    objcopy --strip-debug "$exe" "$OVERLAY$exe"
    # the package's files (fixtures under tests/, ...), its cwd in the guest
    if [ ! -d "$OVERLAY$dir" ]; then
        mkdir -p "$OVERLAY$dir"
        tar -C "$dir" --exclude=./target -cf - . | tar -C "$OVERLAY$dir" -xf -
    fi
done < "$RUN/tests.all"
[ -s "$PAYLOAD/tests.list" ] || die "no test binary to run (none matches '$FILTER', none of '$ALWAYS' built)"
while read -r b; do
    mkdir -p "$OVERLAY$(dirname "$b")"
    objcopy --strip-debug "$b" "$OVERLAY$b"
done < "$RUN/bins"
install -m 0755 "$HERE/guest/run-tests" "$PAYLOAD/run"

extra=()
while read -r line; do
    line="${line%%#*}"; line="${line%"${line##*[![:space:]]}"}"
    [ -n "$line" ] || continue
    opt=0; case "$line" in '?'*) opt=1; line="${line#\?}" ;; esac
    if [ -e "$line" ]; then extra+=(-b "$line")
    elif [ "$opt" = 0 ]; then die "guest-files.txt: $line not found"; fi
done < "$HERE/guest-files.txt"

# --------------------------------------------------------------- image ---
t0=$EPOCHREALTIME
"$HERE/build-initramfs.sh" -o "$RUN/initrd.cpio" -p "$PAYLOAD" -r "$OVERLAY" "${extra[@]}" >&2 \
    || die "build-initramfs.sh failed"
t_image=$(elapsed "$t0")
say "image: $(du -h "$RUN/initrd.cpio" | cut -f1), $(wc -l < "$PAYLOAD/tests.list") test binaries, $ntests '$FILTER' tests"

# ------------------------------------------------------------------ run ---
args=(-i "$RUN/initrd.cpio" -t "$TIMEOUT" -m "$MEM" -l "$WORK/ci-last.log")
[ "$SELFTEST" = 1 ] || args+=(-a vmtest.selftest=0)
t0=$EPOCHREALTIME
set +e
"$HERE/run-vm.sh" "${args[@]}"
rc=$?
set -e
t_vm=$(elapsed "$t0")

# -------------------------------------------------------------- verdict ---
LOG="$WORK/ci-last.log"
echo >&2
say "summary (console log: $LOG)"
grep -E '^VMTEST: FAIL|^VMTEST-(BOOT|SELFTEST|TEST|TESTS|PAYLOAD-EXIT|DONE):' "$LOG" | sed 's/^/  /' >&2 || true
if [ "$rc" -eq 0 ]; then
    # belt and braces: a zero exit must come with a payload that reported 0
    grep -qx 'VMTEST-PAYLOAD-EXIT: 0' "$LOG" || { say "no 'VMTEST-PAYLOAD-EXIT: 0' line"; rc=3; }
fi
say "times: build ${t_build}s, image ${t_image}s, vm ${t_vm}s, total $(elapsed "$t_all")s"
st_failed="$(sed -n 's/^VMTEST-SELFTEST: [0-9]* passed, \([0-9]*\) failed.*/\1/p' "$LOG")"
bin_failed="$(sed -n 's/^VMTEST-TESTS: [0-9]* binaries, \([0-9]*\) failed.*/\1/p' "$LOG")"
case "$rc" in
    0) say "PASS" ;;
    124) say "FAIL: timeout after ${TIMEOUT}s" ;;
    3) say "FAIL: the guest did not finish (crash or panic)" ;;
    *) say "FAIL: self-tests failed: ${st_failed:-?}; test binaries failed: ${bin_failed:-?} (see the console output above)" ;;
esac
exit "$rc"
