//! Daemons for the `berth` CLI tests to talk to, each confined and torn
//! down on drop:
//! - berthd (`berth daemon`) inside a `SandboxHost`, state under its root;
//! - Debian's dockerd (only with `BERTH_TEST_DOCKERD=1`, so CI does not
//!   depend on it), also in a `SandboxHost`: its own network, mount (tmpfs
//!   /run) and PID namespaces, data/exec roots and socket in the sandbox's
//!   temp root, stopped by PID; the sandbox's drop ends anything left.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use berth_testsupport::SandboxHost;

pub struct Daemon {
    pub socket: PathBuf,
    pub kind: &'static str,
    child: Option<Child>,
    sandbox: Option<SandboxHost>,
    /// Helpers started in the sandbox (a registry), ended before the daemon.
    helpers: Vec<Child>,
}

/// What one `berth` invocation gave.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

pub fn berth_cmd(socket: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
    c.arg("-H")
        .arg(format!("unix://{}", socket.display()))
        .env_remove("DOCKER_HOST")
        .env_remove("BERTH_HOST")
        .env_remove("DOCKER_API_VERSION")
        // The user's own config.json (psFormat, credentials) stays out.
        .env("DOCKER_CONFIG", "/nonexistent/berth-test-docker-config")
        .stdin(Stdio::null());
    c
}

impl Daemon {
    /// Run `berth ARGS` against this daemon.
    pub fn berth(&self, args: &[&str]) -> Run {
        berth_cmd(&self.socket)
            .args(args)
            .output()
            .expect("running berth")
            .into()
    }

