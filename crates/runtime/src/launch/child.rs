//! The child's straight-line path from clone to execve.
//!
//! Order (runc's, where the spec leaves it open):
//! 1. join namespaces by path, unshare new ones, fork if a PID/time
//!    namespace applies to children only;
//! 2. READY → wait for GO (id maps written, cgroup joined, oom_score_adj
//!    set), when the parent has such work ([`InitPlan::needs_go`]);
//!    unshare the cgroup namespace;
//! 3. hostname; rootfs mounts; HOOKS (prestart, createRuntime in the
//!    parent); createContainer hooks; pivot_root; console; sysctls,
//!    read-only and masked paths, read-only root;
//! 4. cwd and executable checked (so a bad command fails `create`, as in
//!    runc); scheduler, CPU affinity, I/O priority; CREATED;
//! 5. block on exec.fifo until `start`; startContainer hooks;
//! 6. rlimits, descriptors, seccomp, capabilities, user, execve.

use std::ffi::c_int;
use std::os::fd::AsRawFd;

use super::sync::{self, fail, kind, Msg, MSG_LEN};
use super::sys::{close, errno, exit_now, write_all, StackPath};
use super::{console, hooks_child, process, step, InitPlan};
use crate::rootfs::apply;

/// Joins the namespaces given by path in runc's order: every other one
/// first, while we still hold the host's capabilities (a namespace the
/// joined user namespace does not own can only be joined then), skipping
/// those that refuse with EPERM; then the user namespace, becoming its
/// root; then the ones skipped, now with its capabilities (what a
/// rootless caller needs). A namespace refused in both passes fails with
/// that error, as runc's "failed to join namespaces".
fn setns_all(plan: &InitPlan, sync: c_int) {
    let mut joined: u64 = 0;
    for pass in 0..3 {
        for (i, (fd, ty)) in plan.ns.setns.iter().enumerate() {
            let bit = 1u64 << (i % 64);
            let user = *ty == libc::CLONE_NEWUSER;
            if joined & bit != 0 || user != (pass == 1) {
                continue;
            }
            // SAFETY: setns on a namespace descriptor opened before clone.
            if unsafe { libc::setns(*fd, *ty) } != 0 {
                let e = errno();
                if pass == 0 && e == libc::EPERM {
                    continue;
                }
                fail(sync, step::SETNS, i as u32, e);
            }
            joined |= bit;
            if user {
                // Root of the joined user namespace, as runc's nsexec
                // does: our host uid is not mapped there, and files we
                // create need an owner.
                become_root(sync);
            }
        }
    }
    // The same descriptors (or exec's pidfd): nothing is opened in
    // between, so a second close only gets EBADF.
    for (fd, _) in &plan.ns.setns {
        close(*fd);
    }
    for f in &plan.ns.files {
        close(f.as_raw_fd());
    }
}

/// Whether the child still uses `fd` (it was opened for it, before clone).
fn needed(plan: &InitPlan, sync: c_int, fd: c_int) -> bool {
    fd == sync
        || fd == plan.exec_fifo
        || fd == plan.process.console_socket
        || plan.ns.files.iter().any(|f| f.as_raw_fd() == fd)
        || plan.ns.setns.iter().any(|(f, _)| *f == fd)
        || plan
            .rootfs
            .as_ref()
            .is_some_and(|r| r.source_fds.iter().any(|f| f.as_raw_fd() == fd))
        || plan
            .cgroup_join
            .as_ref()
            .is_some_and(|j| j.v1_tasks.iter().any(|f| f.as_raw_fd() == fd))
}

