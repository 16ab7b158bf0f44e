//! `SandboxHost`: a throwaway "host" for one test.
//!
//! A sandbox host is a holder process started with `unshare --net --mount
//! --pid --fork`: it owns a fresh network namespace (only `lo`, up), a private
//! mount namespace (a tmpfs on `/run` so `ip netns add` and berth's runtime
//! state never reach the machine's `/run`, and a sysfs of its own so
//! `/sys/class/net` shows the sandbox's links, with the cgroup mounts kept
//! visible), and a PID namespace, so that killing the holder kills every
//! process started inside. Network namespaces made inside die with it too, as
//! their bind mounts live in the sandbox's mount namespace.
//!
//! Tests never `setns` their own thread: namespaces are per thread and cargo
//! runs tests on many threads. Instead [`SandboxHost::enter`] runs a closure on
//! a dedicated thread that left the shared filesystem attributes
//! (`unshare(CLONE_FS)`) and joined the sandbox, and [`SandboxHost::spawn`] /
//! [`SandboxHost::output`] start commands from such a thread.
//!
//! Drop kills the holder (and so everything inside), removes the cgroups made
//! under [`SandboxHost::cgroup_parent`] in every hierarchy, and deletes the
//! temp root. Drop also runs during a panic's unwinding, so a failing test
//! leaks nothing; if the test process dies outright, the holder's parent-death
//! signal and `unshare --kill-child` still end the sandbox.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::cgroupfs;

