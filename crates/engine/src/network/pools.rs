//! Address pools: where a subnet comes from when none is given — the
//! default bridge's at first start and a user network created without
//! `--subnet`. dockerd's `--default-address-pool base=CIDR,size=N`
//! (daemon.json `default-address-pools`): each pool is cut into subnets
//! of prefix `size`, taken in order, skipping any that overlaps an address
//! or route of the daemon's netns or another network. Pools of both
//! families may be mixed (as dockerd ≥ 27): an IPv4 subnet comes from the
//! IPv4 pools, an IPv6 one (`--ipv6` without an IPv6 `--subnet`) from the
//! IPv6 pools — when none is configured, from a ULA /48 of berthd's own
//! (RFC 4193: `fd` and a random 40-bit global ID, kept in its store),
//! cut into /64s.

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::error::{EngineError, Result};

/// One `base=CIDR,size=N` pool, IPv4 or IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AddressPool {
    pub base: IpNet,
    /// The prefix length of the subnets cut from `base`.
    pub size: u8,
}

fn bad(what: &str, why: impl std::fmt::Display) -> EngineError {
    EngineError::Invalid(format!("invalid default address pool {what}: {why}"))
}

impl AddressPool {
    /// Checks a pool as given in daemon.json or a flag.
    pub fn new(base: &str, size: i64) -> Result<AddressPool> {
        let what = format!("base={base},size={size}");
        let net: IpNet = base
            .parse()
            .map_err(|_| bad(&what, format_args!("invalid base prefix {base:?}")))?;
        if net.trunc() != net {
            return Err(bad(
                &what,
                format_args!("base {net} has host bits set, it should be {}", net.trunc()),
            ));
        }
        // An IPv4 /31 or /32 has no address for a container besides the
        // gateway; berth's IPv6 subnets are at most /120 (as `--subnet`).
        let max = if net.addr().is_ipv4() { 30 } else { 120 };
        if size < i64::from(net.prefix_len()) || size > max {
            return Err(bad(
                &what,
                format_args!("size must be between {} and {max}", net.prefix_len()),
            ));
        }
        Ok(AddressPool {
            base: net,
            size: size as u8,
        })
    }

    /// Whether the pool hands out IPv6 subnets.
    pub fn is_ipv6(&self) -> bool {
        self.base.addr().is_ipv6()
    }

    /// Whether `net` is one of the subnets this pool hands out.
    pub fn holds(&self, net: &IpNet) -> bool {
        self.base.contains(net) && net.prefix_len() == self.size
    }
}

impl std::str::FromStr for AddressPool {
    type Err = EngineError;

    /// `base=10.10.0.0/16,size=24` (the `--default-address-pool` flag).
    fn from_str(s: &str) -> Result<AddressPool> {
        let (mut base, mut size) = (None, None);
        for field in s.split(',') {
            let (k, v) = field
                .split_once('=')
                .ok_or_else(|| bad(s, format_args!("field {field:?} must be a key=value pair")))?;
            match k.trim() {
                "base" => base = Some(v.trim().to_owned()),
                "size" => {
                    size = Some(
                        v.trim()
                            .parse::<i64>()
                            .map_err(|_| bad(s, format_args!("size {v:?} must be an integer")))?,
                    )
                }
                other => return Err(bad(s, format_args!("unexpected key {other:?}"))),
            }
        }
        match (base, size) {
            (Some(b), Some(n)) => AddressPool::new(&b, n),
            _ => Err(bad(s, "want base=CIDR,size=N")),
        }
    }
}

impl std::fmt::Display for AddressPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "base={},size={}", self.base, self.size)
    }
}

/// berthd's IPv4 pools when none are configured: the /16s of 172.17.0.0
/// to 172.31.0.0, then those of 10.0.0.0/8, then 192.168.0.0/16.
pub fn builtin() -> Vec<AddressPool> {
    let pool = |a: [u8; 4], prefix: u8| AddressPool {
        base: IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), prefix).unwrap_or_default()),
        size: 16,
    };
    vec![
        pool([172, 17, 0, 0], 16),
        pool([172, 18, 0, 0], 15),
        pool([172, 20, 0, 0], 14),
        pool([172, 24, 0, 0], 13),
        pool([10, 0, 0, 0], 8),
        pool([192, 168, 0, 0], 16),
    ]
}

