//! `stats`: one sample of a container's cgroup accounting (v1 or v2, read
//! by the runtime's cgroup manager) in Docker's StatsResponse shape.

use serde_json::{json, Value};

use crate::error::Result;
use crate::Engine;

/// Host CPU time in nanoseconds (the first line of /proc/stat), as
/// dockerd's `system_cpu_usage`.
fn system_cpu_ns() -> u64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: u64 = text
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    // SAFETY: sysconf with a valid name.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    ticks * (1_000_000_000 / hz)
}

fn host_mem() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

impl Engine {
    /// One sample; zeros when the container does not run (as dockerd).
    pub fn stats_sample(&self, name: &str) -> Result<Value> {
        let rec = self.lookup(name)?.record();
        let now = berth_runtime::state::time::now_rfc3339();
        let online = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let stats = if rec.state.status.is_live() {
            self.driver(&rec)
                .cgroup(&rec.id)
                .ok()
                .and_then(|cg| cg.stats().ok())
        } else {
            None
        };
        let Some(s) = stats else {
            return Ok(json!({
                "read": "0001-01-01T00:00:00Z",
                "preread": "0001-01-01T00:00:00Z",
                "name": format!("/{}", rec.name),
                "id": rec.id,
                "pids_stats": {},
                "blkio_stats": {},
                "num_procs": 0,
                "storage_stats": {},
                "cpu_stats": { "cpu_usage": { "total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0 }, "throttling_data": {} },
                "precpu_stats": { "cpu_usage": { "total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0 }, "throttling_data": {} },
                "memory_stats": {},
            }));
        };
        let limit = match s.memory.usage.limit {
            0 => host_mem(),
            l if l > host_mem() && host_mem() > 0 => host_mem(),
            l => l,
        };
        let mut mstats = serde_json::Map::new();
        for (k, v) in &s.memory.raw {
            mstats.insert(k.clone(), json!(v));
        }
        let blkio = serde_json::to_value(&s.blkio).unwrap_or_default();
        let blk = |key: &str| -> Value {
            let entries = blkio[key].as_array().cloned().unwrap_or_default();
            json!(entries
                .iter()
                .map(|e| json!({
                    "major": e["major"].as_u64().unwrap_or(0),
                    "minor": e["minor"].as_u64().unwrap_or(0),
                    "op": e["op"].as_str().unwrap_or(""),
                    "value": e["value"].as_u64().unwrap_or(0),
                }))
                .collect::<Vec<_>>())
        };
        let cpu = json!({
            "cpu_usage": {
                "total_usage": s.cpu.usage.total,
                "percpu_usage": s.cpu.usage.percpu,
                "usage_in_kernelmode": s.cpu.usage.kernel,
                "usage_in_usermode": s.cpu.usage.user,
            },
            "system_cpu_usage": system_cpu_ns(),
            "online_cpus": online,
            "throttling_data": {
                "periods": s.cpu.throttling.periods,
                "throttled_periods": s.cpu.throttling.throttled_periods,
                "throttled_time": s.cpu.throttling.throttled_time,
            },
        });
        Ok(json!({
            "read": now,
            "preread": "0001-01-01T00:00:00Z",
            "name": format!("/{}", rec.name),
            "id": rec.id,
            "pids_stats": { "current": s.pids.current, "limit": if s.pids.limit == 0 { Value::Null } else { json!(s.pids.limit) } },
            "blkio_stats": {
                "io_service_bytes_recursive": blk("ioServiceBytesRecursive"),
                "io_serviced_recursive": blk("ioServicedRecursive"),
            },
            "num_procs": 0,
            "storage_stats": {},
            "cpu_stats": cpu,
            "precpu_stats": { "cpu_usage": { "total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0 }, "throttling_data": {} },
            "memory_stats": {
                "usage": s.memory.usage.usage,
                "max_usage": s.memory.usage.max,
                "failcnt": s.memory.usage.failcnt,
                "limit": limit,
                "stats": mstats,
            },
            "networks": {},
        }))
    }
}
