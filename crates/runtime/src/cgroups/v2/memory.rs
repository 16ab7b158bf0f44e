//! v2 memory controller: memory.max, memory.low (reservation),
//! memory.swap.max (OCI's memory+swap minus the limit), and the OOM counters
//! in memory.events.

use std::path::Path;

use oci_spec::runtime::LinuxMemory;

use super::super::convert::{limit_str, swap_to_v2};
use super::super::error::CgroupError;
use super::super::files;
use super::super::stats::{Memory, MemoryEntry};

pub(crate) fn wanted(mem: &LinuxMemory) -> bool {
    mem.limit().is_some_and(|v| v != 0)
        || mem.swap().is_some_and(|v| v != 0)
        || mem.reservation().is_some_and(|v| v != 0)
        || mem.swappiness().is_some()
        || mem.disable_oom_killer() == Some(true)
}

pub(crate) fn apply(dir: &Path, mem: &LinuxMemory) -> Result<(), CgroupError> {
    if mem.swappiness().is_some() {
        return Err(CgroupError::UnsupportedOnV2 {
            what: "memory swappiness",
        });
    }
    if mem.disable_oom_killer() == Some(true) {
        return Err(CgroupError::UnsupportedOnV2 {
            what: "disabling the OOM killer",
        });
    }
    if mem.kernel().is_some() || mem.kernel_tcp().is_some() {
        tracing::warn!(
            "ignoring kernel memory limits: cgroup v2 has no separate kernel memory limit"
        );
    }
    let limit = mem.limit().filter(|v| *v != 0);
    if let Some(l) = limit {
        if l < -1 {
            return Err(CgroupError::InvalidValue {
                what: "memory limit",
                value: l.to_string(),
                reason: "must be -1 (unlimited) or a byte count".to_owned(),
            });
        }
    }
    let swap = swap_to_v2(mem.swap(), mem.limit())?;
    if mem.check_before_update() == Some(true) {
        if let Some(l) = limit.filter(|l| *l > 0) {
            let usage = files::read_u64(dir, "memory.current")?;
            if usage > l as u64 {
                return Err(CgroupError::UsageAboveLimit {
                    path: dir.to_owned(),
                    usage,
                    limit: l,
                });
            }
        }
    }
    if let Some(s) = swap {
        let value = limit_str(s);
        // Without swap accounting the file is missing; "no swap" and
        // "unlimited swap" then already hold, anything else cannot.
        if !files::write_if_exists(dir, "memory.swap.max", &value)? && s != -1 && s != 0 {
            return Err(CgroupError::MissingController {
                what: "a swap limit",
                controller: "memory (with swap accounting)",
                detail: format!("{} is missing", dir.join("memory.swap.max").display()),
            });
        }
    }
    if let Some(l) = limit {
        files::write(dir, "memory.max", &limit_str(l))?;
    }
    if let Some(r) = mem.reservation().filter(|v| *v != 0) {
        files::write(dir, "memory.low", &limit_str(r))?;
    }
    Ok(())
}

pub(crate) fn stats(dir: &Path, out: &mut Memory) -> Result<(), CgroupError> {
    if !dir.join("memory.current").exists() {
        return Ok(());
    }
    let events = files::read_flat_keyed(dir, "memory.events")?;
    let limit = files::read_u64_or_zero(dir, "memory.max")?;
    out.usage = MemoryEntry {
        limit,
        usage: files::read_u64(dir, "memory.current")?,
        max: files::read_u64_or_zero(dir, "memory.peak")?,
        failcnt: files::keyed(&events, "max").unwrap_or(0),
    };
    if dir.join("memory.swap.current").exists() {
        // Reported as memory+swap, like v1's memsw, as runc does.
        let swap_max = files::read_u64(dir, "memory.swap.max")?;
        out.swap = MemoryEntry {
            limit: if swap_max == u64::MAX || limit == u64::MAX {
                u64::MAX
            } else {
                swap_max + limit
            },
            usage: files::read_u64(dir, "memory.swap.current")? + out.usage.usage,
            max: 0,
            failcnt: files::keyed(&files::read_flat_keyed(dir, "memory.swap.events")?, "max")
                .unwrap_or(0),
        };
    }
    out.raw = files::read_flat_keyed(dir, "memory.stat")?
        .into_iter()
        .collect();
    out.cache = out.raw.get("file").copied().unwrap_or(0);
    out.oom = files::keyed(&events, "oom").unwrap_or(0);
    out.oom_kill = files::keyed(&events, "oom_kill").unwrap_or(0);
    Ok(())
}
