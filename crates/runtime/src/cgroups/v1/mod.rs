//! cgroup v1: one directory per mounted hierarchy, one file per controller
//! here. On a hybrid host the cgroup2 mount is used too, for what v1 lacks
//! (hugetlb on this project's machines; the freezer if it is not mounted).

mod blkio;
mod cpu;
mod cpuacct;
mod cpuset;
mod device_transition;
mod devices;
mod freezer;
mod hugetlb;
mod memory;
pub(crate) mod pids;

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use super::device_rules::parse_rules;
use super::error::CgroupError;
use super::files;
use super::layout::{UnifiedMount, V1Hierarchy};
use super::path::{CgroupPath, OwnCgroups};
use super::stats::Stats;
use super::tree;
use super::v2::UnifiedDir;

/// The container's directory in one v1 hierarchy.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct V1Dir {
    pub controllers: Vec<String>,
    pub mountpoint: PathBuf,
    pub dir: PathBuf,
}

/// A container's cgroups on a v1 (or hybrid) host.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct V1Cgroups {
    pub dirs: Vec<V1Dir>,
    /// The hybrid host's cgroup2 directory for the container.
    pub unified: Option<UnifiedDir>,
}

/// The directory of `controller`, or an error saying it is needed for `what`.
pub(crate) fn require<'a>(
    dir: Option<&'a Path>,
    controller: &'static str,
    what: &'static str,
) -> Result<&'a Path, CgroupError> {
    dir.ok_or_else(|| CgroupError::MissingController {
        what,
        controller,
        detail: "no v1 hierarchy carries it".to_owned(),
    })
}

impl V1Cgroups {
    pub(crate) fn new(
        hierarchies: &[V1Hierarchy],
        unified: Option<&UnifiedMount>,
        path: &CgroupPath,
        own: &OwnCgroups,
    ) -> Self {
        let dirs = hierarchies
            .iter()
            .map(|h| V1Dir {
                controllers: h.controllers.clone(),
                mountpoint: h.mountpoint.clone(),
                dir: path.dir_in(&h.mountpoint, &h.root, own.v1(&h.controllers)),
            })
            .collect();
        let unified = unified.map(|u| UnifiedDir {
            mountpoint: u.mountpoint.clone(),
            dir: path.dir_in(&u.mountpoint, &u.root, own.v2()),
        });
        V1Cgroups { dirs, unified }
    }

