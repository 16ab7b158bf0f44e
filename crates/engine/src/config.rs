//! berthd's configuration: its directories and defaults (dockerd's flags
//! and daemon.json keys that berth supports).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Where berthd keeps things and what it defaults to.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Persistent state (`--data-root`, /var/lib/berth).
    pub data_root: PathBuf,
    /// Runtime state (`--exec-root`, /run/berth).
    pub exec_root: PathBuf,
    /// The cgroup every container's cgroup goes under (`--cgroup-parent`).
    pub cgroup_parent: String,
    /// berthd's own binary (`runtime` mode for builds, `monitor` mode
    /// when no separate monitor binary is there).
    pub self_binary: PathBuf,
    /// The binary started as each container's monitor, and the arguments
    /// before its config path: `berth-monitor CONFIG` or `berth monitor CONFIG`.
    pub monitor_binary: PathBuf,
    pub monitor_args: Vec<String>,
    /// The default log driver settings.
    pub log_max_size: Option<u64>,
    pub log_max_file: u32,
    /// Registries spoken to over plain HTTP (`--insecure-registry`).
    pub insecure_registries: Vec<String>,
    /// The init binary for `--init` (`--init-path`); None: searched for.
    pub init_path: Option<PathBuf>,
    /// Whether containers run with an init unless they say not
    /// (daemon.json `"init": true`).
    pub init_default: bool,
    /// Daemon-wide DNS defaults for containers that give none (`--dns`,
    /// `--dns-search`, `--dns-opt`; daemon.json `dns`, `dns-search`,
    /// `dns-opts`).
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// The configured `--default-address-pool`s (as `docker info` shows
    /// them; empty when berthd's built-in pools are used).
    pub address_pools: Vec<crate::network::pools::AddressPool>,
}

impl EngineConfig {
    pub fn new(data_root: impl Into<PathBuf>, exec_root: impl Into<PathBuf>) -> EngineConfig {
        EngineConfig {
            data_root: data_root.into(),
            exec_root: exec_root.into(),
            cgroup_parent: "berth".into(),
            self_binary: PathBuf::from("/proc/self/exe"),
            monitor_binary: PathBuf::from("/proc/self/exe"),
            monitor_args: vec!["monitor".into()],
            log_max_size: None,
            log_max_file: 1,
            insecure_registries: Vec::new(),
            init_path: None,
            init_default: false,
            dns: Vec::new(),
            dns_search: Vec::new(),
            dns_options: Vec::new(),
            address_pools: Vec::new(),
        }
    }

    /// Points the monitor at `berth-monitor` when it sits next to berthd's
    /// own binary `exe`, else at `exe monitor`.
    pub fn use_monitor_beside(&mut self, exe: &Path) {
        self.self_binary = exe.to_path_buf();
        let small = exe.with_file_name("berth-monitor");
        if is_executable(&small) {
            self.monitor_binary = small;
            self.monitor_args = Vec::new();
        } else {
            self.monitor_binary = exe.to_path_buf();
            self.monitor_args = vec!["monitor".into()];
        }
    }

    pub fn runtime_root(&self) -> PathBuf {
        self.exec_root.join("runtime")
    }

    pub fn netns_dir(&self) -> PathBuf {
        self.exec_root.join("netns")
    }

    /// A container's persistent dir (logs, hostname, hosts, resolv.conf).
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.data_root.join("containers").join(id)
    }

    /// A container's runtime dir (monitor sockets, bundle, exit record).
    /// Short, so socket paths stay within sun_path.
    pub fn container_run_dir(&self, id: &str) -> PathBuf {
        self.exec_root.join("c").join(&id[..id.len().min(16)])
    }

    pub fn exec_run_dir(&self, exec_id: &str) -> PathBuf {
        self.exec_root
            .join("x")
            .join(&exec_id[..exec_id.len().min(16)])
    }

    /// The host path of the init binary for `--init` (see container::init).
    pub fn init_binary(&self) -> crate::error::Result<PathBuf> {
        crate::container::init::lookup(self.init_path.as_deref(), self.monitor_binary.parent())
    }

    /// A container's DNS servers, search domains and options: each its
    /// own when it gives any, else the daemon's (as dockerd).
    pub fn dns_of<'a>(
        &'a self,
        hc: &'a bollard_stubs::models::HostConfig,
    ) -> (&'a [String], &'a [String], &'a [String]) {
        let pick = |own: &'a Option<Vec<String>>, daemon: &'a [String]| match own.as_deref() {
            Some(v) if !v.is_empty() => v,
            _ => daemon,
        };
        (
            pick(&hc.dns, &self.dns),
            pick(&hc.dns_search, &self.dns_search),
            pick(&hc.dns_options, &self.dns_options),
        )
    }

    pub fn volumes_dir(&self) -> PathBuf {
        self.data_root.join("volumes")
    }
}

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