/// Closes every descriptor above stdio and the kept ones (preserved fds,
/// LISTEN_FDS) that the child does not use itself: whatever the caller
/// left open without O_CLOEXEC, the cgroup2 directory clone3 has used,
/// the state lock. The child's own descriptors are close-on-exec, so
/// neither its hooks nor the container's program inherit them, and the
/// waiting init holds nothing of the host but exec.fifo, as runc's.
fn close_unneeded(plan: &InitPlan, sync: c_int) {
    let first = 3 + plan.process.keep_fds.max(0);
    let mut last = sync.max(plan.exec_fifo).max(plan.process.console_socket);
    for f in &plan.ns.files {
        last = last.max(f.as_raw_fd());
    }
    for (f, _) in &plan.ns.setns {
        last = last.max(*f);
    }
    for f in plan.rootfs.iter().flat_map(|r| &r.source_fds) {
        last = last.max(f.as_raw_fd());
    }
    if let Some(j) = &plan.cgroup_join {
        for f in &j.v1_tasks {
            last = last.max(f.as_raw_fd());
        }
    }
    for fd in first..=last {
        if !needed(plan, sync, fd) {
            close(fd);
        }
    }
    let from = first.max(last + 1);
    // SAFETY: close_range with integer arguments.
    if unsafe {
        libc::syscall(
            libc::SYS_close_range,
            from as libc::c_uint,
            libc::c_uint::MAX,
            0,
        )
    } != 0
    {
        fail(sync, step::CLOSE_FDS, 1, errno());
    }
}

/// Blocks until `start` opens exec.fifo for reading. The fifo is reopened
/// for writing through the container's /proc (the only way to reopen an
/// O_PATH descriptor); the result must be the same inode, so a rootfs
/// without procfs there cannot hand us some other file.
fn wait_for_start(fifo: c_int, sync: c_int) {
    let path = StackPath::proc_fd(fifo);
    // SAFETY: path is NUL-terminated.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        fail(sync, step::FIFO, 0, errno());
    }
    // SAFETY: all-zero stats are valid values to be overwritten.
    let (mut a, mut b): (libc::stat, libc::stat) =
        unsafe { (std::mem::zeroed(), std::mem::zeroed()) };
    // SAFETY: both descriptors are open; the out pointers are valid.
    let same = unsafe { libc::fstat(fifo, &mut a) == 0 && libc::fstat(fd, &mut b) == 0 }
        && a.st_dev == b.st_dev
        && a.st_ino == b.st_ino;
    if !same {
        fail(sync, step::FIFO, 1, libc::EXDEV);
    }
    if !write_all(fd, b"0") {
        fail(sync, step::FIFO, 0, errno());
    }
    close(fd);
    close(fifo);
}

/// uid and gid 0 of the user namespace we are in.
fn become_root(sync: c_int) {
    // SAFETY: integer arguments.
    if unsafe { libc::setresgid(0, 0, 0) } != 0 {
        fail(sync, step::SETGID, 1, errno());
    }
    // SAFETY: integer arguments.
    if unsafe { libc::setresuid(0, 0, 0) } != 0 {
        fail(sync, step::SETUID, 1, errno());
    }
}

/// Splits the GO payload: `[u32 len][createContainer state][startContainer state]`.
fn split_payload(payload: &[u8]) -> (&[u8], &[u8]) {
    let Some(head) = payload.get(..4) else {
        return (&[], &[]);
    };
    let mut len = [0u8; 4];
    len.copy_from_slice(head);
    let n = u32::from_ne_bytes(len) as usize;
    let rest = payload.get(4..).unwrap_or(&[]);
    match (rest.get(..n), rest.get(n..)) {
        (Some(a), Some(b)) => (a, b),
        _ => (&[], &[]),
    }
}

/// Waits for GO; returns the payload length in `buf` (after the header).
fn wait_go(sync: c_int, buf: &mut [u8]) -> usize {
    match sync::recv(sync, buf) {
        Some((m, n)) if m.kind == kind::GO => n,
        // The parent gave up (or died): nothing to report to.
        _ => exit_now(1),
    }
}

