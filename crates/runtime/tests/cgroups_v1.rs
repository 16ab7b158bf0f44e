//! cgroup v1 (and hybrid) tests: run as root on a host with v1 hierarchies
//! (this project's machines); they skip, saying so, on a pure v2 host.
//!
//! Every cgroup lives under the SandboxHost's unique `cgroup_parent()`, and
//! every process is started inside the sandbox's PID namespace, so dropping
//! the sandbox (also during a panic) kills them and removes the cgroups.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod cgroups_support;

use std::path::Path;

use berth_runtime::cgroups::{CgroupError, CgroupManager, Layout};
use berth_testsupport::SandboxHost;
use cgroups_support::{
    dir, fork_past_pids_limit_is_refused, go, oom_kill_is_counted, read, resources, skip,
    spawn_held,
};
use nix::sys::signal::Signal;

/// The sandbox and a manager for `/<sandbox parent>/<name>`, or `None` (and a
/// message) when this host cannot run v1 tests.
fn setup(name: &str) -> Option<(SandboxHost, CgroupManager)> {
    if !cgroups_support::is_root() {
        return None;
    }
    let layout = Layout::detect().unwrap();
    if layout.is_v2() {
        skip("host is pure cgroup v2; v1 tests need a v1 or hybrid host");
        return None;
    }
    let host = SandboxHost::new().unwrap();
    let path = format!("/{}/{name}", host.cgroup_parent());
    let mgr = CgroupManager::new(Some(&path), name).unwrap();
    Some((host, mgr))
}

#[test]
fn limits_are_written_and_read_back() {
    let Some((_host, mgr)) = setup("limits") else {
        return;
    };
    mgr.create().unwrap();
    let weight_missing = berth_testsupport::kernel::blkio_weight_missing();
    let mut json = serde_json::json!({
        "cpu": {"shares": 512, "quota": 20000, "period": 100000, "cpus": "0", "mems": "0"},
        "memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728},
        "pids": {"limit": 42},
        "blockIO": {"weight": 300},
    });
    if let Some(why) = &weight_missing {
        skip(why);
        json["blockIO"] = serde_json::json!({});
    }
    let r = resources(json);
    mgr.apply_resources(&r).unwrap();

    let cpu = dir(&mgr, "cpu");
    assert_eq!(read(&cpu, "cpu.shares"), "512");
    assert_eq!(read(&cpu, "cpu.cfs_quota_us"), "20000");
    assert_eq!(read(&cpu, "cpu.cfs_period_us"), "100000");
    let cpuset = dir(&mgr, "cpuset");
    assert_eq!(read(&cpuset, "cpuset.cpus"), "0");
    assert_eq!(read(&cpuset, "cpuset.mems"), "0");
    let mem = dir(&mgr, "memory");
    assert_eq!(read(&mem, "memory.limit_in_bytes"), "67108864");
    assert_eq!(read(&mem, "memory.soft_limit_in_bytes"), "33554432");
    if mem.join("memory.memsw.limit_in_bytes").exists() {
        assert_eq!(read(&mem, "memory.memsw.limit_in_bytes"), "134217728");
    }
    assert_eq!(read(&dir(&mgr, "pids"), "pids.max"), "42");
    if weight_missing.is_none() {
        let blkio = dir(&mgr, "blkio");
        let weight = if blkio.join("blkio.weight").exists() {
            read(&blkio, "blkio.weight")
        } else {
            read(&blkio, "blkio.bfq.weight")
        };
        assert_eq!(weight, "300");
    }

    // Lowering the limit below memsw and raising it back both work (the
    // write order depends on the direction).
    mgr.apply_resources(&resources(serde_json::json!({
        "memory": {"limit": 16777216, "swap": 16777216}
    })))
    .unwrap();
    assert_eq!(read(&mem, "memory.limit_in_bytes"), "16777216");
    mgr.apply_resources(&resources(serde_json::json!({
        "memory": {"limit": 268435456, "swap": 536870912}
    })))
    .unwrap();
    assert_eq!(read(&mem, "memory.limit_in_bytes"), "268435456");

    let stats = mgr.stats().unwrap();
    assert_eq!(stats.pids.limit, 42);
    assert_eq!(stats.memory.usage.limit, 268435456);
    assert_eq!(stats.cpuset.cpus, vec![0]);

    mgr.remove().unwrap();
    for (c, d) in mgr.paths() {
        assert!(!d.exists(), "{c} directory {} left behind", d.display());
    }
    // Removing again is fine.
    mgr.remove().unwrap();
}

