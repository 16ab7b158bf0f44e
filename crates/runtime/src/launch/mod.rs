//! Starting a container process without re-executing berth: one raw
//! clone (fork semantics, namespace flags included where possible), then
//! the child runs straight-line code on a plan prepared before the clone.
//!
//! Between clone and execve the child allocates nothing, takes no locks and
//! calls only raw syscalls (setns, unshare, mount, pivot_root, sethostname,
//! setresuid, capset, prctl, seccomp, execve...), because the parent may be
//! multi-threaded and another thread may have held the allocator's lock at
//! the moment of the clone. Every string, path, argv/envp array and BPF
//! program is built beforehand; errors travel back as numbers.

pub mod build;
pub mod cgroup_join;
pub mod child;
pub mod console;
mod describe;
pub mod env;
pub mod hooks_child;
pub mod namespaces;
pub mod process;
pub mod sched;
pub mod step;
pub mod sync;
pub mod sys;
pub mod trampoline;

use std::ffi::{c_int, CString};
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

pub use describe::describe;
pub use namespaces::{NsError, NsPlan};
pub use process::ProcessPlan;

use crate::rootfs::RootfsPlan;
use sync::{kind, Msg, MSG_LEN};
use sys::CStringArray;

/// A hook the child runs itself (createContainer, startContainer).
#[derive(Debug)]
pub struct ChildHook {
    pub path: CString,
    pub argv: CStringArray,
    pub envp: CStringArray,
    /// Seconds; None = no limit.
    pub timeout: Option<i64>,
}

/// Everything the child needs, built before clone.
#[derive(Debug)]
pub struct InitPlan {
    pub ns: NsPlan,
    /// None for exec (the process joins an existing container).
    pub rootfs: Option<RootfsPlan>,
    pub process: ProcessPlan,
    pub create_container_hooks: Vec<ChildHook>,
    pub start_container_hooks: Vec<ChildHook>,
    /// The parent has prestart/createRuntime hooks: stop before
    /// pivot_root and wait for it.
    pub parent_hooks: bool,
    /// `exec.fifo` itself (O_PATH, reopened for writing through
    /// /proc/self/fd once in the container); -1 = start without waiting.
    /// Never the state directory: a directory fd of the host is a way out
    /// of the container for anything that reaches it (CVE-2024-21626).
    pub exec_fifo: RawFd,
    /// Descriptors the child must close at once (e.g. the state lock).
    pub close_in_child: Vec<RawFd>,
    /// Room for the GO payload (state JSON for the child's hooks).
    pub payload_capacity: usize,
    /// The child joins its cgroups itself (see [`cgroup_join`]); None: the
    /// parent moves it with `CgroupManager::add_pid` after READY.
    pub cgroup_join: Option<cgroup_join::CgroupJoin>,
}

impl InitPlan {
    /// Whether the child stops once its namespaces are in place, reports
    /// READY and waits for GO: only when the parent has work to do on it
    /// then (id maps, moving it into its cgroups, oom_score_adj, the state
    /// payload for the child's hooks, or the PID report of a fork). Without
    /// that work the round trip would only add two wake-ups (each a
    /// scheduling delay on a busy host) to every start.
    ///
    /// Pure over the plan's fields, so the child may call it between clone
    /// and execve.
    pub fn needs_go(&self) -> bool {
        self.ns.new_user
            || self.ns.clone_flags & libc::CLONE_NEWUSER != 0
            || self.ns.fork
            || self.cgroup_join.is_none()
            || self.process.oom_score_adj.is_some()
            || self.payload_capacity > 0
    }
}

/// Errors on the parent side of a launch.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("{op}: {source}")]
    Sys {
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("container init: {0}")]
    Child(String),
    #[error("container init exited before reporting ({0})")]
    ChildGone(String),
    #[error("writing {file} of process {pid}: {source}")]
    IdMap {
        file: &'static str,
        pid: i32,
        #[source]
        source: io::Error,
    },
}

fn sys_err(op: &'static str) -> impl FnOnce(io::Error) -> LaunchError {
    move |source| LaunchError::Sys { op, source }
}

/// A cloned child and the parent's end of the sync socket.
#[derive(Debug)]
pub struct Spawned {
    /// PID of the process that will exec (the init, or the exec'd process).
    pub pid: i32,
    sock: OwnedFd,
    reaped: bool,
    /// A READY that arrived before the intermediate's PID report (the two
    /// processes write concurrently).
    early_ready: bool,
    /// The program's exec candidates, to name the file of an execve that
    /// fails after setup (reported on the socket as the process exits).
    exec_candidates: Vec<CString>,
}

