//! The embedded DNS server of user-defined bridge networks: ONE resolver
//! in berthd (not a process per network or container). Each container on
//! a user-defined network gets `nameserver 127.0.0.11` (as with Docker);
//! when it is attached, the resolver opens UDP and TCP sockets bound to
//! 127.0.0.11:53 inside the container's netns ([`listen`]) and serves
//! them on its own small runtime, scoped to that container: the sockets
//! are the container's, so no source address is trusted.
//!
//! It answers A, AAAA and PTR (in-addr.arpa, ip6.arpa) for the container
//! names, network aliases and short ids of the containers on the networks
//! the asker is on, and only those ([`answer`]); everything else is
//! forwarded ([`forward`]) over the client's transport to the container's
//! `--dns` servers (from its netns) or else the host's resolvers (from the
//! daemon's netns; none for a container only on `--internal` networks),
//! SERVFAIL when none answers. Messages are parsed and written with
//! hickory-proto. The sockets close when the container's last user
//! network is detached; a restarted berthd opens them again for the
//! running containers it finds in the store ([`Dns::open`]).

mod answer;
mod forward;
mod listen;

pub use listen::RESOLVER_ADDR;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use berth_net::NetNs;
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Semaphore};

/// Forwards in flight at once (dockerd caps them too); more are REFUSED.
const MAX_FORWARDS: usize = 256;

/// One container on one network, as the resolver knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsEntry {
    pub container_id: String,
    pub name: String,
    pub aliases: Vec<String>,
    pub ip: Ipv4Addr,
    /// Its IPv6 address on an IPv6 network (AAAA answers).
    #[serde(default)]
    pub ip6: Option<Ipv6Addr>,
    /// The container's `--dns` servers (where its other queries go).
    pub dns: Vec<IpAddr>,
    /// The container's netns, where its resolver sockets live.
    #[serde(default)]
    pub netns: Option<PathBuf>,
    /// The network is `--internal` (nothing forwarded from the daemon).
    #[serde(default)]
    pub internal: bool,
    /// The container's resolv.conf sets `ndots` itself.
    #[serde(default)]
    pub ndots_set: bool,
    /// Its links on this network (alias → container name, lower case):
    /// names only it resolves.
    #[serde(default)]
    pub links: std::collections::BTreeMap<String, String>,
}

impl DnsEntry {
    /// Whether `name` (lower case, no trailing dot) is this container's.
    fn answers_to(&self, name: &str) -> bool {
        let short = &self.container_id[..12.min(self.container_id.len())];
        self.name.eq_ignore_ascii_case(name)
            || short == name
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    }
}

struct Shared {
    /// Entries by network name.
    entries: RwLock<HashMap<String, Vec<DnsEntry>>>,
    /// The host's resolvers.
    upstream: Vec<SocketAddr>,
    forwards: Semaphore,
}

/// The sockets of one container (its tasks end when `stop` is sent or
/// dropped, closing them).
struct Listener {
    netns: PathBuf,
    stop: watch::Sender<bool>,
}

/// The daemon's resolver.
pub struct Dns {
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
    /// By container id.
    listeners: Mutex<HashMap<String, Listener>>,
}

