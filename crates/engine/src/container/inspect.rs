//! A container in Docker's JSON shapes: inspect (ContainerInspectResponse)
//! and the list entry (ContainerSummary), with every field clients read.

use std::collections::HashMap;

use bollard_stubs::models::{
    ContainerConfig, ContainerInspectResponse, ContainerState, ContainerSummary,
    ContainerSummaryHealth, ContainerSummaryHostConfig, ContainerSummaryNetworkSettings,
    DriverData, EndpointSettings, MountPoint, NetworkSettings,
};
use serde::de::DeserializeOwned;

use super::record::{ContainerRecord, MountRecord, Status};
use crate::Engine;

/// A string-valued Docker enum from its wire form.
fn wire<T: DeserializeOwned>(s: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
}

/// RFC 3339 with nanoseconds (Go's RFC3339Nano).
pub fn format_time(secs: u64, nanos: u32) -> String {
    berth_runtime::state::time::format_rfc3339(secs, nanos)
}

/// Seconds and nanoseconds since the epoch of an RFC 3339 UTC time.
pub fn parse_time(s: &str) -> Option<(i64, u32)> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.split(':').map(|x| x.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    let nanos = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}")[..9].parse::<u32>().ok()?
    };
    // Howard Hinnant's days_from_civil.
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + hh * 3600 + mm * 60 + ss, nanos))
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Docker's `units.HumanDuration` (go-units rounds hours to the nearest).
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let m = s / 60;
    let h = (s + 1800) / 3600;
    if s < 1 {
        "Less than a second".into()
    } else if s == 1 {
        "1 second".into()
    } else if s < 60 {
        format!("{s} seconds")
    } else if m == 1 {
        "About a minute".into()
    } else if m < 60 {
        format!("{m} minutes")
    } else if h == 1 {
        "About an hour".into()
    } else if h < 48 {
        format!("{h} hours")
    } else if h < 24 * 7 * 2 {
        format!("{} days", h / 24)
    } else if h < 24 * 30 * 2 {
        format!("{} weeks", h / 24 / 7)
    } else if h < 24 * 365 * 2 {
        format!("{} months", h / 24 / 30)
    } else {
        format!("{} years", h / 24 / 365)
    }
}

/// The STATUS column of `docker ps`.
pub fn status_text(rec: &ContainerRecord) -> String {
    let since = |t: &str| parse_time(t).map(|(s, _)| now_secs() - s).unwrap_or(0);
    match rec.state.status {
        Status::Created => "Created".into(),
        Status::Running => {
            let up = format!("Up {}", human_duration(since(&rec.state.started_at)));
            match rec.state.health.as_ref().map(super::health::status_word) {
                Some("starting") => format!("{up} (health: starting)"),
                Some(w @ ("healthy" | "unhealthy")) => format!("{up} ({w})"),
                _ => up,
            }
        }
        Status::Paused => format!(
            "Up {} (Paused)",
            human_duration(since(&rec.state.started_at))
        ),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            rec.state.exit_code,
            human_duration(since(&rec.state.finished_at))
        ),
        Status::Removing => "Removal In Progress".into(),
        Status::Exited => format!(
            "Exited ({}) {} ago",
            rec.state.exit_code,
            human_duration(since(&rec.state.finished_at))
        ),
        Status::Dead => "Dead".into(),
    }
}

fn mount_point(m: &MountRecord) -> MountPoint {
    MountPoint {
        typ: wire(&m.kind),
        name: Some(m.name.clone()).filter(|n| !n.is_empty()),
        source: Some(m.source.clone()),
        destination: Some(m.destination.clone()),
        driver: (m.kind == "volume").then(|| "local".to_owned()),
        mode: Some(if m.kind == "volume" {
            "z".into()
        } else {
            String::new()
        }),
        rw: Some(m.rw),
        propagation: Some(if m.kind == "bind" {
            if m.propagation.is_empty() {
                "rprivate".into()
            } else {
                m.propagation.clone()
            }
        } else {
            String::new()
        }),
    }
}

