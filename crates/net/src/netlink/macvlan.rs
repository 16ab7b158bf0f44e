//! macvlan links on a parent interface.

use std::os::fd::AsRawFd;
use std::str::FromStr;

use netlink_packet_route::link::MacVlanMode;
use rtnetlink::LinkMacVlan;

use super::{check_ifname, Netlink, NetlinkError};
use crate::mac::MacAddr;
use crate::netns::NetNs;

/// macvlan mode (`ip link add ... type macvlan mode <mode>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MacvlanMode {
    /// No traffic between macvlans of one parent.
    Private,
    /// Traffic between macvlans goes out to the switch (which must hairpin).
    Vepa,
    /// macvlans of one parent talk directly (the default).
    #[default]
    Bridge,
    /// One macvlan takes over the parent (a single one per parent).
    Passthru,
}

impl MacvlanMode {
    fn kernel(self) -> MacVlanMode {
        match self {
            MacvlanMode::Private => MacVlanMode::Private,
            MacvlanMode::Vepa => MacVlanMode::Vepa,
            MacvlanMode::Bridge => MacVlanMode::Bridge,
            MacvlanMode::Passthru => MacVlanMode::Passthrough,
        }
    }

    /// The mode as `ip` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            MacvlanMode::Private => "private",
            MacvlanMode::Vepa => "vepa",
            MacvlanMode::Bridge => "bridge",
            MacvlanMode::Passthru => "passthru",
        }
    }
}

impl FromStr for MacvlanMode {
    type Err = NetlinkError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "private" => Ok(MacvlanMode::Private),
            "vepa" => Ok(MacvlanMode::Vepa),
            "bridge" | "" => Ok(MacvlanMode::Bridge),
            "passthru" => Ok(MacvlanMode::Passthru),
            other => Err(NetlinkError::Invalid {
                what: "macvlan mode",
                detail: format!("{other:?} (expected private, vepa, bridge or passthru)"),
            }),
        }
    }
}

/// How to create a macvlan.
#[derive(Debug, Clone)]
pub struct MacvlanConfig {
    /// Name of the new link.
    pub name: String,
    /// Index of the parent link in this socket's namespace.
    pub parent: u32,
    /// Mode.
    pub mode: MacvlanMode,
    /// MTU (at most the parent's).
    pub mtu: Option<u32>,
    /// Fixed MAC.
    pub mac: Option<MacAddr>,
}

impl Netlink {
    /// Creates a macvlan on `cfg.parent` (a link of this namespace), placed
    /// directly in `ns` (this namespace when `None`). It starts down; look it
    /// up with a [`Netlink`] for `ns`.
    pub fn create_macvlan(
        &self,
        cfg: &MacvlanConfig,
        ns: Option<&NetNs>,
    ) -> Result<(), NetlinkError> {
        check_ifname(&cfg.name)?;
        let mut b = LinkMacVlan::new(&cfg.name, cfg.parent, cfg.mode.kernel());
        if let Some(ns) = ns {
            b = b.setns_by_fd(ns.as_raw_fd());
        }
        if let Some(mtu) = cfg.mtu {
            b = b.mtu(mtu);
        }
        if let Some(mac) = cfg.mac {
            b = b.address(mac.0.to_vec());
        }
        self.add_link(
            || {
                format!(
                    "create macvlan {} (mode {}) on link #{}",
                    cfg.name,
                    cfg.mode.as_str(),
                    cfg.parent
                )
            },
            b.build(),
        )
    }
}
