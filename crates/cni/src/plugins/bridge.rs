//! `berth-bridge`: a veth pair per container, the host end on a Linux
//! bridge, addresses from IPAM, optional gateway on the bridge, default
//! route, masquerade, hairpin, promiscuous bridge, MTU and port isolation.
//!
//! Config fields follow the reference bridge plugin: `bridge` (default
//! `cni0`), `isGateway`, `isDefaultGateway`, `forceAddress`, `ipMasq`, `mtu`,
//! `hairpinMode`, `promiscMode`, `vlan`, `enabledad`, `portIsolation`,
//! `macspoofchk`; the container MAC comes from `runtimeConfig.mac`,
//! `args.cni.mac` or `CNI_ARGS` `MAC=`.

use std::net::IpAddr;

use berth_net::firewall::{Firewall, NetworkRules};
use berth_net::netlink::bridge::BridgeConfig;
use berth_net::netlink::veth::VethConfig;
use berth_net::{Link, NetNs, Netlink};
use ipnet::IpNet;
use serde::Deserialize;

use super::rollback::Rollback;
use super::{iface, ipam, netns};
use crate::plugin::{Plugin, Request};
use crate::types::{CniError, CniResult, ErrorCode, Interface, MacAddr, Route};

pub struct Bridge;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BridgeConf {
    #[serde(default = "default_bridge")]
    bridge: String,
    #[serde(default)]
    is_gateway: bool,
    #[serde(default)]
    is_default_gateway: bool,
    #[serde(default)]
    force_address: bool,
    #[serde(default)]
    ip_masq: bool,
    #[serde(default)]
    mtu: Option<u32>,
    #[serde(default)]
    hairpin_mode: bool,
    #[serde(default)]
    promisc_mode: bool,
    #[serde(default)]
    vlan: Option<u16>,
    #[serde(default)]
    enabledad: bool,
    #[serde(default)]
    port_isolation: bool,
    #[serde(default)]
    macspoofchk: bool,
}

fn default_bridge() -> String {
    "cni0".to_owned()
}

fn parse(req: &Request) -> Result<BridgeConf, CniError> {
    let mut c: BridgeConf = req.conf.section()?;
    if let Err(e) = berth_net::netlink::check_ifname(&c.bridge) {
        return Err(CniError::invalid_config(format!(
            "network config: field `bridge`: {e}"
        )));
    }
    if c.is_default_gateway {
        c.is_gateway = true;
    }
    if let Some(v) = c.vlan {
        if v > 4094 {
            return Err(CniError::invalid_config(format!(
                "network config: field `vlan`: {v} is not a VLAN id (0-4094)"
            )));
        }
    }
    if c.macspoofchk {
        return Err(CniError::new(
            ErrorCode::UnsupportedField,
            "network config: field `macspoofchk`: true is not supported by berth-bridge",
        ));
    }
    if c.mtu == Some(0) {
        return Err(CniError::invalid_config(
            "network config: field `mtu`: 0 is not an MTU",
        ));
    }
    Ok(c)
}

/// The container MAC asked for, by precedence: runtimeConfig, args, CNI_ARGS.
pub(crate) fn requested_mac(req: &Request) -> Result<Option<MacAddr>, CniError> {
    if let Some(m) = req.conf.runtime_config.mac {
        return Ok(Some(m));
    }
    if let Some(m) = req.conf.args.cni.as_ref().and_then(|c| c.mac) {
        return Ok(Some(m));
    }
    match req.args.arg("MAC") {
        None => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|e: String| CniError::invalid_env(format!("CNI_ARGS MAC: {e}"))),
    }
}

fn setup(op: &str, e: impl std::fmt::Display) -> CniError {
    CniError::setup(format!("{op}: {e}"))
}

