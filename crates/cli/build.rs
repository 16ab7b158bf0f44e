//! Link options for the berth binaries.
//!
//! Every CNI plugin call and every runtime call is a fresh process of a
//! ~12 MB position-independent binary, and the dynamic loader applied its
//! ~19,000 relative relocations one 24-byte RELA entry at a time on each
//! start (perf: ld.so was a tenth of a CNI ADD+DEL's CPU time). Packed
//! relative relocations (DT_RELR, glibc 2.36 and binutils 2.38 or later,
//! as on Debian 12) shrink that table to a few kilobytes and the loader's
//! work with it, keeping the binary PIE (ASLR).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let linux_gnu = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    if linux_gnu {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