    pub(crate) fn dir(&self, controller: &str) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|d| d.controllers.iter().any(|c| c == controller))
            .map(|d| d.dir.as_path())
    }

    pub(crate) fn create(&self) -> Result<(), CgroupError> {
        for d in &self.dirs {
            tree::create_dirs(&d.mountpoint, &d.dir)?;
            if d.controllers.iter().any(|c| c == "cpuset") {
                // Not only what we created: a parent that another runtime
                // process has just made (the shared /berth) may still have
                // empty sets, and a child copied from it would refuse tasks.
                cpuset::init_created(&chain_below(&d.mountpoint, &d.dir))?;
            }
        }
        if let Some(u) = &self.unified {
            // Controllers are enabled on demand (see apply): this hybrid
            // hierarchy is shared with the host, so touch it no more than needed.
            tree::create_dirs(&u.mountpoint, &u.dir)?;
        }
        Ok(())
    }

    pub(crate) fn apply(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        if let Some(c) = r.cpu() {
            cpu::apply(self.dir("cpu"), c)?;
            cpuset::apply(self.dir("cpuset"), c)?;
        }
        if let Some(m) = r.memory() {
            memory::apply(self.dir("memory"), m)?;
        }
        if let Some(p) = r.pids() {
            pids::apply(self.dir("pids"), p)?;
        }
        if let Some(b) = r.block_io() {
            blkio::apply(self.dir("blkio"), b)?;
        }
        if let Some(limits) = r.hugepage_limits().as_ref().filter(|l| !l.is_empty()) {
            match (self.dir("hugetlb"), &self.unified) {
                (Some(dir), _) => hugetlb::apply(dir, limits)?,
                (None, Some(u)) if u.controller_available("hugetlb")? => {
                    u.enable_controllers(&["hugetlb"])?;
                    super::v2::hugetlb::apply(&u.dir, limits)?;
                }
                _ => {
                    return Err(CgroupError::MissingController {
                        what: "hugepage limits",
                        controller: "hugetlb",
                        detail: "neither a v1 hierarchy nor the cgroup2 mount carries it"
                            .to_owned(),
                    })
                }
            }
        }
        if let Some(rules) = r.devices() {
            devices::apply(self.dir("devices"), &parse_rules(rules)?)?;
        }
        if let Some(net) = r.network() {
            if let Some(id) = net.class_id() {
                let dir = require(self.dir("net_cls"), "net_cls", "a network class id")?;
                files::write(dir, "net_cls.classid", &id.to_string())?;
            }
            for p in net.priorities().iter().flatten() {
                let dir = require(self.dir("net_prio"), "net_prio", "network priorities")?;
                files::write(
                    dir,
                    "net_prio.ifpriomap",
                    &format!("{} {}", p.name(), p.priority()),
                )?;
            }
        }
        if let Some(unified) = r.unified().as_ref().filter(|u| !u.is_empty()) {
            // As runc: on a hybrid host "unified" keys go to the cgroup2 side.
            let u = self
                .unified
                .as_ref()
                .ok_or(CgroupError::MissingController {
                    what: "linux.resources.unified",
                    controller: "cgroup2",
                    detail: "this v1 host has no cgroup2 mount".to_owned(),
                })?;
            super::v2::write_unified(&u.dir, unified)?;
        }
        if r.rdma().as_ref().is_some_and(|m| !m.is_empty()) {
            let dir = require(self.dir("rdma"), "rdma", "rdma limits")?;
            super::rdma::apply(dir, r.rdma().as_ref().into_iter().flatten())?;
        }
        Ok(())
    }

    /// Replaces the device rules of a live cgroup by `rules`, writing only
    /// the difference (see [`device_transition`]); returns the line count.
    pub(crate) fn update_devices(
        &self,
        rules: &[super::device_rules::DeviceRule],
    ) -> Result<usize, CgroupError> {
        let dir = require(self.dir("devices"), "devices", "device access rules")?;
        device_transition::transition(dir, rules)
    }

    pub(crate) fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        let pid = pid.to_string();
        for d in &self.dirs {
            files::write(&d.dir, "cgroup.procs", &pid)?;
        }
        if let Some(u) = &self.unified {
            files::write(&u.dir, "cgroup.procs", &pid)?;
        }
        Ok(())
    }

    pub(crate) fn freeze(&self) -> Result<(), CgroupError> {
        match (self.dir("freezer"), &self.unified) {
            (Some(dir), _) => freezer::freeze(dir),
            (None, Some(u)) => super::v2::freezer::freeze(&u.dir),
            (None, None) => Err(no_freezer()),
        }
    }

    pub(crate) fn thaw(&self) -> Result<(), CgroupError> {
        match (self.dir("freezer"), &self.unified) {
            (Some(dir), _) => freezer::thaw(dir),
            (None, Some(u)) => super::v2::freezer::thaw(&u.dir),
            (None, None) => Err(no_freezer()),
        }
    }

    pub(crate) fn is_frozen(&self) -> Result<bool, CgroupError> {
        match (self.dir("freezer"), &self.unified) {
            (Some(dir), _) => freezer::is_frozen(dir),
            (None, Some(u)) => super::v2::freezer::is_frozen(&u.dir),
            (None, None) => Ok(false),
        }
    }

    /// The directory whose membership best reflects the container: pids and
    /// freezer are the controllers a runtime relies on.
    fn member_dir(&self) -> Option<&Path> {
        ["pids", "freezer", "memory", "cpu"]
            .iter()
            .find_map(|c| self.dir(c))
            .or_else(|| self.dirs.first().map(|d| d.dir.as_path()))
    }

    pub(crate) fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        match self.member_dir() {
            Some(dir) => tree::pids(dir),
            None => Ok(Vec::new()),
        }
    }

    pub(crate) fn stats(&self) -> Result<Stats, CgroupError> {
        let mut s = Stats::default();
        if let Some(d) = self.dir("cpuacct") {
            cpuacct::stats(d, &mut s.cpu.usage)?;
        }
        if let Some(d) = self.dir("cpu") {
            cpu::stats(d, &mut s.cpu)?;
        }
        if let Some(d) = self.dir("cpuset") {
            cpuset::stats(d, &mut s.cpuset)?;
        }
        if let Some(d) = self.dir("memory") {
            memory::stats(d, &mut s.memory)?;
        }
        if let Some(d) = self.dir("pids") {
            pids::stats(d, &mut s.pids)?;
        }
        if let Some(d) = self.dir("blkio") {
            blkio::stats(d, &mut s.blkio)?;
        }
        match (self.dir("hugetlb"), &self.unified) {
            (Some(d), _) => hugetlb::stats(d, &mut s.hugetlb)?,
            (None, Some(u)) => super::v2::hugetlb::stats(&u.dir, &mut s.hugetlb)?,
            (None, None) => {}
        }
        Ok(s)
    }

    pub(crate) fn paths(&self) -> Vec<(String, PathBuf)> {
        let mut out: Vec<(String, PathBuf)> = self
            .dirs
            .iter()
            .flat_map(|d| {
                d.controllers
                    .iter()
                    .map(move |c| (c.clone(), d.dir.clone()))
            })
            .collect();
        if let Some(u) = &self.unified {
            out.push(("unified".to_owned(), u.dir.clone()));
        }
        out
    }

    pub(crate) fn remove(&self) -> Result<(), CgroupError> {
        let mut failures = Vec::new();
        let dirs = self
            .dirs
            .iter()
            .map(|d| &d.dir)
            .chain(self.unified.as_ref().map(|u| &u.dir));
        for dir in dirs {
            if let Err(mut f) = tree::remove(dir) {
                failures.append(&mut f);
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(CgroupError::Remove(failures))
        }
    }
}

fn no_freezer() -> CgroupError {
    CgroupError::MissingController {
        what: "pause and resume",
        controller: "freezer",
        detail: "no v1 freezer hierarchy and no cgroup2 mount".to_owned(),
    }
}

/// Every directory from just below `mountpoint` down to `dir`, outermost first.
fn chain_below(mountpoint: &Path, dir: &Path) -> Vec<PathBuf> {
    let mut chain: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|a| *a != mountpoint && a.starts_with(mountpoint))
        .map(Path::to_path_buf)
        .collect();
    chain.reverse();
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_below_lists_every_level_outermost_first() {
        let chain = chain_below(Path::new("/cg/cpuset"), Path::new("/cg/cpuset/berth/x"));
        assert_eq!(
            chain,
            [
                PathBuf::from("/cg/cpuset/berth"),
                PathBuf::from("/cg/cpuset/berth/x")
            ]
        );
        assert!(chain_below(Path::new("/cg/cpuset"), Path::new("/cg/cpuset")).is_empty());
    }
}
