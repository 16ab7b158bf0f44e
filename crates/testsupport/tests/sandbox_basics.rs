//! The sandbox host is its own network host and cleans up after itself.

use std::process::Command;

use berth_testsupport::SandboxHost;

#[test]
fn sandbox_has_its_own_netns_with_only_lo() {
    let host = SandboxHost::new().expect("sandbox");
    let links = host.sh("ls /sys/class/net").expect("ls");
    assert_eq!(links.split_whitespace().collect::<Vec<_>>(), vec!["lo"]);
    let ours = std::fs::read_link("/proc/self/ns/net").expect("own netns");
    let theirs = std::fs::read_link(host.netns_path()).expect("sandbox netns");
    assert_ne!(ours, theirs);
}

#[test]
fn processes_started_inside_die_with_the_sandbox() {
    let host = SandboxHost::new().expect("sandbox");
    let mut child = host
        .spawn(Command::new("sleep").arg("1000"))
        .expect("spawn sleep");
    let pid = child.id();
    drop(host);
    // SIGKILL from the dying PID namespace: reaping it must not block.
    let status = child.wait().expect("wait");
    assert!(
        !status.success(),
        "sleep should have been killed, got {status}"
    );
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

#[test]
fn run_in_netns_made_inside_stays_inside() {
    let host = SandboxHost::new().expect("sandbox");
    host.sh("ip netns add inner && ip -n inner link set lo up")
        .expect("ip netns add");
    let listed = host.sh("ip netns list").expect("list");
    assert!(listed.contains("inner"), "{listed}");
    assert!(!std::path::Path::new("/run/netns/inner").exists());
}
