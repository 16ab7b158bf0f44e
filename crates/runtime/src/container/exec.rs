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
    /// Capabilities added to the bounding, effective and permitted sets
    /// (and ambient, when the process has an inheritable set), as runc's
    /// `--cap`.
    pub caps: Vec<String>,
    /// `--cgroup`: sub-cgroups to run in, as (controller, path); an empty
    /// controller (only alone) means every hierarchy.
    pub sub_cgroups: Vec<(String, String)>,
    /// Exec into a paused container (the process stays frozen until
    /// `resume`), as runc's `--ignore-paused`.
    pub ignore_paused: bool,
}

/// What `exec` ended with.
#[derive(Debug)]
pub struct ExecOutcome {
    pub pid: i32,
    /// Exit code in the foreground; None when detached.
    pub exit_code: Option<i32>,
    pub warnings: Warnings,
}

/// Reads a `--process` file (a runtime-spec process object). A file
/// without `user` runs as uid 0, gid 0, as under runc (whose decoder
/// leaves the missing object zeroed).
pub fn read_process_file(path: &std::path::Path) -> Result<Process, Error> {
    let bytes = std::fs::read(path).map_err(Error::io("read", path))?;
    let malformed = |e: serde_json::Error| {
        Error::Invalid(format!("malformed process file {}: {e}", path.display()))
    };
    let mut v: serde_json::Value = serde_json::from_slice(&bytes).map_err(malformed)?;
    if let Some(obj) = v.as_object_mut() {
        obj.entry("user")
            .or_insert_with(|| serde_json::json!({"uid": 0, "gid": 0}));
    }
    serde_json::from_value(v).map_err(malformed)
}

/// Adds runc's `--cap` names to `p`'s capability sets.
fn add_caps(p: &mut Process, caps: &[String]) -> Result<(), Error> {
    if caps.is_empty() {
        return Ok(());
    }
    let mut sets = p.capabilities().clone().unwrap_or_default();
    let has_inheritable = p
        .capabilities()
        .as_ref()
        .is_some_and(|c| c.inheritable().is_some());
    for name in caps {
        let cap: oci_spec::runtime::Capability =
            serde_json::from_value(serde_json::Value::String(name.clone()))
                .map_err(|_| Error::Invalid(format!("exec --cap: unknown capability {name:?}")))?;
        let add = |set: &Option<oci_spec::runtime::Capabilities>| {
            let mut s = set.clone().unwrap_or_default();
            s.insert(cap);
            Some(s)
        };
        sets.set_bounding(add(sets.bounding()));
        sets.set_effective(add(sets.effective()));
        sets.set_permitted(add(sets.permitted()));
        if has_inheritable {
            sets.set_ambient(add(sets.ambient()));
        }
    }
    p.set_capabilities(Some(sets));
    Ok(())
}

/// The container's cgroup directories with `--cgroup` sub-paths applied:
/// `subs` as (controller, path), an empty controller meaning all. Each
/// sub-cgroup must exist below the container's own (runc's rule).
pub fn sub_cgroup_paths(
    paths: &[(String, PathBuf)],
    subs: &[(String, String)],
) -> Result<Vec<(String, PathBuf)>, Error> {
    let mut out = paths.to_vec();
    for (ctrl, sub) in subs {
        let rel = std::path::Path::new(sub.trim_start_matches('/'));
        if rel.components().any(|c| {
            !matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        }) {
            return Err(Error::Invalid(format!(
                "exec --cgroup: {sub} is not a sub cgroup path"
            )));
        }
        let mut found = false;
        for (name, dir) in out.iter_mut() {
            // v1 names a named hierarchy "name=systemd"; runc calls it "systemd".
            let short = name.strip_prefix("name=").unwrap_or(name);
            if ctrl.is_empty() || ctrl == name || ctrl == short {
                *dir = dir.join(rel);
                found = true;
            }
        }
        if !found {
            return Err(Error::Invalid(format!(
                "exec --cgroup: unknown controller {ctrl} in sub-cgroup paths"
            )));
        }
    }
    for (_, dir) in &out {
        if !dir.is_dir() {
            return Err(Error::Invalid(format!(
                "exec --cgroup: sub-cgroup {} does not exist",
                dir.display()
            )));
        }
    }
    Ok(out)
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
        let mut p = p.clone();
        add_caps(&mut p, &opts.caps)?;
        return Ok(p);
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
    add_caps(&mut p, &opts.caps)?;
    Ok(p)
}