/// Errors from setting up or using a sandbox host.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("creating the sandbox temp root: {0}")]
    TempRoot(#[source] std::io::Error),
    #[error("starting the sandbox holder (`unshare`): {0}")]
    Spawn(#[source] std::io::Error),
    #[error("sandbox holder did not come up: {0}")]
    NotReady(String),
    #[error("opening the sandbox's {ns} namespace: {source}")]
    OpenNs {
        ns: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("joining the sandbox's {ns} namespace: {source}")]
    Join {
        ns: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error("running {cmd:?} in the sandbox: {source}")]
    Run {
        cmd: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{cmd:?} failed in the sandbox ({status}):\nstdout: {stdout}\nstderr: {stderr}")]
    Failed {
        cmd: String,
        status: std::process::ExitStatus,
        stdout: String,
        stderr: String,
    },
}

/// The state directories berth uses, all under the sandbox's temp root.
#[derive(Debug, Clone)]
pub struct StateDirs {
    /// Stands for `/run/berth`.
    pub run: PathBuf,
    /// Stands for `/var/lib/berth`.
    pub lib: PathBuf,
    /// Stands for `/etc/cni/net.d`.
    pub cni_conf: PathBuf,
    /// Where the runtime keeps container state (`--root`).
    pub runtime_root: PathBuf,
    /// Where network namespaces are bind-mounted.
    pub netns: PathBuf,
}

/// A fresh network + mount + PID namespace ("a host") with a temp root.
pub struct SandboxHost {
    holder: Child,
    inner_pid: i32,
    root: Option<tempfile::TempDir>,
    dirs: StateDirs,
    cgroup_parent: String,
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Runs inside the new namespaces before the holder settles: a tmpfs on /run
/// keeps netns bind mounts and sockets private; a fresh sysfs shows this
/// netns's links (mounting it hides /sys/fs/cgroup, so that tree is moved
/// aside first and moved back on top).
const SETUP: &str = r#"set -e
ip link set lo up
mount -t tmpfs -o mode=0755 berth-sandbox-run /run
mkdir -p /run/netns /run/lock
cg="$BERTH_SANDBOX_ROOT/.cgroup"
mkdir -p "$cg"
mount --rbind /sys/fs/cgroup "$cg"
mount -t sysfs sysfs /sys
mount --move "$cg" /sys/fs/cgroup
rmdir "$cg"
echo ready
exec sleep infinity
"#;

impl SandboxHost {
    /// Starts a new sandbox host and waits until it is ready.
    pub fn new() -> Result<SandboxHost, SandboxError> {
        let root = tempfile::Builder::new()
            .prefix("berth-sandbox-")
            .tempdir()
            .map_err(SandboxError::TempRoot)?;
        let r = root.path();
        let dirs = StateDirs {
            run: r.join("run/berth"),
            lib: r.join("lib/berth"),
            cni_conf: r.join("etc/cni/net.d"),
            runtime_root: r.join("run/berth/runtime"),
            netns: r.join("run/berth/netns"),
        };
        for d in [
            &dirs.run,
            &dirs.lib,
            &dirs.cni_conf,
            &dirs.runtime_root,
            &dirs.netns,
        ] {
            std::fs::create_dir_all(d).map_err(SandboxError::TempRoot)?;
        }
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let cgroup_parent = format!("berth-test-{}-{}", std::process::id(), seq);

        let mut cmd = Command::new("unshare");
        cmd.args([
            "--net",
            "--mount",
            "--pid",
            "--fork",
            "--kill-child",
            "--propagation",
            "private",
            "--mount-proc",
            "--",
            "sh",
            "-c",
            SETUP,
        ])
        .env("BERTH_SANDBOX_ROOT", r)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        // SAFETY: prctl is async-signal-safe and touches no memory of ours; it
        // ends the holder (and, through --kill-child, the sandbox) if the
        // thread that started it dies without dropping the SandboxHost.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut holder = cmd.spawn().map_err(SandboxError::Spawn)?;
        let holder_pid = holder.id();

        let ready = holder.stdout.take().map(|out| {
            let mut line = String::new();
            let ok = BufReader::new(out).read_line(&mut line).is_ok() && line.trim() == "ready";
            (ok, line)
        });
        let mut host = SandboxHost {
            holder,
            inner_pid: 0,
            root: Some(root),
            dirs,
            cgroup_parent,
        };
        match ready {
            Some((true, _)) => {}
            Some((false, line)) => {
                let err = host.holder_stderr();
                return Err(SandboxError::NotReady(format!("{} {}", line.trim(), err)));
            }
            None => return Err(SandboxError::NotReady("no stdout pipe".into())),
        }
        host.inner_pid = inner_child(holder_pid).ok_or_else(|| {
            SandboxError::NotReady(format!("no child under unshare pid {holder_pid}"))
        })?;
        Ok(host)
    }

    fn holder_stderr(&mut self) -> String {
        let _ = kill(Pid::from_raw(self.holder.id() as i32), Signal::SIGKILL);
        let _ = self.holder.wait();
        let mut s = String::new();
        if let Some(mut e) = self.holder.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut s);
        }
        s
    }

    /// The temp root under which all of this host's state lives.
    pub fn root(&self) -> &Path {
        self.root
            .as_ref()
            .map(|r| r.path())
            .unwrap_or(Path::new("/nonexistent"))
    }

    /// berth's state directories for this host (all under [`Self::root`]).
    pub fn dirs(&self) -> &StateDirs {
        &self.dirs
    }

    /// PID (as seen from the test) of the sandbox's init; its
    /// `/proc/PID/ns/net` is the sandbox's network namespace.
    pub fn pid(&self) -> i32 {
        self.inner_pid
    }

    /// Path of the sandbox's network namespace file.
    pub fn netns_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/net", self.inner_pid))
    }

    /// A cgroup name unique to this sandbox: tests put every cgroup they make
    /// under it (e.g. cgroupsPath `/<parent>/<id>`), and drop removes it from
    /// every hierarchy.
    pub fn cgroup_parent(&self) -> &str {
        &self.cgroup_parent
    }

    /// Runs `f` on a dedicated thread inside the sandbox's network and mount
    /// namespaces; processes that `f` starts are in the sandbox's PID
    /// namespace (so they die with it). Panics in `f` are propagated.
    ///
    /// The kernel refuses to start a *thread* from a thread whose children
    /// go to another PID namespace (`EINVAL`): code that spawns threads
    /// (tokio, `NetNs::run_in`) must use [`Self::enter_keep_pidns`].
    pub fn enter<F, R>(&self, f: F) -> Result<R, SandboxError>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        self.enter_with(true, f)
    }

    /// Like [`Self::enter`], but children stay in the test's PID namespace:
    /// for commands that name other sandboxes' processes by PID (e.g. `ip link
    /// set X netns PID`).
    pub fn enter_keep_pidns<F, R>(&self, f: F) -> Result<R, SandboxError>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        self.enter_with(false, f)
    }

    fn enter_with<F, R>(&self, join_pid: bool, f: F) -> Result<R, SandboxError>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        let open = |ns: &'static str| {
            File::open(format!("/proc/{}/ns/{ns}", self.inner_pid))
                .map_err(|source| SandboxError::OpenNs { ns, source })
        };
        let mnt = open("mnt")?;
        let net = open("net")?;
        let pid = open("pid")?;
        let joined = std::thread::scope(|s| {
            s.spawn(|| -> Result<R, SandboxError> {
                // A thread sharing fs attributes with others cannot join a
                // mount namespace.
                unshare(CloneFlags::CLONE_FS)
                    .map_err(|source| SandboxError::Join { ns: "fs", source })?;
                setns(mnt.as_fd(), CloneFlags::CLONE_NEWNS)
                    .map_err(|source| SandboxError::Join { ns: "mnt", source })?;
                setns(net.as_fd(), CloneFlags::CLONE_NEWNET)
                    .map_err(|source| SandboxError::Join { ns: "net", source })?;
                if join_pid {
                    setns(pid.as_fd(), CloneFlags::CLONE_NEWPID)
                        .map_err(|source| SandboxError::Join { ns: "pid", source })?;
                }
                Ok(f())
            })
            .join()
        });
        match joined {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Starts `cmd` inside the sandbox (net, mount and PID namespaces).
    pub fn spawn(&self, cmd: &mut Command) -> Result<Child, SandboxError> {
        let desc = describe(cmd);
        self.enter(|| cmd.spawn())?
            .map_err(|source| SandboxError::Run { cmd: desc, source })
    }

    /// Runs `cmd` inside the sandbox to completion and returns its output,
    /// whatever its exit status.
    pub fn output(&self, cmd: &mut Command) -> Result<Output, SandboxError> {
        let desc = describe(cmd);
        self.enter(|| cmd.output())?
            .map_err(|source| SandboxError::Run { cmd: desc, source })
    }

    /// Runs `cmd` inside the sandbox; a non-zero exit is an error carrying
    /// its stdout and stderr. Returns stdout.
    pub fn run(&self, cmd: &mut Command) -> Result<String, SandboxError> {
        let desc = describe(cmd);
        let out = self.output(cmd)?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(stdout)
        } else {
            Err(SandboxError::Failed {
                cmd: desc,
                status: out.status,
                stdout,
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            })
        }
    }

    /// Runs a `sh -c` script inside the sandbox; non-zero exit is an error.
    pub fn sh(&self, script: &str) -> Result<String, SandboxError> {
        self.run(Command::new("sh").arg("-c").arg(script))
    }

    /// Connects this host to `other` with a veth pair (`here` in this host,
    /// `there` in the other), both up, without addresses: the wire between
    /// two sandbox hosts, for multi-host tests.
    pub fn connect(
        &self,
        other: &SandboxHost,
        here: &str,
        there: &str,
    ) -> Result<(), SandboxError> {
        let script = format!(
            "ip link add {here} type veth peer name {there} netns {pid} && ip link set {here} up",
            pid = other.inner_pid
        );
        self.enter_keep_pidns(|| {
            let out = Command::new("sh").arg("-c").arg(&script).output();
            (script.clone(), out)
        })
        .and_then(|(desc, out)| check(desc, out))?;
        other.sh(&format!("ip link set {there} up"))?;
        Ok(())
    }
}

