//! The default network `bridge` as the daemon's options make it, as
//! dockerd's: `--bip` (gateway address and prefix), `--fixed-cidr` (where
//! container addresses come from; the subnet when `--bip` is not given),
//! `--mtu` (bridge and veths), `--default-address-pool` (where the
//! subnet comes from when neither is given), `--icc` and `--ipv6` with
//! `--fixed-cidr-v6` (its IPv6 subnet; from the IPv6 pools without it).

use std::collections::HashMap;

use ipnet::IpNet;

use std::net::IpAddr;

use super::{first_host, now, NetworkDef, DEFAULT_BRIDGE, DEFAULT_NETWORK};
use crate::error::{EngineError, Result};
use crate::network::pools::{self, AddressPool};

/// Docker's MTU when `--mtu` is not given.
pub const DEFAULT_MTU: u32 = 1500;
pub(super) const MTU_OPTION: &str = "com.docker.network.driver.mtu";
pub(super) const MASQ_OPTION: &str = "com.docker.network.bridge.enable_ip_masquerade";
pub(super) const ICC_OPTION: &str = "com.docker.network.bridge.enable_icc";
const NAME_OPTION: &str = "com.docker.network.bridge.name";

/// The daemon's networking options the bridge driver needs, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BridgeOptions {
    /// `--bip`: the default bridge's gateway and prefix.
    pub bip: Option<IpNet>,
    /// `--fixed-cidr`: the default bridge's address range.
    pub fixed_cidr: Option<IpNet>,
    /// `--mtu`: the default bridge's MTU (1500 when None).
    pub mtu: Option<u32>,
    /// `--default-address-pool`; empty: berthd's built-in pools.
    pub pools: Vec<AddressPool>,
    /// `--ip-masq`: the default bridge's outbound masquerade (None: on).
    pub ip_masq: Option<bool>,
    /// `--icc`: traffic between containers of the default bridge (None: on).
    pub icc: Option<bool>,
    /// `--ipv6`: the default bridge gets an IPv6 subnet too.
    pub ipv6: bool,
    /// `--fixed-cidr-v6`: the default bridge's IPv6 subnet (with `--ipv6`).
    pub fixed_cidr_v6: Option<IpNet>,
    /// `--iptables=false`: berthd installs no firewall rules at all
    /// (None: it does).
    pub iptables: Option<bool>,
    /// `--ip-forward=false`: berthd leaves the forwarding sysctls alone
    /// (None: it turns them on).
    pub ip_forward: Option<bool>,
}

impl BridgeOptions {
    /// The pools subnets are chosen from: the configured ones (berthd's
    /// built-in IPv4 pools when none is), and `ula` when no IPv6 pool is
    /// configured, as dockerd.
    pub fn pools(&self, ula: AddressPool) -> Vec<AddressPool> {
        let mut out = if self.pools.is_empty() {
            pools::builtin()
        } else {
            self.pools.clone()
        };
        if !out.iter().any(AddressPool::is_ipv6) {
            out.push(ula);
        }
        out
    }

    /// Whether berthd programs its nftables table.
    pub fn firewall(&self) -> bool {
        self.iptables.unwrap_or(true)
    }
}

/// Parses `--bip` or `--fixed-cidr` (`ADDRESS/PREFIX`).
pub fn parse_cidr(flag: &str, s: &str) -> Result<IpNet> {
    s.parse()
        .map_err(|_| EngineError::Invalid(format!("invalid {flag} {s:?} (want ADDRESS/PREFIX)")))
}

/// A boolean network option as dockerd reads one (Go's `ParseBool`).
pub(super) fn parse_bool(what: &str, v: &str) -> Result<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(EngineError::Invalid(format!(
            "invalid value {v:?} for {what}: want true or false"
        ))),
    }
}

/// Parses an MTU as dockerd takes it (`--mtu`, `-o com.docker.network.driver.mtu`).
pub fn parse_mtu(s: &str) -> Result<u32> {
    match s.trim().parse::<u32>() {
        // 68 is IPv4's minimum; 65535 the largest a veth takes.
        Ok(m) if (68..=65535).contains(&m) => Ok(m),
        _ => Err(EngineError::Invalid(format!(
            "invalid MTU {s:?}: want a number from 68 to 65535"
        ))),
    }
}

