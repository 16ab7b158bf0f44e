//! cgroup v2 tests, in two groups:
//!
//! - cgroup-core behaviour (cgroup.procs, cgroup.freeze, cgroup.kill,
//!   cgroup.* limits, hugetlb, removal) runs on any cgroup2 mount: on a pure
//!   v2 host the real one, on a hybrid host (this project's machines) the
//!   cgroup2 mount beside the v1 hierarchies, driven as if it were pure v2.
//! - Controller limits (cpu, cpuset, memory, pids, io) need a pure v2 host,
//!   where those controllers are on the cgroup2 side; elsewhere they skip,
//!   saying the host has no pure cgroup v2 hierarchy and that they run in
//!   the VM harness.
//!
//! Every test is named `vm_*`, so vmtest/ci.sh runs the whole file under a
//! pure-v2 Debian kernel as well.
//!
//! Cgroups live under the SandboxHost's `cgroup_parent()`; processes run in
//! the sandbox's PID namespace; dropping the sandbox cleans up both.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod cgroups_support;

use std::os::unix::process::ExitStatusExt;

use berth_runtime::cgroups::{CgroupError, CgroupManager, Layout};
use berth_testsupport::SandboxHost;
use cgroups_support::{
    dir, fork_past_pids_limit_is_refused, go, oom_kill_is_counted, read, resources, skip,
    spawn_held,
};
use nix::sys::signal::Signal;

/// A v2 manager on whatever cgroup2 mount this host has.
fn setup_core(name: &str) -> Option<(SandboxHost, CgroupManager)> {
    if !cgroups_support::is_root() {
        return None;
    }
    let layout = match Layout::detect().unwrap() {
        l @ Layout::V2(_) => l,
        Layout::V1 {
            unified: Some(u), ..
        } => Layout::v2_at(&u.mountpoint).unwrap(),
        Layout::V1 { unified: None, .. } => {
            skip("this host has no cgroup2 mount at all");
            return None;
        }
    };
    let host = SandboxHost::new().unwrap();
    let path = format!("/{}/{name}", host.cgroup_parent());
    let mgr = CgroupManager::with_layout(layout, Some(&path), name).unwrap();
    Some((host, mgr))
}

/// A manager on a pure v2 host, or `None` after saying why not.
fn setup_pure(name: &str) -> Option<(SandboxHost, CgroupManager)> {
    if !cgroups_support::is_root() {
        return None;
    }
    // Prints why and skips here; inside the VM harness a missing pure v2
    // hierarchy is a failure instead.
    if let Some(why) = berth_testsupport::kernel::cgroup_v2_pure_missing() {
        skip(&why);
        return None;
    }
    let host = SandboxHost::new().unwrap();
    let path = format!("/{}/{name}", host.cgroup_parent());
    let mgr = CgroupManager::new(Some(&path), name).unwrap();
    Some((host, mgr))
}

// ---- cgroup core: runs on this host's cgroup2 mount too ----

#[test]
fn vm_v2_freeze_thaw_and_membership() {
    let Some((host, mgr)) = setup_core("freeze") else {
        return;
    };
    mgr.create().unwrap();
    let d = dir(&mgr, "unified");
    assert!(d.is_dir());
    let (child, stdin) = spawn_held(&host, "echo ran");
    let pid = child.id() as i32;
    mgr.add_pid(pid).unwrap();
    assert_eq!(mgr.pids().unwrap(), vec![pid]);
    assert_eq!(read(&d, "cgroup.procs"), pid.to_string());
    assert!(!mgr.is_frozen().unwrap());
    mgr.freeze().unwrap();
    assert!(mgr.is_frozen().unwrap());
    assert_eq!(read(&d, "cgroup.freeze"), "1");
    assert!(read(&d, "cgroup.events").contains("frozen 1"));
    go(stdin);
    mgr.thaw().unwrap();
    assert!(!mgr.is_frozen().unwrap());
    assert!(read(&d, "cgroup.events").contains("frozen 0"));
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ran");
    mgr.remove().unwrap();
    assert!(!d.exists());
    mgr.remove().unwrap();
}

