//! A container's cgroups: created from config.json's `linux.cgroupsPath`,
//! limited from `linux.resources`, frozen for pause, sampled for
//! `events --stats`, removed on delete.
//!
//! The host's layout is found at run time ([`Layout::detect`]): cgroup v1
//! (including a hybrid with a cgroup2 mount beside it, as on this project's
//! machines, where hugetlb lives only on the cgroup2 side) or pure v2. Only
//! the cgroupfs driver exists: no systemd.
//!
//! Where the code lives: `v1/` has one file per v1 controller, `v2/` one
//! per v2 controller; `layout.rs` detects hierarchies, `path.rs` resolves
//! cgroupsPath, `convert.rs` maps OCI values to v2 files, `stats.rs` holds
//! runc's stats shape, `report.rs` the `berth runtime cgroups` listing.

mod convert;
mod device_rules;
mod error;
mod files;
mod layout;
mod path;
mod rdma;
mod report;
mod stats;
mod tree;
mod v1;
mod v2;

use std::path::PathBuf;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::{Linux, LinuxResources};

pub use convert::{shares_to_weight, swap_to_v2, weight_to_shares};
pub use device_rules::{default_allowed_devices, effective_device_rules};
pub use error::CgroupError;
pub use layout::{read_mountinfo, Layout, UnifiedMount, V1Hierarchy};
pub use path::CgroupPath;
pub use stats::{
    Blkio, BlkioEntry, Cpu, CpuSet, CpuUsage, Hugetlb, Memory, MemoryEntry, Pids, Stats, Throttling,
};

use path::OwnCgroups;
use v1::V1Cgroups;
use v2::{UnifiedDir, V2Cgroups};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
enum Backend {
    V1(V1Cgroups),
    V2(V2Cgroups),
}

/// A container's cgroup directories in every hierarchy of this host.
///
/// Building one touches nothing; [`create`](Self::create) makes the
/// directories, [`remove`](Self::remove) deletes them.
///
/// It serializes (serde) with the directories it resolved: a runtime that
/// stores it at create and reloads it later keeps addressing the same
/// directories even for a relative cgroupsPath, which [`new`](Self::new)
/// resolves against the calling process's own cgroup (as runc does, which
/// also stores resolved paths). The state file must be trusted: the stored
/// directories are used as they are.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CgroupManager {
    path: CgroupPath,
    layout: Layout,
    backend: Backend,
}

impl CgroupManager {
    /// The manager for `cgroups_path` (config.json's `linux.cgroupsPath`;
    /// `None` or empty means `/berth/<container_id>`) on the detected layout.
    pub fn new(cgroups_path: Option<&str>, container_id: &str) -> Result<Self, CgroupError> {
        let layout = Layout::detect()?;
        Self::with_layout(layout, cgroups_path, container_id)
    }

    /// As [`new`](Self::new), on a given layout (tests drive the v2 code on
    /// a hybrid host's cgroup2 mount with [`Layout::v2_at`]).
    pub fn with_layout(
        layout: Layout,
        cgroups_path: Option<&str>,
        container_id: &str,
    ) -> Result<Self, CgroupError> {
        let path = CgroupPath::parse(cgroups_path, container_id)?;
        // Only relative paths depend on where this process sits.
        let own = if path.is_absolute() {
            OwnCgroups::default()
        } else {
            OwnCgroups::read()?
        };
        let backend = match &layout {
            Layout::V1 {
                hierarchies,
                unified,
            } => Backend::V1(V1Cgroups::new(hierarchies, unified.as_ref(), &path, &own)),
            Layout::V2(u) => Backend::V2(V2Cgroups {
                unified: UnifiedDir {
                    mountpoint: u.mountpoint.clone(),
                    dir: path.dir_in(&u.mountpoint, &u.root, own.v2()),
                },
            }),
        };
        Ok(CgroupManager {
            path,
            layout,
            backend,
        })
    }

