//! Link options for the berth-cni binary: every CNI call is a fresh process
//! of it, and a position-independent binary's loader applies each relative
//! relocation at every start. Packed relative relocations (DT_RELR: glibc
//! 2.36 and musl 1.2.4 or later, binutils 2.38 or later) shrink that table
//! from one 24-byte RELA entry per pointer to a few kilobytes, keeping the
//! binary PIE (ASLR). Same as crates/cli/build.rs does for berth's binaries.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if linux && (env == "gnu" || env == "musl") {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
