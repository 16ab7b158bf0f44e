//! The bridge driver inside berthd: the default network `bridge` (bridge
//! `berth0`) and user-defined bridge networks, attached in process with
//! berth-net (netlink, IPAM, the `inet berth` nftables table) — the same
//! library the `berth-bridge` and `berth-portmap` CNI plugins use, without a
//! plugin process per attach.
//!
//! Per network: a Linux bridge holding the gateway address, the subnet's
//! masquerade element (not for `--internal`) and its isolation elements (no
//! forwarding between two berth bridges). Per container: a veth pair (the
//! container end `eth0` is made directly in the container's netns), an
//! IPAM lease, a default route via the gateway and its published ports as
//! elements of the DNAT maps. Detach releases the lease and the ports; the
//! veth goes with the container's netns.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};

use berth_net::firewall::{Firewall, NetworkRules, PortMapping, Protocol};
use berth_net::ipam::{Ipam, IpamConfig, Range};
use berth_net::netlink::bridge::BridgeConfig;
use berth_net::netlink::route::Route;
use berth_net::netlink::veth::VethConfig;
use berth_net::{NetNs, Netlink};
use berth_store::Store;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::pools::{self, overlaps, AddressPool};
use super::{Endpoint, EndpointConfig, NetworkAttacher, NetworkCreate, NetworkInfo, PortSpec};
use crate::error::{EngineError, Result};

mod default_net;
mod repair;

pub use default_net::{parse_cidr, parse_fixed_cidr_v6, parse_mtu, BridgeOptions, DEFAULT_MTU};

/// The default network's name and bridge.
pub const DEFAULT_NETWORK: &str = "bridge";
pub const DEFAULT_BRIDGE: &str = "berth0";
const IFNAME: &str = "eth0";
const KEY_PREFIX: &str = "networks/v1/";
/// The 40-bit global ID of berthd's own ULA pool (drawn once).
const ULA_KEY: &str = "ula/v1";

/// One network as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct NetworkDef {
    id: String,
    name: String,
    bridge: String,
    subnet: IpNet,
    gateway: IpAddr,
    internal: bool,
    created: String,
    /// `--ip-range`: where addresses are handed out from.
    #[serde(default)]
    ip_range: Option<IpNet>,
    #[serde(default)]
    attachable: bool,
    #[serde(default)]
    labels: HashMap<String, String>,
    #[serde(default)]
    options: HashMap<String, String>,
    /// `--ipv6`: the IPv6 subnet and its gateway (on the bridge).
    #[serde(default)]
    subnet6: Option<IpNet>,
    #[serde(default)]
    gateway6: Option<IpAddr>,
    /// `--aux-address`: reserved (held as IPAM leases of [`AUX_OWNER`]).
    #[serde(default)]
    aux: HashMap<String, IpAddr>,
}

/// The IPAM owner of a network's `--aux-address` reservations.
const AUX_OWNER: &str = "aux-address";

impl NetworkDef {
    fn info(&self) -> NetworkInfo {
        NetworkInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            driver: "bridge".into(),
            created: self.created.clone(),
            subnet: self.subnet.to_string(),
            gateway: self.gateway.to_string(),
            internal: self.internal,
            ip_range: self.ip_range.map(|r| r.to_string()).unwrap_or_default(),
            subnet6: self.subnet6.map(|s| s.to_string()).unwrap_or_default(),
            gateway6: self.gateway6.map(|g| g.to_string()).unwrap_or_default(),
            aux_addresses: self
                .aux
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect(),
            attachable: self.attachable,
            labels: self.labels.clone(),
            options: self.options.clone(),
        }
    }

    /// The MTU of the bridge and its veths (`--mtu` for the default
    /// network, `-o com.docker.network.driver.mtu` for others).
    fn mtu(&self) -> Option<u32> {
        self.options
            .get(default_net::MTU_OPTION)
            .and_then(|m| m.parse().ok())
    }

    fn rules(&self) -> NetworkRules {
        NetworkRules {
            bridge: Some(self.bridge.clone()),
            subnets: std::iter::once(self.subnet.trunc())
                .chain(self.subnet6.map(|s| s.trunc()))
                .collect(),
            // `-o com.docker.network.bridge.enable_ip_masquerade=false`,
            // `--ip-masq=false` for the default network (checked at create).
            masquerade: !self.internal
                && self.options.get(default_net::MASQ_OPTION).is_none_or(|v| {
                    default_net::parse_bool(default_net::MASQ_OPTION, v).unwrap_or(true)
                }),
            isolate: true,
            // `-o com.docker.network.bridge.enable_icc=false`, `--icc=false`.
            block_icc: self.options.get(default_net::ICC_OPTION).is_some_and(|v| {
                !default_net::parse_bool(default_net::ICC_OPTION, v).unwrap_or(true)
            }),
            gateways: std::iter::once(self.gateway).chain(self.gateway6).collect(),
        }
    }

    /// Addresses from `--ip-range` (or the subnet); a static address
    /// (`--ip`) may be anywhere in the subnet, as with dockerd.
    fn ipam(&self, static_ip: bool) -> IpamConfig {
        let subnet = self.subnet.trunc();
        let mut range = Range {
            gateway: Some(self.gateway),
            ..Range::subnet(subnet)
        };
        if let (Some(r), false) = (self.ip_range, static_ip) {
            let hosts = |n: &IpNet| (n.network(), n.broadcast());
            let (net_first, net_last) = hosts(&subnet);
            let (first, last) = hosts(&r.trunc());
            // The subnet's network and broadcast addresses are never handed out.
            range.range_start = (first != net_first).then_some(first);
            range.range_end = (last != net_last).then_some(last);
        }
        let mut ranges = vec![vec![range]];
        if let Some(s6) = self.subnet6 {
            ranges.push(vec![Range {
                gateway: self.gateway6,
                ..Range::subnet(s6.trunc())
            }]);
        }
        IpamConfig {
            ranges,
            routes: Vec::new(),
        }
    }

    /// The whole subnet of `ip`'s family alone (for reserving an
    /// `--aux-address`).
    fn ipam_of_family(&self, ip: IpAddr) -> IpamConfig {
        let mut cfg = self.ipam(true);
        cfg.ranges.retain(|set| {
            set.first()
                .is_some_and(|r| r.subnet.addr().is_ipv4() == ip.is_ipv4())
        });
        cfg
    }
}

fn internal(what: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError::Internal(format!("{what}: {e}"))
}

