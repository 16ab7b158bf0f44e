//! `create`: load the bundle, record the container, make its cgroup, clone
//! the init with everything prepared, wait until it reports "created"
//! (blocked on exec.fifo until `start`).
//!
//! Any failure undoes what was done — child killed, cgroup and state
//! directory removed — so a failed create leaves nothing behind. Mounts
//! live in the container's own mount namespace and vanish with the child.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Linux, LinuxDeviceCgroup, LinuxPersonalityDomain, LinuxResources};

use super::status::hook_state;
use super::{Runtime, Warnings};
use crate::bundle::Bundle;
use crate::cgroups::{CgroupManager, Layout};
use crate::launch::build::{self, ProcessInputs};
use crate::launch::cgroup_join::CgroupJoin;
use crate::launch::sync::kind;
use crate::launch::{self, id_map_text, InitPlan, Spawned};
use crate::rootfs::{self, PlanInput};
use crate::state::{self, proc_stat, ContainerDir, LaterHooks, Private, Record, State, Status};
use crate::{hooks, Error};

/// Options of `create` (runc's flags).
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives the pty master (process.terminal).
    pub console_socket: Option<PathBuf>,
    /// Extra descriptors (after stdio and LISTEN_FDS) passed to the init.
    pub preserve_fds: u32,
    /// Start right away instead of waiting for `start` (used by `run`).
    pub start_immediately: bool,
}

/// A container that `create` made: the live init and its state.
#[derive(Debug)]
pub struct Created {
    pub(crate) child: Spawned,
    pub(crate) dir: ContainerDir,
    pub(crate) record: Record,
    pub warnings: Warnings,
    /// Our end of the console socket when the runtime relays the terminal.
    pub(crate) relay: Option<UnixStream>,
}

impl Created {
    pub fn pid(&self) -> i32 {
        self.child.pid
    }

    pub fn state(&self) -> &State {
        &self.record.state
    }
}

/// Undo list for a create that fails part-way.
struct Cleanup {
    dir: Option<ContainerDir>,
    cgroup: Option<CgroupManager>,
    /// Once the init exists, a failed create destroys the container as
    /// `delete` would, poststop hooks last (runc's destroy): the hooks and
    /// the state they get.
    poststop: Option<(Vec<oci_spec::runtime::Hook>, Vec<u8>)>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(cg) = self.cgroup.take() {
            let _ = cg.remove();
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.remove();
        }
        if let Some((hooks, state)) = self.poststop.take() {
            for w in hooks::run_warn("poststop", &hooks, &state) {
                tracing::warn!("{w}");
            }
        }
    }
}

/// LISTEN_FDS passed to us by socket activation (only if meant for us).
fn listen_fds() -> u32 {
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|p| p == std::process::id());
    if !ours {
        return 0;
    }
    std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The config's resources with runc's device rules: the config's own,
/// then one allow per `linux.devices` entry (a node the runtime creates
/// must be usable), then the standard nodes. Later rules win.
fn resources_with_devices(linux: &Linux) -> LinuxResources {
    let mut res = linux.resources().clone().unwrap_or_default();
    let mut rules: Vec<LinuxDeviceCgroup> = res.devices().clone().unwrap_or_default();
    rules.extend(
        linux
            .devices()
            .iter()
            .flatten()
            .map(LinuxDeviceCgroup::from),
    );
    rules.extend(crate::cgroups::default_allowed_devices());
    res.set_devices(Some(rules));
    res
}

/// Does the config restrict the container's CPUs (runc's AllowedCPUs)?
pub(crate) fn cpuset_set(linux: &Linux) -> bool {
    linux
        .resources()
        .as_ref()
        .and_then(|r| r.cpu().as_ref())
        .and_then(|c| c.cpus().as_ref())
        .is_some_and(|c| !c.is_empty())
}

/// The host id that container id 0 maps to, if there is a mapping.
fn host_id(maps: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>) -> Option<u32> {
    maps.iter()
        .flatten()
        .find(|m| m.container_id() == 0 && m.size() > 0)
        .map(|m| m.host_id())
}

