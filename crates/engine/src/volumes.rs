//! Local volumes: a directory per volume under `<data-root>/volumes/<name>/_data`,
//! described in the store under `volumes/<name>`.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};
use crate::events::Event;
use crate::filters::Filters;
use crate::{ids, Engine};

/// A volume as the store keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct VolumeRecord {
    pub name: String,
    pub driver: String,
    pub created_at: String,
    pub labels: HashMap<String, String>,
    pub options: HashMap<String, String>,
    /// Made for an image VOLUME or `-v /path` without a name.
    pub anonymous: bool,
}

/// The label dockerd puts on a volume made without a name.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

fn key(name: &str) -> String {
    format!("volumes/{name}")
}

impl Engine {
    pub fn volume_path(&self, name: &str) -> PathBuf {
        self.inner.cfg.volumes_dir().join(name).join("_data")
    }

    /// `volume create`; an existing volume of that name is returned as is.
    pub fn volume_create(
        &self,
        name: Option<&str>,
        driver: Option<&str>,
        labels: HashMap<String, String>,
        options: HashMap<String, String>,
        anonymous: bool,
    ) -> Result<VolumeRecord> {
        let driver = driver.filter(|d| !d.is_empty()).unwrap_or("local");
        if driver != "local" {
            return Err(EngineError::NotFound(format!(
                "plugin \"{driver}\" not found"
            )));
        }
        if let Some(o) = options.keys().next() {
            return Err(EngineError::Invalid(format!(
                "invalid option for the local volume driver: {o} (berth's local driver takes none yet)"
            )));
        }
        let unnamed = name.is_none_or(str::is_empty);
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                if !ids::valid_volume_name(n) {
                    return Err(EngineError::Invalid(format!(
                        "\"{n}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
                    )));
                }
                n.to_owned()
            }
            None => ids::new_id()?,
        };
        // As dockerd: a volume made without a name is anonymous (prune
        // removes it without `all`), and says so in a label.
        let anonymous = anonymous || unnamed;
        let mut labels = labels;
        if anonymous {
            labels.entry(ANONYMOUS_LABEL.to_owned()).or_default();
        }
        if let Ok(v) = self.volume_get(&name) {
            return Ok(v);
        }
        let rec = VolumeRecord {
            name: name.clone(),
            driver: driver.to_owned(),
            created_at: berth_runtime::state::time::now_rfc3339(),
            labels,
            options,
            anonymous,
        };
        let path = self.volume_path(&name);
        std::fs::create_dir_all(&path)
            .map_err(EngineError::io(format!("creating {}", path.display())))?;
        let bytes = serde_json::to_vec(&rec)
            .map_err(|e| EngineError::Internal(format!("encoding volume: {e}")))?;
        self.inner.store.put(&key(&name), &bytes)?;
        self.inner
            .events
            .publish(Event::new("volume", "create", &name).attr("driver", driver));
        Ok(rec)
    }

    pub fn volume_get(&self, name: &str) -> Result<VolumeRecord> {
        let bytes = self
            .inner
            .store
            .get(&key(name))?
            .ok_or_else(|| EngineError::NotFound(format!("get {name}: no such volume")))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| EngineError::Internal(format!("volume record {name}: {e}")))
    }

    /// Containers whose mounts use the volume.
    pub fn volume_users(&self, name: &str) -> Vec<String> {
        self.list_records()
            .into_iter()
            .filter(|r| {
                r.mounts
                    .iter()
                    .any(|m| m.kind == "volume" && m.name == name)
            })
            .map(|r| r.id)
            .collect()
    }

    pub fn volume_list(&self, filters: &Filters) -> Result<Vec<VolumeRecord>> {
        filters.check_keys(&["name", "label", "driver", "dangling"])?;
        let mut out = Vec::new();
        for (_, v) in self.inner.store.list_prefix("volumes/")? {
            let Ok(rec) = serde_json::from_slice::<VolumeRecord>(&v) else {
                continue;
            };
            let dangling = self.volume_users(&rec.name).is_empty();
            let keep = filters.any("name", |n| rec.name.contains(n))
                && filters.any("driver", |d| rec.driver == d)
                && filters.labels_match("label", &rec.labels)
                && filters.any("dangling", |d| (d == "true" || d == "1") == dangling);
            if keep {
                out.push(rec);
            }
        }
        Ok(out)
    }

    /// `volume rm`: refused (409) while a container uses it.
    pub fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        if self.volume_get(name).is_err() {
            if force {
                return Ok(());
            }
            return Err(EngineError::NotFound(format!("get {name}: no such volume")));
        }
        let users = self.volume_users(name);
        if !users.is_empty() {
            return Err(EngineError::Conflict(format!(
                "remove {name}: volume is in use - [{}]",
                users.join(", ")
            )));
        }
        let dir = self.inner.cfg.volumes_dir().join(name);
        std::fs::remove_dir_all(&dir)
            .or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .map_err(EngineError::io(format!("removing {}", dir.display())))?;
        self.inner.store.delete(&key(name))?;
        self.inner
            .events
            .publish(Event::new("volume", "destroy", name).attr("driver", "local"));
        Ok(())
    }

    /// `volume prune`: unused volumes (anonymous ones only unless `all`).
    pub fn volume_prune(&self, filters: &Filters) -> Result<(Vec<String>, u64)> {
        let all = filters
            .get("all")
            .is_some_and(|v| v.iter().any(|x| x == "true" || x == "1"));
        let mut rest = filters.clone();
        rest.0.remove("all");
        rest.0.remove("label!");
        let mut removed = Vec::new();
        let mut space = 0;
        for v in self.volume_list(&rest)? {
            if !self.volume_users(&v.name).is_empty()
                || (!all && !v.anonymous)
                || filters.labels_exclude("label!", &v.labels)
            {
                continue;
            }
            space += dir_size(&self.volume_path(&v.name));
            self.volume_remove(&v.name, false)?;
            removed.push(v.name);
        }
        Ok((removed, space))
    }
}

/// Bytes in files under `path` (for prune's SpaceReclaimed and df).
pub fn dir_size(path: &std::path::Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(path) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}
