//! Host-local-style IP address management, persisted in berth-store.
//!
//! [`Ipam`] hands out one address per range set of an [`IpamConfig`] to an
//! attachment (network, container id, interface name), round-robin from the
//! last address handed out in that set (as host-local does, so a released
//! address is not reused at once), honouring static requests, never the
//! gateway, network or (IPv4) broadcast address.
//!
//! Every allocation and release is one store transaction, so concurrent
//! ADDs (threads or processes sharing a [`berth_store::RedbStore`] file or
//! a [`LeaseFiles`] directory) never hand out an address twice; a full
//! range is a clean [`IpamError::Exhausted`]. CNI plugins use
//! [`LeaseFiles`], which makes only the leases durable (one fsync'd file
//! per ADD; see there why).
//!
//! Store layout, under `ipam/v1/<network>/`:
//! - `ip/<address>` → [`Lease`] (who holds it);
//! - `owner/<container id>/<ifname>` → the addresses it holds;
//! - `last/<range set index>` → the last address handed out in that set.

mod config;
mod journal;
mod lease_files;

use std::net::IpAddr;

use berth_store::{get_json, put_json, transact, Store, StoreError, Txn};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use config::{from_u128, to_u128, CheckedRange};
pub use config::{IpamConfig, IpamRoute, Range, RangeSet};
pub use lease_files::LeaseFiles;

/// IPAM errors.
#[derive(Debug, thiserror::Error)]
pub enum IpamError {
    /// The configuration is invalid; `field` is its path (`ranges[0][0].gateway`).
    #[error("invalid ipam config {field}: {detail}")]
    Config {
        /// Which field.
        field: String,
        /// Why.
        detail: String,
    },
    /// A name used in store keys is empty or contains `/`.
    #[error("invalid {what} {value:?}: must be non-empty and contain no '/'")]
    BadName {
        /// Which name (network, container id, ifname).
        what: &'static str,
        /// The value.
        value: String,
    },
    /// Every address of a range set is taken.
    #[error("no free address in range set {set} ({ranges}) of network {network}")]
    Exhausted {
        /// The network.
        network: String,
        /// The range set index.
        set: usize,
        /// The set's subnets, for the message.
        ranges: String,
    },
    /// A requested static address is outside every range set.
    #[error("requested address {0} is in no range of this network")]
    NotInRange(IpAddr),
    /// Two requested static addresses fall in the same range set.
    #[error("requested addresses {0} and {1} are in the same range set")]
    TwoInOneSet(IpAddr, IpAddr),
    /// A requested static address is held by another attachment.
    #[error("requested address {ip} is already allocated to {holder}")]
    Taken {
        /// The address.
        ip: IpAddr,
        /// Who has it (`<container id>/<ifname>`).
        holder: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who holds an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The address.
    pub ip: IpAddr,
    /// The holding container.
    pub container_id: String,
    /// The container's interface.
    pub ifname: String,
}

/// One address handed out for one range set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    /// The address with the subnet's prefix length (`10.88.0.5/16`).
    pub address: IpNet,
    /// The range's gateway, if any.
    pub gateway: Option<IpAddr>,
    /// Index of the range set it came from.
    pub range_set: usize,
}

/// IPAM for one network, over a store.
pub struct Ipam<'a> {
    store: &'a dyn Store,
    network: String,
}

impl std::fmt::Debug for Ipam<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ipam")
            .field("network", &self.network)
            .finish()
    }
}

