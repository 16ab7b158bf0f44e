//! berthd driven by the real docker CLI (v28): the core scenarios of
//! issue 10. One daemon per test, in its own sandbox host.

mod docker_support;

use docker_support::{code, stderr, stdout, Daemon};

#[test]
fn ping_version_info() {
    let d = Daemon::start();
    let v = d.ok(&[
        "version",
        "--format",
        "{{.Server.APIVersion}} {{.Server.Os}}",
    ]);
    assert_eq!(v.trim(), "1.50 linux");
    let info = d.ok(&["info", "--format", "{{json .}}"]);
    let j: serde_json::Value = serde_json::from_str(&info).expect("info is JSON");
    assert_eq!(j["OSType"], "linux");
    assert_eq!(j["Containers"], 0);
    assert_eq!(j["Driver"], "overlay2");
    let (status, body) = d.http("GET", "/_ping", None);
    assert_eq!((status, body.as_str()), (200, "OK"));
    let (status, body) = d.http("GET", "/v1.99/version", None);
    assert_eq!(status, 400);
    assert!(body.contains("is too new"), "{body}");
    let (status, _) = d.http("GET", "/v1.44/version", None);
    assert_eq!(status, 200);
}

#[test]
fn run_logs_exec_stop_rm() {
    let d = Daemon::start();
    let id = d.load_busybox();
    let images = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    assert!(images.contains("busybox:latest"), "{images}");
    let inspect = d.ok(&["image", "inspect", "busybox", "--format", "{{.Id}}"]);
    assert_eq!(inspect.trim(), id);

    // docker run --rm: output, exit code, nothing left.
    let out = d.docker(&["run", "--rm", "busybox", "echo", "hi"]);
    assert_eq!(code(&out), 0, "stderr: {}\n{}", stderr(&out), d.log_text());
    assert_eq!(stdout(&out), "hi\n");
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "");

    // Exit codes as docker gives them.
    let out = d.docker(&["run", "--rm", "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(code(&out), 3);
    let out = d.docker(&["run", "--rm", "nosuchimage"]);
    assert_eq!(code(&out), 125, "{}", stderr(&out));
    let out = d.docker(&["run", "--rm", "busybox", "/no/such/binary"]);
    assert_eq!(code(&out), 127, "{}", stderr(&out));

    // stderr and stdin reach the right places.
    let out = d.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    assert_eq!(
        (stdout(&out).as_str(), stderr(&out).as_str()),
        ("out\n", "err\n")
    );
    let mut child = d
        .docker_cmd(&["run", "--rm", "-i", "busybox", "tr", "a-z", "A-Z"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("docker run -i");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"shout\n").expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "SHOUT\n");

    // What the container sees: env, workdir, user, hostname, labels.
    let out = d.ok(&[
        "run",
        "--rm",
        "-e",
        "GREETING=hello",
        "-w",
        "/tmp",
        "-u",
        "65534",
        "-h",
        "box1",
        "busybox",
        "sh",
        "-c",
        "echo $GREETING $(pwd) $(id -u) $(hostname)",
    ]);
    assert_eq!(out.trim(), "hello /tmp 65534 box1");
    let caps = d.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "grep CapBnd /proc/self/status",
    ]);
    assert!(
        caps.contains("00000000a80425fb"),
        "docker's default caps: {caps}"
    );
    let filtered = |opts: &[&str]| {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(opts);
        args.extend_from_slice(&["busybox", "grep", "Seccomp:", "/proc/self/status"]);
        d.ok(&args)
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(filtered(&[]), "2", "a seccomp filter by default");
    assert_eq!(filtered(&["--security-opt", "seccomp=unconfined"]), "0");
    assert_eq!(filtered(&["--privileged"]), "0");

    // Detached: logs, exec, ps, inspect, stop, rm.
    let cid = d.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-l",
        "app=demo",
        "busybox",
        "sh",
        "-c",
        "echo started; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done",
    ]);
    let cid = cid.trim().to_owned();
    assert_eq!(cid.len(), 64);
    let ps = d.ok(&[
        "ps",
        "--format",
        "{{.ID}} {{.Names}} {{.Image}} {{.Status}} {{.Labels}}",
    ]);
    assert!(
        ps.starts_with(&format!("{} web busybox Up", &cid[..12])),
        "{ps}"
    );
    assert!(ps.contains("app=demo"), "{ps}");
    let filtered = d.ok(&[
        "ps",
        "-q",
        "--filter",
        "label=app=demo",
        "--filter",
        "status=running",
    ]);
    assert_eq!(filtered.trim(), &cid[..12]);
    assert_eq!(d.ok(&["ps", "-q", "--filter", "name=nope"]).trim(), "");
    let out = d.ok(&["exec", "web", "sh", "-c", "echo from exec; exit 0"]);
    assert_eq!(out, "from exec\n");
    let out = d.docker(&[
        "exec",
        "-e",
        "X=1",
        "-w",
        "/etc",
        "web",
        "sh",
        "-c",
        "echo $X $(pwd); exit 4",
    ]);
    assert_eq!((code(&out), stdout(&out).as_str()), (4, "1 /etc\n"));
    let out = d.ok(&["exec", "-u", "nobody", "web", "id", "-un"]);
    assert_eq!(out.trim(), "nobody");
    d.ok(&["exec", "-d", "web", "touch", "/tmp/detached"]);
    let inspect = d.ok(&["inspect", "web"]);
    let j: serde_json::Value = serde_json::from_str(&inspect).expect("inspect JSON");
    let c = &j[0];
    assert_eq!(c["Id"], cid.as_str());
    assert_eq!(c["Name"], "/web");
    assert_eq!(c["State"]["Status"], "running");
    assert_eq!(c["State"]["Running"], true);
    assert!(c["State"]["Pid"].as_i64().unwrap_or(0) > 0);
    assert_eq!(c["Config"]["Labels"]["app"], "demo");
    assert_eq!(c["Config"]["Image"], "busybox");
    assert_eq!(c["HostConfig"]["NetworkMode"], "bridge");
    for k in [
        "Created",
        "Path",
        "Args",
        "Image",
        "LogPath",
        "Mounts",
        "NetworkSettings",
        "RestartCount",
    ] {
        assert!(!c[k].is_null(), "inspect lacks {k}");
    }
    let logs = d.ok(&["logs", "web"]);
    assert_eq!(logs, "started\n");
    let ts = d.ok(&["logs", "-t", "web"]);
    assert!(ts.contains("Z started"), "{ts}");
    d.ok(&["stop", "-t", "5", "web"]);
    let state = d.ok(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        "web",
    ]);
    assert_eq!(state.trim(), "exited 0");
    assert_eq!(d.ok(&["logs", "--tail", "1", "web"]), "bye\n");
    d.ok(&["rm", "web"]);

    // --entrypoint, --read-only, logs -f / --since / --until, rm -v.
    let out = d.ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "echo",
        "busybox",
        "via",
        "entrypoint",
    ]);
    assert_eq!(out, "via entrypoint\n");
    let out = d.docker(&["run", "--rm", "--read-only", "busybox", "touch", "/x"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    let follow = d.ok(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "for i in 1 2 3; do echo tick$i; sleep 0.2; done",
    ]);
    assert_eq!(follow.trim().len(), 64);
    // -f returns once the container has exited, with every line.
    assert_eq!(d.ok(&["logs", "-f", "ticker"]), "tick1\ntick2\ntick3\n");
    assert_eq!(
        d.ok(&["logs", "--since", "2000-01-01T00:00:00Z", "ticker"])
            .lines()
            .count(),
        3
    );
    assert_eq!(
        d.ok(&["logs", "--until", "2000-01-01T00:00:00Z", "ticker"]),
        ""
    );
    d.ok(&["rm", "ticker"]);
    d.ok(&["run", "--name", "anon", "-v", "/scratch", "busybox", "true"]);
    let vols = d.ok(&["volume", "ls", "-q"]);
    assert_eq!(vols.lines().count(), 1, "{vols}");
    d.ok(&["rm", "-v", "anon"]);
    assert_eq!(d.ok(&["volume", "ls", "-q"]).trim(), "");
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "");
    assert!(
        d.berth_mounts().is_empty(),
        "mounts left: {:?}",
        d.berth_mounts()
    );
}

