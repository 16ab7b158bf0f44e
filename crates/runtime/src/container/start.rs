//! `start`: release the init blocked on exec.fifo, then run the
//! poststart hooks.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

use super::status::{current, hook_state, init_alive};
use super::{Runtime, Warnings};
use crate::hooks;
use crate::launch::LaunchError;
use crate::state::{ContainerDir, Lock, Record, Status};
use crate::Error;

/// Opens the fifo for reading and waits for the init's byte. The open
/// does not block (O_NONBLOCK); the wait polls, checking between polls
/// that the init is still alive, so a dead init cannot hang `start`.
fn release(dir: &ContainerDir, rec: &Record) -> Result<(), Error> {
    let path = dir.fifo_path();
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&path)
        .map_err(Error::io("open", &path))?;
    loop {
        let mut pfd = libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: pfd is a valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, 100) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(Error::io("poll", &path)(e));
        }
        if r > 0 && pfd.revents & libc::POLLIN != 0 {
            let mut b = [0u8; 1];
            return match f.read(&mut b) {
                Ok(1) => Ok(()),
                _ => Err(LaunchError::ChildGone("init exited before start".into()).into()),
            };
        }
        if !init_alive(rec) {
            return Err(LaunchError::ChildGone("init exited before start".into()).into());
        }
    }
}

impl Runtime {
    /// `start`: the container must be `created`.
    pub fn start(&self, id: &str) -> Result<Warnings, Error> {
        let dir = self.state_root().open(id, Lock::Exclusive)?;
        let mut rec = dir.read()?;
        let status = current(&dir, &rec);
        if status != Status::Created {
            return Err(Error::WrongState {
                op: "start",
                id: id.to_owned(),
                status,
            });
        }
        release(&dir, &rec)?;
        std::fs::remove_file(dir.fifo_path()).map_err(Error::io("remove", dir.fifo_path()))?;
        rec.state.status = Status::Running;
        dir.write(&rec)?;
        Ok(self.poststart(&dir, &rec))
    }

    /// poststart hooks: failures are warnings (runtime-spec).
    pub(crate) fn poststart(&self, dir: &ContainerDir, rec: &Record) -> Warnings {
        let hooks = rec.later_hooks(dir).poststart;
        if hooks.is_empty() {
            return Vec::new();
        }
        hooks::run_warn(
            "poststart",
            &hooks,
            &hook_state(&rec.state, Status::Running),
        )
    }
}
