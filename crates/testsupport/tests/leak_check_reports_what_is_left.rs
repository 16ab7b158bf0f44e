//! The leak check fails when it should: a process in a network namespace of
//! its own, a cgroup directory and a temp entry made after the snapshot are
//! each reported (with a removal hint), and no longer once removed.
//!
//! Nothing here touches the root network namespace: `unshare -n` gives the
//! process a fresh one.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use berth_testsupport::leaks::{Leak, LeakSnapshot, Scope};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Kills and reaps the child on every path out of the test.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Removes the cgroup directory on every path out of the test.
struct CgroupDir(PathBuf);

impl Drop for CgroupDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// The first cgroup hierarchy mounted under /sys/fs/cgroup (v1 pids on this
/// machine kind, the unified root elsewhere).
fn a_cgroup_root() -> Option<PathBuf> {
    ["pids", "memory", "unified", ""]
        .iter()
        .map(|c| PathBuf::from("/sys/fs/cgroup").join(c))
        .find(|p| p.join("cgroup.procs").exists())
}

#[test]
fn leftovers_are_reported_with_hints_until_removed() -> TestResult {
    let before = LeakSnapshot::take()?;

    let child = Command::new("unshare")
        .args(["--net", "sleep", "1000"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = child.id() as i32;
    let mut child = Reaped(child);
    // unshare execs sleep once the netns exists: wait for that, not time.
    while std::fs::read_to_string(format!("/proc/{pid}/comm"))?.trim() != "sleep" {
        if let Some(status) = child.0.try_wait()? {
            return Err(format!("unshare --net sleep exited early: {status}").into());
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }

    let root = a_cgroup_root().ok_or("no cgroup hierarchy under /sys/fs/cgroup")?;
    let name = format!("berth-leakcheck-test-{}", std::process::id());
    std::fs::create_dir(root.join(&name))?;
    let cgroup = CgroupDir(root.join(&name));

    let temp = tempfile::Builder::new()
        .prefix("berth-leakcheck-")
        .tempdir()?;

    let scope = Scope {
        netns: Scope::netns_of(pid).into_iter().collect(),
        pids: vec![pid],
        paths: vec![temp.path().to_path_buf()],
        cgroup_names: vec![name.clone()],
    };
    assert_eq!(scope.netns.len(), 1);
    let leaks = before.leaks_since()?.within(&scope);
    let text = leaks.to_string();
    assert!(
        leaks
            .iter()
            .any(|l| matches!(l, Leak::Process(p) if p.pid == pid
            && p.reasons.iter().any(|r| r == "own net ns"))),
        "namespaced process not reported:\n{text}"
    );
    assert!(
        leaks
            .iter()
            .any(|l| matches!(l, Leak::Netns { inode, .. } if scope.netns.contains(inode))),
        "its netns not reported:\n{text}"
    );
    assert!(
        leaks
            .iter()
            .any(|l| matches!(l, Leak::Cgroup { path } if *path == cgroup.0)),
        "cgroup not reported:\n{text}"
    );
    assert!(
        leaks
            .iter()
            .any(|l| matches!(l, Leak::TempEntry { path } if path == temp.path())),
        "temp entry not reported:\n{text}"
    );
    assert!(text.contains(&format!("kill {pid}")), "{text}");
    assert!(text.contains("rmdir"), "{text}");

    drop(child);
    drop(cgroup);
    temp.close()?;
    before.leaks_since()?.within(&scope).assert_none();
    Ok(())
}
