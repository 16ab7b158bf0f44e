//! `ps`: the container list with docker's columns and `--format` fields.

use clap::Args;
use serde_json::{json, Value};

use super::filters::Filters;
use super::output::{print_rows, units, Format};
use super::Ctx;

#[derive(Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    all: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', or a Go template)
    #[arg(long)]
    format: Option<String>,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Display total file sizes
    #[arg(short = 's', long)]
    size: bool,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long, default_value_t = -1)]
    last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    latest: bool,
}

pub const PS_HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
];

pub fn headers(pairs: &[(&str, &str)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
            .collect(),
    )
}

/// docker's `Ellipsis`: at most `max` characters, the last one `…`.
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

pub fn short_id(id: &str, trunc: bool) -> String {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    if trunc {
        id.chars().take(12).collect()
    } else {
        id.to_owned()
    }
}

/// Ports as docker's `DisplayablePorts` shows them: unpublished ports and
/// ports published on the same number grouped into ranges
/// (`0.0.0.0:8000-8001->8000-8001/tcp`, `53/udp`), other mappings one by one.
pub fn display_ports(ports: &[Value]) -> String {
    struct P {
        ip: String,
        private: i64,
        public: i64,
        typ: String,
    }
    let mut ps: Vec<P> = ports
        .iter()
        .map(|p| P {
            ip: p.get("IP").and_then(Value::as_str).unwrap_or("").to_owned(),
            private: p.get("PrivatePort").and_then(Value::as_i64).unwrap_or(0),
            public: p.get("PublicPort").and_then(Value::as_i64).unwrap_or(0),
            typ: p
                .get("Type")
                .and_then(Value::as_str)
                .unwrap_or("tcp")
                .to_owned(),
        })
        .collect();
    ps.sort_by(|a, b| {
        (a.private, &a.ip, a.public, &a.typ).cmp(&(b.private, &b.ip, b.public, &b.typ))
    });
    let host = |ip: &str| {
        if ip.contains(':') {
            format!("[{ip}]")
        } else {
            ip.to_owned()
        }
    };
    let form = |(ip, typ): &(String, String), first: i64, last: i64| {
        let range = if first == last {
            first.to_string()
        } else {
            format!("{first}-{last}")
        };
        if ip.is_empty() {
            format!("{range}/{typ}")
        } else {
            format!("{}:{range}->{range}/{typ}", host(ip))
        }
    };
    let mut groups: Vec<((String, String), i64, i64)> = Vec::new();
    let mut result = Vec::new();
    let mut mappings = Vec::new();
    for p in &ps {
        if !p.ip.is_empty() && p.public != p.private {
            mappings.push(format!(
                "{}:{}->{}/{}",
                host(&p.ip),
                p.public,
                p.private,
                p.typ
            ));
            continue;
        }
        let key = (p.ip.clone(), p.typ.clone());
        match groups.iter_mut().find(|(k, _, _)| *k == key) {
            None => groups.push((key, p.private, p.private)),
            Some(g) if p.private == g.2 + 1 => g.2 = p.private,
            Some(g) if p.private == g.2 => {}
            Some(g) => {
                result.push(form(&g.0, g.1, g.2));
                g.1 = p.private;
                g.2 = p.private;
            }
        }
    }
    for (k, first, last) in &groups {
        result.push(form(k, *first, *last));
    }
    result.extend(mappings);
    result.join(", ")
}

fn labels_text(v: Option<&Value>) -> String {
    let mut l: Vec<String> = v
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    l.sort();
    l.join(",")
}

/// The fields docker's container formatter offers, from one list entry.
pub fn row(c: &Value, trunc: bool) -> Value {
    let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let names: Vec<String> = c
        .get("Names")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|n| n.trim_start_matches('/'))
                // Link aliases (`other/alias`) are hidden unless untruncated.
                .filter(|n| !trunc || !n.contains('/'))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let command = s("Command");
    let command = if trunc {
        ellipsis(&command, 20)
    } else {
        command
    };
    let created = c.get("Created").and_then(Value::as_i64).unwrap_or(0);
    let ports = c
        .get("Ports")
        .and_then(Value::as_array)
        .map(|p| display_ports(p))
        .unwrap_or_default();
    let size_rw = c.get("SizeRw").and_then(Value::as_i64).unwrap_or(0);
    let size = match c.get("SizeRootFs").and_then(Value::as_i64) {
        Some(v) => format!(
            "{} (virtual {})",
            units::human_size(size_rw),
            units::human_size(v)
        ),
        None => units::human_size(size_rw),
    };
    let mounts: Vec<String> = c
        .get("Mounts")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|m| {
                    let name = m.get("Name").and_then(Value::as_str).unwrap_or("");
                    if name.is_empty() {
                        m.get("Source")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned()
                    } else if trunc {
                        ellipsis(name, 15)
                    } else {
                        name.to_owned()
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let local_volumes = c
        .get("Mounts")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|m| m.get("Driver").and_then(Value::as_str) == Some("local"))
                .count()
        })
        .unwrap_or(0);
    let mut networks: Vec<String> = c
        .pointer("/NetworkSettings/Networks")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    networks.sort();
    json!({
        "ID": short_id(&s("Id"), trunc),
        // An image known only by digest shows as a short id, as docker does.
        "Image": if trunc && s("Image").starts_with("sha256:") { short_id(&s("Image"), true) } else { s("Image") },
        "Command": format!("{command:?}"),
        "CreatedAt": units::go_time(created),
        "RunningFor": units::ago(created),
        "Ports": ports,
        "State": s("State"),
        "Status": s("Status"),
        "Size": size,
        "Names": names.join(","),
        "Labels": labels_text(c.get("Labels")),
        "Mounts": mounts.join(","),
        "Networks": networks.join(","),
        "LocalVolumes": local_volumes.to_string(),
    })
}