fn now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    crate::container::inspect::format_time(secs, 0)
}

fn random_hex(bytes: usize) -> String {
    crate::ids::new_id()
        .map(|id| id[..bytes * 2].to_owned())
        .unwrap_or_else(|_| format!("{:08x}", std::process::id()))
}

/// The subnets of the daemon's netns: its addresses' and its routes'
/// (default routes aside).
fn host_subnets(nl: &Netlink) -> Result<Vec<IpNet>> {
    let mut out: Vec<IpNet> = nl
        .addresses(None)
        .map_err(|e| internal("listing addresses", e))?
        .into_iter()
        .map(|(_, a)| a.trunc())
        .collect();
    out.extend(
        nl.routes(false)
            .map_err(|e| internal("listing routes", e))?
            .into_iter()
            .map(|r| r.dst.trunc())
            .filter(|d| d.prefix_len() > 0),
    );
    Ok(out)
}

/// Removes a replaced default network's changed gateway addresses (v4, v6) from its bridge
/// (berth's own), so the daemon's netns does not keep a stale route.
fn forget_gateway(old: &NetworkDef, new: &NetworkDef) {
    let Ok(host) = Netlink::new() else { return };
    let Ok(Some(br)) = host.link_by_name(&old.bridge) else {
        return;
    };
    let mut gone = Vec::new();
    if old.gateway != new.gateway || old.subnet != new.subnet {
        gone.extend(IpNet::new(old.gateway, old.subnet.prefix_len()).ok());
    }
    if let (Some(g6), Some(s6)) = (old.gateway6, old.subnet6) {
        if old.gateway6 != new.gateway6 || old.subnet6 != new.subnet6 {
            gone.extend(IpNet::new(g6, s6.prefix_len()).ok());
        }
    }
    for gw in gone {
        if let Err(e) = host.del_address(br.index, gw) {
            tracing::warn!("removing the old default bridge address {gw}: {e}");
        }
    }
}

/// Docker's IPv6 gateway: the address after the subnet's (ipnet's v6
/// hosts() start at the subnet-router anycast address, the network's).
fn gateway6_of(subnet6: &IpNet) -> IpAddr {
    match subnet6.network() {
        IpAddr::V6(n) => IpAddr::V6(Ipv6Addr::from(u128::from(n) + 1)),
        v4 => v4,
    }
}

/// The global ID of berthd's ULA pool: stored, or drawn and stored.
fn ula_pool(store: &dyn Store) -> Result<AddressPool> {
    if let Some(b) = store.get(ULA_KEY)? {
        if let Ok(id) = String::from_utf8_lossy(&b).trim().parse::<u64>() {
            return Ok(pools::ula(id));
        }
    }
    let hex = crate::ids::new_id()?;
    let id = u64::from_str_radix(&hex[..10], 16).map_err(|e| internal("ULA global ID", e))?;
    store.put(ULA_KEY, id.to_string().as_bytes())?;
    Ok(pools::ula(id))
}

/// Removes a replaced default network's firewall elements (its
/// masquerade may be off now; the new ones are added at setup).
fn forget_rules(old: &NetworkDef) -> Result<()> {
    if let Some(fw) = Firewall::open_existing().map_err(|e| internal("opening firewall", e))? {
        fw.remove_network(&old.rules())
            .map_err(|e| internal("removing the old default network's firewall elements", e))?;
    }
    Ok(())
}

fn first_host(net: &IpNet) -> Result<IpAddr> {
    net.trunc()
        .hosts()
        .next()
        .ok_or_else(|| EngineError::Invalid(format!("subnet {net} has no host address")))
}

/// The bridge driver: its networks (persisted in its store) and the
/// attach/detach of containers to them.
pub struct BridgeDriver {
    store: Arc<dyn Store>,
    /// IPAM leases and DNS entries: written at every attach and detach, so
    /// kept as lease files (one journalled `fdatasync` per lease) rather
    /// than in redb (several per commit); see berth-net's `LeaseFiles`.
    leases: Arc<dyn Store>,
    networks: Mutex<Vec<NetworkDef>>,
    dns: super::dns::Dns,
    /// Where subnets of networks created without `--subnet` come from
    /// (both families).
    pools: Vec<AddressPool>,
    /// `--iptables`: program berth's nftables table (off: no rule at all).
    firewall: bool,
    /// `--ip-forward`: turn on the forwarding sysctls.
    ip_forward: bool,
    /// `--iptables=false`: the host ports containers hold (no DNAT map
    /// to find a clash in), refilled from the records at start.
    recorded: Mutex<HashSet<HostPort>>,
}

/// A host port as `-p` holds it: protocol, address (None: all), port.
type HostPort = (Protocol, Option<IpAddr>, u16);

/// Whether two host ports clash: same protocol and port, and the same
/// address or either one all addresses (as dockerd's port allocator).
fn clashes(a: &HostPort, b: &HostPort) -> bool {
    a.0 == b.0 && a.2 == b.2 && (a.1 == b.1 || a.1.is_none() || b.1.is_none())
}

const DNS_PREFIX: &str = "dns/v1/";

fn dns_key(network: &str, container_id: &str) -> String {
    format!("{DNS_PREFIX}{network}/{container_id}")
}

