//! A test that panics inside a SandboxHost leaves nothing behind: the
//! unwinding drops the host, and with it the netns (and the ones made
//! inside), links, mounts, processes, cgroups and the temp root.

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use berth_testsupport::leaks::{LeakSnapshot, Scope};
use berth_testsupport::SandboxHost;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const BUSY: &str = "set -e
ip netns add inner
ip link add v0 type veth peer name v1 netns inner
ip link add brp0 type bridge
mkdir -p /mnt/berth-panic
mount -t tmpfs berth-panic /mnt/berth-panic
sleep 1000 >/dev/null 2>&1 &
ip netns exec inner sleep 1000 >/dev/null 2>&1 &
";

#[test]
fn panic_inside_a_sandbox_leaks_nothing() -> TestResult {
    let before = LeakSnapshot::take()?;
    let (tx, rx) = mpsc::channel();
    let outcome = std::thread::spawn(move || {
        let host = SandboxHost::new().expect("sandbox");
        host.sh(BUSY).expect("busy sandbox");
        let cg = host.cgroup_parent().to_owned();
        host.sh(&format!("mkdir -p /sys/fs/cgroup/pids/{cg}/c1"))
            .expect("cgroup under the sandbox parent");
        let sleeper = host
            .spawn(
                Command::new("sleep")
                    .arg("1000")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null()),
            )
            .expect("spawn");
        let root = host.root().to_path_buf();
        // The test thread gets the Child to reap it; it is still running
        // when the panic drops the sandbox, which must end it.
        tx.send((Scope::of_sandbox(&host), root, sleeper))
            .expect("send scope");
        panic!("panicking on purpose inside a sandbox host");
    })
    .join();
    assert!(outcome.is_err(), "the thread was meant to panic");
    let (scope, root, mut sleeper) = rx.recv()?;

    assert!(!root.exists(), "temp root {} survived", root.display());
    // The sandbox killed the sleeper, but as our child it stays a zombie
    // until we reap it, and the sandbox's init cannot finish exiting before
    // every process of its PID namespace is reaped (kernel
    // zap_pid_ns_processes). Reaping is the test's job: std's Child does not
    // do it on drop.
    let status = sleeper.wait()?;
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "sleeper should have been SIGKILLed by the sandbox, got {status}"
    );
    // The sandbox init now finishes exiting and its reaper (outside this
    // process) collects it; wait for that, bounded, then let the leak check
    // judge.
    for init in &scope.pids {
        wait_until_gone(*init);
    }
    let leaks = before.leaks_since()?.within(&scope);
    leaks.assert_none();
    Ok(())
}

/// Waits (at most 10 s) until `pid` is gone or a zombie.
fn wait_until_gone(pid: i32) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat)
                if !stat
                    .rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z')) =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            _ => return,
        }
    }
}
