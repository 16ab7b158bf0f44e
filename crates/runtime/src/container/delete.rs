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
///
/// Between checks it sleeps in `poll` on a pidfd of the init, which wakes
/// the moment the process has exited instead of at the next tick; the 2 ms
/// cap keeps the checks going for what a pidfd does not signal (a PID
/// namespace's init counts as gone once it is exiting, before it becomes
/// a zombie).
pub(crate) fn wait_gone(rec: &Record, limit: Duration) -> bool {
    let start = Instant::now();
    // SAFETY: pidfd_open with integer arguments; -1 on failure.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, rec.state.pid, 0) } as i32;
    let gone = loop {
        // Checked after the pidfd is open, so a reused PID is seen here.
        if !init_alive(rec) {
            break true;
        }
        let elapsed = start.elapsed();
        if elapsed >= limit {
            break false;
        }
        let tick = (limit - elapsed).min(Duration::from_millis(2));
        if pidfd >= 0 {
            let mut pfd = libc::pollfd {
                fd: pidfd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: pfd is one valid pollfd; an EINTR just loops.
            unsafe { libc::poll(&mut pfd, 1, tick.as_millis().max(1) as i32) };
        } else {
            std::thread::sleep(tick);
        }
    };
    if pidfd >= 0 {
        // SAFETY: closing the descriptor opened above.
        unsafe { libc::close(pidfd) };
    }
    gone
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
            // The init may have exited (and been reaped) since the status
            // was read, or by the signal_all just now: that is the goal.
            if let Err(e) = signal_init(&rec, libc::SIGKILL) {
                if super::status::init_alive(&rec) {
                    return Err(e);
                }
            }
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
        let poststop = rec.later_hooks(&dir).poststop;
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
        Ok(hooks::run_warn(
            "poststop",
            &poststop,
            &hook_state(&st, Status::Stopped),
        ))
    }
}