/// The host ids of root in a user namespace joined as `/proc/PID/ns/user`
/// (the config then carries no mappings: they are the namespace's).
fn joined_root(linux: &Linux) -> (Option<u32>, Option<u32>) {
    let Some(pid) = linux
        .namespaces()
        .iter()
        .flatten()
        .find(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::User)
        .and_then(|n| n.path().as_ref())
        .and_then(|p| p.to_str())
        .and_then(|p| p.strip_prefix("/proc/"))
        .and_then(|p| p.strip_suffix("/ns/user"))
        .and_then(|p| p.parse::<u32>().ok())
    else {
        return (None, None);
    };
    let root_of = |file: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/{file}"))
            .ok()?
            .lines()
            .find_map(|l| {
                let f: Vec<u32> = l
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect();
                (f.len() == 3 && f[0] == 0 && f[2] > 0).then(|| f[1])
            })
    };
    (root_of("uid_map"), root_of("gid_map"))
}

/// Writes `pid` to `path` atomically (runc's --pid-file).
pub(crate) fn write_pid_file(path: &Path, pid: i32) -> Result<(), Error> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(Error::io("current dir", "."))?
            .join(path)
    };
    state::write_atomic(&abs, pid.to_string().as_bytes()).map_err(Error::from)
}

impl Runtime {
    /// `create`: the container ends up `created` (its init waits on
    /// exec.fifo), or nothing is left behind.
    pub fn create(&self, opts: &CreateOptions) -> Result<Warnings, Error> {
        let created = self.create_container(opts, false)?;
        let warnings = created.warnings;
        created.child.release();
        Ok(warnings)
    }

    /// `create` keeping the init as our child (for `run`).
    pub(crate) fn create_container(
        &self,
        opts: &CreateOptions,
        allow_relay: bool,
    ) -> Result<Created, Error> {
        state::check_id(&opts.id)?;
        let bundle = Bundle::load(&opts.bundle)?;
        let dir = self.state_root().create(&opts.id)?;
        let mut cleanup = Cleanup {
            dir: Some(dir),
            cgroup: None,
            poststop: None,
        };
        let result = self.create_in(opts, bundle, &mut cleanup, allow_relay);
        match result {
            Ok((child, record, warnings, relay)) => {
                cleanup.cgroup = None;
                cleanup.poststop = None;
                let dir = cleanup.dir.take().ok_or_else(|| {
                    Error::Invalid("internal: state dir lost during create".into())
                })?;
                Ok(Created {
                    child,
                    dir,
                    record,
                    warnings,
                    relay,
                })
            }
            Err(e) => Err(e),
        }
    }

