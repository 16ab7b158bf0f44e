//! Container networking as the engine sees it: the network mode parsed
//! from HostConfig, the container's own netns (made and bind-mounted
//! before its process starts), and the attach/detach seam that network
//! drivers fill ([`NetworkAttacher`]; engine networking proper is issue 11).

use std::path::{Path, PathBuf};

use berth_net::netns::NetNs;

use crate::error::{EngineError, Result};

/// `HostConfig.NetworkMode`, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkMode {
    /// Its own netns with only `lo`.
    None,
    /// The daemon's netns.
    Host,
    /// Its own netns attached to a network (`bridge` is the default).
    Network(String),
    /// Another container's netns.
    Container(String),
}

impl NetworkMode {
    pub fn parse(s: &str) -> Result<NetworkMode> {
        Ok(match s {
            "" | "default" | "bridge" => NetworkMode::Network("bridge".into()),
            "none" => NetworkMode::None,
            "host" => NetworkMode::Host,
            other => match other.strip_prefix("container:") {
                Some("") => {
                    return Err(EngineError::Invalid(
                        "invalid network mode: container: needs a name or id".into(),
                    ))
                }
                Some(c) => NetworkMode::Container(c.to_owned()),
                None => NetworkMode::Network(other.to_owned()),
            },
        })
    }

    /// The name Docker shows in HostConfig.NetworkMode and as the key of
    /// NetworkSettings.Networks.
    pub fn name(&self) -> String {
        match self {
            NetworkMode::None => "none".into(),
            NetworkMode::Host => "host".into(),
            NetworkMode::Network(n) => n.clone(),
            NetworkMode::Container(c) => format!("container:{c}"),
        }
    }

    /// Whether the container gets a netns of its own.
    pub fn own_netns(&self) -> bool {
        matches!(self, NetworkMode::None | NetworkMode::Network(_))
    }
}

/// What to attach: one container to one network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    pub container_id: String,
    pub container_name: String,
    pub network: String,
    pub aliases: Vec<String>,
}

/// What an attach made (as NetworkSettings.Networks shows it).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Endpoint {
    pub network_id: String,
    pub endpoint_id: String,
    pub ip_address: String,
    pub ip_prefix_len: i64,
    pub gateway: String,
    pub mac_address: String,
}

/// A network driver as the engine calls it. `attach` is transactional: on
/// error nothing it made is left.
pub trait NetworkAttacher: Send + Sync {
    fn attach(&self, netns: &Path, cfg: &EndpointConfig) -> Result<Endpoint>;
    fn detach(&self, netns: &Path, cfg: &EndpointConfig, ep: &Endpoint) -> Result<()>;
}

/// The attacher until engine networking lands (issue 11): a container on
/// a network keeps its own netns with only `lo`, and no address.
pub struct LoopbackOnly;

impl NetworkAttacher for LoopbackOnly {
    fn attach(&self, _: &Path, cfg: &EndpointConfig) -> Result<Endpoint> {
        Ok(Endpoint {
            network_id: cfg.network.clone(),
            ..Endpoint::default()
        })
    }
    fn detach(&self, _: &Path, _: &EndpointConfig, _: &Endpoint) -> Result<()> {
        Ok(())
    }
}

/// Makes the container's netns at `dir/<id>` with `lo` up.
pub fn create_netns(dir: &Path, id: &str) -> Result<PathBuf> {
    let ns = NetNs::create(dir, id).map_err(|e| EngineError::Internal(e.to_string()))?;
    let path = ns.path().to_path_buf();
    let lo_up = berth_net::netlink::Netlink::for_netns(&ns)
        .and_then(|nl| nl.set_up(1))
        .map_err(|e| EngineError::Internal(format!("bringing up lo: {e}")));
    if let Err(e) = lo_up {
        let _ = NetNs::remove(&path);
        return Err(e);
    }
    Ok(path)
}

/// Removes the netns bind mount (the kernel frees its links).
pub fn remove_netns(path: &Path) -> Result<()> {
    NetNs::remove(path).map_err(|e| EngineError::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_like_docker() {
        assert_eq!(
            NetworkMode::parse("default").expect("mode"),
            NetworkMode::Network("bridge".into())
        );
        assert_eq!(NetworkMode::parse("none").expect("mode"), NetworkMode::None);
        assert_eq!(NetworkMode::parse("host").expect("mode"), NetworkMode::Host);
        assert_eq!(
            NetworkMode::parse("container:web").expect("mode"),
            NetworkMode::Container("web".into())
        );
        assert!(NetworkMode::parse("container:").is_err());
        assert!(NetworkMode::None.own_netns());
        assert!(!NetworkMode::Host.own_netns());
    }
}
