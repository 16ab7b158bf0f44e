//! `ps`: the PIDs in the container's cgroup.

use super::Runtime;
use crate::cgroups::CgroupManager;
use crate::state::Lock;
use crate::Error;

impl Runtime {
    /// PIDs (host view) of every process in the container, sorted.
    pub fn pids(&self, id: &str) -> Result<Vec<i32>, Error> {
        let dir = self.state_root().open(id, Lock::Shared)?;
        let rec = dir.read()?;
        let cg = rec.cgroup()?;
        let mut pids = cg.pids()?;
        pids.sort_unstable();
        Ok(pids)
    }

    /// The container's cgroup manager (for `berth runtime cgroups ID`).
    pub fn cgroup(&self, id: &str) -> Result<CgroupManager, Error> {
        let dir = self.state_root().open(id, Lock::Shared)?;
        let rec = dir.read()?;
        Ok(rec.cgroup()?)
    }
}
