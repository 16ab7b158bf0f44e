//! `docker run --init` against berthd (docker CLI v28): a static init
//! (tini) at /sbin/docker-init as PID 1 that reaps orphans and forwards
//! signals; daemon.json `init` / `init-path`; a missing or dynamic init
//! binary refused at create. One daemon per test, in its own sandbox host.

mod docker_support;

use std::time::{Duration, Instant};

use docker_support::{code, stderr, Daemon};

/// `ps -o pid,stat,comm` rows inside `name` as (pid, stat, comm).
fn processes(d: &Daemon, name: &str) -> Vec<(String, String, String)> {
    d.ok(&["exec", name, "ps", "-o", "pid,stat,comm"])
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3).then(|| (f[0].to_owned(), f[1].to_owned(), f[2].to_owned()))
        })
        .collect()
}

/// Runs `sh -c '(sleep 0.2 &); exec sleep 1000'` (an orphan whose parent
/// is gone, so it is re-parented to PID 1), waits until the orphan has
/// exited, and returns the container's processes then.
fn after_an_orphan_exits(d: &Daemon, name: &str, init: bool) -> Vec<(String, String, String)> {
    let mut args = vec!["run", "-d", "--name", name];
    if init {
        args.push("--init");
    }
    args.extend(["busybox", "sh", "-c", "(sleep 0.2 &); exec sleep 1000"]);
    d.ok(&args);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ps = processes(d, name);
        let live_sleeps = ps
            .iter()
            .filter(|(_, st, c)| c == "sleep" && !st.starts_with('Z'))
            .count();
        if live_sleeps == 1 {
            return ps;
        }
        assert!(Instant::now() < deadline, "orphan never exited: {ps:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn init_is_pid_one_reaps_orphans_and_forwards_signals() {
    let d = Daemon::start();
    d.load_busybox();

    // PID 1 is the init, the command its child.
    let ps = d.ok(&[
        "run",
        "--rm",
        "--init",
        "busybox",
        "ps",
        "-o",
        "pid,ppid,comm",
    ]);
    let rows: Vec<Vec<&str>> = ps.lines().map(|l| l.split_whitespace().collect()).collect();
    assert!(
        rows.iter().any(|r| r[..] == ["1", "0", "docker-init"]),
        "{ps}"
    );
    assert!(
        rows.iter()
            .any(|r| r.get(1) == Some(&"1") && r.get(2) == Some(&"ps")),
        "ps is the init's child: {ps}"
    );
    let plain = d.ok(&["run", "--rm", "busybox", "ps", "-o", "pid,comm"]);
    assert!(
        plain.lines().any(|l| l.split_whitespace().eq(["1", "ps"])),
        "without --init the command is PID 1: {plain}"
    );

    // An orphan re-parented to PID 1 is reaped by the init; with `sleep`
    // as PID 1 it stays a zombie (the control that shows the check bites).
    let reaped = after_an_orphan_exits(&d, "reaper", true);
    assert!(
        reaped.iter().all(|(_, st, _)| !st.starts_with('Z')),
        "zombie under --init: {reaped:?}"
    );
    assert!(
        reaped
            .iter()
            .any(|(pid, _, c)| pid == "1" && c == "docker-init"),
        "{reaped:?}"
    );
    let zombie = after_an_orphan_exits(&d, "no-reaper", false);
    assert_eq!(
        zombie
            .iter()
            .filter(|(_, st, _)| st.starts_with('Z'))
            .count(),
        1,
        "without an init the orphan stays a zombie: {zombie:?}"
    );

    // Inspect keeps HostConfig.Init as asked (null: the daemon's default);
    // Path stays the command, as with dockerd.
    assert_eq!(
        d.ok(&[
            "inspect",
            "-f",
            "{{json .HostConfig.Init}} {{.Path}}",
            "reaper"
        ])
        .trim(),
        "true sh"
    );
    assert_eq!(
        d.ok(&["inspect", "-f", "{{json .HostConfig.Init}}", "no-reaper"])
            .trim(),
        "null"
    );

    // docker top: the init and the command under it.
    let top = d.ok(&["top", "reaper", "-o", "pid,ppid,args"]);
    let init_pid = top
        .lines()
        .find(|l| l.contains("/sbin/docker-init -- sh -c"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no docker-init in top: {top}"));
    assert!(
        top.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(1) == Some(&init_pid) && l.ends_with("sleep 1000")
        }),
        "sleep 1000 is the init's child: {top}"
    );

    // docker stop: the init forwards SIGTERM to `sleep`, which dies of it
    // (143); `sleep` as PID 1 ignores SIGTERM and is killed (137).
    d.ok(&["stop", "reaper"]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.ExitCode}}", "reaper"])
            .trim(),
        "143"
    );
    d.ok(&["stop", "-t", "1", "no-reaper"]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.ExitCode}}", "no-reaper"])
            .trim(),
        "137"
    );
    d.ok(&["rm", "reaper", "no-reaper"]);
}

#[test]
fn daemon_json_init_is_the_default_and_init_false_opts_out() {
    let d = Daemon::start_with_config(r#"{"init": true}"#);
    d.load_busybox();
    let ps = d.ok(&["run", "--rm", "busybox", "ps", "-o", "pid,comm"]);
    assert!(
        ps.lines()
            .any(|l| l.split_whitespace().eq(["1", "docker-init"])),
        "{ps}"
    );
    let ps = d.ok(&[
        "run",
        "--rm",
        "--init=false",
        "busybox",
        "ps",
        "-o",
        "pid,comm",
    ]);
    assert!(
        ps.lines().any(|l| l.split_whitespace().eq(["1", "ps"])),
        "{ps}"
    );
}

#[test]
fn a_missing_or_dynamic_init_binary_is_refused_and_creates_nothing() {
    let d = Daemon::start_with_config(r#"{"init-path": "/nonexistent/docker-init"}"#);
    d.load_busybox();
    let out = d.docker(&["run", "--init", "--name", "x", "busybox", "true"]);
    assert_eq!(code(&out), 127, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("\"/nonexistent/docker-init\": stat /nonexistent/docker-init: no such file or directory"),
        "{}",
        stderr(&out)
    );
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "", "nothing created");
    let (status, body) = d.http(
        "POST",
        "/containers/create",
        Some(r#"{"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Init": true}}"#),
    );
    assert_eq!(status, 500, "{body}");
    // Without --init the daemon still runs containers.
    d.ok(&["run", "--rm", "busybox", "true"]);
    drop(d);

    // A dynamically linked init (this test's own berth binary) would need
    // a libc in the image: refused with the reason.
    let cfg = format!(r#"{{"init-path": "{}"}}"#, env!("CARGO_BIN_EXE_berth"));
    let d = Daemon::start_with_config(&cfg);
    d.load_busybox();
    let out = d.docker(&["run", "--rm", "--init", "busybox", "true"]);
    assert_eq!(code(&out), 125, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is dynamically linked; --init needs a static binary"),
        "{}",
        stderr(&out)
    );
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "", "nothing created");
}
