//! What berthd tells a monitor: written by berthd as JSON next to the
//! container's state, read once by the monitor at start.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The log driver of a container's stdout/stderr.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "driver", rename_all = "kebab-case")]
pub enum LogConfig {
    /// Docker's json-file: one JSON object per line, rotated at `max_size`
    /// bytes keeping `max_file` files in all.
    JsonFile {
        path: PathBuf,
        max_size: Option<u64>,
        max_file: u32,
    },
    /// Nothing is kept (attach still works).
    None,
}

/// What the monitor supervises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Job {
    /// The container's init, from its bundle.
    Container { bundle: PathBuf },
    /// A process executed in a running container (`docker exec`).
    Exec {
        args: Vec<String>,
        env: Vec<String>,
        cwd: Option<PathBuf>,
        user: Option<(u32, Option<u32>)>,
        additional_gids: Vec<u32>,
    },
}

/// The monitor's whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorConfig {
    /// The runtime's container id.
    pub id: String,
    /// The runtime's state root (runc's `--root`).
    pub runtime_root: PathBuf,
    /// Where the monitor keeps its sockets and exit record.
    pub state_dir: PathBuf,
    pub job: Job,
    pub log: LogConfig,
    pub tty: bool,
    pub open_stdin: bool,
    /// Close the process's stdin when the first attached stdin closes.
    pub stdin_once: bool,
    /// An external OCI runtime (`--add-runtime`) instead of berth's own.
    #[serde(default)]
    pub oci_runtime: Option<berth_runtime::OciCli>,
}

impl MonitorConfig {
    /// The runtime that runs the container (and its execs).
    pub fn driver(&self) -> berth_runtime::Driver {
        match &self.oci_runtime {
            Some(cli) => berth_runtime::Driver::Oci(cli.clone()),
            None => berth_runtime::Driver::Builtin(berth_runtime::Runtime::new(&self.runtime_root)),
        }
    }

    /// The attach socket (stdio streams, resize, start, wait).
    pub fn attach_socket(&self) -> PathBuf {
        self.state_dir.join("attach.sock")
    }

    /// The exit record, written once the process has exited.
    pub fn exit_path(&self) -> PathBuf {
        self.state_dir.join("exit.json")
    }

    /// The monitor's own PID file.
    pub fn pid_path(&self) -> PathBuf {
        self.state_dir.join("monitor.pid")
    }
}