impl BridgeDriver {
    /// Loads the networks from `store` and makes the default one as
    /// `opts` ask (see [`BridgeOptions`]): at first start, or again when
    /// the options changed.
    pub fn open(
        store: Arc<dyn Store>,
        leases: Arc<dyn Store>,
        opts: &BridgeOptions,
    ) -> Result<BridgeDriver> {
        let mut nets = Vec::new();
        for (key, value) in store.list_prefix(KEY_PREFIX)? {
            let def: NetworkDef = serde_json::from_slice(&value)
                .map_err(|e| internal(&format!("decoding {key}"), e))?;
            nets.push(def);
        }
        let stored = nets.iter().find(|n| n.name == DEFAULT_NETWORK).cloned();
        let others: Vec<IpNet> = nets
            .iter()
            .filter(|n| n.name != DEFAULT_NETWORK)
            .flat_map(|n| std::iter::once(n.subnet).chain(n.subnet6))
            .collect();
        let pools = opts.pools(ula_pool(&*store)?);
        let wanted = default_net::wanted(opts, &pools, stored.as_ref(), || {
            let nl = Netlink::new().map_err(|e| internal("netlink", e))?;
            let mut taken = host_subnets(&nl)?;
            taken.extend(others.iter().copied());
            Ok(taken)
        })?;
        if let Some(def) = wanted {
            put(&*store, &def)?;
            if let Some(old) = &stored {
                if old.rules() != def.rules() && opts.firewall() {
                    forget_rules(old)?;
                }
                forget_gateway(old, &def);
            }
            nets.retain(|n| n.name != DEFAULT_NETWORK);
            nets.push(def);
        }
        let upstream = super::dns::nameservers(
            &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        );
        let dns =
            super::dns::Dns::new(upstream).map_err(|e| internal("starting the DNS resolver", e))?;
        // The names of containers attached before a daemon restart.
        for (key, value) in leases.list_prefix(DNS_PREFIX)? {
            let rest = key.trim_start_matches(DNS_PREFIX);
            let Some((network, _)) = rest.split_once('/') else {
                continue;
            };
            match serde_json::from_slice::<super::dns::DnsEntry>(&value) {
                Ok(e) => dns.add(network, e),
                Err(e) => tracing::warn!("skipping unreadable DNS entry {key}: {e}"),
            }
        }
        let all = nets.clone();
        let driver = BridgeDriver {
            store,
            leases,
            networks: Mutex::new(nets),
            dns,
            pools,
            firewall: opts.firewall(),
            ip_forward: opts.ip_forward.unwrap_or(true),
            recorded: Mutex::new(HashSet::new()),
        };
        // As dockerd: every network's bridge exists (with its gateway
        // address and rules) from daemon start, not from its
        // first container.
        let host = Netlink::new().map_err(|e| internal("netlink", e))?;
        for net in &all {
            match driver.ensure_network(&host, net) {
                Ok(_) => {}
                Err(e) if net.name == DEFAULT_NETWORK => return Err(e),
                // One broken user network does not keep the daemon down;
                // its next attach retries and reports.
                Err(e) => tracing::warn!(network = %net.name, "setting up: {e}"),
            }
        }
        // Live restore: running containers keep resolving.
        driver.dns.reopen_all();
        Ok(driver)
    }

    /// [`BridgeDriver::open`] over its own redb file at `path` (the
    /// engine's store is opened after its attacher is made), with only
    /// `bip` (`ADDRESS/PREFIX`) of the options.
    pub fn open_at(path: &Path, bip: Option<&str>) -> Result<BridgeDriver> {
        let bip = bip
            .map(|b| {
                b.parse::<IpNet>().map_err(|_| {
                    EngineError::Invalid(format!("invalid --bip {b:?} (want ADDRESS/PREFIX)"))
                })
            })
            .transpose()?;
        BridgeDriver::open_with(
            path,
            &BridgeOptions {
                bip,
                ..BridgeOptions::default()
            },
        )
    }

    /// [`BridgeDriver::open`] over its own redb file at `path`.
    pub fn open_with(path: &Path, opts: &BridgeOptions) -> Result<BridgeDriver> {
        let store: Arc<dyn Store> = Arc::new(berth_store::RedbStore::open(path)?);
        let dir = path.with_extension("leases");
        let leases: Arc<dyn Store> = Arc::new(
            berth_net::ipam::LeaseFiles::open(&dir)
                .map_err(|e| internal(&format!("opening {}", dir.display()), e))?,
        );
        BridgeDriver::open(store, leases, opts)
    }

    fn find(&self, name_or_id: &str) -> Result<NetworkDef> {
        let nets = self.networks.lock().unwrap_or_else(|p| p.into_inner());
        find_in(&nets, name_or_id)
            .cloned()
            .ok_or_else(|| EngineError::NotFound(format!("network {name_or_id} not found")))
    }

    /// The bridge, its gateway address, forwarding and the network's
    /// firewall elements (all idempotent: every attach checks them).
    fn ensure_network(&self, host: &Netlink, net: &NetworkDef) -> Result<u32> {
        let br = host
            .ensure_bridge(&BridgeConfig {
                name: net.bridge.clone(),
                mtu: net.mtu(),
                mac: None,
                promisc: false,
                vlan_filtering: false,
                no_multicast_snooping: true,
            })
            .map_err(|e| internal(&format!("setting up bridge {}", net.bridge), e))?;
        let gw = IpNet::new(net.gateway, net.subnet.prefix_len())
            .map_err(|e| internal("gateway address", e))?;
        let have = host
            .link_addresses(br.index)
            .map_err(|e| internal("listing bridge addresses", e))?;
        if !have.contains(&gw) {
            match host.add_address_nodad(br.index, gw) {
                Ok(()) => {}
                Err(e) if e.is_exists() => {}
                Err(e) => return Err(internal(&format!("adding {gw} to {}", net.bridge), e)),
            }
        }
        if let (Some(gw6), Some(s6)) = (net.gateway6, net.subnet6) {
            // The bridge must take IPv6 even where the netns' default is off.
            let _ = berth_net::sysctl::set_disable_ipv6(&net.bridge, false);
            let gw6 =
                IpNet::new(gw6, s6.prefix_len()).map_err(|e| internal("gateway address", e))?;
            if !have.contains(&gw6) {
                match host.add_address_nodad(br.index, gw6) {
                    Ok(()) => {}
                    Err(e) if e.is_exists() => {}
                    Err(e) => return Err(internal(&format!("adding {gw6} to {}", net.bridge), e)),
                }
            }
            if self.ip_forward {
                berth_net::sysctl::set_ipv6_forwarding(true)
                    .map_err(|e| internal("enabling IPv6 forwarding", e))?;
            }
        }
        if !br.up {
            host.set_up(br.index)
                .map_err(|e| internal(&format!("setting {} up", net.bridge), e))?;
        }
        if self.ip_forward {
            berth_net::sysctl::set_ipv4_forwarding(true)
                .map_err(|e| internal("enabling IPv4 forwarding", e))?;
        }
        // --iptables=false: no rule, so no published port from 127.0.0.1
        // either (and route_localnet would be unsafe without the rule
        // that guards it).
        if !self.firewall {
            return Ok(br.index);
        }
        // 127.0.0.1:port of a published port is DNATed to the bridge; the
        // firewall drops 127/8 arriving from outside lo unless DNATed.
        berth_net::sysctl::set_route_localnet(&net.bridge, true)
            .map_err(|e| internal("setting route_localnet on the bridge", e))?;
        let rules = net.rules();
        if rules.block_icc {
            // Bridged traffic reaches the inet forward hook only through
            // br_netfilter (dockerd turns it on for --icc=false too).
            for key in [
                "net.bridge.bridge-nf-call-iptables",
                "net.bridge.bridge-nf-call-ip6tables",
            ] {
                match berth_net::sysctl::get(key) {
                    Ok(v) if v.trim() == "1" => {}
                    Ok(_) => berth_net::sysctl::set(key, "1")
                        .map_err(|e| internal(&format!("setting {key} for ICC off"), e))?,
                    Err(e) => {
                        return Err(internal(
                            &format!(
                                "{ICC} false on {}: {key} is unavailable (load br_netfilter)",
                                net.name,
                                ICC = default_net::ICC_OPTION
                            ),
                            e,
                        ))
                    }
                }
            }
        }
        let fw = Firewall::open().map_err(|e| internal("opening firewall", e))?;
        fw.add_network(&rules)
            .map_err(|e| internal("adding the network's firewall elements", e))?;
        Ok(br.index)
    }

