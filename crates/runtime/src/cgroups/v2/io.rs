//! v2 io controller: weights (io.bfq.weight with OCI's own scale where BFQ
//! is in use, else io.weight converted as runc does) and io.max throttling.

use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxThrottleDevice};

use super::super::convert::{blkio_weight_to_io_weight, check_blkio_weight};
use super::super::error::CgroupError;
use super::super::files;
use super::super::stats::{parse_io_stat_v2, Blkio};

fn some<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_some_and(|v| !v.is_empty())
}

pub(crate) fn wanted(b: &LinuxBlockIo) -> bool {
    b.weight().is_some()
        || some(b.weight_device())
        || some(b.throttle_read_bps_device())
        || some(b.throttle_write_bps_device())
        || some(b.throttle_read_iops_device())
        || some(b.throttle_write_iops_device())
}

/// Writes a weight ("500" or "8:0 500"): BFQ takes OCI's 10..1000 scale as is.
fn write_weight(dir: &Path, device: Option<(i64, i64)>, w: u16) -> Result<(), CgroupError> {
    check_blkio_weight("blkio weight", w)?;
    let prefix = device
        .map(|(ma, mi)| format!("{ma}:{mi} "))
        .unwrap_or_default();
    if files::write_if_exists(dir, "io.bfq.weight", &format!("{prefix}{w}"))? {
        return Ok(());
    }
    let converted = blkio_weight_to_io_weight(w)?;
    let line = match device {
        Some(_) => format!("{prefix}{converted}"),
        None => format!("default {converted}"),
    };
    files::write(dir, "io.weight", &line)
}

pub(crate) fn apply(dir: &Path, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    if b.leaf_weight().is_some() {
        tracing::warn!("ignoring blkio leaf weight: it only exists for CFQ on cgroup v1");
    }
    if let Some(w) = b.weight() {
        write_weight(dir, None, w)?;
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight() {
            write_weight(dir, Some((d.major(), d.minor())), w)?;
        }
    }
    let throttles: [(&Option<Vec<LinuxThrottleDevice>>, &str); 4] = [
        (b.throttle_read_bps_device(), "rbps"),
        (b.throttle_write_bps_device(), "wbps"),
        (b.throttle_read_iops_device(), "riops"),
        (b.throttle_write_iops_device(), "wiops"),
    ];
    for (list, key) in throttles {
        for d in list.iter().flatten() {
            files::write(
                dir,
                "io.max",
                &format!("{}:{} {key}={}", d.major(), d.minor(), d.rate()),
            )?;
        }
    }
    Ok(())
}

pub(crate) fn stats(dir: &Path, out: &mut Blkio) -> Result<(), CgroupError> {
    if let Some(text) = files::read_opt(dir, "io.stat")? {
        let (bytes, ios) = parse_io_stat_v2(&text);
        out.io_service_bytes_recursive = bytes;
        out.io_serviced_recursive = ios;
    }
    Ok(())
}