pub fn ps(cx: &Ctx, a: PsArgs) -> anyhow::Result<i32> {
    let mut q: Vec<(&str, String)> = Vec::new();
    if a.all {
        q.push(("all", "1".into()));
    }
    if a.size {
        q.push(("size", "1".into()));
    }
    let limit = if a.latest { 1 } else { a.last };
    if limit > 0 {
        q.push(("limit", limit.to_string()));
    }
    if let Some(f) = Filters::parse(&a.filter)?.query() {
        q.push(f);
    }
    let list: Vec<Value> = cx.client.get_json("/containers/json", &q)?;
    let trunc = !a.no_trunc;
    let rows: Vec<Value> = list.iter().map(|c| row(c, trunc)).collect();
    let mut default = String::from(
        "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}",
    );
    if a.size {
        default.push_str("\t{{.Size}}");
    }
    let format = if a.quiet {
        Format::Raw("{{.ID}}".into())
    } else {
        // docker's default: --format, else config.json's psFormat.
        let from_config = super::login::config_string(&super::login::config_path(), "psFormat");
        Format::from_flag(a.format.as_deref().or(from_config.as_deref()), &default)
    };
    print_rows(&format, &headers(PS_HEADERS), &rows)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::docker::output::table::render_rows;

    fn sample() -> Value {
        json!({
            "Id": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "Names": ["/web"],
            "Image": "busybox",
            "Command": "sh -c 'while true; do sleep 1; done'",
            "Created": units::now_unix() - 120,
            "Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}, {"PrivatePort": 53, "Type": "udp"}],
            "Labels": {"b": "2", "a": "1"},
            "State": "running",
            "Status": "Up 2 minutes",
            "NetworkSettings": {"Networks": {"bridge": {}}},
            "Mounts": []
        })
    }

    #[test]
    fn row_fields_match_docker() {
        let r = row(&sample(), true);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Command"], "\"sh -c 'while true; …\"");
        assert_eq!(r["RunningFor"], "2 minutes ago");
        assert_eq!(r["Ports"], "53/udp, 0.0.0.0:8080->80/tcp");
        assert_eq!(r["Labels"], "a=1,b=2");
        assert_eq!(r["Names"], "web");
        assert_eq!(r["Networks"], "bridge");
        let full = row(&sample(), false);
        assert_eq!(full["ID"].as_str().unwrap().len(), 64);
    }

    #[test]
    fn default_table_has_docker_headers() {
        let f = Format::from_flag(None, "{{.ID}}\t{{.Image}}\t{{.Status}}\t{{.Names}}");
        let out = render_rows(&f, &headers(PS_HEADERS), &[row(&sample(), true)]).unwrap();
        let mut lines = out.lines();
        assert_eq!(
            lines.next().unwrap(),
            "CONTAINER ID   IMAGE     STATUS         NAMES"
        );
        assert_eq!(
            lines.next().unwrap(),
            "0123456789ab   busybox   Up 2 minutes   web"
        );
    }

    #[test]
    fn ports_group_into_ranges_like_docker() {
        let p = |ip: &str, private: i64, public: i64, t: &str| json!({"IP": ip, "PrivatePort": private, "PublicPort": public, "Type": t});
        let ports = vec![
            p("0.0.0.0", 8001, 8001, "tcp"),
            p("0.0.0.0", 8000, 8000, "tcp"),
            json!({"PrivatePort": 53, "Type": "udp"}),
            json!({"PrivatePort": 54, "Type": "udp"}),
            p("127.0.0.1", 80, 8080, "tcp"),
            p("::", 80, 8080, "tcp"),
        ];
        assert_eq!(
            display_ports(&ports),
            "53-54/udp, 0.0.0.0:8000-8001->8000-8001/tcp, 127.0.0.1:8080->80/tcp, [::]:8080->80/tcp"
        );
    }

    #[test]
    fn ellipsis_counts_characters() {
        assert_eq!(ellipsis("abc", 3), "abc");
        assert_eq!(ellipsis("abcdef", 4), "abc…");
    }
}
