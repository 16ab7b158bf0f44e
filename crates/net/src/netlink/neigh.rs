//! Neighbour (ARP/NDP) entries and bridge/VXLAN forwarding database entries.

use std::net::IpAddr;

use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::AddressFamily;

use super::{Netlink, NetlinkError};
use crate::mac::MacAddr;

/// A neighbour or FDB entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    /// Link index.
    pub index: u32,
    /// IP address (neighbour entries) or remote VTEP (VXLAN FDB entries).
    pub ip: Option<IpAddr>,
    /// Link-layer address.
    pub mac: Option<MacAddr>,
    /// Whether the entry is permanent (static).
    pub permanent: bool,
}

fn neighbour_ip(a: &NeighbourAddress) -> Option<IpAddr> {
    match a {
        NeighbourAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        NeighbourAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        // AF_BRIDGE (FDB) messages carry the VTEP as raw bytes.
        NeighbourAddress::Other(b) => match b.len() {
            4 => <[u8; 4]>::try_from(b.as_slice()).ok().map(IpAddr::from),
            16 => <[u8; 16]>::try_from(b.as_slice()).ok().map(IpAddr::from),
            _ => None,
        },
        _ => None,
    }
}

impl Neighbour {
    fn from_message(m: &NeighbourMessage) -> Self {
        let mut n = Neighbour {
            index: m.header.ifindex,
            ip: None,
            mac: None,
            permanent: m.header.state == NeighbourState::Permanent,
        };
        for a in &m.attributes {
            match a {
                NeighbourAttribute::Destination(d) => n.ip = neighbour_ip(d),
                NeighbourAttribute::LinkLayerAddress(l) => n.mac = MacAddr::from_slice(l),
                _ => {}
            }
        }
        n
    }
}

/// Where an FDB entry lives: on the device itself (VXLAN: `self`) or in the
/// bridge the device is a port of (`master`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdbTarget {
    /// The device's own table (`bridge fdb add ... self`), used for VXLAN.
    SelfDevice,
    /// The master bridge's table (`bridge fdb add ... master`).
    Master,
}

impl Netlink {
    /// Adds or replaces a permanent neighbour entry `ip` → `mac` on link `index`.
    pub fn add_neighbour(&self, index: u32, ip: IpAddr, mac: MacAddr) -> Result<(), NetlinkError> {
        let req = self
            .handle
            .neighbours()
            .add(index, ip)
            .link_layer_address(&mac.0)
            .replace();
        self.exec(
            || format!("add neighbour {ip} lladdr {mac} on link #{index}"),
            req.execute(),
        )
    }

    /// Deletes the neighbour entry for `ip` on link `index`.
    pub fn del_neighbour(&self, index: u32, ip: IpAddr) -> Result<(), NetlinkError> {
        let mut msg = NeighbourMessage::default();
        msg.header.family = if ip.is_ipv4() {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        };
        msg.header.ifindex = index;
        msg.attributes
            .push(NeighbourAttribute::Destination(match ip {
                IpAddr::V4(a) => NeighbourAddress::Inet(a),
                IpAddr::V6(a) => NeighbourAddress::Inet6(a),
            }));
        self.exec(
            || format!("delete neighbour {ip} on link #{index}"),
            self.handle.neighbours().del(msg).execute(),
        )
    }

    /// Neighbour entries (IPv4 and IPv6) of link `index` (all when `None`).
    pub fn neighbours(&self, index: Option<u32>) -> Result<Vec<Neighbour>, NetlinkError> {
        let mut out = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let req = self
                .handle
                .neighbours()
                .get()
                .set_address_family(family)
                .execute();
            let msgs = self.collect(|| "list neighbours".to_string(), req)?;
            out.extend(
                msgs.iter()
                    .map(Neighbour::from_message)
                    .filter(|n| index.is_none_or(|i| n.index == i)),
            );
        }
        Ok(out)
    }

    /// Adds or replaces a permanent FDB entry `mac` on link `index`; `dst` is
    /// the remote VTEP for VXLAN devices.
    pub fn fdb_add(
        &self,
        index: u32,
        mac: MacAddr,
        dst: Option<IpAddr>,
        target: FdbTarget,
    ) -> Result<(), NetlinkError> {
        let mut req = self
            .handle
            .neighbours()
            .add_bridge(index, &mac.0)
            .replace()
            .flags(fdb_flags(target));
        if let Some(ip) = dst {
            req = req.destination(ip);
        }
        self.exec(
            || format!("add fdb entry {mac} on link #{index}"),
            req.execute(),
        )
    }

    /// Deletes FDB entry `mac` (with `dst` for VXLAN) from link `index`.
    pub fn fdb_del(
        &self,
        index: u32,
        mac: MacAddr,
        dst: Option<IpAddr>,
        target: FdbTarget,
    ) -> Result<(), NetlinkError> {
        let mut msg = NeighbourMessage::default();
        msg.header.family = AddressFamily::Bridge;
        msg.header.ifindex = index;
        msg.header.flags = fdb_flags(target);
        msg.attributes
            .push(NeighbourAttribute::LinkLayerAddress(mac.0.to_vec()));
        if let Some(ip) = dst {
            msg.attributes
                .push(NeighbourAttribute::Destination(match ip {
                    IpAddr::V4(a) => NeighbourAddress::Inet(a),
                    IpAddr::V6(a) => NeighbourAddress::Inet6(a),
                }));
        }
        self.exec(
            || format!("delete fdb entry {mac} on link #{index}"),
            self.handle.neighbours().del(msg).execute(),
        )
    }

    /// FDB entries whose device is link `index` (all when `None`).
    pub fn fdb_entries(&self, index: Option<u32>) -> Result<Vec<Neighbour>, NetlinkError> {
        let req = self
            .handle
            .neighbours()
            .get()
            .set_address_family(AddressFamily::Bridge)
            .execute();
        let msgs = self.collect(|| "list fdb".to_string(), req)?;
        Ok(msgs
            .iter()
            .map(Neighbour::from_message)
            .filter(|n| index.is_none_or(|i| n.index == i))
            .collect())
    }
}

fn fdb_flags(target: FdbTarget) -> NeighbourFlags {
    match target {
        FdbTarget::SelfDevice => NeighbourFlags::Own,
        FdbTarget::Master => NeighbourFlags::Controller,
    }
}