/// Bridge config errors that are the user's: a name taken by another kind
/// of link, a kernel without VLAN filtering.
fn bridge_error(name: &str, vlan: bool, e: berth_net::NetlinkError) -> CniError {
    match e {
        berth_net::NetlinkError::WrongKind { actual, .. } => CniError::invalid_config(format!(
            "network config: field `bridge`: {name:?} exists and is a {actual}, not a bridge"
        )),
        e if vlan => CniError::new(
            ErrorCode::KERNEL_UNSUPPORTED,
            format!("network config: field `vlan`: bridge {name} with VLAN filtering: {e} (this kernel may lack bridge VLAN filtering)"),
        ),
        e => setup(&format!("setting up bridge {name}"), e),
    }
}

/// The first host address of `net`'s subnet: the gateway when IPAM gave none.
fn first_host(net: &IpNet) -> Option<IpAddr> {
    net.trunc().hosts().next()
}

impl Plugin for Bridge {
    fn add(&self, req: &Request) -> Result<CniResult, CniError> {
        let c = parse(req)?;
        let mac = requested_mac(req)?;
        let ns = netns::open_required(req)?;
        let host = Netlink::new().map_err(|e| setup("netlink", e))?;
        let cont = Netlink::for_netns(&ns).map_err(|e| setup("netlink in container", e))?;
        let ifname = &req.args.ifname;
        if cont
            .link_by_name(ifname)
            .map_err(|e| setup("looking up container interface", e))?
            .is_some()
        {
            return Err(CniError::invalid_env(format!(
                "CNI_IFNAME {ifname} already exists in the container"
            )));
        }
        let mut undo = Rollback::new();
        match add_steps(req, &c, mac, &ns, &host, &cont, &mut undo) {
            Ok(r) => {
                undo.commit();
                Ok(r)
            }
            Err(e) => Err(undo.fail(e)),
        }
    }

    fn del(&self, req: &Request) -> Result<(), CniError> {
        let c = parse(req)?;
        let released = std::thread::scope(|s| {
            // Release the IPAM lease (a store commit) on another thread
            // while the veth is deleted. Where no thread can be started,
            // release it here first.
            let mut ipam_done = None;
            let ipam_job = ipam::ipam_type(req).and_then(|t| {
                match std::thread::Builder::new().spawn_scoped(s, move || ipam::del(req, t)) {
                    Ok(job) => Some(job),
                    Err(_) => {
                        ipam_done = Some(ipam::del(req, t));
                        None
                    }
                }
            });
            // The lease goes even when the netns cannot be opened.
            let link = match netns::open_for_del(req) {
                Ok(Some(ns)) => Some(delete_container_veth(req, &ns)),
                Ok(None) => Some(delete_orphaned_host_veth(req, &c)),
                Err(e) => Some(Err(e)),
            };
            let ipam = match ipam_job {
                Some(job) => Some(job.join().unwrap_or_else(|p| std::panic::resume_unwind(p))),
                None => ipam_done,
            };
            // The IPAM error first, as the sequential order reported it.
            match (ipam, link) {
                (Some(Err(e)), _) | (_, Some(Err(e))) => Err(e),
                _ => Ok(()),
            }
        });
        released?;
        if c.ip_masq {
            release_masquerade(req, &c)?;
        }
        Ok(())
    }

    fn check(&self, req: &Request) -> Result<(), CniError> {
        let c = parse(req)?;
        let prev = req.conf.prev_result.as_ref().ok_or_else(|| {
            CniError::invalid_config("network config: field `prevResult` is required for CHECK")
        })?;
        let ns = netns::open_required(req)?;
        let host = Netlink::new().map_err(|e| setup("netlink", e))?;
        let cont = Netlink::for_netns(&ns).map_err(|e| setup("netlink in container", e))?;
        let sandbox = ns.path().display().to_string();
        let link = iface::check(&cont, &req.args.ifname, "veth", prev, &sandbox)?;
        let br = host
            .link_by_name(&c.bridge)
            .map_err(|e| setup("looking up bridge", e))?
            .ok_or_else(|| CniError::check(format!("bridge {} is missing", c.bridge)))?;
        if !br.is_kind("bridge") {
            return Err(CniError::check(format!("{} is not a bridge", c.bridge)));
        }
        let peer = link
            .parent
            .map(|i| host.link_by_index(i))
            .transpose()
            .map_err(|e| setup("looking up host veth", e))?
            .flatten()
            .ok_or_else(|| {
                CniError::check(format!("the host end of {} is missing", req.args.ifname))
            })?;
        if peer.master != Some(br.index) {
            return Err(CniError::check(format!(
                "host veth {} is not attached to bridge {}",
                peer.name, c.bridge
            )));
        }
        if let Some(t) = ipam::ipam_type(req) {
            ipam::check(req, t)?;
        }
        Ok(())
    }

