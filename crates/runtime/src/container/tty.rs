//! A terminal for a foreground `run` or `exec` without `--console-socket`:
//! the runtime keeps the pty master itself and relays between it and its
//! own stdin/stdout (raw mode when stdin is a terminal, window size kept
//! in step on SIGWINCH), while forwarding other signals to the process.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use nix::sys::termios::{self, SetArg, Termios};

use super::run::FORWARDED;
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
/// blocked ([`super::run::SignalsHeld`]).
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
    // SAFETY: sigset_t is plain data, initialised by sigemptyset.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers.
    unsafe {
        libc::sigemptyset(&mut set);
        for s in FORWARDED {
            libc::sigaddset(&mut set, *s);
        }
    }
    // SAFETY: signalfd on a valid set; pidfd_open on our child.
    let sfd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC) };
    // SAFETY: as above.
    let pfd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.pid, 0) } as i32;
    if sfd < 0 || pfd < 0 {
        return Err(sys("signalfd/pidfd_open")(io::Error::last_os_error()));
    }
    let mut stdin_open = true;
    let mut master_open = true;
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
            // SAFETY: siginfo is plain data filled by read.
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
                if info.ssi_signo as i32 == libc::SIGWINCH {
                    copy_winsize(m);
                } else {
                    // SAFETY: our unreaped child's PID.
                    unsafe { libc::kill(child.pid, info.ssi_signo as i32) };
                }
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
    // SAFETY: closing our descriptors.
    unsafe {
        libc::close(sfd);
        libc::close(pfd);
    }
    child.wait().map_err(Error::from)
}
