//! Who runs a container: berth's own runtime (a library call) or an
//! external OCI runtime binary (runc, crun) driven through its CLI, as
//! dockerd's `--add-runtime` runtimes are. Callers (the monitor, berthd)
//! use one [`Driver`] and do not care which.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::cgroups::CgroupManager;
use crate::{CreateOptions, Error, ExecOptions, Runtime};

/// An external runtime binary with the global options it is given before
/// every verb (daemon.json's `runtimeArgs`) and its own state root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OciCli {
    pub path: PathBuf,
    #[serde(default)]
    pub args: Vec<String>,
    /// `--root`: kept apart from berth's own runtime state.
    pub root: PathBuf,
}

/// The runtime of one container.
#[derive(Debug, Clone)]
pub enum Driver {
    Builtin(Runtime),
    Oci(OciCli),
}

impl Driver {
    /// Creates the container (its init waits for `start`); returns the
    /// init's PID. stdio of the caller becomes the container's.
    pub fn create(&self, id: &str, bundle: &Path, console: Option<&Path>) -> Result<i32, Error> {
        match self {
            Driver::Builtin(rt) => {
                rt.create(&CreateOptions {
                    id: id.to_owned(),
                    bundle: bundle.to_path_buf(),
                    console_socket: console.map(Path::to_path_buf),
                    ..CreateOptions::default()
                })?;
                Ok(rt.state(id)?.pid)
            }
            Driver::Oci(cli) => {
                let pid_file = cli.scratch(id, "init.pid");
                let mut args = vec!["create".into(), "--bundle".into(), path_arg(bundle)];
                if let Some(c) = console {
                    args.extend(["--console-socket".into(), path_arg(c)]);
                }
                args.extend(["--pid-file".into(), path_arg(&pid_file), id.into()]);
                cli.run("create", id, &args, true)?;
                cli.read_pid(&pid_file)
            }
        }
    }

    pub fn start(&self, id: &str) -> Result<(), Error> {
        match self {
            Driver::Builtin(rt) => rt.start(id).map(|_| ()),
            Driver::Oci(cli) => cli.run("start", id, &["start".into(), id.into()], false),
        }
    }

    /// Starts a process in the running container; returns its PID.
    pub fn exec(&self, opts: &ExecOptions) -> Result<i32, Error> {
        match self {
            Driver::Builtin(rt) => Ok(rt.exec(opts)?.pid),
            Driver::Oci(cli) => {
                let id = &opts.id;
                let pid_file = cli.scratch(id, &format!("exec-{}.pid", std::process::id()));
                let mut args: Vec<String> = vec!["exec".into(), "--detach".into()];
                args.extend(["--pid-file".into(), path_arg(&pid_file)]);
                if opts.tty {
                    args.push("--tty".into());
                }
                if let Some(c) = &opts.console_socket {
                    args.extend(["--console-socket".into(), path_arg(c)]);
                }
                if let Some(cwd) = &opts.cwd {
                    args.extend(["--cwd".into(), path_arg(cwd)]);
                }
                for e in &opts.env {
                    args.extend(["--env".into(), e.clone()]);
                }
                if let Some((uid, gid)) = opts.user {
                    let user = match gid {
                        Some(g) => format!("{uid}:{g}"),
                        None => uid.to_string(),
                    };
                    args.extend(["--user".into(), user]);
                }
                for g in &opts.additional_gids {
                    args.extend(["--additional-gids".into(), g.to_string()]);
                }
                args.push(id.clone());
                args.extend(opts.args.iter().cloned());
                cli.run("exec", id, &args, true)?;
                let pid = cli.read_pid(&pid_file);
                let _ = std::fs::remove_file(&pid_file);
                pid
            }
        }
    }

    pub fn kill(&self, id: &str, sig: i32, all: bool) -> Result<(), Error> {
        match self {
            Driver::Builtin(rt) => rt.kill(id, sig, all),
            Driver::Oci(cli) => {
                let mut args = vec!["kill".to_owned()];
                if all {
                    args.push("--all".into());
                }
                args.extend([id.to_owned(), sig.to_string()]);
                cli.run("kill", id, &args, false)
            }
        }
    }

    pub fn pause(&self, id: &str) -> Result<(), Error> {
        match self {
            Driver::Builtin(rt) => rt.pause(id),
            Driver::Oci(cli) => cli.run("pause", id, &["pause".into(), id.into()], false),
        }
    }

    pub fn resume(&self, id: &str) -> Result<(), Error> {
        match self {
            Driver::Builtin(rt) => rt.resume(id),
            Driver::Oci(cli) => cli.run("resume", id, &["resume".into(), id.into()], false),
        }
    }

    /// Removes the runtime's container (`force`: killing it first).
    pub fn delete(&self, id: &str, force: bool) -> Result<(), Error> {
        match self {
            Driver::Builtin(rt) => rt.delete(id, force).map(|_| ()),
            Driver::Oci(cli) => {
                let mut args = vec!["delete".to_owned()];
                if force {
                    args.push("--force".into());
                }
                args.push(id.into());
                let r = cli.run("delete", id, &args, false);
                let _ = std::fs::remove_dir_all(cli.scratch_dir(id));
                r
            }
        }
    }

    /// Whether the runtime knows the container.
    pub fn exists(&self, id: &str) -> bool {
        match self {
            Driver::Builtin(rt) => rt.state(id).is_ok(),
            Driver::Oci(cli) => cli.state(id).is_ok(),
        }
    }

    /// PIDs (host view) of the container's processes, sorted.
    pub fn pids(&self, id: &str) -> Result<Vec<i32>, Error> {
        match self {
            Driver::Builtin(rt) => rt.pids(id),
            Driver::Oci(_) => {
                let mut pids = self.cgroup(id)?.pids()?;
                pids.sort_unstable();
                Ok(pids)
            }
        }
    }

