//! v2 device access control: the rules compiled into an eBPF program
//! ([`program`]) attached to the container's cgroup ([`bpf`]).
//!
//! Replacing rules (a second apply, as `runc update` does) attaches the new
//! program before detaching the old ones, so there is no moment in which
//! the container has no device policy.

mod bpf;
mod program;

use std::fs::File;
use std::path::Path;

use super::super::device_rules::DeviceRule;
use super::super::error::CgroupError;

pub(crate) fn apply(dir: &Path, rules: &[DeviceRule]) -> Result<(), CgroupError> {
    let fail = |reason: String| CgroupError::DeviceProgram {
        path: dir.to_owned(),
        reason,
    };
    let cgroup = File::open(dir).map_err(|source| CgroupError::Read {
        path: dir.to_owned(),
        source,
    })?;
    let old = bpf::attached(&cgroup).map_err(|e| fail(format!("query attached programs: {e}")))?;
    let prog = bpf::load(&program::generate(rules)).map_err(fail)?;
    bpf::attach(&cgroup, &prog).map_err(|e| fail(format!("attach program: {e}")))?;
    for p in old {
        bpf::detach(&cgroup, &p).map_err(|e| fail(format!("detach old program: {e}")))?;
    }
    Ok(())
}

/// How many device programs are attached directly to `dir` (for reports and
/// tests).
pub(crate) fn attached_count(dir: &Path) -> Result<usize, CgroupError> {
    let cgroup = File::open(dir).map_err(|source| CgroupError::Read {
        path: dir.to_owned(),
        source,
    })?;
    bpf::attached(&cgroup)
        .map(|v| v.len())
        .map_err(|e| CgroupError::DeviceProgram {
            path: dir.to_owned(),
            reason: format!("query attached programs: {e}"),
        })
}
