//! The state of a container: runc's `state` JSON (which is the OCI state
//! plus `rootfs`, `created` and `owner`) and the few private facts berth
//! needs to find the container again.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Runtime status, as runtime-spec and runc name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    /// The lowercase name used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What `state` prints and hooks read on stdin (runc's field order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
    /// PID of the container's init as the host sees it; 0 once stopped.
    pub pid: i32,
    pub status: Status,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub owner: String,
}

/// Private facts kept next to the public state in `state.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Private {
    /// Start time of init (field 22 of /proc/PID/stat, clock ticks since
    /// boot): tells a live init from a recycled PID.
    pub init_start_time: u64,
    /// `linux.cgroupsPath` as given in config.json.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroups_path: Option<String>,
    /// The cgroup manager as resolved at create time (a relative
    /// cgroupsPath depends on the creating process's own cgroup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<crate::cgroups::CgroupManager>,
    /// The config's poststart and poststop hooks (empty lists when none),
    /// so `start` and `delete` need not read and parse config.json. None
    /// in a state file that predates them: read the config then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<LaterHooks>,
}

/// The hooks the runtime runs after `create` returned.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LaterHooks {
    #[serde(default)]
    pub poststart: Vec<oci_spec::runtime::Hook>,
    #[serde(default)]
    pub poststop: Vec<oci_spec::runtime::Hook>,
}

impl LaterHooks {
    /// The poststart and poststop hooks of a config's `hooks`.
    pub fn of(hooks: Option<&oci_spec::runtime::Hooks>) -> LaterHooks {
        LaterHooks {
            poststart: hooks
                .and_then(|h| h.poststart().clone())
                .unwrap_or_default(),
            poststop: hooks.and_then(|h| h.poststop().clone()).unwrap_or_default(),
        }
    }
}

impl Record {
    /// poststart and poststop: from the record, else (an older state file)
    /// from the config saved in `dir`.
    pub fn later_hooks(&self, dir: &super::ContainerDir) -> LaterHooks {
        match &self.berth.hooks {
            Some(h) => h.clone(),
            None => LaterHooks::of(
                dir.read_config()
                    .ok()
                    .and_then(|s| s.hooks().clone())
                    .as_ref(),
            ),
        }
    }

    /// The container's cgroup manager: the one stored at create, else
    /// resolved again from cgroupsPath.
    pub fn cgroup(&self) -> Result<crate::cgroups::CgroupManager, crate::cgroups::CgroupError> {
        match &self.berth.cgroup {
            Some(m) => Ok(m.clone()),
            None => crate::cgroups::CgroupManager::new(
                self.berth.cgroups_path.as_deref(),
                &self.state.id,
            ),
        }
    }
}

/// The on-disk `state.json`: the public state with berth's private part.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    #[serde(flatten)]
    pub state: State,
    #[serde(default)]
    pub berth: Private,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_hooks_round_trip_and_older_files_have_none() -> Result<(), serde_json::Error> {
        let hooks: oci_spec::runtime::Hooks = serde_json::from_str(
            r#"{"poststart":[{"path":"/bin/a"}],"poststop":[{"path":"/bin/b","args":["b","x"]}]}"#,
        )?;
        let later = LaterHooks::of(Some(&hooks));
        assert_eq!(later.poststart.len(), 1);
        assert_eq!(later.poststop[0].path(), &PathBuf::from("/bin/b"));
        assert!(LaterHooks::of(None).poststart.is_empty());

        let old = r#"{"ociVersion":"1.2.0","id":"c","pid":7,"status":"created",
            "bundle":"/b","rootfs":"/b/rootfs","created":"t","berth":{"initStartTime":5}}"#;
        let rec: Record = serde_json::from_str(old)?;
        assert!(rec.berth.hooks.is_none());

        let mut rec = rec;
        rec.berth.hooks = Some(later);
        let back: Record = serde_json::from_str(&serde_json::to_string(&rec)?)?;
        let h = back.berth.hooks.unwrap_or_default();
        assert_eq!(h.poststart[0].path(), &PathBuf::from("/bin/a"));
        assert_eq!(h.poststop[0].args().clone().unwrap_or_default(), ["b", "x"]);
        Ok(())
    }
}
