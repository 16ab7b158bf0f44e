//! Shared set-up for berth's CNI end-to-end tests: a sandbox host, a CNI_PATH
//! holding berth's plugin names (symlinks to the test's berth binary) and
//! Debian's reference plugins, container netns made inside the sandbox, and
//! helpers to look inside them.
#![allow(dead_code)] // each test file uses a different part

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use berth_cni::client::CniClient;
use berth_testsupport::SandboxHost;

pub const BERTH_PLUGINS: [&str; 6] = [
    "berth-bridge",
    "berth-macvlan",
    "berth-ipvlan",
    "berth-host-local",
    "berth-loopback",
    "berth-portmap",
];

/// Where Debian's containernetworking-plugins are.
pub const REFERENCE_DIR: &str = "/usr/lib/cni";

pub struct CniEnv {
    pub host: SandboxHost,
    plugins: tempfile::TempDir,
}

impl CniEnv {
    pub fn new() -> CniEnv {
        let host = SandboxHost::new().expect("sandbox host");
        let plugins = tempfile::Builder::new()
            .prefix("berth-cni-path-")
            .tempdir()
            .expect("plugin dir");
        // The `berth` binary answers to the plugin names with the same code
        // (berth_cni::entry) as the berth-cni binary scripts/install.sh
        // links them to; that binary is another package's and has its own
        // tests (crates/cni/tests/plugin_binary.rs).
        for name in BERTH_PLUGINS {
            std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_berth"), plugins.path().join(name))
                .expect("symlink plugin");
        }
        CniEnv { host, plugins }
    }

    /// berth's plugins first, then the reference plugins.
    pub fn cni_path(&self) -> Vec<PathBuf> {
        vec![self.plugins.path().to_owned(), PathBuf::from(REFERENCE_DIR)]
    }

    pub fn cni_path_str(&self) -> String {
        std::env::join_paths(self.cni_path())
            .expect("join")
            .to_string_lossy()
            .into_owned()
    }

    pub fn plugin(&self, name: &str) -> PathBuf {
        self.plugins.path().join(name)
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.host.dirs().lib.join("cni")
    }

    pub fn client(&self) -> CniClient {
        CniClient::new(self.cni_path(), self.cache_dir())
    }

    /// A state dir for IPAM (host-local `dataDir`) under the sandbox root.
    pub fn ipam_dir(&self) -> PathBuf {
        self.host.dirs().lib.join("ipam")
    }

    /// Makes a container netns inside the sandbox; returns its path there.
    pub fn netns(&self, name: &str) -> PathBuf {
        self.host
            .sh(&format!("ip netns add {name}"))
            .expect("ip netns add");
        PathBuf::from(format!("/run/netns/{name}"))
    }

    /// Runs a shell script inside container netns `ns` (entered with nsenter,
    /// so /sys is not remounted).
    pub fn in_ns(&self, ns: &Path, script: &str) -> String {
        self.host
            .run(
                Command::new("nsenter")
                    .arg(format!("--net={}", ns.display()))
                    .args(["sh", "-c", script]),
            )
            .unwrap_or_else(|e| panic!("in {}: {script}: {e}", ns.display()))
    }

    /// Like [`Self::in_ns`] but returns the output whatever the status.
    pub fn in_ns_output(&self, ns: &Path, script: &str) -> Output {
        self.host
            .output(
                Command::new("nsenter")
                    .arg(format!("--net={}", ns.display()))
                    .args(["sh", "-c", script]),
            )
            .expect("nsenter")
    }

    /// Writes a configuration file; returns its path.
    pub fn conf(&self, name: &str, json: &serde_json::Value) -> PathBuf {
        let p = self.host.dirs().cni_conf.join(name);
        std::fs::create_dir_all(self.host.dirs().cni_conf.as_path()).expect("mkdir");
        std::fs::write(&p, serde_json::to_vec_pretty(json).expect("json")).expect("write conf");
        p
    }

    /// Invokes one plugin directly inside the sandbox with the given
    /// environment (CNI_PATH added) and stdin.
    pub fn invoke(&self, plugin: &Path, env: &[(&str, &str)], stdin: &[u8]) -> Output {
        let mut cmd = Command::new(plugin);
        cmd.env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("CNI_PATH", self.cni_path_str())
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let stdin = stdin.to_vec();
        self.host
            .enter(move || -> std::io::Result<Output> {
                let mut child = cmd.spawn()?;
                if let Some(mut s) = child.stdin.take() {
                    let _ = s.write_all(&stdin);
                }
                child.wait_with_output()
            })
            .expect("enter sandbox")
            .expect("run plugin")
    }

    /// Links of a netns as `ip -j` JSON.
    pub fn links(&self, ns: &Path) -> serde_json::Value {
        serde_json::from_str(&self.in_ns(ns, "ip -d -j link show")).expect("ip json")
    }

    /// Links of the sandbox host as `ip -j` JSON.
    pub fn host_links(&self) -> serde_json::Value {
        serde_json::from_str(&self.host.sh("ip -d -j link show").expect("ip")).expect("ip json")
    }

    /// Sorted global addresses (`addr/prefix`) in `ns`, optionally on one link.
    pub fn addrs(&self, ns: &Path, dev: &str) -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(
            &self.in_ns(ns, &format!("ip -j addr show dev {dev} scope global")),
        )
        .expect("ip json");
        let mut out: Vec<String> = v
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
            .filter_map(|a| Some(format!("{}/{}", a["local"].as_str()?, a["prefixlen"])))
            .collect();
        out.sort();
        out
    }

    /// Sorted routes in `ns` as "dst via gw dev" (dev names replaced by kind
    /// so that two plugins' results compare), IPv4 and IPv6 (no link-local).
    pub fn routes(&self, ns: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for fam in ["-4", "-6"] {
            let v: serde_json::Value =
                serde_json::from_str(&self.in_ns(ns, &format!("ip {fam} -j route show")))
                    .expect("ip json");
            for r in v.as_array().into_iter().flatten() {
                let dst = r["dst"].as_str().unwrap_or("").to_owned();
                if dst.starts_with("fe80:") || dst.starts_with("ff00:") {
                    continue;
                }
                let gw = r["gateway"]
                    .as_str()
                    .map(|g| format!(" via {g}"))
                    .unwrap_or_default();
                out.push(format!("{dst}{gw}"));
            }
        }
        out.sort();
        out
    }

    /// Whether `ns` has a link named `name`.
    pub fn has_link(&self, ns: &Path, name: &str) -> bool {
        self.in_ns_output(ns, &format!("ip link show dev {name}"))
            .status
            .success()
    }
}

/// Parses a plugin's stdout as JSON.
pub fn json_out(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "plugin stdout is not JSON ({e}): {:?}; stderr: {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

impl CniEnv {
    /// Runs `f` with a client on a thread inside the sandbox, so every plugin
    /// it starts runs there (never in the test's own namespaces).
    pub fn with_client<R: Send>(&self, f: impl FnOnce(&CniClient) -> R + Send) -> R {
        let client = self.client();
        self.host.enter(move || f(&client)).expect("enter sandbox")
    }

    /// An attachment of `container_id` in `netns` as `ifname`.
    pub fn attachment(
        container_id: &str,
        netns: &Path,
        ifname: &str,
    ) -> berth_cni::client::Attachment {
        berth_cni::client::Attachment {
            container_id: container_id.to_owned(),
            netns: Some(netns.to_owned()),
            ifname: ifname.to_owned(),
            ..Default::default()
        }
    }
}
