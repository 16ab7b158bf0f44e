//! berth's own nftables table: masquerade, published ports, isolation.
//!
//! berth owns exactly one table, `inet berth` (the name is configurable for
//! tests), and never reads, flushes or edits any other. Everything per
//! container or per network is an *element* of a set or map in that table,
//! so the rules themselves are fixed and the cost of an attach does not grow
//! with the number of containers or ports already published:
//!
//! - `dnat4`/`dnat6` (`host ip . proto . port → container ip . port`) and
//!   `dnat4_any`/`dnat6_any` (`proto . port → ...`, any local address),
//!   looked up from the nat `prerouting` and `output` hooks for packets to
//!   local addresses (so the host itself and `localhost` reach published
//!   ports too — the latter with `route_localnet` set on the bridge, and
//!   the 127/8 source masqueraded after DNAT, one fixed rule; IPv6 `::1`
//!   cannot: the kernel has no `route_localnet` for IPv6 and never lets
//!   `::1` leave `lo`);
//! - `masq4`/`masq6`: subnets whose traffic to anything outside them is
//!   masqueraded; DNATed traffic from them is masqueraded as well (hairpin:
//!   a container reaching itself or a neighbour through a published port);
//! - `bridges` + `same_net` (`ifname . ifname`): forwarding between two
//!   different isolated bridges is dropped;
//! - `no_icc` (`ifname . ifname`): a network with inter-container
//!   communication off (`com.docker.network.bridge.enable_icc=false`,
//!   dockerd's `--icc=false`): traffic between two of its containers
//!   (bridged, so seen here through br_netfilter) is dropped unless its
//!   connection was DNATed (a published port) or `icc_open4` holds it
//!   (`client . server . proto . port`, for links);
//! - `intra4`/`intra6` and `gw4`/`gw6`: traffic between two containers of
//!   a network that needs no NAT (neither end a gateway, i.e. a local
//!   address, where DNAT happens) is not tracked (`notrack` in the `raw`
//!   prerouting chain): br_netfilter would otherwise run conntrack on
//!   every bridged packet. Only networks that masquerade and allow ICC get
//!   these elements: hairpin traffic of a network without masquerade
//!   comes back bridged and needs conntrack to be un-DNATed, and the ICC
//!   drop rule needs connection state;
//! - `input`: packets for 127.0.0.0/8 arriving on a link other than `lo`
//!   are dropped unless their connection was DNATed: with `route_localnet`
//!   on a bridge (set by berth-portmap so that `127.0.0.1:port` reaches a
//!   published port), a container could otherwise reach services bound to
//!   the host's loopback (CVE-2020-8558).
//!
//! Every change is one nftables transaction (one script), so an attach or
//! detach is atomic.
//!
//! The fixed rules carry a version: an empty marker chain named after a hash
//! of the script that declares them (`rules_<hash>`). [`Firewall::open`]
//! looks the marker up with one netlink GET and rewrites the rules only when
//! it is missing (a new table, or rules from another berth version), so a
//! steady-state attach changes no rule at all (see [`nfnl`] for why that
//! matters beyond the transaction's own cost).
//!
//! ## Why libnftables (text syntax) and not the `nftables` crate or rustables
//!
//! The `nftables` crate drives the `nft` binary with JSON: one fork+exec per
//! transaction, about 5 ms here, which alone would blow the attach budget.
//! rustables speaks netlink directly but does not cover what these rules
//! need (concatenated map keys and `dnat to ... map` with address . port
//! data), so we would be hand-encoding nf_tables expressions. Instead berth
//! loads `libnftables.so.1` (shipped with the `nftables` package) at run time
//! and feeds it the same text `nft -f` reads: the kernel transaction is built
//! by nft's own, well-tested code, in process, and scripts read exactly like
//! `nft list table inet berth`. Without the library berth falls back to the
//! `nft` binary (same scripts); see [`nft::backend`].
//!
//! All functions act in the network namespace of the calling thread; use
//! [`crate::NetNs::run_in`] for another one.

mod monitor;
mod nfnl;
pub mod nft;
mod types;

use std::fmt::Write as _;
use std::net::IpAddr;

