//! `update` on cgroup v1 (this machine kind's hybrid layout): each flag
//! and the `-r` JSON land in the same cgroup files as under Debian's runc,
//! on running and paused containers; later readers see the saved limits.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod runtime_support;

use std::path::{Path, PathBuf};

use runtime_support::{edit_config, is_root, Env, Ran};
use serde_json::{json, Value};

const RUNC: &str = "/usr/sbin/runc";

fn v1_host() -> bool {
    let v1 = Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists();
    if !v1 {
        berth_testsupport::kernel::report_skip(
            "no cgroup v1 memory hierarchy (the v2 variant is vm_update_on_v2)",
        );
    }
    v1
}

fn have_runc() -> bool {
    let ok = Path::new(RUNC).exists();
    if !ok {
        berth_testsupport::kernel::report_skip("runc is not installed (Debian package runc)");
    }
    ok
}

/// The v1 file `ctl/file` of container `name`'s cgroup, trimmed.
fn cg(env: &Env, name: &str, ctl: &str, file: &str) -> String {
    let dir = PathBuf::from("/sys/fs/cgroup")
        .join(ctl)
        .join(env.cgroups_path(name).trim_start_matches('/'));
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| format!("<{e}>"))
        .trim()
        .to_owned()
}

/// The files `update` writes in the tests below.
const FILES: &[(&str, &str)] = &[
    ("memory", "memory.limit_in_bytes"),
    ("memory", "memory.memsw.limit_in_bytes"),
    ("memory", "memory.soft_limit_in_bytes"),
    ("cpu", "cpu.shares"),
    ("cpu", "cpu.cfs_period_us"),
    ("cpu", "cpu.cfs_quota_us"),
    ("cpuset", "cpuset.cpus"),
    ("pids", "pids.max"),
    ("blkio", "blkio.bfq.weight"),
];

fn snapshot(env: &Env, name: &str) -> Vec<String> {
    FILES
        .iter()
        .map(|(ctl, f)| format!("{f}={}", cg(env, name, ctl, f)))
        .collect()
}

/// The major:minor of a block device this host has (for throttle rules).
fn a_block_device() -> Option<String> {
    std::fs::read_dir("/sys/block")
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with("loop"))
        .find_map(|e| std::fs::read_to_string(e.path().join("dev")).ok())
        .map(|d| d.trim().to_owned())
}

/// Runs `rt` ("berth" or "runc") with `args` in the sandbox.
fn cmd(env: &Env, rt: &str, args: &[&str]) -> Ran {
    match rt {
        "berth" => env.berth(args),
        _ => env.runc(args),
    }
}

fn start(env: &Env, rt: &str, name: &str) {
    let b = env.bundle(name, "sleep 1000");
    edit_config(&b, |v| {
        v["linux"]["resources"] = json!({
            "memory": {"limit": 64 << 20},
            "cpu": {"shares": 1024, "quota": 20000, "period": 100000},
            "pids": {"limit": 50}
        });
    });
    let args = ["run", "-d", "--bundle", b.to_str().unwrap(), name];
    let r = match rt {
        "berth" => env.berth_bg(&args),
        _ => env.runc_bg(&args),
    };
    assert_eq!(r.code, 0, "{rt} run: {r:?}");
}

