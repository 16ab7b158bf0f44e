//! A terminal for a foreground `run` or `exec` without `--console-socket`:
//! the runtime keeps the pty master itself and relays between it and its
//! own stdin/stdout (raw mode when stdin is a terminal, window size kept
//! in step on SIGWINCH), while forwarding other signals to the process.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use nix::sys::termios::{self, SetArg, Termios};

use super::forward::ForwardFds;
use crate::launch::Spawned;
use crate::Error;

fn sys(op: &'static str) -> impl FnOnce(io::Error) -> Error {
    move |e| Error::io(op, "pty")(e)
}

/// Receives the pty master the child sent over `sock`.
pub(crate) fn recv_master(sock: &UnixStream) -> Result<OwnedFd, Error> {
    let mut buf = [0u8; 64];
    let mut iov = [io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(|e| sys("receive pty master")(io::Error::from(e)))?;
    let fd = msg
        .cmsgs()
        .map_err(|e| sys("receive pty master")(io::Error::from(e)))?
        .find_map(|c| match c {
            ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
            _ => None,
        })
        .ok_or_else(|| sys("receive pty master")(io::Error::other("no descriptor in message")))?;
    // SAFETY: the descriptor was just received and belongs to no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Puts stdin in raw mode while alive (when it is a terminal).
struct RawMode {
    saved: Option<Termios>,
}

impl RawMode {
    fn enter() -> RawMode {
        let stdin = io::stdin();
        let saved = termios::tcgetattr(&stdin).ok();
        if let Some(t) = &saved {
            let mut raw = t.clone();
            termios::cfmakeraw(&mut raw);
            let _ = termios::tcsetattr(&stdin, SetArg::TCSANOW, &raw);
        }
        RawMode { saved }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = termios::tcsetattr(io::stdin(), SetArg::TCSANOW, t);
        }
    }
}

fn copy_winsize(master: RawFd) {
    // SAFETY: winsize is plain data; ioctls with valid pointers.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(master, libc::TIOCSWINSZ, &ws);
        }
    }
}

fn write_all(fd: RawFd, mut b: &[u8]) {
    while !b.is_empty() {
        // SAFETY: b is a valid readable slice.
        let n = unsafe { libc::write(fd, b.as_ptr().cast(), b.len()) };
        if n <= 0 {
            if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        b = &b[n as usize..];
    }
}

/// Copies what is readable on `from` to `to`; false on EOF/EIO.
fn pump(from: RawFd, to: RawFd) -> bool {
    let mut buf = [0u8; 8192];
    // SAFETY: buf is a valid writable buffer.
    let n = unsafe { libc::read(from, buf.as_mut_ptr().cast(), buf.len()) };
    if n > 0 {
        write_all(to, &buf[..n as usize]);
        return true;
    }
    n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock
}

/// Relays between our stdio and `master` until `child` exits; forwards
/// signals; returns the exit code. The caller holds the forwarded signals
/// blocked ([`super::forward::SignalsHeld`]).
pub(crate) fn relay(child: &mut Spawned, master: OwnedFd) -> Result<i32, Error> {
    let m = master.as_raw_fd();
    // SAFETY: fcntl on our descriptor.
    unsafe {
        libc::fcntl(
            m,
            libc::F_SETFL,
            libc::fcntl(m, libc::F_GETFL) | libc::O_NONBLOCK,
        )
    };
    let _raw = RawMode::enter();
    copy_winsize(m);
    let fwd = ForwardFds::open(child.pid).map_err(sys("signalfd/pidfd_open"))?;
    let mut stdin_open = true;
    let mut master_open = true;
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
            libc::pollfd {
                fd: if master_open { m } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if stdin_open { 0 } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: fds is a valid array of pollfds.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if r < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            break;
        }
        if fds[0].revents & libc::POLLIN != 0 {
            match fwd.read_signal() {
                Some(libc::SIGWINCH) => copy_winsize(m),
                // SAFETY: our unreaped child's PID.
                Some(sig) => unsafe {
                    libc::kill(child.pid, sig);
                },
                None => {}
            }
        }
        if master_open && fds[2].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
            master_open = pump(m, 1);
        }
        if stdin_open && fds[3].revents & (libc::POLLIN | libc::POLLHUP) != 0 {
            stdin_open = pump(0, m);
        }
        if fds[1].revents & libc::POLLIN != 0 {
            // The process is gone: drain what it wrote last.
            while master_open && pump(m, 1) {
                let mut p = libc::pollfd {
                    fd: m,
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: p is a valid pollfd.
                if unsafe { libc::poll(&mut p, 1, 0) } <= 0 {
                    break;
                }
            }
            break;
        }
    }
    drop(fwd);
    child.wait().map_err(Error::from)
}
