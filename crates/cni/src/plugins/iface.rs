//! The container side shared by bridge, macvlan and ipvlan: put a result's
//! addresses and routes on an interface, and CHECK them against a
//! `prevResult`.

use std::net::IpAddr;

use berth_net::netlink::route::Route as NlRoute;
use berth_net::{Link, Netlink};

use crate::types::{CniError, CniResult};

fn setup(op: &str, e: impl std::fmt::Display) -> CniError {
    CniError::setup(format!("{op}: {e}"))
}

/// The gateway of the first address of `v6`'s family for interface `idx`.
fn family_gateway(r: &CniResult, idx: usize, v6: bool) -> Option<IpAddr> {
    r.ips
        .iter()
        .filter(|i| i.interface.is_none_or(|n| n == idx))
        .filter(|i| i.address.addr().is_ipv6() == v6)
        .find_map(|i| i.gateway)
}

/// The routes `r` asks for on interface `idx`, with gateways filled in from
/// the addresses' gateways where a route names none.
pub fn wanted_routes(r: &CniResult, idx: usize, link: u32) -> Vec<NlRoute> {
    r.routes
        .iter()
        .map(|rt| {
            let v6 = rt.dst.addr().is_ipv6();
            let mut nl = NlRoute::to(rt.dst.trunc()).dev(link);
            if let Some(gw) = rt.gw.or_else(|| family_gateway(r, idx, v6)) {
                nl = nl.via(gw);
            }
            if let Some(p) = rt.priority {
                nl = nl.metric(p);
            }
            nl.table = rt.table;
            nl
        })
        .collect()
}

/// No IPv6 address generation on `link` (still down): on an IPv4-only
/// attachment the container interface gets no link-local address, like
/// Docker's containers on IPv4-only networks (no IPv6 path that IPv4
/// firewalling does not see); a bridge port gets none either where IPv6
/// cannot be turned off on it outright. Without an address the kernel sends no DAD, MLD report or
/// router solicitation, which a bridge floods to every port: with a
/// thousand containers on one bridge that flood made every new attach
/// measurably slower. A kernel without IPv6 has nothing to turn off.
pub fn ipv6_quiet(nl: &Netlink, link: &Link) -> Result<(), CniError> {
    match nl.set_ipv6_addr_gen_none(link.index) {
        Ok(()) => Ok(()),
        Err(e) if e.is_unsupported() => Ok(()),
        Err(e) => Err(setup(
            &format!("turning off IPv6 addresses on {}", link.name),
            e,
        )),
    }
}

/// Brings `link` up with the addresses of result interface `idx` and the
/// result's routes; without an IPv6 address for it, the link gets no IPv6
/// link-local address either ([`ipv6_quiet`]). IPv6 addresses skip DAD
/// unless `dad` (IPAM made them unique). A default route that another
/// network already installed is left alone, as the spec allows.
pub fn configure(
    nl: &Netlink,
    link: &Link,
    r: &CniResult,
    idx: usize,
    dad: bool,
) -> Result<(), CniError> {
    for ip in r
        .ips
        .iter()
        .filter(|i| i.interface.is_none_or(|n| n == idx))
    {
        let res = if dad {
            nl.add_address(link.index, ip.address)
        } else {
            nl.add_address_nodad(link.index, ip.address)
        };
        res.map_err(|e| setup(&format!("adding {} to {}", ip.address, link.name), e))?;
    }
    let uses_v6 = r
        .ips
        .iter()
        .filter(|i| i.interface.is_none_or(|n| n == idx))
        .any(|i| i.address.addr().is_ipv6());
    if !uses_v6 {
        ipv6_quiet(nl, link)?;
    }
    nl.set_up(link.index)
        .map_err(|e| setup(&format!("setting {} up", link.name), e))?;
    for route in wanted_routes(r, idx, link.index) {
        match nl.add_route(&route) {
            Ok(()) => {}
            Err(e) if e.is_exists() && route.dst.prefix_len() == 0 => {
                tracing::info!(dst = %route.dst, "default route exists already; skipping");
            }
            Err(e) => return Err(setup(&format!("adding route to {}", route.dst), e)),
        }
    }
    Ok(())
}

/// CHECK of the container interface named `ifname`: it exists, is of `kind`,
/// has the MAC, addresses and routes `prev` lists for it.
pub fn check(
    nl: &Netlink,
    ifname: &str,
    kind: &str,
    prev: &CniResult,
    sandbox: &str,
) -> Result<Link, CniError> {
    let link = nl
        .link_by_name(ifname)
        .map_err(|e| setup("looking up container interface", e))?
        .ok_or_else(|| {
            CniError::check(format!("interface {ifname} is missing from the container"))
        })?;
    if !link.is_kind(kind) {
        return Err(CniError::check(format!(
            "container interface {ifname} is a {}, not a {kind}",
            link.kind.as_deref().unwrap_or("device")
        )));
    }
    let idx = prev.interface_index(ifname, Some(sandbox)).ok_or_else(|| {
        CniError::check(format!(
            "prevResult lists no interface {ifname} in sandbox {sandbox}"
        ))
    })?;
    if let (Some(want), Some(have)) = (&prev.interfaces[idx].mac, link.mac) {
        if !want.eq_ignore_ascii_case(&have.to_string()) {
            return Err(CniError::check(format!(
                "interface {ifname} has MAC {have}, prevResult says {want}"
            )));
        }
    }
    let addrs = nl
        .link_addresses(link.index)
        .map_err(|e| setup("listing container addresses", e))?;
    for ip in prev.ips.iter().filter(|i| i.interface == Some(idx)) {
        if !addrs.contains(&ip.address) {
            return Err(CniError::check(format!(
                "address {} is missing from {ifname} in the container",
                ip.address
            )));
        }
    }
    for want in wanted_routes(prev, idx, link.index) {
        let have = nl
            .routes(want.dst.addr().is_ipv6())
            .map_err(|e| setup("listing container routes", e))?;
        let found = have
            .iter()
            .any(|h| h.dst == want.dst && (want.gateway.is_none() || h.gateway == want.gateway));
        if !found {
            return Err(CniError::check(format!(
                "route to {}{} is missing in the container",
                want.dst,
                want.gateway
                    .map(|g| format!(" via {g}"))
                    .unwrap_or_default()
            )));
        }
    }
    Ok(link)
}

/// A random host-side name `<prefix><8 hex digits>` (like the reference
/// plugins' veth names), from the kernel's random pool.
pub fn random_name(prefix: &str) -> String {
    let mut b = [0u8; 4];
    // SAFETY: getrandom writes at most b.len() bytes into the valid buffer.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n != b.len() as isize {
        // Fall back to pid and time: names only need to be unlikely to clash.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        b = (t ^ std::process::id().rotate_left(16)).to_be_bytes();
    }
    format!("{prefix}{:02x}{:02x}{:02x}{:02x}", b[0], b[1], b[2], b[3])
}
