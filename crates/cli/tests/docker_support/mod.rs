//! Shared set-up for the docker CLI end-to-end tests: berthd (this test's
//! `berth` binary as `berth daemon`) inside a sandbox host with its state
//! dirs and socket under the sandbox's temp root, driven by the real
//! `docker` CLI with DOCKER_HOST and a private DOCKER_CONFIG.
#![allow(dead_code)] // each test file uses a different part

pub mod raw_http;

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use berth_testsupport::SandboxHost;

pub struct Daemon {
    pub host: SandboxHost,
    child: Option<Child>,
    pub sock: PathBuf,
    docker_config: tempfile::TempDir,
    log: PathBuf,
    /// Environment for the next start of berthd (fault tests).
    pub env: Vec<(String, String)>,
    /// The daemon.json berthd starts with.
    pub daemon_json: String,
    /// Flags added to berthd's command line (`--mtu 1400`, ...).
    pub args: Vec<String>,
}

impl Daemon {
    /// Starts berthd in a new sandbox and waits until it answers.
    pub fn start() -> Daemon {
        Daemon::start_with_config("{}")
    }

    /// Starts berthd with `daemon_json` as its config file.
    pub fn start_with_config(daemon_json: &str) -> Daemon {
        Daemon::start_with(daemon_json, &[])
    }

