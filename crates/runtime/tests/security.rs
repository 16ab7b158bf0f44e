//! What a container can reach of the host through the runtime: the
//! descriptors its init and exec'd processes hold, the runtime's own
//! executable while a berth process has joined the container
//! (CVE-2019-5736), and seccomp as the profile says it.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod runtime_support;

use std::path::Path;

use runtime_support::{is_root, Env};
use serde_json::json;

const RUNC: &str = "/usr/sbin/runc";

fn have_runc() -> bool {
    let ok = Path::new(RUNC).exists();
    if !ok {
        berth_testsupport::kernel::report_skip("runc is not installed (Debian package runc)");
    }
    ok
}

/// `/proc/PID/fd` of a process in the sandbox: one `N -> target` a line,
/// sorted; stdio (0-2) and pipe/socket numbers are normalised so runc's and
/// berth's lists compare.
fn fds(env: &Env, pid: i64) -> Vec<String> {
    let text = env
        .host
        .sh(&format!(
            "cd /proc/{pid}/fd && for f in *; do echo \"$f -> $(readlink $f)\"; done"
        ))
        .unwrap();
    let mut v: Vec<String> = text
        .lines()
        .map(|l| {
            let (n, target) = l.split_once(" -> ").unwrap();
            let kind = if target.starts_with("pipe:") {
                "pipe".to_owned()
            } else if target.starts_with("socket:") {
                "socket".to_owned()
            } else if target.starts_with("anon_inode:") {
                target.to_owned()
            } else if target.ends_with("/exec.fifo") {
                "exec.fifo".to_owned()
            } else if n.parse::<u32>().is_ok_and(|n| n <= 2) {
                "stdio".to_owned()
            } else {
                target.to_owned()
            };
            format!("{n}:{kind}")
        })
        .collect();
    v.sort();
    v
}

/// The kinds of `fds` without the fd numbers, sorted, leaving out `own`
/// (the runtime's own channels to the init).
fn kinds(fds: &[String], own: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = fds
        .iter()
        .filter_map(|f| f.split_once(':').map(|(_, k)| k.to_owned()))
        .filter(|k| !own.contains(&k.as_str()))
        .collect();
    v.sort();
    v
}

