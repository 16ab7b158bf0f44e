//! v1 blkio controller: weights (CFQ's blkio.weight or BFQ's
//! blkio.bfq.weight, whichever the kernel has) and throttling.

use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxThrottleDevice};

use super::super::convert::check_blkio_weight;
use super::super::error::CgroupError;
use super::super::files;
use super::super::stats::{parse_blkio_v1, Blkio};
use super::require;

fn some<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_some_and(|v| !v.is_empty())
}

fn wanted(b: &LinuxBlockIo) -> bool {
    b.weight().is_some()
        || b.leaf_weight().is_some()
        || some(b.weight_device())
        || some(b.throttle_read_bps_device())
        || some(b.throttle_write_bps_device())
        || some(b.throttle_read_iops_device())
        || some(b.throttle_write_iops_device())
}

/// Writes to the first of `names` that exists; an error naming the first
/// if none does.
fn write_first(dir: &Path, names: &[&str], value: &str) -> Result<(), CgroupError> {
    for n in names {
        if files::write_if_exists(dir, n, value)? {
            return Ok(());
        }
    }
    files::write(dir, names[0], value)
}

pub(crate) fn apply(dir: Option<&Path>, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    if !wanted(b) {
        return Ok(());
    }
    let dir = require(dir, "blkio", "block I/O weights or throttling")?;
    if let Some(w) = b.weight() {
        check_blkio_weight("blkio weight", w)?;
        write_first(dir, &["blkio.weight", "blkio.bfq.weight"], &w.to_string())?;
    }
    if let Some(w) = b.leaf_weight() {
        check_blkio_weight("blkio leaf weight", w)?;
        files::write(dir, "blkio.leaf_weight", &w.to_string())?;
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight() {
            check_blkio_weight("blkio device weight", w)?;
            write_first(
                dir,
                &["blkio.weight_device", "blkio.bfq.weight_device"],
                &format!("{}:{} {w}", d.major(), d.minor()),
            )?;
        }
        if let Some(w) = d.leaf_weight() {
            check_blkio_weight("blkio device leaf weight", w)?;
            files::write(
                dir,
                "blkio.leaf_weight_device",
                &format!("{}:{} {w}", d.major(), d.minor()),
            )?;
        }
    }
    let throttles: [(&Option<Vec<LinuxThrottleDevice>>, &str); 4] = [
        (
            b.throttle_read_bps_device(),
            "blkio.throttle.read_bps_device",
        ),
        (
            b.throttle_write_bps_device(),
            "blkio.throttle.write_bps_device",
        ),
        (
            b.throttle_read_iops_device(),
            "blkio.throttle.read_iops_device",
        ),
        (
            b.throttle_write_iops_device(),
            "blkio.throttle.write_iops_device",
        ),
    ];
    for (list, file) in throttles {
        for d in list.iter().flatten() {
            files::write(
                dir,
                file,
                &format!("{}:{} {}", d.major(), d.minor(), d.rate()),
            )?;
        }
    }
    Ok(())
}

/// The first of the CFQ, BFQ and throttle variants that has entries (which
/// ones count depends on the I/O scheduler in use), as runc does.
fn first_nonempty(
    dir: &Path,
    names: &[&str],
) -> Result<Vec<super::super::stats::BlkioEntry>, CgroupError> {
    for n in names {
        if let Some(text) = files::read_opt(dir, n)? {
            let entries = parse_blkio_v1(&text);
            if !entries.is_empty() {
                return Ok(entries);
            }
        }
    }
    Ok(Vec::new())
}

pub(crate) fn stats(dir: &Path, out: &mut Blkio) -> Result<(), CgroupError> {
    out.io_service_bytes_recursive = first_nonempty(
        dir,
        &[
            "blkio.io_service_bytes_recursive",
            "blkio.bfq.io_service_bytes_recursive",
            "blkio.throttle.io_service_bytes_recursive",
        ],
    )?;
    out.io_serviced_recursive = first_nonempty(
        dir,
        &[
            "blkio.io_serviced_recursive",
            "blkio.bfq.io_serviced_recursive",
            "blkio.throttle.io_serviced_recursive",
        ],
    )?;
    Ok(())
}