    fn status(&self, req: &Request) -> Result<(), CniError> {
        parse(req)?;
        match ipam::ipam_type(req) {
            Some(t) => ipam::status(req, t),
            None => Ok(()),
        }
    }

    fn gc(&self, req: &Request) -> Result<(), CniError> {
        parse(req)?;
        match ipam::ipam_type(req) {
            Some(t) => ipam::gc(req, t),
            None => Ok(()),
        }
    }
}

fn add_steps<'a>(
    req: &'a Request,
    c: &BridgeConf,
    mac: Option<MacAddr>,
    ns: &'a NetNs,
    host: &'a Netlink,
    cont: &'a Netlink,
    undo: &mut Rollback<'a>,
) -> Result<CniResult, CniError> {
    let vlan = c.vlan.is_some_and(|v| v != 0);
    // 1. The bridge (made if absent; removed again on failure if we made it
    //    and nothing else joined it meanwhile).
    let existed = host
        .link_by_name(&c.bridge)
        .map_err(|e| setup("looking up bridge", e))?;
    let br = host
        .ensure_bridge(&BridgeConfig {
            name: c.bridge.clone(),
            mtu: c.mtu,
            mac: None,
            promisc: c.promisc_mode,
            vlan_filtering: vlan,
            // A bridge made here has no querier: see BridgeConfig. With
            // snooping on, every new port made the kernel re-arm timers of
            // all ports under the RTNL lock (~1 ms at 1000 ports, perf).
            no_multicast_snooping: true,
        })
        .map_err(|e| bridge_error(&c.bridge, vlan, e))?;
    if existed.is_none() {
        let index = br.index;
        undo.push("create bridge", move || {
            let ports = host
                .links()
                .map_err(|e| setup("listing links", e))?
                .iter()
                .any(|l| l.master == Some(index));
            if !ports {
                host.delete_link(index)
                    .map_err(|e| setup("deleting bridge", e))?;
            }
            Ok(())
        });
    }

    // The kernel accepted VLAN filtering (it does in the VM harness), but
    // berth does not yet program per-port VLANs: say so rather than attach
    // the container untagged.
    if vlan {
        return Err(CniError::new(
            ErrorCode::UnsupportedField,
            format!(
                "network config: field `vlan`: {} (per-port VLAN tagging is not implemented by berth-bridge)",
                c.vlan.unwrap_or(0)
            ),
        ));
    }

    // 2. Addresses, first: with berth-host-local in process, the lease's
    //    sync to disk runs while the links are made and configured, and
    //    is waited for before ADD answers.
    let (mut result, durable) = match ipam::ipam_type(req) {
        Some(t) => {
            let (r, durable) = ipam::add_deferred(req, t)?;
            undo.push("allocate addresses", move || ipam::del(req, t));
            (r, durable)
        }
        None => (CniResult::default(), None),
    };

    // 3. The veth pair, container end made directly in the container.
    let host_name = iface::random_name("veth");
    let hv = host
        .create_veth(
            &VethConfig {
                name: host_name.clone(),
                peer_name: req.args.ifname.clone(),
                mtu: c.mtu,
                mac: None,
                peer_mac: mac.map(|m| berth_net::MacAddr(m.0)),
            },
            Some(ns),
        )
        .map_err(|e| setup("creating veth pair", e))?;
    let hv_index = hv.index;
    undo.push("create veth", move || {
        host.delete_link(hv_index)
            .map_err(|e| setup("deleting host veth", e))
    });
    host.set_master(hv.index, br.index)
        .map_err(|e| setup(&format!("attaching {host_name} to {}", c.bridge), e))?;
    if c.hairpin_mode {
        host.set_hairpin(hv.index, true)
            .map_err(|e| setup("setting hairpin mode", e))?;
    }
    if c.port_isolation {
        host.set_port_isolated(hv.index, true)
            .map_err(|e| setup("isolating bridge port", e))?;
    }
    // The host end is a bridge port, layer 2 only: no IPv6 on it at all.
    // Without addresses (ipv6_quiet) an IPv6-enabled port still gets a
    // multicast route in the host's IPv6 table when its carrier comes up,
    // and each later carrier change walks that table under the RTNL lock:
    // with a thousand ports that held up every attach (seen with perf).
    // Where /proc/sys cannot be written, no addresses is the next best.
    let v6_off = berth_net::sysctl::ipv6_available()
        && berth_net::sysctl::set_disable_ipv6(&host_name, true)
            .map_err(|e| tracing::debug!(error = %e, "turning IPv6 off on a bridge port"))
            .is_ok();
    if !v6_off {
        iface::ipv6_quiet(host, &hv)?;
    }
    host.set_up(hv.index)
        .map_err(|e| setup(&format!("setting {host_name} up"), e))?;

    if c.is_gateway {
        for ip in &mut result.ips {
            if ip.gateway.is_none() {
                ip.gateway = first_host(&ip.address);
            }
        }
    }
    for ip in &mut result.ips {
        ip.interface = Some(2);
    }
    if c.is_default_gateway {
        for v6 in [false, true] {
            let gw = result
                .ips
                .iter()
                .filter(|i| i.address.addr().is_ipv6() == v6)
                .find_map(|i| i.gateway);
            let has_default = result
                .routes
                .iter()
                .any(|r| r.dst.prefix_len() == 0 && r.dst.addr().is_ipv6() == v6);
            if let (Some(gw), false) = (gw, has_default) {
                let dst: IpNet = if v6 {
                    "::/0".parse().unwrap_or_default()
                } else {
                    IpNet::default()
                };
                result.routes.push(Route::new(dst, Some(gw)));
            }
        }
    }

    // 4. The gateway on the bridge, forwarding on the host.
    if c.is_gateway {
        let have = host
            .link_addresses(br.index)
            .map_err(|e| setup("listing bridge addresses", e))?;
        for ip in &result.ips {
            let Some(gw) = ip.gateway else { continue };
            let gw_net =
                IpNet::new(gw, ip.address.prefix_len()).map_err(|e| setup("gateway address", e))?;
            if have.contains(&gw_net) {
                continue;
            }
            let clash = have
                .iter()
                .find(|a| a.addr().is_ipv6() == gw.is_ipv6() && a.trunc() == gw_net.trunc());
            if let (Some(other), false) = (clash, c.force_address) {
                return Err(CniError::invalid_config(format!(
                    "network config: bridge {} already has {other} in the subnet of gateway {gw_net} (set forceAddress to replace it)",
                    c.bridge
                )));
            }
            if let Some(other) = clash {
                host.del_address(br.index, *other)
                    .map_err(|e| setup("replacing bridge address", e))?;
            }
            match host.add_address_nodad(br.index, gw_net) {
                Ok(()) => {}
                Err(e) if e.is_exists() => {}
                Err(e) => return Err(setup(&format!("adding {gw_net} to {}", c.bridge), e)),
            }
        }
        let v4 = result.ips.iter().any(|i| i.address.addr().is_ipv4());
        let v6 = result.ips.iter().any(|i| i.address.addr().is_ipv6());
        if v4 {
            berth_net::sysctl::set_ipv4_forwarding(true)
                .map_err(|e| setup("enabling IPv4 forwarding", e))?;
        }
        if v6 {
            berth_net::sysctl::set_ipv6_forwarding(true)
                .map_err(|e| setup("enabling IPv6 forwarding", e))?;
        }
    }

    // 5. The container side.
    let cl = cont
        .require_link(&req.args.ifname)
        .map_err(|e| setup("finding container veth", e))?;
    iface::configure(cont, &cl, &result, 2, c.enabledad)?;

    // 6. Masquerade for the network's subnets (network-wide, so it stays
    //    after this container leaves, like the bridge).
    if c.ip_masq && !result.ips.is_empty() {
        let fw = Firewall::open().map_err(|e| setup("opening firewall", e))?;
        fw.add_network(&NetworkRules {
            bridge: Some(c.bridge.clone()),
            subnets: result.ips.iter().map(|i| i.address.trunc()).collect(),
            masquerade: true,
            isolate: false,
            ..Default::default()
        })
        .map_err(|e| setup("adding masquerade", e))?;
    }

    let br_now = host
        .link_by_index(br.index)
        .map_err(|e| setup("reading bridge", e))?
        .unwrap_or(br);
    let cl_now = cont
        .link_by_index(cl.index)
        .map_err(|e| setup("reading container veth", e))?
        .unwrap_or(cl);
    result.interfaces = vec![
        describe(&br_now, None),
        describe(&hv, None),
        describe(&cl_now, Some(ns.path().display().to_string())),
    ];
    if !req.conf.dns.is_empty() {
        result.dns = req.conf.dns.clone();
    }
    if let Some(d) = durable {
        d.wait()?;
    }
    Ok(result)
}

