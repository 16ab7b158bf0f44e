//! A container's networks: the attach of each at start, and `network
//! connect` / `network disconnect` (on a running container they attach to
//! or detach from its live netns; on a stopped one they change what its
//! next start attaches).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use bollard_stubs::models::EndpointSettings;

use super::record::ContainerRecord;
use crate::error::{EngineError, Result};
use crate::network::{self, Endpoint, EndpointConfig, NetworkMode, PortSpec};
use crate::Engine;

/// `--ip` and `--network-alias` of one endpoint request.
pub(crate) fn requested(settings: &EndpointSettings) -> Result<(Option<IpAddr>, Vec<String>)> {
    let ip = settings
        .ipam_config
        .as_ref()
        .and_then(|c| c.ipv4_address.clone())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpAddr>()
                .ok()
                .filter(IpAddr::is_ipv4)
                .ok_or_else(|| EngineError::Invalid(format!("invalid IPv4 address: {s}")))
        })
        .transpose()?;
    let aliases = settings.aliases.clone().unwrap_or_default();
    Ok((ip, aliases))
}

/// `--ip6` and `--mac-address` of one endpoint request.
pub(crate) fn requested_v6_mac(
    settings: &EndpointSettings,
) -> Result<(Option<IpAddr>, Option<String>)> {
    let ip6 = settings
        .ipam_config
        .as_ref()
        .and_then(|c| c.ipv6_address.clone())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpAddr>()
                .ok()
                .filter(IpAddr::is_ipv6)
                .ok_or_else(|| EngineError::Invalid(format!("invalid IPv6 address: {s}")))
        })
        .transpose()?;
    let mac = settings
        .mac_address
        .clone()
        .filter(|m| !m.is_empty())
        .map(|m| {
            m.parse::<berth_net::mac::MacAddr>()
                .map(|_| m.clone())
                .map_err(|_| EngineError::Invalid(format!("invalid MAC address: {m}")))
        })
        .transpose()?;
    Ok((ip6, mac))
}

/// The networks of a container in attach order: its network mode's first.
pub(crate) fn networks_of(rec: &ContainerRecord) -> Vec<(String, EndpointSettings)> {
    let mode = NetworkMode::parse(rec.host_config.network_mode.as_deref().unwrap_or(""));
    let Ok(NetworkMode::Network(primary)) = mode else {
        return Vec::new();
    };
    // A container disconnected from its mode's network keeps the mode (as
    // in dockerd) but is no longer on it.
    let mut out: Vec<(String, EndpointSettings)> = rec
        .networks
        .get(&primary)
        .map(|s| (primary.clone(), s.clone()))
        .into_iter()
        .collect();
    out.extend(
        rec.networks
            .iter()
            .filter(|(n, _)| **n != primary)
            .map(|(n, s)| (n.clone(), s.clone())),
    );
    out
}

/// The first `ethN` no endpoint uses.
fn free_ifname(endpoints: &HashMap<String, Endpoint>) -> String {
    (0..)
        .map(|i| format!("eth{i}"))
        .find(|n| {
            !endpoints
                .values()
                .any(|e| e.ifname == *n || (e.ifname.is_empty() && n == "eth0"))
        })
        .unwrap_or_else(|| "eth0".into())
}

/// Checks the endpoint settings a create or connect asks for.
pub(crate) fn check_request(network: &str, settings: &EndpointSettings) -> Result<()> {
    let (_, aliases) = requested(settings)?;
    requested_v6_mac(settings)?;
    super::links::dns_links(settings.links.as_deref().unwrap_or(&[]))?;
    if !aliases.is_empty() && network == "bridge" {
        return Err(EngineError::Invalid(
            "network-scoped alias is supported only for containers in user defined networks".into(),
        ));
    }
    Ok(())
}

impl Engine {
    /// [`check_request`], then, as dockerd at create and connect, static
    /// addresses that can never be had (400 before anything is made): any
    /// on the default bridge, or one outside the network's subnets.
    pub(crate) fn check_endpoint(&self, network: &str, settings: &EndpointSettings) -> Result<()> {
        check_request(network, settings)?;
        let (ip4, _) = requested(settings)?;
        let (ip6, _) = requested_v6_mac(settings)?;
        let bad = |why: String| {
            EngineError::Invalid(format!(
                "invalid config for network {network}: invalid endpoint settings: {why}"
            ))
        };
        if ip4.is_none() && ip6.is_none() {
            return Ok(());
        }
        if network == "bridge" {
            return Err(bad(
                "user-specified IP address is supported on user-defined networks only".into(),
            ));
        }
        // An unknown network fails the start (404), not the create.
        let Some(net) = self
            .inner
            .attacher
            .networks()
            .into_iter()
            .find(|n| n.name == network)
        else {
            return Ok(());
        };
        let subnets: Vec<ipnet::IpNet> = [&net.subnet, &net.subnet6]
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect();
        // A driver that names no subnet (its plugin's IPAM) decides itself.
        if subnets.is_empty() {
            return Ok(());
        }
        for ip in ip4.into_iter().chain(ip6) {
            if !subnets.iter().any(|s| s.contains(&ip)) {
                return Err(bad(format!(
                    "no configured subnet contains IP address {ip}"
                )));
            }
        }
        Ok(())
    }

