//! cgroup v2: one directory in the unified hierarchy; controllers must be
//! enabled in every ancestor's cgroup.subtree_control before their files
//! appear in the container's directory.

mod cpu;
mod cpuset;
pub(crate) mod devices;
pub(crate) mod freezer;
pub(crate) mod hugetlb;
mod io;
mod memory;
mod pids;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use super::device_rules::parse_rules;
use super::error::CgroupError;
use super::files;
use super::stats::Stats;
use super::tree;

/// The container's directory in a cgroup2 hierarchy.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct UnifiedDir {
    pub mountpoint: PathBuf,
    pub dir: PathBuf,
}

impl UnifiedDir {
    /// Ancestors of the container's directory from the mount down to its
    /// parent: where subtree_control must list a controller.
    fn ancestors(&self) -> Vec<&Path> {
        let mut v: Vec<&Path> = self
            .dir
            .ancestors()
            .skip(1)
            .take_while(|p| p.starts_with(&self.mountpoint))
            .collect();
        v.reverse();
        v
    }

    /// True if `controller` can be enabled for the container (the mount's
    /// root offers it).
    pub(crate) fn controller_available(&self, controller: &str) -> Result<bool, CgroupError> {
        Ok(files::read(&self.mountpoint, "cgroup.controllers")?
            .split_whitespace()
            .any(|c| c == controller))
    }

    /// Enables `controllers` in every ancestor's subtree_control, stopping
    /// with an error naming the file if the kernel refuses (for example a
    /// parent that holds processes: cgroup v2 forbids controllers there).
    pub(crate) fn enable_controllers(&self, controllers: &[&str]) -> Result<(), CgroupError> {
        for a in self.ancestors() {
            let enabled = files::read(a, "cgroup.subtree_control")?;
            for c in controllers {
                if !enabled.split_whitespace().any(|e| e == *c) {
                    files::write(a, "cgroup.subtree_control", &format!("+{c}"))?;
                }
            }
        }
        Ok(())
    }

    /// Enables every controller each ancestor offers, as runc does, ignoring
    /// refusals: a controller that could not be enabled shows up later as a
    /// missing file, with its name, if a limit needs it.
    fn enable_all_available(&self) -> Result<(), CgroupError> {
        for a in self.ancestors() {
            let available = files::read(a, "cgroup.controllers")?;
            let enabled = files::read(a, "cgroup.subtree_control")?;
            let missing: Vec<String> = available
                .split_whitespace()
                .filter(|c| !enabled.split_whitespace().any(|e| e == *c))
                .map(|c| format!("+{c}"))
                .collect();
            if missing.is_empty() {
                continue;
            }
            if files::write(a, "cgroup.subtree_control", &missing.join(" ")).is_err() {
                for m in &missing {
                    if let Err(e) = files::write(a, "cgroup.subtree_control", m) {
                        tracing::debug!("not enabling a controller: {e}");
                    }
                }
            }
        }
        Ok(())
    }

    /// The directory, if `controller` is enabled for it; else an error
    /// explaining that `what` needs it.
    fn require(&self, controller: &'static str, what: &'static str) -> Result<&Path, CgroupError> {
        let enabled = files::read(&self.dir, "cgroup.controllers")?;
        if enabled.split_whitespace().any(|c| c == controller) {
            Ok(&self.dir)
        } else {
            Err(CgroupError::MissingController {
                what,
                controller,
                detail: format!(
                    "{} lists {:?}",
                    self.dir.join("cgroup.controllers").display(),
                    enabled.trim()
                ),
            })
        }
    }
}

/// Writes linux.resources.unified: file name → value, verbatim. Names are
/// checked so a key cannot reach outside the container's directory.
pub(crate) fn write_unified(
    dir: &Path,
    unified: &HashMap<String, String>,
) -> Result<(), CgroupError> {
    let mut keys: Vec<&String> = unified.keys().collect();
    keys.sort();
    for k in keys {
        if k.is_empty() || k.contains('/') || k.starts_with('.') || !k.contains('.') {
            return Err(CgroupError::InvalidValue {
                what: "linux.resources.unified key",
                value: format!("{k:?}"),
                reason: "must be a cgroup file name such as \"memory.high\"".to_owned(),
            });
        }
        files::write(dir, k, &unified[k])?;
    }
    Ok(())
}

