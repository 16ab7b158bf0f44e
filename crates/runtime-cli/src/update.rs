//! `update [-r FILE|-] [resource flags] ID`: runc's flags, turned into an
//! OCI `LinuxResources` that the runtime merges into the container's.

use std::io::Read;
use std::path::Path;

use anyhow::{anyhow, bail, Context};
use berth_runtime::Runtime;
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

/// Update a container's resource limits.
#[derive(Debug, Default, clap::Args)]
pub struct Args {
    /// A file with a LinuxResources JSON object, or '-' for stdin; when
    /// given, every other flag is ignored (as runc).
    #[arg(short = 'r', long)]
    pub resources: Option<String>,
    /// Per-cgroup block I/O weight (10 to 1000).
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// CFS period in microseconds (0: the system default).
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<String>,
    /// CFS quota in microseconds per period (-1: no limit).
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<String>,
    /// CFS burst in microseconds.
    #[arg(long = "cpu-burst")]
    pub cpu_burst: Option<String>,
    /// CPU shares (relative weight).
    #[arg(long = "cpu-share")]
    pub cpu_share: Option<String>,
    /// Realtime period in microseconds.
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<String>,
    /// Realtime runtime in microseconds per period.
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<String>,
    /// CPUs to use (cpuset list, e.g. 0-1).
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes to use.
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// SCHED_IDLE for the cgroup: 1, or 0 for the default.
    #[arg(long = "cpu-idle")]
    pub cpu_idle: Option<String>,
    /// Obsolete; ignored with a warning (as runc).
    #[arg(long = "kernel-memory", hide = true, allow_hyphen_values = true)]
    pub kernel_memory: Option<String>,
    /// Obsolete; ignored with a warning (as runc).
    #[arg(long = "kernel-memory-tcp", hide = true, allow_hyphen_values = true)]
    pub kernel_memory_tcp: Option<String>,
    /// Memory limit (bytes, or with a k/m/g/t/p suffix; -1: none).
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory soft limit.
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit (-1: unlimited swap).
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Maximum number of pids (0 or -1: no limit).
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Intel RDT L3 cache schema (not supported).
    #[arg(long = "l3-cache-schema")]
    pub l3_cache_schema: Option<String>,
    /// Intel RDT memory bandwidth schema (not supported).
    #[arg(long = "mem-bw-schema")]
    pub mem_bw_schema: Option<String>,
    pub id: String,
}

/// A byte size as runc (go-units RAMInBytes) reads it: a number, maybe
/// fractional, with an optional binary k/m/g/t/p suffix ("i" and "b"
/// optional too); or -1 for "unlimited".
pub fn ram_in_bytes(flag: &str, s: &str) -> anyhow::Result<i64> {
    if s == "-1" {
        return Ok(-1);
    }
    let bad = || anyhow!("invalid value for {flag}: invalid size: '{s}'");
    let t = s.trim_end_matches(['b', 'B']);
    let t = t.trim_end_matches(['i', 'I']);
    let (num, mult) = match t.chars().last() {
        Some(c) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_lowercase() {
                'k' => 10,
                'm' => 20,
                'g' => 30,
                't' => 40,
                'p' => 50,
                _ => return Err(bad()),
            };
            (&t[..t.len() - 1], 1u64 << shift)
        }
        _ => (t, 1),
    };
    let num = num.strip_suffix(' ').unwrap_or(num);
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(bad());
    }
    let v: f64 = num.parse().map_err(|_| bad())?;
    let bytes = v * mult as f64;
    if !bytes.is_finite() || bytes > i64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as i64)
}

fn uint(flag: &str, v: &Option<String>) -> anyhow::Result<Option<u64>> {
    v.as_deref()
        .map(|s| {
            s.parse::<u64>()
                .with_context(|| format!("invalid value for {flag}: {s:?}"))
        })
        .transpose()
}

fn int(flag: &str, v: &Option<String>) -> anyhow::Result<Option<i64>> {
    v.as_deref()
        .map(|s| {
            s.parse::<i64>()
                .with_context(|| format!("invalid value for {flag}: {s:?}"))
        })
        .transpose()
}

fn bytes(flag: &str, v: &Option<String>) -> anyhow::Result<Option<i64>> {
    v.as_deref().map(|s| ram_in_bytes(flag, s)).transpose()
}

fn read_json(source: &str) -> anyhow::Result<LinuxResources> {
    let mut text = String::new();
    if source == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading resources from stdin")?;
    } else {
        text = std::fs::read_to_string(Path::new(source))
            .with_context(|| format!("reading resources file {source}"))?;
    }
    serde_json::from_str(&text).with_context(|| format!("malformed resources JSON in {source}"))
}

