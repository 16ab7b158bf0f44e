//! v1 cpuacct controller: CPU usage (statistics only, nothing to limit).

use std::path::Path;

use super::super::error::CgroupError;
use super::super::files;
use super::super::stats::CpuUsage;

/// USER_HZ: cpuacct.stat counts in clock ticks of 1/100 s on Linux.
const NANOS_PER_TICK: u64 = 1_000_000_000 / 100;

pub(crate) fn stats(dir: &Path, usage: &mut CpuUsage) -> Result<(), CgroupError> {
    usage.total = files::read_u64_or_zero(dir, "cpuacct.usage")?;
    if let Some(per) = files::read_opt(dir, "cpuacct.usage_percpu")? {
        usage.percpu = per
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
    }
    // cpuacct.usage_all: "cpu user system" per line, nanoseconds.
    if let Some(all) = files::read_opt(dir, "cpuacct.usage_all")? {
        for line in all.lines().skip(1) {
            let f: Vec<u64> = line
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
            if let [_, user, sys] = f[..] {
                usage.percpu_user.push(user);
                usage.percpu_kernel.push(sys);
            }
        }
    }
    let stat = files::read_flat_keyed(dir, "cpuacct.stat")?;
    usage.user = files::keyed(&stat, "user").unwrap_or(0) * NANOS_PER_TICK;
    usage.kernel = files::keyed(&stat, "system").unwrap_or(0) * NANOS_PER_TICK;
    Ok(())
}
