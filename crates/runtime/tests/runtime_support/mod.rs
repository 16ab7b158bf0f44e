//! Shared helpers for the runtime's integration tests: a sandbox host with
//! a runtime root, busybox bundles with an `/out` directory bound in (so a
//! container's observations can be read back, under berth or runc alike),
//! and the `berth` binary driven inside the sandbox, as an engine or
//! containerd would drive it.
#![allow(dead_code)]

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use berth_testsupport::bundle::Bundle;
use berth_testsupport::SandboxHost;
use serde_json::{json, Value};

/// Path of the `berth` binary, built once per test binary (a no-op when
/// it is up to date) so runtime tests exercise the real command line.
pub fn berth_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Ok(p) = std::env::var("BERTH_BIN") {
            return PathBuf::from(p);
        }
        // Outside cargo (the VM harness runs test binaries directly, with
        // the workspace's binaries at their host paths): the `berth` next
        // to this test's deps directory.
        if std::env::var_os("CARGO").is_none() {
            let exe = std::env::current_exe().expect("current exe");
            let sibling = exe
                .parent()
                .and_then(Path::parent)
                .map(|d| d.join("berth"))
                .expect("target dir");
            assert!(
                sibling.exists(),
                "no berth binary at {} (set BERTH_BIN)",
                sibling.display()
            );
            return sibling;
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let out = Command::new(cargo)
            .args([
                "build",
                "-p",
                "berth",
                "--bin",
                "berth",
                "--message-format=json-render-diagnostics",
                "--quiet",
            ])
            .stderr(Stdio::inherit())
            .output()
            .expect("run cargo build -p berth");
        assert!(out.status.success(), "cargo build -p berth failed");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .rev()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find_map(|v| v["executable"].as_str().map(PathBuf::from))
            .expect("cargo reported no berth executable")
    })
}

/// Is this test running as root (the runtime tests need it)?
pub fn is_root() -> bool {
    // SAFETY: getuid has no preconditions.
    let root = unsafe { libc::getuid() } == 0;
    if !root {
        berth_testsupport::kernel::report_skip("runtime tests need root");
    }
    root
}

/// One sandbox host with a runtime root and a temp area for bundles.
pub struct Env {
    pub host: SandboxHost,
    pub root: PathBuf,
}

/// Output of one command, decoded.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    fn from(out: Output) -> Ran {
        Ran {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts success; returns stdout.
    pub fn ok(self) -> String {
        assert_eq!(self.code, 0, "command failed: {self:?}");
        self.stdout
    }

    /// Asserts failure with exactly one line on stderr; returns it.
    pub fn fails(self) -> String {
        assert_ne!(self.code, 0, "command succeeded: {self:?}");
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(lines.len(), 1, "want a one-line error: {self:?}");
        lines[0].to_owned()
    }
}

impl Env {
    pub fn new() -> Env {
        let host = SandboxHost::new().expect("sandbox host");
        let root = host.dirs().runtime_root.clone();
        Env { host, root }
    }

    /// A temp directory under the sandbox root.
    pub fn dir(&self, name: &str) -> PathBuf {
        let d = self.host.root().join(name);
        fs::create_dir_all(&d).expect("create dir");
        d
    }

    /// A cgroupsPath that the sandbox removes on drop.
    pub fn cgroups_path(&self, name: &str) -> String {
        format!("/{}/{name}", self.host.cgroup_parent())
    }

    /// A busybox bundle `name` running `script` with `sh -c`, an `/out`
    /// bind mount (host dir returned by [`Env::out`]) and a cgroupsPath
    /// inside the sandbox's cgroup parent.
    pub fn bundle(&self, name: &str, script: &str) -> PathBuf {
        let dir = self.host.root().join("bundles").join(name);
        let mut b = Bundle::busybox(&dir).expect("busybox bundle");
        b.set_args(["sh", "-c", script]);
        b.write().expect("write config");
        let out = self.out(name);
        let cg = self.cgroups_path(name);
        edit_config(&dir, |v| {
            v["mounts"]
                .as_array_mut()
                .expect("mounts")
                .push(json!({"destination": "/out", "type": "bind", "source": out, "options": ["rbind", "rw"]}));
            v["linux"]["cgroupsPath"] = json!(cg);
        });
        dir
    }