/// The ULA pool berthd uses when no IPv6 pool is configured: the /48
/// `fdXX:XXXX:XXXX::/48` of a 40-bit global ID, cut into /64s (dockerd
/// derives its ID from its host ID; berthd draws it once and stores it).
pub fn ula(global_id: u64) -> AddressPool {
    let gid = u128::from(global_id & ((1 << 40) - 1));
    let addr = Ipv6Addr::from((0xfd_u128 << 120) | (gid << 80));
    AddressPool {
        base: IpNet::V6(Ipv6Net::new(addr, 48).unwrap_or_default()),
        size: 64,
    }
}

pub(crate) fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// An address as a number, with its family's width in bits.
fn num(a: std::net::IpAddr) -> (u128, u32) {
    match a {
        std::net::IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
        std::net::IpAddr::V6(v6) => (u128::from(v6), 128),
    }
}

/// The first and one-past-last address of a subnet, as numbers (the end
/// saturates at the top of the address space).
fn span(n: &IpNet) -> (u128, u128) {
    let (start, bits) = num(n.trunc().network());
    let host_bits = bits - u32::from(n.prefix_len());
    let len = 1u128.checked_shl(host_bits).unwrap_or(u128::MAX);
    (start, start.saturating_add(len))
}

fn net_at(start: u128, ipv6: bool, prefix: u8) -> Option<IpNet> {
    let addr = if ipv6 {
        std::net::IpAddr::V6(Ipv6Addr::from(start))
    } else {
        std::net::IpAddr::V4(Ipv4Addr::from(u32::try_from(start).ok()?))
    };
    IpNet::new(addr, prefix).ok()
}

/// The first subnet of `pool` that overlaps none of `taken`: a taken
/// range is jumped over whole, so a large IPv6 pool (2^56 /64s in a /8)
/// costs no more than an IPv4 one.
fn first_free_in(pool: &AddressPool, taken: &[IpNet]) -> Option<IpNet> {
    let ipv6 = pool.is_ipv6();
    let (mut at, end) = span(&pool.base);
    let (_, bits) = num(pool.base.addr());
    let step = 1u128
        .checked_shl(bits - u32::from(pool.size))
        .unwrap_or(u128::MAX);
    while at < end {
        let cand_end = at.saturating_add(step);
        let clash = taken
            .iter()
            .filter(|t| t.addr().is_ipv6() == ipv6)
            .map(span)
            .filter(|(s, e)| *s < cand_end && at < *e)
            .map(|(_, e)| e)
            .max();
        match clash {
            None => return net_at(at, ipv6, pool.size),
            // Past the clash, at the next subnet boundary.
            Some(e) => at = e.max(cand_end).div_ceil(step).saturating_mul(step),
        }
    }
    None
}

