//! `berth-portmap`: publishes ports (capability `portMappings`) for a
//! container a previous plugin attached, through berth-net's firewall (DNAT
//! map elements in berth's own nftables table; hairpin and localhost
//! masquerade come with that table, and `route_localnet` on the host link
//! lets 127.0.0.1 reach the ports). A chained plugin: it needs
//! `prevResult` for the container's addresses and passes it through.
//!
//! What each attachment published is recorded in berth-store (`dataDir`,
//! default [`DEFAULT_DATA_DIR`]), so DEL removes exactly that even without
//! `prevResult`, and GC can drop the mappings of attachments that are gone.

use std::net::IpAddr;
use std::path::PathBuf;

use berth_net::firewall::{Firewall, PortMapping as FwMapping};
use berth_store::{RedbStore, Store};
use serde::Deserialize;

use super::rollback::Rollback;
use crate::plugin::{Plugin, Request};
use crate::types::{CniError, CniResult, ErrorCode, PortMapping};

/// Where the record of published ports lives without `dataDir`: on tmpfs,
/// like the nftables elements it describes, it does not outlive a reboot.
pub const DEFAULT_DATA_DIR: &str = "/run/berth/cni/portmap";
const STORE_FILE: &str = "portmap.redb";

pub struct Portmap;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PortmapConf {
    #[serde(default)]
    data_dir: Option<PathBuf>,
    /// As the reference plugin's: whether 127.0.0.0/8 clients on the host
    /// may reach published ports (default true). Masquerading of hairpin
    /// and localhost traffic is built into berth's table; what `false`
    /// changes is that `route_localnet` is left alone on the host link.
    #[serde(default)]
    snat: Option<bool>,
}

fn setup(op: &str, e: impl std::fmt::Display) -> CniError {
    CniError::setup(format!("{op}: {e}"))
}

fn open_store(req: &Request) -> Result<RedbStore, CniError> {
    let c: PortmapConf = req.conf.section()?;
    let dir = c
        .data_dir
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    open_store_in(dir)
}

fn open_store_in(dir: PathBuf) -> Result<RedbStore, CniError> {
    RedbStore::open(dir.join(STORE_FILE))
        .map_err(|e| CniError::new(ErrorCode::IoFailure, format!("portmap store: {e}")))
}

fn key_prefix(network: &str) -> String {
    format!("portmap/v1/{network}/")
}

fn key(req: &Request) -> String {
    format!(
        "{}{}/{}",
        key_prefix(&req.conf.name),
        req.args.container_id,
        req.args.ifname
    )
}

/// The container's addresses: those of sandbox interfaces in `prev` (all of
/// them when no IP names an interface).
fn container_ips(prev: &CniResult) -> Vec<IpAddr> {
    let sandboxed = |i: usize| {
        prev.interfaces
            .get(i)
            .is_some_and(|iface| iface.sandbox.is_some())
    };
    let with_index: Vec<IpAddr> = prev
        .ips
        .iter()
        .filter(|ip| ip.interface.is_some_and(sandboxed))
        .map(|ip| ip.address.addr())
        .collect();
    if with_index.is_empty() {
        prev.ips.iter().map(|ip| ip.address.addr()).collect()
    } else {
        with_index
    }
}

/// The firewall mappings for `maps` to the container's addresses: each
/// mapping once per address family the container has (only the host
/// address's family when `hostIP` is given).
fn expand(maps: &[PortMapping], ips: &[IpAddr]) -> Result<Vec<FwMapping>, CniError> {
    let mut out = Vec::new();
    for (i, m) in maps.iter().enumerate() {
        if m.host_port == 0 || m.container_port == 0 {
            return Err(CniError::invalid_config(format!(
                "network config: field `runtimeConfig.portMappings[{i}]`: ports must be non-zero"
            )));
        }
        let mut any = false;
        for v6 in [false, true] {
            if m.host_ip.is_some_and(|h| h.is_ipv6() != v6) {
                continue;
            }
            if let Some(ip) = ips.iter().find(|ip| ip.is_ipv6() == v6) {
                any = true;
                out.push(FwMapping {
                    protocol: m.protocol,
                    host_ip: m.host_ip,
                    host_port: m.host_port,
                    container_ip: *ip,
                    container_port: m.container_port,
                });
            }
        }
        if !any {
            return Err(CniError::invalid_config(format!(
                "network config: field `runtimeConfig.portMappings[{i}]`: the container has no address of the family of hostIP {}",
                m.host_ip.map(|h| h.to_string()).unwrap_or_default()
            )));
        }
    }
    Ok(out)
}

fn load(store: &RedbStore, key: &str) -> Result<Option<Vec<FwMapping>>, CniError> {
    match store
        .get(key)
        .map_err(|e| CniError::new(ErrorCode::IoFailure, format!("portmap store: {e}")))?
    {
        None => Ok(None),
        Some(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
            CniError::new(
                ErrorCode::IoFailure,
                format!("portmap store: record {key}: {e}"),
            )
        }),
    }
}

