//! Container networking as the engine sees it: the network mode parsed
//! from HostConfig, the container's own netns (made and bind-mounted
//! before its process starts), and the attach/detach seam that network
//! drivers fill ([`NetworkAttacher`]). The bridge driver, berthd's default
//! and user-defined bridge networks in process on berth-net, is [`bridge`];
//! the CNI networks of the CNI config dir are [`cni`]'s; [`dispatch`] sends
//! each call to the driver owning the network.

pub mod bridge;
pub mod cni;
pub mod dispatch;
pub mod dns;
pub mod firewall_watch;
pub mod pools;

use std::path::{Path, PathBuf};

use berth_net::netns::NetNs;

use crate::error::{EngineError, Result};

/// `HostConfig.NetworkMode`, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkMode {
    /// Its own netns with only `lo`.
    None,
    /// The daemon's netns.
    Host,
    /// Its own netns attached to a network (`bridge` is the default).
    Network(String),
    /// Another container's netns.
    Container(String),
}

impl NetworkMode {
    pub fn parse(s: &str) -> Result<NetworkMode> {
        Ok(match s {
            "" | "default" | "bridge" => NetworkMode::Network("bridge".into()),
            "none" => NetworkMode::None,
            "host" => NetworkMode::Host,
            other => match other.strip_prefix("container:") {
                Some("") => {
                    return Err(EngineError::Invalid(
                        "invalid network mode: container: needs a name or id".into(),
                    ))
                }
                Some(c) => NetworkMode::Container(c.to_owned()),
                None => NetworkMode::Network(other.to_owned()),
            },
        })
    }

    /// The name Docker shows in HostConfig.NetworkMode and as the key of
    /// NetworkSettings.Networks.
    pub fn name(&self) -> String {
        match self {
            NetworkMode::None => "none".into(),
            NetworkMode::Host => "host".into(),
            NetworkMode::Network(n) => n.clone(),
            NetworkMode::Container(c) => format!("container:{c}"),
        }
    }

    /// Whether the container gets a netns of its own.
    pub fn own_netns(&self) -> bool {
        matches!(self, NetworkMode::None | NetworkMode::Network(_))
    }
}

/// What to attach: one container to one network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    pub container_id: String,
    pub container_name: String,
    pub network: String,
    pub aliases: Vec<String>,
    /// Ports to publish (`HostConfig.PortBindings`), parsed.
    pub ports: Vec<PortSpec>,
    /// The container's interface (`eth0`, `eth1`, ... in attach order).
    pub ifname: String,
    /// A static address (`--ip`).
    pub ipv4: Option<std::net::IpAddr>,
    /// A static IPv6 address (`--ip6`).
    pub ipv6: Option<std::net::IpAddr>,
    /// A static MAC address (`--mac-address`).
    pub mac: Option<String>,
    /// The container's `--dns` servers (upstream of an embedded DNS).
    pub dns: Vec<std::net::IpAddr>,
    /// Its resolv.conf sets `ndots` (`--dns-option ndots:N` or the host's):
    /// the embedded DNS then keeps unknown single labels local, as dockerd.
    pub ndots_set: bool,
    /// Its `EndpointSettings.Links` on a user-defined network: alias →
    /// container name, resolved by the embedded DNS for this container only.
    pub links: std::collections::BTreeMap<String, String>,
}

impl EndpointConfig {
    /// The config an endpoint was attached with (for its detach).
    pub fn of_endpoint(rec: &crate::ContainerRecord, network: &str, ep: &Endpoint) -> Self {
        EndpointConfig {
            container_id: rec.id.clone(),
            container_name: rec.name.clone(),
            network: network.to_owned(),
            aliases: ep.aliases.clone(),
            ports: ep.ports.clone(),
            ifname: ep.ifname.clone(),
            ipv4: None,
            ipv6: None,
            mac: None,
            dns: Vec::new(),
            ndots_set: false,
            links: Default::default(),
        }
    }
}

/// One published port as asked for: `[hostip:]hostport[-end]:containerport/proto`
/// (host port 0: any free one); in an [`Endpoint`], the port published.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortSpec {
    pub container_port: u16,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    /// Empty: every local address.
    pub host_ip: String,
    pub host_port: u16,
    /// The last port of a host port range (`8000-8010`), 0 for one port.
    #[serde(default)]
    pub host_port_end: u16,
}