pub use monitor::{Change, Monitor};
use types::check_nft_ifname;
pub use types::{IccOpening, NetworkRules, PortMapping, Protocol};

/// Firewall errors.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    /// nft refused a transaction; nothing of it was applied.
    #[error("nftables {op}: {message}")]
    Nft {
        /// The operation (`publish 8080/tcp -> 10.88.0.2:80`).
        op: String,
        /// nft's error message.
        message: String,
    },
    /// The `nft` binary could not be run.
    #[error("cannot run nft: {0}")]
    Spawn(#[source] std::io::Error),
    /// Bad input, refused before reaching nft.
    #[error("invalid {what}: {detail}")]
    Invalid {
        /// Which input.
        what: &'static str,
        /// Why.
        detail: String,
    },
}

impl FirewallError {
    /// The transaction failed because an element exists (e.g. the host port
    /// is published already, to another container).
    pub fn is_exists(&self) -> bool {
        matches!(self, FirewallError::Nft { message, .. } if message.contains("File exists"))
    }
}

/// Handle on berth's nftables table in the calling thread's namespace.
#[derive(Debug, Clone)]
pub struct Firewall {
    table: String,
}

/// The default table name.
pub const TABLE: &str = "berth";

impl Firewall {
    /// Opens (creating or upgrading its fixed rules if needed) the table
    /// `inet berth`.
    pub fn open() -> Result<Self, FirewallError> {
        Self::open_table(TABLE)
    }

    /// Like [`Firewall::open`] with another table name (tests, several
    /// engines side by side).
    pub fn open_table(table: &str) -> Result<Self, FirewallError> {
        check_nft_ifname(table).map_err(|_| FirewallError::Invalid {
            what: "table name",
            detail: format!("{table:?}"),
        })?;
        let fw = Firewall {
            table: table.to_string(),
        };
        let base = fw.base_script();
        let marker = marker_chain(&base);
        match nfnl::chain_exists(table, &marker) {
            Ok(true) => return Ok(fw),
            Ok(false) => {}
            // Could not tell (e.g. a kernel or sandbox refusing raw
            // nfnetlink sockets): (re)writing the rules is always correct.
            Err(e) => tracing::debug!(error = %e, "probing the firewall's rule version"),
        }
        fw.write_rules()?;
        Ok(fw)
    }

    /// (Re)writes the table's sets, chains and fixed rules, elements
    /// untouched; drops marker chains of other rule versions.
    fn write_rules(&self) -> Result<(), FirewallError> {
        let table = &self.table;
        let mut script = self.base_script();
        let marker = marker_chain(&script);
        for old in self.marker_chains()? {
            if old != marker {
                let _ = writeln!(script, "delete chain inet {table} {old}");
            }
        }
        let _ = writeln!(script, "add chain inet {table} {marker}");
        nft::run("set up table", &script)?;
        Ok(())
    }

    /// Whether the table exists with its current marker and all its fixed
    /// rules (after someone else's deletion in it: see [`Monitor`]).
    /// Elements are not checked. Errors mean "could not tell".
    pub fn rules_intact(&self) -> std::io::Result<bool> {
        let base = self.base_script();
        if !nfnl::chain_exists(&self.table, &marker_chain(&base))? {
            return Ok(false);
        }
        let want = base.lines().filter(|l| l.starts_with("add rule ")).count();
        Ok(nfnl::rule_count(&self.table)? == want)
    }

    /// Puts the fixed rules back after they were damaged (the table
    /// deleted or a chain flushed): as a first [`Firewall::open`] does,
    /// whatever the marker says. Elements left in place stay.
    pub fn restore_rules(&self) -> Result<(), FirewallError> {
        self.write_rules()
    }