/// The first subnet of `pools` of the family asked for (in order) that
/// overlaps none of `taken`.
pub fn first_free(pools: &[AddressPool], ipv6: bool, taken: &[IpNet]) -> Option<IpNet> {
    pools
        .iter()
        .filter(|p| p.is_ipv6() == ipv6)
        .find_map(|p| first_free_in(p, taken))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(v: &[&str]) -> Vec<IpNet> {
        v.iter().map(|s| s.parse().expect("net")).collect()
    }

    #[test]
    fn flag_form_parses_and_bad_pools_are_refused() {
        let p: AddressPool = "base=10.10.0.0/16,size=24".parse().expect("pool");
        assert_eq!(p.base.to_string(), "10.10.0.0/16");
        assert_eq!(p.size, 24);
        assert_eq!(p.to_string(), "base=10.10.0.0/16,size=24");
        for bad in [
            "base=10.10.0.0/16",
            "base=10.10.0.0/16,size=8",
            "base=10.10.0.0/16,size=31",
            "base=10.10.1.0/16,size=24",
            "base=fd00::/48,size=121",
            "base=fd00::1/48,size=64",
            "base=nope,size=24",
            "base=10.10.0.0/16,size=x",
            "base=10.10.0.0/16,size=24,color=red",
        ] {
            assert!(bad.parse::<AddressPool>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn subnets_come_in_order_skipping_what_is_taken() {
        let pools: Vec<AddressPool> = ["base=10.10.0.0/16,size=24", "base=10.20.0.0/24,size=26"]
            .iter()
            .map(|s| s.parse().expect("pool"))
            .collect();
        assert_eq!(
            first_free(&pools, false, &[])
                .map(|n| n.to_string())
                .as_deref(),
            Some("10.10.0.0/24")
        );
        let taken = nets(&["10.10.0.0/23", "10.10.2.7/32"]);
        assert_eq!(
            first_free(&pools, false, &taken)
                .map(|n| n.to_string())
                .as_deref(),
            Some("10.10.3.0/24")
        );
        // The whole first pool is taken (a host route covers it).
        let taken = nets(&["10.0.0.0/8"]);
        assert_eq!(first_free(&pools, false, &taken), None);
        let taken = nets(&["10.10.0.0/16", "10.20.0.0/26"]);
        assert_eq!(
            first_free(&pools, false, &taken)
                .map(|n| n.to_string())
                .as_deref(),
            Some("10.20.0.64/26")
        );
        assert!(pools[0].holds(&"10.10.7.0/24".parse().expect("net")));
        assert!(!pools[0].holds(&"10.10.0.0/16".parse().expect("net")));
        assert!(!pools[0].holds(&"10.11.0.0/24".parse().expect("net")));
    }

    #[test]
    fn ipv6_pools_mix_with_ipv4_ones() {
        let pools: Vec<AddressPool> = [
            "base=10.10.0.0/16,size=24",
            "base=fd00:1::/48,size=64",
            "base=fd00:2::/120,size=121",
        ]
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
        assert_eq!(pools.len(), 2, "size 121 is refused");
        let v6 = |taken: &[IpNet]| first_free(&pools, true, taken).map(|n| n.to_string());
        assert_eq!(v6(&[]).as_deref(), Some("fd00:1::/64"));
        assert_eq!(
            first_free(&pools, false, &[])
                .map(|n| n.to_string())
                .as_deref(),
            Some("10.10.0.0/24")
        );
        // IPv4 networks never use up an IPv6 pool.
        assert_eq!(v6(&nets(&["10.0.0.0/8"])).as_deref(), Some("fd00:1::/64"));
        assert_eq!(
            v6(&nets(&["fd00:1::/64", "fd00:1:0:1::5/128"])).as_deref(),
            Some("fd00:1:0:2::/64")
        );
        // A taken /49 is jumped over, not walked /64 by /64.
        assert_eq!(
            v6(&nets(&["fd00:1::/49"])).as_deref(),
            Some("fd00:1:0:8000::/64")
        );
        assert_eq!(v6(&nets(&["fd00::/16"])), None);
        let ula = ula(0x12_3456_789a);
        assert_eq!(ula.to_string(), "base=fd12:3456:789a::/48,size=64");
        assert!(ula.holds(&"fd12:3456:789a:5::/64".parse().expect("net")));
    }

    #[test]
    fn builtin_pools_skip_what_the_host_uses() {
        let b = builtin();
        assert_eq!(
            first_free(&b, false, &[]).map(|n| n.to_string()).as_deref(),
            Some("172.17.0.0/16")
        );
        let taken = nets(&["172.17.5.0/24", "172.18.0.0/15", "10.0.0.0/8"]);
        assert_eq!(
            first_free(&b, false, &taken)
                .map(|n| n.to_string())
                .as_deref(),
            Some("172.20.0.0/16")
        );
        let all172 = nets(&["172.16.0.0/12"]);
        assert_eq!(
            first_free(&b, false, &all172)
                .map(|n| n.to_string())
                .as_deref(),
            Some("10.0.0.0/16")
        );
    }
}
