//! `exec`: a new process inside a running container. The child joins every
//! namespace in which the init differs from us in one `setns(pidfd, flags)`
//! (so the kernel orders and checks them), forks once if a PID or time
//! namespace is among them, and is moved into the container's cgroup
//! before it continues.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use oci_spec::runtime::{LinuxPersonalityDomain, Process};

use super::create::write_pid_file;
use super::run::wait_forwarding;
use super::status::current;
use super::{Runtime, Warnings};
use crate::launch::build::{self, ProcessInputs};
use crate::launch::cgroup_join::CgroupJoin;
use crate::launch::namespaces::differing;
use crate::launch::sync::kind;
use crate::launch::{InitPlan, NsPlan, Spawned};
use crate::state::{Lock, Status};
use crate::Error;

/// Options of `exec` (runc's flags).
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub id: String,
    /// A complete process (`--process FILE`); overrides the fields below.
    pub process: Option<Process>,
    pub args: Vec<String>,
    /// `KEY=VALUE` entries added to (or replacing in) the container's env.
    pub env: Vec<String>,
    pub cwd: Option<PathBuf>,
    /// `uid[:gid]`.
    pub user: Option<(u32, Option<u32>)>,
    pub additional_gids: Vec<u32>,
    pub tty: bool,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub detach: bool,
    pub preserve_fds: u32,
    pub no_new_privs: bool,
}

/// What `exec` ended with.
#[derive(Debug)]
pub struct ExecOutcome {
    pub pid: i32,
    /// Exit code in the foreground; None when detached.
    pub exit_code: Option<i32>,
    pub warnings: Warnings,
}

/// Reads a `--process` file (a runtime-spec process object).
pub fn read_process_file(path: &std::path::Path) -> Result<Process, Error> {
    let bytes = std::fs::read(path).map_err(Error::io("read", path))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::Invalid(format!("malformed process file {}: {e}", path.display())))
}

/// Sets `KEY=VALUE` in `env`, replacing an existing KEY.
fn set_env(env: &mut Vec<String>, kv: &str) {
    let key = kv.split('=').next().unwrap_or(kv);
    env.retain(|e| e.split('=').next() != Some(key));
    env.push(kv.to_owned());
}

/// The process to run: the `--process` file, or the container's own
/// process with the flags applied (runc's rule).
fn exec_process(base: Option<Process>, opts: &ExecOptions) -> Result<Process, Error> {
    if let Some(p) = &opts.process {
        if p.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(Error::Invalid(
                "exec: process.args must not be empty".into(),
            ));
        }
        return Ok(p.clone());
    }
    if opts.args.is_empty() {
        return Err(Error::Invalid("exec: no command given".into()));
    }
    let mut p = base.unwrap_or_default();
    p.set_args(Some(opts.args.clone()));
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &opts.env {
        set_env(&mut env, kv);
    }
    p.set_env(Some(env));
    if let Some(cwd) = &opts.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some((uid, gid)) = opts.user {
        let mut u = p.user().clone();
        u.set_uid(uid);
        u.set_gid(gid.unwrap_or(0));
        p.set_user(u);
    }
    if !opts.additional_gids.is_empty() {
        let mut u = p.user().clone();
        u.set_additional_gids(Some(opts.additional_gids.clone()));
        p.set_user(u);
    }
    p.set_terminal(Some(opts.tty));
    if opts.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    Ok(p)
}

