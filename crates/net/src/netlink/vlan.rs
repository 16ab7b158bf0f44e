//! 802.1q VLAN sub-interfaces (`eth0.10`).
//!
//! Some kernels are built without 802.1q: creation then fails with
//! [`NetlinkError::is_unsupported`] true.

use std::os::fd::AsRawFd;

use rtnetlink::LinkVlan;

use super::{check_ifname, Netlink, NetlinkError};
use crate::netns::NetNs;

/// How to create a VLAN sub-interface.
#[derive(Debug, Clone)]
pub struct VlanConfig {
    /// Name of the new link (conventionally `<parent>.<id>`).
    pub name: String,
    /// Index of the parent link in this socket's namespace.
    pub parent: u32,
    /// VLAN id, 1..=4094.
    pub id: u16,
    /// MTU (at most the parent's).
    pub mtu: Option<u32>,
}

impl Netlink {
    /// Creates an 802.1q sub-interface of `cfg.parent`, placed in `ns` (this
    /// namespace when `None`). It starts down.
    pub fn create_vlan(&self, cfg: &VlanConfig, ns: Option<&NetNs>) -> Result<(), NetlinkError> {
        check_ifname(&cfg.name)?;
        if !(1..=4094).contains(&cfg.id) {
            return Err(NetlinkError::Invalid {
                what: "vlan id",
                detail: format!("{} (expected 1..=4094)", cfg.id),
            });
        }
        let mut b = LinkVlan::new(&cfg.name, cfg.parent, cfg.id);
        if let Some(ns) = ns {
            b = b.setns_by_fd(ns.as_raw_fd());
        }
        if let Some(mtu) = cfg.mtu {
            b = b.mtu(mtu);
        }
        self.add_link(
            || {
                format!(
                    "create vlan {} (id {}) on link #{}",
                    cfg.name, cfg.id, cfg.parent
                )
            },
            b.build(),
        )
    }
}
