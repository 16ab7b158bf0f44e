//! v1 memory controller: limit, soft limit (reservation), memory+swap,
//! kernel TCP, swappiness, OOM killer switch; usage and OOM kills.

use std::path::Path;

use oci_spec::runtime::LinuxMemory;

use super::super::error::CgroupError;
use super::super::files;
use super::super::stats::{Memory, MemoryEntry};
use super::require;

const LIMIT: &str = "memory.limit_in_bytes";
const MEMSW: &str = "memory.memsw.limit_in_bytes";

fn check_bytes(what: &'static str, v: i64) -> Result<(), CgroupError> {
    if v < -1 {
        return Err(CgroupError::InvalidValue {
            what,
            value: v.to_string(),
            reason: "must be -1 (unlimited) or a byte count".to_owned(),
        });
    }
    Ok(())
}

pub(crate) fn apply(dir: Option<&Path>, mem: &LinuxMemory) -> Result<(), CgroupError> {
    let limit = mem.limit().filter(|v| *v != 0);
    let mut swap = mem.swap().filter(|v| *v != 0);
    let reservation = mem.reservation().filter(|v| *v != 0);
    let wanted = limit.is_some()
        || swap.is_some()
        || reservation.is_some()
        || mem.kernel_tcp().is_some()
        || mem.swappiness().is_some()
        || mem.disable_oom_killer() == Some(true);
    if !wanted {
        if mem.kernel().is_some() {
            tracing::warn!("ignoring linux.resources.memory.kernel: kernel memory limits are deprecated and unsupported");
        }
        return Ok(());
    }
    let dir = require(dir, "memory", "memory limits")?;
    for (what, v) in [
        ("memory limit", limit),
        ("memory swap", swap),
        ("memory reservation", reservation),
    ] {
        if let Some(v) = v {
            check_bytes(what, v)?;
        }
    }
    if mem.kernel().is_some() {
        tracing::warn!("ignoring linux.resources.memory.kernel: kernel memory limits are deprecated and unsupported");
    }
    let has_memsw = dir.join(MEMSW).exists();
    // Unlimited memory with swap unset means unlimited memory+swap too, else
    // memsw (which must stay >= the limit) would block raising the limit.
    if limit == Some(-1) && swap.is_none() && has_memsw {
        swap = Some(-1);
    }
    if let Some(s) = swap {
        if !has_memsw && s != -1 {
            return Err(CgroupError::MissingController {
                what: "a swap limit",
                controller: "memory (with swap accounting)",
                detail: format!("{} is missing", dir.join(MEMSW).display()),
            });
        }
        if !has_memsw {
            swap = None;
        }
    }
    if mem.check_before_update() == Some(true) {
        if let Some(l) = limit.filter(|l| *l > 0) {
            let usage = files::read_u64(dir, "memory.usage_in_bytes")?;
            if usage > l as u64 {
                return Err(CgroupError::UsageAboveLimit {
                    path: dir.to_owned(),
                    usage,
                    limit: l,
                });
            }
        }
    }
    match (limit, swap) {
        (Some(l), Some(s)) => {
            // The kernel keeps memsw >= limit at every step, so the order of
            // the two writes depends on whether the limit grows or shrinks.
            let current = files::read_u64(dir, LIMIT)?;
            if s == -1 || current < s as u64 {
                files::write(dir, MEMSW, &s.to_string())?;
                files::write(dir, LIMIT, &l.to_string())?;
            } else {
                files::write(dir, LIMIT, &l.to_string())?;
                files::write(dir, MEMSW, &s.to_string())?;
            }
        }
        (Some(l), None) => files::write(dir, LIMIT, &l.to_string())?,
        (None, Some(s)) => files::write(dir, MEMSW, &s.to_string())?,
        (None, None) => {}
    }
    if let Some(r) = reservation {
        files::write(dir, "memory.soft_limit_in_bytes", &r.to_string())?;
    }
    if let Some(t) = mem.kernel_tcp() {
        check_bytes("kernel TCP memory limit", t)?;
        files::write(dir, "memory.kmem.tcp.limit_in_bytes", &t.to_string())?;
    }
    if let Some(s) = mem.swappiness() {
        if s > 100 {
            return Err(CgroupError::InvalidValue {
                what: "memory swappiness",
                value: s.to_string(),
                reason: "must be between 0 and 100".to_owned(),
            });
        }
        files::write(dir, "memory.swappiness", &s.to_string())?;
    }
    if mem.disable_oom_killer() == Some(true) {
        files::write(dir, "memory.oom_control", "1")?;
    }
    Ok(())
}

fn entry(dir: &Path, prefix: &str) -> Result<MemoryEntry, CgroupError> {
    if !dir.join(format!("{prefix}.usage_in_bytes")).exists() {
        return Ok(MemoryEntry::default());
    }
    Ok(MemoryEntry {
        limit: files::read_u64(dir, &format!("{prefix}.limit_in_bytes"))?,
        usage: files::read_u64(dir, &format!("{prefix}.usage_in_bytes"))?,
        max: files::read_u64_or_zero(dir, &format!("{prefix}.max_usage_in_bytes"))?,
        failcnt: files::read_u64_or_zero(dir, &format!("{prefix}.failcnt"))?,
    })
}

pub(crate) fn stats(dir: &Path, out: &mut Memory) -> Result<(), CgroupError> {
    out.usage = entry(dir, "memory")?;
    out.swap = entry(dir, "memory.memsw")?;
    out.kernel = entry(dir, "memory.kmem")?;
    out.kernel_tcp = entry(dir, "memory.kmem.tcp")?;
    out.raw = files::read_flat_keyed(dir, "memory.stat")?
        .into_iter()
        .collect();
    out.cache = out
        .raw
        .get("total_cache")
        .or_else(|| out.raw.get("cache"))
        .copied()
        .unwrap_or(0);
    let oom = files::read_flat_keyed(dir, "memory.oom_control")?;
    out.oom_kill = files::keyed(&oom, "oom_kill").unwrap_or(0);
    Ok(())
}
