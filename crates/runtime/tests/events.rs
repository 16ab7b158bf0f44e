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

/// Key paths of a JSON document in document order (serde_json's `Value`
/// sorts keys, so this walks the text with a visitor instead).
fn key_paths(json: &str) -> Vec<String> {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
    struct Walk<'a> {
        prefix: String,
        out: &'a mut Vec<String>,
    }
    impl<'de> DeserializeSeed<'de> for Walk<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Walk<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("json")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
            while let Some(k) = m.next_key::<String>()? {
                let p = format!("{}/{k}", self.prefix);
                self.out.push(p.clone());
                m.next_value_seed(Walk {
                    prefix: p,
                    out: &mut *self.out,
                })?;
            }
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<(), A::Error> {
            while s.next_element::<IgnoredAny>()?.is_some() {}
            Ok(())
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
    }
    let mut out = Vec::new();
    let mut de = serde_json::Deserializer::from_str(json);
    Walk {
        prefix: String::new(),
        out: &mut out,
    }
    .deserialize(&mut de)
    .unwrap();
    out
}

/// `events --stats` from runc and berth for the same config: the keys both
/// print come in the same order (the data too, not only type/id/data).
#[test]
fn stats_keys_in_runcs_order() {
    if !is_root() {
        return;
    }
    if !Path::new(RUNC).exists() {
        berth_testsupport::kernel::report_skip("runc is not installed (Debian package runc)");
        return;
    }
    let env = Env::new();
    let mut docs = Vec::new();
    for rt in ["runc", "berth"] {
        let id = format!("evk-{rt}");
        let b = env.bundle(&id, "sleep 1000");
        edit_config(&b, |v| {
            v["linux"]["resources"]["memory"] = json!({"limit": 64 << 20});
            v["linux"]["resources"]["pids"] = json!({"limit": 20});
        });
        let args = ["run", "-d", "--bundle", b.to_str().unwrap(), id.as_str()];
        let stats = ["events", "--stats", id.as_str()];
        let del = ["delete", "-f", id.as_str()];
        let out = match rt {
            "berth" => {
                env.berth_bg(&args).ok();
                let o = env.berth(&stats).ok();
                env.berth(&del).ok();
                o
            }
            _ => {
                assert_eq!(env.runc_bg(&args).code, 0);
                let o = env.runc(&stats).ok();
                env.runc(&del).ok();
                o
            }
        };
        docs.push(key_paths(&out));
    }
    let (runc, berth) = (&docs[0], &docs[1]);
    let common_r: Vec<&String> = runc.iter().filter(|k| berth.contains(k)).collect();
    let common_b: Vec<&String> = berth.iter().filter(|k| runc.contains(k)).collect();
    assert!(
        common_r.len() > 20,
        "too little in common: {runc:?} / {berth:?}"
    );
    assert_eq!(common_r, common_b, "key order: runc vs berth");
}

/// The stream on a pure cgroup v2 host (the VM harness): OOM kills come
/// from memory.events.
#[test]
fn vm_events_oom_on_v2() {
    berth_testsupport::require_cgroup_v2_pure!();
    if !is_root() {
        return;
    }
    let env = Env::new();
    let lines = oom_stream(&env, "berth", "ev2");
    assert!(
        lines.iter().any(|l| l == r#"{"type":"oom","id":"ev2"}"#),
        "{lines:?}"
    );
    assert!(lines
        .iter()
        .any(|l| l.starts_with(r#"{"type":"stats","id":"ev2","data":{"#)));
}