#[test]
fn rejected_and_clamped_values_are_errors_naming_the_file() {
    let Some((_host, mgr)) = setup("bad") else {
        return;
    };
    mgr.create().unwrap();
    // The kernel silently clamps shares to [2, 262144]: berth reads back.
    let err = mgr
        .apply_resources(&resources(serde_json::json!({"cpu": {"shares": 1}})))
        .unwrap_err();
    assert!(matches!(err, CgroupError::NotApplied { .. }), "{err}");
    assert!(err.to_string().contains("cpu.shares"), "{err}");

    let err = mgr
        .apply_resources(&resources(serde_json::json!({"cpu": {"cpus": "4096"}})))
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("cpuset.cpus") && msg.contains("4096"), "{msg}");

    let err = mgr
        .apply_resources(&resources(
            serde_json::json!({"pids": {"limit": 5}, "blockIO": {"weight": 5}}),
        ))
        .unwrap_err();
    assert!(err.to_string().contains("blkio weight"), "{err}");

    let err = mgr
        .apply_resources(&resources(serde_json::json!({
            "hugepageLimits": [{"pageSize": "3MB", "limit": 0}]
        })))
        .unwrap_err();
    assert!(err.to_string().contains("3MB"), "{err}");
    mgr.remove().unwrap();
}

#[test]
fn exceeding_the_memory_limit_is_oom_killed_and_counted() {
    let Some((host, mgr)) = setup("oom") else {
        return;
    };
    oom_kill_is_counted(&host, &mgr);
    // The peak reached the limit (failcnt may stay 0: with memsw equal to
    // the limit, the kernel can charge the failure to memsw instead).
    let usage = mgr.stats().unwrap().memory.usage;
    assert!(usage.max + (1 << 20) >= 16777216, "{usage:?}");
    mgr.remove().unwrap();
}

#[test]
fn forking_past_the_pids_limit_is_refused() {
    let Some((host, mgr)) = setup("pids") else {
        return;
    };
    fork_past_pids_limit_is_refused(&host, &mgr, "pids");

    mgr.signal_all(Signal::SIGKILL).unwrap();
    mgr.remove().unwrap();
    assert!(!dir(&mgr, "pids").exists());
}

#[test]
fn freeze_and_thaw_change_state() {
    let Some((host, mgr)) = setup("freeze") else {
        return;
    };
    mgr.create().unwrap();
    let (child, stdin) = spawn_held(&host, "echo ran");
    let pid = child.id() as i32;
    mgr.add_pid(pid).unwrap();
    assert_eq!(mgr.pids().unwrap(), vec![pid]);
    assert!(!mgr.is_frozen().unwrap());
    mgr.freeze().unwrap();
    assert!(mgr.is_frozen().unwrap());
    assert_eq!(read(&dir(&mgr, "freezer"), "freezer.state"), "FROZEN");
    // Input sent while frozen is acted on only after the thaw.
    go(stdin);
    mgr.thaw().unwrap();
    assert!(!mgr.is_frozen().unwrap());
    assert_eq!(read(&dir(&mgr, "freezer"), "freezer.state"), "THAWED");
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ran");
    mgr.remove().unwrap();
}

#[test]
fn device_rules_deny_what_is_not_allowed() {
    let Some((host, mgr)) = setup("devices") else {
        return;
    };
    mgr.create().unwrap();
    mgr.apply_resources(&resources(serde_json::json!({
        "devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
        ]
    })))
    .unwrap();
    assert_eq!(read(&dir(&mgr, "devices"), "devices.list"), "c 1:3 rwm");
    let (child, stdin) = spawn_held(
        &host,
        "echo x > /dev/null && echo null-ok; \
         /bin/busybox head -c1 /dev/zero >/dev/null 2>&1 && echo zero-ok || echo zero-denied",
    );
    mgr.add_pid(child.id() as i32).unwrap();
    go(stdin);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("null-ok"), "{stdout}");
    assert!(stdout.contains("zero-denied"), "{stdout}");
    mgr.remove().unwrap();
}