/// The resources the flags ask for (only what was given is set).
pub fn from_flags(a: &Args) -> anyhow::Result<LinuxResources> {
    let mut r = LinuxResources::default();
    let mut cpu = LinuxCpu::default();
    let mut cpu_set = false;
    macro_rules! put {
        ($value:expr, $setter:ident) => {
            if let Some(v) = $value {
                cpu.$setter(Some(v));
                cpu_set = true;
            }
        };
    }
    put!(uint("cpu-period", &a.cpu_period)?, set_period);
    put!(int("cpu-quota", &a.cpu_quota)?, set_quota);
    put!(uint("cpu-burst", &a.cpu_burst)?, set_burst);
    put!(uint("cpu-share", &a.cpu_share)?, set_shares);
    put!(
        uint("cpu-rt-period", &a.cpu_rt_period)?,
        set_realtime_period
    );
    put!(
        int("cpu-rt-runtime", &a.cpu_rt_runtime)?,
        set_realtime_runtime
    );
    put!(int("cpu-idle", &a.cpu_idle)?, set_idle);
    put!(a.cpuset_cpus.clone().filter(|s| !s.is_empty()), set_cpus);
    put!(a.cpuset_mems.clone().filter(|s| !s.is_empty()), set_mems);
    if cpu_set {
        r.set_cpu(Some(cpu));
    }

    let mut mem = LinuxMemory::default();
    let mut mem_set = false;
    for (flag, value, setter) in [
        (
            "memory",
            &a.memory,
            LinuxMemory::set_limit as fn(&mut LinuxMemory, Option<i64>) -> &mut LinuxMemory,
        ),
        ("memory-swap", &a.memory_swap, LinuxMemory::set_swap),
        (
            "memory-reservation",
            &a.memory_reservation,
            LinuxMemory::set_reservation,
        ),
        ("kernel-memory", &a.kernel_memory, LinuxMemory::set_kernel),
        (
            "kernel-memory-tcp",
            &a.kernel_memory_tcp,
            LinuxMemory::set_kernel_tcp,
        ),
    ] {
        if let Some(v) = bytes(flag, value)? {
            setter(&mut mem, Some(v));
            mem_set = true;
        }
    }
    if mem_set {
        r.set_memory(Some(mem));
    }
    if let Some(limit) = a.pids_limit {
        let mut p = LinuxPids::default();
        p.set_limit(limit);
        r.set_pids(Some(p));
    }
    if let Some(w) = a.blkio_weight.filter(|w| *w != 0) {
        let mut b = LinuxBlockIo::default();
        b.set_weight(Some(w));
        r.set_block_io(Some(b));
    }
    Ok(r)
}

pub fn run(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
    // berth has no Intel RDT (resctrl) support: say so rather than ignore.
    if a.l3_cache_schema.is_some() {
        bail!("update --l3-cache-schema: Intel RDT (CAT) is not supported by berth");
    }
    if a.mem_bw_schema.is_some() {
        bail!("update --mem-bw-schema: Intel RDT (MBA) is not supported by berth");
    }
    let delta = match &a.resources {
        Some(src) => read_json(src)?,
        None => from_flags(&a)?,
    };
    super::log(
        "debug",
        &format!(
            "update {}: {}",
            a.id,
            serde_json::to_string(&delta).unwrap_or_default()
        ),
    );
    let warnings = rt.update(&a.id, &delta)?;
    super::warn_all(&warnings);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_runc_reads_them() -> anyhow::Result<()> {
        assert_eq!(ram_in_bytes("memory", "1024")?, 1024);
        assert_eq!(ram_in_bytes("memory", "64m")?, 64 << 20);
        assert_eq!(ram_in_bytes("memory", "64MiB")?, 64 << 20);
        assert_eq!(ram_in_bytes("memory", "1.5g")?, 3 << 29);
        assert_eq!(ram_in_bytes("memory", "2 k")?, 2048);
        assert_eq!(ram_in_bytes("memory", "-1")?, -1);
        for bad in ["", "m", "-2", "12x", "1e5", "abc"] {
            assert!(ram_in_bytes("memory", bad).is_err(), "{bad}");
        }
        Ok(())
    }

    #[test]
    fn flags_set_only_what_was_given() -> anyhow::Result<()> {
        let a = Args {
            cpu_quota: Some("-1".into()),
            memory: Some("32m".into()),
            pids_limit: Some(20),
            id: "c".into(),
            ..Args::default()
        };
        let r = from_flags(&a)?;
        let cpu = r.cpu().clone().unwrap_or_default();
        assert_eq!(
            (cpu.quota(), cpu.period(), cpu.shares()),
            (Some(-1), None, None)
        );
        assert_eq!(r.memory().as_ref().and_then(|m| m.limit()), Some(32 << 20));
        assert!(r.memory().as_ref().is_some_and(|m| m.swap().is_none()));
        assert_eq!(r.pids().as_ref().map(|p| p.limit()), Some(20));
        assert!(r.block_io().is_none());
        let bad = Args {
            cpu_period: Some("x".into()),
            ..Args::default()
        };
        assert!(from_flags(&bad).is_err());
        Ok(())
    }
}