/// The same sequence of updates under runc and berth gives the same files.
/// Debian's runc is 1.1, which has no --cpu-idle/--cpu-burst and ignores
/// per-device blkio entries in `-r` (runc 1.3 takes both): those are
/// checked on berth alone, in the next test.
#[test]
fn update_flags_and_json_match_runc_on_v1() {
    if !is_root() || !v1_host() || !have_runc() {
        return;
    }
    let env = Env::new();
    let json_file = env.dir("upd").join("res.json");
    let resources = json!({
        "memory": {"limit": 200 << 20, "reservation": 50 << 20},
        "cpu": {"shares": 256}
    });
    std::fs::write(&json_file, resources.to_string()).unwrap();
    let json_path = json_file.to_str().unwrap();

    let mut seen = Vec::new();
    for rt in ["runc", "berth"] {
        let name = format!("upd-{rt}");
        let n = name.as_str();
        start(&env, rt, n);
        let mut steps: Vec<Vec<&str>> = vec![
            vec!["update", "--memory", "128m", "--memory-swap", "256m", n],
            vec!["update", "--memory-reservation", "32m", n],
            // Quota alone keeps the period; period alone keeps the quota.
            vec!["update", "--cpu-quota", "50000", n],
            vec!["update", "--cpu-period", "200000", n],
            vec!["update", "--cpu-share", "512", n],
            vec!["update", "--cpuset-cpus", "0", "--pids-limit", "30", n],
            // Shrinking memory below memory+swap needs the limit first.
            vec!["update", "--memory", "96m", "--memory-swap", "100m", n],
            // Unlimited memory with swap unset lifts memory+swap too.
            vec!["update", "--memory", "-1", n],
            vec!["update", "-r", json_path, n],
            vec!["update", "--pids-limit", "-1", n],
            vec!["update", "--cpu-quota", "-1", n],
        ];
        match berth_testsupport::kernel::blkio_weight_missing() {
            None => steps.push(vec!["update", "--blkio-weight", "500", n]),
            Some(why) => berth_testsupport::kernel::report_skip(&why),
        }
        let mut states = Vec::new();
        for step in &steps {
            let r = cmd(&env, rt, step);
            assert_eq!(r.code, 0, "{rt} {step:?}: {r:?}");
            states.push((step.join(" ").replace(&name, "ID"), snapshot(&env, n)));
        }
        // Refusals: what the kernel or the runtime does not allow.
        let mut refusals = Vec::new();
        for step in [
            vec!["update", "--cpu-share", "x", n],
            vec!["update", "--memory", "12q", n],
            vec!["update", "--memory-swap", "1m", n],
            // No realtime budget in the parent.
            vec!["update", "--cpu-rt-runtime", "1000", n],
        ] {
            refusals.push((
                step.join(" ").replace(&name, "ID"),
                cmd(&env, rt, &step).code != 0,
            ));
        }
        seen.push((states, refusals));
        cmd(&env, rt, &["delete", "-f", n]);
    }
    let (runc, berth) = (&seen[0], &seen[1]);
    for ((step, r), (_, b)) in runc.0.iter().zip(&berth.0) {
        assert_eq!(r, b, "after `{step}`: runc vs berth");
    }
    assert_eq!(runc.1, berth.1, "refusals: runc vs berth");
    assert!(
        runc.1.iter().all(|(_, refused)| *refused),
        "each bad update is refused: {:?}",
        runc.1
    );
}

