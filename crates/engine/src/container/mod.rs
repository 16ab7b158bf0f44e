//! Containers: the registry of records (in memory, persisted in the
//! store) and one module per verb.

pub mod archive;
pub mod attach;
pub mod connect;
pub mod create;
pub mod exec;
pub mod health;
pub mod init;
pub mod inspect;
pub mod ipc_shm;
pub mod links;
pub mod list;
pub mod logs;
pub mod mounts;
pub mod record;
pub mod remove;
pub mod restore;
pub mod seccomp;
pub mod shared_ns;
pub mod spec;
pub mod start;
pub mod stats;
pub mod stop;
pub mod subpath;
pub mod update;

use std::sync::{Arc, Mutex};

use tokio::sync::{oneshot, watch};

use crate::error::{EngineError, Result};
use crate::{lock, Engine};
use record::ContainerRecord;

/// What waiters watch: how many exits were seen, the last exit code,
/// whether the container is gone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Notice {
    pub exits: u64,
    pub exit_code: i64,
    pub removed: bool,
    pub running: bool,
}

/// An attach waiting for the container's monitor: `start` sends the
/// attach socket and waits for the confirmation that it is connected.
pub type PendingAttach = oneshot::Sender<(std::path::PathBuf, oneshot::Sender<()>)>;

/// One container in the registry.
pub struct Entry {
    pub(crate) rec: Mutex<ContainerRecord>,
    pub(crate) notice: watch::Sender<Notice>,
    /// Serialises lifecycle operations (start, stop, remove, ...).
    pub(crate) op: tokio::sync::Mutex<()>,
    pub(crate) pending_attach: Mutex<Vec<PendingAttach>>,
}

impl Entry {
    pub(crate) fn new(rec: ContainerRecord) -> Arc<Entry> {
        let running = rec.state.status.is_live();
        Arc::new(Entry {
            rec: Mutex::new(rec),
            notice: watch::channel(Notice {
                running,
                ..Notice::default()
            })
            .0,
            op: tokio::sync::Mutex::new(()),
            pending_attach: Mutex::new(Vec::new()),
        })
    }

    pub fn record(&self) -> ContainerRecord {
        lock(&self.rec).clone()
    }

    pub fn id(&self) -> String {
        lock(&self.rec).id.clone()
    }
}

impl Engine {
    /// The runtime that runs `rec` (its `HostConfig.Runtime`). A runtime
    /// gone from the daemon's configuration since the container was
    /// created falls back to berth's own, whose verbs then fail cleanly.
    pub(crate) fn driver(&self, rec: &ContainerRecord) -> berth_runtime::Driver {
        let name = rec.host_config.runtime.as_deref().unwrap_or("");
        self.inner.cfg.runtime_driver(name).unwrap_or_else(|e| {
            tracing::warn!(container = %rec.id, "{e}");
            berth_runtime::Driver::Builtin(self.inner.runtime.clone())
        })
    }

    /// Loads every container record from the store.
    pub(crate) fn load(&self) -> Result<()> {
        let mut map = lock(&self.inner.containers);
        for (_, v) in self.inner.store.list_prefix("containers/")? {
            match serde_json::from_slice::<ContainerRecord>(&v) {
                Ok(rec) => {
                    map.insert(rec.id.clone(), Entry::new(rec));
                }
                Err(e) => tracing::warn!("skipping unreadable container record: {e}"),
            }
        }
        Ok(())
    }

    /// Writes the record to the store.
    pub(crate) fn persist(&self, rec: &ContainerRecord) -> Result<()> {
        let bytes = serde_json::to_vec(rec)
            .map_err(|e| EngineError::Internal(format!("encoding container record: {e}")))?;
        self.inner
            .store
            .put(&ContainerRecord::key(&rec.id), &bytes)?;
        Ok(())
    }

    /// Changes the record, persists it, and returns the new copy.
    pub(crate) fn update(
        &self,
        entry: &Entry,
        f: impl FnOnce(&mut ContainerRecord),
    ) -> Result<ContainerRecord> {
        let rec = {
            let mut r = lock(&entry.rec);
            f(&mut r);
            r.clone()
        };
        self.persist(&rec)?;
        entry
            .notice
            .send_modify(|n| n.running = rec.state.status.is_live());
        Ok(rec)
    }

    /// A container by full id, name (with or without '/'), or unique id prefix.
    pub fn lookup(&self, name_or_id: &str) -> Result<Arc<Entry>> {
        let map = lock(&self.inner.containers);
        if let Some(e) = map.get(name_or_id) {
            return Ok(e.clone());
        }
        let name = name_or_id.strip_prefix('/').unwrap_or(name_or_id);
        if let Some(e) = map.values().find(|e| lock(&e.rec).name == name) {
            return Ok(e.clone());
        }
        if name.contains('/') {
            drop(map);
            if let Some(e) = self
                .link_target(name)
                .and_then(|id| lock(&self.inner.containers).get(&id).cloned())
            {
                return Ok(e);
            }
            return Err(EngineError::no_container(name_or_id));
        }
        if !name_or_id.is_empty() {
            let hits: Vec<_> = map
                .iter()
                .filter(|(id, _)| id.starts_with(name_or_id))
                .map(|(_, e)| e.clone())
                .collect();
            match hits.len() {
                1 => return Ok(hits[0].clone()),
                0 => {}
                _ => {
                    return Err(EngineError::NotFound(format!(
                        "multiple IDs found with provided prefix: {name_or_id}"
                    )))
                }
            }
        }
        Err(EngineError::no_container(name_or_id))
    }

    /// Every record (a snapshot).
    pub fn list_records(&self) -> Vec<ContainerRecord> {
        lock(&self.inner.containers)
            .values()
            .map(|e| e.record())
            .collect()
    }

    /// The id of the container named `name`, if any.
    pub(crate) fn id_by_name(&self, name: &str) -> Option<String> {
        lock(&self.inner.containers)
            .values()
            .map(|e| lock(&e.rec).clone())
            .find(|r| r.name == name)
            .map(|r| r.id)
    }

    /// Subscribes to a container's notices.
    pub fn watch(&self, entry: &Entry) -> watch::Receiver<Notice> {
        entry.notice.subscribe()
    }
}