fn check(desc: String, out: std::io::Result<Output>) -> Result<String, SandboxError> {
    let out = out.map_err(|source| SandboxError::Run {
        cmd: desc.clone(),
        source,
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(SandboxError::Failed {
            cmd: desc,
            status: out.status,
            stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// The child `unshare --fork` made: PID 1 of the sandbox's PID namespace.
fn inner_child(holder: u32) -> Option<i32> {
    let children =
        std::fs::read_to_string(format!("/proc/{holder}/task/{holder}/children")).ok()?;
    children.split_whitespace().next()?.parse().ok()
}

/// Waits until `pid` has let go of its namespaces (its `/proc/PID/ns/net`
/// link no longer resolves). Not until it is reaped: a dying PID-namespace
/// init waits for its namespace's zombies, and those may be children of the
/// test, reaped only later.
fn wait_released(pid: i32, limit: Duration) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if std::fs::read_link(format!("/proc/{pid}/ns/net")).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Inode of a namespace link (`/proc/PID/ns/net` -> `net:[4026531833]`).
fn ns_inode(link: &str) -> Option<u64> {
    let target = std::fs::read_link(link).ok()?;
    let target = target.to_str()?;
    target.split_once(":[")?.1.strip_suffix(']')?.parse().ok()
}

/// Processes outside the sandbox's PID namespace that still sit in its
/// network or mount namespace, or in a network namespace made inside it
/// (`ip netns add`): started with [`SandboxHost::enter_keep_pidns`], they are
/// not reached by the PID namespace's teardown and would keep the sandbox's
/// namespaces alive. Every one of them was started through this sandbox.
fn stragglers(inner_pid: i32) -> Vec<i32> {
    let mut netns: Vec<u64> = ns_inode(&format!("/proc/{inner_pid}/ns/net"))
        .into_iter()
        .collect();
    // Network namespaces made inside live as nsfs mounts of its mount ns.
    if let Ok(info) = std::fs::read_to_string(format!("/proc/{inner_pid}/mountinfo")) {
        for line in info.lines().filter(|l| l.contains(" - nsfs ")) {
            let root = line.split_whitespace().nth(3).unwrap_or("");
            if let Some(ino) = root
                .strip_prefix("net:[")
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|r| r.parse().ok())
            {
                netns.push(ino);
            }
        }
    }
    let mnt = ns_inode(&format!("/proc/{inner_pid}/ns/mnt"));
    let pidns = ns_inode(&format!("/proc/{inner_pid}/ns/pid"));
    let me = std::process::id() as i32;
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .filter(|&pid| {
            // Inside the PID namespace: the kernel's teardown handles those.
            if pidns.is_some() && ns_inode(&format!("/proc/{pid}/ns/pid")) == pidns {
                return false;
            }
            let net = ns_inode(&format!("/proc/{pid}/ns/net"));
            net.is_some_and(|n| netns.contains(&n))
                || (mnt.is_some() && ns_inode(&format!("/proc/{pid}/ns/mnt")) == mnt)
        })
        .collect()
}

impl Drop for SandboxHost {
    fn drop(&mut self) {
        // Found while the sandbox's init still shows its namespaces.
        let stragglers = if self.inner_pid > 0 {
            stragglers(self.inner_pid)
        } else {
            Vec::new()
        };
        for pid in &stragglers {
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
        // Killing the holder makes `unshare --kill-child` SIGKILL the
        // sandbox's init, and the kernel then kills everything in its PID
        // namespace; the namespaces and their mounts go with the last process.
        let _ = kill(Pid::from_raw(self.holder.id() as i32), Signal::SIGKILL);
        let _ = self.holder.wait();
        if self.inner_pid > 0 {
            let _ = kill(Pid::from_raw(self.inner_pid), Signal::SIGKILL);
            wait_released(self.inner_pid, Duration::from_secs(5));
        }
        for pid in stragglers {
            wait_released(pid, Duration::from_secs(5));
        }
        cgroupfs::remove_everywhere(&self.cgroup_parent, Duration::from_secs(5));
        if let Some(root) = self.root.take() {
            let _ = root.close();
        }
    }
}