    fn attach_steps<'a>(
        &'a self,
        netns: &Path,
        cfg: &EndpointConfig,
        net: &NetworkDef,
        undo: &mut Vec<Box<dyn FnOnce() + 'a>>,
    ) -> Result<Endpoint> {
        for p in &cfg.ports {
            check_port(p)?;
        }
        let host = Netlink::new().map_err(|e| internal("netlink", e))?;
        let br = self.ensure_network(&host, net)?;
        let ifname = if cfg.ifname.is_empty() {
            IFNAME
        } else {
            cfg.ifname.as_str()
        };
        if let Some(ip) = cfg.ipv4 {
            if !net.subnet.contains(&ip) {
                return Err(EngineError::Invalid(format!(
                    "invalid endpoint settings: no configured subnet contains IP address {ip}"
                )));
            }
        }
        if let Some(ip) = cfg.ipv6 {
            if !net.subnet6.is_some_and(|s| s.contains(&ip)) {
                return Err(EngineError::Invalid(format!(
                    "invalid endpoint settings: no configured subnet contains IP address {ip}"
                )));
            }
        }
        let mac = cfg
            .mac
            .as_deref()
            .map(|m| {
                m.parse::<berth_net::mac::MacAddr>()
                    .map_err(|_| EngineError::Invalid(format!("invalid MAC address: {m}")))
            })
            .transpose()?;
        let ipam = Ipam::new(&*self.leases, &net.name).map_err(|e| internal("ipam", e))?;
        let requested: Vec<IpAddr> = cfg.ipv4.into_iter().chain(cfg.ipv6).collect();
        let alloc = ipam
            .allocate(
                &net.ipam(cfg.ipv4.is_some() || cfg.ipv6.is_some()),
                &cfg.container_id,
                ifname,
                &requested,
            )
            .map_err(|e| match e {
                // dockerd: 403, IPAM's ErrIPAlreadyAllocated.
                berth_net::ipam::IpamError::Taken { ip, .. } => {
                    EngineError::Forbidden(format!("Address already in use: {ip}"))
                }
                berth_net::ipam::IpamError::NotInRange(ip) => EngineError::Invalid(format!(
                    "invalid endpoint settings: no configured subnet contains IP address {ip}"
                )),
                e => internal(&format!("allocating an address on {}", net.name), e),
            })?;
        let store = self.leases.clone();
        let (netname, cid, ifn) = (
            net.name.clone(),
            cfg.container_id.clone(),
            ifname.to_owned(),
        );
        undo.push(Box::new(move || {
            if let Ok(ipam) = Ipam::new(&*store, &netname) {
                let _ = ipam.release(&cid, Some(&ifn));
            }
        }));
        let addr = alloc
            .iter()
            .find(|a| a.range_set == 0)
            .map(|a| a.address)
            .ok_or_else(|| EngineError::Internal("IPAM gave no address".into()))?;
        let addr6 = alloc.iter().find(|a| a.range_set == 1).map(|a| a.address);
        let ns = NetNs::open(netns).map_err(|e| internal("opening the container's netns", e))?;
        let host_name = format!("veth{}", random_hex(4));
        let hv = host
            .create_veth(
                &VethConfig {
                    name: host_name.clone(),
                    peer_name: ifname.into(),
                    mtu: net.mtu(),
                    mac: None,
                    peer_mac: mac,
                },
                Some(&ns),
            )
            .map_err(|e| internal("creating veth pair", e))?;
        host.set_master(hv.index, br)
            .map_err(|e| internal(&format!("attaching {host_name} to {}", net.bridge), e))?;
        // A bridge port is layer 2 only.
        let _ = berth_net::sysctl::set_disable_ipv6(&host_name, true);
        host.set_up(hv.index)
            .map_err(|e| internal(&format!("setting {host_name} up"), e))?;
        let cont = Netlink::for_netns(&ns).map_err(|e| internal("netlink in container", e))?;
        let cl = cont
            .require_link(ifname)
            .map_err(|e| internal(&format!("finding the container's {ifname}"), e))?;
        // A failure from here on leaves the interface in a netns that lives
        // on when this is a `network connect`.
        let nsp = netns.to_path_buf();
        let ifn = ifname.to_owned();
        undo.push(Box::new(move || {
            if let Ok(ns) = NetNs::open(&nsp) {
                let _ = berth_net::netlink::unlist::delete_link_by_name(&ns, &ifn);
            }
        }));
        cont.add_address_nodad(cl.index, addr)
            .map_err(|e| internal(&format!("adding {addr} to {ifname}"), e))?;
        if let Some(a6) = addr6 {
            cont.add_address_nodad(cl.index, a6)
                .map_err(|e| internal(&format!("adding {a6} to {ifname}"), e))?;
        }
        cont.set_up(cl.index)
            .map_err(|e| internal(&format!("setting {ifname} up"), e))?;
        if let (Some(gw6), false) = (net.gateway6, net.internal) {
            match cont.add_route(&Route::default_via(gw6)) {
                Ok(()) => {}
                Err(e) if e.is_exists() => {}
                Err(e) => return Err(internal("adding the default IPv6 route", e)),
            }
        }
        if !net.internal {
            // The first network with a gateway gives the default route.
            match cont.add_route(&Route::default_via(net.gateway)) {
                Ok(()) => {}
                Err(e) if e.is_exists() => {}
                Err(e) => return Err(internal("adding the default route", e)),
            }
        }
        let mac = cont
            .link_by_index(cl.index)
            .ok()
            .flatten()
            .and_then(|l| l.mac)
            .map(|m| m.to_string())
            .unwrap_or_default();
        let ports = if self.firewall {
            publish_ports(&cfg.ports, addr.addr(), undo)?
        } else {
            self.record_ports(&cfg.ports, undo)?
        };
        Ok(Endpoint {
            network_id: net.id.clone(),
            endpoint_id: crate::ids::new_id()?,
            ip_address: addr.addr().to_string(),
            ip_prefix_len: i64::from(addr.prefix_len()),
            gateway: if net.internal {
                String::new()
            } else {
                net.gateway.to_string()
            },
            mac_address: mac,
            global_ipv6_address: addr6.map(|a| a.addr().to_string()).unwrap_or_default(),
            global_ipv6_prefix_len: addr6.map_or(0, |a| i64::from(a.prefix_len())),
            ipv6_gateway: match (net.gateway6, net.internal) {
                (Some(g), false) => g.to_string(),
                _ => String::new(),
            },
            ports,
            ifname: ifname.to_owned(),
            aliases: cfg.aliases.clone(),
            dns_server: if net.name == DEFAULT_NETWORK {
                String::new()
            } else {
                super::dns::RESOLVER_ADDR.to_string()
            },
        })
    }
}