fn endpoints(rec: &ContainerRecord) -> HashMap<String, EndpointSettings> {
    let mut out = HashMap::new();
    let mode = rec.host_config.network_mode.clone().unwrap_or_default();
    if mode.starts_with("container:") {
        return out;
    }
    let mut nets = super::connect::networks_of(rec);
    if matches!(mode.as_str(), "host" | "none") {
        nets.push((mode, EndpointSettings::default()));
    }
    for (name, asked) in nets {
        let ep = rec.endpoints.get(&name).cloned().unwrap_or_default();
        let aliases = asked.aliases.clone().filter(|a| !a.is_empty());
        // Docker's DNSNames: the name, the short id (when running) and the aliases.
        let dns_names = (name != "bridge" && name != "none" && name != "host").then(|| {
            let mut v = vec![rec.name.clone()];
            if !ep.endpoint_id.is_empty() {
                v.push(rec.short_id().to_owned());
            }
            v.extend(aliases.clone().unwrap_or_default());
            v
        });
        out.insert(
            name,
            EndpointSettings {
                network_id: Some(ep.network_id.clone()),
                endpoint_id: Some(ep.endpoint_id.clone()),
                gateway: Some(ep.gateway.clone()),
                ip_address: Some(ep.ip_address.clone()),
                ip_prefix_len: Some(ep.ip_prefix_len),
                ipv6_gateway: Some(ep.ipv6_gateway.clone()),
                global_ipv6_address: Some(ep.global_ipv6_address.clone()),
                global_ipv6_prefix_len: Some(ep.global_ipv6_prefix_len),
                // Before start, the MAC asked for (as dockerd shows it).
                mac_address: Some(if ep.mac_address.is_empty() {
                    asked.mac_address.clone().unwrap_or_default()
                } else {
                    ep.mac_address.clone()
                }),
                aliases,
                links: asked.links.clone().filter(|l| !l.is_empty()),
                driver_opts: asked.driver_opts.clone(),
                dns_names,
                ipam_config: asked.ipam_config.clone(),
                gw_priority: Some(0),
            },
        );
    }
    out
}

impl Engine {
    /// Every name of a container, sorted as dockerd lists them: its own
    /// and the link names (`/parent/alias`) it is known by.
    pub fn names_of(&self, rec: &ContainerRecord) -> Vec<String> {
        let mut names = self.link_names_of(&rec.id);
        names.push(format!("/{}", rec.name));
        names.sort();
        names
    }

    /// `GET /containers/{id}/json`.
    pub fn inspect_record(&self, rec: &ContainerRecord) -> ContainerInspectResponse {
        let cfg = &self.inner.cfg;
        let dir = cfg.container_dir(&rec.id);
        let st = &rec.state;
        let live = st.status.is_live();
        let path_of = |f: &str| Some(dir.join(f).to_string_lossy().into_owned());
        let log_path = match rec
            .host_config
            .log_config
            .as_ref()
            .and_then(|l| l.typ.as_deref())
        {
            Some("none") => String::new(),
            _ => dir
                .join(format!("{}-json.log", rec.id))
                .to_string_lossy()
                .into_owned(),
        };
        let mut config: ContainerConfig = rec.config.clone();
        config.image = Some(rec.image.clone());
        if config.hostname.as_deref().is_none_or(|h| h.is_empty()) {
            config.hostname = Some(super::start::hostname_of(rec));
        }
        let exec_ids: Vec<String> = crate::lock(&self.inner.execs)
            .values()
            .filter(|x| x.container_id == rec.id)
            .map(|x| x.id.clone())
            .collect();
        ContainerInspectResponse {
            id: Some(rec.id.clone()),
            created: Some(rec.created.clone()),
            path: Some(rec.path.clone()),
            args: Some(rec.args.clone()),
            state: Some(ContainerState {
                status: wire(st.status.as_str()),
                running: Some(matches!(st.status, Status::Running | Status::Paused)),
                paused: Some(st.status == Status::Paused),
                restarting: Some(st.status == Status::Restarting),
                oom_killed: Some(st.oom_killed),
                dead: Some(st.status == Status::Dead),
                pid: Some(if live { st.pid } else { 0 }),
                exit_code: Some(st.exit_code),
                error: Some(st.error.clone()),
                started_at: Some(st.started_at.clone()),
                finished_at: Some(st.finished_at.clone()),
                health: st.health.clone(),
            }),
            image: Some(rec.image_id.clone()),
            resolv_conf_path: path_of("resolv.conf"),
            hostname_path: path_of("hostname"),
            hosts_path: path_of("hosts"),
            log_path: Some(log_path),
            name: Some(format!("/{}", rec.name)),
            restart_count: Some(rec.restart_count),
            driver: Some("overlay2".into()),
            platform: Some("linux".into()),
            image_manifest_descriptor: None,
            mount_label: Some(String::new()),
            process_label: Some(String::new()),
            app_armor_profile: Some(String::new()),
            exec_ids: Some(exec_ids).filter(|e| !e.is_empty()),
            host_config: Some(bollard_stubs::models::HostConfig {
                links: self.inspect_links(rec),
                ..rec.host_config.clone()
            }),
            graph_driver: Some(DriverData {
                name: "overlay2".into(),
                data: HashMap::new(),
            }),
            storage: None,
            size_rw: None,
            size_root_fs: None,
            mounts: Some(rec.mounts.iter().map(mount_point).collect()),
            config: Some(config),
            network_settings: Some(NetworkSettings {
                sandbox_id: Some(if live { rec.id.clone() } else { String::new() }),
                sandbox_key: Some(rec.netns.clone().unwrap_or_default()),
                ports: Some(crate::network::published_ports(rec)),
                networks: Some(endpoints(rec)),
            }),
        }
    }

