//! The container lifecycle through `berth runtime`: create → start →
//! state → kill → delete, run in both modes, list, ps, pid files, and the
//! spec's rule that an operation in the wrong state fails and changes
//! nothing.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod runtime_support;

use std::path::Path;

use runtime_support::{is_root, Env};

/// The container's PIDs once there are `n` of them (its processes fork in
/// the background).
fn wait_pids(env: &Env, id: &str, n: usize) -> Vec<i64> {
    let mut pids: Vec<i64> = Vec::new();
    for _ in 0..500 {
        pids = serde_json::from_str(&env.berth(&["ps", "--format", "json", id]).ok()).unwrap();
        if pids.len() >= n {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    pids
}

fn wait_status(env: &Env, id: &str, want: &str) {
    for _ in 0..500 {
        if env.state(id)["status"] == want {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("{id} never reached {want}: {}", env.state(id));
}

#[test]
fn create_start_kill_delete() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let b = env.bundle("c1", "echo started > /out/started; exec sleep 1000");
    let bs = b.to_str().unwrap();
    let pid_file = env.dir("pids").join("c1.pid");

    env.berth_bg(&[
        "create",
        "--bundle",
        bs,
        "--pid-file",
        pid_file.to_str().unwrap(),
        "c1",
    ])
    .ok();
    let st = env.state("c1");
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], "c1");
    assert_eq!(st["bundle"], bs);
    assert_eq!(st["rootfs"], b.join("rootfs").to_str().unwrap());
    assert!(st["created"].as_str().unwrap().ends_with('Z'));
    let pid = st["pid"].as_i64().unwrap();
    assert!(pid > 0);
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), pid.to_string());
    // The user's program has not run yet.
    assert_eq!(env.read_out("c1", "started"), "");
    assert!(env.root.join("c1/exec.fifo").exists());

    // Wrong-state operations fail and change nothing.
    let e = env.berth(&["delete", "c1"]).fails();
    assert!(e.contains("created"), "{e}");
    assert_eq!(env.state("c1")["status"], "created");

    env.berth(&["start", "c1"]).ok();
    assert_eq!(env.state("c1")["status"], "running");
    for _ in 0..500 {
        if env.read_out("c1", "started") == "started\n" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(env.read_out("c1", "started"), "started\n");
    let e = env.berth(&["start", "c1"]).fails();
    assert!(e.contains("running"), "{e}");
    let e = env.berth(&["delete", "c1"]).fails();
    assert!(e.contains("running"), "{e}");

    env.berth(&["kill", "c1", "KILL"]).ok();
    wait_status(&env, "c1", "stopped");
    assert_eq!(env.state("c1")["pid"], 0);
    let e = env.berth(&["kill", "c1", "TERM"]).fails();
    assert!(e.contains("stopped"), "{e}");

    assert!(env.cgroup_exists("c1"));
    env.berth(&["delete", "c1"]).ok();
    assert!(!env.root.join("c1").exists());
    assert!(!env.cgroup_exists("c1"));
    let e = env.berth(&["state", "c1"]).fails();
    assert!(e.contains("does not exist"), "{e}");
}

#[test]
fn run_in_the_foreground_returns_the_exit_code_and_cleans_up() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let b = env.bundle("fg", "echo out-line; echo err-line >&2; exit 7");
    let r = env.berth(&["run", "--bundle", b.to_str().unwrap(), "fg"]);
    assert_eq!(r.code, 7, "{r:?}");
    assert_eq!(r.stdout, "out-line\n");
    assert_eq!(r.stderr, "err-line\n");
    assert!(!env.root.join("fg").exists());
    assert!(!env.cgroup_exists("fg"));
}

