//! The container process: everything from process.* of config.json (or of
//! an exec), prepared before clone and applied in the child just before
//! execve.

use std::ffi::{c_int, CString};

use super::sync::fail;
use super::sys::{errno, CStringArray};
use super::{step, trampoline};
use crate::security::caps::{self, CapSets};
use crate::security::rlimits::Rlimit;
use crate::security::seccomp::{self, Program};

/// The process to exec and its credentials, prepared before clone.
#[derive(Debug)]
pub struct ProcessPlan {
    pub argv: CStringArray,
    pub envp: CStringArray,
    /// Paths to try for argv[0] (PATH search done ahead), in order.
    pub exec_candidates: Vec<CString>,
    pub cwd: CString,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<libc::gid_t>,
    pub umask: u32,
    pub rlimits: Vec<Rlimit>,
    pub caps: CapSets,
    pub no_new_privs: bool,
    pub seccomp: Vec<Program>,
    /// Connected console socket (-1: no terminal through a socket).
    pub console_socket: c_int,
    /// Terminal rows and columns.
    pub console_size: Option<(u16, u16)>,
    /// Descriptors 3..3+keep_fds stay open across execve.
    pub keep_fds: c_int,
    pub hostname: Option<CString>,
    pub domainname: Option<CString>,
    /// personality(2) domain.
    pub personality: Option<libc::c_ulong>,
    /// ioprio_set(2) value for IOPRIO_WHO_PROCESS.
    pub ioprio: Option<c_int>,
    /// sched_setattr(2) attribute (process.scheduler).
    pub sched: Option<super::sched::SchedAttr>,
    /// oom_score_adj, written by the parent (kept here for exec).
    pub oom_score_adj: Option<i32>,
}

impl ProcessPlan {
    /// The prepared environment as strings (a default for child hooks).
    pub fn env_strings(&self) -> Vec<String> {
        self.envp
            .strings()
            .map(|s| s.to_string_lossy().into_owned())
            .collect()
    }
}

/// Child side: finds the executable among the candidates (in the
/// container's view of the filesystem, cwd already set). Returns its index.
pub fn lookup(p: &ProcessPlan, sync: c_int) -> usize {
    let mut last = libc::ENOENT;
    for (i, cand) in p.exec_candidates.iter().enumerate() {
        // SAFETY: an all-zero stat is a valid value to be overwritten.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: cand is NUL-terminated; st is a valid out pointer.
        if unsafe { libc::stat(cand.as_ptr(), &mut st) } != 0 {
            if errno() != libc::ENOENT && errno() != libc::ENOTDIR {
                last = errno();
            }
            continue;
        }
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            last = libc::EACCES;
            continue;
        }
        // SAFETY: as above.
        if unsafe { libc::access(cand.as_ptr(), libc::X_OK) } != 0 {
            last = errno();
            continue;
        }
        return i;
    }
    fail(sync, step::EXEC_LOOKUP, 0, last)
}

/// Child side: chdir to the process cwd as root, before the user switch,
/// so a cwd the user cannot reach still works (runc too). Returns true
/// when root was refused (EACCES/EPERM, e.g. root of a user namespace on
/// a directory only the container user may enter): then [`exec`] tries
/// again as the user.
pub fn enter_cwd(p: &ProcessPlan, sync: c_int) -> bool {
    // SAFETY: cwd is NUL-terminated.
    if unsafe { libc::chdir(p.cwd.as_ptr()) } == 0 {
        return false;
    }
    match errno() {
        libc::EACCES | libc::EPERM => true,
        e => fail(sync, step::CHDIR, 0, e),
    }
}

/// Child side: the second chdir, as the user.
fn enter_cwd_as_user(p: &ProcessPlan, sync: c_int) {
    // SAFETY: cwd is NUL-terminated.
    if unsafe { libc::chdir(p.cwd.as_ptr()) } != 0 {
        fail(sync, step::CHDIR, 0, errno());
    }
}

/// Child side: resource limits, personality, I/O priority.
pub fn limits(p: &ProcessPlan, sync: c_int) {
    for (i, r) in p.rlimits.iter().enumerate() {
        // SAFETY: r.limit is a valid rlimit value.
        if unsafe { libc::setrlimit(r.resource, &r.limit) } != 0 {
            fail(sync, step::RLIMIT, i as u32, errno());
        }
    }
    if let Some(dom) = p.personality {
        // SAFETY: personality takes an integer.
        if unsafe { libc::personality(dom) } < 0 {
            fail(sync, step::PERSONALITY, 0, errno());
        }
    }
    if let Some(prio) = p.ioprio {
        // SAFETY: ioprio_set with integer arguments (IOPRIO_WHO_PROCESS, self).
        if unsafe { libc::syscall(libc::SYS_ioprio_set, 1, 0, prio) } != 0 {
            fail(sync, step::IOPRIO, 0, errno());
        }
    }
}

/// Child side: process.scheduler, before CREATED (as runc, before its
/// ready message), so a value the kernel refuses fails create or exec
/// with the reason instead of a silent exit after it.
pub fn scheduler(p: &ProcessPlan, sync: c_int) {
    if let Some(a) = &p.sched {
        if let Err(e) = super::sched::apply(a) {
            fail(sync, step::SCHED, 0, e);
        }
    }
}

