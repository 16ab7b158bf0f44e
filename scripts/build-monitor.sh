#!/usr/bin/env bash
# Relinks the release berth-monitor static and non-PIE (glibc's static
# libc, no ld.so, no relocations to apply at load). berthd starts one
# monitor per container; such a binary touches far fewer pages, so each
# monitor's resident set is about half the dynamic one's. Only this
# binary's crate is rebuilt (cargo rustc passes the flags to it alone);
# its dependencies are the release build's. A later plain `cargo build
# --release` relinks it dynamic again: run this after it.
# usage: scripts/build-monitor.sh [cargo flags, e.g. -q]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo rustc --release "$@" -p berth --bin berth-monitor -- \
    -C target-feature=+crt-static -C relocation-model=static