#[test]
fn bad_input_gets_dockers_codes() {
    let d = Daemon::start();
    d.load_busybox();
    let (status, body) = d.http("POST", "/containers/create", Some("{not json"));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("\"message\""), "{body}");
    let (status, _) = d.http("GET", "/containers/nosuch/json", None);
    assert_eq!(status, 404);
    let out = d.docker(&["inspect", "nosuch"]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("No such"), "{}", stderr(&out));
    d.ok(&["create", "--name", "taken", "busybox", "true"]);
    let out = d.docker(&["run", "--name", "taken", "busybox", "true"]);
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains("is already in use"),
        "{}",
        stderr(&out)
    );
    let (status, _) = d.http(
        "POST",
        "/containers/create?name=taken",
        Some(r#"{"Image":"busybox","Cmd":["true"]}"#),
    );
    assert_eq!(status, 409);
    d.ok(&["run", "-d", "--name", "busy", "busybox", "sleep", "1000"]);
    let out = d.docker(&["rm", "busy"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("container is running"),
        "{}",
        stderr(&out)
    );
    let (status, _) = d.http("DELETE", "/containers/busy", None);
    assert_eq!(status, 409);
    let out = d.docker(&["run", "--rm", "--cap-add", "BOGUS", "busybox", "true"]);
    assert_eq!(code(&out), 125);
    d.ok(&["rm", "-f", "busy", "taken"]);
    let out = d.docker(&["exec", "busy", "true"]);
    assert_ne!(code(&out), 0);
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "");
}