/// `80`, `80/tcp`: the port and protocol of a PortBindings/ExposedPorts key.
fn port_key(key: &str) -> Result<(u16, &str)> {
    let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let bad = || EngineError::Invalid(format!("invalid port specification: {key:?}"));
    let container_port: u16 = port.parse().map_err(|_| bad())?;
    if container_port == 0 {
        return Err(bad());
    }
    if !matches!(proto, "tcp" | "udp" | "sctp") {
        return Err(EngineError::Invalid(format!("invalid proto: {proto}")));
    }
    Ok((container_port, proto))
}

/// `""` (any), `8080` or `8000-8010`.
fn host_ports(hp: &str) -> Result<(u16, u16)> {
    if hp.is_empty() {
        return Ok((0, 0));
    }
    let bad = || EngineError::Invalid(format!("invalid hostPort: {hp}"));
    let (a, b) = match hp.split_once('-') {
        Some((a, b)) => (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?),
        None => (hp.parse().map_err(|_| bad())?, 0),
    };
    if b != 0 && (a == 0 || b < a) {
        return Err(bad());
    }
    Ok((a, if b == a { 0 } else { b }))
}

impl PortSpec {
    /// Reads `HostConfig.PortBindings` (`{"80/tcp": [{"HostIp", "HostPort"}]}`).
    pub fn from_bindings(
        b: Option<
            &std::collections::HashMap<String, Option<Vec<bollard_stubs::models::PortBinding>>>,
        >,
    ) -> Result<Vec<PortSpec>> {
        let mut out = Vec::new();
        let Some(b) = b else { return Ok(out) };
        let mut keys: Vec<&String> = b.keys().collect();
        keys.sort();
        for key in keys {
            let (container_port, proto) = port_key(key)?;
            let bindings = b.get(key).cloned().flatten().unwrap_or_default();
            // `-p 80` in the API: a key with no binding is "any host port".
            let bindings = if bindings.is_empty() {
                vec![bollard_stubs::models::PortBinding::default()]
            } else {
                bindings
            };
            for binding in bindings {
                let (host_port, host_port_end) =
                    host_ports(binding.host_port.as_deref().unwrap_or(""))?;
                let host_ip = binding.host_ip.unwrap_or_default();
                if !host_ip.is_empty() && host_ip.parse::<std::net::IpAddr>().is_err() {
                    return Err(EngineError::Invalid(format!("invalid host IP: {host_ip}")));
                }
                out.push(PortSpec {
                    container_port,
                    protocol: proto.to_owned(),
                    host_ip,
                    host_port,
                    host_port_end,
                });
            }
        }
        Ok(out)
    }

    /// The ports a container publishes: its PortBindings and, with
    /// `PublishAllPorts` (`-P`), every other exposed port on a free host port.
    pub fn of_container(rec: &crate::ContainerRecord) -> Result<Vec<PortSpec>> {
        let hc = &rec.host_config;
        let mut out = PortSpec::from_bindings(hc.port_bindings.as_ref())?;
        if hc.publish_all_ports.unwrap_or(false) {
            let mut exposed: Vec<&String> = rec.config.exposed_ports.iter().flatten().collect();
            exposed.sort();
            for key in exposed {
                let (container_port, proto) = port_key(key)?;
                if !out
                    .iter()
                    .any(|p| p.container_port == container_port && p.protocol == proto)
                {
                    out.push(PortSpec {
                        container_port,
                        protocol: proto.to_owned(),
                        host_ip: String::new(),
                        host_port: 0,
                        host_port_end: 0,
                    });
                }
            }
        }
        Ok(out)
    }
}

/// What an attach made (as NetworkSettings.Networks shows it).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Endpoint {
    pub network_id: String,
    pub endpoint_id: String,
    pub ip_address: String,
    pub ip_prefix_len: i64,
    pub gateway: String,
    pub mac_address: String,
    /// The IPv6 address on an IPv6 network, empty otherwise.
    #[serde(default)]
    pub global_ipv6_address: String,
    #[serde(default)]
    pub global_ipv6_prefix_len: i64,
    #[serde(default)]
    pub ipv6_gateway: String,
    /// The ports published for this endpoint (host port chosen when 0 was asked).
    #[serde(default)]
    pub ports: Vec<PortSpec>,
    /// The container's interface; empty in records from before it was kept (eth0).
    #[serde(default)]
    pub ifname: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The embedded DNS's address in the container (127.0.0.11 on
    /// user-defined networks), its nameserver; empty for none.
    #[serde(default)]
    pub dns_server: String,
}

