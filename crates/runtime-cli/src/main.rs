//! `berth-runc`: the runc-compatible runtime CLI as a binary of its own.
//!
//! The `berth` binary picks its role by the name it is invoked under, so a
//! symlink `berth-runc -> berth` works only for callers that exec the link
//! itself. Engines that resolve the path first (realpath) would run
//! `berth` and get the CLI's usage; this binary is the runtime whatever
//! its path resolves to. It is the same library as `berth runtime ...`,
//! without the engine, CLI and CNI parts.

fn main() {
    std::process::exit(berth_runc::main(std::env::args_os().collect()));
}
