//! `run --keep`: a foreground run leaves the stopped container for
//! `delete` (as runc), which then runs poststop and removes the cgroup;
//! `checkpoint` of an existing container is refused for want of CRIU.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod runtime_support;

use runtime_support::{is_root, Env};

#[test]
fn run_keep_leaves_a_stopped_container() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let b = env.bundle("keep", "echo kept; exit 3");
    let r = env.berth(&["run", "--keep", "--bundle", b.to_str().unwrap(), "keep"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert_eq!(r.stdout, "kept\n");
    let st = env.state("keep");
    assert_eq!(st["status"], "stopped", "{st}");
    assert!(
        env.cgroup_exists("keep"),
        "the kept container's cgroup went early"
    );
    let e = env.berth(&["checkpoint", "keep"]).fails();
    assert!(e.contains("needs CRIU"), "{e}");
    env.berth(&["delete", "keep"]).ok();
    assert!(!env.cgroup_exists("keep"));
    let e = env.berth(&["state", "keep"]).fails();
    assert!(e.contains("does not exist"), "{e}");

    // Without --keep the container is gone after the run.
    let b = env.bundle("nokeep", "true");
    env.berth(&["run", "--bundle", b.to_str().unwrap(), "nokeep"])
        .ok();
    let e = env.berth(&["state", "nokeep"]).fails();
    assert!(e.contains("does not exist"), "{e}");
}
