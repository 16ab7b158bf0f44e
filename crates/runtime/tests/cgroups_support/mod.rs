//! Helpers shared by the cgroup test files (cgroups_v1.rs, cgroups_v2.rs).
#![allow(dead_code)] // each test file uses a different subset

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use berth_runtime::cgroups::CgroupManager;
use berth_testsupport::SandboxHost;
use oci_spec::runtime::LinuxResources;

/// Prints `SKIP: <test>: <why>` where it shows despite output capture.
pub fn skip(why: &str) {
    berth_testsupport::kernel::report_skip(why);
}

pub fn is_root() -> bool {
    if nix::unistd::Uid::effective().is_root() {
        true
    } else {
        skip("cgroup tests need root");
        false
    }
}

pub fn resources(json: serde_json::Value) -> LinuxResources {
    serde_json::from_value(json).expect("LinuxResources from JSON")
}

/// The directory `mgr` uses for `controller` ("unified" for cgroup2).
pub fn dir(mgr: &CgroupManager, controller: &str) -> PathBuf {
    mgr.paths()
        .into_iter()
        .find(|(c, _)| c == controller)
        .map(|(_, d)| d)
        .unwrap_or_else(|| panic!("no {controller} directory in {:?}", mgr.paths()))
}

pub fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.join(file).display()))
        .trim()
        .to_owned()
}

/// A busybox shell in the sandbox, blocked on `read` until [`go`] so it can
/// be moved into the cgroup before it runs `script`.
pub fn spawn_held(host: &SandboxHost, script: &str) -> (Child, ChildStdin) {
    let mut cmd = Command::new("/bin/busybox");
    cmd.args(["sh", "-c", &format!("read go; {script}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = host
        .spawn(&mut cmd)
        .expect("spawn busybox sh in the sandbox");
    let stdin = child.stdin.take().expect("piped stdin");
    (child, stdin)
}

/// Lets a [`spawn_held`] shell run its script.
pub fn go(mut stdin: ChildStdin) {
    stdin.write_all(b"go\n").expect("write to the held shell");
}

/// A 16 MiB memory limit (swap equal): dd touching 64 MiB is OOM-killed
/// and the kill is counted, on either hierarchy.
pub fn oom_kill_is_counted(host: &SandboxHost, mgr: &CgroupManager) {
    use std::os::unix::process::ExitStatusExt;
    mgr.create().unwrap();
    mgr.apply_resources(&resources(serde_json::json!({
        "memory": {"limit": 16777216, "swap": 16777216}
    })))
    .unwrap();
    assert_eq!(mgr.stats().unwrap().memory.oom_kill, 0);
    // dd fills a 64 MiB buffer from /dev/zero: every page gets touched.
    let (child, stdin) = spawn_held(
        host,
        "exec /bin/busybox dd if=/dev/zero of=/dev/null bs=64M count=1",
    );
    mgr.add_pid(child.id() as i32).unwrap();
    go(stdin);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGKILL),
        "dd was not OOM-killed: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let stats = mgr.stats().unwrap();
    assert!(stats.memory.oom_kill >= 1, "{:?}", stats.memory);
    let json = serde_json::to_value(&stats).unwrap();
    assert!(json["memory"]["oom_kill"].as_u64().unwrap() >= 1);
}

/// A pids limit of 3: the shell and two sleeps fill it, the third fork is
/// refused and `pids.events` (in `controller_dir`) records it.
pub fn fork_past_pids_limit_is_refused(host: &SandboxHost, mgr: &CgroupManager, controller: &str) {
    mgr.create().unwrap();
    mgr.apply_resources(&resources(serde_json::json!({"pids": {"limit": 3}})))
        .unwrap();
    // The sleeps let go of the output pipes so the shell's exit ends the read.
    let (child, stdin) = spawn_held(
        host,
        "/bin/busybox sleep 600 >/dev/null 2>&1 & /bin/busybox sleep 600 >/dev/null 2>&1 & \
         /bin/busybox true; echo forked",
    );
    mgr.add_pid(child.id() as i32).unwrap();
    go(stdin);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stdout.contains("forked"), "fork past pids.max succeeded");
    assert!(stderr.contains("fork"), "unexpected failure: {stderr}");
    let events = read(&dir(mgr, controller), "pids.events");
    assert!(
        !events.contains("max 0"),
        "pids.events shows no refusal: {events}"
    );
    let stats = mgr.stats().unwrap();
    assert_eq!(stats.pids.limit, 3);
    assert_eq!(stats.pids.current, 2, "the two sleeps");
    assert_eq!(mgr.pids().unwrap().len(), 2);
}
