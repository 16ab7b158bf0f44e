//! v1 cpu controller: shares, CFS quota/period/burst, realtime budget, idle.

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use super::super::error::CgroupError;
use super::super::files;
use super::require;

pub(crate) fn apply(dir: Option<&Path>, cpu: &LinuxCpu) -> Result<(), CgroupError> {
    let wanted = cpu.shares().is_some()
        || cpu.quota().is_some_and(|q| q != 0)
        || cpu.period().is_some_and(|p| p != 0)
        || cpu.burst().is_some()
        || cpu.realtime_period().is_some()
        || cpu.realtime_runtime().is_some()
        || cpu.idle().is_some();
    if !wanted {
        return Ok(());
    }
    let dir = require(dir, "cpu", "cpu shares, quota, period or realtime limits")?;
    if let Some(shares) = cpu.shares() {
        let value = shares.to_string();
        files::write(dir, "cpu.shares", &value)?;
        // The kernel clamps shares to [2, 262144] without an error: read back
        // so a clamped value is an error, not a surprise.
        let stored = files::read(dir, "cpu.shares")?;
        if stored.trim() != value {
            return Err(CgroupError::NotApplied {
                path: dir.join("cpu.shares"),
                wanted: value,
                stored,
            });
        }
    }
    // Period before quota, as runc: a quota is a share of the period.
    if let Some(period) = cpu.period().filter(|p| *p != 0) {
        files::write(dir, "cpu.cfs_period_us", &period.to_string())?;
    }
    if let Some(quota) = cpu.quota().filter(|q| *q != 0) {
        let q = if quota < 0 { -1 } else { quota };
        files::write(dir, "cpu.cfs_quota_us", &q.to_string())?;
    }
    if let Some(burst) = cpu.burst() {
        files::write(dir, "cpu.cfs_burst_us", &burst.to_string())?;
    }
    if let Some(p) = cpu.realtime_period().filter(|p| *p != 0) {
        files::write(dir, "cpu.rt_period_us", &p.to_string())?;
    }
    if let Some(r) = cpu.realtime_runtime().filter(|r| *r != 0) {
        files::write(dir, "cpu.rt_runtime_us", &r.to_string())?;
    }
    if let Some(idle) = cpu.idle() {
        files::write(dir, "cpu.idle", &idle.to_string())?;
    }
    Ok(())
}

/// Throttling counters from cpu.stat (v1 reports throttled_time in ns).
pub(crate) fn stats(dir: &Path, cpu: &mut super::super::stats::Cpu) -> Result<(), CgroupError> {
    let stat = files::read_flat_keyed(dir, "cpu.stat")?;
    cpu.throttling.periods = files::keyed(&stat, "nr_periods").unwrap_or(0);
    cpu.throttling.throttled_periods = files::keyed(&stat, "nr_throttled").unwrap_or(0);
    cpu.throttling.throttled_time = files::keyed(&stat, "throttled_time").unwrap_or(0);
    Ok(())
}
