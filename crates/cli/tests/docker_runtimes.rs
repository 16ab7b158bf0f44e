//! Per-container OCI runtimes through the docker CLI v28: berthd's own
//! runtime under dockerd's stock name `runc` (the default), external
//! runtimes from `--add-runtime` and daemon.json's `runtimes` (Debian's
//! runc and crun) that really run the container, and unknown names
//! refused as dockerd refuses them. One daemon per test, in its own
//! sandbox host.

mod docker_support;

use docker_support::{code, stderr, Daemon};

const RUNC: &str = "/usr/sbin/runc";
const CRUN: &str = "/usr/bin/crun";

/// The names the external runtime's own `list` knows, from its root
/// under berthd's exec root.
fn runtime_list(d: &Daemon, binary: &str, name: &str) -> String {
    let root = d.host.dirs().run.join(format!("runtime-{name}"));
    d.host
        .sh(&format!("{binary} --root {} list -q", root.display()))
        .unwrap_or_default()
}

#[test]
fn the_default_runtime_is_runc_and_is_recorded_at_create() {
    let d = Daemon::start();
    d.load_busybox();
    assert_eq!(
        d.ok(&["info", "--format", "{{.DefaultRuntime}}"]).trim(),
        "runc"
    );
    let runtimes = d.ok(&["info", "--format", "{{json .Runtimes}}"]);
    assert!(runtimes.contains("\"runc\""), "{runtimes}");
    assert!(runtimes.contains("\"io.containerd.runc.v2\""), "{runtimes}");

    d.ok(&["create", "--name", "plain", "busybox", "true"]);
    assert_eq!(d.inspect("plain", "{{.HostConfig.Runtime}}"), "runc");
    let out = d.ok(&["run", "--rm", "--runtime", "runc", "busybox", "echo", "own"]);
    assert_eq!(out.trim(), "own");
}

#[test]
fn an_added_runtime_runs_the_container_through_its_cli() {
    if !std::path::Path::new(RUNC).exists() {
        eprintln!("skipped: no {RUNC} (Debian's runc) on this machine");
        return;
    }
    let d = Daemon::start_with("{}", &["--add-runtime", &format!("debrunc={RUNC}")]);
    d.load_busybox();
    let runtimes = d.ok(&["info", "--format", "{{json .Runtimes}}"]);
    assert!(
        runtimes.contains(&format!("\"path\":\"{RUNC}\"")),
        "{runtimes}"
    );

    // Output, the exit code and logs come through the monitor as for
    // berth's own runtime.
    let out = d.docker(&[
        "run",
        "--name",
        "once",
        "--runtime",
        "debrunc",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "out");
    assert_eq!(stderr(&out).trim(), "err");
    assert_eq!(d.inspect("once", "{{.HostConfig.Runtime}}"), "debrunc");
    // A tty: runc hands the pty master to the monitor's console socket.
    let out = d.ok(&[
        "run",
        "--rm",
        "-t",
        "--runtime",
        "debrunc",
        "busybox",
        "tty",
    ]);
    assert_eq!(out.trim(), "/dev/pts/0");

    // While it runs, runc's own state knows it; exec, top, pause and stop
    // go through runc too.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "long",
        "--runtime",
        "debrunc",
        "busybox",
        "sleep",
        "300",
    ]);
    let id = d.inspect("long", "{{.Id}}");
    assert!(
        runtime_list(&d, RUNC, "debrunc").contains(&id),
        "runc does not list {id}"
    );
    assert_eq!(d.ok(&["exec", "long", "echo", "in"]).trim(), "in");
    let out = d.ok(&[
        "exec",
        "-t",
        "-u",
        "65534:65534",
        "-w",
        "/tmp",
        "-e",
        "V=x",
        "long",
        "sh",
        "-c",
        "tty; id -u; pwd; echo $V",
    ]);
    let out = out.replace('\r', "");
    assert!(out.starts_with("/dev/pts/"), "{out}");
    assert!(out.ends_with("\n65534\n/tmp\nx\n"), "{out}");
    assert!(d.ok(&["top", "long"]).contains("sleep 300"));
    // update and stats use the cgroup runc made at the spec's cgroupsPath.
    d.ok(&["update", "--memory", "64m", "--memory-swap", "128m", "long"]);
    let usage = d.ok(&["stats", "--no-stream", "--format", "{{.MemUsage}}", "long"]);
    assert!(usage.trim().ends_with("/ 64MiB"), "{usage}");
    d.ok(&["pause", "long"]);
    assert_eq!(d.inspect("long", "{{.State.Status}}"), "paused");
    d.ok(&["unpause", "long"]);
    d.ok(&["stop", "-t", "1", "long"]);
    assert_eq!(d.inspect("long", "{{.State.Status}}"), "exited");
    assert!(
        !runtime_list(&d, RUNC, "debrunc").contains(&id),
        "runc still lists {id} after stop"
    );
    d.ok(&["rm", "-f", "once", "long"]);
    assert!(
        d.leftover_cgroups().is_empty(),
        "{:?}",
        d.leftover_cgroups()
    );
}

