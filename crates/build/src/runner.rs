//! RUN's container: an OCI bundle over the step's mounted rootfs, run in
//! the foreground by berth's runtime.
//!
//! The runtime is executed as its runc-compatible CLI (`berth-runc run`,
//! the berth binary under that name) rather than called as a library:
//! a foreground container takes its stdio from the process that creates
//! it, and berthd (many threads, one set of fds 0-2) cannot lend its own.
//! The child process gets pipes, so the step's output reaches the build's
//! progress stream.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::error::{BuildError, Result};

/// Docker's default capabilities, which build containers get too.
use berth_runtime::security::caps::ENGINE_DEFAULT as DEFAULT_CAPS;

/// Where and how RUN containers are made.
#[derive(Debug, Clone)]
pub struct RuntimeExec {
    /// The berth binary (started under the name `berth-runc`).
    pub binary: PathBuf,
    /// The runtime's state root for build containers.
    pub root: PathBuf,
    /// Where bundles (config.json) are written.
    pub bundles: PathBuf,
    /// The cgroup RUN containers go under (berthd's `--cgroup-parent`);
    /// None: the runtime's default, `/berth/<id>`.
    pub cgroup_parent: Option<String>,
}

/// One RUN container.
#[derive(Debug, Clone)]
pub struct RunSpec<'a> {
    pub id: &'a str,
    pub rootfs: &'a Path,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    /// Share the host's network namespace (`--network host`); else a new
    /// one with only `lo` (`none`).
    pub host_network: bool,
}

/// Container paths the runtime mounts over; RUN's layer leaves out any of
/// them that the mount itself had to create.
pub fn mount_points(host_network: bool) -> Vec<&'static str> {
    let mut v = vec!["/proc", "/dev", "/sys", "/etc/hostname"];
    if host_network {
        v.extend(["/etc/hosts", "/etc/resolv.conf"]);
    }
    v
}

impl RuntimeExec {
    /// Runs the container to its end; its output (stdout and stderr, as
    /// they come) goes to `out`. Returns the exit code.
    /// `cancel`, asked a few times a second, kills the container when it
    /// says so (its init may ignore SIGINT: PID 1 has no default action).
    pub fn run(
        &self,
        spec: &RunSpec,
        out: &mut dyn FnMut(&[u8]),
        cancel: Option<&crate::Cancel>,
    ) -> Result<i32> {
        let bundle = self.bundles.join(spec.id);
        std::fs::create_dir_all(&bundle)
            .map_err(BuildError::io(format!("creating {}", bundle.display())))?;
        let res = self.run_in(&bundle, spec, out, cancel);
        let _ = std::fs::remove_dir_all(&bundle);
        res
    }

    fn run_in(
        &self,
        bundle: &Path,
        spec: &RunSpec,
        out: &mut dyn FnMut(&[u8]),
        cancel: Option<&crate::Cancel>,
    ) -> Result<i32> {
        let hostname = bundle.join("hostname");
        std::fs::write(
            &hostname,
            format!("{}\n", &spec.id[..spec.id.len().min(12)]),
        )
        .map_err(BuildError::io("writing hostname"))?;
        let mut cfg = config(spec, &hostname);
        if let Some(parent) = &self.cgroup_parent {
            cfg["linux"]["cgroupsPath"] =
                json!(format!("/{}/{}", parent.trim_matches('/'), spec.id));
        }
        let path = bundle.join("config.json");
        std::fs::write(&path, cfg.to_string()).map_err(BuildError::io("writing config.json"))?;
        std::fs::create_dir_all(&self.root)
            .map_err(BuildError::io(format!("creating {}", self.root.display())))?;
        let mut child = Command::new(&self.binary)
            .arg0("berth-runc")
            .arg("--root")
            .arg(&self.root)
            .arg("run")
            .arg("--bundle")
            .arg(bundle)
            .arg(spec.id)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(BuildError::io(format!(
                "starting the runtime {}",
                self.binary.display()
            )))?;
        let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
        let mut readers = Vec::new();
        let pipes: Vec<Box<dyn Read + Send>> = [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        .collect();
        for mut p in pipes {
            let tx = tx.clone();
            readers.push(std::thread::spawn(move || {
                let mut buf = vec![0u8; 16 * 1024];
                while let Ok(n) = p.read(&mut buf) {
                    if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }));
        }
        drop(tx);
        let mut killed = false;
        loop {
            match rx.recv_timeout(std::time::Duration::from_millis(200)) {
                Ok(chunk) => out(&chunk),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if !killed && cancel.is_some_and(|c| (c.0)()) {
                killed = true;
                self.kill(spec.id);
            }
        }
        for r in readers {
            let _ = r.join();
        }
        let status = child
            .wait()
            .map_err(BuildError::io("waiting for the runtime"))?;
        Ok(status.code().unwrap_or(128 + 9))
    }
}

impl RuntimeExec {
    /// `berth-runc delete --force ID`, best effort.
    pub(crate) fn delete(&self, id: &str) {
        let res = Command::new(&self.binary)
            .arg0("berth-runc")
            .arg("--root")
            .arg(&self.root)
            .args(["delete", "--force", id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Err(e) = res {
            tracing::warn!(container = id, error = %e, "deleting a stale RUN container");
        }
    }

    /// `berth-runc kill ID KILL`, best effort (the container may be gone).
    fn kill(&self, id: &str) {
        let res = Command::new(&self.binary)
            .arg0("berth-runc")
            .arg("--root")
            .arg(&self.root)
            .args(["kill", id, "KILL"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Err(e) = res {
            tracing::warn!(container = id, error = %e, "killing a cancelled RUN container");
        }
    }
}

fn config(spec: &RunSpec, hostname: &Path) -> Value {
    let mut cfg = berth_runtime::spec::default_config();
    cfg["process"] = json!({
        "terminal": false,
        "user": { "uid": spec.uid, "gid": spec.gid },
        "args": spec.args,
        "env": spec.env,
        "cwd": spec.cwd,
        "capabilities": {
            "bounding": DEFAULT_CAPS,
            "effective": DEFAULT_CAPS,
            "permitted": DEFAULT_CAPS,
        },
        "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }],
        "noNewPrivileges": false
    });
    cfg["root"] = json!({ "path": spec.rootfs, "readonly": false });
    cfg["hostname"] = json!(&spec.id[..spec.id.len().min(12)]);
    let mut mounts = cfg["mounts"].as_array().cloned().unwrap_or_default();
    mounts.push(json!({
        "destination": "/etc/hostname", "type": "bind", "source": hostname,
        "options": ["rbind", "ro"]
    }));
    if spec.host_network {
        for f in ["/etc/hosts", "/etc/resolv.conf"] {
            if Path::new(f).exists() {
                mounts.push(json!({
                    "destination": f, "type": "bind", "source": f, "options": ["rbind", "ro"]
                }));
            }
        }
        if let Some(ns) = cfg["linux"]["namespaces"].as_array_mut() {
            ns.retain(|n| n["type"] != "network");
        }
    }
    cfg["mounts"] = Value::Array(mounts);
    cfg
}
