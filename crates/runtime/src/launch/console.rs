//! The container's terminal: a pty from the container's own devpts, the
//! master sent over `--console-socket` with SCM_RIGHTS (as runc does, so
//! containerd and friends can use it), the slave made the controlling
//! terminal and stdio. Child side, raw syscalls only.

use std::ffi::c_int;

use super::step;
use super::sync::fail;
use super::sys::{self, close, errno, StackPath};

/// Sends `fd` over the unix socket `sock` with `name` as the payload.
pub fn send_fd(sock: c_int, fd: c_int, name: &[u8]) -> c_int {
    // Room for one cmsghdr carrying one int, 8-byte aligned.
    let mut control = [0u64; 4];
    let mut iov = libc::iovec {
        iov_base: name.as_ptr() as *mut libc::c_void,
        iov_len: name.len(),
    };
    // SAFETY: msghdr is plain data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is pure arithmetic.
    // (socklen_t on musl, size_t on glibc.)
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(std::mem::size_of::<c_int>() as u32) } as _;
    // SAFETY: msg_control points at `control`, large enough for one
    // cmsghdr with an int; the CMSG_* helpers only compute addresses in it.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if cmsg.is_null() {
            return libc::EINVAL;
        }
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<c_int>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<c_int>(), fd);
    }
    loop {
        // SAFETY: msg is fully initialised above.
        let r = unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) };
        if r >= 0 {
            return 0;
        }
        if errno() != libc::EINTR {
            return errno();
        }
    }
}

/// Opens a pty in the container's devpts, hands the master to
/// `console_socket`, and makes the slave the session's controlling
/// terminal and stdio. Returns the slave's path (`/dev/pts/N`).
pub fn setup(console_socket: c_int, size: Option<(u16, u16)>, sync: c_int) -> StackPath {
    // SAFETY: constant path.
    let master = unsafe {
        libc::open(
            c"/dev/ptmx".as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if master < 0 {
        fail(sync, step::CONSOLE, 0, errno());
    }
    let unlock: c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int.
    if unsafe { libc::ioctl(master, libc::TIOCSPTLCK, &unlock) } != 0 {
        fail(sync, step::CONSOLE, 1, errno());
    }
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes an unsigned int.
    if unsafe { libc::ioctl(master, libc::TIOCGPTN, &mut n) } != 0 {
        fail(sync, step::CONSOLE, 2, errno());
    }
    // TIOCGPTPEER opens the slave through the master, so no path lookup
    // can be redirected.
    // SAFETY: ioctl with integer flags; returns a new descriptor.
    let slave = unsafe {
        libc::ioctl(
            master,
            libc::TIOCGPTPEER,
            (libc::O_RDWR | libc::O_NOCTTY) as libc::c_ulong,
        )
    };
    if slave < 0 {
        fail(sync, step::CONSOLE, 3, errno());
    }
    if let Some((rows, cols)) = size {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize.
        unsafe { libc::ioctl(slave, libc::TIOCSWINSZ, &ws) };
    }
    let path = StackPath::with_number(b"/dev/pts/", u64::from(n));
    let e = send_fd(console_socket, master, path.bytes());
    if e != 0 {
        fail(sync, step::CONSOLE, 4, e);
    }
    close(master);
    close(console_socket);
    // SAFETY: setsid takes no arguments.
    if unsafe { libc::setsid() } < 0 && errno() != libc::EPERM {
        fail(sync, step::SETSID, 0, errno());
    }
    // SAFETY: TIOCSCTTY with an integer argument.
    if unsafe { libc::ioctl(slave, libc::TIOCSCTTY, 0) } != 0 {
        fail(sync, step::CONSOLE, 5, errno());
    }
    for fd in 0..3 {
        // SAFETY: dup2 on descriptor numbers.
        if unsafe { libc::dup2(slave, fd) } < 0 {
            fail(sync, step::CONSOLE, 6, errno());
        }
    }
    if slave > 2 {
        sys::close(slave);
    }
    path
}
