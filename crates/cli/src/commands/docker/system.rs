//! `version`, `info`, `events`, `system df`, `system prune`.

use std::io::{BufRead, Write};

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::filters::Filters;
use super::output::{units, Format, Template};
use super::Ctx;
use crate::client::{stream::json_stream, NO_BODY};

#[derive(Args)]
pub struct VersionArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short = 'f', long)]
    format: Option<String>,
}

#[derive(Args)]
pub struct InfoArgs {
    #[arg(short = 'f', long)]
    format: Option<String>,
}

#[derive(Args)]
pub struct EventsArgs {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    filter: Vec<String>,
    /// Show all events created since timestamp
    #[arg(long)]
    since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    until: Option<String>,
    #[arg(long)]
    format: Option<String>,
}

#[derive(Subcommand)]
pub enum SystemCmd {
    /// Show berth disk usage
    Df(DfArgs),
    /// Remove unused data
    Prune(PruneArgs),
    /// Display system-wide information
    Info(InfoArgs),
    /// Get real time events from the server
    Events(EventsArgs),
}

#[derive(Args)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short = 'v', long)]
    verbose: bool,
    #[arg(long)]
    format: Option<String>,
}

#[derive(Args)]
pub struct PruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short = 'a', long)]
    all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    force: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    volumes: bool,
    #[arg(long = "filter")]
    filter: Vec<String>,
}

pub fn dispatch(cx: &Ctx, cmd: SystemCmd) -> anyhow::Result<i32> {
    match cmd {
        SystemCmd::Df(a) => df(cx, a),
        SystemCmd::Prune(a) => prune(cx, a),
        SystemCmd::Info(a) => info(cx, a),
        SystemCmd::Events(a) => events(cx, a),
    }
}

/// Go's name for this architecture (`GOARCH`), as docker prints it.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn client_block(cx: &Ctx) -> Value {
    let api = cx
        .client
        .negotiated_version()
        .unwrap_or(crate::client::MAX_API_VERSION)
        .to_owned();
    json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": api,
        "APIVersion": api,
        "DefaultAPIVersion": crate::client::MAX_API_VERSION,
        "Os": "linux",
        "Arch": go_arch(),
        "Platform": {"Name": "berth"},
        "Host": cx.client.host_label(),
    })
}

pub fn version(cx: &Ctx, a: VersionArgs) -> anyhow::Result<i32> {
    let server: Result<Value, _> = cx.client.get_json("/version", &[]);
    // After the request, so the block shows the negotiated version.
    let client = client_block(cx);
    let mut server_val = server.as_ref().ok().cloned().unwrap_or(Value::Null);
    if let Some(o) = server_val.as_object_mut() {
        // Go templates name docker's struct fields, not its JSON keys.
        for (go, js) in [
            ("APIVersion", "ApiVersion"),
            ("MinAPIVersion", "MinAPIVersion"),
        ] {
            if let Some(v) = o.get(js).cloned() {
                o.insert(go.to_owned(), v);
            }
        }
    }
    let data = json!({"Client": client, "Server": server_val});
    match a.format.as_deref() {
        Some("json") => println!("{}", serde_json::to_string(&data)?),
        Some(f) => println!("{}", Template::parse(f)?.render(&data)?),
        None => {
            println!("Client:");
            println!(" Version:           {}", env!("CARGO_PKG_VERSION"));
            println!(
                " API version:       {}",
                cx.client
                    .api_version()
                    .unwrap_or(crate::client::MAX_API_VERSION)
            );
            println!(" OS/Arch:           linux/{}", go_arch());
            if let Ok(s) = &server {
                let g = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                println!();
                println!("Server:");
                println!(" Engine:");
                println!("  Version:          {}", g("Version"));
                println!(
                    "  API version:      {} (minimum version {})",
                    g("ApiVersion"),
                    g("MinAPIVersion")
                );
                println!("  Git commit:       {}", g("GitCommit"));
                println!("  Built:            {}", g("BuildTime"));
                println!("  OS/Arch:          {}/{}", g("Os"), g("Arch"));
                println!("  Kernel Version:   {}", g("KernelVersion"));
            }
        }
    }
    server?;
    Ok(0)
}