pub(crate) fn describe(l: &Link, sandbox: Option<String>) -> Interface {
    Interface {
        name: l.name.clone(),
        mac: l.mac.map(|m| m.to_string()),
        mtu: (sandbox.is_some() && l.mtu > 0).then_some(l.mtu),
        sandbox,
        ..Default::default()
    }
}

/// Deleting the container end deletes the host end with it. Returns when
/// the kernel has unlisted both (not when it has freed them: see
/// `berth_net::netlink::unlist`).
fn delete_container_veth(req: &Request, ns: &NetNs) -> Result<(), CniError> {
    // Already gone is fine: DEL is idempotent.
    berth_net::netlink::unlist::delete_link_by_name(ns, &req.args.ifname)
        .map(|_existed| ())
        .map_err(|e| setup(&format!("deleting {} in the container", req.args.ifname), e))
}

/// With the container's netns gone, its veth pair goes when the kernel
/// gets round to destroying the namespace, later. The host end named in
/// `prevResult` is deleted now if it is still there and is the one this
/// attachment made: a veth on this bridge with the MAC the result recorded.
/// Then the bridge's ports are right for [`release_masquerade`].
fn delete_orphaned_host_veth(req: &Request, c: &BridgeConf) -> Result<(), CniError> {
    let Some(prev) = &req.conf.prev_result else {
        return Ok(());
    };
    let host = Netlink::new().map_err(|e| setup("netlink", e))?;
    let Some(br) = host
        .link_by_name(&c.bridge)
        .map_err(|e| setup("looking up bridge", e))?
    else {
        return Ok(());
    };
    for iface in prev
        .interfaces
        .iter()
        .filter(|i| i.sandbox.is_none() && i.name != c.bridge)
    {
        let Some(l) = host
            .link_by_name(&iface.name)
            .map_err(|e| setup("looking up host veth", e))?
        else {
            continue;
        };
        let same_mac = match (&iface.mac, l.mac) {
            (Some(want), Some(have)) => want.eq_ignore_ascii_case(&have.to_string()),
            _ => false,
        };
        if l.is_kind("veth") && l.master == Some(br.index) && same_mac {
            match host.delete_link(l.index) {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(setup(&format!("deleting host veth {}", l.name), e)),
            }
        }
    }
    Ok(())
}