    /// Starts berthd with `daemon_json` and the extra flags `args`.
    pub fn start_with(daemon_json: &str, args: &[&str]) -> Daemon {
        let host = SandboxHost::new().expect("sandbox host");
        let sock = host.root().join("berthd.sock");
        let docker_config = tempfile::Builder::new()
            .prefix("berth-docker-config-")
            .tempdir()
            .expect("docker config dir");
        let log = host.root().join("berthd.log");
        let mut d = Daemon {
            host,
            child: None,
            sock,
            docker_config,
            log,
            env: Vec::new(),
            daemon_json: daemon_json.to_owned(),
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        d.spawn();
        d
    }

    fn spawn(&mut self) {
        let dirs = self.host.dirs().clone();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("daemon log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
        cmd.arg("daemon")
            .arg("-H")
            .arg(format!("unix://{}", self.sock.display()))
            .arg("--data-root")
            .arg(&dirs.lib)
            .arg("--exec-root")
            .arg(&dirs.run)
            .arg("--cgroup-parent")
            .arg(self.host.cgroup_parent())
            .arg("--config-file")
            .arg(self.host.root().join("daemon.json"))
            .arg("--log-level")
            .arg("debug")
            // Not the host's /etc/cni/net.d: the test's own (empty unless
            // it writes conflists there).
            .arg("--cni-config-dir")
            .arg(self.cni_conf_dir())
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        std::fs::write(self.host.root().join("daemon.json"), &self.daemon_json)
            .expect("daemon.json");
        let _ = std::fs::remove_file(&self.sock);
        self.child = Some(self.host.spawn(&mut cmd).expect("start berthd"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.sock.exists()
                && self
                    .docker(&["version", "--format", "{{.Server.Version}}"])
                    .status
                    .success()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("berthd did not come up:\n{}", self.log_text());
    }

    /// berthd's CNI config dir (under the sandbox root; may not exist).
    pub fn cni_conf_dir(&self) -> PathBuf {
        self.host.root().join("cni-net.d")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Whether berthd has exited (it killed itself at a crash point).
    pub fn exited(&mut self) -> bool {
        match self.child.as_mut() {
            None => true,
            Some(c) => c.try_wait().ok().flatten().is_some(),
        }
    }

    /// Starts berthd again (after it exited), with `env` for this start.
    pub fn start_again(&mut self, env: &[(&str, &str)]) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.spawn();
    }

    /// Directories under the sandbox's cgroup parent, in every hierarchy
    /// (a container's cgroup left behind shows up here).
    pub fn leftover_cgroups(&self) -> Vec<String> {
        let parent = self.host.cgroup_parent().trim_matches('/').to_owned();
        let mut out = Vec::new();
        for h in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let dir = h.path().join(&parent);
            for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                if e.path().is_dir() {
                    out.push(e.path().display().to_string());
                }
            }
        }
        out
    }

    /// kill -9 of berthd (its monitors and containers live on).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait (graceful shutdown).
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("daemon running");
        // SAFETY: signalling the daemon process we started.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        c.wait().expect("wait for berthd")
    }

    pub fn restart(&mut self) {
        if self.child.is_some() {
            self.stop();
        }
        self.spawn();
    }

    pub fn docker_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("docker");
        c.args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.sock.display()))
            .env("DOCKER_CONFIG", self.docker_config.path())
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_API_VERSION")
            .stdin(Stdio::null());
        c
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        self.docker_cmd(args).output().expect("run docker")
    }

    /// Runs docker, asserting success; returns stdout.
    /// `docker inspect --format FORMAT WHAT`, trimmed.
    pub fn inspect(&self, what: &str, format: &str) -> String {
        self.ok(&["inspect", "--format", format, what])
            .trim()
            .to_owned()
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed ({}):\nstdout: {}\nstderr: {}\nberthd log tail:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            tail(&self.log_text(), 30),
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `docker load` of the busybox test image.
    pub fn load_busybox(&self) -> String {
        let archive = self.host.root().join("busybox.tar");
        let id = berth_testsupport::images::busybox_docker_archive(&archive).expect("archive");
        let out = self.ok(&["load", "-i", &archive.to_string_lossy()]);
        assert!(
            out.contains("Loaded image: busybox:latest"),
            "load said: {out}"
        );
        id
    }

    /// A raw HTTP request on the socket (curl), returning (status, body).
    pub fn http(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let mut c = Command::new("curl");
        c.args(["-s", "-o", "-", "-w", "\n%{http_code}", "-X", method])
            .arg("--unix-socket")
            .arg(&self.sock)
            .arg(format!("http://berth{path}"));
        if let Some(b) = body {
            c.args(["-H", "Content-Type: application/json", "--data-binary", b]);
        }
        let out = c.output().expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_owned())
    }

    /// A raw HTTP request with extra `headers` ("Name: value") and a
    /// binary body, returning (status, body bytes).
    pub fn http_bytes(
        &self,
        method: &str,
        path: &str,
        headers: &[&str],
        body: Option<&[u8]>,
    ) -> (u16, Vec<u8>) {
        use std::io::Write;
        let mut c = Command::new("curl");
        c.args(["-s", "-o", "-", "-w", "\n%{http_code}", "-X", method])
            .arg("--unix-socket")
            .arg(&self.sock)
            .arg(format!("http://berth{path}"));
        for h in headers {
            c.args(["-H", h]);
        }
        if body.is_some() {
            c.args(["--data-binary", "@-"]);
        }
        c.stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut child = c.spawn().expect("curl");
        if let (Some(b), Some(mut stdin)) = (body, child.stdin.take()) {
            stdin.write_all(b).expect("curl stdin");
        }
        let out = child.wait_with_output().expect("curl");
        let split = out.stdout.iter().rposition(|b| *b == b'\n').unwrap_or(0);
        let code = String::from_utf8_lossy(&out.stdout[split..])
            .trim()
            .parse()
            .unwrap_or(0);
        (code, out.stdout[..split].to_vec())
    }

    /// Debian's docker-registry on 127.0.0.1:5000 in this daemon's
    /// sandbox, with basic auth (an htpasswd file) when `login` is given.
    /// None, with the skip reported, when docker-registry or htpasswd is
    /// missing.
    pub fn start_registry(&self, login: Option<(&str, &str)>) -> Option<Registry> {
        let mut tools = vec!["docker-registry"];
        if login.is_some() {
            tools.push("htpasswd");
        }
        for tool in tools {
            let present = Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success());
            if !present {
                berth_testsupport::kernel::report_skip(&format!(
                    "{tool} is not installed (Debian package in .ci/run)"
                ));
                return None;
            }
        }
        let reg = self.host.root().join("registry");
        std::fs::create_dir_all(reg.join("data")).expect("registry dir");
        let mut config = format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:5000\nlog:\n  level: warn\n",
            reg.join("data").display()
        );
        if let Some((user, password)) = login {
            let pw = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("htpasswd");
            assert!(pw.status.success(), "htpasswd failed");
            std::fs::write(reg.join("htpasswd"), &pw.stdout).expect("htpasswd file");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: berth\n    path: {}\n",
                reg.join("htpasswd").display()
            ));
        }
        std::fs::write(reg.join("config.yml"), config).expect("registry config");
        let child = self
            .host
            .spawn(
                Command::new("docker-registry")
                    .arg("serve")
                    .arg(reg.join("config.yml"))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null()),
            )
            .expect("start docker-registry");
        let registry = Registry { child };
        for _ in 0..400 {
            if self
                .host
                .enter_keep_pidns(|| std::net::TcpStream::connect("127.0.0.1:5000").is_ok())
                .unwrap_or(false)
            {
                return Some(registry);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("docker-registry did not come up");
    }

    /// Processes in the sandbox (to check for leftovers).
    pub fn sandbox_processes(&self) -> String {
        self.host.sh("ps -eo pid,args").unwrap_or_default()
    }

    /// Mounts in the sandbox that berth made (overlay rootfs, netns).
    pub fn berth_mounts(&self) -> Vec<String> {
        let root = self.host.root().to_string_lossy().into_owned();
        self.host
            .sh("cat /proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&root) && (l.contains("overlay") || l.contains("nsfs")))
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: signalling the daemon process we started.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
    }
}

/// A docker-registry [`Daemon::start_registry`] started; killed on drop.
pub struct Registry {
    child: Child,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

pub fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Calls `f` until `done` holds of its outcome or `secs` pass (a server
/// just started may not listen yet); returns the last outcome.
pub fn retry<T>(secs: u64, mut f: impl FnMut() -> T, done: impl Fn(&T) -> bool) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let r = f();
        if done(&r) || Instant::now() > deadline {
            return r;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Retries `f` until it is Ok or `secs` pass; the last outcome.
pub fn within<T, E>(secs: u64, f: impl FnMut() -> Result<T, E>) -> Result<T, E> {
    retry(secs, f, Result::is_ok)
}

/// `sh -c SCRIPT` in a new busybox container on `net` (`extra` docker run
/// flags first): (exit, stdout + stderr).
pub fn run_on(d: &Daemon, net: &str, extra: &[&str], script: &str) -> (i32, String) {
    let mut args = vec!["run", "--rm", "--network", net];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["busybox", "sh", "-c", script]);
    let o = d.docker(&args);
    (code(&o), stdout(&o) + &stderr(&o))
}

/// A busybox httpd script serving `text` at / on port 80.
pub fn httpd(text: &str) -> String {
    format!("mkdir -p /www && echo {text} > /www/index.html && exec httpd -f -p 80 -h /www")
}

/// `wget` of `url` from the sandbox host's netns.
pub fn fetch_from_host(d: &Daemon, url: &str) -> Result<String, String> {
    d.host
        .sh(&format!("busybox timeout 5 wget -Y off -qO- {url}"))
        .map_err(|e| e.to_string())
}