impl Runtime {
    /// `exec`: the container must be created or running.
    pub fn exec(&self, opts: &ExecOptions) -> Result<ExecOutcome, Error> {
        let dir = self.state_root().open(&opts.id, Lock::Shared)?;
        let rec = dir.read()?;
        let status = current(&dir, &rec);
        if !matches!(status, Status::Created | Status::Running) {
            return Err(Error::WrongState {
                op: "exec in",
                id: opts.id.clone(),
                status,
            });
        }
        let spec = dir.read_config()?;
        let process = exec_process(spec.process().clone(), opts)?;
        if !process.cwd().is_absolute() {
            return Err(Error::Invalid("exec: cwd must be an absolute path".into()));
        }
        let linux = spec.linux().clone().unwrap_or_default();
        let terminal = process.terminal().unwrap_or(false);
        let mut relay_sock = None;
        let console = match (&opts.console_socket, terminal) {
            (Some(p), true) => {
                Some(UnixStream::connect(p).map_err(Error::io("connect to console socket", p))?)
            }
            (None, true) if !opts.detach => {
                // Foreground terminal: keep the master here and relay.
                let (ours, theirs) =
                    UnixStream::pair().map_err(Error::io("socketpair", "console"))?;
                relay_sock = Some(ours);
                Some(theirs)
            }
            (None, true) => {
                return Err(Error::Invalid(
                    "exec --tty --detach needs --console-socket".into(),
                ))
            }
            (Some(_), false) => {
                return Err(Error::Invalid(
                    "--console-socket given without --tty".into(),
                ))
            }
            (None, false) => None,
        };

        // SAFETY: pidfd_open with integer arguments.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, rec.state.pid, 0) } as i32;
        if pidfd < 0 {
            return Err(Error::io("pidfd_open", format!("/proc/{}", rec.state.pid))(
                std::io::Error::last_os_error(),
            ));
        }
        // SAFETY: pidfd was just opened and is owned here.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
        if !super::status::init_alive(&rec) {
            return Err(Error::WrongState {
                op: "exec in",
                id: opts.id.clone(),
                status: Status::Stopped,
            });
        }
        let flags = differing(rec.state.pid);
        let ns = NsPlan {
            setns: if flags != 0 {
                vec![(pidfd.as_raw_fd(), flags)]
            } else {
                Vec::new()
            },
            setns_names: vec![format!("the namespaces of container {}", opts.id)],
            fork: flags & (libc::CLONE_NEWPID | libc::CLONE_NEWTIME) != 0,
            ..NsPlan::default()
        };

        let (mut proc_plan, warnings) = build::process_plan(
            &process,
            &ProcessInputs {
                rootfs: Some(&rec.state.rootfs),
                seccomp: linux.seccomp().as_ref(),
                console_socket: console.as_ref().map_or(-1, |s| s.as_raw_fd()),
                keep_fds: opts.preserve_fds as i32,
                is_exec: true,
                cpuset: super::create::cpuset_set(&linux),
                ..ProcessInputs::default()
            },
        )?;
        if let Some(p) = linux.personality() {
            proc_plan.personality = Some(match p.domain() {
                LinuxPersonalityDomain::PerLinux => 0x0000,
                LinuxPersonalityDomain::PerLinux32 => 0x0008,
            });
        }
        let plan = InitPlan {
            ns,
            rootfs: None,
            process: proc_plan,
            create_container_hooks: Vec::new(),
            start_container_hooks: Vec::new(),
            parent_hooks: false,
            exec_fifo: -1,
            close_in_child: vec![dir.lock_fd()],
            payload_capacity: 0,
            cgroup_join: None,
        };
        let mut plan = plan;
        let cg = rec.cgroup()?;
        // The child joins before its setns, with our credentials.
        plan.cgroup_join = CgroupJoin::open(&cg.paths());

        let _held = (!opts.detach).then(super::run::SignalsHeld::hold);
        let mut child = Spawned::spawn(&plan)?;
        drop(console);
        drop(pidfd);
        if plan.needs_go() {
            child.expect(&plan, kind::READY)?;
            if plan.cgroup_join.is_none() {
                cg.add_pid(child.pid)?;
            }
            if let Some(adj) = plan.process.oom_score_adj {
                let path = format!("/proc/{}/oom_score_adj", child.pid);
                std::fs::write(&path, adj.to_string()).map_err(Error::io("write", path))?;
            }
            child.go(&[])?;
        }
        child.expect(&plan, kind::CREATED)?;
        if let Some(p) = &opts.pid_file {
            write_pid_file(p, child.pid)?;
        }
        drop(dir);
        let pid = child.pid;
        if opts.detach {
            child.release();
            return Ok(ExecOutcome {
                pid,
                exit_code: None,
                warnings,
            });
        }
        let code = match &relay_sock {
            Some(sock) => super::tty::relay(&mut child, super::tty::recv_master(sock)?)?,
            None => wait_forwarding(&mut child)?,
        };
        Ok(ExecOutcome {
            pid,
            exit_code: Some(code),
            warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_apply_over_the_container_process() -> Result<(), Error> {
        let mut base = Process::default();
        base.set_env(Some(vec!["PATH=/bin".into(), "A=1".into()]));
        let opts = ExecOptions {
            args: vec!["id".into()],
            env: vec!["A=2".into(), "B=3".into()],
            user: Some((1000, Some(1000))),
            cwd: Some("/tmp".into()),
            ..ExecOptions::default()
        };
        let p = exec_process(Some(base), &opts)?;
        assert_eq!(p.args().clone().unwrap_or_default(), vec!["id".to_owned()]);
        assert_eq!(
            p.env().clone().unwrap_or_default(),
            vec!["PATH=/bin".to_owned(), "A=2".to_owned(), "B=3".to_owned()]
        );
        assert_eq!(p.user().uid(), 1000);
        assert_eq!(p.cwd(), &PathBuf::from("/tmp"));
        assert!(exec_process(None, &ExecOptions::default()).is_err());
        Ok(())
    }
}
