//! `run`: create and start in one go. Detached, it returns once the
//! process runs; in the foreground it forwards signals to the init, waits
//! for it, deletes the container and returns its exit code.

use std::io;

use super::create::CreateOptions;
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

/// Signals forwarded to the container in the foreground (runc's set:
/// everything a terminal or supervisor may send, not SIGCHLD).
pub(crate) const FORWARDED: &[i32] = &[
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGCONT,
    libc::SIGTSTP,
    libc::SIGTTIN,
    libc::SIGTTOU,
    libc::SIGALRM,
];

/// Blocks the forwarded signals for its lifetime, so a signal sent while
/// the container is being set up waits (pending) for the forwarding loop
/// instead of killing the runtime. The child unblocks them before execve.
pub(crate) struct SignalsHeld {
    old: libc::sigset_t,
}

impl SignalsHeld {
    pub(crate) fn hold() -> SignalsHeld {
        // SAFETY: sigset_t is plain data, initialised by sigemptyset;
        // pthread_sigmask takes valid pointers.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for s in FORWARDED {
                libc::sigaddset(&mut set, *s);
            }
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
            SignalsHeld { old }
        }
    }
}

impl Drop for SignalsHeld {
    fn drop(&mut self) {
        // SAFETY: restoring the mask saved in hold().
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut()) };
    }
}

/// Waits for `child` while forwarding signals to it; returns its exit code.
pub(crate) fn wait_forwarding(child: &mut Spawned) -> Result<i32, Error> {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above; filled by pthread_sigmask.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid sigset pointers.
    unsafe {
        libc::sigemptyset(&mut set);
        for s in FORWARDED {
            libc::sigaddset(&mut set, *s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
    }
    // SAFETY: signalfd on a valid set; pidfd_open on our child.
    let sfd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC) };
    // SAFETY: as above.
    let pfd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.pid, 0) } as i32;
    let result = (|| -> Result<i32, Error> {
        if sfd < 0 || pfd < 0 {
            return child.wait().map_err(Error::from);
        }
        loop {
            let mut fds = [
                libc::pollfd {
                    fd: sfd,
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: pfd,
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
                // SAFETY: siginfo is plain data; read fills it.
                let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
                // SAFETY: reading one siginfo into a buffer of its size.
                let n = unsafe {
                    libc::read(
                        sfd,
                        (&mut info as *mut libc::signalfd_siginfo).cast(),
                        std::mem::size_of::<libc::signalfd_siginfo>(),
                    )
                };
                if n > 0 {
                    // SAFETY: kill on our child's PID (it cannot be reused
                    // before we reap it).
                    unsafe { libc::kill(child.pid, info.ssi_signo as i32) };
                }
            }
            if fds[1].revents & libc::POLLIN != 0 {
                return child.wait().map_err(Error::from);
            }
        }
    })();
    // SAFETY: closing our descriptors; restoring the old mask.
    unsafe {
        if sfd >= 0 {
            libc::close(sfd);
        }
        if pfd >= 0 {
            libc::close(pfd);
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
    result
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
