//! rdma controller limits: the same rdma.max file on v1 and v2.

use std::path::Path;

use oci_spec::runtime::LinuxRdma;

use super::error::CgroupError;
use super::files;

pub(crate) fn apply<'a>(
    dir: &Path,
    limits: impl Iterator<Item = (&'a String, &'a LinuxRdma)>,
) -> Result<(), CgroupError> {
    for (device, l) in limits {
        let mut line = device.clone();
        if let Some(h) = l.hca_handles() {
            line.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = l.hca_objects() {
            line.push_str(&format!(" hca_object={o}"));
        }
        if line.len() > device.len() {
            files::write(dir, "rdma.max", &line)?;
        }
    }
    Ok(())
}
