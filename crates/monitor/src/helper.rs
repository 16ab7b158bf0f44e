//! Runtime work done in a short-lived child of the monitor.
//!
//! Creating a container (or an exec) runs most of the runtime: the OCI
//! spec parser, the seccomp compiler, the rootfs planner, cgroup setup.
//! Done in the monitor itself, every page of that code and every heap
//! page it used stays in the monitor's resident set for the container's
//! whole life. A forked helper does that work instead and exits: the
//! process it starts is reparented to the monitor, its child subreaper,
//! and the monitor keeps only what its poll loop touches.
//!
//! The monitor is single-threaded, so the child may allocate freely.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};

/// Runs `f` in a forked child and returns its result: the PID it reports,
/// or its error. The child's children become ours once it exits (we are
/// their subreaper).
pub fn run(f: impl FnOnce() -> Result<i32, String>) -> Result<i32, String> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: pipe2 just returned these descriptors, owned by nobody else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: the monitor has a single thread, so the child may run
    // ordinary code (allocate, lock); it leaves by _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        drop(r);
        let answer = match f() {
            Ok(pid) => format!("ok {pid}"),
            Err(e) => format!("err {e}"),
        };
        let code = i32::from(File::from(w).write_all(answer.as_bytes()).is_err());
        // SAFETY: ends the child without running the parent's exit handlers.
        unsafe { libc::_exit(code) };
    }
    drop(w);
    let mut answer = String::new();
    let read = File::from(r).read_to_string(&mut answer);
    reap(pid);
    read.map_err(|e| format!("reading the helper's answer: {e}"))?;
    parse(&answer)
}

/// Waits for the helper itself (SIGCHLD is blocked and read from a
/// signalfd; the poll loop reaps everything else).
fn reap(pid: i32) {
    loop {
        let mut status = 0;
        // SAFETY: waitpid on our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r >= 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}

fn parse(answer: &str) -> Result<i32, String> {
    if let Some(pid) = answer.strip_prefix("ok ") {
        return pid
            .parse()
            .map_err(|_| format!("the helper answered {answer:?}"));
    }
    match answer.strip_prefix("err ") {
        Some(e) => Err(e.to_owned()),
        None => Err("the helper died before it answered".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_childs_pid_or_error() {
        assert_eq!(run(|| Ok(42)), Ok(42));
        assert_eq!(
            run(|| Err("no such bundle".into())),
            Err("no such bundle".into())
        );
    }

    #[test]
    fn a_child_that_dies_is_an_error() {
        // SAFETY: ends the forked child at once.
        let r = run(|| unsafe { libc::_exit(3) });
        assert_eq!(r, Err("the helper died before it answered".into()));
    }

    #[test]
    fn the_child_does_not_touch_the_parents_memory() {
        let mut v = [1u8; 16];
        let r = run(|| {
            v[0] = 9;
            Ok(i32::from(v[0]))
        });
        assert_eq!(r, Ok(9));
        assert_eq!(v[0], 1);
    }
}
