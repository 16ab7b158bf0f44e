//! `top`, `port`, `stats`, `diff`: read-only views of a container.

use std::io::Write;

use clap::Args;
use serde_json::{json, Value};

use super::container_list::{headers, short_id};
use super::output::{print_rows, table, units, Format};
use super::Ctx;

#[derive(Args)]
pub struct TopArgs {
    container: String,
    /// ps options
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_args: Vec<String>,
}

#[derive(Args)]
pub struct PortArgs {
    container: String,
    /// PRIVATE_PORT[/PROTO]
    port: Option<String>,
}

#[derive(Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    #[arg(long)]
    format: Option<String>,
    containers: Vec<String>,
}

#[derive(Args)]
pub struct DiffArgs {
    container: String,
}

pub fn top(cx: &Ctx, a: TopArgs) -> anyhow::Result<i32> {
    let mut q: Vec<(&str, String)> = Vec::new();
    if !a.ps_args.is_empty() {
        q.push(("ps_args", a.ps_args.join(" ")));
    }
    let t: Value = cx
        .client
        .get_json(&format!("/containers/{}/top", a.container), &q)?;
    let mut text = String::new();
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|s| s.as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    text.push_str(&strings(&t["Titles"]).join("\t"));
    text.push('\n');
    for p in t["Processes"].as_array().into_iter().flatten() {
        text.push_str(&strings(p).join("\t"));
        text.push('\n');
    }
    print!("{}", table::align(&text));
    Ok(0)
}

/// `80/tcp -> 0.0.0.0:8080` lines from inspect's NetworkSettings.Ports.
pub fn port_lines(ports: &Value, only: Option<&str>) -> anyhow::Result<Vec<String>> {
    let only = only.map(|p| {
        if p.contains('/') {
            p.to_owned()
        } else {
            format!("{p}/tcp")
        }
    });
    let mut keys: Vec<&String> = ports
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    keys.sort_by_key(|k| {
        let (n, proto) = k.split_once('/').unwrap_or((k, ""));
        (n.parse::<u32>().unwrap_or(0), proto.to_owned())
    });
    let mut out = Vec::new();
    for k in keys {
        if only.as_ref().is_some_and(|o| o != k) {
            continue;
        }
        for b in ports[k].as_array().into_iter().flatten() {
            let ip = b.get("HostIp").and_then(Value::as_str).unwrap_or("");
            let port = b.get("HostPort").and_then(Value::as_str).unwrap_or("");
            let ip = if ip.contains(':') {
                format!("[{ip}]")
            } else if ip.is_empty() {
                "0.0.0.0".into()
            } else {
                ip.to_owned()
            };
            out.push(if only.is_some() {
                format!("{ip}:{port}")
            } else {
                format!("{k} -> {ip}:{port}")
            });
        }
    }
    if out.is_empty() {
        if let Some(o) = only {
            anyhow::bail!("Error: No public port '{o}' published");
        }
    }
    Ok(out)
}

pub fn port(cx: &Ctx, a: PortArgs) -> anyhow::Result<i32> {
    let c: Value = cx
        .client
        .get_json(&format!("/containers/{}/json", a.container), &[])?;
    let ports = c
        .pointer("/NetworkSettings/Ports")
        .cloned()
        .unwrap_or(Value::Null);
    for l in port_lines(&ports, a.port.as_deref())? {
        println!("{l}");
    }
    Ok(0)
}

/// CPU % as docker computes it: the container's CPU time delta over the
/// system's, times the online CPUs.
pub fn cpu_percent(s: &Value) -> f64 {
    let f = |p: &str| s.pointer(p).and_then(Value::as_f64).unwrap_or(0.0);
    let cpu_delta =
        f("/cpu_stats/cpu_usage/total_usage") - f("/precpu_stats/cpu_usage/total_usage");
    let sys_delta = f("/cpu_stats/system_cpu_usage") - f("/precpu_stats/system_cpu_usage");
    let mut cpus = f("/cpu_stats/online_cpus");
    if cpus == 0.0 {
        cpus = s
            .pointer("/cpu_stats/cpu_usage/percpu_usage")
            .and_then(Value::as_array)
            .map(|a| a.len() as f64)
            .unwrap_or(0.0);
    }
    if sys_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / sys_delta * cpus * 100.0
    } else {
        0.0
    }
}

/// Memory in use without the page cache (docker: usage minus
/// total_inactive_file on v1, inactive_file on v2), and the limit.
pub fn memory(s: &Value) -> (f64, f64) {
    let f = |p: &str| s.pointer(p).and_then(Value::as_f64);
    let usage = f("/memory_stats/usage").unwrap_or(0.0);
    let cache = f("/memory_stats/stats/total_inactive_file")
        .or_else(|| f("/memory_stats/stats/inactive_file"))
        .unwrap_or(0.0);
    let used = if cache < usage { usage - cache } else { usage };
    (used, f("/memory_stats/limit").unwrap_or(0.0))
}