    fn create_in(
        &self,
        opts: &CreateOptions,
        bundle: Bundle,
        cleanup: &mut Cleanup,
        allow_relay: bool,
    ) -> Result<(Spawned, Record, Warnings, Option<UnixStream>), Error> {
        let Bundle {
            dir: bundle_dir,
            spec,
            rootfs,
            mut warnings,
        } = bundle;
        let dir = cleanup
            .dir
            .as_ref()
            .ok_or_else(|| Error::Invalid("internal: no state dir".into()))?;
        warnings.extend(crate::features::ignored_fields(&spec));
        let linux = spec.linux().clone().unwrap_or_default();
        let process = spec
            .process()
            .clone()
            .ok_or_else(|| Error::Invalid("config.json has no process".into()))?;

        // cgroups first: limits are in place before the process joins.
        let cgroups_path = linux
            .cgroups_path()
            .as_ref()
            .map(|p| p.display().to_string());
        // One read of the mount table serves the cgroup layout and the
        // rootfs plan's `cgroup` mount.
        let mountinfo =
            crate::cgroups::read_mountinfo().map_err(Error::io("read", "/proc/self/mountinfo"))?;
        let cgroup = CgroupManager::with_layout(
            Layout::from_mountinfo(&mountinfo)?,
            cgroups_path.as_deref(),
            &opts.id,
        )?;
        cgroup.create()?;
        cleanup.cgroup = Some(cgroup.clone());
        cgroup.apply_resources(&resources_with_devices(&linux))?;

        let ns = launch::namespaces::plan(&linux)?;
        // The child writes the cgroup files before it joins or unshares any
        // namespace, except one made by clone itself.
        let ns_new_user = ns.clone_flags & libc::CLONE_NEWUSER != 0;
        let rootfs_plan = rootfs::plan(&PlanInput {
            spec: &spec,
            bundle_dir: &bundle_dir,
            rootfs: &rootfs,
            new_cgroupns: ns.new_cgroup,
            new_userns: ns.new_user || ns.joined_user,
            cgroup_paths: cgroup.paths(),
            mountinfo: Some(&mountinfo),
        })?;

        let terminal = process.terminal().unwrap_or(false);
        let mut relay = None;
        let console: Option<UnixStream> = match (&opts.console_socket, terminal) {
            (None, true) if allow_relay => {
                let (ours, theirs) =
                    UnixStream::pair().map_err(Error::io("socketpair", "console"))?;
                relay = Some(ours);
                Some(theirs)
            }
            (Some(path), true) => Some(
                UnixStream::connect(path).map_err(Error::io("connect to console socket", path))?,
            ),
            (None, true) => {
                return Err(Error::Invalid(
                    "process.terminal is true but no --console-socket was given".into(),
                ))
            }
            (Some(_), false) => {
                return Err(Error::Invalid(
                    "--console-socket given but process.terminal is false".into(),
                ))
            }
            (None, false) => None,
        };
        let listen = listen_fds();
        let mut extra_env = Vec::new();
        if listen > 0 {
            extra_env.push(format!("LISTEN_FDS={listen}"));
            extra_env.push("LISTEN_PID=1".to_owned());
        }
        let (mut proc_plan, w) = build::process_plan(
            &process,
            &ProcessInputs {
                rootfs: Some(&rootfs),
                seccomp: linux.seccomp().as_ref(),
                console_socket: console.as_ref().map_or(-1, |s| s.as_raw_fd()),
                keep_fds: (listen + opts.preserve_fds) as i32,
                cpuset: cpuset_set(&linux),
                is_exec: false,
                extra_env,
                hostname: spec.hostname().as_deref().filter(|h| !h.is_empty()),
                domainname: spec.domainname().as_deref().filter(|h| !h.is_empty()),
            },
        )?;
        warnings.extend(w);
        if let Some(p) = linux.personality() {
            proc_plan.personality = Some(match p.domain() {
                LinuxPersonalityDomain::PerLinux => 0x0000,
                LinuxPersonalityDomain::PerLinux32 => 0x0008,
            });
        }
        let spec_hooks = spec.hooks().clone().unwrap_or_default();
        #[allow(deprecated)]
        let prestart = spec_hooks.prestart().clone().unwrap_or_default();
        let create_runtime = spec_hooks.create_runtime().clone().unwrap_or_default();
        let create_container =
            build::child_hooks(spec_hooks.create_container().as_deref().unwrap_or(&[]), &[])?;
        let start_container = build::child_hooks(
            spec_hooks.start_container().as_deref().unwrap_or(&[]),
            &proc_plan.env_strings(),
        )?;

        // exec.fifo: the init blocks opening it for writing until `start`
        // opens it for reading.
        let exec_fifo: Option<OwnedFd> = if opts.start_immediately {
            None
        } else {
            let fifo = CString::new(dir.fifo_path().as_os_str().as_bytes())
                .map_err(|_| Error::Invalid("state dir path contains NUL".into()))?;
            // SAFETY: fifo is a NUL-terminated path.
            if unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) } != 0 {
                return Err(Error::io("mkfifo", dir.fifo_path())(
                    std::io::Error::last_os_error(),
                ));
            }
            // In a user namespace the init is the host user that maps to
            // the container's root: the fifo must be that user's (runc too).
            let (uid, gid) = match (host_id(linux.uid_mappings()), host_id(linux.gid_mappings())) {
                (None, None) => joined_root(&linux),
                ids => ids,
            };
            if uid.is_some() || gid.is_some() {
                std::os::unix::fs::chown(dir.fifo_path(), uid, gid)
                    .map_err(Error::io("chown", dir.fifo_path()))?;
            }
            // O_PATH: a reference that does not open the fifo (which would
            // wait for a writer). Not OpenOptions: std masks O_PATH out of
            // custom flags on musl (its O_ACCMODE includes O_PATH).
            let f = nix::fcntl::open(
                dir.fifo_path().as_path(),
                nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .map_err(|e| Error::io("open", dir.fifo_path())(e.into()))?;
            Some(f)
        };

