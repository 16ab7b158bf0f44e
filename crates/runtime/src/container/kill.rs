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

/// Does the config give the container a PID namespace of its own (an
/// entry without a path)? Without one, killing init does not take the
/// other processes with it.
fn private_pid_ns(spec: &oci_spec::runtime::Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| {
            ns.iter().any(|n| {
                n.typ() == oci_spec::runtime::LinuxNamespaceType::Pid
                    && n.path().as_ref().is_none_or(|p| p.as_os_str().is_empty())
            })
        })
}

/// Sends `sig` to every process of the cgroup (0: only checks that the
/// cgroup can be read, as kill(2) with 0 checks a process).
fn signal_cgroup(rec: &Record, sig: i32) -> Result<(), Error> {
    let cg = rec.cgroup()?;
    if sig == 0 {
        cg.pids()?;
        return Ok(());
    }
    let signal = Signal::try_from(sig)
        .map_err(|_| Error::Invalid(format!("signal {sig} cannot be sent to a group")))?;
    cg.signal_all(signal)?;
    Ok(())
}

impl Runtime {
    /// `kill [--all] ID SIGNAL` (0 checks the init exists). The container
    /// must be created, running or paused, except where runc also reaches
    /// processes left after init exited: with `--all` (every process of
    /// the cgroup; none left is no error), and for SIGKILL when the
    /// container shares its PID namespace (killing init would not end the
    /// others, so every process of the cgroup is killed, with or without
    /// `--all`).
    pub fn kill(&self, id: &str, sig: i32, all: bool) -> Result<(), Error> {
        let dir = self.state_root().open(id, Lock::Shared)?;
        let rec = dir.read()?;
        let status = current(&dir, &rec);
        let live = matches!(status, Status::Created | Status::Running | Status::Paused);
        let group = all || (sig == libc::SIGKILL && !private_pid_ns(&dir.read_config()?));
        if group {
            signal_cgroup(&rec, sig)?;
        } else if !live {
            return Err(Error::WrongState {
                op: "kill",
                id: id.to_owned(),
                status,
            });
        } else if let Err(e) = signal_init(&rec, sig) {
            // Exited between the status check and the signal.
            if !init_alive(&rec) {
                return Err(Error::WrongState {
                    op: "kill",
                    id: id.to_owned(),
                    status: Status::Stopped,
                });
            }
            return Err(e);
        }
        if status == Status::Paused && sig == libc::SIGKILL {
            // A frozen process cannot die: thaw so the kill takes effect.
            let cg = rec.cgroup()?;
            cg.thaw()?;
        }
        Ok(())
    }
}