    /// The host layout this manager works on.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The validated cgroups path.
    pub fn cgroup_path(&self) -> &CgroupPath {
        &self.path
    }

    /// Creates the directories (and missing parents) in every hierarchy.
    /// Existing directories are reused, as runc does for a shared cgroup.
    pub fn create(&self) -> Result<(), CgroupError> {
        match &self.backend {
            Backend::V1(b) => b.create(),
            Backend::V2(b) => b.create(),
        }
    }

    /// Writes `linux.resources`. Values the spec allows but this layout
    /// cannot honour are errors, never silently dropped (kernel memory
    /// limits, deprecated everywhere, are the one warning).
    pub fn apply_resources(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        match &self.backend {
            Backend::V1(b) => b.apply(r),
            Backend::V2(b) => b.apply(r),
        }
    }

    /// Replaces the device rules of a running container by `rules` (OCI
    /// form, already extended by [`effective_device_rules`]). v1 writes only
    /// the difference to the current devices.list, so access that both sets
    /// grant never lapses; v2 attaches the new program before detaching the
    /// old. Returns how many v1 rule lines were written (0 on v2).
    pub fn update_devices(
        &self,
        rules: &[oci_spec::runtime::LinuxDeviceCgroup],
    ) -> Result<usize, CgroupError> {
        let parsed = device_rules::parse_rules(rules)?;
        match &self.backend {
            Backend::V1(b) => b.update_devices(&parsed),
            Backend::V2(b) => {
                let mut r = LinuxResources::default();
                r.set_devices(Some(rules.to_vec()));
                b.apply(&r).map(|()| 0)
            }
        }
    }

    /// Applies a config's `linux` section as runc does: its resources, with
    /// the device rules extended by [`effective_device_rules`] (the
    /// `linux.devices` nodes and the standard /dev nodes stay usable).
    pub fn apply_linux(&self, linux: &Linux) -> Result<(), CgroupError> {
        let mut r = linux.resources().clone().unwrap_or_default();
        r.set_devices(Some(effective_device_rules(linux)));
        self.apply_resources(&r)
    }

