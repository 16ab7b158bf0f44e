//! Build facts for `berth-runc --version`: the compiler's version, the
//! seccomp compiler's version (from Cargo.lock) and, when the build sets
//! BERTH_COMMIT, the commit. And, for glibc builds, packed relative
//! relocations (see crates/cli/build.rs): every runtime call is a fresh
//! process of this binary.

use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "rustc (unknown)".to_owned());
    println!("cargo:rustc-env=BERTH_RUSTC_VERSION={version}");

    let lock = std::fs::read_to_string("../../Cargo.lock").unwrap_or_default();
    let seccompiler = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"seccompiler\""))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = ")))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_else(|| "(unknown)".to_owned());
    println!("cargo:rustc-env=BERTH_SECCOMPILER_VERSION={seccompiler}");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../../Cargo.lock");
    println!("cargo:rerun-if-env-changed=BERTH_COMMIT");

    let linux_gnu = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    if linux_gnu {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