/// A network as `docker network ls/inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NetworkInfo {
    pub id: String,
    pub name: String,
    pub driver: String,
    pub created: String,
    pub subnet: String,
    pub gateway: String,
    pub internal: bool,
    /// `--ip-range`, empty for the whole subnet.
    pub ip_range: String,
    /// The IPv6 subnet and gateway (`--ipv6`), empty without.
    pub subnet6: String,
    pub gateway6: String,
    /// `--aux-address`: name to reserved address.
    pub aux_addresses: std::collections::HashMap<String, String>,
    pub attachable: bool,
    pub labels: std::collections::HashMap<String, String>,
    pub options: std::collections::HashMap<String, String>,
}

/// `POST /networks/create`, as the driver needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkCreate {
    pub name: String,
    pub driver: String,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub ip_range: Option<String>,
    /// `--ipv6`.
    pub ipv6: bool,
    pub subnet6: Option<String>,
    pub gateway6: Option<String>,
    /// `--aux-address name=ip`, for either family.
    pub aux_addresses: std::collections::HashMap<String, String>,
    pub internal: bool,
    pub attachable: bool,
    pub labels: std::collections::HashMap<String, String>,
    pub options: std::collections::HashMap<String, String>,
}

/// A network driver as the engine calls it. `attach` is transactional: on
/// error nothing it made is left.
pub trait NetworkAttacher: Send + Sync {
    fn attach(&self, netns: &Path, cfg: &EndpointConfig) -> Result<Endpoint>;
    fn detach(&self, netns: &Path, cfg: &EndpointConfig, ep: &Endpoint) -> Result<()>;
    /// Detach from a netns that lives on (`network disconnect`): also
    /// removes the container's interface.
    fn disconnect(&self, netns: &Path, cfg: &EndpointConfig, ep: &Endpoint) -> Result<()> {
        self.detach(netns, cfg, ep)
    }
    /// The driver's networks (the built-in `host` and `none` are the API's).
    fn networks(&self) -> Vec<NetworkInfo> {
        Vec::new()
    }
    /// Makes a user-defined network.
    fn create_network(&self, _req: &NetworkCreate) -> Result<NetworkInfo> {
        Err(EngineError::NotImplemented(
            "user-defined networks are not available with this network driver".into(),
        ))
    }
    /// Removes a user-defined network (the caller checked it is unused).
    fn remove_network(&self, name: &str) -> Result<()> {
        Err(EngineError::NotFound(format!("network {name} not found")))
    }
    /// Puts the driver's firewall state back after someone else damaged
    /// it (see [`firewall_watch`]): fixed rules, every network's elements
    /// and the published ports of `live`, the endpoints of running
    /// containers (by network). Idempotent.
    fn repair_firewall(&self, _live: &[(String, Endpoint)]) -> Result<()> {
        Ok(())
    }
    /// At daemon start: releases what attaches of containers not in
    /// `live` (ids of containers with recorded endpoints) left behind when
    /// a daemon died before recording them (addresses, published ports,
    /// DNS names).
    fn release_orphans(&self, _live: &std::collections::HashSet<String>) -> Result<()> {
        Ok(())
    }
    /// Opens (or closes) the holes legacy links make in `network` when it
    /// blocks inter-container traffic (`--icc=false`): each client may
    /// reach its server's exposed port. Nothing to do elsewhere.
    fn link_openings(
        &self,
        _network: &str,
        _openings: &[berth_net::firewall::IccOpening],
        _open: bool,
    ) -> Result<()> {
        Ok(())
    }
}

/// The attacher until engine networking lands (issue 11): a container on
/// a network keeps its own netns with only `lo`, and no address.
pub struct LoopbackOnly;

impl NetworkAttacher for LoopbackOnly {
    fn attach(&self, _: &Path, cfg: &EndpointConfig) -> Result<Endpoint> {
        Ok(Endpoint {
            network_id: cfg.network.clone(),
            ..Endpoint::default()
        })
    }
    fn detach(&self, _: &Path, _: &EndpointConfig, _: &Endpoint) -> Result<()> {
        Ok(())
    }
}

impl crate::Engine {
    /// The network driver (for the `/networks` routes).
    pub fn network_driver(&self) -> &std::sync::Arc<dyn NetworkAttacher> {
        &self.inner.attacher
    }
}

