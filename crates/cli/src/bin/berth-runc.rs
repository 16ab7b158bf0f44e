//! `berth-runc`: the runc-compatible runtime CLI as a binary of its own.
//!
//! The `berth` binary picks its role by the name it is invoked under, so a
//! symlink `berth-runc -> berth` works only for callers that exec the link
//! itself. Engines that resolve the path first (realpath) would run
//! `berth` and get the CLI's usage; this binary is the runtime whatever
//! its path resolves to. It is the same code (the module is shared with
//! `berth runtime ...`) without the CLI and CNI parts.

#[path = "../commands/runtime/mod.rs"]
mod runtime;

fn main() {
    std::process::exit(runtime::main(std::env::args_os().collect()));
}