/// Waits for `/out/<file>` of container `name` to be written.
fn wait_out(env: &Env, name: &str, file: &str) -> String {
    for _ in 0..500 {
        let s = env.read_out(name, file);
        if s.ends_with("end\n") {
            return s;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("{name} never wrote /out/{file}");
}

/// The created init holds exactly what runc's does of the host: stdio and
/// exec.fifo (runc adds its own pipes and epoll); no cgroup directory, no
/// state directory, nothing the caller left open. After `start` the
/// container's program and an `exec` process hold only stdio.
#[test]
fn created_init_holds_no_host_directory() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let b = env.bundle(
        "fds",
        "ls -l /proc/self/fd/ > /out/init; echo end >> /out/init; exec sleep 1000",
    );
    let bs = b.to_str().unwrap();
    env.berth_bg(&["create", "--bundle", bs, "fds"]).ok();
    let pid = env.state("fds")["pid"].as_i64().unwrap();
    // Our own end of the sync socket is the only extra, as runc's pipes.
    let ours = kinds(&fds(&env, pid), &["socket"]);
    assert_eq!(ours, ["exec.fifo", "stdio", "stdio", "stdio"], "berth");
    if have_runc() {
        env.runc_bg(&["create", "--bundle", bs, "fds-runc"]).ok();
        let st: serde_json::Value =
            serde_json::from_str(&env.runc(&["state", "fds-runc"]).ok()).unwrap();
        let theirs = fds(&env, st["pid"].as_i64().unwrap());
        env.runc(&["delete", "--force", "fds-runc"]).ok();
        assert_eq!(
            kinds(&theirs, &["pipe", "anon_inode:[eventpoll]"]),
            ours,
            "runc's init: {theirs:?}"
        );
    }
    env.berth(&["start", "fds"]).ok();
    // `ls` itself holds one more: the directory it reads (fd 3).
    let init = wait_out(&env, "fds", "init");
    let exec = env
        .berth(&["exec", "fds", "ls", "-l", "/proc/self/fd/"])
        .ok();
    env.berth(&["delete", "--force", "fds"]).ok();
    for (who, listing) in [("init", init.as_str()), ("exec", exec.as_str())] {
        let fds: Vec<&str> = listing
            .lines()
            .filter_map(|l| l.split_whitespace().nth(8))
            .collect();
        assert_eq!(fds, ["0", "1", "2", "3"], "{who}: {listing}");
    }
}

/// CVE-2019-5736, the window: while the created init (a clone of berth,
/// not yet execed) waits for `start`, a container process cannot open
/// its `/proc/PID/exe`, for reading or writing, nor see where it points.
#[test]
fn waiting_init_exe_cannot_be_opened_from_the_container() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let b = env.bundle("exe-window", "exec sleep 1000");
    let bs = b.to_str().unwrap();
    env.berth_bg(&["create", "--bundle", bs, "exe-window"]).ok();
    let probe = "readlink /proc/1/exe && echo link-visible; \
                 cat /proc/1/exe > /dev/null && echo read-ok; \
                 (: >> /proc/1/exe) && echo write-ok; \
                 grep -q '^Name:.*berth' /proc/1/status && echo is-berth; echo end";
    let r = env.berth(&["exec", "exe-window", "sh", "-c", probe]);
    let before = std::fs::read(runtime_support::berth_bin()).unwrap().len();
    env.berth(&["delete", "--force", "exe-window"]).ok();
    assert_eq!(r.code, 0, "{r:?}");
    // The probe did reach berth's clone (else it proves nothing).
    assert!(r.stdout.contains("is-berth"), "{r:?}");
    for bad in ["link-visible", "read-ok", "write-ok"] {
        assert!(!r.stdout.contains(bad), "{bad}: {r:?}");
    }
    assert_eq!(
        std::fs::read(runtime_support::berth_bin()).unwrap().len(),
        before
    );
}

/// CVE-2019-5736, the interpreter: a program that is a `#!/proc/self/exe`
/// script must not run the runtime's binary. Without the trampoline the
/// kernel resolved /proc/self/exe to berth (the process still was berth
/// at execve), and the container ran berth's own executable, here
/// printing its version; a second container process could then keep a
/// handle to it and write it once it exited.
#[test]
fn a_proc_self_exe_script_does_not_run_the_runtime() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let b = env.bundle("exe-script", "exec sleep 1000");
    let script = b.join("rootfs/evil");
    std::fs::write(&script, "#!/proc/self/exe --version\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let bs = b.to_str().unwrap();
    env.berth_bg(&["run", "--detach", "--bundle", bs, "exe-script"])
        .ok();
    let r = env.berth(&["exec", "exe-script", "/evil"]);
    env.berth(&["delete", "--force", "exe-script"]).ok();
    assert!(!r.stdout.contains("berth"), "ran berth: {r:?}");
    // The trampoline, run as the script's interpreter, refuses.
    assert_eq!(r.code, 126, "{r:?}");
}

/// A static probe program: `sysprobe NR [ARG...]` runs syscall(NR, ARG...)
/// and prints `<return> <errno>`. Built with the host's gcc (libc6-dev's
/// static libc) into the sandbox's temp root; None (with the reason
/// reported) when there is no compiler.
fn sysprobe(env: &Env) -> Option<std::path::PathBuf> {
    let dir = env.dir("sysprobe");
    let src = dir.join("sysprobe.c");
    std::fs::write(
        &src,
        r#"#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long a[6] = {0};
    for (int i = 2; i < argc && i < 8; i++) a[i - 2] = strtol(argv[i], 0, 0);
    errno = 0;
    long r = syscall(strtol(argv[1], 0, 0), a[0], a[1], a[2], a[3], a[4], a[5]);
    printf("%ld %d\n", r, r < 0 ? errno : 0);
    return 0;
}
"#,
    )
    .ok()?;
    let bin = dir.join("sysprobe");
    let ok = std::process::Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(&bin)
        .arg(&src)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        berth_testsupport::kernel::report_skip("no gcc with a static libc (Debian gcc, libc6-dev)");
        return None;
    }
    Some(bin)
}