/// Child side: the last steps before execve — descriptors, seccomp,
/// capabilities and user, cwd, umask, no_new_privs — then execve. Never
/// returns.
pub fn exec(p: &ProcessPlan, sync: c_int, chosen: usize, cwd_later: bool) -> ! {
    let Some(path) = p.exec_candidates.get(chosen) else {
        fail(sync, step::EXEC_LOOKUP, 0, libc::ENOENT)
    };
    // Made before seccomp, which need not allow memfd_create.
    let stub = match trampoline::make(path, chosen, sync) {
        Ok(fd) => fd,
        Err(libc::ENOSYS) => -1,
        Err(e) => fail(sync, step::TRAMPOLINE, 0, e),
    };
    // Descriptors 3.. are closed at execve except the kept ones: marking
    // them close-on-exec (instead of closing) keeps `sync` usable for
    // error reports until the very end.
    for fd in 3..3 + p.keep_fds {
        // SAFETY: fcntl on a descriptor number.
        unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    }
    // SAFETY: close_range with integer arguments.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            (3 + p.keep_fds) as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r != 0 {
        fail(sync, step::CLOSE_FDS, 0, errno());
    }

    // Without no_new_privs, installing a filter needs CAP_SYS_ADMIN, so it
    // goes in before capabilities are dropped; with it, as late as
    // possible, so the profile need not allow the setup syscalls.
    if !p.no_new_privs && !p.seccomp.is_empty() {
        if let Err(e) = seccomp::load(&p.seccomp) {
            fail(sync, step::SECCOMP, 0, e);
        }
    }
    fix_stdio_owner(p, sync);
    if let Err(e) = caps::drop_bounding(&p.caps) {
        fail(sync, step::CAP_BOUNDING, 0, e);
    }
    // Keep the permitted set across the switch away from uid 0.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) };
    // SAFETY: groups is a valid array of its length.
    if unsafe { libc::setgroups(p.groups.len(), p.groups.as_ptr()) } != 0 {
        fail(sync, step::SETGROUPS, 0, errno());
    }
    // SAFETY: integer arguments.
    if unsafe { libc::setresgid(p.gid, p.gid, p.gid) } != 0 {
        fail(sync, step::SETGID, 0, errno());
    }
    // SAFETY: integer arguments.
    if unsafe { libc::setresuid(p.uid, p.uid, p.uid) } != 0 {
        fail(sync, step::SETUID, 0, errno());
    }
    if let Err(e) = caps::set(&p.caps) {
        fail(sync, step::CAPSET, 0, e);
    }
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) };
    caps::raise_ambient(&p.caps);
    if cwd_later {
        enter_cwd_as_user(p, sync);
    }
    // SAFETY: umask takes an integer.
    unsafe { libc::umask(p.umask as libc::mode_t) };
    if p.no_new_privs {
        // SAFETY: prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            fail(sync, step::NO_NEW_PRIVS, 0, errno());
        }
        if !p.seccomp.is_empty() {
            if let Err(e) = seccomp::load(&p.seccomp) {
                fail(sync, step::SECCOMP, 0, e);
            }
        }
    }
    reset_signals();
    if stub >= 0 {
        let e = trampoline::exec(stub, sync, &p.argv, &p.envp);
        fail(sync, step::TRAMPOLINE, 1, e)
    }
    // SAFETY: path, argv and envp are NUL-terminated strings / NULL-
    // terminated arrays built before clone.
    unsafe { libc::execve(path.as_ptr(), p.argv.as_ptr(), p.envp.as_ptr()) };
    fail(sync, step::EXECVE, chosen as u32, errno())
}

/// Child side, still root: stdio (a console's pty, pipes, files) becomes
/// the process user's, so it can reopen `/dev/stdout` or its tty, as
/// runc's fixStdioPermissions does: only the owner changes (the group is
/// the mount's choice, e.g. devpts' tty), /dev/null and stdio the user
/// already owns are left alone, and an owner this namespace cannot
/// change (EINVAL, EPERM) or a read-only file (EROFS) is skipped.
fn fix_stdio_owner(p: &ProcessPlan, sync: c_int) {
    // SAFETY: all-zero stats are valid values to be overwritten.
    let mut null: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: constant path; null is a valid out pointer.
    let have_null = unsafe { libc::stat(c"/dev/null".as_ptr(), &mut null) } == 0;
    for fd in 0..3 {
        // SAFETY: as above.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fstat on a descriptor number with a valid out pointer.
        if unsafe { libc::fstat(fd, &mut st) } != 0 {
            continue;
        }
        let is_null =
            have_null && st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == null.st_rdev;
        if st.st_uid == p.uid || is_null {
            continue;
        }
        // SAFETY: fchown with integer arguments (gid -1: unchanged).
        if unsafe { libc::fchown(fd, p.uid, libc::gid_t::MAX) } != 0 {
            match errno() {
                libc::EINVAL | libc::EPERM | libc::EROFS => {}
                e => fail(sync, step::STDIO_OWNER, fd as u32, e),
            }
        }
    }
}

/// The parent's signal mask and ignored signals would survive execve:
/// give the container default dispositions (Rust ignores SIGPIPE; a
/// caller may ignore SIGCHLD, which would break every wait inside).
pub fn reset_signals() {
    // SAFETY: sigset_t is plain data; the calls take valid pointers and
    // signal numbers; SIGKILL/SIGSTOP are skipped (they cannot change).
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        for sig in 1..libc::SIGRTMIN() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
    }
}

/// Child side: sethostname / setdomainname.
pub fn uts(p: &ProcessPlan, sync: c_int) {
    if let Some(h) = &p.hostname {
        // SAFETY: h is a valid buffer of the given length.
        if unsafe { libc::sethostname(h.as_ptr(), h.as_bytes().len()) } != 0 {
            fail(sync, step::SETHOSTNAME, 0, errno());
        }
    }
    if let Some(d) = &p.domainname {
        // SAFETY: d is a valid buffer of the given length.
        if unsafe { libc::setdomainname(d.as_ptr(), d.as_bytes().len()) } != 0 {
            fail(sync, step::SETDOMAINNAME, 0, errno());
        }
    }
}
