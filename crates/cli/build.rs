//! Links the `berth` binary as a position-dependent executable.
//!
//! Why: every start of a PIE must apply its relative relocations before
//! `main`. For this multicall binary (CLI, OCI runtime, CNI plugins) that
//! is ~19k relocations writing into ~90 pages of `.data.rel.ro`, each a
//! copy-on-write page fault, in every `berth-runc` and plugin invocation,
//! and again as dirty pages a clone must copy. Measured on the project's
//! machine: ~90 fewer page faults and ~0.1-0.3 ms less per process start,
//! which is a large share of a container start (bench/runtime.sh).
//!
//! The cost: the executable's own text and data load at a fixed address
//! (libc, the heap, the stack and mmaps stay randomised), as Debian's runc
//! binary does. The objects are still compiled position-independent; only
//! the final link changes, so nothing else differs.

fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");
    println!("cargo:rerun-if-changed=build.rs");
}
