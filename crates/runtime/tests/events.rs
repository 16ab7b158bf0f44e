//! `events`: the stream (stats every `--interval`, an `oom` event per OOM
//! kill, ending when the container is deleted) and `--stats`, in runc's
//! JSON shape and key order, side by side with Debian's runc.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod runtime_support;

use std::path::Path;
use std::process::{Command, Stdio};

use runtime_support::{berth_bin, edit_config, is_root, Env};
use serde_json::{json, Value};

const RUNC: &str = "/usr/sbin/runc";

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if done() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("timed out waiting for {what}");
}

/// Streams `events --interval 100ms ID` under `rt` while an exec is OOM
/// killed in the container, then deletes it; returns the event lines.
fn oom_stream(env: &Env, rt: &str, id: &str) -> Vec<String> {
    let b = env.bundle(id, "echo ready > /out/ready; while :; do sleep 0.05; done");
    edit_config(&b, |v| {
        v["linux"]["resources"]["memory"] = json!({"limit": 16 << 20, "swap": 16 << 20});
    });
    let args = ["run", "-d", "--bundle", b.to_str().unwrap(), id];
    let r = match rt {
        "berth" => env.berth_bg(&args),
        _ => env.runc_bg(&args),
    };
    assert_eq!(r.code, 0, "{rt}: {r:?}");
    wait_for("ready", || !env.read_out(id, "ready").is_empty());

    let log = env.dir("events").join(format!("{id}.jsonl"));
    let mut c = match rt {
        "berth" => {
            let mut c = Command::new(berth_bin());
            c.arg("runtime").arg("--root").arg(&env.root);
            c
        }
        _ => {
            let mut c = Command::new(RUNC);
            c.arg("--root").arg(env.runc_root());
            c
        }
    };
    c.args(["events", "--interval", "100ms", id])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::inherit());
    let mut events = env.host.spawn(&mut c).unwrap();
    let lines = || -> Vec<String> {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    };
    wait_for("two stats events", || {
        lines()
            .iter()
            .filter(|l| l.contains(r#""type":"stats""#))
            .count()
            >= 2
    });
    let hog = ["exec", id, "sh", "-c", "x=a; while :; do x=$x$x; done"];
    let r = match rt {
        "berth" => env.berth(&hog),
        _ => env.runc(&hog),
    };
    assert_eq!(r.code, 137, "{rt}: the hog was not OOM-killed: {r:?}");
    wait_for("an oom event", || {
        lines().iter().any(|l| l.contains(r#""type":"oom""#))
    });
    let del = ["delete", "-f", id];
    match rt {
        "berth" => env.berth(&del).ok(),
        _ => env.runc(&del).ok(),
    };
    // The stream ends with the container's cgroup.
    let status = events.wait().unwrap();
    assert!(status.success(), "{rt} events: {status:?}");
    lines()
}

#[test]
fn stream_stats_and_oom_like_runc() {
    if !is_root() {
        return;
    }
    if !Path::new("/sys/fs/cgroup/memory/memory.oom_control").exists() {
        berth_testsupport::kernel::report_skip("no cgroup v1 memory controller");
        return;
    }
    let env = Env::new();
    let berth = oom_stream(&env, "berth", "evb");
    let stats: Vec<&String> = berth
        .iter()
        .filter(|l| l.contains(r#""type":"stats""#))
        .collect();
    for l in &stats {
        assert!(
            l.starts_with(r#"{"type":"stats","id":"evb","data":{"#),
            "{l}"
        );
        let v: Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["data"]["memory"]["usage"]["limit"], 16 << 20, "{l}");
    }
    let ooms: Vec<&String> = berth
        .iter()
        .filter(|l| l.contains(r#""type":"oom""#))
        .collect();
    assert_eq!(ooms[0], r#"{"type":"oom","id":"evb"}"#);

    if !Path::new(RUNC).exists() {
        berth_testsupport::kernel::report_skip("runc is not installed (Debian package runc)");
        return;
    }
    let runc = oom_stream(&env, "runc", "evr");
    let first = |lines: &[String], kind: &str, id: &str| -> String {
        lines
            .iter()
            .find(|l| l.contains(&format!(r#""type":"{kind}""#)))
            .unwrap()
            .replace(id, "ID")
    };
    assert_eq!(first(&runc, "oom", "evr"), first(&berth, "oom", "evb"));
    let prefix = |l: String| l[..l.find("\"data\"").unwrap()].to_owned();
    assert_eq!(
        prefix(first(&runc, "stats", "evr")),
        prefix(first(&berth, "stats", "evb"))
    );
}

#[test]
fn one_stats_sample_and_refusals() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let b = env.bundle("ev1", "sleep 1000");
    env.berth_bg(&["run", "-d", "--bundle", b.to_str().unwrap(), "ev1"])
        .ok();
    let out = env.berth(&["events", "--stats", "ev1"]).ok();
    assert!(
        out.starts_with(r#"{"type":"stats","id":"ev1","data":{"#),
        "{out}"
    );
    assert_eq!(out.lines().count(), 1);
    for bad in ["0", "-1s", "5x"] {
        let e = env.berth(&["events", "--interval", bad, "ev1"]).fails();
        assert!(e.contains("interval"), "{bad}: {e}");
    }
    env.berth(&["kill", "ev1", "KILL"]).ok();
    wait_for("stopped", || env.state("ev1")["status"] == "stopped");
    let e = env.berth(&["events", "ev1"]).fails();
    assert!(e.contains("stopped"), "{e}");
    env.berth(&["delete", "ev1"]).ok();
    let e = env.berth(&["events", "--stats", "ev1"]).fails();
    assert!(e.contains("does not exist"), "{e}");
}