/// A container's cgroup on a pure v2 host.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct V2Cgroups {
    pub unified: UnifiedDir,
}

impl V2Cgroups {
    pub(crate) fn create(&self) -> Result<(), CgroupError> {
        tree::create_dirs(&self.unified.mountpoint, &self.unified.dir)?;
        self.unified.enable_all_available()
    }

    pub(crate) fn apply(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        let u = &self.unified;
        if let Some(c) = r.cpu() {
            if cpu::wanted(c) {
                cpu::apply(u.require("cpu", "cpu shares, quota or period")?, c)?;
            }
            if cpuset::wanted(c) {
                cpuset::apply(u.require("cpuset", "cpus or mems")?, c)?;
            }
        }
        if let Some(m) = r.memory() {
            if memory::wanted(m) {
                memory::apply(u.require("memory", "memory limits")?, m)?;
            } else if m.kernel().is_some() || m.kernel_tcp().is_some() {
                tracing::warn!(
                    "ignoring kernel memory limits: cgroup v2 has no separate kernel memory limit"
                );
            }
        }
        if let Some(p) = r.pids() {
            pids::apply(u.require("pids", "a pids limit")?, p)?;
        }
        if let Some(b) = r.block_io() {
            if io::wanted(b) {
                io::apply(u.require("io", "block I/O weights or throttling")?, b)?;
            }
        }
        if let Some(limits) = r.hugepage_limits().as_ref().filter(|l| !l.is_empty()) {
            hugetlb::apply(u.require("hugetlb", "hugepage limits")?, limits)?;
        }
        if let Some(rules) = r.devices().as_ref().filter(|r| !r.is_empty()) {
            // No controller to enable: device programs are part of cgroup2.
            devices::apply(&u.dir, &parse_rules(rules)?)?;
        }
        if let Some(net) = r.network() {
            if net.class_id().is_some() || net.priorities().as_ref().is_some_and(|p| !p.is_empty())
            {
                return Err(CgroupError::UnsupportedOnV2 {
                    what: "linux.resources.network (net_cls/net_prio)",
                });
            }
        }
        if let Some(rdma) = r.rdma().as_ref().filter(|m| !m.is_empty()) {
            super::rdma::apply(u.require("rdma", "rdma limits")?, rdma.iter())?;
        }
        if let Some(unified) = r.unified() {
            write_unified(&u.dir, unified)?;
        }
        Ok(())
    }

    pub(crate) fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        files::write(&self.unified.dir, "cgroup.procs", &pid.to_string())
    }

    pub(crate) fn freeze(&self) -> Result<(), CgroupError> {
        freezer::freeze(&self.unified.dir)
    }

    pub(crate) fn thaw(&self) -> Result<(), CgroupError> {
        freezer::thaw(&self.unified.dir)
    }

    pub(crate) fn is_frozen(&self) -> Result<bool, CgroupError> {
        freezer::is_frozen(&self.unified.dir)
    }

    pub(crate) fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        tree::pids(&self.unified.dir)
    }

    pub(crate) fn stats(&self) -> Result<Stats, CgroupError> {
        let dir = &self.unified.dir;
        let mut s = Stats::default();
        cpu::stats(dir, &mut s.cpu)?;
        cpuset::stats(dir, &mut s.cpuset)?;
        memory::stats(dir, &mut s.memory)?;
        pids::stats(dir, &mut s.pids)?;
        io::stats(dir, &mut s.blkio)?;
        hugetlb::stats(dir, &mut s.hugetlb)?;
        Ok(s)
    }

    pub(crate) fn paths(&self) -> Vec<(String, PathBuf)> {
        vec![("unified".to_owned(), self.unified.dir.clone())]
    }

    /// Sends SIGKILL to every process in the cgroup at once, where the
    /// kernel has cgroup.kill (5.14+). `Ok(false)` if it does not.
    pub(crate) fn kill_all(&self) -> Result<bool, CgroupError> {
        files::write_if_exists(&self.unified.dir, "cgroup.kill", "1")
    }

    pub(crate) fn remove(&self) -> Result<(), CgroupError> {
        tree::remove(&self.unified.dir).map_err(CgroupError::Remove)
    }
}
