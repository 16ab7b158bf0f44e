//! A container as the engine keeps it: the request it was created from
//! (Docker's typed models), what was resolved at create, and its run
//! state. Persisted as JSON in the store under `containers/<id>`.

use std::collections::HashMap;

use bollard_stubs::models::{ContainerConfig, HostConfig};
use serde::{Deserialize, Serialize};

use crate::network::Endpoint;

/// Docker's container states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    /// Running or paused: there is a live process.
    pub fn is_live(&self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }
}

/// The run state (Docker's State object, plus what berth needs).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RunState {
    pub status: Status,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    pub oom_killed: bool,
    /// The monitor's PID while one runs.
    pub monitor_pid: i32,
    /// Set by stop/kill from the user: restart policies leave it alone
    /// (`unless-stopped` across daemon restarts too).
    pub stopped_by_user: bool,
    /// The healthcheck's state while the container has one.
    #[serde(default)]
    pub health: Option<bollard_stubs::models::Health>,
}

/// A mount as resolved at create (Docker's MountPoint).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MountRecord {
    /// bind, volume, tmpfs.
    pub kind: String,
    /// Volume name (for volumes).
    pub name: String,
    /// Host path (bind source or the volume's data dir).
    pub source: String,
    pub destination: String,
    pub rw: bool,
    /// Mount options (tmpfs size, bind propagation).
    pub options: Vec<String>,
    pub propagation: String,
    /// An anonymous volume, removed with the container by `rm -v`.
    pub anonymous: bool,
    /// The volume's subdirectory that is mounted (`VolumeOptions.Subpath`).
    #[serde(default)]
    pub subpath: String,
}

/// Everything the engine knows about one container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    /// Without the leading '/'.
    pub name: String,
    pub created: String,
    /// The image as the user named it.
    pub image: String,
    /// `sha256:<hex>`.
    pub image_id: String,
    /// Config with the image's defaults merged in (as inspect shows).
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    /// The command run: entrypoint + cmd, first element is Path.
    pub path: String,
    pub args: Vec<String>,
    pub state: RunState,
    pub restart_count: i64,
    pub mounts: Vec<MountRecord>,
    /// Endpoints by network name, while attached.
    pub endpoints: HashMap<String, Endpoint>,
    /// The container's netns bind mount while it has one.
    pub netns: Option<String>,
    /// The networks the container is connected to (`--network` and
    /// `network connect`), with what was asked for each (`--ip`,
    /// `--network-alias`). The network mode's network is here from create on
    /// and goes at its disconnect (the mode stays, as in dockerd).
    #[serde(default)]
    pub networks: std::collections::BTreeMap<String, bollard_stubs::models::EndpointSettings>,
    /// Its legacy links (`--link` on the default bridge), registered at create.
    #[serde(default)]
    pub links: Vec<super::links::LinkRecord>,
}

impl ContainerRecord {
    pub fn key(id: &str) -> String {
        format!("containers/{id}")
    }

    pub fn labels(&self) -> HashMap<String, String> {
        self.config.labels.clone().unwrap_or_default()
    }

    pub fn tty(&self) -> bool {
        self.config.tty.unwrap_or(false)
    }

    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }
}