    /// The container's cgroup: an external runtime places it at the
    /// spec's `linux.cgroupsPath`, read back from the bundle.
    pub fn cgroup(&self, id: &str) -> Result<CgroupManager, Error> {
        match self {
            Driver::Builtin(rt) => rt.cgroup(id),
            Driver::Oci(cli) => {
                let state = cli.state(id)?;
                let bundle = state["bundle"].as_str().unwrap_or_default();
                let config = Path::new(bundle).join("config.json");
                let bytes = std::fs::read(&config).map_err(Error::io("reading", &config))?;
                let spec: serde_json::Value = serde_json::from_slice(&bytes)
                    .map_err(|e| Error::Invalid(format!("{}: {e}", config.display())))?;
                let path = spec["linux"]["cgroupsPath"].as_str();
                Ok(CgroupManager::new(path, id)?)
            }
        }
    }
}

impl OciCli {
    /// The runtime-spec version the binary says it implements (the
    /// `spec: X` line of `--version`, as runc and crun print it).
    pub fn spec_version(&self) -> Option<String> {
        let out = Command::new(&self.path)
            .arg("--version")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        spec_line(&String::from_utf8_lossy(&out.stdout))
    }

    fn name(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }

    /// Per-container files of ours (PID files, the runtime's JSON logs),
    /// beside the runtime's root (`ROOT.files/ID`): inside it, the
    /// runtime's `list` would take them for containers.
    fn scratch_dir(&self, id: &str) -> PathBuf {
        let mut dir = self.root.clone().into_os_string();
        dir.push(".files");
        PathBuf::from(dir).join(id)
    }

    fn scratch(&self, id: &str, file: &str) -> PathBuf {
        self.scratch_dir(id).join(file)
    }

    /// `runtime [runtimeArgs] --root R --log L --log-format json VERB...`.
    /// `inherit`: the verb gets our stdio (create and exec hand it to
    /// the container's process); otherwise it gets /dev/null. Errors come
    /// from the runtime's JSON log, as its stderr may be the container's.
    fn run(&self, op: &'static str, id: &str, verb: &[String], inherit: bool) -> Result<(), Error> {
        let dir = self.scratch_dir(id);
        std::fs::create_dir_all(&dir).map_err(Error::io("creating", &dir))?;
        let log = dir.join(format!("{op}.log"));
        let _ = std::fs::remove_file(&log);
        let mut cmd = Command::new(&self.path);
        cmd.args(&self.args)
            .arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(&log)
            .arg("--log-format")
            .arg("json")
            .args(verb);
        if !inherit {
            cmd.stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
        }
        let status = cmd.status().map_err(|e| Error::External {
            runtime: self.name(),
            op,
            message: e.to_string(),
        })?;
        if status.success() {
            return Ok(());
        }
        Err(Error::External {
            runtime: self.name(),
            op,
            message: last_error(&log).unwrap_or_else(|| format!("exited with {status}")),
        })
    }

    /// `state ID` as JSON.
    fn state(&self, id: &str) -> Result<serde_json::Value, Error> {
        let out = Command::new(&self.path)
            .args(&self.args)
            .arg("--root")
            .arg(&self.root)
            .args(["state", id])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map_err(|e| Error::External {
                runtime: self.name(),
                op: "state",
                message: e.to_string(),
            })?;
        if !out.status.success() {
            return Err(Error::External {
                runtime: self.name(),
                op: "state",
                message: format!("container {id} does not exist"),
            });
        }
        serde_json::from_slice(&out.stdout).map_err(|e| Error::External {
            runtime: self.name(),
            op: "state",
            message: format!("decoding its answer: {e}"),
        })
    }

    fn read_pid(&self, file: &Path) -> Result<i32, Error> {
        let mut s = String::new();
        std::fs::File::open(file)
            .and_then(|mut f| f.read_to_string(&mut s))
            .map_err(Error::io("reading", file))?;
        s.trim()
            .parse()
            .map_err(|_| Error::Invalid(format!("{}: not a PID: {s:?}", file.display())))
    }
}

/// The message of the last error-level line of a runtime's JSON log
/// (`{"level":"error","msg":...}`, as runc and crun write it).
fn last_error(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| matches!(v["level"].as_str(), Some("error" | "fatal")))
        .and_then(|v| v["msg"].as_str().map(str::to_owned))
}

fn spec_line(version: &str) -> Option<String> {
    version
        .lines()
        .find_map(|l| l.strip_prefix("spec:"))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn path_arg(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_version_is_read_from_version_output() {
        let crun = "crun version 1.8.1\ncommit: f8a\nrundir: /run/crun\nspec: 1.0.0\n+SYSTEMD\n";
        assert_eq!(spec_line(crun).as_deref(), Some("1.0.0"));
        assert_eq!(
            spec_line("runc version 1.1.5\nspec: 1.0.2-dev\n").as_deref(),
            Some("1.0.2-dev")
        );
        assert_eq!(spec_line("something else"), None);
    }

    #[test]
    fn the_last_error_line_of_the_log_is_the_message() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let log = dir.path().join("create.log");
        std::fs::write(
            &log,
            concat!(
                "{\"level\":\"warning\",\"msg\":\"w\"}\n",
                "{\"level\":\"error\",\"msg\":\"first\"}\n",
                "not json\n",
                "{\"level\":\"error\",\"msg\":\"exec: \\\"nope\\\": not found\"}\n",
            ),
        )?;
        assert_eq!(
            last_error(&log).as_deref(),
            Some("exec: \"nope\": not found")
        );
        assert_eq!(last_error(&dir.path().join("none")), None);
        Ok(())
    }
}