pub fn stats_row(s: &Value, trunc: bool) -> Value {
    let id = s.get("id").and_then(Value::as_str).unwrap_or("");
    let name = s
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim_start_matches('/');
    let (used, limit) = memory(s);
    let (mut rx, mut tx) = (0.0, 0.0);
    if let Some(nets) = s.get("networks").and_then(Value::as_object) {
        for n in nets.values() {
            rx += n.get("rx_bytes").and_then(Value::as_f64).unwrap_or(0.0);
            tx += n.get("tx_bytes").and_then(Value::as_f64).unwrap_or(0.0);
        }
    }
    let (mut read, mut write) = (0.0, 0.0);
    for e in s
        .pointer("/blkio_stats/io_service_bytes_recursive")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let v = e.get("value").and_then(Value::as_f64).unwrap_or(0.0);
        match e
            .get("op")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("read") => read += v,
            Some("write") => write += v,
            _ => {}
        }
    }
    let mem_pct = if limit > 0.0 {
        used / limit * 100.0
    } else {
        0.0
    };
    json!({
        "ID": short_id(id, trunc),
        "Container": short_id(id, trunc),
        "Name": name,
        "CPUPerc": format!("{:.2}%", cpu_percent(s)),
        "MemUsage": format!("{} / {}", units::bytes_size(used), units::bytes_size(limit)),
        "MemPerc": format!("{mem_pct:.2}%"),
        "NetIO": format!("{} / {}", units::human_size4(rx), units::human_size4(tx)),
        "BlockIO": format!("{} / {}", units::human_size4(read), units::human_size4(write)),
        "PIDs": s.pointer("/pids_stats/current").and_then(Value::as_u64).unwrap_or(0).to_string(),
    })
}

const STATS_HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Container", "CONTAINER"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

pub fn stats(cx: &Ctx, a: StatsArgs) -> anyhow::Result<i32> {
    let names: Vec<String> = if a.containers.is_empty() {
        let q: Vec<(&str, String)> = if a.all {
            vec![("all", "1".into())]
        } else {
            vec![]
        };
        let list: Vec<Value> = cx.client.get_json("/containers/json", &q)?;
        list.iter()
            .filter_map(|c| c.get("Id").and_then(Value::as_str).map(str::to_owned))
            .collect()
    } else {
        a.containers.clone()
    };
    let format = Format::from_flag(
        a.format.as_deref(),
        "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}",
    );
    loop {
        let mut rows = Vec::new();
        let mut failed = false;
        for n in &names {
            match cx.client.get_json::<Value>(
                &format!("/containers/{n}/stats"),
                &[("stream", "false".into())],
            ) {
                Ok(s) => rows.push(stats_row(&s, !a.no_trunc)),
                Err(e) => {
                    eprintln!("{e}");
                    failed = true;
                }
            }
        }
        if a.no_stream {
            print_rows(&format, &headers(STATS_HEADERS), &rows)?;
            return Ok(if failed { 1 } else { 0 });
        }
        // Streaming: redraw the table in place, as docker does on a tty.
        print!("\x1b[2J\x1b[H");
        print_rows(&format, &headers(STATS_HEADERS), &rows)?;
        std::io::stdout().flush()?;
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

pub fn diff(cx: &Ctx, a: DiffArgs) -> anyhow::Result<i32> {
    let changes: Option<Vec<Value>> = cx
        .client
        .get_json(&format!("/containers/{}/changes", a.container), &[])?;
    for c in changes.unwrap_or_default() {
        let kind = match c.get("Kind").and_then(Value::as_i64) {
            Some(0) => "C",
            Some(1) => "A",
            Some(2) => "D",
            _ => "?",
        };
        println!(
            "{kind} {}",
            c.get("Path").and_then(Value::as_str).unwrap_or("")
        );
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_numbers_as_docker_computes_them() {
        let s = json!({
            "id": "0123456789abcdef0123", "name": "/web",
            "cpu_stats": {"cpu_usage": {"total_usage": 300}, "system_cpu_usage": 2000, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
            "memory_stats": {"usage": 3145728, "limit": 10485760, "stats": {"total_inactive_file": 1048576}},
            "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 500}},
            "blkio_stats": {"io_service_bytes_recursive": [{"op": "Read", "value": 4096}, {"op": "Write", "value": 0}]},
            "pids_stats": {"current": 3}
        });
        let r = stats_row(&s, true);
        assert_eq!(r["CPUPerc"], "40.00%");
        assert_eq!(r["MemUsage"], "2MiB / 10MiB");
        assert_eq!(r["MemPerc"], "20.00%");
        assert_eq!(r["NetIO"], "1.5kB / 500B");
        assert_eq!(r["BlockIO"], "4.096kB / 0B");
        assert_eq!(r["PIDs"], "3");
        assert_eq!(r["Name"], "web");
        assert_eq!(r["ID"], "0123456789ab");
    }

    #[test]
    fn port_lines_sorted_and_filtered() {
        let ports = json!({
            "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}],
            "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}],
            "9000/tcp": null
        });
        assert_eq!(
            port_lines(&ports, None).unwrap(),
            vec![
                "53/udp -> 127.0.0.1:5353",
                "80/tcp -> 0.0.0.0:8080",
                "80/tcp -> [::]:8080"
            ]
        );
        assert_eq!(
            port_lines(&ports, Some("80")).unwrap(),
            vec!["0.0.0.0:8080", "[::]:8080"]
        );
        assert!(port_lines(&ports, Some("9000")).is_err());
    }
}
