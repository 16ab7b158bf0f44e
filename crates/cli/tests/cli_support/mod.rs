//! Daemons for the `berth` CLI tests to talk to, each confined and torn
//! down on drop:
//! - berthd (`berth daemon`) inside a `SandboxHost`, state under its root;
//! - Debian's dockerd (only with `BERTH_TEST_DOCKERD=1`, so CI does not
//!   depend on it), in a network namespace the test made, a private mount
//!   namespace with its own /run, its data/exec roots and socket in a temp
//!   dir, stopped by PID.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use berth_testsupport::SandboxHost;

static SEQ: AtomicU32 = AtomicU32::new(0);

pub struct Daemon {
    pub socket: PathBuf,
    pub kind: &'static str,
    child: Option<Child>,
    netns: Option<String>,
    cgroup_parent: Option<String>,
    _dir: Option<tempfile::TempDir>,
    sandbox: Option<SandboxHost>,
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
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(root.join("berthd.log")).expect("log file"));
    let child = sandbox.spawn(&mut cmd).expect("starting berthd");
    let mut d = Daemon {
        socket,
        kind: "berthd",
        child: Some(child),
        netns: None,
        cgroup_parent: None,
        _dir: None,
        sandbox: Some(sandbox),
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

/// Debian's dockerd, confined (see the module doc), with busybox loaded.
pub fn dockerd() -> Daemon {
    let dir = tempfile::tempdir().expect("temp dir");
    let w = dir.path();
    for d in ["data", "exec", ".cgstash"] {
        std::fs::create_dir_all(w.join(d)).expect("mkdir");
    }
    std::fs::write(
        w.join("daemon.json"),
        format!("{{\"deprecated-key-path\": \"{}/key.json\"}}", w.display()),
    )
    .expect("daemon.json");
    let n = SEQ.fetch_add(1, Ordering::SeqCst);
    let ns = format!("berthcli-{}-{n}", std::process::id());
    let cgroup_parent = format!("berthcli_{}_{n}", std::process::id());
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!("ip netns add {ns} && ip -n {ns} link set lo up"))
        .status()
        .expect("ip netns add");
    assert!(st.success(), "ip netns add {ns} failed");
    // A 10.x bridge subnet per instance keeps concurrent tests apart.
    let bip = format!("10.{}.{}.1/24", 200 + (std::process::id() % 50), n % 250);
    let script = r#"
        dw=$1
        mount --rbind /sys/fs/cgroup "$dw/.cgstash" &&
        mount -t sysfs -o nosuid,nodev,noexec sysfs /sys &&
        mount --rbind "$dw/.cgstash" /sys/fs/cgroup && umount -l "$dw/.cgstash" &&
        mount -t tmpfs -o mode=755 berthcli-run /run &&
        exec dockerd --config-file "$dw/daemon.json" --data-root "$dw/data" --exec-root "$dw/exec" \
            -H "unix://$dw/docker.sock" --pidfile "$dw/docker.pid" \
            --exec-opt native.cgroupdriver=cgroupfs --cgroup-parent "/$2" \
            --userland-proxy=false --bip "$3" --storage-driver overlay2 --log-level warn"#;
    let child = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{ns}"))
        .args([
            "unshare",
            "--mount",
            "--propagation",
            "slave",
            "sh",
            "-c",
            script,
            "berthcli-dockerd",
        ])
        .arg(w)
        .arg(&cgroup_parent)
        .arg(&bip)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(w.join("dockerd.log")).expect("log file"))
        .spawn()
        .expect("starting dockerd (apt-get install docker.io containerd)");
    let mut d = Daemon {
        socket: w.join("docker.sock"),
        kind: "dockerd",
        child: Some(child),
        netns: Some(ns),
        cgroup_parent: Some(cgroup_parent),
        _dir: None,
        sandbox: None,
    };
    if let Err(e) = d.wait_for_ping() {
        let log = std::fs::read_to_string(w.join("dockerd.log")).unwrap_or_default();
        panic!("{e}\ndockerd log:\n{log}");
    }
    let loaded = d.load_busybox(w);
    assert_eq!(loaded.code, 0, "load: {}{}", loaded.stdout, loaded.stderr);
    d._dir = Some(dir);
    d
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Containers first, so shims and mounts go before the daemon does.
        let ids = self.berth(&["ps", "-aq"]).stdout;
        for id in ids.split_whitespace() {
            let _ = self.berth(&["rm", "-f", id]);
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
        if let Some(ns) = self.netns.take() {
            let _ = Command::new("ip").args(["netns", "del", &ns]).status();
        }
        if let Some(cg) = self.cgroup_parent.take() {
            if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
                for e in entries.flatten() {
                    let p = e.path().join(&cg);
                    if p.is_dir() {
                        let _ = Command::new("find")
                            .arg(&p)
                            .args(["-depth", "-type", "d", "-exec", "rmdir", "{}", "+"])
                            .status();
                    }
                }
            }
        }
        // The sandbox (if any) drops after this, killing what is left in it.
        let _ = self.sandbox.take();
    }
}