#[test]
fn apply_linux_adds_config_devices_and_runc_defaults() {
    let Some((host, mgr)) = setup("linuxdevs") else {
        return;
    };
    mgr.create().unwrap();
    let probe = |mgr: &CgroupManager| {
        let (child, stdin) = spawn_held(
            &host,
            "/bin/busybox true < /dev/zero && echo zero-ok; \
             /bin/busybox true < /dev/kmsg 2>/dev/null && echo kmsg-ok || echo kmsg-denied",
        );
        mgr.add_pid(child.id() as i32).unwrap();
        go(stdin);
        String::from_utf8_lossy(&child.wait_with_output().unwrap().stdout).into_owned()
    };
    let deny_all =
        serde_json::json!({"resources": {"devices": [{"allow": false, "access": "rwm"}]}});
    mgr.apply_linux(&serde_json::from_value(deny_all).unwrap())
        .unwrap();
    // /dev/zero is one of runc's defaults; /dev/kmsg (1:11) is not.
    let out = probe(&mgr);
    assert!(
        out.contains("zero-ok") && out.contains("kmsg-denied"),
        "{out}"
    );
    let with_kmsg = serde_json::json!({
        "resources": {"devices": [{"allow": false, "access": "rwm"}]},
        "devices": [{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11}]
    });
    mgr.apply_linux(&serde_json::from_value(with_kmsg).unwrap())
        .unwrap();
    let out = probe(&mgr);
    assert!(out.contains("zero-ok") && out.contains("kmsg-ok"), "{out}");
    mgr.remove().unwrap();
}

#[test]
fn remove_takes_sub_cgroups_and_waits_for_killed_tasks() {
    let Some((host, mgr)) = setup("remove") else {
        return;
    };
    mgr.create().unwrap();
    // A container may make its own sub-cgroups.
    let mem = dir(&mgr, "memory");
    std::fs::create_dir(mem.join("inner")).unwrap();
    let (child, _stdin) = spawn_held(&host, "true");
    mgr.add_pid(child.id() as i32).unwrap();
    // With a live task, removal fails and says where.
    let err = mgr.remove().unwrap_err();
    assert!(matches!(err, CgroupError::Remove(_)), "{err}");
    mgr.signal_all(Signal::SIGKILL).unwrap();
    let mut child = child;
    let _ = child.wait();
    mgr.remove().unwrap();
    for (c, d) in mgr.paths() {
        assert!(!d.exists(), "{c} directory {} left behind", d.display());
    }
}

#[test]
fn report_lists_paths_limits_and_processes() {
    let Some((host, mgr)) = setup("report") else {
        return;
    };
    mgr.create().unwrap();
    mgr.apply_resources(&resources(serde_json::json!({"pids": {"limit": 7}})))
        .unwrap();
    let (child, stdin) = spawn_held(&host, "true");
    let pid = child.id() as i32;
    mgr.add_pid(pid).unwrap();
    let report = mgr.report().unwrap();
    assert!(
        report.contains(&dir(&mgr, "memory").display().to_string()),
        "{report}"
    );
    assert!(report.contains("pids.max: 7"), "{report}");
    assert!(report.contains(&format!("processes: {pid}")), "{report}");
    go(stdin);
    let _ = child.wait_with_output();
    mgr.remove().unwrap();
}

#[test]
fn hybrid_hugetlb_limit_goes_to_the_cgroup2_side() {
    let Some((_host, mgr)) = setup("hugetlb") else {
        return;
    };
    let Layout::V1 {
        hierarchies,
        unified,
    } = mgr.layout()
    else {
        return;
    };
    if hierarchies.iter().any(|h| h.has("hugetlb")) {
        skip("this host has a v1 hugetlb hierarchy; the hybrid fallback is not used");
        return;
    }
    let Some(u) = unified else {
        skip("no cgroup2 mount on this v1 host");
        return;
    };
    let offered = std::fs::read_to_string(u.mountpoint.join("cgroup.controllers")).unwrap();
    if !offered.split_whitespace().any(|c| c == "hugetlb") {
        skip("the cgroup2 mount does not offer hugetlb");
        return;
    }
    if !Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists() {
        skip("no 2MB hugepages on this kernel");
        return;
    }
    mgr.create().unwrap();
    mgr.apply_resources(&resources(serde_json::json!({
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]
    })))
    .unwrap();
    let d = dir(&mgr, "unified");
    assert_eq!(read(&d, "hugetlb.2MB.max"), "4194304");
    assert!(mgr.stats().unwrap().hugetlb.contains_key("2MB"));
    mgr.remove().unwrap();
    assert!(!d.exists());
}

