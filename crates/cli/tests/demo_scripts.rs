//! The README's first command works: `scripts/demo.sh` (berthd driven by
//! berth's CLI) and `scripts/demo-cni.sh` (runtime + CNI plugins) run to
//! the end with this build's `berth` (BERTH_BIN skips their install and
//! release build). Each demo makes its own sandbox with `unshare` and checks
//! itself that nothing is left; the suite's leak check covers the rest.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

use std::path::PathBuf;
use std::process::{Command, Stdio};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn run_demo(script: &str) {
    if !is_root() {
        eprintln!("skipped: {script} needs root (it makes namespaces)");
        return;
    }
    let out = Command::new(repo().join("scripts").join(script))
        .env("BERTH_BIN", env!("CARGO_BIN_EXE_berth"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("demo finished"),
        "{script} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}

#[test]
fn main_demo_runs_to_the_end_and_leaves_nothing() {
    run_demo("demo.sh");
}

#[test]
fn cni_demo_runs_to_the_end_and_leaves_nothing() {
    run_demo("demo-cni.sh");
}