#[test]
fn vm_v2_signal_all_kills_every_process() {
    let Some((host, mgr)) = setup_core("kill") else {
        return;
    };
    mgr.create().unwrap();
    let (child, _stdin) = spawn_held(&host, "true");
    mgr.add_pid(child.id() as i32).unwrap();
    mgr.signal_all(Signal::SIGKILL).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.signal(), Some(libc::SIGKILL));
    mgr.remove().unwrap();
}

#[test]
fn vm_v2_unified_keys_are_written_and_checked() {
    let Some((_host, mgr)) = setup_core("unified") else {
        return;
    };
    mgr.create().unwrap();
    mgr.apply_resources(&resources(serde_json::json!({
        "unified": {"cgroup.max.descendants": "5", "cgroup.max.depth": "2"}
    })))
    .unwrap();
    let d = dir(&mgr, "unified");
    assert_eq!(read(&d, "cgroup.max.descendants"), "5");
    assert_eq!(read(&d, "cgroup.max.depth"), "2");
    let err = mgr
        .apply_resources(&resources(
            serde_json::json!({"unified": {"../cgroup.procs": "1"}}),
        ))
        .unwrap_err();
    assert!(matches!(err, CgroupError::InvalidValue { .. }), "{err}");
    let err = mgr
        .apply_resources(&resources(
            serde_json::json!({"unified": {"cgroup.max.depth": "-3"}}),
        ))
        .unwrap_err();
    assert!(err.to_string().contains("cgroup.max.depth"), "{err}");
    mgr.remove().unwrap();
}