/// The nameservers of a resolv.conf text, as socket addresses (never
/// 127.0.0.11: that is the resolver itself, in a container).
pub fn nameservers(resolv_conf: &str) -> Vec<SocketAddr> {
    resolv_conf
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .filter(|ip| *ip != IpAddr::V4(RESOLVER_ADDR))
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

impl Dns {
    /// The resolver, forwarding to `upstream` (the host's resolvers).
    pub fn new(upstream: Vec<SocketAddr>) -> std::io::Result<Dns> {
        // Two workers: the daemon's API runtime never waits on DNS, and
        // DNS never waits on the API.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("berth-dns")
            .enable_all()
            .build()?;
        Ok(Dns {
            shared: Arc::new(Shared {
                entries: RwLock::new(HashMap::new()),
                upstream,
                forwards: Semaphore::new(MAX_FORWARDS),
            }),
            runtime: Some(runtime),
            listeners: Mutex::new(HashMap::new()),
        })
    }

    fn entries_mut(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Vec<DnsEntry>>> {
        self.shared
            .entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn listeners(&self) -> std::sync::MutexGuard<'_, HashMap<String, Listener>> {
        self.listeners.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens the resolver's sockets in `netns` for `container_id`
    /// (idempotent; a container in a new netns gets new sockets).
    pub fn open(&self, container_id: &str, netns: &Path) -> std::io::Result<()> {
        let Some(rt) = &self.runtime else {
            return Err(std::io::Error::other("the resolver is shut down"));
        };
        let mut l = self.listeners();
        if l.get(container_id).is_some_and(|x| x.netns == netns) {
            return Ok(());
        }
        // Its old netns's sockets (a restarted container) go first.
        l.remove(container_id);
        let ns = Arc::new(NetNs::open(netns).map_err(std::io::Error::other)?);
        let (udp, tcp) = listen::bind_in(&ns)?;
        let (stop, rx) = watch::channel(false);
        let scope = Arc::new(listen::Scope {
            container_id: container_id.to_owned(),
            shared: self.shared.clone(),
            netns: ns,
        });
        rt.spawn(listen::serve_udp(udp, scope.clone(), rx.clone()));
        rt.spawn(listen::serve_tcp(tcp, scope, rx));
        l.insert(
            container_id.to_owned(),
            Listener {
                netns: netns.to_owned(),
                stop,
            },
        );
        tracing::debug!(container = %container_id, netns = %netns.display(), "dns: serving 127.0.0.11:53");
        Ok(())
    }

    /// Closes the sockets of `container_id` (if open).
    pub fn close(&self, container_id: &str) {
        if let Some(l) = self.listeners().remove(container_id) {
            let _ = l.stop.send(true);
        }
    }

    /// Whether `container_id` has sockets open (for tests and inspection).
    pub fn is_open(&self, container_id: &str) -> bool {
        self.listeners().contains_key(container_id)
    }

    /// Closes the sockets of containers with no name left.
    fn close_unnamed(&self) {
        let named: std::collections::HashSet<String> = self
            .shared
            .entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .flatten()
            .map(|e| e.container_id.clone())
            .collect();
        let gone: Vec<String> = self
            .listeners()
            .keys()
            .filter(|id| !named.contains(*id))
            .cloned()
            .collect();
        for id in gone {
            self.close(&id);
        }
    }

    /// Forgets `network`'s entries (network rm), closing the sockets of
    /// containers left with no user network.
    pub fn stop(&self, network: &str) {
        self.entries_mut().remove(network);
        self.close_unnamed();
    }

    pub fn add(&self, network: &str, entry: DnsEntry) {
        let mut e = self.entries_mut();
        let v = e.entry(network.to_owned()).or_default();
        v.retain(|x| x.container_id != entry.container_id);
        v.push(entry);
    }

    /// Removes a container's names on `network`; its sockets close with
    /// its last user network.
    pub fn remove(&self, network: &str, container_id: &str) {
        let still_named = {
            let mut e = self.entries_mut();
            if let Some(v) = e.get_mut(network) {
                v.retain(|x| x.container_id != container_id);
            }
            e.values().flatten().any(|x| x.container_id == container_id)
        };
        if !still_named {
            self.close(container_id);
        }
    }

    /// At daemon start: opens the sockets of every container with a
    /// recorded name whose netns still exists (live restore). Those of
    /// containers that turn out dead close with their names.
    pub fn reopen_all(&self) {
        let wanted: HashMap<String, PathBuf> = self
            .shared
            .entries
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .flatten()
            .filter_map(|e| Some((e.container_id.clone(), e.netns.clone()?)))
            .collect();
        for (id, ns) in wanted {
            if !ns.exists() {
                continue;
            }
            if let Err(e) = self.open(&id, &ns) {
                tracing::warn!(container = %id, "dns: reopening 127.0.0.11:53: {e}");
            }
        }
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        self.listeners().clear();
        // Dropping a runtime from async code panics; this does not wait.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_nameservers() {
        assert_eq!(
            nameservers(
                "# x\nnameserver 10.0.0.1\nsearch a\nnameserver ::1\nnameserver 127.0.0.11\n"
            ),
            [
                "10.0.0.1:53".parse::<SocketAddr>().expect("a"),
                "[::1]:53".parse().expect("b")
            ]
        );
    }
}