/// Starts `berth runtime run` in the foreground as a child of the test.
fn spawn_run(env: &Env, bundle: &Path, id: &str) -> std::process::Child {
    let mut c = std::process::Command::new(runtime_support::berth_bin());
    c.arg("runtime")
        .arg("--root")
        .arg(&env.root)
        .args(["run", "--bundle", bundle.to_str().unwrap(), id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    env.host.spawn(&mut c).unwrap()
}

#[test]
fn foreground_run_forwards_signals_and_reports_signal_deaths() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    // SIGTERM to `run` reaches the container, whose trap exits 3.
    let b = env.bundle(
        "fwd",
        "trap 'exit 3' TERM; echo ready > /out/ready; while :; do sleep 0.1; done",
    );
    let mut run = spawn_run(&env, &b, "fwd");
    while env.read_out("fwd", "ready").is_empty() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(run.id() as i32, libc::SIGTERM) };
    assert_eq!(run.wait().unwrap().code(), Some(3));
    assert!(!env.root.join("fwd").exists());

    // Killed from outside: 128 + 9.
    let b = env.bundle("killed", "echo ready > /out/ready; exec sleep 1000");
    let mut run = spawn_run(&env, &b, "killed");
    while env.read_out("killed", "ready").is_empty() {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    env.berth(&["kill", "killed", "KILL"]).ok();
    assert_eq!(run.wait().unwrap().code(), Some(128 + 9));
    assert!(!env.root.join("killed").exists());
    assert!(!env.cgroup_exists("killed"));
}

#[test]
fn run_detached_list_ps_and_force_delete() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let b = env.bundle("d1", "sleep 1000 & exec sleep 1000");
    env.berth_bg(&["run", "-d", "--bundle", b.to_str().unwrap(), "d1"])
        .ok();
    assert_eq!(env.state("d1")["status"], "running");

    let list: serde_json::Value =
        serde_json::from_str(&env.berth(&["list", "--format", "json"]).ok()).unwrap();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["d1"]);
    let table = env.berth(&["list"]).ok();
    let mut lines = table.lines();
    assert!(lines.next().unwrap().starts_with("ID"));
    assert!(lines.next().unwrap().contains("running"));

    let pids = wait_pids(&env, "d1", 2);
    assert_eq!(pids.len(), 2, "{pids:?}");
    assert!(pids.contains(&env.state("d1")["pid"].as_i64().unwrap()));

    env.berth(&["delete", "--force", "d1"]).ok();
    assert!(!env.root.join("d1").exists());
    assert!(!env.cgroup_exists("d1"));
    assert_eq!(env.berth(&["list", "--format", "json"]).ok().trim(), "[]");
}

#[test]
fn kill_all_reaches_every_process() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let b = env.bundle("ka", "trap '' TERM; sleep 1000 & sleep 1000 & wait");
    env.berth_bg(&["run", "-d", "--bundle", b.to_str().unwrap(), "ka"])
        .ok();
    let pids = wait_pids(&env, "ka", 3);
    assert_eq!(pids.len(), 3);
    env.berth(&["kill", "--all", "ka", "KILL"]).ok();
    wait_status(&env, "ka", "stopped");
    env.berth(&["delete", "ka"]).ok();
}

#[test]
fn duplicate_id_is_refused_and_leaves_the_first_alone() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let b = env.bundle("dup", "exec sleep 1000");
    env.berth_bg(&["create", "--bundle", b.to_str().unwrap(), "dup"])
        .ok();
    let before = env.state("dup");
    let e = env
        .berth(&["create", "--bundle", b.to_str().unwrap(), "dup"])
        .fails();
    assert!(e.contains("container dup already exists"), "{e}");
    assert_eq!(env.state("dup"), before);
    env.berth(&["delete", "--force", "dup"]).ok();
}

#[test]
fn invoked_as_berth_runc() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let b = env.bundle("argv0", "echo via-argv0");
    let mut c = std::process::Command::new(runtime_support::berth_bin());
    std::os::unix::process::CommandExt::arg0(&mut c, "berth-runc");
    c.args([
        "--root",
        env.root.to_str().unwrap(),
        "run",
        "--bundle",
        b.to_str().unwrap(),
        "argv0",
    ]);
    let out = env.host.output(&mut c).unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "via-argv0\n");
}

#[test]
fn systemd_cgroup_flag_is_refused() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    let e = env.berth(&["--systemd-cgroup", "list"]).fails();
    assert!(e.contains("not supported"), "{e}");
    assert!(!Path::new(&env.root).join("x").exists());
}

/// Without `linux.cgroupsPath` the container's cgroup is `/<id>` in each
/// hierarchy, as runc's cgroupfs driver places it, and `run` removes it
/// again (no shared parent left behind either).
#[test]
fn without_a_cgroups_path_the_cgroup_is_the_id() {
    if !is_root() {
        return;
    }
    let env = Env::new();
    // Unique per test process: the id names a top-level cgroup.
    let id = format!("{}-nocg", env.host.cgroup_parent());
    let b = env.bundle(&id, "grep -E '^[0-9]+:pids:' /proc/self/cgroup");
    runtime_support::edit_config(&b, |v| {
        v["linux"].as_object_mut().unwrap().remove("cgroupsPath");
        // Seen from the host's cgroup namespace.
        v["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "cgroup");
    });
    let out = env
        .berth(&["run", "--bundle", b.to_str().unwrap(), &id])
        .ok();
    assert!(out.trim_end().ends_with(&format!(":pids:/{id}")), "{out}");
    assert!(!Path::new(&format!("/sys/fs/cgroup/pids/{id}")).exists());
    if Path::new("/usr/sbin/runc").exists() {
        let r = env.runc(&["run", "--bundle", b.to_str().unwrap(), &id]);
        assert_eq!(r.stdout, out, "runc: {r:?}");
    }
}