/// Parses and checks `--fixed-cidr-v6`.
pub fn parse_fixed_cidr_v6(s: &str) -> Result<IpNet> {
    let n: IpNet = s.parse().map_err(|_| {
        EngineError::Invalid(format!(
            "invalid fixed-cidr-v6: {s:?} is not an IPv6 ADDRESS/PREFIX"
        ))
    })?;
    if n.addr().is_ipv4() {
        return Err(EngineError::Invalid(format!(
            "invalid fixed-cidr-v6: {s} is not an IPv6 subnet"
        )));
    }
    if n.prefix_len() > 120 {
        return Err(EngineError::Invalid(format!(
            "invalid fixed-cidr-v6: {s} is too small (at most /120)"
        )));
    }
    Ok(n.trunc())
}

/// The default network's IPv6 subnet and gateway: `--fixed-cidr-v6`, else
/// the stored one while it is in the pools, else the first free subnet of
/// the IPv6 pools.
fn wanted_v6(
    opts: &BridgeOptions,
    pools: &[AddressPool],
    stored: Option<&NetworkDef>,
    taken: impl Fn() -> Result<Vec<IpNet>>,
) -> Result<(Option<IpNet>, Option<IpAddr>)> {
    if !opts.ipv6 {
        return Ok((None, None));
    }
    let subnet6 = match (opts.fixed_cidr_v6, stored.and_then(|s| s.subnet6)) {
        (Some(f), _) => f.trunc(),
        (None, Some(s6)) if pools.iter().any(|p| p.holds(&s6)) => s6,
        (None, _) => pools::first_free(pools, true, &taken()?).ok_or_else(|| {
            EngineError::Internal(
                "no free IPv6 subnet for the default bridge in the default address pools".into(),
            )
        })?,
    };
    let gateway6 = match stored {
        Some(s) if s.subnet6 == Some(subnet6) => s.gateway6,
        _ => None,
    };
    Ok((
        Some(subnet6),
        Some(gateway6.unwrap_or(super::gateway6_of(&subnet6))),
    ))
}

