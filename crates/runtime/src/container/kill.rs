//! `kill`: a signal to the init (through a pidfd, so a recycled PID can
//! never be hit) or, with `--all`, to every process in the cgroup.

use nix::sys::signal::Signal;

use super::status::{current, init_alive};
use super::Runtime;
use crate::state::{Lock, Record, Status};
use crate::Error;

/// Signals `rec`'s init through a pidfd checked against its start time.
pub(crate) fn signal_init(rec: &Record, sig: i32) -> Result<(), Error> {
    // SAFETY: pidfd_open with integer arguments.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, rec.state.pid, 0) } as i32;
    if pidfd < 0 {
        return Err(Error::io("pidfd_open", format!("/proc/{}", rec.state.pid))(
            std::io::Error::last_os_error(),
        ));
    }
    // The pidfd pins the process: if it is still ours now, the signal
    // reaches it and nothing else.
    let result = if init_alive(rec) {
        // SAFETY: pidfd_send_signal on our pidfd with no siginfo.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                pidfd,
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(Error::io("signal", format!("/proc/{}", rec.state.pid))(
                std::io::Error::last_os_error(),
            ))
        }
    } else {
        Ok(())
    };
    // SAFETY: closing our own descriptor.
    unsafe { libc::close(pidfd) };
    result
}

impl Runtime {
    /// `kill [--all] ID SIGNAL`: the container must be created, running
    /// or paused.
    pub fn kill(&self, id: &str, sig: i32, all: bool) -> Result<(), Error> {
        let dir = self.state_root().open(id, Lock::Shared)?;
        let rec = dir.read()?;
        let status = current(&dir, &rec);
        if !matches!(status, Status::Created | Status::Running | Status::Paused) {
            return Err(Error::WrongState {
                op: "kill",
                id: id.to_owned(),
                status,
            });
        }
        if all {
            let signal = Signal::try_from(sig)
                .map_err(|_| Error::Invalid(format!("signal {sig} cannot be sent to a group")))?;
            let cg = rec.cgroup()?;
            cg.signal_all(signal)?;
        } else {
            signal_init(&rec, sig)?;
        }
        if status == Status::Paused && sig == libc::SIGKILL {
            // A frozen process cannot die: thaw so the kill takes effect.
            let cg = rec.cgroup()?;
            cg.thaw()?;
        }
        Ok(())
    }
}