    /// Removes every published port whose destination is one of `ips` (the
    /// addresses of endpoints a crashed daemon never recorded); returns how
    /// many went.
    pub fn unpublish_to(&self, ips: &[IpAddr]) -> Result<usize, FirewallError> {
        let octets: Vec<Vec<u8>> = ips
            .iter()
            .map(|ip| match ip {
                IpAddr::V4(a) => a.octets().to_vec(),
                IpAddr::V6(a) => a.octets().to_vec(),
            })
            .collect();
        let mut ops = Vec::new();
        for map in ["dnat4", "dnat4_any", "dnat6", "dnat6_any"] {
            let elems = nfnl::set_elements(&self.table, map).map_err(|e| FirewallError::Nft {
                op: format!("listing {map}"),
                message: e.to_string(),
            })?;
            for e in elems {
                // Data: container address . port (padded to 4 bytes).
                let to = e.data.len().saturating_sub(4);
                if octets.iter().any(|o| o.as_slice() == &e.data[..to]) {
                    ops.push(nfnl::ElemOp {
                        delete: true,
                        set: map,
                        key: e.key,
                        data: None,
                    });
                }
            }
        }
        let n = ops.len();
        nfnl::apply(&self.table, &ops).map_err(|e| FirewallError::Nft {
            op: "removing stale published ports".into(),
            message: e.to_string(),
        })?;
        Ok(n)
    }

    /// The table `inet berth` if it exists with the current rules, without
    /// creating it (for removals: where there is no table there is nothing
    /// to remove). `None` also for a table of an older rule version, which
    /// the next [`Firewall::open`] upgrades.
    pub fn open_existing() -> Result<Option<Self>, FirewallError> {
        let fw = Firewall {
            table: TABLE.to_string(),
        };
        match nfnl::chain_exists(TABLE, &marker_chain(&fw.base_script())) {
            Ok(true) => Ok(Some(fw)),
            Ok(false) => Ok(None),
            // Could not tell: open it the slow way.
            Err(e) => {
                tracing::debug!(error = %e, "probing the firewall's rule version");
                Self::open().map(Some)
            }
        }
    }