    /// Moves process `pid` (all its threads) into the container's cgroups.
    pub fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        match &self.backend {
            Backend::V1(b) => b.add_pid(pid),
            Backend::V2(b) => b.add_pid(pid),
        }
    }

    /// Freezes every process; returns once the kernel reports them frozen.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        match &self.backend {
            Backend::V1(b) => b.freeze(),
            Backend::V2(b) => b.freeze(),
        }
    }

    /// Thaws the processes.
    pub fn thaw(&self) -> Result<(), CgroupError> {
        match &self.backend {
            Backend::V1(b) => b.thaw(),
            Backend::V2(b) => b.thaw(),
        }
    }

    /// True once freezing has completed (not while it is in progress).
    pub fn is_frozen(&self) -> Result<bool, CgroupError> {
        match &self.backend {
            Backend::V1(b) => b.is_frozen(),
            Backend::V2(b) => b.is_frozen(),
        }
    }

    /// Process ids in the container's cgroup and its sub-cgroups, sorted.
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        match &self.backend {
            Backend::V1(b) => b.pids(),
            Backend::V2(b) => b.pids(),
        }
    }

    /// One usage sample, shaped like runc's `events --stats` data.
    pub fn stats(&self) -> Result<Stats, CgroupError> {
        match &self.backend {
            Backend::V1(b) => b.stats(),
            Backend::V2(b) => b.stats(),
        }
    }

    /// How many processes the OOM killer has killed in the cgroup so far
    /// (v1 memory.oom_control, v2 memory.events `oom_kill`); 0 without a
    /// memory controller. One small read, for polling.
    pub fn oom_kills(&self) -> Result<u64, CgroupError> {
        let (dir, file) = match &self.backend {
            Backend::V1(b) => (
                b.dir("memory").map(|d| d.to_path_buf()),
                "memory.oom_control",
            ),
            Backend::V2(b) => (Some(b.unified.dir.clone()), "memory.events"),
        };
        let Some(dir) = dir else { return Ok(0) };
        Ok(files::keyed(&files::read_flat_keyed(&dir, file)?, "oom_kill").unwrap_or(0))
    }

    /// Does the container's cgroup still exist (in its first hierarchy)?
    pub fn exists(&self) -> bool {
        self.paths().first().is_some_and(|(_, d)| d.is_dir())
    }

    /// Controller name → directory. v1: one entry per controller (co-mounted
    /// controllers share a directory, named hierarchies appear as
    /// "name=systemd"), plus "unified" for a hybrid host's cgroup2 directory;
    /// v2: the single entry "unified".
    pub fn paths(&self) -> Vec<(String, PathBuf)> {
        match &self.backend {
            Backend::V1(b) => b.paths(),
            Backend::V2(b) => b.paths(),
        }
    }

    /// v1 only: (host mountpoint, container directory, controllers) per
    /// hierarchy, for bind-mounting a container's own cgroups at
    /// /sys/fs/cgroup/<mountpoint name> inside it. Empty on v2.
    pub fn v1_hierarchies(&self) -> Vec<(PathBuf, PathBuf, Vec<String>)> {
        match &self.backend {
            Backend::V1(b) => b
                .dirs
                .iter()
                .map(|d| (d.mountpoint.clone(), d.dir.clone(), d.controllers.clone()))
                .collect(),
            Backend::V2(_) => Vec::new(),
        }
    }

    /// Sends `signal` to every process in the cgroup. SIGKILL on v2 uses
    /// cgroup.kill where the kernel has it; otherwise the cgroup is frozen
    /// while the signals go out, so a forking process cannot escape, then
    /// thawed (a stopped or killed process needs to run to act on it). A
    /// cgroup that was frozen already (a paused container) stays frozen.
    pub fn signal_all(&self, signal: Signal) -> Result<(), CgroupError> {
        if let (Backend::V2(b), Signal::SIGKILL) = (&self.backend, signal) {
            if b.kill_all()? {
                return Ok(());
            }
        }
        let paused = self.is_frozen().unwrap_or(false);
        let frozen = !paused && self.freeze().is_ok();
        let result = self.pids().map(|pids| {
            for pid in pids {
                // A process that already exited is not an error.
                let _ = kill(Pid::from_raw(pid), signal);
            }
        });
        if frozen {
            self.thaw()?;
        }
        result
    }

    /// Removes every directory (and sub-cgroups a container made), retrying
    /// briefly while exiting tasks drain. Removing twice is fine.
    pub fn remove(&self) -> Result<(), CgroupError> {
        match &self.backend {
            Backend::V1(b) => b.remove(),
            Backend::V2(b) => b.remove(),
        }?;
        Ok(())
    }

    /// A printable listing of the container's cgroups and their main limits
    /// and usage (what `berth runtime cgroups ID` prints).
    pub fn report(&self) -> Result<String, CgroupError> {
        report::render(self)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn manager_round_trips_through_json() {
        let layout = Layout::V1 {
            hierarchies: vec![V1Hierarchy {
                mountpoint: "/sys/fs/cgroup/memory".into(),
                root: "/".into(),
                controllers: vec!["memory".into()],
            }],
            unified: Some(UnifiedMount {
                mountpoint: "/sys/fs/cgroup/unified".into(),
                root: "/".into(),
            }),
        };
        let m = CgroupManager::with_layout(layout, Some("/a/b"), "id").unwrap();
        let json = serde_json::to_string(&m).unwrap();
        let back: CgroupManager = serde_json::from_str(&json).unwrap();
        assert_eq!(back.paths(), m.paths());
        assert_eq!(
            m.paths(),
            vec![
                (
                    "memory".to_owned(),
                    PathBuf::from("/sys/fs/cgroup/memory/a/b")
                ),
                (
                    "unified".to_owned(),
                    PathBuf::from("/sys/fs/cgroup/unified/a/b")
                ),
            ]
        );
    }
}
