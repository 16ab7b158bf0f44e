//! The runtime on a pure cgroup v2 host. This machine kind runs a hybrid
//! layout, so these tests skip here (saying so) and run in the VM harness
//! (`vmtest/ci.sh`, stock Debian kernel, cgroup2 only), where they must
//! pass. The VM's root is the initramfs, where pivot_root is impossible:
//! there they also cover the chroot fallback.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod runtime_support;

use runtime_support::{edit_config, is_root, Env};
use serde_json::{json, Value};

#[test]
fn vm_limits_freezer_stats_and_cgroup_mount_on_v2() {
    berth_testsupport::require_cgroup_v2_pure!();
    if !is_root() {
        return;
    }
    let env = Env::new();
    let b = env.bundle("v2", "true");
    edit_config(&b, |v| {
        v["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "ro"]
        }));
        v["linux"]["resources"]["memory"] = json!({"limit": 64 * 1024 * 1024});
        v["linux"]["resources"]["pids"] = json!({"limit": 33});
        v["process"]["args"] = json!(["sh", "-c", "{ cat /proc/self/cgroup; cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max; } > /out/seen; \
            echo ready > /out/ready; while :; do date +%s%N > /out/tick; sleep 0.05; done"]);
    });
    env.berth_bg(&["run", "-d", "--bundle", b.to_str().unwrap(), "v2"])
        .ok();
    for _ in 0..1000 {
        if !env.read_out("v2", "ready").is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // Inside its cgroup namespace the container is at the root of a
    // cgroup2 mount that shows its own limits.
    assert_eq!(env.read_out("v2", "seen"), "0::/\n67108864\n33\n");

    // exec joins the same cgroup (clone3 CLONE_INTO_CGROUP): the exec'd
    // `sleep 100` is among the cgroup's processes. (Counting them races
    // with the loop's short-lived `date` and `sleep 0.05`.)
    env.berth_bg(&["exec", "-d", "v2", "sleep", "100"]).ok();
    // ps answers pids of the sandbox's pid namespace: read them there.
    let is_exec = |pid: &i64| {
        env.host
            .sh(&format!("tr '\\0' ' ' < /proc/{pid}/cmdline"))
            .is_ok_and(|c| c.trim() == "sleep 100")
    };
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = serde_json::from_str(&env.berth(&["ps", "-f", "json", "v2"]).ok()).unwrap();
        if seen.iter().any(is_exec) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(seen.iter().any(is_exec), "no `sleep 100` among {seen:?}");

    env.berth(&["pause", "v2"]).ok();
    assert_eq!(env.state("v2")["status"], "paused");
    let t = env.read_out("v2", "tick");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(env.read_out("v2", "tick"), t);
    let ev: Value = serde_json::from_str(&env.berth(&["events", "--stats", "v2"]).ok()).unwrap();
    assert_eq!(ev["data"]["pids"]["limit"], 33, "{ev}");
    env.berth(&["resume", "v2"]).ok();
    assert_eq!(env.state("v2")["status"], "running");

    env.berth(&["delete", "--force", "v2"]).ok();
    assert!(!env.cgroup_exists("v2"));
}

#[test]
fn vm_oom_kill_and_run_on_v2() {
    berth_testsupport::require_cgroup_v2_pure!();
    if !is_root() {
        return;
    }
    let env = Env::new();
    let b = env.bundle("v2oom", "x=a; while :; do x=$x$x; done");
    edit_config(&b, |v| {
        v["linux"]["resources"]["memory"] =
            json!({"limit": 16 * 1024 * 1024, "swap": 16 * 1024 * 1024});
    });
    let r = env.berth(&["run", "--bundle", b.to_str().unwrap(), "v2oom"]);
    assert_eq!(r.code, 128 + 9, "{r:?}");
    assert!(!env.cgroup_exists("v2oom"));

    let b = env.bundle("v2run", "echo hello-v2; id -u");
    assert_eq!(
        env.berth(&["run", "--bundle", b.to_str().unwrap(), "v2run"])
            .ok(),
        "hello-v2\n0\n"
    );
}
