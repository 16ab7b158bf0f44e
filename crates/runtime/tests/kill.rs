//! `kill`: signal 0 and numbers, and the processes a container leaves
//! when its init is gone (`--all`, and SIGKILL with a shared PID
//! namespace, as runc 1.3).
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod runtime_support;

use std::path::{Path, PathBuf};

use runtime_support::{edit_config, is_root, Env};
use serde_json::json;

/// Host PIDs in container `name`'s cgroup (v1 pids hierarchy, or v2).
fn procs(env: &Env, name: &str) -> Vec<i32> {
    let rel = env.cgroups_path(name);
    let rel = rel.trim_start_matches('/');
    let dir = if Path::new("/sys/fs/cgroup/pids").is_dir() {
        PathBuf::from("/sys/fs/cgroup/pids").join(rel)
    } else {
        PathBuf::from("/sys/fs/cgroup").join(rel)
    };
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if done() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn signal_zero_and_numbers() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let b = env.bundle(
        "k0",
        "trap 'echo usr1 >> /out/got' USR1; echo ready > /out/ready; while :; do sleep 0.05; done",
    );
    env.berth_bg(&["run", "-d", "--bundle", b.to_str().unwrap(), "k0"])
        .ok();
    wait_for("ready", || !env.read_out("k0", "ready").is_empty());
    env.berth(&["kill", "k0", "0"]).ok();
    env.berth(&["kill", "--all", "k0", "0"]).ok();
    assert_eq!(env.state("k0")["status"], "running");
    env.berth(&["kill", "k0", &libc::SIGUSR1.to_string()]).ok();
    wait_for("USR1 handled", || env.read_out("k0", "got") == "usr1\n");
    let e = env.berth(&["kill", "k0", "99"]).fails();
    assert!(e.contains("unknown signal \"99\""), "{e}");
    let e = env.berth(&["kill", "k0", "NOPE"]).fails();
    assert!(e.contains("unknown signal"), "{e}");
    env.berth(&["kill", "k0", "9"]).ok();
    wait_for("stopped", || env.state("k0")["status"] == "stopped");
    // Signal 0 to a stopped container says it is not running.
    let e = env.berth(&["kill", "k0", "0"]).fails();
    assert!(e.contains("stopped"), "{e}");
    env.berth(&["delete", "k0"]).ok();
}

/// Without a PID namespace, a process the init started outlives it:
/// `kill --all` still reaches it (and with nothing left is no error), and
/// so does SIGKILL alone.
#[test]
fn processes_left_after_init_exit_are_reached() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    for (id, args) in [
        ("kall", vec!["kill", "--all", "kall", "TERM"]),
        ("kkill", vec!["kill", "kkill", "KILL"]),
    ] {
        let b = env.bundle(
            id,
            "setsid sleep 1000 < /dev/null > /dev/null 2>&1 & exit 0",
        );
        edit_config(&b, |v| {
            let ns = v["linux"]["namespaces"].as_array_mut().unwrap();
            ns.retain(|n| n["type"] != "pid");
            v["process"]["terminal"] = json!(false);
        });
        env.berth_bg(&["run", "-d", "--bundle", b.to_str().unwrap(), id])
            .ok();
        wait_for("init gone, sleep left", || {
            env.state(id)["status"] == "stopped" && procs(&env, id).len() == 1
        });
        // Without --all a stopped container's init cannot be signalled.
        let e = env.berth(&["kill", id, "TERM"]).fails();
        assert!(e.contains("stopped"), "{e}");
        env.berth(&args).ok();
        wait_for("the left process killed", || procs(&env, id).is_empty());
        // Nothing left: --all is still no error (as runc).
        env.berth(&["kill", "--all", id, "KILL"]).ok();
        env.berth(&["delete", id]).ok();
    }
}

/// `kill --all` on a paused container leaves it paused (signals wait for
/// the thaw); SIGKILL thaws it so the kill takes effect.
#[test]
fn kill_all_keeps_a_paused_container_paused() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let b = env.bundle(
        "kp",
        "trap 'echo hup >> /out/got' HUP; while :; do sleep 0.05; done",
    );
    env.berth_bg(&["run", "-d", "--bundle", b.to_str().unwrap(), "kp"])
        .ok();
    env.berth(&["pause", "kp"]).ok();
    env.berth(&["kill", "--all", "kp", "HUP"]).ok();
    assert_eq!(env.state("kp")["status"], "paused");
    env.berth(&["resume", "kp"]).ok();
    wait_for("HUP handled after resume", || {
        env.read_out("kp", "got") == "hup\n"
    });
    env.berth(&["pause", "kp"]).ok();
    env.berth(&["kill", "kp", "KILL"]).ok();
    wait_for("stopped", || env.state("kp")["status"] == "stopped");
    env.berth(&["delete", "kp"]).ok();
}