/// Runs each probe (`NR ARG...`) in one container with `seccomp` under
/// `rt` ("berth" or "runc"); returns the probes' outputs.
fn seccomp_probe(
    env: &Env,
    probe: &Path,
    rt: &str,
    name: &str,
    seccomp: serde_json::Value,
    probes: &[&str],
) -> Vec<String> {
    let id = format!("{name}-{rt}");
    let script: String = probes
        .iter()
        .map(|p| format!("/sysprobe {p} >> /out/probe; "))
        .collect();
    let b = env.bundle(&id, &script);
    std::fs::copy(probe, b.join("rootfs/sysprobe")).unwrap();
    runtime_support::edit_config(&b, |v| v["linux"]["seccomp"] = seccomp);
    let args = ["run", "--bundle", b.to_str().unwrap(), id.as_str()];
    let r = if rt == "berth" {
        env.berth(&args)
    } else {
        env.runc(&args)
    };
    assert_eq!(r.code, 0, "{rt}: {r:?}");
    env.read_out(&id, "probe")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// SCMP_CMP_MASKED_EQ: `(arg & value) == valueTwo`, as libseccomp reads
/// it. The rule refuses datagram sockets whatever the type's flag bits
/// (`type & 0xf == SOCK_DGRAM`). berth had mask and value swapped
/// (`type & 2 == 2`), which also refused SOCK_RAW (3) and missed rules
/// whose value has bits outside the mask.
#[cfg(target_arch = "x86_64")] // syscall numbers
#[test]
fn seccomp_masked_eq_gets_the_profiles_errno() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let Some(probe) = sysprobe(&env) else {
        return;
    };
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{
            "names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
            "args": [{"index": 1, "value": 15, "valueTwo": 2, "op": "SCMP_CMP_MASKED_EQ"}]
        }]
    });
    // socket = 41 (AF_UNIX): SOCK_DGRAM|0x100, SOCK_DGRAM, SOCK_RAW
    // (which AF_UNIX serves as a datagram socket), SOCK_STREAM.
    let probes = ["41 1 0x102 0", "41 1 2 0", "41 1 3 0", "41 1 1 0"];
    let ours = seccomp_probe(&env, &probe, "berth", "masked", profile.clone(), &probes);
    assert_eq!(ours[..2], ["-1 1", "-1 1"], "{ours:?}");
    assert!(!ours[2].starts_with('-'), "SOCK_RAW refused: {ours:?}");
    assert!(!ours[3].starts_with('-'), "{ours:?}");
    if have_runc() {
        let theirs = seccomp_probe(&env, &probe, "runc", "masked", profile, &probes);
        // fds differ; compare outcomes.
        let outcome = |v: &[String]| -> Vec<String> {
            v.iter()
                .map(|l| {
                    if l.starts_with('-') {
                        l.clone()
                    } else {
                        "ok".into()
                    }
                })
                .collect()
        };
        assert_eq!(outcome(&ours), outcome(&theirs));
    }
}