    /// Run and require exit 0; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.berth(args);
        assert_eq!(r.code, 0, "berth {args:?} failed: {}{}", r.stdout, r.stderr);
        r.stdout
    }

    /// Start Debian's docker-registry on 127.0.0.1:5000 inside the daemon's
    /// sandbox (plain HTTP, which docker allows for localhost) and wait
    /// until it answers. None if it is not installed.
    pub fn start_registry(&mut self) -> Option<()> {
        if !Path::new("/usr/bin/docker-registry").exists() {
            return None;
        }
        let sandbox = self.sandbox.as_ref()?;
        let dir = sandbox.root().join("registry");
        std::fs::create_dir_all(&dir).expect("registry dir");
        let cfg = dir.join("config.yml");
        std::fs::write(
            &cfg,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:5000\n",
                dir.join("data").display()
            ),
        )
        .expect("registry config");
        let mut cmd = Command::new("/usr/bin/docker-registry");
        cmd.arg("serve")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = sandbox.spawn(&mut cmd).expect("starting docker-registry");
        self.helpers.push(child);
        for _ in 0..100 {
            let probe = sandbox.output(
                Command::new("/bin/busybox")
                    .args(["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:5000/v2/"])
                    .env_remove("http_proxy")
                    .env_remove("HTTP_PROXY")
                    .env_remove("https_proxy")
                    .env_remove("HTTPS_PROXY")
                    .env_remove("no_proxy"),
            );
            if probe.is_ok_and(|o| o.status.success()) {
                return Some(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("docker-registry did not answer on 127.0.0.1:5000");
    }

    /// Whether `berth image inspect busybox` finds the test image.
    pub fn has_busybox(&self) -> bool {
        self.berth(&["image", "inspect", "-f", "{{.Id}}", "busybox"])
            .code
            == 0
    }

    fn wait_for_ping(&mut self) -> Result<(), String> {
        // Polling for readiness, not asserting on time.
        for _ in 0..240 {
            if self.berth(&["version", "-f", "{{.Server.Version}}"]).code == 0 {
                return Ok(());
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    return Err(format!("{} exited early: {st}", self.kind));
                }
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        Err(format!("{} did not answer /_ping", self.kind))
    }

    /// Load the busybox test image (built from the host's busybox) with
    /// `berth load`.
    pub fn load_busybox(&self, dir: &Path) -> Run {
        let archive = dir.join("busybox-image.tar");
        berth_testsupport::images::busybox_docker_archive(&archive)
            .expect("writing the busybox archive");
        self.berth(&["load", "-i", archive.to_str().expect("utf-8 path")])
    }
}

/// berthd in a fresh sandbox host.
pub fn berthd() -> Daemon {
    let sandbox = SandboxHost::new().expect("sandbox host");
    let root = sandbox.root().to_path_buf();
    let socket = root.join("berth.sock");
    std::fs::write(root.join("daemon.json"), "{}").expect("daemon.json");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.arg("daemon")
        .arg("-H")
        .arg(format!("unix://{}", socket.display()))
        .arg("--data-root")
        .arg(root.join("lib"))
        .arg("--exec-root")
        .arg(root.join("run"))
        .arg("--config-file")
        .arg(root.join("daemon.json"))
        .arg("--cgroup-parent")
        .arg(sandbox.cgroup_parent())
        // Not the host's /etc/cni/net.d: no CNI networks unless a test adds some.
        .arg("--cni-config-dir")
        .arg(root.join("cni-net.d"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(root.join("berthd.log")).expect("log file"));
    let child = sandbox.spawn(&mut cmd).expect("starting berthd");
    let mut d = Daemon {
        socket,
        kind: "berthd",
        child: Some(child),
        sandbox: Some(sandbox),
        helpers: Vec::new(),
    };
    if let Err(e) = d.wait_for_ping() {
        let log = std::fs::read_to_string(root.join("berthd.log")).unwrap_or_default();
        panic!("{e}\nberthd log:\n{log}");
    }
    d
}

/// Whether the dockerd tests were asked for.
pub fn dockerd_wanted() -> bool {
    std::env::var("BERTH_TEST_DOCKERD").as_deref() == Ok("1")
}

/// Debian's dockerd, confined in a fresh sandbox host (its own network,
/// mount and PID namespaces, tmpfs /run), with busybox loaded.
///
/// A named netns (`ip netns add`) was tried first, as peers/bench-docker.sh
/// does; on this machine something outside the test SIGKILLs processes in
/// named network namespaces within seconds, while sandbox hosts (anonymous
/// namespaces) are left alone.
pub fn dockerd() -> Daemon {
    let sandbox = SandboxHost::new().expect("sandbox host");
    let w = sandbox.root().join("docker");
    for d in ["data", "exec"] {
        std::fs::create_dir_all(w.join(d)).expect("mkdir");
    }
    std::fs::write(
        w.join("daemon.json"),
        format!("{{\"deprecated-key-path\": \"{}/key.json\"}}", w.display()),
    )
    .expect("daemon.json");
    let mut cmd = Command::new("dockerd");
    cmd.arg("--config-file")
        .arg(w.join("daemon.json"))
        .arg("--data-root")
        .arg(w.join("data"))
        .arg("--exec-root")
        .arg(w.join("exec"))
        .arg("-H")
        .arg(format!("unix://{}/docker.sock", w.display()))
        .arg("--pidfile")
        .arg(w.join("docker.pid"))
        .args(["--exec-opt", "native.cgroupdriver=cgroupfs"])
        .arg("--cgroup-parent")
        .arg(format!(
            "/{}",
            sandbox.cgroup_parent().trim_start_matches('/')
        ))
        .args([
            "--userland-proxy=false",
            "--bip",
            "10.238.0.1/16",
            "--storage-driver",
            "overlay2",
            "--log-level",
            "warn",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(w.join("dockerd.log")).expect("log file"));
    let child = sandbox
        .spawn(&mut cmd)
        .expect("starting dockerd (apt-get install docker.io containerd)");
    let mut d = Daemon {
        socket: w.join("docker.sock"),
        kind: "dockerd",
        child: Some(child),
        sandbox: Some(sandbox),
        helpers: Vec::new(),
    };
    if let Err(e) = d.wait_for_ping() {
        let log = std::fs::read_to_string(w.join("dockerd.log")).unwrap_or_default();
        panic!("{e}\ndockerd log:\n{log}");
    }
    let loaded = d.load_busybox(&w);
    assert_eq!(loaded.code, 0, "load: {}{}", loaded.stdout, loaded.stderr);
    d
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Containers first, so shims and mounts go before the daemon does.
        let ids = self.berth(&["ps", "-aq"]).stdout;
        for id in ids.split_whitespace() {
            let _ = self.berth(&["rm", "-f", id]);
        }
        for mut h in self.helpers.drain(..) {
            let _ = h.kill();
            let _ = h.wait();
        }
        if let Some(mut c) = self.child.take() {
            // SAFETY: plain kill(2) of the child this harness started.
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
            let mut stopped = false;
            for _ in 0..120 {
                if let Ok(Some(_)) = c.try_wait() {
                    stopped = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            if !stopped {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        // The sandbox (if any) drops after this, killing what is left in it.
        let _ = self.sandbox.take();
    }
}
