//! Which driver serves a network. berthd's networks are the bridge
//! driver's (the default `bridge` and user-defined bridges) and the CNI
//! driver's (one per conflist of the CNI config dir); [`Networks`] is the
//! engine's one [`NetworkAttacher`] and sends each call to the driver that
//! owns the network it names. On a name both have, the bridge network
//! wins (the conflist is hidden, with a warning), as do the built-in
//! `bridge`, `host` and `none`.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::cni::CniDriver;
use super::{Endpoint, EndpointConfig, NetworkAttacher, NetworkCreate, NetworkInfo};
use crate::error::{EngineError, Result};

const BUILTIN: [&str; 4] = ["bridge", "host", "none", "default"];

/// The engine's attacher: the bridge driver, and the CNI driver if any.
pub struct Networks {
    bridge: Arc<dyn NetworkAttacher>,
    cni: Option<CniDriver>,
    /// CNI network names already warned about as hidden.
    hidden: Mutex<HashSet<String>>,
}

impl Networks {
    pub fn new(bridge: Arc<dyn NetworkAttacher>, cni: Option<CniDriver>) -> Networks {
        Networks {
            bridge,
            cni,
            hidden: Mutex::new(HashSet::new()),
        }
    }

    fn bridge_has(&self, name: &str) -> bool {
        BUILTIN.contains(&name) || self.bridge.networks().iter().any(|n| n.name == name)
    }

    /// The CNI driver when it owns network `name`.
    fn cni_for(&self, name: &str) -> Option<&CniDriver> {
        self.cni
            .as_ref()
            .filter(|c| c.has_network(name) && !self.bridge_has(name))
    }

    /// The driver of an existing endpoint: CNI when its attachment is
    /// cached (also once its conflist is gone) or the network is CNI's.
    fn driver_of(&self, cfg: &EndpointConfig, ep: &Endpoint) -> &dyn NetworkAttacher {
        match &self.cni {
            Some(c) if c.has_attachment(cfg, ep) => c,
            _ => match self.cni_for(&cfg.network) {
                Some(c) => c,
                None => &*self.bridge,
            },
        }
    }
}

impl NetworkAttacher for Networks {
    fn attach(&self, netns: &Path, cfg: &EndpointConfig) -> Result<Endpoint> {
        match self.cni_for(&cfg.network) {
            Some(c) => c.attach(netns, cfg),
            None => self.bridge.attach(netns, cfg),
        }
    }

    fn detach(&self, netns: &Path, cfg: &EndpointConfig, ep: &Endpoint) -> Result<()> {
        self.driver_of(cfg, ep).detach(netns, cfg, ep)
    }

    fn disconnect(&self, netns: &Path, cfg: &EndpointConfig, ep: &Endpoint) -> Result<()> {
        self.driver_of(cfg, ep).disconnect(netns, cfg, ep)
    }

    fn networks(&self) -> Vec<NetworkInfo> {
        let mut v = self.bridge.networks();
        if let Some(c) = &self.cni {
            for n in c.networks() {
                if BUILTIN.contains(&n.name.as_str()) || v.iter().any(|b| b.name == n.name) {
                    let mut hidden = self.hidden.lock().unwrap_or_else(|p| p.into_inner());
                    if hidden.insert(n.name.clone()) {
                        tracing::warn!(network = %n.name, "hiding the CNI network: a bridge network has its name");
                    }
                    continue;
                }
                v.push(n);
            }
        }
        v
    }

    fn create_network(&self, req: &NetworkCreate) -> Result<NetworkInfo> {
        if let Some(c) = &self.cni {
            if req.driver == "cni" {
                return Err(EngineError::Invalid(format!(
                    "CNI networks cannot be created through the API: berthd makes one of each conflist in {} (add a file there)",
                    c.conf_dir().display()
                )));
            }
            if c.has_network(&req.name) {
                return Err(EngineError::Conflict(format!(
                    "network with name {} already exists (a CNI network)",
                    req.name
                )));
            }
        } else if req.driver == "cni" {
            return Err(EngineError::Invalid(
                "CNI networks cannot be created through the API: they come from conflist files in the CNI config dir (--cni-config-dir)".into(),
            ));
        }
        self.bridge.create_network(req)
    }

    fn remove_network(&self, name: &str) -> Result<()> {
        if let Some(c) = self.cni_for(name) {
            return Err(EngineError::Forbidden(format!(
                "{name} is a CNI network and cannot be removed through the API: remove its conflist from {}",
                c.conf_dir().display()
            )));
        }
        self.bridge.remove_network(name)
    }

    fn repair_firewall(&self, live: &[(String, Endpoint)]) -> Result<()> {
        self.bridge.repair_firewall(live)
    }

    fn link_openings(
        &self,
        network: &str,
        openings: &[berth_net::firewall::IccOpening],
        open: bool,
    ) -> Result<()> {
        self.bridge.link_openings(network, openings, open)
    }