/// Docker's start of the ephemeral range it takes free host ports from.
const EPHEMERAL: std::ops::RangeInclusive<u16> = 32768..=60999;

fn protocol_of(p: &PortSpec) -> Result<Protocol> {
    p.protocol
        .parse()
        .map_err(|e| EngineError::Invalid(format!("{e}")))
}

/// The host address of a spec: `None` for every local address.
fn host_ip_of(p: &PortSpec) -> Result<Option<IpAddr>> {
    if p.host_ip.is_empty() || p.host_ip == "0.0.0.0" {
        return Ok(None);
    }
    p.host_ip
        .parse()
        .map(Some)
        .map_err(|_| EngineError::Invalid(format!("invalid host IP: {}", p.host_ip)))
}

/// Bad input is refused before anything is made.
fn check_port(p: &PortSpec) -> Result<()> {
    protocol_of(p)?;
    if let Some(IpAddr::V6(_)) = host_ip_of(p)? {
        return Err(EngineError::Invalid(format!(
            "cannot publish {}/{} on IPv6 address {}: the network has no IPv6",
            p.container_port, p.protocol, p.host_ip
        )));
    }
    Ok(())
}

/// Whether a process of the daemon's netns holds `port` (it would never see
/// the DNATed traffic: Docker's "port is already allocated").
fn port_in_use(proto: Protocol, ip: Option<IpAddr>, port: u16) -> bool {
    let at = SocketAddr::new(ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), port);
    let err = match proto {
        Protocol::Tcp => std::net::TcpListener::bind(at).err(),
        Protocol::Udp => std::net::UdpSocket::bind(at).err(),
        Protocol::Sctp => None,
    };
    err.is_some_and(|e| e.kind() == std::io::ErrorKind::AddrInUse)
}

fn allocated(p: &PortSpec, port: u16) -> EngineError {
    let ip = if p.host_ip.is_empty() {
        "0.0.0.0"
    } else {
        &p.host_ip
    };
    EngineError::Conflict(format!(
        "Bind for {ip}:{port} failed: port is already allocated"
    ))
}

/// Publishes each spec (choosing the host port of a range or of "any"),
/// pushing its removal on `undo`; returns the ports as published.
fn publish_ports<'a>(
    specs: &[PortSpec],
    container_ip: IpAddr,
    undo: &mut Vec<Box<dyn FnOnce() + 'a>>,
) -> Result<Vec<PortSpec>> {
    if specs.is_empty() {
        return Ok(Vec::new());
    }
    let fw = Firewall::open().map_err(|e| internal("opening firewall", e))?;
    let mut out = Vec::new();
    for p in specs {
        let proto = protocol_of(p)?;
        let hip = host_ip_of(p)?;
        let fixed = p.host_port != 0 && p.host_port_end == 0;
        let candidates: Box<dyn Iterator<Item = u16>> = if fixed {
            Box::new(std::iter::once(p.host_port))
        } else if p.host_port != 0 {
            Box::new(p.host_port..=p.host_port_end)
        } else {
            Box::new(EPHEMERAL)
        };
        let mut chosen = None;
        for port in candidates {
            if port_in_use(proto, hip, port) {
                if fixed {
                    return Err(allocated(p, port));
                }
                continue;
            }
            let m = PortMapping {
                host_ip: hip,
                ..PortMapping::new(proto, port, container_ip, p.container_port)
            };
            match fw.publish(std::slice::from_ref(&m)) {
                Ok(()) => {
                    let fw = fw.clone();
                    undo.push(Box::new(move || {
                        let _ = fw.unpublish(&[m]);
                    }));
                    chosen = Some(port);
                    break;
                }
                // Published already, to another container.
                Err(e) if e.is_exists() && !fixed => continue,
                Err(e) if e.is_exists() => return Err(allocated(p, port)),
                Err(e) => return Err(internal("publishing ports", e)),
            }
        }
        let port = chosen.ok_or_else(|| {
            if p.host_port != 0 {
                allocated(p, p.host_port)
            } else {
                EngineError::Conflict(format!(
                    "no free host port for {}/{}",
                    p.container_port, p.protocol
                ))
            }
        })?;
        out.push(PortSpec {
            host_port: port,
            host_port_end: 0,
            ..p.clone()
        });
    }
    Ok(out)
}

impl BridgeDriver {
    /// `--iptables=false`: the ports are recorded as asked (inspect,
    /// `docker port`) and nothing is published, as dockerd without its
    /// rules; a host port another container holds is refused all the
    /// same. A range or "any" takes the first port neither another
    /// container nor a process of the daemon's netns holds.
    fn record_ports<'a>(
        &'a self,
        specs: &[PortSpec],
        undo: &mut Vec<Box<dyn FnOnce() + 'a>>,
    ) -> Result<Vec<PortSpec>> {
        let mut out = Vec::new();
        for p in specs {
            let proto = protocol_of(p)?;
            let hip = host_ip_of(p)?;
            let mut held = self.recorded.lock().unwrap_or_else(|e| e.into_inner());
            let free = |port: u16| !held.iter().any(|h| clashes(h, &(proto, hip, port)));
            let port = if p.host_port != 0 && p.host_port_end == 0 {
                if !free(p.host_port) {
                    return Err(allocated(p, p.host_port));
                }
                p.host_port
            } else {
                let mut range: Box<dyn Iterator<Item = u16>> = if p.host_port != 0 {
                    Box::new(p.host_port..=p.host_port_end)
                } else {
                    Box::new(EPHEMERAL)
                };
                range
                    .find(|&port| free(port) && !port_in_use(proto, hip, port))
                    .ok_or_else(|| allocated(p, p.host_port))?
            };
            held.insert((proto, hip, port));
            drop(held);
            undo.push(Box::new(move || {
                self.recorded
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&(proto, hip, port));
            }));
            out.push(PortSpec {
                host_port: port,
                host_port_end: 0,
                ..p.clone()
            });
        }
        Ok(out)
    }

    /// Forgets ports [`BridgeDriver::record_ports`] recorded.
    fn unrecord_ports(&self, ports: &[PortSpec]) {
        let mut held = self.recorded.lock().unwrap_or_else(|e| e.into_inner());
        for p in ports {
            if let (Ok(proto), Ok(hip)) = (protocol_of(p), host_ip_of(p)) {
                held.remove(&(proto, hip, p.host_port));
            }
        }
    }
}

