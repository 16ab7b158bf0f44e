//! Hooks: every kind runs at its point of the lifecycle, in the right
//! namespace, with the state on stdin, its args and env, and its timeout.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod runtime_support;

use std::path::Path;

use runtime_support::{edit_config, is_root, Env};
use serde_json::{json, Value};

/// A hook that records its name, its stdin and `$HOOK_ENV` into `dir`
/// (a path valid where the hook runs) and appends to `dir/order`.
fn recorder(name: &str, dir: &Path) -> Value {
    let d = dir.display();
    json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", format!(
            "cat > {d}/{name}.json; echo \"$HOOK_ENV $0\" > {d}/{name}.env; \
             readlink /proc/self/ns/uts > {d}/{name}.uts; echo {name} >> {d}/order"
        ), name],
        "env": [format!("HOOK_ENV=env-of-{name}")]
    })
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
    )
    .unwrap()
}

#[test]
fn every_hook_runs_in_order_with_state_on_stdin() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let rec = env.dir("hooks");
    let b = env.bundle(
        "hk",
        "echo main >> /out/order; cat /out/startContainer.env > /out/seen-from-main",
    );
    let out = env.out("hk");
    edit_config(&b, |v| {
        v["annotations"] = json!({"com.example.a": "b"});
        v["hooks"] = json!({
            "prestart": [recorder("prestart", &rec)],
            "createRuntime": [recorder("createRuntime", &rec)],
            "createContainer": [recorder("createContainer", &rec)],
            // Runs inside the container after pivot_root: its paths are
            // the container's.
            "startContainer": [recorder("startContainer", Path::new("/out"))],
            "poststart": [recorder("poststart", &rec)],
            "poststop": [recorder("poststop", &rec)]
        });
    });
    env.berth_bg(&["create", "--bundle", b.to_str().unwrap(), "hk"])
        .ok();
    let pid = env.state("hk")["pid"].as_i64().unwrap();
    for name in ["prestart", "createRuntime", "createContainer"] {
        let st = read_json(&rec.join(format!("{name}.json")));
        assert_eq!(st["status"], "creating", "{name}: {st}");
        assert_eq!(st["id"], "hk");
        assert_eq!(st["pid"], pid, "{name}");
        assert_eq!(st["bundle"], b.to_str().unwrap());
        assert_eq!(st["annotations"]["com.example.a"], "b");
        assert_eq!(
            std::fs::read_to_string(rec.join(format!("{name}.env"))).unwrap(),
            format!("env-of-{name} {name}\n")
        );
    }
    // Runtime-namespace hooks see the sandbox's UTS namespace; the
    // createContainer hook sees the container's.
    let host_uts = env.host.sh("readlink /proc/self/ns/uts").unwrap();
    let container_uts = env
        .host
        .sh(&format!("readlink /proc/{pid}/ns/uts"))
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(rec.join("createRuntime.uts")).unwrap(),
        host_uts
    );
    assert_eq!(
        std::fs::read_to_string(rec.join("createContainer.uts")).unwrap(),
        container_uts
    );
    assert!(!out.join("startContainer.json").exists());

    env.berth(&["start", "hk"]).ok();
    for _ in 0..500 {
        if env.state("hk")["status"] == "stopped" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let st = read_json(&out.join("startContainer.json"));
    assert_eq!(st["status"], "created");
    assert_eq!(
        std::fs::read_to_string(out.join("startContainer.uts")).unwrap(),
        container_uts
    );
    assert_eq!(read_json(&rec.join("poststart.json"))["status"], "running");
    env.berth(&["delete", "hk"]).ok();
    let st = read_json(&rec.join("poststop.json"));
    assert_eq!(st["status"], "stopped");
    assert!(st.get("pid").is_none() || st["pid"] == 0, "{st}");

    let order = std::fs::read_to_string(rec.join("order")).unwrap();
    let mut order: Vec<&str> = order.lines().collect();
    let inside = std::fs::read_to_string(out.join("order")).unwrap();
    // startContainer and the main process log inside the container.
    assert_eq!(inside, "startContainer\nmain\n");
    // poststart runs after start, possibly while main is still running.
    order.retain(|l| *l != "poststart");
    assert_eq!(
        order,
        ["prestart", "createRuntime", "createContainer", "poststop"]
    );
}

#[test]
fn failing_and_slow_hooks() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let slow = json!({"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1});

    let b = env.bundle("slowrt", "true");
    edit_config(&b, |v| {
        v["hooks"] = json!({"createRuntime": [slow.clone()]})
    });
    let e = env
        .berth_bg(&["create", "--bundle", b.to_str().unwrap(), "slowrt"])
        .fails();
    assert!(
        e.contains("createRuntime hook /bin/sleep timed out after 1s"),
        "{e}"
    );
    assert!(!env.root.join("slowrt").exists());
    assert!(!env.cgroup_exists("slowrt"));

    let b = env.bundle("slowcc", "true");
    edit_config(&b, |v| {
        v["hooks"] = json!({"createContainer": [slow.clone()]})
    });
    let e = env
        .berth_bg(&["create", "--bundle", b.to_str().unwrap(), "slowcc"])
        .fails();
    assert!(
        e.contains("createContainer hook /bin/sleep timed out"),
        "{e}"
    );
    assert!(!env.root.join("slowcc").exists());

    // A failing startContainer hook stops the container before the
    // program runs.
    let b = env.bundle("badstart", "echo ran > /out/ran");
    edit_config(&b, |v| {
        v["hooks"] = json!({"startContainer": [{"path": "/bin/false"}]})
    });
    env.berth_bg(&["create", "--bundle", b.to_str().unwrap(), "badstart"])
        .ok();
    env.berth(&["start", "badstart"]).ok();
    for _ in 0..500 {
        if env.state("badstart")["status"] == "stopped" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(env.read_out("badstart", "ran"), "");
    env.berth(&["delete", "badstart"]).ok();

    // A failing poststart hook is a warning; the container runs on.
    let b = env.bundle("badpost", "echo ran > /out/ran");
    edit_config(
        &b,
        |v| {
            v["hooks"] =
                json!({"poststart": [{"path": "/bin/false"}], "poststop": [{"path": "/bin/false"}]})
        },
    );
    let r = env.berth(&["run", "--bundle", b.to_str().unwrap(), "badpost"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("poststart hook /bin/false"), "{r:?}");
    assert!(r.stderr.contains("poststop hook /bin/false"), "{r:?}");
    assert_eq!(env.read_out("badpost", "ran"), "ran\n");
    assert!(!env.root.join("badpost").exists());
}
