//! The supervised process's stdio: pipes (stdin only when it is kept
//! open), or a pty whose master arrives over a console socket.

use std::fs::File;
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::Path;

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

/// Our ends of the process's stdio.
pub struct Ours {
    /// Where attach input goes (a pipe, or the pty master).
    pub stdin: Option<File>,
    /// stdout (or the pty master: everything).
    pub stdout: Option<File>,
    pub stderr: Option<File>,
}

/// The ends the process gets as 0, 1 and 2 (none with a tty).
pub struct Theirs {
    fds: Option<[OwnedFd; 3]>,
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pipe2 just returned these descriptors, owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn dev_null() -> std::io::Result<OwnedFd> {
    Ok(File::options()
        .read(true)
        .write(true)
        .open("/dev/null")?
        .into())
}

/// Pipes for a process without a terminal.
pub fn pipes(open_stdin: bool) -> std::io::Result<(Ours, Theirs)> {
    let (in_r, in_w) = if open_stdin {
        let (r, w) = pipe()?;
        (r, Some(w))
    } else {
        (dev_null()?, None)
    };
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    Ok((
        Ours {
            stdin: in_w.map(File::from),
            stdout: Some(File::from(out_r)),
            stderr: Some(File::from(err_r)),
        },
        Theirs {
            fds: Some([in_r, out_w, err_w]),
        },
    ))
}

/// No stdio of ours for the process (its terminal is set up by the runtime).
pub fn terminal() -> Theirs {
    Theirs { fds: None }
}

fn dup_onto(fd: RawFd, target: RawFd) -> std::io::Result<()> {
    // SAFETY: dup2 on descriptor numbers we own.
    if unsafe { libc::dup2(fd, target) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Runs `f` with `theirs` as our 0, 1 and 2 (the runtime gives the new
/// process our stdio), then puts /dev/null back.
pub fn with_stdio<T>(theirs: Theirs, f: impl FnOnce() -> T) -> std::io::Result<T> {
    if let Some(fds) = &theirs.fds {
        for (i, fd) in fds.iter().enumerate() {
            dup_onto(fd.as_raw_fd(), i as RawFd)?;
        }
    }
    let out = f();
    null_stdio()?;
    drop(theirs);
    Ok(out)
}

/// Puts /dev/null on our 0, 1 and 2 (berthd's sync pipe on our stdout
/// then closes with the copy we keep).
pub fn null_stdio() -> std::io::Result<()> {
    let null = dev_null()?;
    for i in 0..3 {
        dup_onto(null.as_raw_fd(), i)?;
    }
    Ok(())
}

/// Receives the pty master the container sends to the console socket.
pub fn receive_master(listener: &UnixListener) -> std::io::Result<File> {
    listener.set_nonblocking(true)?;
    let (conn, _) = listener.accept()?;
    conn.set_nonblocking(false)?;
    let mut buf = [0u8; 256];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(std::io::Error::from)?;
    for cmsg in msg.cmsgs().map_err(std::io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            if let Some(&fd) = fds.first() {
                // SAFETY: the kernel just installed this descriptor for us.
                return Ok(unsafe { File::from_raw_fd(fd) });
            }
        }
    }
    Err(std::io::Error::other("console socket sent no descriptor"))
}

/// Sets the terminal size of a pty master.
pub fn resize(master: &File, height: u16, width: u16) -> std::io::Result<()> {
    let ws = libc::winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ with a valid winsize pointer on an open fd.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A console socket path short enough for sun_path, created fresh.
pub fn console_listener(path: &Path) -> std::io::Result<UnixListener> {
    let _ = std::fs::remove_file(path);
    UnixListener::bind(path)
}
