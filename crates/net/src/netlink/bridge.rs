//! Bridges and bridge ports (`ip link add type bridge`, hairpin mode).

use rtnetlink::{LinkBridge, LinkBridgePort};

use super::{check_ifname, Link, Netlink, NetlinkError};
use crate::mac::MacAddr;

/// How to create a bridge.
#[derive(Debug, Clone, Default)]
pub struct BridgeConfig {
    /// Bridge name.
    pub name: String,
    /// MTU; the kernel default when `None`.
    pub mtu: Option<u32>,
    /// Fixed MAC; otherwise the kernel's random one, pinned (see
    /// [`Netlink::create_bridge`]).
    pub mac: Option<MacAddr>,
    /// Promiscuous mode.
    pub promisc: bool,
    /// Turn VLAN filtering on (only when the kernel supports it).
    pub vlan_filtering: bool,
    /// Turn multicast snooping off (the kernel's default is on). A
    /// container network has no multicast querier, and without one the
    /// bridge floods multicast to every port anyway; snooping then only
    /// costs per-port timers, which the kernel walks for every port on
    /// each port's carrier change, under the RTNL lock.
    pub no_multicast_snooping: bool,
}

impl BridgeConfig {
    /// A bridge named `name` with kernel defaults.
    pub fn new(name: &str) -> Self {
        BridgeConfig {
            name: name.to_string(),
            ..Default::default()
        }
    }
}

impl Netlink {
    /// Creates the bridge, up, and returns it. Fails with `EEXIST`
    /// ([`NetlinkError::is_exists`]) if a link of that name exists.
    ///
    /// Without `cfg.mac` the kernel's random MAC is set again explicitly:
    /// a bridge whose MAC was never set takes the lowest MAC among its
    /// ports, so it would change as containers come and go, and every
    /// container would keep a stale neighbour entry for its gateway (the
    /// reference bridge plugin pins it the same way).
    pub fn create_bridge(&self, cfg: &BridgeConfig) -> Result<Link, NetlinkError> {
        check_ifname(&cfg.name)?;
        let mut b = LinkBridge::new(&cfg.name);
        if let Some(mtu) = cfg.mtu {
            b = b.mtu(mtu);
        }
        if let Some(mac) = cfg.mac {
            b = b.address(mac.0.to_vec());
        }
        if cfg.promisc {
            b = b.promiscuous(true);
        }
        if cfg.vlan_filtering {
            b = b.vlan_filtering(true);
        }
        if cfg.no_multicast_snooping {
            b = b.append_info_data(netlink_packet_route::link::InfoBridge::MulticastSnooping(
                false,
            ));
        }
        self.add_link(|| format!("create bridge {}", cfg.name), b.build())?;
        let br = self.require_link(&cfg.name)?;
        if let (None, Some(mac)) = (cfg.mac, br.mac) {
            if let Err(e) = self.set_mac(br.index, mac) {
                // Nothing else knows of the bridge yet: leave nothing behind.
                if let Err(del) = self.delete_link(br.index) {
                    tracing::warn!(error = %del, bridge = %cfg.name, "removing a half-made bridge");
                }
                return Err(e);
            }
        }
        Ok(br)
    }

    /// Returns the bridge `cfg.name`, creating it if absent (several CNI
    /// plugin processes may race here: losing the race is not an error).
    /// An existing link that is not a bridge is [`NetlinkError::WrongKind`].
    /// An existing bridge is brought up and its MTU/promisc adjusted to `cfg`.
    pub fn ensure_bridge(&self, cfg: &BridgeConfig) -> Result<Link, NetlinkError> {
        let existing = match self.link_by_name(&cfg.name)? {
            Some(l) => l,
            None => match self.create_bridge(cfg) {
                Ok(l) => return Ok(l),
                Err(e) if e.is_exists() => self.require_link(&cfg.name)?,
                Err(e) => return Err(e),
            },
        };
        existing.expect_kind("bridge")?;
        if let Some(mtu) = cfg.mtu {
            if existing.mtu != mtu {
                self.set_mtu(existing.index, mtu)?;
            }
        }
        if cfg.promisc && !existing.promisc {
            self.set_promisc(existing.index, true)?;
        }
        if !existing.up {
            self.set_up(existing.index)?;
        }
        self.link_by_index(existing.index)?
            .ok_or_else(|| NetlinkError::LinkNotFound(cfg.name.clone()))
    }

    /// Sets hairpin mode on bridge port `port` (a link enslaved to a bridge),
    /// so frames may be sent back out the port they came in on (a container
    /// reaching itself through a published port).
    pub fn set_hairpin(&self, port: u32, on: bool) -> Result<(), NetlinkError> {
        let msg = LinkBridgePort::new(port).hairpin(on).build();
        self.exec(
            || format!("set hairpin {on} on bridge port #{port}"),
            self.handle.link().set_port(msg).execute(),
        )
    }

    /// Isolates (or not) bridge port `port`: isolated ports cannot talk to
    /// each other, only to non-isolated ports.
    pub fn set_port_isolated(&self, port: u32, on: bool) -> Result<(), NetlinkError> {
        let msg = LinkBridgePort::new(port).isolated(on).build();
        self.exec(
            || format!("set isolated {on} on bridge port #{port}"),
            self.handle.link().set_port(msg).execute(),
        )
    }
}