/// The subnets an attachment of this network masquerades: those of its
/// `prevResult` addresses, else those its IPAM config names (`subnet`, or
/// each range's `subnet`, as host-local reads them).
fn network_subnets(req: &Request) -> Vec<IpNet> {
    if let Some(prev) = &req.conf.prev_result {
        if !prev.ips.is_empty() {
            return prev.ips.iter().map(|i| i.address.trunc()).collect();
        }
    }
    let Some(ipam) = &req.conf.ipam else {
        return Vec::new();
    };
    let parse = |v: &serde_json::Value| v.as_str().and_then(|s| s.parse::<IpNet>().ok());
    let mut out: Vec<IpNet> = ipam.raw.get("subnet").and_then(parse).into_iter().collect();
    for set in ipam
        .raw
        .get("ranges")
        .and_then(|r| r.as_array())
        .into_iter()
        .flatten()
    {
        for range in set.as_array().into_iter().flatten() {
            out.extend(range.get("subnet").and_then(parse));
        }
    }
    out.iter_mut().for_each(|n| *n = n.trunc());
    out.sort();
    out.dedup();
    out
}

/// When the bridge has no port left, the network's masquerade elements go
/// too (like the bridge's, they are shared by its containers; the bridge
/// itself stays, as with the reference plugin). No lock is needed against
/// an ADD racing this: an ADD enslaves its veth before it looks for the
/// elements, so after removing them the ports are counted again, and if one
/// appeared the elements are put back. Elements are per subnet: two
/// networks masquerading the same subnet on different bridges (a
/// misconfiguration) would lose it when the first bridge empties.
fn release_masquerade(req: &Request, c: &BridgeConf) -> Result<(), CniError> {
    let subnets = network_subnets(req);
    if subnets.is_empty() {
        tracing::debug!("no prevResult address nor IPAM subnet: masquerade elements left in place");
        return Ok(());
    }
    // Every DEL of the network passes here: an ioctl and one partial dump,
    // no netlink runtime.
    let has_ports = || -> Result<bool, CniError> {
        let looked_up = berth_net::netlink::link::index_of(&c.bridge)
            .and_then(|i| i.map_or(Ok(false), berth_net::netlink::ports::has_ports));
        looked_up.map_err(|e| setup(&format!("looking for ports of {}", c.bridge), e))
    };
    if has_ports()? {
        return Ok(());
    }
    let rules = NetworkRules {
        bridge: Some(c.bridge.clone()),
        subnets,
        masquerade: true,
        isolate: false,
        ..Default::default()
    };
    let Some(fw) = Firewall::open_existing().map_err(|e| setup("opening firewall", e))? else {
        return Ok(());
    };
    fw.remove_network(&rules)
        .map_err(|e| setup("removing masquerade", e))?;
    if has_ports()? {
        fw.add_network(&rules).map_err(|e| {
            setup(
                "restoring masquerade for a container that joined meanwhile",
                e,
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Command;

    fn req(conf: serde_json::Value) -> Request {
        Request::for_test(Command::Del, conf, &[])
    }

    #[test]
    fn masqueraded_subnets_come_from_prev_result_else_from_ipam_config() {
        let ipam = serde_json::json!({"type": "berth-host-local", "subnet": "10.1.0.7/24",
            "ranges": [[{"subnet": "fd00:1::/64"}], [{"subnet": "10.1.0.0/24"}]]});
        let from_config = req(serde_json::json!({
            "cniVersion": "1.0.0", "name": "n", "type": "berth-bridge", "ipam": ipam}));
        let nets: Vec<String> = network_subnets(&from_config)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(nets, ["10.1.0.0/24", "fd00:1::/64"]);
        let from_prev = req(serde_json::json!({
            "cniVersion": "1.0.0", "name": "n", "type": "berth-bridge", "ipam": ipam,
            "prevResult": {"cniVersion": "1.0.0", "ips": [{"address": "10.9.8.7/16"}]}}));
        let nets: Vec<String> = network_subnets(&from_prev)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(nets, ["10.9.0.0/16"]);
        let none =
            req(serde_json::json!({"cniVersion": "1.0.0", "name": "n", "type": "berth-bridge"}));
        assert!(network_subnets(&none).is_empty());
    }
}