    /// Marker chains of older rule versions in this table (slow path only:
    /// a new table or an upgrade).
    fn marker_chains(&self) -> Result<Vec<String>, FirewallError> {
        let listed = nft::run("list chains", "list chains inet")?;
        let mut out = Vec::new();
        let mut ours = false;
        for line in listed.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("table inet ") {
                ours = rest.trim_end_matches('{').trim() == self.table;
            } else if let Some(rest) = line.strip_prefix("chain ") {
                let name = rest.trim_end_matches('{').trim();
                if ours && name.starts_with(MARKER_PREFIX) {
                    out.push(name.to_string());
                }
            }
        }
        Ok(out)
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Declares the table, sets, maps and chains (all idempotent) and
    /// replaces the fixed rules of berth's own chains with the current ones,
    /// atomically. Elements are untouched.
    fn base_script(&self) -> String {
        let t = &self.table;
        let mut s = format!(
            "add table inet {t}
add set inet {t} masq4 {{ type ipv4_addr; flags interval; }}
add set inet {t} masq6 {{ type ipv6_addr; flags interval; }}
add set inet {t} bridges {{ type ifname; }}
add set inet {t} same_net {{ type ifname . ifname; }}
add set inet {t} no_icc {{ type ifname . ifname; }}
add set inet {t} icc_open4 {{ type ipv4_addr . ipv4_addr . inet_proto . inet_service; }}
add set inet {t} intra4 {{ type ipv4_addr; flags interval; }}
add set inet {t} intra6 {{ type ipv6_addr; flags interval; }}
add set inet {t} gw4 {{ type ipv4_addr; }}
add set inet {t} gw6 {{ type ipv6_addr; }}
add map inet {t} dnat4 {{ type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }}
add map inet {t} dnat4_any {{ type inet_proto . inet_service : ipv4_addr . inet_service; }}
add map inet {t} dnat6 {{ type ipv6_addr . inet_proto . inet_service : ipv6_addr . inet_service; }}
add map inet {t} dnat6_any {{ type inet_proto . inet_service : ipv6_addr . inet_service; }}
add chain inet {t} prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}
add chain inet {t} output {{ type nat hook output priority -100; policy accept; }}
add chain inet {t} published
add chain inet {t} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}
add chain inet {t} forward {{ type filter hook forward priority filter; policy accept; }}
add chain inet {t} input {{ type filter hook input priority filter; policy accept; }}
add chain inet {t} icc_off
add chain inet {t} untracked {{ type filter hook prerouting priority raw; policy accept; }}
"
        );
        for chain in [
            "untracked",
            "icc_off",
            "prerouting",
            "output",
            "published",
            "postrouting",
            "forward",
            "input",
        ] {
            let _ = writeln!(s, "flush chain inet {t} {chain}");
        }
        let rules = [
            "prerouting fib daddr type local jump published",
            "output fib daddr type local jump published",
            "published dnat ip to ip daddr . meta l4proto . th dport map @dnat4",
            "published dnat ip to meta l4proto . th dport map @dnat4_any",
            "published dnat ip6 to ip6 daddr . meta l4proto . th dport map @dnat6",
            "published dnat ip6 to meta l4proto . th dport map @dnat6_any",
            "postrouting ct status dnat ip saddr 127.0.0.0/8 masquerade",
            "postrouting ct status dnat ip saddr @masq4 masquerade",
            "postrouting ct status dnat ip6 saddr @masq6 masquerade",
            "postrouting ip saddr @masq4 ip daddr != @masq4 masquerade",
            "postrouting ip6 saddr @masq6 ip6 daddr != @masq6 masquerade",
            "forward iifname @bridges oifname @bridges iifname . oifname != @same_net drop",
            // One lookup per forwarded packet; the rest only for ICC off.
            "forward iifname . oifname @no_icc jump icc_off",
            "icc_off ip saddr . ip daddr . meta l4proto . th dport @icc_open4 accept",
            "icc_off ip daddr . ip saddr . meta l4proto . th sport @icc_open4 accept",
            "icc_off ct status & dnat == 0 drop",
            // Container to container within a network: no NAT, no state.
            "untracked iifname @bridges ip saddr @intra4 ip daddr @intra4 ip daddr != @gw4 notrack",
            "untracked iifname @bridges ip6 saddr @intra6 ip6 daddr @intra6 ip6 daddr != @gw6 notrack",
            // route_localnet on a bridge (for 127.0.0.1 clients of published
            // ports) would also let a container reach the host's loopback
            // services by sending to 127.0.0.1 (CVE-2020-8558): only
            // connections that were DNATed may arrive for 127/8 from
            // outside lo (the answers to a localhost client).
            "input iifname != \"lo\" ip daddr 127.0.0.0/8 ct status & dnat == 0 drop",
        ];
        for r in rules {
            let _ = writeln!(s, "add rule inet {t} {r}");
        }
        s
    }

    fn network_elements(&self, verb: &str, net: &NetworkRules) -> Result<String, FirewallError> {
        let t = &self.table;
        let mut s = String::new();
        if net.masquerade {
            for subnet in &net.subnets {
                let set = if subnet.addr().is_ipv4() {
                    "masq4"
                } else {
                    "masq6"
                };
                let _ = writeln!(s, "{verb} element inet {t} {set} {{ {} }}", subnet.trunc());
            }
        }
        if net.isolate {
            let bridge = net
                .bridge
                .as_deref()
                .ok_or_else(|| FirewallError::Invalid {
                    what: "network rules",
                    detail: "isolation needs the network's bridge name".into(),
                })?;
            check_nft_ifname(bridge)?;
            let _ = writeln!(s, "{verb} element inet {t} bridges {{ \"{bridge}\" }}");
            let _ = writeln!(
                s,
                "{verb} element inet {t} same_net {{ \"{bridge}\" . \"{bridge}\" }}"
            );
        }
        if net.block_icc {
            let bridge = Self::bridge_of(net, "ICC off")?;
            let _ = writeln!(
                s,
                "{verb} element inet {t} no_icc {{ \"{bridge}\" . \"{bridge}\" }}"
            );
        }
        if net.untracked() {
            Self::bridge_of(net, "untracked traffic")?;
            for subnet in &net.subnets {
                let set = if subnet.addr().is_ipv4() {
                    "intra4"
                } else {
                    "intra6"
                };
                let _ = writeln!(s, "{verb} element inet {t} {set} {{ {} }}", subnet.trunc());
            }
            for gw in &net.gateways {
                let set = if gw.is_ipv4() { "gw4" } else { "gw6" };
                let _ = writeln!(s, "{verb} element inet {t} {set} {{ {gw} }}");
            }
        }
        Ok(s)
    }

    /// The network's bridge name, checked, for rules that need one.
    fn bridge_of<'a>(net: &'a NetworkRules, what: &str) -> Result<&'a str, FirewallError> {
        let bridge = net
            .bridge
            .as_deref()
            .ok_or_else(|| FirewallError::Invalid {
                what: "network rules",
                detail: format!("{what} needs the network's bridge name"),
            })?;
        check_nft_ifname(bridge)?;
        Ok(bridge)
    }

    /// Lets `o.client` reach `o.server`'s port on a network with ICC off
    /// (and the answers back), as a link does (idempotent).
    pub fn open_icc(&self, o: &IccOpening) -> Result<(), FirewallError> {
        nft::run(&format!("open ICC {o}"), &self.icc_element("add", o)).map(|_| ())
    }

    /// Undoes [`Firewall::open_icc`]; an opening that is not there is fine.
    pub fn close_icc(&self, o: &IccOpening) -> Result<(), FirewallError> {
        let script = [self.icc_element("add", o), self.icc_element("delete", o)].concat();
        nft::run(&format!("close ICC {o}"), &script).map(|_| ())
    }

    fn icc_element(&self, verb: &str, o: &IccOpening) -> String {
        format!(
            "{verb} element inet {} icc_open4 {{ {} . {} . {} . {} }}\n",
            self.table, o.client, o.server, o.protocol, o.port
        )
    }

    /// Adds a network's masquerade and isolation elements (idempotent).
    /// When they are all there already (every attach after a network's
    /// first), no transaction is made.
    pub fn add_network(&self, net: &NetworkRules) -> Result<(), FirewallError> {
        let script = self.network_elements("add", net)?;
        if script.is_empty() {
            return Ok(());
        }
        match self.has_network(net) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => tracing::debug!(error = %e, "probing the network's elements"),
        }
        nft::run("add network", &script).map(|_| ())
    }

    /// Whether every element [`Firewall::add_network`] would add for `net`
    /// is in the table: each masqueraded subnet exactly (not merely covered
    /// by a larger one), and the bridge in the isolation sets. Read with
    /// one netlink dump per set, without libnftables.
    pub fn has_network(&self, net: &NetworkRules) -> Result<bool, FirewallError> {
        let probe_err = |e: std::io::Error| FirewallError::Nft {
            op: "read set elements".into(),
            message: e.to_string(),
        };
        self.network_elements("add", net)?;
        if net.masquerade {
            let mut cache: [Option<Vec<nfnl::Element>>; 2] = [None, None];
            for subnet in &net.subnets {
                let Some((start, end)) = interval_bytes(subnet) else {
                    // A range reaching the top of the address space has no
                    // end element; let nft decide.
                    return Ok(false);
                };
                let (slot, set) = if subnet.addr().is_ipv4() {
                    (0, "masq4")
                } else {
                    (1, "masq6")
                };
                let elems = match &mut cache[slot] {
                    Some(e) => e,
                    empty => empty.insert(nfnl::set_elements(&self.table, set).map_err(probe_err)?),
                };
                if !nfnl::has_interval(elems, &start, &end) {
                    return Ok(false);
                }
            }
        }
        if net.isolate {
            let bridge = ifname_key(net.bridge.as_deref().unwrap_or_default());
            let pair = [bridge.clone(), bridge.clone()].concat();
            let has = |set: &str, key: &[u8]| -> Result<bool, FirewallError> {
                Ok(nfnl::set_elements(&self.table, set)
                    .map_err(probe_err)?
                    .iter()
                    .any(|e| e.key == key))
            };
            if !has("bridges", &bridge)? || !has("same_net", &pair)? {
                return Ok(false);
            }
        }
        if net.block_icc {
            let bridge = ifname_key(net.bridge.as_deref().unwrap_or_default());
            let pair = [bridge.clone(), bridge].concat();
            let there = nfnl::set_elements(&self.table, "no_icc")
                .map_err(probe_err)?
                .iter()
                .any(|e| e.key == pair);
            if !there {
                return Ok(false);
            }
        }
        if net.untracked() {
            for gw in &net.gateways {
                let (set, key) = match gw {
                    IpAddr::V4(a) => ("gw4", a.octets().to_vec()),
                    IpAddr::V6(a) => ("gw6", a.octets().to_vec()),
                };
                let there = nfnl::set_elements(&self.table, set)
                    .map_err(probe_err)?
                    .iter()
                    .any(|e| e.key == key);
                if !there {
                    return Ok(false);
                }
            }
            for subnet in &net.subnets {
                let Some((start, end)) = interval_bytes(subnet) else {
                    return Ok(false);
                };
                let set = if subnet.addr().is_ipv4() {
                    "intra4"
                } else {
                    "intra6"
                };
                let elems = nfnl::set_elements(&self.table, set).map_err(probe_err)?;
                if !nfnl::has_interval(&elems, &start, &end) {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Removes a network's elements; absent elements are not an error.
    pub fn remove_network(&self, net: &NetworkRules) -> Result<(), FirewallError> {
        // nft 1.0.6 has no "destroy": adding first makes the delete succeed
        // whether or not the element was there, in one transaction.
        let mut script = self.network_elements("add", net)?;
        script.push_str(&self.network_elements("delete", net)?);
        if script.is_empty() {
            return Ok(());
        }
        nft::run("remove network", &script).map(|_| ())
    }

    /// The map and element of a port mapping, encoded as the map's types
    /// lay them out (each field of a concatenation padded to 4 bytes, all
    /// in network byte order).
    fn port_op(delete: bool, p: &PortMapping) -> nfnl::ElemOp {
        fn ip(a: IpAddr) -> Vec<u8> {
            match a {
                IpAddr::V4(v4) => v4.octets().to_vec(),
                IpAddr::V6(v6) => v6.octets().to_vec(),
            }
        }
        fn port(p: u16) -> [u8; 4] {
            let [hi, lo] = p.to_be_bytes();
            [hi, lo, 0, 0]
        }
        let proto: u8 = match p.protocol {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        };
        let set = match (p.host_ip, p.container_ip.is_ipv4()) {
            (Some(IpAddr::V4(_)), _) => "dnat4",
            (Some(IpAddr::V6(_)), _) => "dnat6",
            (None, true) => "dnat4_any",
            (None, false) => "dnat6_any",
        };
        let mut key = p.host_ip.map(ip).unwrap_or_default();
        key.extend_from_slice(&[proto, 0, 0, 0]);
        key.extend_from_slice(&port(p.host_port));
        let mut data = ip(p.container_ip);
        data.extend_from_slice(&port(p.container_port));
        nfnl::ElemOp {
            delete,
            set,
            key,
            data: Some(data),
        }
    }

    /// Runs element changes as one netlink batch; `None` when that could not
    /// be done (so the caller falls back to libnftables), else the outcome,
    /// with EEXIST reported as nft reports it.
    fn apply_direct(&self, op: &str, ops: &[nfnl::ElemOp]) -> Option<Result<(), FirewallError>> {
        match nfnl::apply(&self.table, ops) {
            Ok(()) => Some(Ok(())),
            // nft's own words, so callers see one message either way.
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Some(Err(FirewallError::Nft {
                op: op.to_string(),
                message: "Could not process rule: File exists".into(),
            })),
            Err(e) => {
                tracing::debug!(error = %e, op, "netlink element batch failed; using libnftables");
                None
            }
        }
    }

    fn port_element(&self, verb: &str, p: &PortMapping) -> String {
        let t = &self.table;
        let (map, suffix) = match (p.host_ip, p.container_ip.is_ipv4()) {
            (Some(IpAddr::V4(h)), _) => ("dnat4", format!("{h} . ")),
            (Some(IpAddr::V6(h)), _) => ("dnat6", format!("{h} . ")),
            (None, true) => ("dnat4_any", String::new()),
            (None, false) => ("dnat6_any", String::new()),
        };
        let key = format!("{suffix}{} . {}", p.protocol, p.host_port);
        if verb == "delete" {
            format!("delete element inet {t} {map} {{ {key} }}\n")
        } else {
            format!(
                "{verb} element inet {t} {map} {{ {key} : {} . {} }}\n",
                p.container_ip, p.container_port
            )
        }
    }

    /// Publishes `ports` in one transaction: all or none. A host port that
    /// is already published to a different destination fails the whole call
    /// ([`FirewallError::is_exists`]); publishing the same mapping twice is
    /// fine.
    pub fn publish(&self, ports: &[PortMapping]) -> Result<(), FirewallError> {
        if ports.is_empty() {
            return Ok(());
        }
        let op = format!("publish {}", describe(ports));
        let mut script = String::new();
        let mut ops = Vec::new();
        for p in ports {
            p.check()?;
            script.push_str(&self.port_element("add", p));
            ops.push(Self::port_op(false, p));
        }
        if let Some(done) = self.apply_direct(&op, &ops) {
            return done;
        }
        nft::run(&op, &script).map(|_| ())
    }

    /// Removes `ports` in one transaction. Mappings that are not there are
    /// skipped, and a host port now published to *another* destination is
    /// left alone, so detach is idempotent.
    pub fn unpublish(&self, ports: &[PortMapping]) -> Result<(), FirewallError> {
        if ports.is_empty() {
            return Ok(());
        }
        let op = format!("unpublish {}", describe(ports));
        let mut script = String::new();
        let mut ops = Vec::new();
        for p in ports {
            p.check()?;
            script.push_str(&self.port_element("add", p));
            script.push_str(&self.port_element("delete", p));
            ops.push(Self::port_op(false, p));
            ops.push(Self::port_op(true, p));
        }
        let outcome = match self.apply_direct(&op, &ops) {
            Some(done) => done.map(|()| String::new()),
            None => nft::run(&op, &script),
        };
        match outcome {
            Ok(_) => Ok(()),
            // Some key now maps elsewhere: go one by one, skipping those.
            Err(e) if e.is_exists() && ports.len() > 1 => {
                for p in ports {
                    match self.unpublish(std::slice::from_ref(p)) {
                        Ok(()) => {}
                        Err(e) if e.is_exists() => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            }
            Err(e) if e.is_exists() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The table as `nft list table` prints it (for diagnostics and tests).
    pub fn list(&self) -> Result<String, FirewallError> {
        nft::run("list table", &format!("list table inet {}", self.table))
    }

    /// Deletes berth's whole table (engine teardown).
    pub fn delete(self) -> Result<(), FirewallError> {
        let t = &self.table;
        nft::run(
            "delete table",
            &format!("add table inet {t}\ndelete table inet {t}\n"),
        )
        .map(|_| ())
    }
}

/// The key bytes of a subnet's interval in an nft interval set: its first
/// address and the address after its last (big endian), or `None` when the
/// subnet ends at the top of the address space.
fn interval_bytes(subnet: &ipnet::IpNet) -> Option<(Vec<u8>, Vec<u8>)> {
    match subnet.trunc() {
        ipnet::IpNet::V4(n) => {
            let end = u32::from(n.broadcast()).checked_add(1)?;
            Some((n.network().octets().to_vec(), end.to_be_bytes().to_vec()))
        }
        ipnet::IpNet::V6(n) => {
            let end = u128::from(n.broadcast()).checked_add(1)?;
            Some((n.network().octets().to_vec(), end.to_be_bytes().to_vec()))
        }
    }
}

/// An interface name as an nft `ifname` key: IFNAMSIZ bytes, NUL padded.
fn ifname_key(name: &str) -> Vec<u8> {
    let mut k = name.as_bytes().to_vec();
    k.resize(16, 0);
    k
}

const MARKER_PREFIX: &str = "rules_";

/// The marker chain's name for a base script: `rules_` and the script's
/// 64-bit FNV-1a hash, so any change to the fixed rules renames it.
fn marker_chain(base_script: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in base_script.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{MARKER_PREFIX}{h:016x}")
}

fn describe(ports: &[PortMapping]) -> String {
    ports
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