/// berthd starts the small `berth-monitor` binary that cargo builds beside
/// `berth`: the container init's parent (its monitor, PID in
/// monitor.pid) runs that executable, not `berth monitor`.
#[test]
fn monitor_is_the_small_binary_beside_berthd() {
    let d = Daemon::start();
    d.load_busybox();
    let cid = d.ok(&["run", "-d", "busybox", "sleep", "1000"]);
    let cid = cid.trim().to_owned();
    let init = d.ok(&["inspect", "-f", "{{.State.Pid}}", &cid]);
    let parent = d
        .host
        .sh(&format!(
            "awk '$1 == \"PPid:\" {{print $2}}' /proc/{}/status",
            init.trim()
        ))
        .expect("the init's parent");
    let pid_file = d
        .host
        .dirs()
        .run
        .join("c")
        .join(&cid[..16])
        .join("monitor.pid");
    let recorded = std::fs::read_to_string(&pid_file).expect("monitor.pid");
    assert_eq!(
        parent.trim(),
        recorded.trim(),
        "the init's parent is its monitor"
    );
    let exe = d
        .host
        .sh(&format!("readlink /proc/{}/exe", parent.trim()))
        .expect("the monitor's executable");
    let expected =
        std::path::Path::new(env!("CARGO_BIN_EXE_berth")).with_file_name("berth-monitor");
    assert_eq!(exe.trim(), expected.to_string_lossy(), "monitor runs {exe}");
    let cmdline = d
        .host
        .sh(&format!("tr '\\0' ' ' </proc/{}/cmdline", parent.trim()))
        .expect("the monitor's command line");
    assert!(!cmdline.contains(" monitor "), "{cmdline}");
    d.ok(&["rm", "-f", &cid]);
}