/// clone3's argument (linux/sched.h); libc only defines it for musl.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// clone3 with fork semantics (no stack given) starting the child inside
/// the cgroup2 directory `cgroup_fd`.
fn clone_into_cgroup(flags: c_int, cgroup_fd: c_int) -> i32 {
    let args = CloneArgs {
        flags: flags as u32 as u64 | CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup_fd as u64,
        ..CloneArgs::default()
    };
    // SAFETY: args is a valid clone_args of the size given; with stack 0
    // the child runs on a copy of our stack, like fork.
    unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        ) as i32
    }
}

/// Raw clone with fork semantics (the child runs on a copy of our stack).
fn raw_clone(flags: c_int) -> i32 {
    // SAFETY: clone with a NULL stack duplicates the caller like fork; the
    // remaining arguments (tids, tls) are unused without the matching flags.
    unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        ) as i32
    }
}

/// Raw clone for the child side (also used for hook processes).
pub(crate) fn child_clone(flags: c_int) -> i32 {
    raw_clone(flags)
}

impl Spawned {
    /// Clones the child and runs `plan` in it. On the slow path, waits for
    /// the intermediate process to report the init's PID.
    pub fn spawn(plan: &InitPlan) -> Result<Spawned, LaunchError> {
        // With SIGCHLD ignored the kernel reaps our children at once: no
        // zombie to read the init's start time from, nothing to wait for.
        // SAFETY: reading and resetting one signal disposition.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGCHLD, std::ptr::null(), &mut old) == 0
                && old.sa_sigaction == libc::SIG_IGN
            {
                libc::signal(libc::SIGCHLD, libc::SIG_DFL);
            }
        }
        let mut fds = [-1 as c_int; 2];
        // SAFETY: fds is a valid array of two ints.
        let r = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        if r != 0 {
            return Err(sys_err("socketpair")(io::Error::last_os_error()));
        }
        // SAFETY: both descriptors were just created and are owned here.
        let (ours, theirs) =
            unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // The child's receive buffer, allocated before the clone.
        let mut buf = vec![0u8; MSG_LEN + plan.payload_capacity];

