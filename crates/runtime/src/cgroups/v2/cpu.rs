//! v2 cpu controller: cpu.weight (from OCI shares), cpu.max, cpu.max.burst,
//! cpu.idle. Realtime budgets do not exist on v2.

use std::path::Path;

use oci_spec::runtime::LinuxCpu;

use super::super::convert::shares_to_weight;
use super::super::error::CgroupError;
use super::super::files;
use super::super::stats::Cpu;

/// The cpu.max line for a quota and period, as runc writes it: an unset or
/// negative quota is "max"; an unset period keeps the kernel's.
pub(crate) fn max_line(quota: Option<i64>, period: Option<u64>) -> Option<String> {
    let quota = quota.filter(|q| *q != 0);
    let period = period.filter(|p| *p != 0);
    if quota.is_none() && period.is_none() {
        return None;
    }
    let mut line = match quota {
        Some(q) if q > 0 => q.to_string(),
        _ => "max".to_owned(),
    };
    if let Some(p) = period {
        line.push_str(&format!(" {p}"));
    }
    Some(line)
}

pub(crate) fn apply(dir: &Path, cpu: &LinuxCpu) -> Result<(), CgroupError> {
    if cpu.realtime_period().is_some_and(|v| v != 0)
        || cpu.realtime_runtime().is_some_and(|v| v != 0)
    {
        return Err(CgroupError::UnsupportedOnV2 {
            what: "cpu realtime period/runtime",
        });
    }
    if let Some(shares) = cpu.shares().filter(|s| *s != 0) {
        files::write(dir, "cpu.weight", &shares_to_weight(shares)?.to_string())?;
    }
    if let Some(line) = max_line(cpu.quota(), cpu.period()) {
        files::write(dir, "cpu.max", &line)?;
    }
    if let Some(burst) = cpu.burst() {
        files::write(dir, "cpu.max.burst", &burst.to_string())?;
    }
    if let Some(idle) = cpu.idle() {
        files::write(dir, "cpu.idle", &idle.to_string())?;
    }
    Ok(())
}

/// Whether `cpu` sets anything the cpu controller (not cpuset) handles.
pub(crate) fn wanted(cpu: &LinuxCpu) -> bool {
    cpu.shares().is_some_and(|s| s != 0)
        || max_line(cpu.quota(), cpu.period()).is_some()
        || cpu.burst().is_some()
        || cpu.idle().is_some()
        || cpu.realtime_period().is_some_and(|v| v != 0)
        || cpu.realtime_runtime().is_some_and(|v| v != 0)
}

/// cpu.stat is in the cgroup core on v2: present even without the controller.
pub(crate) fn stats(dir: &Path, out: &mut Cpu) -> Result<(), CgroupError> {
    let stat = files::read_flat_keyed(dir, "cpu.stat")?;
    let us = |k: &str| files::keyed(&stat, k).unwrap_or(0) * 1000;
    out.usage.total = us("usage_usec");
    out.usage.user = us("user_usec");
    out.usage.kernel = us("system_usec");
    out.throttling.periods = files::keyed(&stat, "nr_periods").unwrap_or(0);
    out.throttling.throttled_periods = files::keyed(&stat, "nr_throttled").unwrap_or(0);
    out.throttling.throttled_time = us("throttled_usec");
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn cpu_max_lines() {
        assert_eq!(max_line(None, None), None);
        assert_eq!(max_line(Some(0), Some(0)), None);
        assert_eq!(max_line(Some(50_000), None).as_deref(), Some("50000"));
        assert_eq!(
            max_line(Some(50_000), Some(100_000)).as_deref(),
            Some("50000 100000")
        );
        assert_eq!(
            max_line(Some(-1), Some(100_000)).as_deref(),
            Some("max 100000")
        );
        assert_eq!(max_line(None, Some(20_000)).as_deref(), Some("max 20000"));
    }
}