#[test]
fn vm_v2_stats_count_cpu_time_of_members() {
    let Some((host, mgr)) = setup_core("stats") else {
        return;
    };
    mgr.create().unwrap();
    let (child, stdin) = spawn_held(&host, "/bin/busybox seq 1 200000 > /dev/null");
    mgr.add_pid(child.id() as i32).unwrap();
    go(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let stats = mgr.stats().unwrap();
    assert!(stats.cpu.usage.total > 0, "{:?}", stats.cpu);
    assert!(stats.cpu.usage.total >= stats.cpu.usage.user);
    mgr.remove().unwrap();
}

#[test]
fn vm_v2_hugetlb_limit_is_written() {
    let Some((_host, mgr)) = setup_core("hugetlb") else {
        return;
    };
    let u = mgr.layout().unified().unwrap().clone();
    let offered = read(&u.mountpoint, "cgroup.controllers");
    if !offered.split_whitespace().any(|c| c == "hugetlb") {
        skip("the cgroup2 mount does not offer hugetlb");
        return;
    }
    if !std::path::Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists() {
        skip("no 2MB hugepages on this kernel");
        return;
    }
    mgr.create().unwrap();
    mgr.apply_resources(&resources(serde_json::json!({
        "hugepageLimits": [{"pageSize": "2MB", "limit": 8388608}]
    })))
    .unwrap();
    let d = dir(&mgr, "unified");
    assert_eq!(read(&d, "hugetlb.2MB.max"), "8388608");
    assert_eq!(mgr.stats().unwrap().hugetlb["2MB"].usage, 0);
    mgr.remove().unwrap();
}

#[test]
fn vm_v2_missing_controller_is_a_clear_error() {
    let Some((_host, mgr)) = setup_core("missing") else {
        return;
    };
    mgr.create().unwrap();
    let d = dir(&mgr, "unified");
    let enabled = read(&d, "cgroup.controllers");
    if enabled.split_whitespace().any(|c| c == "pids") {
        skip("pids is enabled here; nothing is missing");
        return;
    }
    let err = mgr
        .apply_resources(&resources(serde_json::json!({"pids": {"limit": 4}})))
        .unwrap_err();
    assert!(
        matches!(err, CgroupError::MissingController { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("pids"), "{err}");
    mgr.remove().unwrap();
}

#[test]
fn vm_v2_device_rules_are_enforced_by_an_ebpf_program() {
    let Some((host, mgr)) = setup_core("devices") else {
        return;
    };
    mgr.create().unwrap();
    let probe = "echo x > /dev/null && echo null-ok; \
                 /bin/busybox head -c1 /dev/zero >/dev/null 2>&1 && echo zero-ok || echo zero-denied";
    let run_probe = || {
        let (child, stdin) = spawn_held(&host, probe);
        mgr.add_pid(child.id() as i32).unwrap();
        go(stdin);
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    mgr.apply_resources(&resources(serde_json::json!({
        "devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
        ]
    })))
    .unwrap();
    let out = run_probe();
    assert!(
        out.contains("null-ok") && out.contains("zero-denied"),
        "{out}"
    );
    assert!(mgr
        .report()
        .unwrap()
        .contains("device programs attached: 1"));

    // New rules replace the program rather than stacking a second one.
    mgr.apply_resources(&resources(serde_json::json!({
        "devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "r"}
        ]
    })))
    .unwrap();
    let out = run_probe();
    assert!(out.contains("null-ok") && out.contains("zero-ok"), "{out}");
    let report = mgr.report().unwrap();
    assert!(report.contains("device programs attached: 1"), "{report}");
    mgr.remove().unwrap();
}

// ---- controller limits: pure v2 only (the VM harness) ----

#[test]
fn vm_v2_limits_are_written_and_read_back() {
    let Some((_host, mgr)) = setup_pure("limits") else {
        return;
    };
    mgr.create().unwrap();
    mgr.apply_resources(&resources(serde_json::json!({
        "cpu": {"shares": 1024, "quota": 20000, "period": 100000, "cpus": "0", "mems": "0"},
        "memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728},
        "pids": {"limit": 42},
    })))
    .unwrap();
    let d = dir(&mgr, "unified");
    assert_eq!(read(&d, "cpu.weight"), "39");
    assert_eq!(read(&d, "cpu.max"), "20000 100000");
    assert_eq!(read(&d, "cpuset.cpus"), "0");
    assert_eq!(read(&d, "cpuset.mems"), "0");
    assert_eq!(read(&d, "memory.max"), "67108864");
    assert_eq!(read(&d, "memory.low"), "33554432");
    if d.join("memory.swap.max").exists() {
        // OCI swap is memory+swap; v2 swap.max is swap alone.
        assert_eq!(read(&d, "memory.swap.max"), "67108864");
    }
    assert_eq!(read(&d, "pids.max"), "42");
    // Which weight file exists depends on the kernel's I/O schedulers.
    if d.join("io.bfq.weight").exists() || d.join("io.weight").exists() {
        mgr.apply_resources(&resources(serde_json::json!({"blockIO": {"weight": 500}})))
            .unwrap();
        if d.join("io.bfq.weight").exists() {
            assert!(read(&d, "io.bfq.weight").contains("500"));
        } else {
            let want = (1 + 490 * 9999 / 990).to_string();
            assert!(read(&d, "io.weight").contains(&want));
        }
    } else {
        skip("no io.weight or io.bfq.weight here: blkio weight not checked");
    }
    let stats = mgr.stats().unwrap();
    assert_eq!(stats.pids.limit, 42);
    assert_eq!(stats.memory.usage.limit, 67108864);
    // Unlimited again.
    mgr.apply_resources(&resources(serde_json::json!({
        "cpu": {"quota": -1},
        "memory": {"limit": -1},
        "pids": {"limit": 0}
    })))
    .unwrap();
    assert!(read(&d, "cpu.max").starts_with("max"));
    assert_eq!(read(&d, "memory.max"), "max");
    assert_eq!(read(&d, "pids.max"), "max");
    // v1-only settings are refused, not dropped.
    let err = mgr
        .apply_resources(&resources(
            serde_json::json!({"memory": {"swappiness": 10}}),
        ))
        .unwrap_err();
    assert!(matches!(err, CgroupError::UnsupportedOnV2 { .. }), "{err}");
    mgr.remove().unwrap();
    assert!(!d.exists());
}

#[test]
fn vm_v2_exceeding_the_memory_limit_is_oom_killed_and_counted() {
    let Some((host, mgr)) = setup_pure("oom") else {
        return;
    };
    oom_kill_is_counted(&host, &mgr);
    let stats = mgr.stats().unwrap();
    assert!(stats.memory.oom >= 1, "{:?}", stats.memory);
    mgr.remove().unwrap();
}

#[test]
fn vm_v2_forking_past_the_pids_limit_is_refused() {
    let Some((host, mgr)) = setup_pure("pids") else {
        return;
    };
    fork_past_pids_limit_is_refused(&host, &mgr, "unified");
    mgr.signal_all(Signal::SIGKILL).unwrap();
    mgr.remove().unwrap();
}