/// A paused container takes an update (and stays paused); the saved
/// limits are what `events --stats` and a later update see; a stopped
/// container and unsupported flags are refused with a clear error.
#[test]
fn update_paused_saved_and_refused() {
    if !is_root() || !v1_host() {
        return;
    }
    let env = Env::new();
    start(&env, "berth", "upz");
    env.berth(&["pause", "upz"]).ok();
    env.berth(&["update", "--pids-limit", "40", "--memory", "100m", "upz"])
        .ok();
    assert_eq!(env.state("upz")["status"], "paused");
    assert_eq!(cg(&env, "upz", "pids", "pids.max"), "40");
    let ev: Value = serde_json::from_str(&env.berth(&["events", "--stats", "upz"]).ok()).unwrap();
    assert_eq!(ev["data"]["pids"]["limit"], 40, "{ev}");
    assert_eq!(ev["data"]["memory"]["usage"]["limit"], 100 << 20, "{ev}");
    env.berth(&["resume", "upz"]).ok();

    // runc 1.3's --cpu-burst and --cpu-idle.
    env.berth(&["update", "--cpu-burst", "1000", "--cpu-idle", "1", "upz"])
        .ok();
    assert_eq!(cg(&env, "upz", "cpu", "cpu.cfs_burst_us"), "1000");
    assert_eq!(cg(&env, "upz", "cpu", "cpu.idle"), "1");
    env.berth(&["update", "--cpu-idle", "0", "upz"]).ok();
    assert_eq!(cg(&env, "upz", "cpu", "cpu.idle"), "0");
    assert_eq!(cg(&env, "upz", "cpu", "cpu.cfs_burst_us"), "1000");

    // runc 1.3's per-device blkio entries in `-r`, merged by device.
    if let Some(d) = a_block_device() {
        let (maj, min) = d.split_once(':').unwrap();
        let (maj, min): (i64, i64) = (maj.parse().unwrap(), min.parse().unwrap());
        let f = env.dir("upz-json").join("blkio.json");
        for (read_bps, iops) in [(1048576, 100), (2097152, 200)] {
            let body = json!({"blockIO": {
                "throttleReadBpsDevice": [{"major": maj, "minor": min, "rate": read_bps}],
                "throttleWriteIOPSDevice": [{"major": maj, "minor": min, "rate": iops}]
            }});
            std::fs::write(&f, body.to_string()).unwrap();
            env.berth(&["update", "-r", f.to_str().unwrap(), "upz"])
                .ok();
            assert_eq!(
                cg(&env, "upz", "blkio", "blkio.throttle.read_bps_device"),
                format!("{d} {read_bps}")
            );
            assert_eq!(
                cg(&env, "upz", "blkio", "blkio.throttle.write_iops_device"),
                format!("{d} {iops}")
            );
        }
        let saved: Value = serde_json::from_str(
            &std::fs::read_to_string(env.root.join("upz/config.json")).unwrap(),
        )
        .unwrap();
        let list = &saved["linux"]["resources"]["blockIO"]["throttleReadBpsDevice"];
        assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    }

    // The saved config carries the merged limits.
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(env.root.join("upz/config.json")).unwrap())
            .unwrap();
    let r = &saved["linux"]["resources"];
    assert_eq!(r["pids"]["limit"], 40, "{r}");
    assert_eq!(r["memory"]["limit"], 100 << 20, "{r}");
    assert_eq!(r["cpu"]["quota"], 20000, "{r}");

    // `-r -` reads stdin.
    let mut c = std::process::Command::new(runtime_support::berth_bin());
    c.arg("runtime")
        .arg("--root")
        .arg(&env.root)
        .args(["update", "-r", "-", "upz"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = env.host.spawn(&mut c).unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(br#"{"pids":{"limit":25}}"#).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(cg(&env, "upz", "pids", "pids.max"), "25");

    // Kernel memory flags: ignored with runc 1.3's warning, nothing written.
    let before = cg(&env, "upz", "memory", "memory.kmem.tcp.limit_in_bytes");
    let r = env.berth(&[
        "update",
        "--kernel-memory",
        "10m",
        "--kernel-memory-tcp",
        "1m",
        "upz",
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains(
            "level=warning msg=\"Kernel memory settings are ignored and will be removed\""
        ),
        "{r:?}"
    );
    assert_eq!(
        cg(&env, "upz", "memory", "memory.kmem.tcp.limit_in_bytes"),
        before
    );

    let e = env
        .berth(&["update", "--l3-cache-schema", "L3:0=f", "upz"])
        .fails();
    assert!(e.contains("Intel RDT"), "{e}");
    let bad = env.dir("bad").join("bad.json");
    std::fs::write(&bad, "{\"memory\": [}").unwrap();
    let e = env
        .berth(&["update", "-r", bad.to_str().unwrap(), "upz"])
        .fails();
    assert!(e.contains("malformed resources JSON"), "{e}");
    let e = env.berth(&["update", "--pids-limit", "5", "nope"]).fails();
    assert!(e.contains("does not exist"), "{e}");

    env.berth(&["kill", "upz", "KILL"]).ok();
    for _ in 0..500 {
        if env.state("upz")["status"] == "stopped" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let e = env.berth(&["update", "--pids-limit", "5", "upz"]).fails();
    assert!(e.contains("stopped"), "{e}");
    env.berth(&["delete", "upz"]).ok();
}

/// What opening a node of an unregistered device (240:0, the local/
/// experimental range; made by the test in the container's /out) says:
/// "Operation not permitted" while the device cgroup denies it, "No such
/// device or address" once it is allowed (no driver behind it).
fn dev_probe(env: &Env, id: &str) -> String {
    let node = env.out(id).join("dev240");
    if !node.exists() {
        let path = std::ffi::CString::new(node.to_str().unwrap()).unwrap();
        // SAFETY: mknod with a NUL-terminated path and integer arguments.
        let r = unsafe { libc::mknod(path.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(240, 0)) };
        assert_eq!(
            r,
            0,
            "mknod {}: {}",
            node.display(),
            std::io::Error::last_os_error()
        );
    }
    let r = env.berth(&["exec", id, "sh", "-c", "cat /out/dev240 2>&1; true"]);
    assert_eq!(r.code, 0, "{r:?}");
    r.stdout
}

/// Device rules from `-r` replace the container's (the standard nodes stay
/// usable) and change without a gap: while the updates run, a loop in the
/// container keeps opening /dev/null and never fails; on v1 only the
/// difference is written, so devices.list never passes through "deny all".
#[test]
fn update_device_rules_without_a_gap() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let b = env.bundle(
        "updev",
        "while :; do cat /dev/null || echo gap >> /out/gap; [ -e /out/stop ] && break; done; sleep 1000",
    );
    env.berth_bg(&["run", "-d", "--bundle", b.to_str().unwrap(), "updev"])
        .ok();
    let first = dev_probe(&env, "updev");
    assert!(first.contains("Operation not permitted"), "{first}");
    let f = env.dir("updev-json").join("dev.json");
    let v1 = Path::new("/sys/fs/cgroup/devices").is_dir();
    for round in 0..3 {
        std::fs::write(
            &f,
            r#"{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":240,"minor":0,"access":"rwm"}]}"#,
        )
        .unwrap();
        env.berth(&["update", "-r", f.to_str().unwrap(), "updev"])
            .ok();
        let out = dev_probe(&env, "updev");
        assert!(
            out.contains("No such device or address"),
            "round {round}: {out}"
        );
        if v1 {
            let list = cg(&env, "updev", "devices", "devices.list");
            assert!(list.lines().any(|l| l == "c 240:0 rwm"), "{list}");
            assert!(list.lines().any(|l| l == "c 1:3 rwm"), "{list}");
        }
        std::fs::write(&f, r#"{"devices":[{"allow":false,"access":"rwm"}]}"#).unwrap();
        env.berth(&["update", "-r", f.to_str().unwrap(), "updev"])
            .ok();
        assert!(dev_probe(&env, "updev").contains("Operation not permitted"));
        if v1 {
            let list = cg(&env, "updev", "devices", "devices.list");
            assert!(!list.contains("240:0"), "{list}");
            assert!(list.lines().any(|l| l == "c 1:3 rwm"), "{list}");
        }
    }
    std::fs::write(env.out("updev").join("stop"), "").unwrap();
    assert_eq!(
        env.read_out("updev", "gap"),
        "",
        "/dev/null was denied during an update"
    );
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(env.root.join("updev/config.json")).unwrap())
            .unwrap();
    assert_eq!(
        saved["linux"]["resources"]["devices"],
        json!([{"allow": false, "access": "rwm"}])
    );
    env.berth(&["delete", "-f", "updev"]).ok();
}

/// The v2 file `file` of container `name`'s cgroup (pure v2 host), trimmed.
fn cg2(env: &Env, name: &str, file: &str) -> String {
    let dir = PathBuf::from("/sys/fs/cgroup").join(env.cgroups_path(name).trim_start_matches('/'));
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| format!("<{e}>"))
        .trim()
        .to_owned()
}

/// `update` on a pure cgroup v2 host (the VM harness): memory and swap
/// (memory.swap.max is the swap part of runc's memory+swap), cpu.max kept
/// as a pair, weight from shares, idle, pids, `unified` keys from `-r`;
/// on a paused container too; realtime limits refused (v2 has none).
#[test]
fn vm_update_on_v2() {
    berth_testsupport::require_cgroup_v2_pure!();
    if !is_root() {
        return;
    }
    let env = Env::new();
    start(&env, "berth", "up2");
    assert_eq!(cg2(&env, "up2", "cpu.max"), "20000 100000");
    env.berth(&["update", "--memory", "128m", "--memory-swap", "256m", "up2"])
        .ok();
    assert_eq!(cg2(&env, "up2", "memory.max"), (128u64 << 20).to_string());
    assert_eq!(
        cg2(&env, "up2", "memory.swap.max"),
        (128u64 << 20).to_string()
    );
    env.berth(&["update", "--cpu-quota", "50000", "up2"]).ok();
    assert_eq!(cg2(&env, "up2", "cpu.max"), "50000 100000");
    env.berth(&["update", "--cpu-period", "200000", "up2"]).ok();
    assert_eq!(cg2(&env, "up2", "cpu.max"), "50000 200000");
    env.berth(&["update", "--cpu-share", "512", "--pids-limit", "30", "up2"])
        .ok();
    let weight = berth_runtime::cgroups::shares_to_weight(512).unwrap();
    assert_eq!(cg2(&env, "up2", "cpu.weight"), weight.to_string());
    assert_eq!(cg2(&env, "up2", "pids.max"), "30");
    env.berth(&["update", "--cpu-burst", "1000", "up2"]).ok();
    assert_eq!(cg2(&env, "up2", "cpu.max.burst"), "1000");

    env.berth(&["pause", "up2"]).ok();
    env.berth(&["update", "--cpu-idle", "1", "--memory", "-1", "up2"])
        .ok();
    assert_eq!(cg2(&env, "up2", "cpu.idle"), "1");
    assert_eq!(cg2(&env, "up2", "memory.max"), "max");
    assert_eq!(env.state("up2")["status"], "paused");
    let f = env.dir("up2-json").join("r.json");
    std::fs::write(
        &f,
        r#"{"unified":{"pids.max":"21"},"memory":{"limit":100000000}}"#,
    )
    .unwrap();
    env.berth(&["update", "-r", f.to_str().unwrap(), "up2"])
        .ok();
    assert_eq!(cg2(&env, "up2", "pids.max"), "21");
    let ev: Value = serde_json::from_str(&env.berth(&["events", "--stats", "up2"]).ok()).unwrap();
    assert_eq!(ev["data"]["pids"]["limit"], 21, "{ev}");
    env.berth(&["resume", "up2"]).ok();

    // Device rules: the eBPF program is replaced. (This container's config
    // has no device rules of its own: it starts allowing every device.)
    std::fs::write(&f, r#"{"devices":[{"allow":false,"access":"rwm"}]}"#).unwrap();
    env.berth(&["update", "-r", f.to_str().unwrap(), "up2"])
        .ok();
    let out = dev_probe(&env, "up2");
    assert!(out.contains("Operation not permitted"), "{out}");
    assert_eq!(env.berth(&["exec", "up2", "cat", "/dev/null"]).code, 0);
    std::fs::write(
        &f,
        r#"{"devices":[{"allow":false,"access":"rwm"},{"allow":true,"type":"c","major":240,"minor":0,"access":"rwm"}]}"#,
    )
    .unwrap();
    env.berth(&["update", "-r", f.to_str().unwrap(), "up2"])
        .ok();
    let out = dev_probe(&env, "up2");
    assert!(out.contains("No such device or address"), "{out}");
    assert_eq!(env.berth(&["exec", "up2", "cat", "/dev/null"]).code, 0);

    let e = env
        .berth(&["update", "--cpu-rt-runtime", "1000", "up2"])
        .fails();
    assert!(e.contains("realtime"), "{e}");
    env.berth(&["delete", "-f", "up2"]).ok();
    assert!(!env.cgroup_exists("up2"));
}