fn find_in<'a>(nets: &'a [NetworkDef], name_or_id: &str) -> Option<&'a NetworkDef> {
    nets.iter()
        .find(|n| n.name == name_or_id || n.id == name_or_id)
        .or_else(|| {
            let mut by_prefix = nets
                .iter()
                .filter(|n| !name_or_id.is_empty() && n.id.starts_with(name_or_id));
            match (by_prefix.next(), by_prefix.next()) {
                (Some(n), None) => Some(n),
                _ => None,
            }
        })
}

fn put(store: &dyn Store, def: &NetworkDef) -> Result<()> {
    let bytes = serde_json::to_vec(def).map_err(|e| internal("encoding network", e))?;
    store.put(&format!("{KEY_PREFIX}{}", def.name), &bytes)?;
    Ok(())
}

impl BridgeDriver {
    /// The container's names on a user-defined network, for its DNS, and
    /// the resolver's sockets in its netns (the last step of an attach:
    /// undone here on failure).
    fn add_name(
        &self,
        netns: &Path,
        net: &NetworkDef,
        cfg: &EndpointConfig,
        ep: &Endpoint,
    ) -> Result<()> {
        if net.name == DEFAULT_NETWORK {
            return Ok(());
        }
        let ip: Ipv4Addr = ep
            .ip_address
            .parse()
            .map_err(|_| internal("endpoint address", &ep.ip_address))?;
        let entry = super::dns::DnsEntry {
            container_id: cfg.container_id.clone(),
            name: cfg.container_name.clone(),
            aliases: cfg.aliases.clone(),
            ip,
            ip6: ep.global_ipv6_address.parse::<Ipv6Addr>().ok(),
            dns: cfg.dns.clone(),
            netns: Some(netns.to_owned()),
            internal: net.internal,
            ndots_set: cfg.ndots_set,
            links: cfg.links.clone(),
        };
        let bytes = serde_json::to_vec(&entry).map_err(|e| internal("encoding DNS entry", e))?;
        let key = dns_key(&net.name, &cfg.container_id);
        self.leases.put(&key, &bytes)?;
        self.dns.add(&net.name, entry);
        if let Err(e) = self.dns.open(&cfg.container_id, netns) {
            self.dns.remove(&net.name, &cfg.container_id);
            let _ = self.leases.delete(&key);
            return Err(internal(
                "opening the embedded DNS's 127.0.0.11:53 in the container",
                e,
            ));
        }
        Ok(())
    }
}

/// A `--gateway` must be a host address of its subnet.
fn check_gateway(gw: IpAddr, subnet: &IpNet) -> Result<()> {
    if !subnet.contains(&gw) {
        return Err(EngineError::Invalid(format!(
            "invalid network config: invalid gateway {gw}: parent subnet {subnet} doesn't contain this address"
        )));
    }
    let v4_broadcast = gw.is_ipv4() && gw == subnet.broadcast();
    if gw == subnet.network() || v4_broadcast {
        return Err(EngineError::Invalid(format!(
            "invalid network config: invalid gateway {gw}: the network or broadcast address of {subnet}"
        )));
    }
    Ok(())
}

/// The IPv6 subnet and gateway of a create request (`--ipv6` with a v6
/// `--subnet`), checked against the other networks' v6 subnets.
fn v6_of(req: &NetworkCreate, nets: &[NetworkDef]) -> Result<(Option<IpNet>, Option<IpAddr>)> {
    let Some(s) = &req.subnet6 else {
        // With --ipv6, the caller takes one from the pools.
        return Ok((None, None));
    };
    if !req.ipv6 {
        return Err(EngineError::Invalid(format!(
            "IPv6 subnet {s} given without --ipv6"
        )));
    }
    let subnet6 = s
        .parse::<IpNet>()
        .ok()
        .filter(|n| n.addr().is_ipv6())
        .ok_or_else(|| EngineError::Invalid(format!("invalid IPv6 subnet {s}")))?
        .trunc();
    if subnet6.prefix_len() > 120 {
        return Err(EngineError::Invalid(format!(
            "IPv6 subnet {subnet6} is too small (at most /120)"
        )));
    }
    if let Some(other) = nets
        .iter()
        .find(|n| n.subnet6.is_some_and(|o| overlaps(&o, &subnet6)))
    {
        return Err(EngineError::Forbidden(format!(
            "invalid pool request: Pool overlaps with other one on this address space ({} of network {})",
            other.subnet6.map(|o| o.to_string()).unwrap_or_default(),
            other.name
        )));
    }
    let gateway6 = match &req.gateway6 {
        Some(g) => {
            let gw: IpAddr = g
                .parse()
                .map_err(|_| EngineError::Invalid(format!("invalid gateway {g}")))?;
            check_gateway(gw, &subnet6)?;
            gw
        }
        None => gateway6_of(&subnet6),
    };
    Ok((Some(subnet6), Some(gateway6)))
}

impl BridgeDriver {
    /// Takes each `--aux-address` as a lease, so IPAM never hands it out
    /// (all or nothing).
    fn reserve_aux(&self, def: &NetworkDef) -> Result<()> {
        let ipam = Ipam::new(&*self.leases, &def.name).map_err(|e| internal("ipam", e))?;
        for (name, ip) in &def.aux {
            if let Err(e) = ipam.allocate(&def.ipam_of_family(*ip), AUX_OWNER, name, &[*ip]) {
                self.release_aux(def);
                return Err(match e {
                    berth_net::ipam::IpamError::Taken { ip, .. } => EngineError::Conflict(format!(
                        "aux-address {name}={ip}: address already in use"
                    )),
                    e => internal(&format!("reserving aux-address {name}={ip}"), e),
                });
            }
        }
        Ok(())
    }

