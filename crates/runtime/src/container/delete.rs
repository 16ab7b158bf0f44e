//! `delete`: undo `create` — cgroup and state removed, poststop hooks run.
//! Only a stopped container may be deleted (runtime-spec); `--force` kills
//! a live one first.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::kill::signal_init;
use super::status::{current, hook_state, init_alive};
use super::{Runtime, Warnings};
use crate::hooks;
use crate::state::{ContainerDir, Lock, Record, Status};
use crate::Error;

/// Waits until `rec`'s init is gone (or a zombie), up to `limit`.
pub(crate) fn wait_gone(rec: &Record, limit: Duration) -> bool {
    let start = Instant::now();
    loop {
        if !init_alive(rec) {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

impl Runtime {
    /// `delete [--force] ID`.
    pub fn delete(&self, id: &str, force: bool) -> Result<Warnings, Error> {
        let dir = self.state_root().open(id, Lock::Exclusive)?;
        let rec = dir.read()?;
        let status = current(&dir, &rec);
        if status != Status::Stopped {
            if !force {
                return Err(Error::WrongState {
                    op: "delete",
                    id: id.to_owned(),
                    status,
                });
            }
            let cg = rec.cgroup()?;
            let _ = cg.signal_all(Signal::SIGKILL);
            signal_init(&rec, libc::SIGKILL)?;
            if status == Status::Paused {
                let _ = cg.thaw();
            }
            if !wait_gone(&rec, Duration::from_secs(10)) {
                return Err(Error::Invalid(format!(
                    "container {id}: init {} did not exit after SIGKILL",
                    rec.state.pid
                )));
            }
        }
        self.destroy(dir, &rec)
    }

    /// Removes a stopped container: cgroup, state dir, then poststop hooks.
    pub(crate) fn destroy(&self, dir: ContainerDir, rec: &Record) -> Result<Warnings, Error> {
        let spec = dir.read_config().ok();
        let cg = rec.cgroup()?;
        // Processes of a container sharing our PID namespace may outlive
        // its init: they go with the container.
        if cg.pids().is_ok_and(|p| !p.is_empty()) {
            let _ = cg.signal_all(Signal::SIGKILL);
        }
        cg.remove()?;
        let mut st = rec.state.clone();
        st.status = Status::Stopped;
        dir.remove()?;
        let poststop = spec
            .and_then(|s| s.hooks().clone())
            .and_then(|h| h.poststop().clone())
            .unwrap_or_default();
        Ok(hooks::run_warn(
            "poststop",
            &poststop,
            &hook_state(&st, Status::Stopped),
        ))
    }
}
