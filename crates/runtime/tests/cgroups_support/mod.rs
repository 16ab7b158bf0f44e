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