#[test]
fn containers_survive_kill_9_of_berthd() {
    let mut d = Daemon::start();
    d.load_busybox();
    let cid = d.ok(&[
        "run",
        "-d",
        "--name",
        "keeper",
        "busybox",
        "sh",
        "-c",
        "echo up; sleep 1000",
    ]);
    let cid = cid.trim().to_owned();
    let pid = d.ok(&["inspect", "-f", "{{.State.Pid}}", "keeper"]);
    d.kill9();
    // The container's init is still there without berthd.
    let alive = d
        .host
        .sh(&format!("kill -0 {} && echo alive", pid.trim()))
        .unwrap_or_default();
    assert_eq!(alive.trim(), "alive");
    d.restart();
    let ps = d.ok(&["ps", "--format", "{{.ID}} {{.Status}}"]);
    assert!(ps.starts_with(&format!("{} Up", &cid[..12])), "{ps}");
    assert_eq!(d.ok(&["logs", "keeper"]), "up\n");
    assert_eq!(d.ok(&["exec", "keeper", "echo", "still"]).trim(), "still");
    d.ok(&["stop", "-t", "1", "keeper"]);
    let st = d.ok(&["inspect", "-f", "{{.State.Status}}", "keeper"]);
    assert_eq!(st.trim(), "exited");
    d.ok(&["rm", "keeper"]);
    assert!(
        d.berth_mounts().is_empty(),
        "mounts left: {:?}",
        d.berth_mounts()
    );

    // The container dies while berthd is away: the restarted daemon
    // reports its exit and releases what its start made.
    let cid = d.ok(&["run", "-d", "busybox", "sleep", "1000"]);
    let cid = cid.trim().to_owned();
    let init = d.ok(&["inspect", "-f", "{{.State.Pid}}", &cid]);
    d.kill9();
    d.host
        .sh(&format!("kill -9 {}", init.trim()))
        .expect("kill the container's init");
    let exit_file = d
        .host
        .dirs()
        .run
        .join("c")
        .join(&cid[..16])
        .join("exit.json");
    for _ in 0..100 {
        if exit_file.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(exit_file.exists(), "the monitor recorded the exit");
    d.restart();
    let state = d.ok(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.ExitCode}}",
        &cid,
    ]);
    assert_eq!(state.trim(), "exited 137");
    assert!(
        d.berth_mounts().is_empty(),
        "mounts left: {:?}",
        d.berth_mounts()
    );
    d.ok(&["rm", &cid]);

    // kill -9 of a monitor: the container is killed and reported exited.
    let cid = d.ok(&["run", "-d", "busybox", "sleep", "1000"]);
    let cid = cid.trim().to_owned();
    let init = d.ok(&["inspect", "-f", "{{.State.Pid}}", &cid]);
    let pid_file = d
        .host
        .dirs()
        .run
        .join("c")
        .join(&cid[..16])
        .join("monitor.pid");
    let monitor = std::fs::read_to_string(&pid_file).expect("monitor pid file");
    d.host
        .sh(&format!("kill -9 {}", monitor.trim()))
        .expect("kill monitor");
    let mut state = String::new();
    for _ in 0..100 {
        state = d.ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            &cid,
        ]);
        if state.starts_with("exited") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(state.trim(), "exited 255");
    // Gone, or a zombie: the sandbox's pid 1 (`sleep`) reaps nobody.
    let gone = d.host.sh(&format!(
        "s=$(cut -d' ' -f3 /proc/{}/stat 2>/dev/null); [ -z \"$s\" ] || [ \"$s\" = Z ] && echo gone",
        init.trim()
    ));
    assert_eq!(gone.unwrap_or_default().trim(), "gone");
    d.ok(&["rm", &cid]);
    assert!(
        d.berth_mounts().is_empty(),
        "mounts left: {:?}",
        d.berth_mounts()
    );
}