/// The child's entry point after clone. Never returns.
pub fn main(plan: &InitPlan, sync: c_int, buf: &mut [u8]) -> ! {
    for fd in &plan.close_in_child {
        close(*fd);
    }
    close_unneeded(plan, sync);
    // exec's initial affinity covers the joining work.
    super::sched::initial(&plan.process.sched, sync);
    // Until execve this process is berth, holding host descriptors (the
    // state dir): not dumpable, so processes already in the container
    // cannot ptrace it or open its /proc files (runc does the same).
    // execve makes the container's program dumpable again.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    // Device nodes and directories get exactly the modes asked for.
    // SAFETY: umask takes an integer.
    unsafe { libc::umask(0) };

    if let Some(j) = &plan.cgroup_join {
        if let Err(e) = super::cgroup_join::join_v1(j) {
            fail(sync, step::CGROUP_JOIN, 0, e);
        }
    }
    setns_all(plan, sync);
    if plan.ns.unshare_flags != 0 {
        // SAFETY: unshare with integer flags.
        if unsafe { libc::unshare(plan.ns.unshare_flags) } != 0 {
            fail(sync, step::UNSHARE, 0, errno());
        }
    }
    if let Some(offsets) = &plan.ns.time_offsets {
        // SAFETY: constant path.
        let fd = unsafe {
            libc::open(
                c"/proc/self/timens_offsets".as_ptr(),
                libc::O_WRONLY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 || !write_all(fd, offsets) {
            fail(sync, step::TIME_OFFSETS, 0, errno());
        }
        close(fd);
    }
    if plan.ns.fork {
        // CLONE_PARENT: the init becomes the launcher's child, so `run`
        // and `exec` can wait for it.
        let pid = super::child_clone(libc::CLONE_PARENT);
        if pid < 0 {
            fail(sync, step::FORK, 0, errno());
        }
        if pid > 0 {
            sync::send(
                sync,
                Msg {
                    kind: kind::PID,
                    a: 0,
                    b: pid,
                    c: 0,
                },
            );
            exit_now(0);
        }
    }

    let n = if plan.needs_go() {
        if !sync::send(sync, Msg::new(kind::READY)) {
            exit_now(1);
        }
        wait_go(sync, buf)
    } else {
        0
    };
    let payload = buf.get(MSG_LEN..MSG_LEN + n).unwrap_or(&[]);
    let (create_state, start_state) = split_payload(payload);

    if plan.ns.new_user {
        // Become root of the new user namespace now that the maps exist
        // (files we create must have a mapped owner).
        become_root(sync);
    }
    if plan.ns.new_cgroup {
        // SAFETY: unshare with an integer flag.
        if unsafe { libc::unshare(libc::CLONE_NEWCGROUP) } != 0 {
            fail(sync, step::UNSHARE_CGROUP, 0, errno());
        }
    }
    let p = &plan.process;
    process::uts(p, sync);

    let mut console_done = false;
    if let Some(rootfs) = &plan.rootfs {
        let rootfd = apply::prepare(rootfs, sync);
        for f in &rootfs.source_fds {
            close(f.as_raw_fd());
        }
        if !plan.create_container_hooks.is_empty() {
            // createContainer hooks run in the rootfs directory (runc's
            // fchdir before them); pivot_root moves the cwd on after.
            // SAFETY: fchdir on the rootfs descriptor.
            if unsafe { libc::fchdir(rootfd) } != 0 {
                fail(sync, step::HOOK_CREATE_CONTAINER, 0, errno());
            }
        }
        close(rootfd);
        if plan.parent_hooks {
            if !sync::send(sync, Msg::new(kind::HOOKS)) {
                exit_now(1);
            }
            let mut small = [0u8; MSG_LEN];
            wait_go(sync, &mut small);
        }
        hooks_child::run(
            &plan.create_container_hooks,
            create_state,
            sync,
            step::HOOK_CREATE_CONTAINER,
        );
        apply::pivot(rootfs, sync);
        if p.console_socket >= 0 {
            let slave = console::setup(p.console_socket, p.console_size, sync);
            if rootfs.dev_console {
                apply::bind_console(&slave, sync);
            }
            console_done = true;
        }
        apply::finish(rootfs, sync);
    }
    if !console_done {
        if p.console_socket >= 0 {
            console::setup(p.console_socket, p.console_size, sync);
        } else {
            // A session of its own, as runc gives every init; EPERM means
            // we already lead one.
            // SAFETY: setsid takes no arguments.
            if unsafe { libc::setsid() } < 0 && errno() != libc::EPERM {
                fail(sync, step::SETSID, 0, errno());
            }
        }
    }

    let cwd_later = process::enter_cwd(p, sync);
    let chosen = process::lookup(p, sync);
    process::placement(p, sync);
    if !sync::send(sync, Msg::new(kind::CREATED)) {
        exit_now(1);
    }

    if plan.exec_fifo >= 0 {
        wait_for_start(plan.exec_fifo, sync);
    }
    hooks_child::run(
        &plan.start_container_hooks,
        start_state,
        sync,
        step::HOOK_START_CONTAINER,
    );
    process::limits(p, sync);
    process::exec(p, sync, chosen, cwd_later)
}