#[test]
fn daemon_json_runtimes_pass_their_args_and_can_be_the_default() {
    if !std::path::Path::new(RUNC).exists() {
        eprintln!("skipped: no {RUNC} (Debian's runc) on this machine");
        return;
    }
    // runtimeArgs go before runc's verb: with --debug runc writes debug
    // lines into the JSON log berth gives it for each verb.
    let json = format!(
        r#"{{"runtimes": {{
            "runc-args": {{"path": "{RUNC}", "runtimeArgs": ["--debug"]}}
        }}, "default-runtime": "runc-args"}}"#
    );
    let d = Daemon::start_with_config(&json);
    d.load_busybox();
    assert_eq!(
        d.ok(&["info", "--format", "{{.DefaultRuntime}}"]).trim(),
        "runc-args"
    );
    let runtimes = d.ok(&["info", "--format", "{{json .Runtimes}}"]);
    assert!(
        runtimes.contains("\"runtimeArgs\":[\"--debug\"]"),
        "{runtimes}"
    );

    d.ok(&["run", "-d", "--name", "cc", "busybox", "sleep", "300"]);
    assert_eq!(d.inspect("cc", "{{.HostConfig.Runtime}}"), "runc-args");
    let id = d.inspect("cc", "{{.Id}}");
    assert!(
        runtime_list(&d, RUNC, "runc-args").contains(&id),
        "runc does not list {id}"
    );
    let log = d
        .host
        .dirs()
        .run
        .join(format!("runtime-runc-args.files/{id}/create.log"));
    let log = d
        .host
        .sh(&format!("cat {}", log.display()))
        .unwrap_or_default();
    assert!(
        log.contains("\"level\":\"debug\""),
        "runc's create log: {log}"
    );
    assert_eq!(
        d.ok(&["exec", "cc", "cat", "/etc/hostname"]).trim(),
        &id[..12]
    );
    d.ok(&["rm", "-f", "cc"]);
    assert!(!runtime_list(&d, RUNC, "runc-args").contains(&id));
}

#[test]
fn crun_runs_a_container_too() {
    if !std::path::Path::new(CRUN).exists() {
        eprintln!("skipped: no {CRUN} (Debian's crun) on this machine");
        return;
    }
    let hybrid_with_controllers =
        std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers")
            .is_ok_and(|c| !c.trim().is_empty());
    if hybrid_with_controllers {
        eprintln!(
            "skipped: crun 1.8 refuses hybrid cgroups whose v2 tree has controllers, as this machine's"
        );
        return;
    }
    let d = Daemon::start_with("{}", &["--add-runtime", &format!("crun={CRUN}")]);
    d.load_busybox();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "cc",
        "--runtime",
        "crun",
        "busybox",
        "sleep",
        "300",
    ]);
    let id = d.inspect("cc", "{{.Id}}");
    assert!(
        runtime_list(&d, CRUN, "crun").contains(&id),
        "crun does not list {id}"
    );
    assert_eq!(d.ok(&["exec", "cc", "echo", "in"]).trim(), "in");
    d.ok(&["rm", "-f", "cc"]);
    assert!(!runtime_list(&d, CRUN, "crun").contains(&id));
}

#[test]
fn unknown_runtimes_are_refused_at_create() {
    let d = Daemon::start();
    d.load_busybox();
    let out = d.docker(&["run", "--runtime", "nope", "busybox", "true"]);
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains("unknown or invalid runtime name: nope"),
        "{}",
        stderr(&out)
    );
    let (status, body) = d.http(
        "POST",
        "/containers/create",
        Some(r#"{"Image": "busybox", "HostConfig": {"Runtime": "nope"}}"#),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        d.ok(&["ps", "-aq"]).trim().is_empty(),
        "a container was made"
    );
}

#[test]
fn an_added_runtime_whose_binary_is_missing_is_refused_at_create() {
    let d = Daemon::start_with("{}", &["--add-runtime", "gone=/nonexistent/runc"]);
    d.load_busybox();
    let out = d.docker(&["create", "--runtime", "gone", "busybox", "true"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("error while looking up the specified runtime path"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_added_runtimes_container_outlives_a_berthd_restart() {
    if !std::path::Path::new(RUNC).exists() {
        eprintln!("skipped: no {RUNC} (Debian's runc) on this machine");
        return;
    }
    let mut d = Daemon::start_with("{}", &["--add-runtime", &format!("debrunc={RUNC}")]);
    d.load_busybox();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "kept",
        "--runtime",
        "debrunc",
        "busybox",
        "sleep",
        "300",
    ]);
    let id = d.inspect("kept", "{{.Id}}");
    d.kill9();
    d.start_again(&[]);
    assert_eq!(d.inspect("kept", "{{.State.Status}}"), "running");
    assert_eq!(d.ok(&["exec", "kept", "echo", "still"]).trim(), "still");
    d.ok(&["stop", "-t", "1", "kept"]);
    assert!(!runtime_list(&d, RUNC, "debrunc").contains(&id));
    d.ok(&["rm", "kept"]);
}