/// The default network the options ask for, or None when `stored` is it
/// already. `taken` gives the subnets in use (host addresses and routes,
/// other networks); it is called only when a subnet must be chosen.
pub(super) fn wanted(
    opts: &BridgeOptions,
    pools: &[AddressPool],
    stored: Option<&NetworkDef>,
    taken: impl Fn() -> Result<Vec<IpNet>>,
) -> Result<Option<NetworkDef>> {
    if let Some(b) = opts.bip.filter(|b| b.addr().is_ipv6()) {
        return Err(EngineError::Invalid(format!(
            "--bip {b}: an IPv4 address is needed"
        )));
    }
    let fixed = match opts.fixed_cidr {
        Some(f) if f.addr().is_ipv6() => {
            return Err(EngineError::Invalid(format!(
                "--fixed-cidr {f}: an IPv4 subnet is needed"
            )))
        }
        f => f.map(|f| f.trunc()),
    };
    let (subnet, gateway) = if let Some(bip) = opts.bip {
        (bip.trunc(), bip.addr())
    } else if let Some(f) = fixed {
        // As dockerd: a bridge address that holds the range stays.
        match stored {
            Some(s) if s.subnet.contains(&f) => (s.subnet, s.gateway),
            _ => (f, first_host(&f)?),
        }
    } else {
        let keep =
            |s: &NetworkDef| opts.pools.is_empty() || pools.iter().any(|p| p.holds(&s.subnet));
        match stored {
            Some(s) if keep(s) => (s.subnet, s.gateway),
            _ => {
                let subnet = pools::first_free(pools, false, &taken()?).ok_or_else(|| {
                    EngineError::Internal(
                        "no free subnet for the default bridge in the default address pools".into(),
                    )
                })?;
                (subnet, first_host(&subnet)?)
            }
        }
    };
    if !subnet.contains(&gateway) || subnet.network() == gateway || subnet.broadcast() == gateway {
        return Err(EngineError::Invalid(format!(
            "--bip {gateway}/{}: not a host address of its subnet",
            subnet.prefix_len()
        )));
    }
    if let Some(f) = fixed {
        if !subnet.contains(&f) {
            return Err(EngineError::Invalid(format!(
                "--fixed-cidr {f} is not within the default bridge's subnet {subnet}"
            )));
        }
    }
    let (subnet6, gateway6) = wanted_v6(opts, pools, stored, &taken)?;
    let mtu = opts.mtu.unwrap_or(DEFAULT_MTU);
    let options = HashMap::from([
        (NAME_OPTION.to_owned(), DEFAULT_BRIDGE.to_owned()),
        (MTU_OPTION.to_owned(), mtu.to_string()),
        (
            MASQ_OPTION.to_owned(),
            opts.ip_masq.unwrap_or(true).to_string(),
        ),
        (ICC_OPTION.to_owned(), opts.icc.unwrap_or(true).to_string()),
    ]);
    if let Some(s) = stored {
        if s.subnet == subnet
            && s.gateway == gateway
            && s.ip_range == fixed
            && s.options == options
            && s.subnet6 == subnet6
            && s.gateway6 == gateway6
        {
            return Ok(None);
        }
    }
    Ok(Some(NetworkDef {
        id: match stored {
            Some(s) => s.id.clone(),
            None => crate::ids::new_id()?,
        },
        name: DEFAULT_NETWORK.into(),
        bridge: DEFAULT_BRIDGE.into(),
        subnet,
        gateway,
        internal: false,
        created: stored.map(|s| s.created.clone()).unwrap_or_else(now),
        ip_range: fixed,
        attachable: false,
        labels: HashMap::new(),
        options,
        subnet6,
        gateway6,
        aux: HashMap::new(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().expect("net")
    }

    fn ula() -> AddressPool {
        pools::ula(0xab_cdef_0123)
    }

    fn made(opts: &BridgeOptions, stored: Option<&NetworkDef>, taken: &[&str]) -> NetworkDef {
        let t: Vec<IpNet> = taken.iter().map(|s| net(s)).collect();
        wanted(opts, &opts.pools(ula()), stored, || Ok(t.clone()))
            .expect("wanted")
            .expect("a new default network")
    }

    #[test]
    fn subnet_from_bip_fixed_cidr_or_pools() {
        let d = made(&BridgeOptions::default(), None, &["172.17.0.0/24"]);
        assert_eq!(
            (d.subnet, d.gateway.to_string()),
            (net("172.18.0.0/16"), "172.18.0.1".into())
        );
        assert_eq!(d.options[MTU_OPTION], "1500");
        let bip = BridgeOptions {
            bip: Some(net("10.5.0.9/24")),
            fixed_cidr: Some(net("10.5.0.128/25")),
            mtu: Some(1400),
            ..Default::default()
        };
        let d = made(&bip, None, &[]);
        assert_eq!(d.subnet, net("10.5.0.0/24"));
        assert_eq!(d.gateway.to_string(), "10.5.0.9");
        assert_eq!(d.ip_range, Some(net("10.5.0.128/25")));
        assert_eq!(d.options[MTU_OPTION], "1400");
        // Stored as asked: nothing to change.
        assert!(wanted(&bip, &bip.pools(ula()), Some(&d), || Ok(vec![]))
            .expect("w")
            .is_none());
        // --ip-masq=false: re-made, masquerade off in its options.
        let no_masq = BridgeOptions {
            ip_masq: Some(false),
            ..bip.clone()
        };
        let m = made(&no_masq, Some(&d), &[]);
        assert_eq!(m.options[MASQ_OPTION], "false");
        assert!(!m.rules().masquerade && d.rules().masquerade);
        let fixed = BridgeOptions {
            fixed_cidr: Some(net("10.6.1.0/24")),
            ..Default::default()
        };
        let f = made(&fixed, None, &[]);
        assert_eq!(
            (f.subnet, f.gateway.to_string()),
            (net("10.6.1.0/24"), "10.6.1.1".into())
        );
        // A stored subnet that holds the range stays.
        let wide = made(
            &BridgeOptions {
                bip: Some(net("10.6.0.1/16")),
                ..Default::default()
            },
            None,
            &[],
        );
        let kept = made(&fixed, Some(&wide), &[]);
        assert_eq!(kept.subnet, net("10.6.0.0/16"));
        assert_eq!(kept.id, wide.id);
        let pooled = BridgeOptions {
            pools: vec!["base=10.90.0.0/16,size=24".parse().expect("pool")],
            ..Default::default()
        };
        // The stored 172.17/16 is outside the pool: a new subnet from it.
        let old = made(&BridgeOptions::default(), None, &[]);
        let p = made(&pooled, Some(&old), &["10.90.0.0/24"]);
        assert_eq!(p.subnet, net("10.90.1.0/24"));
        assert!(
            wanted(&pooled, &pooled.pools(ula()), Some(&p), || Ok(vec![]))
                .expect("w")
                .is_none()
        );
    }

    #[test]
    fn icc_and_ipv6_of_the_default_bridge() {
        let d = made(&BridgeOptions::default(), None, &[]);
        assert_eq!(d.options[ICC_OPTION], "true");
        assert_eq!(d.subnet6, None);
        let off = BridgeOptions {
            icc: Some(false),
            ..Default::default()
        };
        let o = made(&off, Some(&d), &[]);
        assert_eq!(o.options[ICC_OPTION], "false");
        assert!(o.rules().block_icc && !d.rules().block_icc);
        // --ipv6 --fixed-cidr-v6: that subnet, gateway ::1 of it.
        let fixed = BridgeOptions {
            ipv6: true,
            fixed_cidr_v6: Some(net("fd00:beef::/64")),
            ..Default::default()
        };
        let f = made(&fixed, Some(&d), &[]);
        assert_eq!(f.subnet6, Some(net("fd00:beef::/64")));
        assert_eq!(
            f.gateway6.map(|g| g.to_string()).as_deref(),
            Some("fd00:beef::1")
        );
        assert_eq!(f.subnet, d.subnet);
        // --ipv6 alone: the first free /64 of the ULA pool, kept at restart.
        let pooled = BridgeOptions {
            ipv6: true,
            ..Default::default()
        };
        let p = made(&pooled, None, &["fdab:cdef:123::/64"]);
        assert_eq!(p.subnet6, Some(net("fdab:cdef:123:1::/64")));
        assert!(
            wanted(&pooled, &pooled.pools(ula()), Some(&p), || Ok(vec![]))
                .expect("w")
                .is_none()
        );
    }

    #[test]
    fn bad_options_are_refused() {
        let outside = BridgeOptions {
            bip: Some(net("10.5.0.1/24")),
            fixed_cidr: Some(net("10.6.0.0/24")),
            ..Default::default()
        };
        let w = |o: &BridgeOptions, taken: Vec<IpNet>| {
            wanted(o, &o.pools(ula()), None, move || Ok(taken.clone()))
        };
        assert!(w(&outside, vec![]).is_err());
        let network_addr = BridgeOptions {
            bip: Some(net("10.5.0.0/24")),
            ..Default::default()
        };
        assert!(w(&network_addr, vec![]).is_err());
        let full = BridgeOptions {
            pools: vec!["base=10.90.0.0/24,size=24".parse().expect("pool")],
            ..Default::default()
        };
        assert!(w(&full, vec![net("10.0.0.0/8")]).is_err());
        let full6 = BridgeOptions {
            ipv6: true,
            pools: vec![
                "base=10.90.0.0/24,size=24".parse().expect("pool"),
                "base=fd00:9::/64,size=64".parse().expect("pool"),
            ],
            ..Default::default()
        };
        let e = w(&full6, vec![net("fd00:9::/64")]).expect_err("v6 pool used up");
        assert!(e.to_string().contains("no free IPv6 subnet"), "{e}");
        assert!(parse_fixed_cidr_v6("10.0.0.0/24").is_err());
        assert!(parse_fixed_cidr_v6("fd00::/121").is_err());
        assert!(parse_fixed_cidr_v6("nope").is_err());
        assert!(parse_mtu("67").is_err() && parse_mtu("x").is_err());
        assert_eq!(parse_mtu("9000").expect("mtu"), 9000);
    }
}