pub fn info(cx: &Ctx, a: InfoArgs) -> anyhow::Result<i32> {
    let info: Value = cx.client.get_json("/info", &[])?;
    match a.format.as_deref() {
        Some("json") => {
            println!("{}", serde_json::to_string(&info)?);
            return Ok(0);
        }
        Some(f) => {
            println!("{}", Template::parse(f)?.render(&info)?);
            return Ok(0);
        }
        None => {}
    }
    let s = |k: &str| match info.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    };
    let mut out = String::new();
    out.push_str("Client:\n");
    out.push_str(&format!(" Version:    {}\n", env!("CARGO_PKG_VERSION")));
    out.push_str(" Context:    default\n Debug Mode: false\n\nServer:\n");
    out.push_str(&format!(" Containers: {}\n", s("Containers")));
    out.push_str(&format!("  Running: {}\n", s("ContainersRunning")));
    out.push_str(&format!("  Paused: {}\n", s("ContainersPaused")));
    out.push_str(&format!("  Stopped: {}\n", s("ContainersStopped")));
    for (label, key) in [
        ("Images", "Images"),
        ("Server Version", "ServerVersion"),
        ("Storage Driver", "Driver"),
        ("Logging Driver", "LoggingDriver"),
        ("Cgroup Driver", "CgroupDriver"),
        ("Cgroup Version", "CgroupVersion"),
        ("Default Runtime", "DefaultRuntime"),
        ("Kernel Version", "KernelVersion"),
        ("Operating System", "OperatingSystem"),
        ("OSType", "OSType"),
        ("Architecture", "Architecture"),
        ("CPUs", "NCPU"),
    ] {
        out.push_str(&format!(" {label}: {}\n", s(key)));
    }
    let mem = info.get("MemTotal").and_then(Value::as_f64).unwrap_or(0.0);
    out.push_str(&format!(" Total Memory: {}\n", units::bytes_size(mem)));
    for (label, key) in [
        ("Name", "Name"),
        ("ID", "ID"),
        ("Docker Root Dir", "DockerRootDir"),
    ] {
        out.push_str(&format!(" {label}: {}\n", s(key)));
    }
    out.push_str(&format!(" Debug Mode: {}\n", s("Debug")));
    out.push_str(&format!(
        " Live Restore Enabled: {}\n",
        s("LiveRestoreEnabled")
    ));
    if let Some(w) = info.get("Warnings").and_then(Value::as_array) {
        for w in w.iter().filter_map(Value::as_str) {
            eprintln!("{w}");
        }
    }
    print!("{out}");
    Ok(0)
}

