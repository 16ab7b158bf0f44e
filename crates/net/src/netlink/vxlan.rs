//! VXLAN devices for overlay networks (static FDB, no multicast learning).

use std::net::IpAddr;

use netlink_packet_route::link::InfoVxlan;
use rtnetlink::LinkVxlan;

use super::{check_ifname, Link, Netlink, NetlinkError};
use crate::mac::MacAddr;

/// The IANA VXLAN port.
pub const VXLAN_PORT: u16 = 4789;

/// How to create a VXLAN device.
#[derive(Debug, Clone)]
pub struct VxlanConfig {
    /// Name of the new link.
    pub name: String,
    /// VXLAN network identifier (24 bits).
    pub vni: u32,
    /// Local (source) VTEP address.
    pub local: Option<IpAddr>,
    /// Underlay link index to send through.
    pub dev: Option<u32>,
    /// UDP destination port ([`VXLAN_PORT`] when `None`).
    pub port: Option<u16>,
    /// Learn remote MACs from traffic. Overlays programmed from the store
    /// turn this off and add FDB/neighbour entries instead.
    pub learning: bool,
    /// MTU (underlay MTU minus 50 for IPv4 underlays).
    pub mtu: Option<u32>,
    /// Fixed MAC.
    pub mac: Option<MacAddr>,
}

impl VxlanConfig {
    /// A VXLAN `name` with id `vni`, no learning, on the standard port.
    pub fn new(name: &str, vni: u32) -> Self {
        VxlanConfig {
            name: name.to_string(),
            vni,
            local: None,
            dev: None,
            port: None,
            learning: false,
            mtu: None,
            mac: None,
        }
    }
}

impl Netlink {
    /// Creates the VXLAN device in this namespace (down) and returns it.
    pub fn create_vxlan(&self, cfg: &VxlanConfig) -> Result<Link, NetlinkError> {
        check_ifname(&cfg.name)?;
        if cfg.vni >= 1 << 24 {
            return Err(NetlinkError::Invalid {
                what: "vxlan id",
                detail: format!("{} (expected < 2^24)", cfg.vni),
            });
        }
        let mut b = LinkVxlan::new(&cfg.name, cfg.vni)
            .port(cfg.port.unwrap_or(VXLAN_PORT))
            .append_info_data(InfoVxlan::Learning(cfg.learning));
        match cfg.local {
            Some(IpAddr::V4(a)) => b = b.local(a),
            Some(IpAddr::V6(a)) => b = b.local6(a),
            None => {}
        }
        if let Some(dev) = cfg.dev {
            b = b.dev(dev);
        }
        if let Some(mtu) = cfg.mtu {
            b = b.mtu(mtu);
        }
        if let Some(mac) = cfg.mac {
            b = b.address(mac.0.to_vec());
        }
        self.add_link(
            || format!("create vxlan {} (vni {})", cfg.name, cfg.vni),
            b.build(),
        )?;
        self.require_link(&cfg.name)
    }
}