    /// Both drivers, the second even when the first failed.
    fn release_orphans(&self, live: &HashSet<String>) -> Result<()> {
        let bridge = self.bridge.release_orphans(live);
        let cni = self
            .cni
            .as_ref()
            .map_or(Ok(()), |c| c.release_orphans(live));
        bridge.and(cni)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::cni::CniConfig;

    /// A bridge driver stand-in that owns network `mine` and records calls.
    #[derive(Default)]
    struct Recording(Mutex<Vec<String>>);

    impl NetworkAttacher for Recording {
        fn attach(&self, _: &Path, cfg: &EndpointConfig) -> Result<Endpoint> {
            crate::lock(&self.0).push(format!("attach {}", cfg.network));
            Ok(Endpoint::default())
        }
        fn detach(&self, _: &Path, cfg: &EndpointConfig, _: &Endpoint) -> Result<()> {
            crate::lock(&self.0).push(format!("detach {}", cfg.network));
            Ok(())
        }
        fn networks(&self) -> Vec<NetworkInfo> {
            vec![NetworkInfo {
                id: "b1".into(),
                name: "mine".into(),
                driver: "bridge".into(),
                created: String::new(),
                subnet: String::new(),
                gateway: String::new(),
                internal: false,
                ip_range: String::new(),
                subnet6: String::new(),
                gateway6: String::new(),
                aux_addresses: Default::default(),
                attachable: false,
                labels: Default::default(),
                options: Default::default(),
            }]
        }
        fn create_network(&self, req: &NetworkCreate) -> Result<NetworkInfo> {
            crate::lock(&self.0).push(format!("create {}", req.name));
            Err(EngineError::Internal("recorded".into()))
        }
    }

    fn endpoint_cfg(network: &str) -> EndpointConfig {
        EndpointConfig {
            container_id: "c1".into(),
            container_name: "one".into(),
            network: network.into(),
            aliases: vec!["web".into()],
            ports: Vec::new(),
            ifname: "eth0".into(),
            ipv4: None,
            ipv6: None,
            mac: None,
            dns: Vec::new(),
            ndots_set: false,
            links: Default::default(),
        }
    }

    #[test]
    fn calls_go_to_the_driver_owning_the_network() {
        let d = tempfile::tempdir().expect("tmp");
        let conf = d.path().join("net.d");
        std::fs::create_dir(&conf).expect("mkdir");
        for (file, name) in [("10-c.conflist", "cninet"), ("20-m.conflist", "mine")] {
            std::fs::write(
                conf.join(file),
                format!(
                    r#"{{"cniVersion":"1.0.0","name":"{name}","plugins":[{{"type":"bridge"}}]}}"#
                ),
            )
            .expect("write");
        }
        let bridge = Arc::new(Recording::default());
        let nets = Networks::new(
            bridge.clone(),
            Some(CniDriver::new(CniConfig {
                conf_dir: conf,
                bin_dirs: Vec::new(),
                cache_dir: d.path().join("cache"),
            })),
        );
        // The bridge network hides the conflist of the same name.
        let names: Vec<(String, String)> = nets
            .networks()
            .into_iter()
            .map(|n| (n.name, n.driver))
            .collect();
        assert_eq!(
            names,
            [
                ("mine".into(), "bridge".into()),
                ("cninet".into(), "cni".into())
            ]
        );
        let ns = Path::new("/nonexistent/ns");
        nets.attach(ns, &endpoint_cfg("mine"))
            .expect("bridge attach");
        // The CNI driver refuses an alias before running any plugin.
        match nets.attach(ns, &endpoint_cfg("cninet")) {
            Err(EngineError::Invalid(m)) => assert!(m.contains("CNI network cninet"), "{m}"),
            other => panic!("unexpected {other:?}"),
        }
        nets.detach(ns, &endpoint_cfg("mine"), &Endpoint::default())
            .expect("bridge detach");
        assert_eq!(*crate::lock(&bridge.0), ["attach mine", "detach mine"]);

        let create = |name: &str, driver: &str| {
            nets.create_network(&NetworkCreate {
                name: name.into(),
                driver: driver.into(),
                ..NetworkCreate::default()
            })
        };
        assert!(matches!(create("x", "cni"), Err(EngineError::Invalid(_))));
        assert!(matches!(
            create("cninet", ""),
            Err(EngineError::Conflict(_))
        ));
        assert!(matches!(
            create("fresh", "bridge"),
            Err(EngineError::Internal(_))
        ));
        assert_eq!(
            crate::lock(&bridge.0).last().map(String::as_str),
            Some("create fresh")
        );
        assert!(matches!(
            nets.remove_network("cninet"),
            Err(EngineError::Forbidden(_))
        ));
    }
}