/// A syscall numbered above every one the profile names gets ENOSYS, as
/// runc's stub gives, when the default action refuses; one the profile
/// knows of but does not allow gets the default errno.
#[cfg(target_arch = "x86_64")] // syscall numbers
#[test]
fn seccomp_syscall_newer_than_the_profile_gets_enosys() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let Some(probe) = sysprobe(&env) else {
        return;
    };
    // Enough for sh, the probe and runc's init; the highest named is 334
    // (rseq).
    let allowed = [
        "read",
        "write",
        "open",
        "openat",
        "close",
        "fstat",
        "newfstatat",
        "stat",
        "lstat",
        "mmap",
        "munmap",
        "mprotect",
        "brk",
        "rt_sigaction",
        "rt_sigprocmask",
        "rt_sigreturn",
        "ioctl",
        "access",
        "execve",
        "exit",
        "exit_group",
        "wait4",
        "fork",
        "vfork",
        "clone",
        "getpid",
        "getppid",
        "getuid",
        "geteuid",
        "getgid",
        "getegid",
        "dup2",
        "dup3",
        "fcntl",
        "arch_prctl",
        "set_tid_address",
        "set_robust_list",
        "uname",
        "readlink",
        "getcwd",
        "chdir",
        "lseek",
        "pipe",
        "pipe2",
        "prlimit64",
        "writev",
        "getrandom",
        "rseq",
        "sysinfo",
        "getdents64",
        "futex",
        "sigaltstack",
        // What runc's init (Go) still calls after loading the filter.
        "statfs",
        "fstatfs",
        "gettid",
        "tgkill",
        "sched_yield",
        "madvise",
        "nanosleep",
        "epoll_create1",
        "epoll_ctl",
        "epoll_pwait",
        "capget",
        "capset",
        "prctl",
        "setgroups",
        "setresuid",
        "setresgid",
        "getdents",
        "fchdir",
        "umask",
        "setsid",
        "clock_gettime",
        "mincore",
        "sched_getaffinity",
        "pread64",
        "socket",
        "connect",
        "sendto",
        "recvfrom",
        "getsockname",
        "getpeername",
        "setsockopt",
        "poll",
        "select",
    ];
    // runc 1.1 makes its stub only for the architectures listed.
    let profile = json!({
        "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": allowed.to_vec(), "action": "SCMP_ACT_ALLOW"}]
    });
    // 435 (clone3, no args: EINVAL if it ran) and 999 (unassigned) are
    // newer; 165 (mount) is older and not allowed: EPERM; 39 (getpid)
    // allowed.
    let probes = ["435", "999", "165 0 0 0 0 0", "39"];
    // A profile that kills on anything unlisted, execveat included, still
    // starts: the exec trampoline then goes through execve.
    let mut killing = profile.clone();
    killing["defaultAction"] = json!("SCMP_ACT_KILL_PROCESS");
    let out = seccomp_probe(&env, &probe, "berth", "kill-default", killing, &["39"]);
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(!out[0].starts_with('-'), "{out:?}");
    let ours = seccomp_probe(&env, &probe, "berth", "enosys", profile.clone(), &probes);
    assert_eq!(ours[..3], ["-1 38", "-1 38", "-1 1"], "{ours:?}");
    assert!(!ours[3].starts_with('-'), "{ours:?}");
    if have_runc() {
        let theirs = seccomp_probe(&env, &probe, "runc", "enosys", profile, &probes);
        assert_eq!(ours[..3], theirs[..3], "runc: {theirs:?}");
    }
}

/// `linux.seccomp.flags` reach seccomp(2): every filter berth loads
/// carries TSYNC, LOG and SPEC_ALLOW when the profile lists them (seen
/// with strace, since this kernel shows neither the audit log nor an SSB
/// mitigation to tell them apart). Debian's runc 1.1 refuses any flag
/// ("not yet supported"); runc 1.2 sets them as listed.
#[test]
fn seccomp_flags_are_applied() {
    if !is_root() {
        return;
    }
    if !Path::new("/usr/bin/strace").exists() {
        berth_testsupport::kernel::report_skip("strace is not installed (Debian package strace)");
        return;
    }
    let env = Env::new();
    let id = "flags";
    let b = env.bundle(id, "true");
    runtime_support::edit_config(&b, |v| {
        v["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
            "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]
        });
    });
    let log = env.dir("strace").join("berth.log");
    let mut c = std::process::Command::new("/usr/bin/strace");
    c.args(["-f", "-qq", "-e", "trace=seccomp", "-o"])
        .arg(&log)
        .arg(runtime_support::berth_bin())
        .args(["runtime", "--root"])
        .arg(&env.root)
        .args(["run", "--bundle", b.to_str().unwrap(), id])
        .stdin(std::process::Stdio::null());
    let out = env.host.output(&mut c).unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    let loads: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("seccomp(SECCOMP_SET_MODE_FILTER"))
        .collect();
    assert!(!loads.is_empty(), "{text}");
    for l in &loads {
        for f in ["TSYNC", "LOG", "SPEC_ALLOW"] {
            assert!(
                l.contains(&format!("SECCOMP_FILTER_FLAG_{f}")),
                "{f} missing: {l}"
            );
        }
    }
}
