//! CNI networks: every conflist of the CNI config dir is a network (driver
//! `cni`) that containers join by running its plugin chain through
//! berth-cni's client, so third-party plugins (the reference bridge,
//! host-local, portmap, ...) and berth's own (`berth-bridge`, ...) work
//! under berthd as under podman or containerd.
//!
//! ADD gets the container's netns path and interface name; its result is
//! kept in the client's cache (libcni's layout, `<data-root>/cni/results`)
//! with the configuration it ran with, so DEL at detach runs the chain the
//! attachment was made with, even after the file changed or went away.
//! Before ADD the driver writes the cache entry without a result: a berthd
//! killed in the middle of the chain leaves that entry, and the next start
//! DELs it ([`CniDriver::release_orphans`]) as the bridge driver releases
//! the leases of unrecorded endpoints.
//!
//! Not offered on CNI networks (refused with a 400 at attach): network
//! aliases (no embedded DNS), `--ip`/`--ip6`/`--mac-address`, and ports
//! other than explicit `-p HOSTPORT:PORT` through a plugin declaring the
//! `portMappings` capability (portmap).

mod discovery;
mod endpoint;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use berth_cni::client::cache::{CacheEntry, CACHE_KIND};
use berth_cni::client::{Attachment, CniClient};
use berth_cni::types::NetConfList;

use super::{Endpoint, EndpointConfig, NetworkAttacher, NetworkInfo};
use crate::error::{EngineError, Result};
use discovery::{ConfDir, Discovered};

/// Where the CNI driver finds its networks and plugins.
#[derive(Debug, Clone)]
pub struct CniConfig {
    /// The conflist dir (`--cni-config-dir`, default `/etc/cni/net.d`).
    pub conf_dir: PathBuf,
    /// The plugin dirs, searched in order (`--cni-bin-dir`).
    pub bin_dirs: Vec<PathBuf>,
    /// The result cache (`<data-root>/cni`).
    pub cache_dir: PathBuf,
}

impl CniConfig {
    /// The plugin dirs when none are given: the CNI convention's, then
    /// where Debian's containernetworking-plugins installs them.
    pub fn default_bin_dirs() -> Vec<PathBuf> {
        vec!["/opt/cni/bin".into(), "/usr/lib/cni".into()]
    }
}

/// The CNI driver.
pub struct CniDriver {
    conf: ConfDir,
    client: CniClient,
}

fn cni_failed(network: &str, what: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError::Internal(format!("CNI network {network}: {what}: {e}"))
}

/// The interface an endpoint was made with (records from before the
/// interface was kept mean eth0).
fn ifname_of(cfg: &EndpointConfig, ep: Option<&Endpoint>) -> String {
    ep.map(|e| e.ifname.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| {
            if cfg.ifname.is_empty() {
                "eth0".into()
            } else {
                cfg.ifname.clone()
            }
        })
}

impl CniDriver {
    pub fn new(cfg: CniConfig) -> CniDriver {
        CniDriver {
            conf: ConfDir::new(cfg.conf_dir),
            client: CniClient::new(cfg.bin_dirs, cfg.cache_dir),
        }
    }

    /// The config dir (for messages).
    pub fn conf_dir(&self) -> &Path {
        self.conf.dir()
    }

    fn find(&self, name: &str) -> Option<Discovered> {
        self.conf.scan().into_iter().find(|d| d.list.name == name)
    }

