//! IPAM configuration in host-local's shape, parsed and checked once.
//!
//! The serde form matches the CNI host-local plugin's `ipam` section
//! (`ranges: [[{subnet, rangeStart, rangeEnd, gateway}]]`, `routes: [{dst,
//! gw}]`), so a CNI config deserializes straight into [`IpamConfig`]; call
//! [`IpamConfig::validate`] before use.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::IpamError;

/// One address range inside a subnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Range {
    /// The subnet (its host bits are cleared by validation).
    pub subnet: IpNet,
    /// First address handed out; default: the subnet's first host address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_start: Option<IpAddr>,
    /// Last address handed out; default: the last host address (IPv4 leaves
    /// out the broadcast address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_end: Option<IpAddr>,
    /// The gateway, never handed out; default: the subnet's first host
    /// address, as host-local does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
}

/// A set of ranges of one family; an attachment gets one address per set.
pub type RangeSet = Vec<Range>;

/// A route handed to the container with its addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamRoute {
    /// Destination.
    pub dst: IpNet,
    /// Next hop; the interface's gateway when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<IpAddr>,
}

/// Host-local-style IPAM configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamConfig {
    /// Range sets (typically one IPv4 and one IPv6).
    #[serde(default)]
    pub ranges: Vec<RangeSet>,
    /// Routes to report.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<IpamRoute>,
}

/// A checked range, as integers for arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CheckedRange {
    pub subnet: IpNet,
    pub start: u128,
    pub end: u128,
    pub gateway: Option<IpAddr>,
}

pub(crate) fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

pub(crate) fn from_u128(v: u128, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(v.into())
    } else {
        // Values come from v4 ranges, so they fit; saturate rather than panic.
        IpAddr::V4(u32::try_from(v).unwrap_or(u32::MAX).into())
    }
}

impl Range {
    /// A range covering `subnet` with every default.
    pub fn subnet(subnet: IpNet) -> Self {
        Range {
            subnet,
            range_start: None,
            range_end: None,
            gateway: None,
        }
    }

    pub(crate) fn check(&self, set: usize, idx: usize) -> Result<CheckedRange, IpamError> {
        let field = |f: &str| format!("ranges[{set}][{idx}].{f}");
        let subnet = self.subnet.trunc();
        let v6 = subnet.addr().is_ipv6();
        let net = to_u128(subnet.network());
        let last = to_u128(subnet.broadcast());
        // Smallest subnets have no room once network/broadcast are left out.
        let (first_host, last_host) = match (v6, subnet.prefix_len()) {
            (false, 32) | (true, 128) => (net, last),
            (false, 31) => (net, last),
            (false, _) => (net + 1, last - 1),
            (true, _) => (net + 1, last),
        };
        let inside = |ip: IpAddr, what: &str| -> Result<u128, IpamError> {
            if ip.is_ipv6() != v6 || !subnet.contains(&ip) {
                return Err(IpamError::Config {
                    field: field(what),
                    detail: format!("{ip} is not in subnet {subnet}"),
                });
            }
            Ok(to_u128(ip))
        };
        let start = match self.range_start {
            Some(ip) => inside(ip, "rangeStart")?,
            None => first_host,
        };
        let end = match self.range_end {
            Some(ip) => inside(ip, "rangeEnd")?,
            None => last_host,
        };
        if start > end {
            return Err(IpamError::Config {
                field: field("rangeEnd"),
                detail: format!(
                    "{} is before rangeStart {}",
                    from_u128(end, v6),
                    from_u128(start, v6)
                ),
            });
        }
        let gateway = match self.gateway {
            Some(gw) => {
                inside(gw, "gateway")?;
                Some(gw)
            }
            None if first_host != net => Some(from_u128(first_host, v6)),
            None => None,
        };
        Ok(CheckedRange {
            subnet,
            start,
            end,
            gateway,
        })
    }
}

impl CheckedRange {
    pub(crate) fn v6(&self) -> bool {
        self.subnet.addr().is_ipv6()
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv6() == self.v6() && (self.start..=self.end).contains(&to_u128(ip))
    }

    fn overlaps(&self, other: &CheckedRange) -> bool {
        self.v6() == other.v6() && self.start <= other.end && other.start <= self.end
    }
}

impl IpamConfig {
    /// One range set per subnet, every default.
    pub fn from_subnets(subnets: &[IpNet]) -> Self {
        IpamConfig {
            ranges: subnets.iter().map(|s| vec![Range::subnet(*s)]).collect(),
            routes: Vec::new(),
        }
    }

    /// Checks every range (addresses inside their subnet, start before end,
    /// one family per set, no overlaps anywhere) and returns the checked
    /// form. Errors name the field (`ranges[0][1].rangeStart`).
    pub(crate) fn check(&self) -> Result<Vec<Vec<CheckedRange>>, IpamError> {
        if self.ranges.is_empty() {
            return Err(IpamError::Config {
                field: "ranges".into(),
                detail: "no range set given".into(),
            });
        }
        let mut all: Vec<(String, CheckedRange)> = Vec::new();
        let mut sets = Vec::new();
        for (s, set) in self.ranges.iter().enumerate() {
            if set.is_empty() {
                return Err(IpamError::Config {
                    field: format!("ranges[{s}]"),
                    detail: "empty range set".into(),
                });
            }
            let mut checked = Vec::new();
            for (i, r) in set.iter().enumerate() {
                let c = r.check(s, i)?;
                if let Some(first) = checked.first() {
                    let first: &CheckedRange = first;
                    if first.v6() != c.v6() {
                        return Err(IpamError::Config {
                            field: format!("ranges[{s}][{i}].subnet"),
                            detail: "mixes IPv4 and IPv6 in one range set".into(),
                        });
                    }
                }
                if let Some((name, _)) = all.iter().find(|(_, o)| o.overlaps(&c)) {
                    return Err(IpamError::Config {
                        field: format!("ranges[{s}][{i}]"),
                        detail: format!("overlaps {name}"),
                    });
                }
                all.push((format!("ranges[{s}][{i}]"), c));
                checked.push(c);
            }
            sets.push(checked);
        }
        for (i, r) in self.routes.iter().enumerate() {
            if let Some(gw) = r.gw {
                if gw.is_ipv6() != r.dst.addr().is_ipv6() {
                    return Err(IpamError::Config {
                        field: format!("routes[{i}].gw"),
                        detail: format!("{gw} is not of the family of {}", r.dst),
                    });
                }
            }
        }
        Ok(sets)
    }

    /// Checks the configuration (see the module docs); the error names the
    /// offending field.
    pub fn validate(&self) -> Result<(), IpamError> {
        self.check().map(|_| ())
    }
}
