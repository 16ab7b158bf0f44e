//! What the firewall is asked to do, as typed values.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::FirewallError;

/// Transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP (the default).
    #[default]
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// The name nft uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = FirewallError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" | "" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            "sctp" => Ok(Protocol::Sctp),
            other => Err(FirewallError::Invalid {
                what: "protocol",
                detail: format!("{other:?} (expected tcp, udp or sctp)"),
            }),
        }
    }
}

/// One published port: traffic to `host_ip:host_port` (any local address
/// when `host_ip` is `None`) goes to `container_ip:container_port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortMapping {
    /// Protocol.
    pub protocol: Protocol,
    /// Host address to match; every local address when `None`.
    pub host_ip: Option<IpAddr>,
    /// Host port (non-zero).
    pub host_port: u16,
    /// Container address (same family as `host_ip`).
    pub container_ip: IpAddr,
    /// Container port (non-zero).
    pub container_port: u16,
}

impl PortMapping {
    /// `host_port` on every host address → `container_ip:container_port`.
    pub fn new(
        protocol: Protocol,
        host_port: u16,
        container_ip: IpAddr,
        container_port: u16,
    ) -> Self {
        PortMapping {
            protocol,
            host_ip: None,
            host_port,
            container_ip,
            container_port,
        }
    }

    pub(crate) fn check(&self) -> Result<(), FirewallError> {
        if self.host_port == 0 || self.container_port == 0 {
            return Err(FirewallError::Invalid {
                what: "port mapping",
                detail: format!("{self}: port 0"),
            });
        }
        if let Some(h) = self.host_ip {
            if h.is_ipv4() != self.container_ip.is_ipv4() {
                return Err(FirewallError::Invalid {
                    what: "port mapping",
                    detail: format!("{self}: host and container addresses differ in family"),
                });
            }
        }
        Ok(())
    }
}

impl fmt::Display for PortMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host_ip {
            Some(IpAddr::V6(h)) => write!(f, "[{h}]:")?,
            Some(IpAddr::V4(h)) => write!(f, "{h}:")?,
            None => {}
        }
        write!(f, "{}/{} -> ", self.host_port, self.protocol)?;
        match self.container_ip {
            IpAddr::V6(c) => write!(f, "[{c}]:{}", self.container_port),
            IpAddr::V4(c) => write!(f, "{c}:{}", self.container_port),
        }
    }
}

/// A network's firewall settings, applied when it is created and removed
/// when it is deleted (not per attach).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NetworkRules {
    /// The network's bridge; required for isolation.
    pub bridge: Option<String>,
    /// The network's subnets.
    pub subnets: Vec<IpNet>,
    /// Masquerade traffic from the subnets to other destinations.
    pub masquerade: bool,
    /// Isolate this network from every other isolated berth network.
    pub isolate: bool,
    /// Inter-container communication off: its containers reach each other
    /// only through published ports or [`IccOpening`]s (needs `bridge`).
    #[serde(default)]
    pub block_icc: bool,
    /// The network's gateway addresses (local: where DNAT may happen).
    /// With them, traffic between two of its containers is not tracked
    /// (see [`NetworkRules::untracked`]); empty: everything is tracked.
    #[serde(default)]
    pub gateways: Vec<IpAddr>,
}

impl NetworkRules {
    /// Whether container-to-container traffic of this network skips
    /// conntrack: it must masquerade (its hairpin answers then come back
    /// routed, through the gateway) and allow ICC (the ICC rule reads
    /// connection state), and its gateways must be known.
    pub fn untracked(&self) -> bool {
        self.masquerade && !self.block_icc && !self.gateways.is_empty() && self.bridge.is_some()
    }
}

/// A hole in a network's ICC-off rule: `client` may reach `server`'s
/// `port` (and get its answers), as dockerd opens one for a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IccOpening {
    /// The connecting container's address.
    pub client: std::net::Ipv4Addr,
    /// The serving container's address.
    pub server: std::net::Ipv4Addr,
    /// Protocol.
    pub protocol: Protocol,
    /// The server's port.
    pub port: u16,
}

impl fmt::Display for IccOpening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} -> {}:{}/{}",
            self.client, self.server, self.port, self.protocol
        )
    }
}

/// Interface names go into nft scripts inside quotes: allow only what link
/// names are made of in practice.
pub(crate) fn check_nft_ifname(name: &str) -> Result<(), FirewallError> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if ok {
        Ok(())
    } else {
        Err(FirewallError::Invalid {
            what: "interface name",
            detail: format!("{name:?} (1-15 of A-Z a-z 0-9 - _ . @)"),
        })
    }
}
