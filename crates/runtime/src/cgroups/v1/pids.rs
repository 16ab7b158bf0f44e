//! v1 pids controller (same files as v2's).

use std::path::Path;

use oci_spec::runtime::LinuxPids;

use super::super::error::CgroupError;
use super::super::files;
use super::super::stats::Pids;

/// pids.max value for an OCI limit: zero or negative means unlimited (runc).
pub(crate) fn max_value(p: &LinuxPids) -> String {
    if p.limit() > 0 {
        p.limit().to_string()
    } else {
        "max".to_owned()
    }
}

pub(crate) fn apply(dir: Option<&Path>, p: &LinuxPids) -> Result<(), CgroupError> {
    let dir = super::require(dir, "pids", "a pids limit")?;
    files::write(dir, "pids.max", &max_value(p))
}

/// Shared by v1 and v2: the files are the same.
pub(crate) fn stats(dir: &Path, out: &mut Pids) -> Result<(), CgroupError> {
    out.current = files::read_u64_or_zero(dir, "pids.current")?;
    out.limit = match files::read_u64_or_zero(dir, "pids.max")? {
        u64::MAX => 0,
        v => v,
    };
    Ok(())
}