        // The state hooks and `state` will show.
        let mut annotations = std::collections::BTreeMap::new();
        for (k, v) in spec.annotations().iter().flatten() {
            annotations.insert(k.clone(), v.clone());
        }
        let mut record = Record {
            state: State {
                oci_version: spec.version().clone(),
                id: opts.id.clone(),
                pid: 0,
                status: Status::Creating,
                bundle: bundle_dir.clone(),
                rootfs: rootfs.clone(),
                created: state::time::now_rfc3339(),
                annotations,
                owner: String::new(),
            },
            berth: Private {
                init_start_time: 0,
                cgroups_path: cgroups_path.clone(),
                cgroup: Some(cgroup.clone()),
                hooks: Some(LaterHooks::of(Some(&spec_hooks))),
            },
        };

        let payload_capacity = if create_container.is_empty() && start_container.is_empty() {
            0
        } else {
            // Both state documents, with room for any PID.
            2 * (hook_state(&record.state, Status::Creating).len() + 32) + 4
        };
        let plan = InitPlan {
            ns,
            rootfs: Some(rootfs_plan),
            process: proc_plan,
            create_container_hooks: create_container,
            start_container_hooks: start_container,
            parent_hooks: !prestart.is_empty() || !create_runtime.is_empty(),
            exec_fifo: exec_fifo.as_ref().map_or(-1, |f| f.as_raw_fd()),
            close_in_child: vec![dir.lock_fd()],
            payload_capacity,
            // A child born in a new user namespace fails the kernel's write
            // check on the cgroup files: the parent moves it instead.
            cgroup_join: if ns_new_user {
                None
            } else {
                CgroupJoin::open(&cgroup.paths())
            },
        };

        let mut child = Spawned::spawn(&plan)?;
        drop(console);
        let poststop = spec_hooks.poststop().clone().unwrap_or_default();
        if !poststop.is_empty() {
            cleanup.poststop = Some((poststop, hook_state(&record.state, Status::Stopped)));
        }
        record.state.pid = child.pid;
        if plan.needs_go() {
            child.expect(&plan, kind::READY)?;
            if plan.ns.new_user {
                child.write_id_maps(
                    &id_map_text(linux.uid_mappings().as_deref().unwrap_or(&[])),
                    &id_map_text(linux.gid_mappings().as_deref().unwrap_or(&[])),
                )?;
            }
            if plan.cgroup_join.is_none() {
                cgroup.add_pid(child.pid)?;
            }
            if let Some(adj) = plan.process.oom_score_adj {
                let path = format!("/proc/{}/oom_score_adj", child.pid);
                std::fs::write(&path, adj.to_string()).map_err(Error::io("write", path))?;
            }
            let mut payload = Vec::new();
            if plan.payload_capacity > 0 {
                let creating = hook_state(&record.state, Status::Creating);
                let created = hook_state(&record.state, Status::Created);
                payload.extend_from_slice(&(creating.len() as u32).to_ne_bytes());
                payload.extend_from_slice(&creating);
                payload.extend_from_slice(&created);
            }
            child.go(&payload)?;
        }

        loop {
            let m = child.recv()?;
            match m.kind {
                kind::HOOKS => {
                    let st = hook_state(&record.state, Status::Creating);
                    hooks::run_all("prestart", &prestart, &st)?;
                    hooks::run_all("createRuntime", &create_runtime, &st)?;
                    child.go(&[])?;
                }
                kind::CREATED => break,
                kind::ERROR => {
                    return Err(launch::LaunchError::Child(launch::describe(&plan, m)).into())
                }
                other => {
                    return Err(launch::LaunchError::ChildGone(format!(
                        "unexpected message {other}"
                    ))
                    .into())
                }
            }
        }

        // The init is our child and we have not reaped it: even a `run`
        // init that has already exec'd and exited is still a zombie whose
        // /proc entry holds its start time.
        record.berth.init_start_time = proc_stat(child.pid)
            .map(|s| s.start_time)
            .ok_or_else(|| launch::LaunchError::ChildGone("init vanished during setup".into()))?;
        record.state.status = if opts.start_immediately {
            Status::Running
        } else {
            Status::Created
        };
        dir.write_config(&spec)?;
        dir.write(&record)?;
        if let Some(p) = &opts.pid_file {
            write_pid_file(p, child.pid)?;
        }
        drop(exec_fifo);
        Ok((child, record, warnings, relay))
    }
}
