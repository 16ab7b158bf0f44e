//! ipvlan links on a parent interface.
//!
//! Some kernels are built without ipvlan (the project's CI kernel is one):
//! creation then fails with [`NetlinkError::is_unsupported`] true.

use std::os::fd::AsRawFd;
use std::str::FromStr;

use netlink_packet_route::link::{IpVlanFlags, IpVlanMode};
use rtnetlink::LinkIpVlan;

use super::{check_ifname, Netlink, NetlinkError};
use crate::netns::NetNs;

/// ipvlan mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpvlanMode {
    /// Layer 2: the parent switches frames (the default).
    #[default]
    L2,
    /// Layer 3: the parent routes; no broadcast/multicast.
    L3,
    /// Layer 3 with netfilter (conntrack) on the slave side.
    L3s,
}

/// ipvlan port flags (`bridge` default, `private`, `vepa`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpvlanFlag {
    /// Slaves of one parent talk directly.
    #[default]
    Bridge,
    /// No traffic between slaves.
    Private,
    /// Traffic between slaves goes out via the parent.
    Vepa,
}

impl IpvlanMode {
    fn kernel(self) -> IpVlanMode {
        match self {
            IpvlanMode::L2 => IpVlanMode::L2,
            IpvlanMode::L3 => IpVlanMode::L3,
            IpvlanMode::L3s => IpVlanMode::L3S,
        }
    }

    /// The mode as `ip` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            IpvlanMode::L2 => "l2",
            IpvlanMode::L3 => "l3",
            IpvlanMode::L3s => "l3s",
        }
    }
}

impl FromStr for IpvlanMode {
    type Err = NetlinkError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "l2" | "" => Ok(IpvlanMode::L2),
            "l3" => Ok(IpvlanMode::L3),
            "l3s" => Ok(IpvlanMode::L3s),
            other => Err(NetlinkError::Invalid {
                what: "ipvlan mode",
                detail: format!("{other:?} (expected l2, l3 or l3s)"),
            }),
        }
    }
}

/// How to create an ipvlan.
#[derive(Debug, Clone)]
pub struct IpvlanConfig {
    /// Name of the new link.
    pub name: String,
    /// Index of the parent link in this socket's namespace.
    pub parent: u32,
    /// Mode.
    pub mode: IpvlanMode,
    /// Port flag.
    pub flag: IpvlanFlag,
    /// MTU (at most the parent's).
    pub mtu: Option<u32>,
}

impl Netlink {
    /// Creates an ipvlan on `cfg.parent`, placed directly in `ns` (this
    /// namespace when `None`). It starts down and shares the parent's MAC.
    pub fn create_ipvlan(
        &self,
        cfg: &IpvlanConfig,
        ns: Option<&NetNs>,
    ) -> Result<(), NetlinkError> {
        check_ifname(&cfg.name)?;
        let flag = match cfg.flag {
            IpvlanFlag::Bridge => IpVlanFlags::empty(),
            IpvlanFlag::Private => IpVlanFlags::Private,
            IpvlanFlag::Vepa => IpVlanFlags::Vepa,
        };
        let mut b = LinkIpVlan::new(&cfg.name, cfg.parent, cfg.mode.kernel()).flag(flag);
        if let Some(ns) = ns {
            b = b.setns_by_fd(ns.as_raw_fd());
        }
        if let Some(mtu) = cfg.mtu {
            b = b.mtu(mtu);
        }
        self.add_link(
            || {
                format!(
                    "create ipvlan {} (mode {}) on link #{}",
                    cfg.name,
                    cfg.mode.as_str(),
                    cfg.parent
                )
            },
            b.build(),
        )
    }
}