/// Lets host clients on 127.0.0.0/8 reach the IPv4 mappings in `maps`:
/// `route_localnet` on each host link a container address is routed
/// through (the bridge), as the reference plugin sets it. Without it the
/// kernel drops a packet from 127.0.0.1 leaving on a link other than `lo`
/// (and the answer arriving for 127.0.0.1) as martian, even after DNAT;
/// berth's table masquerades the DNATed 127/8 source to the bridge's
/// address. IPv6 has no counterpart (no `route_localnet`, and `::1` never
/// leaves `lo`), so `[::1]:port` stays unreachable, as with the reference.
///
/// A container sending to 127.0.0.1 through a bridge with this set would
/// reach services bound to the host's loopback (CVE-2020-8558); berth's
/// table drops such packets unless they belong to a DNATed connection.
fn route_localnet(maps: &[FwMapping]) -> Result<(), CniError> {
    let mut done: Vec<u32> = Vec::new();
    for ip in maps.iter().map(|m| m.container_ip).filter(IpAddr::is_ipv4) {
        let link = berth_net::netlink::route_get::output_link(ip)
            .map_err(|e| setup(&format!("looking up the route to {ip}"), e))?;
        let Some(index) = link.filter(|i| !done.contains(i)) else {
            continue;
        };
        done.push(index);
        let Some(name) = berth_net::netlink::link::name_of(index)
            .map_err(|e| setup(&format!("naming link #{index}"), e))?
        else {
            continue;
        };
        berth_net::sysctl::set_route_localnet(&name, true)
            .map_err(|e| setup(&format!("setting route_localnet on {name}"), e))?;
    }
    Ok(())
}

fn firewall() -> Result<Firewall, CniError> {
    Firewall::open().map_err(|e| setup("opening firewall", e))
}

impl Plugin for Portmap {
    fn add(&self, req: &Request) -> Result<CniResult, CniError> {
        let prev = req.conf.prev_result.clone().ok_or_else(|| {
            CniError::invalid_config(
                "network config: field `prevResult` is required: portmap must be chained after a plugin that attaches the container",
            )
        })?;
        let maps = &req.conf.runtime_config.port_mappings;
        if maps.is_empty() {
            return Ok(prev);
        }
        let wanted = expand(maps, &container_ips(&prev))?;
        let c: PortmapConf = req.conf.section()?;
        if c.snat != Some(false) {
            route_localnet(&wanted)?;
        }
        let store = open_store_in(
            c.data_dir
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
        )?;
        let fw = firewall()?;
        let mut undo = Rollback::new();
        fw.publish(&wanted).map_err(|e| {
            if e.is_exists() {
                CniError::invalid_config(format!(
                    "network config: field `runtimeConfig.portMappings`: a host port is already published: {e}"
                ))
            } else {
                setup("publishing ports", e)
            }
        })?;
        let fw_ref = &fw;
        let wanted_ref = &wanted;
        undo.push("publish ports", move || {
            fw_ref
                .unpublish(wanted_ref)
                .map_err(|e| setup("unpublishing ports", e))
        });
        let record = serde_json::to_vec(&wanted).unwrap_or_default();
        if let Err(e) = store.put(&key(req), &record) {
            return Err(undo.fail(CniError::new(
                ErrorCode::IoFailure,
                format!("portmap store: {e}"),
            )));
        }
        undo.commit();
        Ok(prev)
    }

    fn del(&self, req: &Request) -> Result<(), CniError> {
        let store = open_store(req)?;
        let k = key(req);
        let recorded = load(&store, &k)?;
        let maps = match recorded {
            Some(m) => m,
            // No record (an older ADD, or a store lost): fall back to what
            // the configuration and prevResult say.
            None => match &req.conf.prev_result {
                Some(prev) if !req.conf.runtime_config.port_mappings.is_empty() => {
                    expand(&req.conf.runtime_config.port_mappings, &container_ips(prev))
                        .unwrap_or_default()
                }
                _ => Vec::new(),
            },
        };
        if !maps.is_empty() {
            firewall()?
                .unpublish(&maps)
                .map_err(|e| setup("unpublishing ports", e))?;
        }
        store
            .delete(&k)
            .map_err(|e| CniError::new(ErrorCode::IoFailure, format!("portmap store: {e}")))?;
        Ok(())
    }

    fn check(&self, req: &Request) -> Result<(), CniError> {
        let prev = req.conf.prev_result.as_ref().ok_or_else(|| {
            CniError::invalid_config("network config: field `prevResult` is required for CHECK")
        })?;
        let maps = &req.conf.runtime_config.port_mappings;
        if maps.is_empty() {
            return Ok(());
        }
        let wanted = expand(maps, &container_ips(prev))?;
        let store = open_store(req)?;
        let recorded = load(&store, &key(req))?.unwrap_or_default();
        let listing = firewall()?
            .list()
            .map_err(|e| setup("listing firewall", e))?;
        for w in &wanted {
            if !recorded.contains(w) {
                return Err(CniError::check(format!(
                    "port mapping {w} was never published"
                )));
            }
            let element = format!(
                "{} . {} : {} . {}",
                w.protocol, w.host_port, w.container_ip, w.container_port
            );
            if !listing.contains(&element) {
                return Err(CniError::check(format!(
                    "port mapping {w} is missing from the firewall"
                )));
            }
        }
        Ok(())
    }

    fn gc(&self, req: &Request) -> Result<(), CniError> {
        let store = open_store(req)?;
        let prefix = key_prefix(&req.conf.name);
        let entries = store
            .list_prefix(&prefix)
            .map_err(|e| CniError::new(ErrorCode::IoFailure, format!("portmap store: {e}")))?;
        let mut fw = None;
        for (k, v) in entries {
            let Some((cid, ifname)) = k[prefix.len()..].split_once('/') else {
                continue;
            };
            let valid = req
                .conf
                .valid_attachments
                .iter()
                .any(|a| a.container_id == cid && a.ifname == ifname);
            if valid {
                continue;
            }
            let maps: Vec<FwMapping> = serde_json::from_slice(&v).unwrap_or_default();
            if fw.is_none() {
                fw = Some(firewall()?);
            }
            if let Some(fw) = &fw {
                fw.unpublish(&maps)
                    .map_err(|e| setup("unpublishing ports", e))?;
            }
            store
                .delete(&k)
                .map_err(|e| CniError::new(ErrorCode::IoFailure, format!("portmap store: {e}")))?;
        }
        Ok(())
    }
}