    /// Whether a conflist names network `name`.
    pub fn has_network(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    /// Whether an attachment of this container and interface to `network`
    /// is cached (made by ADD, not yet DELeted).
    pub fn has_attachment(&self, cfg: &EndpointConfig, ep: &Endpoint) -> bool {
        let ifname = ifname_of(cfg, Some(ep));
        matches!(
            self.client
                .cache()
                .get(&cfg.network, &cfg.container_id, &ifname),
            Ok(Some(_))
        )
    }

    /// What berthd cannot do on a CNI network, refused before any plugin runs.
    fn check(&self, net: &Discovered, cfg: &EndpointConfig) -> Result<()> {
        let name = &net.list.name;
        let refuse = |what: &str| {
            Err(EngineError::Invalid(format!(
                "{what} is not supported on CNI network {name}"
            )))
        };
        if !cfg.aliases.is_empty() {
            return refuse("a network-scoped alias (berthd runs no DNS on CNI networks)");
        }
        if cfg.ipv4.is_some() || cfg.ipv6.is_some() {
            return refuse("a static address (--ip, --ip6)");
        }
        if cfg.mac.is_some() {
            return refuse("--mac-address");
        }
        if !cfg.ports.is_empty() && !net.has_capability("portMappings") {
            return Err(EngineError::Invalid(format!(
                "cannot publish ports on CNI network {name}: no plugin of {} declares the portMappings capability (add portmap to the chain)",
                net.path.display()
            )));
        }
        if let Some(p) = cfg
            .ports
            .iter()
            .find(|p| p.host_port == 0 || p.host_port_end != 0)
        {
            return Err(EngineError::Invalid(format!(
                "cannot publish port {}/{} on CNI network {name}: CNI networks publish explicit host ports only (-p HOSTPORT:PORT), not -P, -p PORT or port ranges",
                p.container_port, p.protocol
            )));
        }
        Ok(())
    }

    fn attachment(
        netns: &Path,
        container_id: &str,
        ifname: &str,
        cfg: &EndpointConfig,
    ) -> Attachment {
        let mut capability_args = serde_json::Map::new();
        if !cfg.ports.is_empty() {
            let ports: Vec<serde_json::Value> = cfg
                .ports
                .iter()
                .map(|p| {
                    serde_json::json!({
                        "hostPort": p.host_port,
                        "containerPort": p.container_port,
                        "protocol": p.protocol,
                        "hostIP": p.host_ip,
                    })
                })
                .collect();
            capability_args.insert("portMappings".into(), ports.into());
        }
        Attachment {
            container_id: container_id.to_owned(),
            netns: Some(netns.to_owned()),
            ifname: ifname.to_owned(),
            args: Vec::new(),
            capability_args,
        }
    }

    /// DEL of a cached attachment with the configuration it was added with.
    fn del_cached(&self, entry: &CacheEntry, netns: Option<&Path>) -> Result<()> {
        let network = &entry.network_name;
        let list = NetConfList::from_bytes(&entry.config)
            .map_err(|e| cni_failed(network, "the cached configuration", e))?;
        let a = Attachment {
            container_id: entry.container_id.clone(),
            netns: netns
                .map(Path::to_owned)
                .or_else(|| entry.netns.as_ref().map(PathBuf::from)),
            ifname: entry.if_name.clone(),
            args: entry.cni_args.clone(),
            capability_args: entry.capability_args.clone(),
        };
        self.client
            .del(&list, &a)
            .map_err(|e| cni_failed(network, "DEL", e))
    }
}

impl NetworkAttacher for CniDriver {
    fn attach(&self, netns: &Path, cfg: &EndpointConfig) -> Result<Endpoint> {
        let net = self
            .find(&cfg.network)
            .ok_or_else(|| EngineError::NotFound(format!("network {} not found", cfg.network)))?;
        self.check(&net, cfg)?;
        let ifname = ifname_of(cfg, None);
        let a = Self::attachment(netns, &cfg.container_id, &ifname, cfg);
        // The intent, before any plugin runs: what a crash mid-chain
        // leaves for the next start to DEL.
        let intent = CacheEntry {
            kind: CACHE_KIND.into(),
            container_id: a.container_id.clone(),
            config: net.list.bytes.clone(),
            if_name: ifname.clone(),
            network_name: net.list.name.clone(),
            netns: Some(netns.display().to_string()),
            cni_args: a.args.clone(),
            capability_args: a.capability_args.clone(),
            result: None,
        };
        self.client
            .cache()
            .put(&intent)
            .map_err(|e| cni_failed(&cfg.network, "caching the attachment", e))?;
        let result = match self.client.add(&net.list, &a) {
            Ok(r) => r,
            Err(e) => {
                // The client DELeted the chain already.
                let _ = self
                    .client
                    .cache()
                    .remove(&net.list.name, &a.container_id, &ifname);
                return Err(cni_failed(&cfg.network, "ADD", e));
            }
        };
        let mut ep = endpoint::from_result(&result, &netns.display().to_string(), &ifname);
        ep.network_id = discovery::network_id(&net.list.name);
        ep.endpoint_id = crate::ids::new_id()?;
        ep.ports = cfg.ports.clone();
        Ok(ep)
    }

    fn detach(&self, netns: &Path, cfg: &EndpointConfig, ep: &Endpoint) -> Result<()> {
        let ifname = ifname_of(cfg, Some(ep));
        let cached = self
            .client
            .cache()
            .get(&cfg.network, &cfg.container_id, &ifname)
            .map_err(|e| cni_failed(&cfg.network, "reading the result cache", e))?;
        if let Some(entry) = cached {
            return self.del_cached(&entry, Some(netns));
        }
        // No cache entry (removed by hand?): DEL with today's file is
        // still right, plugins tolerate DEL of what is not there.
        match self.find(&cfg.network) {
            Some(net) => {
                let a = Self::attachment(netns, &cfg.container_id, &ifname, cfg);
                self.client
                    .del(&net.list, &a)
                    .map_err(|e| cni_failed(&cfg.network, "DEL", e))
            }
            None => {
                tracing::warn!(network = %cfg.network, container = %cfg.container_id,
                    "no cached attachment and no conflist: nothing to DEL");
                Ok(())
            }
        }
    }

    fn networks(&self) -> Vec<NetworkInfo> {
        let mut v: Vec<NetworkInfo> = self.conf.scan().iter().map(Discovered::info).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// DEL of every cached attachment (or intent) of a container not in `live`.
    fn release_orphans(&self, live: &HashSet<String>) -> Result<()> {
        let entries = self
            .client
            .cache()
            .list_all()
            .map_err(|e| EngineError::Internal(format!("reading the CNI result cache: {e}")))?;
        let mut first_err = None;
        for entry in entries.iter().filter(|e| !live.contains(&e.container_id)) {
            tracing::info!(
                network = %entry.network_name,
                container = %entry.container_id,
                ifname = %entry.if_name,
                added = entry.result.is_some(),
                "CNI DEL of an attachment no recorded endpoint holds"
            );
            if let Err(e) = self.del_cached(entry, None) {
                tracing::warn!("{e}");
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}
