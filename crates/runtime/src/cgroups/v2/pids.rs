//! v2 pids controller: the same files as v1's.

use std::path::Path;

use oci_spec::runtime::LinuxPids;

use super::super::error::CgroupError;
use super::super::files;
use super::super::v1::pids::max_value;

pub(crate) fn apply(dir: &Path, p: &LinuxPids) -> Result<(), CgroupError> {
    files::write(dir, "pids.max", &max_value(p))
}

pub(crate) use super::super::v1::pids::stats;