fn check_name(what: &'static str, value: &str) -> Result<(), IpamError> {
    if value.is_empty() || value.contains('/') {
        return Err(IpamError::BadName {
            what,
            value: value.to_string(),
        });
    }
    Ok(())
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Owner {
    ips: Vec<IpAddr>,
}

impl<'a> Ipam<'a> {
    /// IPAM for `network` (a name without `/`) in `store`.
    pub fn new(store: &'a dyn Store, network: &str) -> Result<Self, IpamError> {
        check_name("network name", network)?;
        Ok(Ipam {
            store,
            network: network.to_string(),
        })
    }

    fn prefix(&self) -> String {
        format!("ipam/v1/{}/", self.network)
    }
    fn ip_key(&self, ip: IpAddr) -> String {
        format!("{}ip/{ip}", self.prefix())
    }
    fn owner_key(&self, id: &str, ifname: &str) -> String {
        format!("{}owner/{id}/{ifname}", self.prefix())
    }
    fn last_key(&self, set: usize) -> String {
        format!("{}last/{set}", self.prefix())
    }

    /// Allocates one address per range set of `cfg` to (`container_id`,
    /// `ifname`). `requested` are static addresses (at most one per range
    /// set; sets without one get the next free address). If the attachment
    /// already holds addresses in this network they are returned unchanged
    /// (a retried ADD gets the same answer). All or nothing: on any error no
    /// address is taken.
    pub fn allocate(
        &self,
        cfg: &IpamConfig,
        container_id: &str,
        ifname: &str,
        requested: &[IpAddr],
    ) -> Result<Vec<Allocation>, IpamError> {
        check_name("container id", container_id)?;
        check_name("interface name", ifname)?;
        let sets = cfg.check()?;
        // Match static requests to range sets before touching the store.
        let mut wanted: Vec<Option<IpAddr>> = vec![None; sets.len()];
        for &ip in requested {
            let set = sets
                .iter()
                .position(|s| s.iter().any(|r| r.contains(ip)))
                .ok_or(IpamError::NotInRange(ip))?;
            if let Some(other) = wanted[set] {
                return Err(IpamError::TwoInOneSet(other, ip));
            }
            wanted[set] = Some(ip);
        }
        transact(self.store, |txn| {
            let owner_key = self.owner_key(container_id, ifname);
            if let Some(existing) = get_json::<Owner>(txn, &owner_key)? {
                if !existing.ips.is_empty() {
                    return Ok(describe(&sets, &existing.ips));
                }
            }
            let mut out = Vec::new();
            for (i, set) in sets.iter().enumerate() {
                let ip = match wanted[i] {
                    Some(ip) => {
                        if let Some(l) = get_json::<Lease>(txn, &self.ip_key(ip))? {
                            return Err(IpamError::Taken {
                                ip,
                                holder: format!("{}/{}", l.container_id, l.ifname),
                            });
                        }
                        ip
                    }
                    None => self.next_free(txn, i, set)?,
                };
                let lease = Lease {
                    ip,
                    container_id: container_id.to_string(),
                    ifname: ifname.to_string(),
                };
                put_json(txn, &self.ip_key(ip), &lease)?;
                if wanted[i].is_none() {
                    put_json(txn, &self.last_key(i), &ip)?;
                }
                out.push(ip);
            }
            put_json(txn, &owner_key, &Owner { ips: out.clone() })?;
            Ok(describe(&sets, &out))
        })
    }

    fn next_free(
        &self,
        txn: &mut dyn Txn,
        set_idx: usize,
        set: &[CheckedRange],
    ) -> Result<IpAddr, IpamError> {
        // Candidates in order: after the last one handed out, wrapping round
        // the set once (host-local's round-robin).
        // Only a hint: one that does not decode (a store that does not sync
        // it may lose part of it in a crash) is as good as none.
        let last: Option<IpAddr> = match get_json(txn, &self.last_key(set_idx)) {
            Err(StoreError::Decode { .. }) => None,
            other => other?,
        };
        let (start_range, start_at) = match last {
            Some(l) => match set.iter().position(|r| r.contains(l)) {
                Some(ri) => (ri, Some(to_u128(l))),
                None => (0, None),
            },
            None => (0, None),
        };
        let n = set.len();
        // Visit range start_range from just after `start_at`, the others in
        // full, then range start_range again up to `start_at`.
        for step in 0..=n {
            let ri = (start_range + step) % n;
            let r = &set[ri];
            let (from, to) = match (step, start_at) {
                (0, Some(s)) => (s.saturating_add(1), r.end),
                (0, None) => (r.start, r.end),
                (k, Some(s)) if k == n => (r.start, s),
                (k, None) if k == n => break,
                _ => (r.start, r.end),
            };
            let mut v = from;
            while v <= to && v <= r.end {
                let ip = from_u128(v, r.v6());
                if Some(ip) != r.gateway
                    && !is_reserved(r, v)
                    && get_json::<Lease>(txn, &self.ip_key(ip))?.is_none()
                {
                    return Ok(ip);
                }
                v += 1;
            }
        }
        Err(IpamError::Exhausted {
            network: self.network.clone(),
            set: set_idx,
            ranges: set
                .iter()
                .map(|r| r.subnet.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// Releases every address held by `container_id` (on `ifname` only, if
    /// given) and returns them. Releasing nothing is not an error (DEL is
    /// idempotent).
    pub fn release(
        &self,
        container_id: &str,
        ifname: Option<&str>,
    ) -> Result<Vec<IpAddr>, IpamError> {
        check_name("container id", container_id)?;
        if let Some(i) = ifname {
            check_name("interface name", i)?;
        }
        let owner_prefix = match ifname {
            Some(i) => self.owner_key(container_id, i),
            None => format!("{}owner/{container_id}/", self.prefix()),
        };
        transact(self.store, |txn| {
            let mut released = Vec::new();
            let mut owners = 0;
            // With an ifname the prefix is the exact key: read it, not a
            // listing ([`LeaseFiles`] would read the directory of every
            // owner of the network, so a detach would cost more with each
            // container attached).
            let owned = match ifname {
                Some(_) => txn
                    .get(&owner_prefix)?
                    .map(|v| vec![(owner_prefix.clone(), v)])
                    .unwrap_or_default(),
                None => txn.list_prefix(&owner_prefix)?,
            };
            for (key, value) in owned {
                let owner: Owner =
                    serde_json::from_slice(&value).map_err(|source| StoreError::Decode {
                        key: key.clone(),
                        source,
                    })?;
                for ip in owner.ips {
                    let ip_key = self.ip_key(ip);
                    // Only drop the lease if it is still ours.
                    if let Some(l) = get_json::<Lease>(txn, &ip_key)? {
                        if l.container_id == container_id {
                            txn.delete(&ip_key)?;
                            released.push(ip);
                        }
                    }
                }
                txn.delete(&key)?;
                owners += 1;
            }
            if owners == 0 {
                // No owner entry: nothing is held, or a store that does not
                // sync the owner index ([`LeaseFiles`]) lost it in a crash.
                // The leases say who holds what.
                for (key, value) in txn.list_prefix(&format!("{}ip/", self.prefix()))? {
                    let l: Lease =
                        serde_json::from_slice(&value).map_err(|source| StoreError::Decode {
                            key: key.clone(),
                            source,
                        })?;
                    if l.container_id == container_id && ifname.is_none_or(|i| i == l.ifname) {
                        txn.delete(&key)?;
                        released.push(l.ip);
                    }
                }
            }
            Ok(released)
        })
    }

    /// The addresses held by (`container_id`, `ifname`).
    pub fn addresses_of(&self, container_id: &str, ifname: &str) -> Result<Vec<IpAddr>, IpamError> {
        check_name("container id", container_id)?;
        check_name("interface name", ifname)?;
        let key = self.owner_key(container_id, ifname);
        transact(self.store, |txn| {
            Ok(get_json::<Owner>(txn, &key)?
                .map(|o| o.ips)
                .unwrap_or_default())
        })
    }

    /// Every lease of this network (for CNI GC and reconciliation).
    pub fn leases(&self) -> Result<Vec<Lease>, IpamError> {
        let prefix = format!("{}ip/", self.prefix());
        let mut out = Vec::new();
        for (key, value) in self.store.list_prefix(&prefix)? {
            let l: Lease = serde_json::from_slice(&value)
                .map_err(|source| StoreError::Decode { key, source })?;
            out.push(l);
        }
        Ok(out)
    }
}

/// Network and (IPv4) broadcast addresses of a range's subnet are never
/// handed out, even when rangeStart/rangeEnd include them.
fn is_reserved(r: &CheckedRange, v: u128) -> bool {
    if r.v6() {
        return v == to_u128(r.subnet.network()) && r.subnet.prefix_len() < 127;
    }
    r.subnet.prefix_len() < 31
        && (v == to_u128(r.subnet.network()) || v == to_u128(r.subnet.broadcast()))
}

fn describe(sets: &[Vec<CheckedRange>], ips: &[IpAddr]) -> Vec<Allocation> {
    ips.iter()
        .filter_map(|&ip| {
            sets.iter().enumerate().find_map(|(i, set)| {
                set.iter()
                    .find(|r| r.subnet.contains(&ip))
                    .map(|r| Allocation {
                        address: IpNet::new(ip, r.subnet.prefix_len())
                            .unwrap_or_else(|_| IpNet::from(ip)),
                        gateway: r.gateway,
                        range_set: i,
                    })
            })
        })
        .collect()
}