    /// Runs `script` in a fresh container `id` (foreground), after `edit` on
    /// its config, and returns its stdout; the container must exit 0.
    pub fn run_edited(&self, id: &str, script: &str, edit: impl FnOnce(&mut Value)) -> String {
        let b = self.bundle(id, script);
        edit_config(&b, edit);
        self.berth(&["run", "--bundle", b.to_str().expect("utf-8 path"), id])
            .ok()
    }

    /// Host side of the bundle's `/out`.
    pub fn out(&self, name: &str) -> PathBuf {
        let d = self.dir(&format!("out/{name}"));
        // Containers running as other users write here too.
        fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .expect("chmod out");
        d
    }

    /// Reads `/out/<file>` written by container `name`.
    pub fn read_out(&self, name: &str, file: &str) -> String {
        fs::read_to_string(self.out(name).join(file)).unwrap_or_default()
    }

    fn command(&self, program: &Path, argv0: &str, root_flag: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(program);
        c.arg0(argv0).arg("--root").arg(root_flag).args(args);
        c
    }

    /// `berth runtime --root <root> args...` inside the sandbox, output
    /// captured (use only for verbs whose container does not outlive the
    /// command, or with `--detach`-style verbs through [`Env::berth_bg`]).
    pub fn berth(&self, args: &[&str]) -> Ran {
        let mut c = Command::new(berth_bin());
        c.arg("runtime").arg("--root").arg(&self.root).args(args);
        c.stdin(Stdio::null());
        Ran::from(self.host.output(&mut c).expect("run berth"))
    }

    /// Like [`Env::berth`] for verbs that leave a container running
    /// (create, run -d): its stdio goes to files, which the container
    /// inherits, so nothing waits on a pipe the container holds.
    pub fn berth_bg(&self, args: &[&str]) -> Ran {
        let mut c = Command::new(berth_bin());
        c.arg("runtime").arg("--root").arg(&self.root).args(args);
        self.run_bg(c)
    }

    /// `runc --root <tmp>/runc args...` inside the sandbox.
    pub fn runc(&self, args: &[&str]) -> Ran {
        let mut c = self.command(Path::new("/usr/sbin/runc"), "runc", &self.runc_root(), args);
        c.stdin(Stdio::null());
        Ran::from(self.host.output(&mut c).expect("run runc"))
    }

    /// runc for verbs that leave a container running.
    pub fn runc_bg(&self, args: &[&str]) -> Ran {
        let c = self.command(Path::new("/usr/sbin/runc"), "runc", &self.runc_root(), args);
        self.run_bg(c)
    }

    pub fn runc_root(&self) -> PathBuf {
        self.host.root().join("runc-root")
    }

    fn run_bg(&self, mut c: Command) -> Ran {
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let logs = self.dir("bg-logs");
        let so = logs.join(format!("{n}.out"));
        let se = logs.join(format!("{n}.err"));
        c.stdin(Stdio::null())
            .stdout(fs::File::create(&so).expect("stdout file"))
            .stderr(fs::File::create(&se).expect("stderr file"));
        let mut child = self.host.spawn(&mut c).expect("spawn");
        let status = child.wait().expect("wait");
        Ran {
            code: status.code().unwrap_or(-1),
            stdout: fs::read_to_string(&so).unwrap_or_default(),
            stderr: fs::read_to_string(&se).unwrap_or_default(),
        }
    }

    /// `state ID` parsed.
    pub fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.berth(&["state", id]).ok()).expect("state json")
    }

    /// Is `dir` (or anything below) a cgroup directory in some hierarchy?
    pub fn cgroup_exists(&self, name: &str) -> bool {
        let rel = self.cgroups_path(name);
        berth_testsupport::cgroupfs::cgroup_mounts()
            .iter()
            .any(|m| m.join(rel.trim_start_matches('/')).exists())
    }

    /// Mount points (inside the sandbox) under `prefix`.
    pub fn mounts_under(&self, prefix: &Path) -> Vec<String> {
        let text = self.host.sh("cat /proc/self/mountinfo").expect("mountinfo");
        text.lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|mp| Path::new(mp).starts_with(prefix))
            .map(str::to_owned)
            .collect()
    }
}

/// Reads, edits and writes a bundle's config.json as JSON.
pub fn edit_config(bundle: &Path, edit: impl FnOnce(&mut Value)) {
    let path = bundle.join("config.json");
    let mut v: Value = serde_json::from_str(&fs::read_to_string(&path).expect("read config"))
        .expect("parse config");
    edit(&mut v);
    fs::write(&path, serde_json::to_vec_pretty(&v).expect("serialize")).expect("write config");
}