impl Runtime {
    /// `exec`: the container must be created or running.
    pub fn exec(&self, opts: &ExecOptions) -> Result<ExecOutcome, Error> {
        let dir = self.state_root().open(&opts.id, Lock::Shared)?;
        let rec = dir.read()?;
        let status = current(&dir, &rec);
        if status == Status::Paused && !opts.ignore_paused {
            return Err(Error::Invalid(
                "cannot exec in a paused container (use --ignore-paused to override)".into(),
            ));
        }
        if !matches!(status, Status::Created | Status::Running | Status::Paused) {
            return Err(Error::WrongState {
                op: "exec in",
                id: opts.id.clone(),
                status,
            });
        }
        let spec = dir.read_config()?;
        // Into a paused container the new process freezes as soon as it
        // joins the cgroup, before it could close its copy of the lock,
        // and `resume` needs that lock: so this exec lets it go now (it
        // reads nothing more from the state directory).
        let dir = if status == Status::Paused {
            drop(dir);
            None
        } else {
            Some(dir)
        };
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
            close_in_child: dir.iter().map(|d| d.lock_fd()).collect(),
            payload_capacity: 0,
            cgroup_join: None,
        };
        let mut plan = plan;
        let cg = rec.cgroup()?;
        let paths = sub_cgroup_paths(&cg.paths(), &opts.sub_cgroups)?;
        // The child joins before its setns, with our credentials.
        plan.cgroup_join = CgroupJoin::open(&paths);

        let _held = (!opts.detach).then(super::forward::SignalsHeld::hold);
        let mut child = Spawned::spawn(&plan)?;
        drop(console);
        drop(pidfd);
        if plan.needs_go() {
            child.expect(&plan, kind::READY)?;
            if plan.cgroup_join.is_none() {
                if opts.sub_cgroups.is_empty() {
                    cg.add_pid(child.pid)?;
                } else {
                    add_pid_to(&paths, child.pid)?;
                }
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

/// Moves `pid` into each directory of `paths` (the parent-side fallback
/// for `--cgroup` sub-cgroups).
fn add_pid_to(paths: &[(String, PathBuf)], pid: i32) -> Result<(), Error> {
    let mut done: Vec<&PathBuf> = Vec::new();
    for (_, dir) in paths {
        if done.contains(&dir) {
            continue;
        }
        done.push(dir);
        let f = dir.join("cgroup.procs");
        std::fs::write(&f, pid.to_string()).map_err(Error::io("write", f))?;
    }
    Ok(())
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

    #[test]
    fn cap_flags_extend_the_sets() -> Result<(), Error> {
        use oci_spec::runtime::Capability;
        let opts = ExecOptions {
            args: vec!["id".into()],
            caps: vec!["CAP_NET_ADMIN".into()],
            ..ExecOptions::default()
        };
        let p = exec_process(Some(Process::default()), &opts)?;
        let c = p.capabilities().clone().unwrap_or_default();
        for set in [c.bounding(), c.effective(), c.permitted()] {
            assert!(set
                .as_ref()
                .is_some_and(|s| s.contains(&Capability::NetAdmin)));
        }
        // The default process has an inheritable set: ambient gets it too.
        assert!(c
            .ambient()
            .as_ref()
            .is_some_and(|s| s.contains(&Capability::NetAdmin)));
        let bad = ExecOptions {
            caps: vec!["CAP_NOPE".into()],
            ..opts
        };
        assert!(exec_process(Some(Process::default()), &bad).is_err());
        Ok(())
    }

    #[test]
    fn sub_cgroups_resolve_below_the_container() -> Result<(), Box<dyn std::error::Error>> {
        let tmp = tempfile::tempdir()?;
        let mem = tmp.path().join("memory/c");
        let cpu = tmp.path().join("cpu/c");
        std::fs::create_dir_all(mem.join("sub"))?;
        std::fs::create_dir_all(&cpu)?;
        let paths = vec![
            ("memory".to_owned(), mem.clone()),
            ("cpu".to_owned(), cpu.clone()),
        ];
        let got = sub_cgroup_paths(&paths, &[("memory".into(), "sub".into())])?;
        assert_eq!(got[0].1, mem.join("sub"));
        assert_eq!(got[1].1, cpu);
        // All hierarchies: the sub-cgroup must exist in each.
        assert!(sub_cgroup_paths(&paths, &[(String::new(), "sub".into())]).is_err());
        assert!(sub_cgroup_paths(&paths, &[("memory".into(), "../x".into())]).is_err());
        assert!(sub_cgroup_paths(&paths, &[("pids".into(), "sub".into())]).is_err());
        Ok(())
    }
}
