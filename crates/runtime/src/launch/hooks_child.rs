//! Hooks the child runs itself, in the container's namespaces
//! (createContainer before pivot_root, startContainer after start): fork,
//! exec with the state JSON on a pipe as stdin, wait with the hook's
//! timeout. Raw syscalls only.

use std::ffi::c_int;

use super::sync::fail;
use super::sys::{close, errno, exit_now, write_all};
use super::ChildHook;

/// `errno` slot value meaning "the hook timed out".
pub const TIMED_OUT: c_int = -1000;

/// Runs `hooks` in order with `state` on stdin; a failure reports
/// (`step`, hook index, exit code / -signal / [`TIMED_OUT`]) and exits.
pub fn run(hooks: &[ChildHook], state: &[u8], sync: c_int, step: u32) {
    if hooks.is_empty() {
        return;
    }
    // A hook that does not read its stdin must not kill us with SIGPIPE
    // while we write the state.
    // SAFETY: setting a signal disposition to SIG_IGN.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    for (i, h) in hooks.iter().enumerate() {
        let i = i as u32;
        let mut p = [-1 as c_int; 2];
        // SAFETY: p is a valid array of two ints.
        if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            fail(sync, step, i, errno());
        }
        let pid = super::child_clone(0);
        if pid < 0 {
            fail(sync, step, i, errno());
        }
        if pid == 0 {
            // SAFETY: dup2 on descriptor numbers; execve on prepared
            // NUL-terminated strings and NULL-terminated arrays.
            unsafe {
                libc::dup2(p[0], 0);
            }
            super::process::reset_signals();
            // SAFETY: execve on prepared strings and arrays.
            unsafe {
                libc::execve(h.path.as_ptr(), h.argv.as_ptr(), h.envp.as_ptr());
            }
            exit_now(127);
        }
        close(p[0]);
        write_all(p[1], state);
        close(p[1]);
        let code = wait(pid, h.timeout);
        if code != 0 {
            fail(sync, step, i, code);
        }
    }
}

/// Waits for `pid`; returns 0 on success, the exit code, -signal, or
/// [`TIMED_OUT`] (after killing it).
fn wait(pid: i32, timeout: Option<i64>) -> c_int {
    if let Some(secs) = timeout {
        // SAFETY: pidfd_open with integer arguments.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as c_int;
        if pidfd >= 0 {
            let mut pfd = libc::pollfd {
                fd: pidfd,
                events: libc::POLLIN,
                revents: 0,
            };
            let ms = secs.saturating_mul(1000).min(i64::from(c_int::MAX)) as c_int;
            let r = loop {
                // SAFETY: pfd is a valid pollfd.
                let r = unsafe { libc::poll(&mut pfd, 1, ms) };
                if r < 0 && errno() == libc::EINTR {
                    continue;
                }
                break r;
            };
            close(pidfd);
            if r == 0 {
                // SAFETY: signalling and reaping our own child.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                    let mut st = 0;
                    libc::waitpid(pid, &mut st, 0);
                }
                return TIMED_OUT;
            }
        }
    }
    let mut st = 0;
    loop {
        // SAFETY: waitpid on our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut st, 0) };
        if r < 0 && errno() == libc::EINTR {
            continue;
        }
        break;
    }
    if libc::WIFEXITED(st) {
        libc::WEXITSTATUS(st)
    } else if libc::WIFSIGNALED(st) {
        -libc::WTERMSIG(st)
    } else {
        -1
    }
}
