//! Opening the container's network namespace named by CNI_NETNS, with the
//! spec's errors: ADD and CHECK need it; DEL goes on without it.

use std::path::Path;

use berth_net::{NetNs, NetNsError};

use crate::plugin::Request;
use crate::types::CniError;

/// The container netns for ADD/CHECK. A path that is not a network
/// namespace, or is the plugin's own namespace (which would make the host
/// the "container"), is an invalid CNI_NETNS (code 4).
pub fn open_required(req: &Request) -> Result<NetNs, CniError> {
    let path = req
        .args
        .netns
        .as_deref()
        .ok_or_else(|| CniError::invalid_env("CNI_NETNS is not set"))?;
    let ns = open(path)?;
    let own = NetNs::current().map_err(|e| CniError::setup(format!("opening own netns: {e}")))?;
    if ns
        .same_as(&own)
        .map_err(|e| CniError::setup(format!("comparing namespaces: {e}")))?
    {
        return Err(CniError::invalid_env(format!(
            "CNI_NETNS {} is the plugin's own network namespace, not a container's",
            path.display()
        )));
    }
    Ok(ns)
}

/// The container netns for DEL: `None` when CNI_NETNS is unset or the
/// namespace is gone (deleted, or its bind mount already undone), so DEL can
/// still release host-side state.
pub fn open_for_del(req: &Request) -> Result<Option<NetNs>, CniError> {
    let Some(path) = req.args.netns.as_deref() else {
        return Ok(None);
    };
    match NetNs::open(path) {
        Ok(ns) => Ok(Some(ns)),
        Err(NetNsError::Open { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(NetNsError::NotNetNs { .. }) => {
            tracing::warn!(path = %path.display(), "CNI_NETNS is no longer a network namespace; cleaning up host side only");
            Ok(None)
        }
        Err(e) => Err(CniError::invalid_env(format!("CNI_NETNS: {e}"))),
    }
}

fn open(path: &Path) -> Result<NetNs, CniError> {
    NetNs::open(path).map_err(|e| match e {
        NetNsError::NotNetNs { .. } => CniError::invalid_env(format!(
            "CNI_NETNS {} is not a network namespace",
            path.display()
        )),
        other => CniError::invalid_env(format!("CNI_NETNS: {other}")),
    })
}
