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
    /// one with only `lo` (`none`), or `netns`.
    pub host_network: bool,
    /// A network namespace to join (the engine's, attached to a network).
    pub netns: Option<&'a Path>,
    /// resolv.conf for a joined netns (its network's DNS).
    pub resolv_conf: Option<&'a str>,
    /// `--add-host` entries, `(name, address)`: lines of /etc/hosts.
    pub extra_hosts: &'a [(String, String)],
}

/// Where a chunk of RUN output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// The /etc/hosts of a RUN container outside the host's network: the
/// loopback names, then the extra hosts (dockerd's layout).
fn hosts_text(extra: &[(String, String)]) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::\tip6-localnet\nff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for (name, addr) in extra {
        s.push_str(&format!("{addr}\t{name}\n"));
    }
    s
}

/// Container paths the runtime mounts over; RUN's layer leaves out any of
/// them that the mount itself had to create.
pub fn mount_points(resolv_conf: bool) -> Vec<&'static str> {
    let mut v = vec!["/proc", "/dev", "/sys", "/etc/hostname", "/etc/hosts"];
    if resolv_conf {
        v.push("/etc/resolv.conf");
    }
    v
}

impl RuntimeExec {
    /// Runs the container to its end; its output (stdout and stderr, as
    /// they come, each chunk told by its stream) goes to `out`. Returns
    /// the exit code.
    /// `cancel`, asked a few times a second, kills the container when it
    /// says so (its init may ignore SIGINT: PID 1 has no default action).
    pub fn run(
        &self,
        spec: &RunSpec,
        out: &mut dyn FnMut(Stream, &[u8]),
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
        out: &mut dyn FnMut(Stream, &[u8]),
        cancel: Option<&crate::Cancel>,
    ) -> Result<i32> {
        let hostname = bundle.join("hostname");
        std::fs::write(
            &hostname,
            format!("{}\n", &spec.id[..spec.id.len().min(12)]),
        )
        .map_err(BuildError::io("writing hostname"))?;
        let mut hosts = hosts_text(spec.extra_hosts);
        if spec.host_network {
            hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
            for (name, addr) in spec.extra_hosts {
                hosts.push_str(&format!("{addr}\t{name}\n"));
            }
        }
        std::fs::write(bundle.join("hosts"), hosts).map_err(BuildError::io("writing hosts"))?;
        if let Some(r) = spec.resolv_conf {
            std::fs::write(bundle.join("resolv.conf"), r)
                .map_err(BuildError::io("writing resolv.conf"))?;
        }
        let mut cfg = config(spec, bundle);
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
        let (tx, rx) = std::sync::mpsc::channel::<(Stream, Vec<u8>)>();
        let mut readers = Vec::new();
        let pipes: Vec<(Stream, Box<dyn Read + Send>)> = [
            child
                .stdout
                .take()
                .map(|p| (Stream::Stdout, Box::new(p) as Box<dyn Read + Send>)),
            child
                .stderr
                .take()
                .map(|p| (Stream::Stderr, Box::new(p) as Box<dyn Read + Send>)),
        ]
        .into_iter()
        .flatten()
        .collect();
        for (which, mut p) in pipes {
            let tx = tx.clone();
            readers.push(std::thread::spawn(move || {
                let mut buf = vec![0u8; 16 * 1024];
                while let Ok(n) = p.read(&mut buf) {
                    if n == 0 || tx.send((which, buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
            }));
        }
        drop(tx);
        let mut killed = false;
        loop {
            match rx.recv_timeout(std::time::Duration::from_millis(200)) {
                Ok((which, chunk)) => out(which, &chunk),
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

fn config(spec: &RunSpec, bundle: &Path) -> Value {
    let hostname = bundle.join("hostname");
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
    // The bundle's own copy: RUN may change it without touching the
    // host's or landing in the layer (the mount point is left out).
    mounts.push(json!({
        "destination": "/etc/hosts", "type": "bind", "source": bundle.join("hosts"),
        "options": ["rbind", "rw"]
    }));
    if spec.host_network {
        if Path::new("/etc/resolv.conf").exists() {
            mounts.push(json!({
                "destination": "/etc/resolv.conf", "type": "bind",
                "source": "/etc/resolv.conf", "options": ["rbind", "ro"]
            }));
        }
        if let Some(ns) = cfg["linux"]["namespaces"].as_array_mut() {
            ns.retain(|n| n["type"] != "network");
        }
    } else if let Some(path) = spec.netns {
        if spec.resolv_conf.is_some() {
            mounts.push(json!({
                "destination": "/etc/resolv.conf", "type": "bind",
                "source": bundle.join("resolv.conf"), "options": ["rbind", "rw"]
            }));
        }
        if let Some(ns) = cfg["linux"]["namespaces"].as_array_mut() {
            for n in ns.iter_mut().filter(|n| n["type"] == "network") {
                n["path"] = json!(path);
            }
        }
    }
    cfg["mounts"] = Value::Array(mounts);
    cfg
}
