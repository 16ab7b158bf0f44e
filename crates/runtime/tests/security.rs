//! What a container can reach of the host through the runtime: the
//! descriptors its init and exec'd processes hold, the runtime's own
//! executable while a berth process has joined the container
//! (CVE-2019-5736), and seccomp as the profile says it.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod runtime_support;

use std::path::Path;

use runtime_support::{is_root, Env};

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