        let v2 = plan.cgroup_join.as_ref().map_or(-1, |j| j.v2_fd());
        let pid = if v2 >= 0 {
            clone_into_cgroup(plan.ns.clone_flags, v2)
        } else {
            raw_clone(plan.ns.clone_flags)
        };
        if pid < 0 {
            return Err(sys_err("clone")(io::Error::last_os_error()));
        }
        if pid == 0 {
            sys::close(ours.as_raw_fd());
            child::main(plan, theirs.as_raw_fd(), &mut buf);
        }
        drop(theirs);
        let mut s = Spawned {
            pid,
            sock: ours,
            reaped: false,
            early_ready: false,
            exec_candidates: plan.process.exec_candidates.clone(),
        };
        if plan.ns.fork {
            let mut first = s.recv();
            if matches!(first, Ok(m) if m.kind == kind::READY) {
                s.early_ready = true;
                first = s.recv();
            }
            // The intermediate exits right after its report.
            let mut status = 0;
            // SAFETY: waitpid on our own child with a valid status pointer.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            match first {
                Ok(m) if m.kind == kind::PID && m.b > 0 => s.pid = m.b,
                Ok(m) if m.kind == kind::ERROR => {
                    s.reaped = true;
                    return Err(LaunchError::Child(describe(plan, m)));
                }
                Ok(m) => {
                    s.reaped = true;
                    return Err(LaunchError::ChildGone(format!(
                        "unexpected message {}",
                        m.kind
                    )));
                }
                Err(e) => {
                    s.reaped = true;
                    return Err(e);
                }
            }
        }
        Ok(s)
    }

    /// Receives one message from the child.
    pub fn recv(&self) -> Result<Msg, LaunchError> {
        let mut b = [0u8; MSG_LEN];
        loop {
            // SAFETY: b is a valid writable buffer of MSG_LEN bytes.
            let n = unsafe { libc::recv(self.sock.as_raw_fd(), b.as_mut_ptr().cast(), MSG_LEN, 0) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(sys_err("reading from container init")(e));
            }
            if n == 0 {
                return Err(LaunchError::ChildGone(self.exit_reason()));
            }
            return Msg::decode(&b[..n as usize])
                .ok_or_else(|| LaunchError::ChildGone("short message".into()));
        }
    }

    /// Waits for `want`; an ERROR message becomes the described error.
    pub fn expect(&mut self, plan: &InitPlan, want: u32) -> Result<Msg, LaunchError> {
        if want == kind::READY && self.early_ready {
            self.early_ready = false;
            return Ok(Msg::new(kind::READY));
        }
        let m = self.recv()?;
        if m.kind == want {
            return Ok(m);
        }
        if m.kind == kind::ERROR {
            return Err(LaunchError::Child(describe(plan, m)));
        }
        Err(LaunchError::ChildGone(format!(
            "unexpected message {}",
            m.kind
        )))
    }

    /// Sends GO with `payload`.
    pub fn go(&self, payload: &[u8]) -> Result<(), LaunchError> {
        let mut b = Vec::with_capacity(MSG_LEN + payload.len());
        b.extend_from_slice(&Msg::new(kind::GO).encode());
        b.extend_from_slice(payload);
        // SAFETY: b is a valid readable buffer of its length.
        let n = unsafe {
            libc::send(
                self.sock.as_raw_fd(),
                b.as_ptr().cast(),
                b.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if n < 0 || n as usize != b.len() {
            return Err(sys_err("writing to container init")(
                io::Error::last_os_error(),
            ));
        }
        Ok(())
    }

    /// How the child ended, if it did (for messages).
    fn exit_reason(&self) -> String {
        let mut status = 0;
        // SAFETY: non-blocking waitpid on our child.
        let r = unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG | libc::__WALL) };
        if r == self.pid {
            if libc::WIFEXITED(status) {
                return format!("exit status {}", libc::WEXITSTATUS(status));
            }
            if libc::WIFSIGNALED(status) {
                return format!("killed by signal {}", libc::WTERMSIG(status));
            }
        }
        "connection closed".into()
    }

    /// Writes uid_map and gid_map for a new user namespace.
    pub fn write_id_maps(&self, uid_map: &str, gid_map: &str) -> Result<(), LaunchError> {
        for (file, text) in [("uid_map", uid_map), ("gid_map", gid_map)] {
            fs::write(format!("/proc/{}/{file}", self.pid), text).map_err(|source| {
                LaunchError::IdMap {
                    file,
                    pid: self.pid,
                    source,
                }
            })?;
        }
        Ok(())
    }

    /// Kills and reaps the child (failure cleanup).
    pub fn kill(&mut self) {
        if self.reaped {
            return;
        }
        // SAFETY: signalling and reaping our own child.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            let mut status = 0;
            libc::waitpid(self.pid, &mut status, libc::__WALL);
        }
        self.reaped = true;
    }

    /// Waits for the process to exit; returns its shell-style exit code
    /// (128 + signal when killed).
    pub fn wait(&mut self) -> Result<i32, LaunchError> {
        let mut status = 0;
        loop {
            // SAFETY: waitpid on our own child with a valid status pointer.
            let r = unsafe { libc::waitpid(self.pid, &mut status, libc::__WALL) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(sys_err("waiting for the container process")(e));
            }
            break;
        }
        self.reaped = true;
        if let Some(e) = self.late_error() {
            return Err(e);
        }
        Ok(exit_code(status))
    }

    /// An execve failure the process reported just before it exited (the
    /// last step, after the parent stopped listening): runc fails `run`
    /// and `exec` with it.
    fn late_error(&self) -> Option<LaunchError> {
        let mut b = [0u8; MSG_LEN];
        // SAFETY: b is a valid writable buffer of MSG_LEN bytes.
        let n = unsafe {
            libc::recv(
                self.sock.as_raw_fd(),
                b.as_mut_ptr().cast(),
                MSG_LEN,
                libc::MSG_DONTWAIT,
            )
        };
        let m = Msg::decode(b.get(..usize::try_from(n).ok()?)?)?;
        if m.kind != kind::ERROR {
            return None;
        }
        let text = match m.a {
            step::EXECVE => describe::exec_failure(&self.exec_candidates, m.b.max(0) as usize, m.c),
            step::TRAMPOLINE => format!(
                "executing the exec trampoline: {}",
                io::Error::from_raw_os_error(m.c)
            ),
            _ => return None,
        };
        Some(LaunchError::Child(text))
    }

    /// Forgets the child without killing it (it lives on after `create`).
    pub fn release(mut self) {
        self.reaped = true;
    }

    /// The parent's end of the sync socket (to pass on descriptors).
    pub fn sock(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        // A child nobody released is a failed launch: do not leave it.
        self.kill();
    }
}

/// Shell-style exit code of a wait status.
pub fn exit_code(status: c_int) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        255
    }
}

/// uid_map/gid_map text from OCI mappings.
pub fn id_map_text(maps: &[oci_spec::runtime::LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}
