//! Address pools: where a subnet comes from when none is given — the
//! default bridge's at first start and a user network created without
//! `--subnet`. dockerd's `--default-address-pool base=CIDR,size=N`
//! (daemon.json `default-address-pools`): each pool is cut into subnets
//! of prefix `size`, taken in order, skipping any that overlaps an address
//! or route of the daemon's netns or another network.

use std::net::Ipv4Addr;

use ipnet::{IpNet, Ipv4Net};

use crate::error::{EngineError, Result};

/// One `base=CIDR,size=N` pool (IPv4: berthd has no IPv6 pool).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AddressPool {
    pub base: Ipv4Net,
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
        let IpNet::V4(v4) = net else {
            return Err(bad(&what, "IPv6 pools are not supported by berthd"));
        };
        if v4.trunc() != v4 {
            return Err(bad(
                &what,
                format_args!("base {v4} has host bits set, it should be {}", v4.trunc()),
            ));
        }
        // A /31 or /32 has no address for a container besides the gateway.
        if size < i64::from(v4.prefix_len()) || size > 30 {
            return Err(bad(
                &what,
                format_args!("size must be between {} and 30", v4.prefix_len()),
            ));
        }
        Ok(AddressPool {
            base: v4,
            size: size as u8,
        })
    }

    /// The subnets of the pool, in order.
    fn subnets(&self) -> impl Iterator<Item = IpNet> {
        self.base
            .subnets(self.size)
            .into_iter()
            .flatten()
            .map(IpNet::V4)
    }

    /// Whether `net` is one of the subnets this pool hands out.
    pub fn holds(&self, net: &IpNet) -> bool {
        match net {
            IpNet::V4(n) => self.base.contains(n) && n.prefix_len() == self.size,
            IpNet::V6(_) => false,
        }
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

/// berthd's pools when none are configured: the /16s of 172.17.0.0 to
/// 172.31.0.0, then those of 10.0.0.0/8, then 192.168.0.0/16.
pub fn builtin() -> Vec<AddressPool> {
    let pool = |a: [u8; 4], prefix: u8| AddressPool {
        base: Ipv4Net::new(Ipv4Addr::from(a), prefix).unwrap_or_default(),
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

pub(crate) fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The first subnet of `pools` (in order) that overlaps none of `taken`.
pub fn first_free(pools: &[AddressPool], taken: &[IpNet]) -> Option<IpNet> {
    pools
        .iter()
        .flat_map(AddressPool::subnets)
        .find(|c| !taken.iter().any(|t| overlaps(c, t)))
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
            "base=fd00::/48,size=64",
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
            first_free(&pools, &[]).map(|n| n.to_string()).as_deref(),
            Some("10.10.0.0/24")
        );
        let taken = nets(&["10.10.0.0/23", "10.10.2.7/32"]);
        assert_eq!(
            first_free(&pools, &taken).map(|n| n.to_string()).as_deref(),
            Some("10.10.3.0/24")
        );
        // The whole first pool is taken (a host route covers it).
        let taken = nets(&["10.0.0.0/8"]);
        assert_eq!(first_free(&pools, &taken), None);
        let taken = nets(&["10.10.0.0/16", "10.20.0.0/26"]);
        assert_eq!(
            first_free(&pools, &taken).map(|n| n.to_string()).as_deref(),
            Some("10.20.0.64/26")
        );
        assert!(pools[0].holds(&"10.10.7.0/24".parse().expect("net")));
        assert!(!pools[0].holds(&"10.10.0.0/16".parse().expect("net")));
        assert!(!pools[0].holds(&"10.11.0.0/24".parse().expect("net")));
    }

    #[test]
    fn builtin_pools_skip_what_the_host_uses() {
        let b = builtin();
        assert_eq!(
            first_free(&b, &[]).map(|n| n.to_string()).as_deref(),
            Some("172.17.0.0/16")
        );
        let taken = nets(&["172.17.5.0/24", "172.18.0.0/15", "10.0.0.0/8"]);
        assert_eq!(
            first_free(&b, &taken).map(|n| n.to_string()).as_deref(),
            Some("172.20.0.0/16")
        );
        let all172 = nets(&["172.16.0.0/12"]);
        assert_eq!(
            first_free(&b, &all172).map(|n| n.to_string()).as_deref(),
            Some("10.0.0.0/16")
        );
    }
}