#[test]
fn tty_volumes_and_lifecycle_verbs() {
    let d = Daemon::start();
    d.load_busybox();

    // A tty: one raw stream, \r\n line ends, a terminal inside.
    let out = d.ok(&[
        "run",
        "--rm",
        "-t",
        "busybox",
        "sh",
        "-c",
        "tty; echo err >&2",
    ]);
    assert_eq!(out, "/dev/pts/0\r\nerr\r\n");

    // Named volumes keep data across containers; in use cannot go.
    d.ok(&["volume", "create", "data"]);
    d.ok(&[
        "run",
        "--rm",
        "-v",
        "data:/data",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    let out = d.ok(&[
        "run",
        "--rm",
        "-v",
        "data:/data:ro",
        "busybox",
        "cat",
        "/data/f",
    ]);
    assert_eq!(out, "kept\n");
    let out = d.docker(&[
        "run",
        "--rm",
        "-v",
        "data:/data:ro",
        "busybox",
        "sh",
        "-c",
        "echo x > /data/f",
    ]);
    assert_ne!(code(&out), 0, "a read-only volume was written");
    d.ok(&[
        "create",
        "--name",
        "holder",
        "-v",
        "data:/data",
        "busybox",
        "true",
    ]);
    let out = d.docker(&["volume", "rm", "data"]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("volume is in use"),
        "{}",
        stderr(&out)
    );
    d.ok(&["rm", "holder"]);
    d.ok(&["volume", "rm", "data"]);
    let vols = d.ok(&["volume", "ls", "-q"]);
    assert_eq!(vols.trim(), "");

    // A bind mount and a tmpfs.
    let src = d.host.root().join("bindsrc");
    std::fs::create_dir_all(&src).expect("bind source");
    std::fs::write(src.join("hello"), "from host\n").expect("bind file");
    let bind = format!("{}:/mnt", src.display());
    let out = d.ok(&[
        "run",
        "--rm",
        "-v",
        &bind,
        "--tmpfs",
        "/scratch",
        "busybox",
        "sh",
        "-c",
        "cat /mnt/hello; grep -c ' /scratch tmpfs' /proc/mounts",
    ]);
    assert_eq!(out, "from host\n1\n");
    let missing = "type=bind,source=/no/such/dir,target=/x";
    let out = d.docker(&["run", "--rm", "--mount", missing, "busybox", "true"]);
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains("bind source path does not exist"),
        "{}",
        stderr(&out)
    );

    // pause/unpause, rename, top, stats, restart, kill, wait.
    d.ok(&[
        "run", "-d", "--name", "svc", "-m", "64m", "busybox", "sleep", "1000",
    ]);
    let st = d.ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.MemUsage}}",
        "svc",
    ]);
    assert!(
        st.starts_with("svc ") && st.trim().ends_with("/ 64MiB"),
        "{st}"
    );
    // -it through a pseudo-terminal (script(1) gives docker a tty).
    let host = format!("unix://{}", d.sock.display());
    let it = std::process::Command::new("script")
        .args([
            "-qec",
            "docker exec -it svc sh -c 'tty; exit 5'",
            "/dev/null",
        ])
        .env("DOCKER_HOST", &host)
        .env("DOCKER_CONFIG", d.host.root().join("docker-config-it"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script");
    assert_eq!(code(&it), 5, "{}", stdout(&it));
    assert!(stdout(&it).contains("/dev/pts/"), "{}", stdout(&it));
    d.ok(&["update", "--memory", "32m", "--memory-swap", "64m", "svc"]);
    let st = d.ok(&["stats", "--no-stream", "--format", "{{.MemUsage}}", "svc"]);
    assert!(st.trim().ends_with("/ 32MiB"), "after update: {st}");
    let hc = d.ok(&["inspect", "-f", "{{.HostConfig.Memory}}", "svc"]);
    assert_eq!(hc.trim(), "33554432");
    d.ok(&["pause", "svc"]);
    assert_eq!(
        d.ok(&["inspect", "-f", "{{.State.Status}}", "svc"]).trim(),
        "paused"
    );
    d.ok(&["unpause", "svc"]);
    d.ok(&["rename", "svc", "svc2"]);
    let top = d.ok(&["top", "svc2"]);
    assert!(top.contains("sleep 1000"), "{top}");
    let before = d.ok(&["inspect", "-f", "{{.State.Pid}}", "svc2"]);
    d.ok(&["restart", "-t", "1", "svc2"]);
    let after = d.ok(&["inspect", "-f", "{{.State.Pid}} {{.State.Status}}", "svc2"]);
    assert!(after.trim().ends_with("running"), "{after}");
    assert_ne!(before.trim(), after.split_whitespace().next().unwrap_or(""));
    let waiter = d
        .docker_cmd(&["wait", "svc2"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("docker wait");
    d.ok(&["kill", "svc2"]);
    let out = waiter.wait_with_output().expect("wait output");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "137");
    d.ok(&["start", "svc2"]);
    d.ok(&["rm", "-f", "svc2"]);

    // Restart policy: on-failure:2 runs the command three times.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 1",
    ]);
    let mut count = 0;
    let mut last = String::new();
    for _ in 0..100 {
        last = d.ok(&[
            "inspect",
            "-f",
            "{{.RestartCount}} {{.State.Status}}",
            "flaky",
        ]);
        if last.trim() == "2 exited" {
            count = 2;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(count, 2, "last state: {last}");
    assert_eq!(d.ok(&["logs", "flaky"]), "run\nrun\nrun\n");
    d.ok(&["rm", "flaky"]);

    // Events: the lifecycle of one container, filtered.
    d.ok(&["run", "--rm", "--name", "evt", "busybox", "true"]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock");
    let until = format!("{}.{:09}", now.as_secs(), now.subsec_nanos());
    let ev = d.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &until,
        "--filter",
        "container=evt",
        "--format",
        "{{.Action}}",
    ]);
    let actions: Vec<&str> = ev.lines().collect();
    assert_eq!(actions, ["create", "start", "die", "destroy"], "{ev}");

    // Images: tag, rmi, save and load back; diff, export, commit.
    d.ok(&["tag", "busybox", "mybox:v1"]);
    let tags = d.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(
        tags.contains("mybox:v1") && tags.contains("busybox:latest"),
        "{tags}"
    );
    let saved = d.host.root().join("saved.tar");
    d.ok(&["save", "-o", &saved.to_string_lossy(), "mybox:v1"]);
    let out = d.ok(&["rmi", "mybox:v1"]);
    assert!(out.contains("Untagged: mybox:v1"), "{out}");
    let out = d.ok(&["load", "-i", &saved.to_string_lossy()]);
    assert!(out.contains("Loaded image: mybox:v1"), "{out}");
    d.ok(&[
        "run",
        "--name",
        "changer",
        "busybox",
        "sh",
        "-c",
        "echo new > /etc/added; rm /etc/motd",
    ]);
    let size = d.ok(&[
        "ps",
        "-a",
        "-s",
        "--filter",
        "name=changer",
        "--format",
        "{{.Size}}",
    ]);
    assert!(size.contains("virtual"), "{size}");
    assert!(
        !size.starts_with("0B"),
        "the writable layer has a file: {size}"
    );
    let diff = d.ok(&["diff", "changer"]);
    assert!(
        diff.contains("A /etc/added") && diff.contains("D /etc/motd"),
        "{diff}"
    );
    let exported = d.host.root().join("export.tar");
    d.ok(&["export", "-o", &exported.to_string_lossy(), "changer"]);
    let listing = std::process::Command::new("tar")
        .arg("-tf")
        .arg(&exported)
        .output()
        .expect("tar");
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(
        listing
            .lines()
            .any(|l| l.trim_start_matches("./") == "etc/added"),
        "{listing}"
    );
    d.ok(&[
        "import",
        "--change",
        "ENV FROM_IMPORT=yes",
        &exported.to_string_lossy(),
        "imported:1",
    ]);
    let out = d.ok(&[
        "run",
        "--rm",
        "imported:1",
        "/bin/sh",
        "-c",
        "cat /etc/added; echo $FROM_IMPORT",
    ]);
    assert_eq!(out, "new\nyes\n");
    d.ok(&["rmi", "imported:1"]);
    d.ok(&["commit", "changer", "committed:1"]);
    assert_eq!(
        d.ok(&["run", "--rm", "committed:1", "cat", "/etc/added"]),
        "new\n"
    );
    d.ok(&["rm", "changer"]);
    d.ok(&["rmi", "committed:1", "mybox:v1"]);

    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "");
    assert!(
        d.berth_mounts().is_empty(),
        "mounts left: {:?}",
        d.berth_mounts()
    );
    let procs = d.sandbox_processes();
    assert!(!procs.contains("berth monitor"), "monitors left:\n{procs}");
}

