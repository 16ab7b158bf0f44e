//! The remaining verbs: pause/resume (freezer), events --stats, features,
//! spec, cgroups; and the state lock under concurrent operations.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod runtime_support;

use runtime_support::{berth_bin, edit_config, is_root, Env};
use serde_json::{json, Value};

#[test]
fn pause_resume_and_stats() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let b = env.bundle("pz", "while :; do date +%s%N > /out/tick; sleep 0.01; done");
    edit_config(&b, |v| {
        v["linux"]["resources"]["pids"] = json!({"limit": 50})
    });
    env.berth_bg(&["run", "-d", "--bundle", b.to_str().unwrap(), "pz"])
        .ok();

    let e = env.berth(&["resume", "pz"]).fails();
    assert!(e.contains("running"), "{e}");
    env.berth(&["pause", "pz"]).ok();
    assert_eq!(env.state("pz")["status"], "paused");
    let frozen_tick = env.read_out("pz", "tick");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(
        env.read_out("pz", "tick"),
        frozen_tick,
        "a paused container ran"
    );
    let e = env.berth(&["pause", "pz"]).fails();
    assert!(e.contains("paused"), "{e}");
    let e = env.berth(&["exec", "pz", "true"]).fails();
    assert!(e.contains("paused"), "{e}");

    let ev: Value = serde_json::from_str(&env.berth(&["events", "--stats", "pz"]).ok()).unwrap();
    assert_eq!(ev["type"], "stats");
    assert_eq!(ev["id"], "pz");
    assert!(ev["data"]["pids"]["current"].as_u64().unwrap() >= 1, "{ev}");
    assert_eq!(ev["data"]["pids"]["limit"], 50, "{ev}");

    env.berth(&["resume", "pz"]).ok();
    assert_eq!(env.state("pz")["status"], "running");
    let mut moved = false;
    for _ in 0..300 {
        if env.read_out("pz", "tick") != frozen_tick {
            moved = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(moved, "resumed container did not run");

    let report = env.berth(&["cgroups", "pz"]).ok();
    assert!(report.contains(&env.cgroups_path("pz")), "{report}");

    // A paused container can still be force-deleted.
    env.berth(&["pause", "pz"]).ok();
    env.berth(&["delete", "--force", "pz"]).ok();
    assert!(!env.cgroup_exists("pz"));
}

#[test]
fn features_and_spec() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let f: Value = serde_json::from_str(&env.berth(&["features"]).ok()).unwrap();
    assert_eq!(f["ociVersionMin"], "1.0.0");
    assert_eq!(f["ociVersionMax"], "1.3.0");
    assert_eq!(f["hooks"].as_array().unwrap().len(), 6);
    let ns: Vec<&str> = f["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    for n in [
        "pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time",
    ] {
        assert!(ns.contains(&n), "{n}");
    }
    assert!(f["linux"]["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "CAP_SYS_ADMIN"));
    assert_eq!(f["linux"]["cgroup"]["systemd"], false);
    assert_eq!(f["linux"]["seccomp"]["enabled"], true);

    let dir = env.dir("specdir");
    env.berth(&["spec", "--bundle", dir.to_str().unwrap()]).ok();
    let spec: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(spec["root"]["path"], "rootfs");
    assert_eq!(spec["process"]["args"], json!(["sh"]));
    let e = env
        .berth(&["spec", "--bundle", dir.to_str().unwrap()])
        .fails();
    assert!(e.contains("already exists"), "{e}");
    let e = env
        .berth(&[
            "spec",
            "--rootless",
            "--bundle",
            env.dir("r").to_str().unwrap(),
        ])
        .fails();
    assert!(e.contains("--rootless is not supported"), "{e}");

    // The default spec runs (with a busybox rootfs and no terminal).
    let b = env.bundle("fromspec", "true");
    std::fs::copy(dir.join("config.json"), b.join("config.json")).unwrap();
    edit_config(&b, |v| {
        v["process"]["terminal"] = json!(false);
        v["process"]["args"] = json!(["sh", "-c", "echo spec-ok"]);
    });
    assert_eq!(
        env.berth(&["run", "--bundle", b.to_str().unwrap(), "fromspec"])
            .ok(),
        "spec-ok\n"
    );
}

#[test]
fn concurrent_creates_of_one_id_yield_one_container() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let b = env.bundle("race", "exec sleep 1000");
    let logs = env.dir("race-logs");
    let mut children = Vec::new();
    for i in 0..4 {
        let mut c = std::process::Command::new(berth_bin());
        c.arg("runtime")
            .arg("--root")
            .arg(&env.root)
            .args(["create", "--bundle", b.to_str().unwrap(), "race"])
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(logs.join(format!("{i}.out"))).unwrap())
            .stderr(std::fs::File::create(logs.join(format!("{i}.err"))).unwrap());
        children.push(env.host.spawn(&mut c).unwrap());
    }
    let ok = children
        .into_iter()
        .map(|mut c| c.wait().unwrap().success())
        .filter(|s| *s)
        .count();
    assert_eq!(ok, 1);
    for i in 0..4 {
        let err = std::fs::read_to_string(logs.join(format!("{i}.err"))).unwrap();
        assert!(
            err.is_empty() || err.contains("container race already exists"),
            "{err}"
        );
    }
    assert_eq!(env.state("race")["status"], "created");
    env.berth(&["delete", "--force", "race"]).ok();
}

