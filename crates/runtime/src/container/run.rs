//! `run`: create and start in one go. Detached, it returns once the
//! process runs; in the foreground it forwards signals to the init, waits
//! for it, deletes the container and returns its exit code.

use std::io;

use super::create::CreateOptions;
use super::forward::{ForwardFds, SignalsHeld};
use super::{Runtime, Warnings};
use crate::launch::Spawned;
use crate::Error;

/// Options of `run`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub create: CreateOptions,
    pub detach: bool,
    /// Foreground: leave the stopped container for `delete` instead of
    /// deleting it (runc's `--keep`).
    pub keep: bool,
}

/// What `run` ended with.
#[derive(Debug)]
pub struct RunOutcome {
    /// Init PID (detached) or exit code (foreground).
    pub pid: i32,
    pub exit_code: Option<i32>,
    pub warnings: Warnings,
}

/// Waits for `child` while forwarding signals to it; returns its exit code.
pub(crate) fn wait_forwarding(child: &mut Spawned) -> Result<i32, Error> {
    // The caller holds the forwarded signals blocked (SignalsHeld); without
    // a signalfd or pidfd, wait without forwarding.
    let Ok(fwd) = ForwardFds::open(child.pid) else {
        return child.wait().map_err(Error::from);
    };
    loop {
        let mut fds = [
            libc::pollfd {
                fd: fwd.signal_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: fwd.child_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: fds is a valid array of two pollfds.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if r < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return child.wait().map_err(Error::from);
        }
        if fds[0].revents & libc::POLLIN != 0 {
            if let Some(sig) = fwd.read_signal() {
                // SAFETY: kill on our child's PID (it cannot be reused
                // before we reap it).
                unsafe { libc::kill(child.pid, sig) };
            }
        }
        if fds[1].revents & libc::POLLIN != 0 {
            return child.wait().map_err(Error::from);
        }
    }
}

impl Runtime {
    /// `run [--detach] [--keep]`.
    pub fn run(&self, opts: &RunOptions) -> Result<RunOutcome, Error> {
        let _held = (!opts.detach).then(SignalsHeld::hold);
        let mut create = opts.create.clone();
        create.start_immediately = true;
        // A foreground terminal without --console-socket: keep the master
        // here and relay (runc does the same).
        let created = self.create_container(&create, !opts.detach)?;
        let mut warnings = created.warnings;
        let super::create::Created {
            mut child,
            dir,
            record,
            relay,
            ..
        } = created;
        warnings.extend(self.poststart(&dir, &record));
        let pid = child.pid;
        if opts.detach {
            child.release();
            return Ok(RunOutcome {
                pid,
                exit_code: None,
                warnings,
            });
        }
        // Let `state`, `kill` and `exec` work while we wait.
        drop(dir);
        let waited = match &relay {
            Some(sock) => super::tty::recv_master(sock)
                .and_then(|master| super::tty::relay(&mut child, master)),
            None => wait_forwarding(&mut child),
        };
        // Removed also when the program could not be executed (unless --keep).
        if !opts.keep {
            let dir = self
                .state_root()
                .open(&opts.create.id, crate::state::Lock::Exclusive)?;
            let rec = dir.read()?;
            warnings.extend(self.destroy(dir, &rec)?);
        }
        let code = waited?;
        Ok(RunOutcome {
            pid,
            exit_code: Some(code),
            warnings,
        })
    }
}