/// The name of network `name_or_id` (404 when the driver has none such).
/// `bridge` is always known (the loopback-only driver has no list).
pub(crate) fn known_network(e: &crate::Engine, name_or_id: &str) -> Result<String> {
    let nets = e.inner.attacher.networks();
    if let Some(n) = nets
        .iter()
        .find(|n| n.name == name_or_id || n.id == name_or_id)
        .or_else(|| {
            let mut p = nets.iter().filter(|n| n.id.starts_with(name_or_id));
            match (p.next(), p.next()) {
                (Some(n), None) => Some(n),
                _ => None,
            }
        })
    {
        return Ok(n.name.clone());
    }
    if name_or_id == "bridge" {
        return Ok(name_or_id.to_owned());
    }
    Err(EngineError::NotFound(format!(
        "network {name_or_id} not found"
    )))
}

/// `NetworkSettings.Ports` of a running container: its published ports
/// (Docker shows IPv4 "0.0.0.0" for every local address).
pub(crate) fn published_ports(
    rec: &crate::ContainerRecord,
) -> std::collections::HashMap<String, Option<Vec<bollard_stubs::models::PortBinding>>> {
    let mut out: std::collections::HashMap<String, Option<Vec<_>>> = Default::default();
    if !rec.state.status.is_live() {
        return out;
    }
    // Exposed but not published: shown with no binding.
    for key in rec.config.exposed_ports.iter().flatten() {
        out.insert(key.clone(), None);
    }
    for ep in rec.endpoints.values() {
        for p in &ep.ports {
            let key = format!("{}/{}", p.container_port, p.protocol);
            let ip = if p.host_ip.is_empty() {
                "0.0.0.0"
            } else {
                &p.host_ip
            };
            out.entry(key)
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(bollard_stubs::models::PortBinding {
                    host_ip: Some(ip.to_owned()),
                    host_port: Some(p.host_port.to_string()),
                });
        }
    }
    out
}

/// The `Ports` of a `GET /containers/json` entry: one per host binding,
/// and one without a public port for an exposed port nobody publishes, as
/// dockerd lists them (`docker ps` prints `0.0.0.0:8080->80/tcp`).
pub(crate) fn port_summaries(
    rec: &crate::ContainerRecord,
) -> Vec<bollard_stubs::models::PortSummary> {
    use bollard_stubs::models::PortSummary;
    let mut out = Vec::new();
    for (key, bindings) in published_ports(rec) {
        let (port, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
        let Ok(private_port) = port.parse::<u16>() else {
            continue;
        };
        let typ = proto.parse().ok();
        match bindings {
            Some(bs) if !bs.is_empty() => {
                for b in bs {
                    out.push(PortSummary {
                        ip: b.host_ip.clone(),
                        private_port,
                        public_port: b.host_port.as_deref().and_then(|p| p.parse().ok()),
                        typ,
                    });
                }
            }
            _ => out.push(PortSummary {
                ip: None,
                private_port,
                public_port: None,
                typ,
            }),
        }
    }
    out.sort_by(|a, b| {
        (a.private_port, a.typ, &a.ip, a.public_port).cmp(&(
            b.private_port,
            b.typ,
            &b.ip,
            b.public_port,
        ))
    });
    out
}

/// Makes the container's netns at `dir/<id>` with `lo` up.
pub fn create_netns(dir: &Path, id: &str) -> Result<PathBuf> {
    let ns = NetNs::create(dir, id).map_err(|e| EngineError::Internal(e.to_string()))?;
    let path = ns.path().to_path_buf();
    let lo_up = berth_net::netlink::Netlink::for_netns(&ns)
        .and_then(|nl| nl.set_up(1))
        .map_err(|e| EngineError::Internal(format!("bringing up lo: {e}")));
    if let Err(e) = lo_up {
        let _ = NetNs::remove(&path);
        return Err(e);
    }
    Ok(path)
}

/// Removes the netns bind mount (the kernel frees its links).
pub fn remove_netns(path: &Path) -> Result<()> {
    NetNs::remove(path).map_err(|e| EngineError::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_like_docker() {
        assert_eq!(
            NetworkMode::parse("default").expect("mode"),
            NetworkMode::Network("bridge".into())
        );
        assert_eq!(NetworkMode::parse("none").expect("mode"), NetworkMode::None);
        assert_eq!(NetworkMode::parse("host").expect("mode"), NetworkMode::Host);
        assert_eq!(
            NetworkMode::parse("container:web").expect("mode"),
            NetworkMode::Container("web".into())
        );
        assert!(NetworkMode::parse("container:").is_err());
        assert!(NetworkMode::None.own_netns());
        assert!(!NetworkMode::Host.own_netns());
    }
}
