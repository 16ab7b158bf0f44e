//! v2 cpuset controller.

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use super::super::error::CgroupError;
use super::super::files;
use super::super::stats::{parse_cpu_list, CpuSet};

pub(crate) fn wanted(cpu: &LinuxCpu) -> bool {
    cpu.cpus().as_deref().is_some_and(|s| !s.is_empty())
        || cpu.mems().as_deref().is_some_and(|s| !s.is_empty())
}

pub(crate) fn apply(dir: &Path, cpu: &LinuxCpu) -> Result<(), CgroupError> {
    if let Some(cpus) = cpu.cpus().as_deref().filter(|s| !s.is_empty()) {
        files::write(dir, "cpuset.cpus", cpus)?;
    }
    if let Some(mems) = cpu.mems().as_deref().filter(|s| !s.is_empty()) {
        files::write(dir, "cpuset.mems", mems)?;
    }
    Ok(())
}

pub(crate) fn stats(dir: &Path, out: &mut CpuSet) -> Result<(), CgroupError> {
    out.cpus = parse_cpu_list(&files::read_opt(dir, "cpuset.cpus.effective")?.unwrap_or_default());
    out.mems = parse_cpu_list(&files::read_opt(dir, "cpuset.mems.effective")?.unwrap_or_default());
    Ok(())
}
