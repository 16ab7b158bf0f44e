//! v1 cpuset controller: cpus and memory nodes.

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxCpu;

use super::super::error::CgroupError;
use super::super::files;
use super::super::stats::{parse_cpu_list, CpuSet};
use super::require;

/// A new v1 cpuset cgroup starts with empty cpus and mems, and the kernel
/// refuses to add a task to it (ENOSPC). Copy the parent's sets into each
/// directory we created, outermost first, as runc does.
pub(crate) fn init_created(created: &[PathBuf]) -> Result<(), CgroupError> {
    for dir in created {
        let Some(parent) = dir.parent() else { continue };
        for file in ["cpuset.cpus", "cpuset.mems"] {
            if files::read(dir, file)?.trim().is_empty() {
                let from_parent = files::read(parent, file)?;
                if !from_parent.trim().is_empty() {
                    files::write(dir, file, from_parent.trim())?;
                }
            }
        }
    }
    Ok(())
}

pub(crate) fn apply(dir: Option<&Path>, cpu: &LinuxCpu) -> Result<(), CgroupError> {
    let cpus = cpu.cpus().as_deref().filter(|s| !s.is_empty());
    let mems = cpu.mems().as_deref().filter(|s| !s.is_empty());
    if cpus.is_none() && mems.is_none() {
        return Ok(());
    }
    let dir = require(dir, "cpuset", "cpus or mems")?;
    if let Some(cpus) = cpus {
        files::write(dir, "cpuset.cpus", cpus)?;
    }
    if let Some(mems) = mems {
        files::write(dir, "cpuset.mems", mems)?;
    }
    Ok(())
}

pub(crate) fn stats(dir: &Path, out: &mut CpuSet) -> Result<(), CgroupError> {
    out.cpus = parse_cpu_list(&files::read_opt(dir, "cpuset.effective_cpus")?.unwrap_or_default());
    out.mems = parse_cpu_list(&files::read_opt(dir, "cpuset.effective_mems")?.unwrap_or_default());
    Ok(())
}
