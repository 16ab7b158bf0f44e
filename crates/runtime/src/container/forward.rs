//! Forwarding signals to a container process in the foreground (`run`
//! without `--detach`, with or without a terminal), as runc does: the set
//! forwarded, holding it blocked during setup, and the signalfd + pidfd
//! pair the wait loops poll.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

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

fn forwarded_set() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset; the
    // signal numbers are valid.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in FORWARDED {
            libc::sigaddset(&mut set, *s);
        }
        set
    }
}

/// Blocks the forwarded signals for its lifetime, so a signal sent while
/// the container is being set up waits (pending) for the forwarding loop
/// instead of killing the runtime. The child unblocks them before execve.
pub(crate) struct SignalsHeld {
    old: libc::sigset_t,
}

impl SignalsHeld {
    pub(crate) fn hold() -> SignalsHeld {
        let set = forwarded_set();
        // SAFETY: sigset_t is plain data; pthread_sigmask takes valid pointers.
        let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) };
        SignalsHeld { old }
    }
}

impl Drop for SignalsHeld {
    fn drop(&mut self) {
        // SAFETY: restoring the mask saved in hold().
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut()) };
    }
}

/// A signalfd for the forwarded signals (which the caller holds blocked)
/// and a pidfd of the child, both closed on drop.
pub(crate) struct ForwardFds {
    signals: OwnedFd,
    child: OwnedFd,
}

impl ForwardFds {
    pub(crate) fn open(pid: i32) -> io::Result<ForwardFds> {
        let set = forwarded_set();
        // SAFETY: signalfd on a valid set.
        let sfd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC) };
        if sfd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: sfd is ours and open.
        let signals = unsafe { OwnedFd::from_raw_fd(sfd) };
        // SAFETY: pidfd_open on our unreaped child.
        let pfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
        if pfd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pfd is ours and open.
        let child = unsafe { OwnedFd::from_raw_fd(pfd) };
        Ok(ForwardFds { signals, child })
    }

    pub(crate) fn signal_fd(&self) -> RawFd {
        self.signals.as_raw_fd()
    }

    pub(crate) fn child_fd(&self) -> RawFd {
        self.child.as_raw_fd()
    }

    /// Reads one pending signal (after poll said the signalfd is readable).
    pub(crate) fn read_signal(&self) -> Option<i32> {
        // SAFETY: siginfo is plain data filled by read.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        // SAFETY: reading one siginfo into a buffer of its size.
        let n = unsafe {
            libc::read(
                self.signals.as_raw_fd(),
                (&mut info as *mut libc::signalfd_siginfo).cast(),
                std::mem::size_of::<libc::signalfd_siginfo>(),
            )
        };
        (n > 0).then_some(info.ssi_signo as i32)
    }
}
