//! berthd's configuration: its directories and defaults (dockerd's flags
//! and daemon.json keys that berth supports).

use std::collections::BTreeMap;
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
    /// OCI runtimes besides berth's own, by name (`--add-runtime`,
    /// daemon.json `runtimes`).
    pub runtimes: BTreeMap<String, ExternalRuntime>,
    /// The runtime of containers that name none (`--default-runtime`).
    pub default_runtime: String,
}

/// An external OCI runtime binary (runc, crun) and the global options
/// given before each verb (daemon.json `runtimeArgs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalRuntime {
    pub path: PathBuf,
    pub args: Vec<String>,
}

/// The names of berth's own runtime: dockerd's stock runtime names, so
/// clients that pass `info["DefaultRuntime"]` or "runc" back get it.
pub const BUILTIN_RUNTIMES: &[&str] = &["runc", "io.containerd.runc.v2"];

/// The runtime named by default, as dockerd's.
pub const STOCK_RUNTIME: &str = "runc";

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
            runtimes: BTreeMap::new(),
            default_runtime: STOCK_RUNTIME.into(),
        }
    }

    /// Checks the runtime table as dockerd does at start: the stock
    /// name is reserved and the default must exist.
    pub fn check_runtimes(&self) -> std::result::Result<(), String> {
        for name in self.runtimes.keys() {
            if BUILTIN_RUNTIMES.contains(&name.as_str()) {
                return Err(format!("runtime name '{name}' is reserved"));
            }
        }
        let d = self.default_runtime.as_str();
        if !BUILTIN_RUNTIMES.contains(&d) && !self.runtimes.contains_key(d) {
            return Err(format!("specified default runtime '{d}' does not exist"));
        }
        Ok(())
    }

    /// The runtime a container names ("" for the default): berth's own
    /// or an external one with its own state root.
    pub fn runtime_driver(&self, name: &str) -> crate::error::Result<berth_runtime::Driver> {
        let name = if name.is_empty() {
            self.default_runtime.as_str()
        } else {
            name
        };
        if BUILTIN_RUNTIMES.contains(&name) {
            return Ok(berth_runtime::Driver::Builtin(berth_runtime::Runtime::new(
                self.runtime_root(),
            )));
        }
        match self.runtimes.get(name) {
            Some(rt) => Ok(berth_runtime::Driver::Oci(berth_runtime::OciCli {
                path: rt.path.clone(),
                args: rt.args.clone(),
                root: self.exec_root.join(format!("runtime-{name}")),
            })),
            None => Err(crate::error::EngineError::Invalid(format!(
                "unknown or invalid runtime name: {name}"
            ))),
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