/// The same `linux` section through Debian's runc and through berth gives
/// the same v1 cgroup files (runc is the tie-breaker where the spec is loose).
#[test]
fn limits_match_runc_for_the_same_config() {
    let Some((host, mgr)) = setup("berth-diff") else {
        return;
    };
    if !Path::new("/usr/sbin/runc").exists() {
        skip("runc is not installed (Debian package runc)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let runc_path = format!("/{}/runc-diff", host.cgroup_parent());
    let mut bundle = berth_testsupport::bundle::Bundle::busybox(tmp.path().join("bundle")).unwrap();
    let mut json = serde_json::json!({
        "devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "r"}
        ],
        "cpu": {"shares": 512, "quota": 30000, "period": 100000, "cpus": "0", "mems": "0"},
        "memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728},
        "pids": {"limit": 42},
        "blockIO": {"weight": 300}
    });
    if let Some(why) = berth_testsupport::kernel::blkio_weight_missing() {
        skip(&why);
        json["blockIO"] = serde_json::json!({});
    }
    let resources = resources(json);
    bundle
        .set_args(["sleep", "60"])
        .with_config(|spec| {
            let mut linux = spec.linux().clone().unwrap_or_default();
            linux.set_resources(Some(resources.clone()));
            linux.set_cgroups_path(Some(runc_path.clone().into()));
            spec.set_linux(Some(linux));
        })
        .write()
        .unwrap();
    let linux = bundle.config().linux().clone().unwrap();
    let root = tmp.path().join("runc-root");
    let root = root.to_str().unwrap();
    let bundle_dir = bundle.path().to_str().unwrap();
    // The container's init keeps runc's stdio: give it files, not pipes,
    // or reading runc's output would wait for the container.
    let log = tmp.path().join("runc.err");
    let mut child = host
        .spawn(
            std::process::Command::new("/usr/sbin/runc")
                .args(["--root", root, "create", "--bundle", bundle_dir, "diff"])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap()),
        )
        .unwrap();
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "runc create: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    mgr.create().unwrap();
    mgr.apply_linux(&linux).unwrap();

    let files = [
        ("cpu", "cpu.shares"),
        ("cpu", "cpu.cfs_quota_us"),
        ("cpu", "cpu.cfs_period_us"),
        ("cpuset", "cpuset.cpus"),
        ("cpuset", "cpuset.mems"),
        ("memory", "memory.limit_in_bytes"),
        ("memory", "memory.soft_limit_in_bytes"),
        ("memory", "memory.memsw.limit_in_bytes"),
        ("pids", "pids.max"),
        ("blkio", "blkio.bfq.weight"),
        ("blkio", "blkio.weight"),
        ("devices", "devices.list"),
    ];
    let mut compared = 0;
    for (controller, file) in files {
        let ours = dir(&mgr, controller);
        let theirs = ours.parent().unwrap().join("runc-diff");
        if !ours.join(file).exists() {
            continue;
        }
        let mut a: Vec<String> = read(&ours, file).lines().map(str::to_owned).collect();
        let mut b: Vec<String> = read(&theirs, file).lines().map(str::to_owned).collect();
        a.sort();
        b.sort();
        assert_eq!(a, b, "{controller}/{file}: berth vs runc");
        compared += 1;
    }
    assert!(compared >= 10, "only {compared} files compared");
    let out = host
        .output(
            std::process::Command::new("/usr/sbin/runc")
                .args(["--root", root, "delete", "--force", "diff"]),
        )
        .unwrap();
    assert!(
        out.status.success(),
        "runc delete: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    mgr.remove().unwrap();
}

/// Two runtimes creating containers under one new parent at once: the one
/// that finds the parent already made (by the other, which has not yet
/// copied the cpusets into it) must still end up with a usable cpuset.
#[test]
fn cpuset_parent_made_by_someone_else_is_initialised() {
    let Some((host, _)) = setup("unused") else {
        return;
    };
    let path = format!("/{}/shared/c1", host.cgroup_parent());
    let mgr = CgroupManager::new(Some(&path), "c1").unwrap();
    // The other runtime's half-done parents: made, sets still empty.
    let leaf = dir(&mgr, "cpuset");
    let parent = leaf.parent().unwrap();
    std::fs::create_dir_all(parent).unwrap();
    assert_eq!(read(parent, "cpuset.cpus"), "");
    mgr.create().unwrap();
    let cpuset = dir(&mgr, "cpuset");
    assert_ne!(read(&cpuset, "cpuset.cpus"), "", "leaf cpus left empty");
    assert_ne!(read(&cpuset, "cpuset.mems"), "", "leaf mems left empty");
    let (mut child, stdin) = spawn_held(&host, "exit 0");
    mgr.add_pid(child.id() as i32).unwrap();
    go(stdin);
    assert!(child.wait().unwrap().success());
}
