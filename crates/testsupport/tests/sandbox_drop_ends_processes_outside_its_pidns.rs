//! Processes started with `enter_keep_pidns` live in the sandbox's network
//! namespace but the test's PID namespace, so the PID namespace teardown
//! does not reach them; dropping the sandbox must end them anyway, or they
//! keep its namespaces alive.

use std::process::{Command, Stdio};

use berth_testsupport::leaks::{LeakSnapshot, Scope};
use berth_testsupport::SandboxHost;

type TestResult = Result<(), Box<dyn std::error::Error>>;

#[test]
fn keep_pidns_children_die_with_the_sandbox() -> TestResult {
    let before = LeakSnapshot::take()?;
    let host = SandboxHost::new()?;
    host.sh("ip netns add inner")?;
    let scope = Scope::of_sandbox(&host);
    let spawn = |args: &[&str]| {
        host.enter_keep_pidns(|| {
            Command::new(args[0])
                .args(&args[1..])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
        })
    };
    // One in the sandbox's netns, one in a netns made inside it.
    let mut in_sandbox = spawn(&["sleep", "1000"])??;
    let mut in_inner = spawn(&["ip", "netns", "exec", "inner", "sleep", "1000"])??;
    let pids = [in_sandbox.id() as i32, in_inner.id() as i32];

    drop(host);
    // Judge before cleaning up ourselves: the sandbox must have ended them.
    let scope = Scope {
        pids: pids.to_vec(),
        ..scope
    };
    let leaks = before.leaks_since()?.within(&scope);
    let mut survivors = Vec::new();
    for child in [&mut in_sandbox, &mut in_inner] {
        // A process that let go of its namespaces is dying (it may not be a
        // zombie quite yet); one that still has them survived.
        if std::fs::read_link(format!("/proc/{}/ns/net", child.id())).is_ok() {
            survivors.push(child.id());
            let _ = child.kill();
        }
        child.wait()?;
    }
    assert!(survivors.is_empty(), "survived the sandbox: {survivors:?}");
    leaks.assert_none();
    Ok(())
}
