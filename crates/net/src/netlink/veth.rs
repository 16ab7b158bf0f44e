//! veth pairs, with the peer created directly in its target namespace.

use std::os::fd::AsRawFd;

use netlink_packet_route::link::{InfoData, InfoVeth, LinkAttribute};
use rtnetlink::{LinkUnspec, LinkVeth};

use super::{check_ifname, Link, Netlink, NetlinkError};
use crate::mac::MacAddr;
use crate::netns::NetNs;

/// How to create a veth pair.
#[derive(Debug, Clone, Default)]
pub struct VethConfig {
    /// Name of the end created in this socket's namespace.
    pub name: String,
    /// Name of the peer end.
    pub peer_name: String,
    /// MTU of both ends.
    pub mtu: Option<u32>,
    /// MAC of this end.
    pub mac: Option<MacAddr>,
    /// MAC of the peer end.
    pub peer_mac: Option<MacAddr>,
}

impl VethConfig {
    /// A pair `name` <-> `peer_name` with kernel defaults.
    pub fn new(name: &str, peer_name: &str) -> Self {
        VethConfig {
            name: name.to_string(),
            peer_name: peer_name.to_string(),
            ..Default::default()
        }
    }
}

impl Netlink {
    /// Creates a veth pair in one request: `cfg.name` in this socket's
    /// namespace and `cfg.peer_name` directly in `peer_ns` (this namespace
    /// when `None`), so no name ever appears in the wrong namespace. Both ends
    /// start down. Returns this namespace's end; look the peer up with a
    /// [`Netlink`] for `peer_ns`.
    pub fn create_veth(
        &self,
        cfg: &VethConfig,
        peer_ns: Option<&NetNs>,
    ) -> Result<Link, NetlinkError> {
        check_ifname(&cfg.name)?;
        check_ifname(&cfg.peer_name)?;
        // One queue each, asked for up front: a veth otherwise gets one per
        // possible CPU and is then cut down to one real queue, and that cut
        // waits for an expedited RCU grace period under the RTNL lock
        // (~1 ms per pair on this machine kind while others work, and an
        // IPI to every CPU). One real queue is what a veth ends up with
        // either way.
        let mut peer = LinkUnspec::new_with_name(&cfg.peer_name)
            .append_extra_attribute(LinkAttribute::NumTxQueues(1))
            .append_extra_attribute(LinkAttribute::NumRxQueues(1));
        if let Some(ns) = peer_ns {
            peer = peer.setns_by_fd(ns.as_raw_fd());
        }
        if let Some(mtu) = cfg.mtu {
            peer = peer.mtu(mtu);
        }
        if let Some(mac) = cfg.peer_mac {
            peer = peer.address(mac.0.to_vec());
        }
        let mut b = LinkVeth::new(&cfg.name, &cfg.peer_name)
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer.build())))
            .append_extra_attribute(LinkAttribute::NumTxQueues(1))
            .append_extra_attribute(LinkAttribute::NumRxQueues(1));
        if let Some(mtu) = cfg.mtu {
            b = b.mtu(mtu);
        }
        if let Some(mac) = cfg.mac {
            b = b.address(mac.0.to_vec());
        }
        let msg = b.build();
        debug_assert!(msg
            .attributes
            .iter()
            .any(|a| matches!(a, LinkAttribute::IfName(_))));
        self.add_link(
            || format!("create veth {} (peer {})", cfg.name, cfg.peer_name),
            msg,
        )?;
        self.require_link(&cfg.name)
    }
}
