//! `--pid container:X` and `--ipc container:X`: the running containers
//! whose namespaces a starting container joins, as dockerd checks them.

use super::record::{ContainerRecord, Status};
use super::spec::SharedNamespaces;
use crate::error::{EngineError, Result};
use crate::Engine;

impl Engine {
    /// The init PIDs of the donors a container's config names.
    pub(crate) fn shared_namespaces(&self, rec: &ContainerRecord) -> Result<SharedNamespaces> {
        let hc = &rec.host_config;
        let donor = |mode: Option<&str>, what: &str| -> Result<Option<i64>> {
            let Some(name) = mode.and_then(|m| m.strip_prefix("container:")) else {
                return Ok(None);
            };
            let d = self.lookup(name)?.record();
            if d.id == rec.id {
                return Err(EngineError::Invalid(format!(
                    "cannot join own {what} namespace"
                )));
            }
            if d.state.status != Status::Running || d.state.pid <= 0 {
                return Err(EngineError::Conflict(format!(
                    "cannot join {what} of a non running container: {}",
                    d.id
                )));
            }
            if what == "IPC" {
                let m = d.host_config.ipc_mode.as_deref().unwrap_or("");
                if !matches!(m, "shareable" | "host") {
                    return Err(EngineError::Conflict(format!(
                        "cannot join IPC of container {}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)",
                        d.id
                    )));
                }
            }
            Ok(Some(d.state.pid))
        };
        Ok(SharedNamespaces {
            pid: donor(hc.pid_mode.as_deref(), "PID")?,
            ipc: donor(hc.ipc_mode.as_deref(), "IPC")?,
        })
    }
}