    /// An entry of `GET /containers/json`.
    pub fn summary(&self, rec: &ContainerRecord) -> ContainerSummary {
        let mut command = vec![rec.path.clone()];
        command.extend(rec.args.iter().cloned());
        let mode = rec.host_config.network_mode.clone().unwrap_or_default();
        ContainerSummary {
            id: Some(rec.id.clone()),
            names: Some(self.names_of(rec)),
            image: Some(rec.image.clone()),
            image_id: Some(rec.image_id.clone()),
            image_manifest_descriptor: None,
            command: Some(command.join(" ")),
            created: parse_time(&rec.created).map(|(s, _)| s),
            ports: Some(crate::network::port_summaries(rec)),
            size_rw: None,
            size_root_fs: None,
            labels: Some(rec.labels()),
            state: wire(rec.state.status.as_str()),
            status: Some(status_text(rec)),
            host_config: Some(ContainerSummaryHostConfig {
                network_mode: Some(mode),
                annotations: None,
            }),
            network_settings: Some(ContainerSummaryNetworkSettings {
                networks: Some(endpoints(rec)),
            }),
            mounts: Some(rec.mounts.iter().map(mount_point).collect()),
            health: rec.state.health.as_ref().map(|h| ContainerSummaryHealth {
                status: serde_json::from_value(serde_json::json!(super::health::status_word(h)))
                    .ok(),
                failing_streak: h.failing_streak,
            }),
        }
    }
}

impl Engine {
    /// (SizeRw, SizeRootFs): the container's writable layer, and that plus
    /// its image, in bytes.
    pub fn sizes(&self, rec: &ContainerRecord) -> (i64, i64) {
        let upper = self
            .inner
            .cfg
            .data_root
            .join("image/containers")
            .join(&rec.id)
            .join("upper");
        let rw = crate::volumes::dir_size(&upper) as i64;
        let image = self
            .inner
            .image_store
            .as_ref()
            .and_then(|s| s.resolve(&rec.image_id).ok())
            .map(|i| i.size as i64)
            .unwrap_or(0);
        (rw, rw + image)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_back() {
        let t = berth_runtime::state::time::format_rfc3339(1_700_000_000, 5_000);
        assert_eq!(parse_time(&t), Some((1_700_000_000, 5_000)));
        assert_eq!(
            parse_time("0001-01-01T00:00:00Z").map(|t| t.0 < 0),
            Some(true)
        );
        assert_eq!(parse_time("garbage"), None);
    }

    #[test]
    fn durations_read_like_docker() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(5), "5 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(7200), "2 hours");
    }
}
