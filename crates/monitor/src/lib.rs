//! berth-monitor: the per-container monitor ("shim"), a mode of the one
//! `berth` binary that berthd starts with fork+exec.
//!
//! It owns one supervised process — a container's init or an exec'd
//! process — for that process's whole life: it becomes a session leader
//! and child subreaper, creates the container through `berth-runtime` as a
//! library call (no runtime process in between; or, for a container of an
//! external OCI runtime, through that binary's CLI), keeps the process's
//! stdio (the json-file log, attach clients), and records the exit status
//! in the state dir. It is synchronous (one poll loop, no async runtime)
//! and does not depend on berthd staying up: berthd may die and come back
//! and find it through its attach socket (live restore).
//!
//! The attach socket speaks a line protocol whose first line says what the
//! client wants (see [`protocol`]); output to attach clients is framed as
//! Docker's stdcopy (8-byte header: stream, 0, 0, 0, big-endian length),
//! so berthd can pass frames through to Docker clients unchanged.

pub mod config;
pub mod exit;
mod helper;
pub mod log;
pub mod protocol;
pub mod resident;
mod run;
mod stdio;

pub use config::{Job, LogConfig, MonitorConfig};
pub use exit::ExitRecord;
pub use run::main;