#[test]
fn errors_go_to_the_log_file_as_json() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let log = env.dir("logs").join("runtime.json");
    let e = env
        .berth(&[
            "--log",
            log.to_str().unwrap(),
            "--log-format",
            "json",
            "state",
            "ghost",
        ])
        .fails();
    assert!(e.contains("container ghost does not exist"), "{e}");
    let text = std::fs::read_to_string(&log).unwrap();
    let line: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    // runc's shape, which containerd parses to report the failure.
    assert_eq!(line["level"], "error", "{line}");
    assert!(
        line["msg"]
            .as_str()
            .unwrap()
            .contains("container ghost does not exist"),
        "{line}"
    );
    assert!(line["time"].as_str().unwrap().ends_with('Z'), "{line}");
}

#[test]
fn kill_a_created_container_and_limits_are_enforced() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let b = env.bundle("kc", "echo ran > /out/ran");
    env.berth_bg(&["create", "--bundle", b.to_str().unwrap(), "kc"])
        .ok();
    env.berth(&["kill", "kc", "KILL"]).ok();
    for _ in 0..500 {
        if env.state("kc")["status"] == "stopped" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(env.state("kc")["status"], "stopped");
    assert_eq!(env.read_out("kc", "ran"), "");
    env.berth(&["delete", "kc"]).ok();

    // Past its pids limit a fork is refused (busybox sh gives up at the
    // first failed fork); with room for them all, the same script ends well.
    let script = "for i in 1 2 3 4 5 6 7 8; do sleep 100 & done 2>/out/err; echo done > /out/done";
    for (id, limit, ok) in [("pids4", 4, false), ("pids20", 20, true)] {
        let b = env.bundle(id, script);
        edit_config(&b, |v| {
            v["linux"]["resources"]["pids"] = json!({"limit": limit})
        });
        let r = env.berth(&["run", "--bundle", b.to_str().unwrap(), id]);
        assert_eq!(r.code == 0, ok, "{id}: {r:?}");
        assert_eq!(env.read_out(id, "done") == "done\n", ok, "{id}");
        if !ok {
            let err = env.read_out(id, "err");
            assert!(
                err.contains("fork") || err.contains("Resource temporarily unavailable"),
                "{err}"
            );
        }
    }

    // Past its memory limit it is OOM-killed.
    let b = env.bundle("oom", "x=a; while :; do x=$x$x; done");
    edit_config(&b, |v| {
        v["linux"]["resources"]["memory"] =
            json!({"limit": 16 * 1024 * 1024, "swap": 16 * 1024 * 1024})
    });
    let r = env.berth(&["run", "--bundle", b.to_str().unwrap(), "oom"]);
    assert_eq!(r.code, 128 + 9, "{r:?}");
}