    fn attach_one(
        &self,
        rec: &ContainerRecord,
        netns: &Path,
        network: &str,
        settings: &EndpointSettings,
        endpoints: &HashMap<String, Endpoint>,
        ports: Vec<PortSpec>,
    ) -> Result<Endpoint> {
        let (ipv4, aliases) = requested(settings)?;
        let (ipv6, mac) = requested_v6_mac(settings)?;
        let cfg = EndpointConfig {
            container_id: rec.id.clone(),
            container_name: rec.name.clone(),
            network: network.to_owned(),
            aliases,
            ports,
            ifname: free_ifname(endpoints),
            ipv4,
            ipv6,
            mac,
            // The embedded DNS's upstream: the container's --dns, else the daemon's.
            dns: self
                .inner
                .cfg
                .dns_of(&rec.host_config)
                .0
                .iter()
                .filter_map(|d| d.parse().ok())
                .collect(),
            ndots_set: super::start::ndots_set(
                rec.host_config.dns_options.as_deref().unwrap_or(&[]),
                &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
            ),
            links: super::links::dns_links(settings.links.as_deref().unwrap_or(&[]))?,
        };
        let ep = self.inner.attacher.attach(netns, &cfg)?;
        // The veth, lease, ports and DNS name exist; no record names them.
        crate::faults::crash_point("attach:endpoint-made");
        Ok(ep)
    }

    /// Attaches every network of `rec` to its new netns (published ports go
    /// with the first); on failure the caller releases what `endpoints` holds.
    pub(crate) fn attach_all(
        &self,
        rec: &ContainerRecord,
        netns: &Path,
        primary: &str,
        endpoints: &mut HashMap<String, Endpoint>,
    ) -> Result<()> {
        let mut ports = Some(PortSpec::of_container(rec)?);
        for (n, settings) in networks_of(rec) {
            let ports = if n == primary {
                ports.take().unwrap_or_default()
            } else {
                Vec::new()
            };
            let ep = self.attach_one(rec, netns, &n, &settings, endpoints, ports)?;
            endpoints.insert(n, ep);
        }
        Ok(())
    }

    /// `POST /networks/{id}/connect`.
    pub async fn network_connect(
        &self,
        network: &str,
        container: &str,
        settings: EndpointSettings,
    ) -> Result<()> {
        let name = network::known_network(self, network)?;
        let entry = self.lookup(container)?;
        let _op = entry.op.lock().await;
        let rec = entry.record();
        match NetworkMode::parse(rec.host_config.network_mode.as_deref().unwrap_or(""))? {
            NetworkMode::Network(_) => {}
            NetworkMode::Host => {
                return Err(EngineError::Invalid(
                    "container cannot be disconnected from host network or connected to host network".into(),
                ))
            }
            NetworkMode::None => {
                return Err(EngineError::Invalid(
                    "container cannot be connected to multiple networks with one of the networks in private (none) mode".into(),
                ))
            }
            NetworkMode::Container(_) => {
                return Err(EngineError::Invalid(
                    "container sharing network namespace with another container or host cannot be connected to any other network".into(),
                ))
            }
        }
        if networks_of(&rec).iter().any(|(n, _)| *n == name) {
            return Err(EngineError::Forbidden(format!(
                "endpoint with name {} already exists in network {name}",
                rec.name
            )));
        }
        self.check_endpoint(&name, &settings)?;
        let mut ep = None;
        if let (true, Some(ns)) = (rec.state.status.is_live(), rec.netns.clone()) {
            let engine = self.clone();
            let (r, n, s) = (rec.clone(), name.clone(), settings.clone());
            let made = tokio::task::spawn_blocking(move || {
                engine.attach_one(&r, &PathBuf::from(ns), &n, &s, &r.endpoints, Vec::new())
            })
            .await
            .map_err(|e| EngineError::Internal(e.to_string()))??;
            ep = Some(made);
        }
        self.update(&entry, |r| {
            r.networks.insert(name.clone(), settings);
            if let Some(ep) = ep {
                r.endpoints.insert(name.clone(), ep);
            }
        })?;
        Ok(())
    }

    /// `POST /networks/{id}/disconnect`. `Force` changes nothing here: in
    /// dockerd it only lets a disconnect go on when the network itself is
    /// in trouble, and a container not connected is an error either way.
    pub async fn network_disconnect(
        &self,
        network: &str,
        container: &str,
        _force: bool,
    ) -> Result<()> {
        let name = network::known_network(self, network)?;
        let entry = self.lookup(container)?;
        let _op = entry.op.lock().await;
        let rec = entry.record();
        let nets = networks_of(&rec);
        if !nets.iter().any(|(n, _)| *n == name) {
            return Err(EngineError::Internal(format!(
                "container {} is not connected to network {name}",
                rec.id
            )));
        }
        if let (Some(ep), Some(ns)) = (rec.endpoints.get(&name).cloned(), rec.netns.clone()) {
            let engine = self.clone();
            let cfg = EndpointConfig::of_endpoint(&rec, &name, &ep);
            tokio::task::spawn_blocking(move || {
                engine
                    .inner
                    .attacher
                    .disconnect(&PathBuf::from(ns), &cfg, &ep)
            })
            .await
            .map_err(|e| EngineError::Internal(e.to_string()))??;
        }
        let mut remaining: BTreeMap<String, EndpointSettings> =
            nets.into_iter().filter(|(n, _)| *n != name).collect();
        // dockerd leaves HostConfig.NetworkMode alone: a container whose
        // last network went is on none until it is connected again.
        self.update(&entry, |r| {
            r.endpoints.remove(&name);
            r.networks = std::mem::take(&mut remaining);
        })?;
        Ok(())
    }
}