    fn release_aux(&self, def: &NetworkDef) {
        if let Ok(ipam) = Ipam::new(&*self.leases, &def.name) {
            if let Err(e) = ipam.release(AUX_OWNER, None) {
                tracing::warn!(network = %def.name, "releasing aux addresses: {e}");
            }
        }
    }
}

impl NetworkAttacher for BridgeDriver {
    fn attach(&self, netns: &Path, cfg: &EndpointConfig) -> Result<Endpoint> {
        let net = self.find(&cfg.network)?;
        let mut undo: Vec<Box<dyn FnOnce() + '_>> = Vec::new();
        let r = self
            .attach_steps(netns, cfg, &net, &mut undo)
            .and_then(|ep| self.add_name(netns, &net, cfg, &ep).map(|()| ep));
        if r.is_err() {
            // The veth, if made, goes with the netns the caller removes.
            for f in undo.into_iter().rev() {
                f();
            }
        }
        r
    }

    fn detach(&self, _netns: &Path, cfg: &EndpointConfig, ep: &Endpoint) -> Result<()> {
        let net = self.find(&cfg.network)?;
        let mut first_err = None;
        if !self.firewall {
            self.unrecord_ports(&ep.ports);
        }
        if !ep.ports.is_empty() && self.firewall {
            let unpublished = (|| -> Result<()> {
                let ip: IpAddr = ep
                    .ip_address
                    .parse()
                    .map_err(|_| internal("endpoint address", &ep.ip_address))?;
                let pm = ep
                    .ports
                    .iter()
                    .map(|p| {
                        Ok(PortMapping {
                            host_ip: host_ip_of(p)?,
                            ..PortMapping::new(protocol_of(p)?, p.host_port, ip, p.container_port)
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                if let Some(fw) =
                    Firewall::open_existing().map_err(|e| internal("opening firewall", e))?
                {
                    fw.unpublish(&pm)
                        .map_err(|e| internal("unpublishing ports", e))?;
                }
                Ok(())
            })();
            first_err = unpublished.err();
        }
        self.dns.remove(&net.name, &cfg.container_id);
        if let Err(e) = self.leases.delete(&dns_key(&net.name, &cfg.container_id)) {
            first_err.get_or_insert(e.into());
        }
        let ipam = Ipam::new(&*self.leases, &net.name).map_err(|e| internal("ipam", e))?;
        let ifname = if ep.ifname.is_empty() {
            IFNAME
        } else {
            ep.ifname.as_str()
        };
        if let Err(e) = ipam.release(&cfg.container_id, Some(ifname)) {
            first_err.get_or_insert(internal("releasing the address", e));
        }
        first_err.map_or(Ok(()), Err)
    }

    fn disconnect(&self, netns: &Path, cfg: &EndpointConfig, ep: &Endpoint) -> Result<()> {
        let ifname = if ep.ifname.is_empty() {
            IFNAME
        } else {
            ep.ifname.as_str()
        };
        let ns = NetNs::open(netns).map_err(|e| internal("opening the container's netns", e))?;
        berth_net::netlink::unlist::delete_link_by_name(&ns, ifname)
            .map_err(|e| internal(&format!("deleting the container's {ifname}"), e))?;
        self.detach(netns, cfg, ep)
    }

    fn networks(&self) -> Vec<NetworkInfo> {
        let nets = self.networks.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<NetworkInfo> = nets.iter().map(NetworkDef::info).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    fn create_network(&self, req: &NetworkCreate) -> Result<NetworkInfo> {
        if !req.driver.is_empty() && req.driver != "bridge" {
            return Err(EngineError::NotFound(format!(
                "plugin \"{}\" not found",
                req.driver
            )));
        }
        if matches!(req.name.as_str(), "bridge" | "host" | "none" | "default") {
            return Err(EngineError::Forbidden(format!(
                "operation is not permitted on predefined {} network",
                req.name
            )));
        }
        // dockerd takes any name ("test 01" too); berth keeps its state
        // under the name, so no '/', no control characters, no leading '.'.
        if req.name.is_empty()
            || req.name.starts_with('.')
            || req.name.chars().any(|c| c == '/' || c.is_control())
        {
            return Err(EngineError::Invalid(format!(
                "invalid network name {:?}",
                req.name
            )));
        }
        let mut nets = self.networks.lock().unwrap_or_else(|p| p.into_inner());
        if nets.iter().any(|n| n.name == req.name) {
            return Err(EngineError::Conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        let id = crate::ids::new_id()?;
        if let Some(m) = req.options.get(default_net::MTU_OPTION) {
            parse_mtu(m)?;
        }
        for opt in [default_net::MASQ_OPTION, default_net::ICC_OPTION] {
            if let Some(v) = req.options.get(opt) {
                default_net::parse_bool(opt, v)?;
            }
        }
        let subnet = match &req.subnet {
            Some(s) => {
                let n = s
                    .parse::<IpNet>()
                    .map_err(|_| EngineError::Invalid(format!("invalid subnet {s}")))?;
                if n.trunc() != n {
                    return Err(EngineError::Invalid(format!(
                        "invalid network config: invalid subnet {n}: it should be {}",
                        n.trunc()
                    )));
                }
                n
            }
            // As dockerd: the first subnet of the address pools that
            // overlaps no host address or route and no other network.
            None => {
                let nl = Netlink::new().map_err(|e| internal("netlink", e))?;
                let mut taken = host_subnets(&nl)?;
                taken.extend(nets.iter().map(|n| n.subnet));
                pools::first_free(&self.pools, false, &taken).ok_or_else(|| {
                    EngineError::Invalid(
                        "all predefined address pools have been fully subnetted".into(),
                    )
                })?
            }
        };
        if subnet.addr().is_ipv6() {
            return Err(EngineError::Invalid(format!(
                "subnet {subnet} is IPv6: an IPv6 network also needs an IPv4 subnet (or none, to get one from the pool)"
            )));
        }
        if let Some(other) = nets.iter().find(|n| overlaps(&n.subnet, &subnet)) {
            return Err(EngineError::Forbidden(format!(
                "invalid pool request: Pool overlaps with other one on this address space ({} of network {})",
                other.subnet, other.name
            )));
        }
        let gateway = match &req.gateway {
            Some(g) => {
                let gw: IpAddr = g
                    .parse()
                    .map_err(|_| EngineError::Invalid(format!("invalid gateway {g}")))?;
                check_gateway(gw, &subnet)?;
                gw
            }
            None => first_host(&subnet)?,
        };
        let ip_range = match &req.ip_range {
            Some(r) => {
                let r: IpNet = r
                    .parse()
                    .map_err(|_| EngineError::Invalid(format!("invalid ip-range {r}")))?;
                if !subnet.contains(&r.trunc()) {
                    return Err(EngineError::Invalid(format!(
                        "invalid pool request: ip-range {r} is not within subnet {subnet}"
                    )));
                }
                Some(r.trunc())
            }
            None => None,
        };
        let (subnet6, gateway6) = match v6_of(req, &nets)? {
            // --ipv6 without an IPv6 --subnet: one from the IPv6 pools.
            (None, None) if req.ipv6 => {
                let nl = Netlink::new().map_err(|e| internal("netlink", e))?;
                let mut taken = host_subnets(&nl)?;
                taken.extend(nets.iter().filter_map(|n| n.subnet6));
                let s6 = pools::first_free(&self.pools, true, &taken).ok_or_else(|| {
                    EngineError::Invalid(
                        "all predefined address pools have been fully subnetted".into(),
                    )
                })?;
                (Some(s6), Some(gateway6_of(&s6)))
            }
            v6 => v6,
        };
        let mut def = NetworkDef {
            id: id.clone(),
            name: req.name.clone(),
            bridge: String::new(),
            subnet,
            gateway,
            internal: req.internal,
            created: now(),
            ip_range,
            attachable: req.attachable,
            labels: req.labels.clone(),
            options: req.options.clone(),
            subnet6,
            gateway6,
            aux: HashMap::new(),
        };
        for (name, ip) in &req.aux_addresses {
            let ip: IpAddr = ip.parse().map_err(|_| {
                EngineError::Invalid(format!("invalid auxiliary address {name}={ip}"))
            })?;
            let inside = def.subnet.contains(&ip) || def.subnet6.is_some_and(|s| s.contains(&ip));
            if !inside {
                return Err(EngineError::Invalid(format!(
                    "no matching subnet for aux-address {ip}"
                )));
            }
            if ip == def.gateway || Some(ip) == def.gateway6 {
                return Err(EngineError::Invalid(format!(
                    "aux-address {name}={ip} is the network's gateway"
                )));
            }
            if name.is_empty() || name.contains('/') {
                return Err(EngineError::Invalid(format!(
                    "invalid auxiliary address name {name:?}"
                )));
            }
            def.aux.insert(name.clone(), ip);
        }
        let bridge = req
            .options
            .get("com.docker.network.bridge.name")
            .cloned()
            .unwrap_or_else(|| format!("br-{}", &id[..12]));
        berth_net::netlink::check_ifname(&bridge)
            .map_err(|e| EngineError::Invalid(format!("com.docker.network.bridge.name: {e}")))?;
        if nets.iter().any(|n| n.bridge == bridge) {
            return Err(EngineError::Conflict(format!(
                "bridge name {bridge} is used by another network"
            )));
        }
        def.bridge = bridge;
        self.reserve_aux(&def)?;
        if let Err(e) = put(&*self.store, &def) {
            self.release_aux(&def);
            return Err(e);
        }
        nets.push(def.clone());
        Ok(def.info())
    }

    fn repair_firewall(&self, live: &[(String, Endpoint)]) -> Result<()> {
        self.repair_firewall_state(live)
    }

    fn link_openings(
        &self,
        network: &str,
        openings: &[berth_net::firewall::IccOpening],
        open: bool,
    ) -> Result<()> {
        let blocks = {
            let nets = self.networks.lock().unwrap_or_else(|p| p.into_inner());
            find_in(&nets, network).is_some_and(|d| d.rules().block_icc)
        };
        if !self.firewall || !blocks || openings.is_empty() {
            return Ok(());
        }
        let Some(fw) = Firewall::open_existing().map_err(|e| internal("opening firewall", e))?
        else {
            return Ok(());
        };
        for o in openings {
            let r = if open {
                fw.open_icc(o)
            } else {
                fw.close_icc(o)
            };
            r.map_err(|e| internal(&format!("link opening {o}"), e))?;
        }
        Ok(())
    }

    fn release_orphans(&self, live: &std::collections::HashSet<String>) -> Result<()> {
        self.release_orphan_leases(live)
    }

    fn remove_network(&self, name: &str) -> Result<()> {
        let mut nets = self.networks.lock().unwrap_or_else(|p| p.into_inner());
        let def = find_in(&nets, name)
            .cloned()
            .ok_or_else(|| EngineError::NotFound(format!("network {name} not found")))?;
        if def.name == DEFAULT_NETWORK {
            return Err(EngineError::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                def.name
            )));
        }
        let fw = match self.firewall {
            true => Firewall::open_existing().map_err(|e| internal("opening firewall", e))?,
            false => None,
        };
        if let Some(fw) = fw {
            fw.remove_network(&def.rules())
                .map_err(|e| internal("removing the network's firewall elements", e))?;
        }
        self.dns.stop(&def.name);
        for (key, _) in self
            .leases
            .list_prefix(&format!("{DNS_PREFIX}{}/", def.name))?
        {
            self.leases.delete(&key)?;
        }
        let host = Netlink::new().map_err(|e| internal("netlink", e))?;
        host.delete_link_by_name(&def.bridge)
            .map_err(|e| internal(&format!("deleting bridge {}", def.bridge), e))?;
        self.store.delete(&format!("{KEY_PREFIX}{}", def.name))?;
        self.release_aux(&def);
        nets.retain(|n| n.id != def.id);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_parse_from_docker_bindings() {
        use bollard_stubs::models::PortBinding;
        let b = HashMap::from([(
            "80/tcp".to_owned(),
            Some(vec![PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some("8080".into()),
            }]),
        )]);
        let p = PortSpec::from_bindings(Some(&b)).expect("ports");
        assert_eq!(
            p,
            [PortSpec {
                container_port: 80,
                protocol: "tcp".into(),
                host_ip: "127.0.0.1".into(),
                host_port: 8080,
                host_port_end: 0,
            }]
        );
        let bad = HashMap::from([("80/icmp".to_owned(), None)]);
        assert!(PortSpec::from_bindings(Some(&bad)).is_err());
    }
}