#[test]
fn push_and_pull_through_a_local_registry() {
    let d = Daemon::start();
    d.load_busybox();
    let reg = d.host.root().join("registry");
    std::fs::create_dir_all(reg.join("data")).expect("registry dir");
    std::fs::write(
        reg.join("config.yml"),
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:5000\nlog:\n  level: warn\n",
            reg.join("data").display()
        ),
    )
    .expect("registry config");
    let mut registry = d
        .host
        .spawn(
            std::process::Command::new("docker-registry")
                .arg("serve")
                .arg(reg.join("config.yml"))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null()),
        )
        .expect("docker-registry (Debian package in .ci/run)");
    let mut up = false;
    for _ in 0..400 {
        if d.host
            .enter_keep_pidns(|| std::net::TcpStream::connect("127.0.0.1:5000").is_ok())
            .unwrap_or(false)
        {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(up, "docker-registry did not come up");
    d.ok(&["tag", "busybox", "127.0.0.1:5000/test/bb:1"]);
    let pushed = d.ok(&["push", "127.0.0.1:5000/test/bb:1"]);
    assert!(pushed.contains("digest: sha256:"), "{pushed}");
    d.ok(&["rmi", "127.0.0.1:5000/test/bb:1"]);
    let pulled = d.ok(&["pull", "127.0.0.1:5000/test/bb:1"]);
    assert!(pulled.contains("Downloaded newer image"), "{pulled}");
    let out = d.ok(&["run", "--rm", "127.0.0.1:5000/test/bb:1", "echo", "pulled"]);
    assert_eq!(out, "pulled\n");
    let missing = d.docker(&["pull", "127.0.0.1:5000/test/nosuch:1"]);
    assert_ne!(code(&missing), 0);
    assert!(
        stderr(&missing).contains("does not exist"),
        "{}",
        stderr(&missing)
    );
    let _ = registry.kill();
    let _ = registry.wait();
}