/// docker's default event line: time, type, action, actor id, attributes.
pub fn event_line(e: &Value) -> String {
    let nanos = e
        .get("timeNano")
        .and_then(Value::as_i64)
        .unwrap_or_else(|| e.get("time").and_then(Value::as_i64).unwrap_or(0) * 1_000_000_000);
    let time =
        chrono::DateTime::from_timestamp(nanos / 1_000_000_000, (nanos % 1_000_000_000) as u32)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string())
            .unwrap_or_default();
    let get = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("");
    let actor = e.get("Actor");
    let id = actor
        .and_then(|a| a.get("ID"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut attrs: Vec<(String, String)> = actor
        .and_then(|a| a.get("Attributes"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
                .collect()
        })
        .unwrap_or_default();
    attrs.sort();
    let mut line = format!("{time} {} {} {id}", get("Type"), get("Action"));
    if !attrs.is_empty() {
        let joined: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        line.push_str(&format!(" ({})", joined.join(", ")));
    }
    line
}

pub fn events(cx: &Ctx, a: EventsArgs) -> anyhow::Result<i32> {
    let mut q: Vec<(&str, String)> = Vec::new();
    for (k, v) in [("since", &a.since), ("until", &a.until)] {
        if let Some(v) = v {
            let ts = units::api_timestamp(v)
                .ok_or_else(|| anyhow::anyhow!("invalid value for --{k}: {v:?}"))?;
            q.push((k, ts));
        }
    }
    if let Some(f) = Filters::parse(&a.filter)?.query() {
        q.push(f);
    }
    let tmpl = match a.format.as_deref() {
        None | Some("") => None,
        Some("json") => Some(Template::parse("{{json .}}")?),
        Some(f) => Some(Template::parse(f)?),
    };
    let resp = cx
        .client
        .request("GET", "/events", &q, crate::client::http::Body::Empty)?;
    let mut out = std::io::stdout();
    for ev in json_stream::<Value>(resp.body) {
        let ev = ev?;
        let line = match &tmpl {
            Some(t) => t.render(&ev)?,
            None => event_line(&ev),
        };
        writeln!(out, "{line}")?;
        out.flush()?;
    }
    Ok(0)
}

fn df(cx: &Ctx, a: DfArgs) -> anyhow::Result<i32> {
    let du: Value = cx.client.get_json("/system/df", &[])?;
    let arr = |k: &str| {
        du.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let num = |v: &Value, k: &str| v.get(k).and_then(Value::as_i64).unwrap_or(0);
    let images = arr("Images");
    let containers = arr("Containers");
    let volumes = arr("Volumes");
    let cache = arr("BuildCache");
    let pct = |r: i64, t: i64| if t > 0 { r * 100 / t } else { 0 };
    let img_size = num(&du, "LayersSize");
    let img_active = images.iter().filter(|i| num(i, "Containers") > 0).count();
    let img_reclaim: i64 = images
        .iter()
        .filter(|i| num(i, "Containers") <= 0)
        .map(|i| num(i, "Size") - num(i, "SharedSize").max(0))
        .sum();
    let c_size: i64 = containers.iter().map(|c| num(c, "SizeRw")).sum();
    let running = |c: &Value| c.get("State").and_then(Value::as_str) == Some("running");
    let c_active = containers.iter().filter(|c| running(c)).count();
    let c_reclaim: i64 = containers
        .iter()
        .filter(|c| !running(c))
        .map(|c| num(c, "SizeRw"))
        .sum();
    let vol_usage = |v: &Value, k: &str| v.get("UsageData").map(|u| num(u, k)).unwrap_or(0);
    let v_size: i64 = volumes.iter().map(|v| vol_usage(v, "Size").max(0)).sum();
    let v_active = volumes
        .iter()
        .filter(|v| vol_usage(v, "RefCount") > 0)
        .count();
    let v_reclaim: i64 = volumes
        .iter()
        .filter(|v| vol_usage(v, "RefCount") <= 0)
        .map(|v| vol_usage(v, "Size").max(0))
        .sum();
    let b_size: i64 = cache.iter().map(|b| num(b, "Size")).sum();
    let row = |t: &str, total: usize, active: usize, size: i64, reclaim: i64| {
        json!({
            "Type": t,
            "TotalCount": total.to_string(),
            "Active": active.to_string(),
            "Size": units::human_size4(size as f64),
            "Reclaimable": format!("{} ({}%)", units::human_size4(reclaim as f64), pct(reclaim, size)),
        })
    };
    let rows = vec![
        row("Images", images.len(), img_active, img_size, img_reclaim),
        row("Containers", containers.len(), c_active, c_size, c_reclaim),
        row("Local Volumes", volumes.len(), v_active, v_size, v_reclaim),
        row("Build Cache", cache.len(), 0, b_size, b_size),
    ];
    if a.verbose {
        eprintln!("note: berth system df -v prints the summary only");
    }
    let format = Format::from_flag(
        a.format.as_deref(),
        "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
    );
    let headers = json!({"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"});
    super::output::print_rows(&format, &headers, &rows)?;
    Ok(0)
}

/// docker's `Are you sure you want to continue? [y/N]`.
pub fn confirm(warning: &str) -> anyhow::Result<bool> {
    eprint!("{warning}\nAre you sure you want to continue? [y/N] ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// What a prune endpoint removes: its path, docker's heading and the
/// answer's list key.
#[derive(Clone, Copy)]
pub enum Pruned {
    Containers,
    Images,
    Networks,
    Volumes,
}

impl Pruned {
    fn endpoint(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Pruned::Containers => (
                "/containers/prune",
                "Deleted Containers",
                "ContainersDeleted",
            ),
            Pruned::Images => ("/images/prune", "Deleted Images", "ImagesDeleted"),
            Pruned::Networks => ("/networks/prune", "Deleted Networks", "NetworksDeleted"),
            Pruned::Volumes => ("/volumes/prune", "Deleted Volumes", "VolumesDeleted"),
        }
    }
}

/// Calls one prune endpoint with `filters`, prints what it deleted as
/// docker does and returns the space reclaimed.
pub fn prune_objects(cx: &Ctx, what: Pruned, filters: &Filters) -> anyhow::Result<i64> {
    let (path, title, key) = what.endpoint();
    let q: Vec<(&str, String)> = filters.query().into_iter().collect();
    let r: Value = cx.client.post_json(path, &q, NO_BODY)?;
    Ok(report_prune(title, &r, key))
}

/// docker's closing line of a prune.
pub fn print_reclaimed(bytes: i64) {
    println!(
        "Total reclaimed space: {}",
        units::human_size4(bytes as f64)
    );
}

/// Print a prune answer's deleted list and return the space reclaimed.
fn report_prune(title: &str, answer: &Value, list_key: &str) -> i64 {
    let deleted: Vec<String> = answer
        .get(list_key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .flat_map(|v| match v {
                    Value::String(s) => vec![s.clone()],
                    Value::Object(o) => o
                        .iter()
                        .filter_map(|(k, v)| v.as_str().map(|s| format!("{k}: {s}")))
                        .collect(),
                    _ => vec![],
                })
                .collect()
        })
        .unwrap_or_default();
    if !deleted.is_empty() {
        println!("{title}:");
        for d in deleted {
            println!("{d}");
        }
        println!();
    }
    answer
        .get("SpaceReclaimed")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

fn prune(cx: &Ctx, a: PruneArgs) -> anyhow::Result<i32> {
    let mut warning = String::from("WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n");
    if a.volumes {
        warning.push_str("  - all anonymous volumes not used by at least one container\n");
    }
    warning.push_str(if a.all {
        "  - all images without at least one container associated to them\n  - all build cache\n"
    } else {
        "  - all dangling images\n  - unused build cache\n"
    });
    if !a.force && !confirm(&warning)? {
        return Ok(0);
    }
    let filters = Filters::parse(&a.filter)?;
    let mut reclaimed = prune_objects(cx, Pruned::Containers, &filters)?;
    prune_objects(cx, Pruned::Networks, &filters)?;
    if a.volumes {
        reclaimed += prune_objects(cx, Pruned::Volumes, &filters)?;
    }
    let mut imgf = filters.clone();
    imgf.add("dangling", if a.all { "false" } else { "true" });
    reclaimed += prune_objects(cx, Pruned::Images, &imgf)?;
    print_reclaimed(reclaimed);
    Ok(0)
}

/// Read stdin lines for `confirm`; kept apart so tests can check the event
/// line format without a daemon.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_lines_look_like_docker() {
        let e = json!({
            "Type": "container", "Action": "start",
            "Actor": {"ID": "abc", "Attributes": {"name": "web", "image": "busybox"}},
            "time": 1700000000, "timeNano": 1700000000123456789i64
        });
        assert_eq!(
            event_line(&e),
            "2023-11-14T22:13:20.123456789Z container start abc (image=busybox, name=web)"
        );
    }
}
