//! Turning the child's (step, index, errno) report into one sentence,
//! using the plan for names (which mount, which namespace, which hook).

use std::io;

use super::hooks_child::TIMED_OUT;
use super::step as s;
use super::sync::Msg;
use super::InitPlan;
use crate::rootfs::Op;

fn os(errno: i32) -> String {
    let e = io::Error::from_raw_os_error(errno).to_string();
    // "No such file or directory (os error 2)" → without the suffix.
    match e.find(" (os error") {
        Some(i) => e[..i].to_owned(),
        None => e,
    }
}

fn op_name(plan: &InitPlan, i: usize) -> String {
    let Some(rootfs) = &plan.rootfs else {
        return format!("operation {i}");
    };
    match rootfs.ops.get(i) {
        Some(Op::Mount {
            dest,
            fstype,
            source,
            ..
        }) => {
            let what = match (fstype, source) {
                (Some(t), _) => t.to_string_lossy().into_owned(),
                (None, Some(src)) => format!("bind of {}", src.to_string_lossy()),
                _ => "mount".into(),
            };
            format!("{} ({what})", dest.display())
        }
        Some(Op::Symlink { link, .. }) => format!("symlink {}", link.display()),
        Some(Op::Device { path, .. }) => format!("device {}", path.display()),
        Some(Op::Remount { dest, .. }) => format!("remount of {}", dest.display()),
        Some(Op::Dir { path }) => format!("directory {}", path.display()),
        None => format!("operation {i}"),
    }
}

fn hook_name(hooks: &[super::ChildHook], i: usize) -> String {
    hooks
        .get(i)
        .map(|h| h.path.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("#{i}"))
}

fn hook_result(code: i32) -> String {
    if code == TIMED_OUT {
        "timed out".into()
    } else if code < 0 {
        format!("was killed by signal {}", -code)
    } else {
        format!("exited with status {code}")
    }
}

fn list_name(list: Option<&Vec<std::ffi::CString>>, i: usize) -> String {
    list.and_then(|l| l.get(i))
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// runc's wording for a failed execve: the file and the error.
pub fn exec_failure(candidates: &[std::ffi::CString], i: usize, errno: i32) -> String {
    let file = candidates
        .get(i)
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("exec {file}: {}", os(errno))
}

/// One line describing a child's ERROR message.
pub fn describe(plan: &InitPlan, m: Msg) -> String {
    let i = m.b.max(0) as usize;
    let e = os(m.c);
    let rootfs = plan.rootfs.as_ref();
    match m.a {
        s::SETNS => format!(
            "joining {}: {e}",
            plan.ns.setns_names.get(i).cloned().unwrap_or_default()
        ),
        s::UNSHARE => format!("creating namespaces: {e}"),
        s::UNSHARE_CGROUP => format!("creating the cgroup namespace: {e}"),
        s::TIME_OFFSETS => format!("setting time namespace offsets: {e}"),
        s::FORK => format!("forking into the new PID namespace: {e}"),
        s::SETHOSTNAME => format!("setting the hostname: {e}"),
        s::SETDOMAINNAME => format!("setting the domainname: {e}"),
        s::ROOT_PROPAGATION => format!("setting mount propagation of /: {e}"),
        s::ROOTFS_BIND => format!("bind-mounting the rootfs: {e}"),
        s::OPEN_ROOTFS => format!("opening the rootfs: {e}"),
        s::MOUNT_TARGET => format!("creating mount point {}: {e}", op_name(plan, i)),
        s::MOUNT => format!("mounting {}: {e}", op_name(plan, i)),
        s::MOUNT_NOT_DIR => format!(
            "mounting {}: must be mounted on ordinary directory ({e})",
            op_name(plan, i)
        ),
        s::MOUNT_REMOUNT => format!("applying flags to {}: {e}", op_name(plan, i)),
        s::MOUNT_PROPAGATION => format!("setting propagation of {}: {e}", op_name(plan, i)),
        s::SYMLINK | s::DEVICE => format!("creating {}: {e}", op_name(plan, i)),
        s::PIVOT_ROOT => format!("pivot_root into the rootfs (step {i}): {e}"),
        s::MASK => format!("masking {}: {e}", list_name(rootfs.map(|r| &r.masked), i)),
        s::READONLY_PATH => format!(
            "making {} read-only: {e}",
            list_name(rootfs.map(|r| &r.readonly), i)
        ),
        s::SYSCTL => format!(
            "writing sysctl {}: {e}",
            rootfs
                .and_then(|r| r.sysctls.get(i))
                .map(|(p, _)| p.to_string_lossy().into_owned())
                .unwrap_or_default()
        ),
        s::ROOT_READONLY => format!("making the root read-only: {e}"),
        s::HOOK_CREATE_CONTAINER => format!(
            "createContainer hook {} {}",
            hook_name(&plan.create_container_hooks, i),
            hook_result(m.c)
        ),
        s::HOOK_START_CONTAINER => format!(
            "startContainer hook {} {}",
            hook_name(&plan.start_container_hooks, i),
            hook_result(m.c)
        ),
        s::CONSOLE => format!("setting up the console (step {i}): {e}"),
        s::DEV_CONSOLE => format!("bind-mounting /dev/console: {e}"),
        s::SETSID => format!("setsid: {e}"),
        s::EXEC_LOOKUP => format!(
            "executable {:?} not found in the container: {e}",
            plan.process
                .argv
                .first()
                .map(|a| a.to_string_lossy().into_owned())
                .unwrap_or_default()
        ),
        s::CHDIR => format!(
            "changing to the working directory {:?}: {e}",
            plan.process.cwd.to_string_lossy()
        ),
        s::FIFO if i == 1 => {
            "waiting on exec.fifo: /proc/self/fd in the container is not procfs's".into()
        }
        s::FIFO => format!("waiting on exec.fifo: {e}"),
        s::RLIMIT => format!("setting rlimit #{i}: {e}"),
        s::PERSONALITY => format!("setting the personality: {e}"),
        s::IOPRIO => format!("setting the I/O priority: {e}"),
        s::SCHED => format!("setting the scheduler (process.scheduler): {e}"),
        s::SECCOMP => format!("loading the seccomp filter: {e}"),
        s::CAP_BOUNDING => format!("dropping bounding capabilities: {e}"),
        s::CAPSET => format!("setting capabilities: {e}"),
        s::SETGROUPS => format!("setting additional groups: {e}"),
        s::SETGID => format!("setting the group id: {e}"),
        s::SETUID => format!("setting the user id: {e}"),
        s::NO_NEW_PRIVS => format!("setting no_new_privs: {e}"),
        s::CLOSE_FDS => format!("closing inherited descriptors: {e}"),
        s::EXECVE => exec_failure(&plan.process.exec_candidates, i, m.c),
        s::STDIO_OWNER => format!("giving stdio {i} to the process user: {e}"),
        s::TRAMPOLINE if i == 0 => format!("writing the exec trampoline: {e}"),
        s::TRAMPOLINE => format!("executing the exec trampoline: {e}"),
        s::PROTOCOL => "protocol error with the runtime".into(),
        s::CGROUP_JOIN => format!("joining the container's cgroups: {e}"),
        other => format!("step {other} failed: {e}"),
    }
}
