//! Process security settings, computed in the parent before clone and
//! applied in the child with raw syscalls: capabilities, rlimits, seccomp.

pub mod caps;
pub mod rlimits;
pub mod seccomp;
