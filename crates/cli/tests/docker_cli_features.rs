//! berthd driven by the docker CLI v28: healthchecks, `cp` (the archive
//! endpoints), `--volumes-from`, `--device`, `--uts host`, `--pid/--ipc
//! container:X`, `system df` and
//! `system prune`, log-driver checks. One daemon per test, in its own
//! sandbox host.

mod docker_support;

use std::time::{Duration, Instant};

use docker_support::{code, stderr, stdout, Daemon};

/// Polls `docker inspect -f FORMAT NAME` until it prints `want`.
fn inspect_until(d: &Daemon, name: &str, format: &str, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while Instant::now() < deadline {
        last = d.ok(&["inspect", "-f", format, name]).trim().to_owned();
        if last == want {
            return last;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{name}: {format} stayed {last:?}, wanted {want:?}");
}

#[test]
fn healthchecks_from_flags_and_from_the_image() {
    let d = Daemon::start();
    d.load_busybox();
    let health = "{{.State.Health.Status}}";

    // --health-cmd: starting, unhealthy after the retries, healthy again
    // after one success; ps shows it and filters on it.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "probed",
        "--health-cmd",
        "cat /tmp/ok",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "busybox",
        "sleep",
        "1000",
    ]);
    let st = d.ok(&["ps", "--format", "{{.Status}}", "--filter", "name=probed"]);
    assert!(
        st.contains("(health: starting)") || st.contains("(unhealthy)"),
        "{st}"
    );
    inspect_until(&d, "probed", health, "unhealthy");
    let streak = d.ok(&["inspect", "-f", "{{.State.Health.FailingStreak}}", "probed"]);
    assert!(streak.trim().parse::<i64>().unwrap_or(0) >= 2, "{streak}");
    assert_eq!(
        d.ok(&["ps", "-q", "--filter", "health=unhealthy"])
            .trim()
            .len(),
        12
    );
    d.ok(&["exec", "probed", "sh", "-c", "echo fine > /tmp/ok"]);
    inspect_until(&d, "probed", health, "healthy");
    let log = d.ok(&[
        "inspect",
        "-f",
        "{{range .State.Health.Log}}{{.ExitCode}}:{{.Output}}|{{end}}",
        "probed",
    ]);
    assert!(log.contains("0:fine\n|"), "probe output kept: {log}");
    assert!(log.contains("1:"), "failures kept: {log}");
    let n = log.matches('|').count();
    assert!((1..=5).contains(&n), "at most 5 results kept: {log}");
    let st = d.ok(&[
        "ps",
        "--format",
        "{{.Status}}",
        "--filter",
        "health=healthy",
    ]);
    assert!(st.trim().ends_with("(healthy)"), "{st}");
    assert_eq!(
        d.ok(&["ps", "-q", "--filter", "health=unhealthy"]).trim(),
        ""
    );
    // Finished probes do not pile up in ExecIDs: the user's exec and at
    // most the probe in flight.
    let execs = d.ok(&["inspect", "-f", "{{len .ExecIDs}}", "probed"]);
    let n: usize = execs.trim().parse().unwrap_or(99);
    assert!((1..=2).contains(&n), "ExecIDs: {execs}");
    let bad = d.docker(&["ps", "--filter", "health=bogus"]);
    assert_ne!(code(&bad), 0);
    let ev = d.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        &format!(
            "{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_secs()
                + 1
        ),
        "--filter",
        "container=probed",
        "--filter",
        "event=health_status",
        "--format",
        "{{.Action}}",
    ]);
    assert!(
        ev.contains("health_status: unhealthy") && ev.contains("health_status: healthy"),
        "{ev}"
    );
    d.ok(&["rm", "-f", "probed"]);

    // A probe that outlives --health-timeout is killed and counts as failed.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--health-cmd",
        "sleep 30",
        "--health-timeout",
        "300ms",
        "--health-interval",
        "200ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "1000",
    ]);
    inspect_until(&d, "slow", health, "unhealthy");
    let out = d.ok(&[
        "inspect",
        "-f",
        "{{(index .State.Health.Log 0).ExitCode}} {{(index .State.Health.Log 0).Output}}",
        "slow",
    ]);
    assert_eq!(out.trim(), "-1 Health check exceeded timeout (300ms)");
    d.ok(&["rm", "-f", "slow"]);
    let procs = d.sandbox_processes();
    assert!(
        !procs.contains("sleep 30"),
        "timed-out probes left:\n{procs}"
    );

    // The image's HEALTHCHECK applies; --no-healthcheck turns it off;
    // the request's interval overrides the image's.
    let mut img = berth_testsupport::images::busybox_image().expect("image");
    img.repo_tags = vec!["probed:1".into()];
    img.config["Healthcheck"] = serde_json::json!({
        "Test": ["CMD-SHELL", "echo from-image"],
        "Interval": 200_000_000i64,
        "Retries": 1,
    });
    let archive = d.host.root().join("probed.tar");
    berth_testsupport::images::DockerArchive { images: vec![img] }
        .write(&archive)
        .expect("archive");
    d.ok(&["load", "-i", &archive.to_string_lossy()]);
    let hc = d.ok(&[
        "image",
        "inspect",
        "-f",
        "{{.Config.Healthcheck.Test}}",
        "probed:1",
    ]);
    assert_eq!(hc.trim(), "[CMD-SHELL echo from-image]");
    d.ok(&["run", "-d", "--name", "img", "probed:1", "sleep", "1000"]);
    inspect_until(&d, "img", health, "healthy");
    let out = d.ok(&[
        "inspect",
        "-f",
        "{{(index .State.Health.Log 0).Output}}",
        "img",
    ]);
    assert_eq!(out.trim(), "from-image");
    d.ok(&[
        "run",
        "-d",
        "--name",
        "off",
        "--no-healthcheck",
        "probed:1",
        "sleep",
        "1000",
    ]);
    let off = d.ok(&["inspect", "-f", "{{json .State.Health}}", "off"]);
    assert_eq!(off.trim(), "null");
    // After a restart the check runs again, from "starting".
    d.ok(&["restart", "-t", "0", "img"]);
    inspect_until(&d, "img", health, "healthy");
    d.ok(&["rm", "-f", "img", "off"]);

    let bad = d.docker(&[
        "run",
        "--rm",
        "--health-cmd",
        "true",
        "--health-retries",
        "-1",
        "busybox",
        "true",
    ]);
    assert_eq!(code(&bad), 125, "{}", stderr(&bad));
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "");
}

#[test]
fn cp_copies_both_ways_through_the_archive_endpoints() {
    let d = Daemon::start();
    d.load_busybox();
    d.ok(&[
        "run",
        "-d",
        "--name",
        "box",
        "-v",
        "vol1:/vol",
        "busybox",
        "sleep",
        "1000",
    ]);
    let out = d.host.root().join("out");
    std::fs::create_dir_all(&out).expect("out dir");
    let outs = out.to_string_lossy().into_owned();

    // container -> host: a file, a directory, a symlink (kept as a link).
    d.ok(&["cp", "box:/etc/passwd", &outs]);
    let passwd = std::fs::read_to_string(out.join("passwd")).expect("copied passwd");
    assert!(passwd.starts_with("root:"), "{passwd}");
    d.ok(&["cp", "box:/etc", &format!("{outs}/etc-copy")]);
    assert!(out.join("etc-copy/passwd").is_file());
    assert!(
        out.join("etc-copy/hostname").is_file(),
        "the container's own files"
    );
    d.ok(&["exec", "box", "ln", "-s", "/etc/passwd", "/tmp/link"]);
    d.ok(&["cp", "box:/tmp/link", &outs]);
    let link = std::fs::read_link(out.join("link")).expect("a symlink");
    assert_eq!(link, std::path::Path::new("/etc/passwd"));

    // host -> container: a file into a dir, to a new name, a tree, stdin
    // tar, into a volume.
    let src = d.host.root().join("src");
    std::fs::create_dir_all(src.join("tree/sub")).expect("tree");
    std::fs::write(src.join("hello"), "hello\n").expect("hello");
    std::fs::write(src.join("tree/sub/f"), "deep\n").expect("f");
    let hello = src.join("hello").to_string_lossy().into_owned();
    d.ok(&["cp", &hello, "box:/tmp/"]);
    d.ok(&["cp", &hello, "box:/tmp/renamed"]);
    d.ok(&["cp", &src.join("tree").to_string_lossy(), "box:/tmp/"]);
    d.ok(&["cp", &hello, "box:/vol/"]);
    let seen = d.ok(&[
        "exec",
        "box",
        "sh",
        "-c",
        "cat /tmp/hello /tmp/renamed /tmp/tree/sub/f /vol/hello; stat -c %u:%g /tmp/hello",
    ]);
    assert_eq!(seen, "hello\nhello\ndeep\nhello\n0:0\n");
    let vol = d.ok(&["run", "--rm", "-v", "vol1:/v", "busybox", "cat", "/v/hello"]);
    assert_eq!(vol, "hello\n", "copied into the volume, not the rootfs");

    // Errors: a missing source, a missing destination dir, a file as a dir.
    let o = d.docker(&["cp", "box:/no/such", &outs]);
    assert_ne!(code(&o), 0);
    assert!(
        stderr(&o).contains("Could not find the file /no/such"),
        "{}",
        stderr(&o)
    );
    let o = d.docker(&["cp", &hello, "box:/no/such/dir/"]);
    assert_ne!(code(&o), 0);
    let o = d.docker(&["cp", &hello, "box:/etc/passwd/"]);
    assert_ne!(code(&o), 0, "a file is not a directory");
    let (status, _) = d.http("GET", "/containers/box/archive?path=/no/such", None);
    assert_eq!(status, 404);
    let (status, _) = d.http("GET", "/containers/nosuch/archive?path=/etc", None);
    assert_eq!(status, 404);
    let (status, _) = d.http("GET", "/containers/box/archive", None);
    assert_eq!(status, 400);
    let (status, body) = d.http("PUT", "/containers/box/archive?path=/etc/passwd", Some(""));
    assert_eq!(status, 400, "{body}");

    // A stopped container: both ways work and leave no rootfs mounted.
    d.ok(&["stop", "-t", "0", "box"]);
    d.ok(&["cp", "box:/tmp/renamed", &format!("{outs}/from-stopped")]);
    assert_eq!(
        std::fs::read_to_string(out.join("from-stopped")).expect("copied"),
        "hello\n"
    );
    d.ok(&["cp", &hello, "box:/tmp/while-stopped"]);
    assert!(
        d.berth_mounts().is_empty(),
        "mounts left: {:?}",
        d.berth_mounts()
    );
    d.ok(&["start", "box"]);
    assert_eq!(
        d.ok(&["exec", "box", "cat", "/tmp/while-stopped"]),
        "hello\n"
    );

    // A read-only rootfs refuses writes, but its volumes take them.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ro",
        "--read-only",
        "-v",
        "/data",
        "busybox",
        "sleep",
        "1000",
    ]);
    let o = d.docker(&["cp", &hello, "ro:/tmp/"]);
    assert_ne!(code(&o), 0);
    assert!(stderr(&o).contains("read-only"), "{}", stderr(&o));
    d.ok(&["cp", &hello, "ro:/data/"]);
    assert_eq!(d.ok(&["exec", "ro", "cat", "/data/hello"]), "hello\n");
    d.ok(&["rm", "-f", "-v", "box", "ro"]);
    d.ok(&["volume", "rm", "vol1"]);
    assert!(
        d.berth_mounts().is_empty(),
        "mounts left: {:?}",
        d.berth_mounts()
    );
}

#[test]
fn volumes_from_devices_uts_df_and_prune() {
    let d = Daemon::start();
    d.load_busybox();

    // --volumes-from: the other container's volumes (anonymous and named)
    // and binds, read-only with :ro; a missing container is refused.
    let bind = d.host.root().join("bindsrc");
    std::fs::create_dir_all(&bind).expect("bind dir");
    std::fs::write(bind.join("b"), "bound\n").expect("bind file");
    let bind_spec = format!("{}:/bound", bind.display());
    d.ok(&[
        "run",
        "-d",
        "--name",
        "src",
        "-v",
        "/anon",
        "-v",
        "named:/named",
        "-v",
        &bind_spec,
        "busybox",
        "sleep",
        "1000",
    ]);
    d.ok(&[
        "exec",
        "src",
        "sh",
        "-c",
        "echo a > /anon/f; echo n > /named/f",
    ]);
    let out = d.ok(&[
        "run",
        "--rm",
        "--volumes-from",
        "src",
        "busybox",
        "sh",
        "-c",
        "cat /anon/f /named/f /bound/b; echo w > /anon/w",
    ]);
    assert_eq!(out, "a\nn\nbound\n");
    let o = d.docker(&[
        "run",
        "--rm",
        "--volumes-from",
        "src:ro",
        "busybox",
        "touch",
        "/named/x",
    ]);
    assert_ne!(code(&o), 0);
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
    let (status, body) = d.http(
        "POST",
        "/containers/create",
        Some(r#"{"Image":"busybox","HostConfig":{"VolumesFrom":["nosuch"]}}"#),
    );
    assert_eq!(status, 404, "{body}");
    // The borrowed anonymous volume stays the source's: rm -v of the
    // borrower does not take it.
    d.ok(&[
        "run",
        "--name",
        "borrower",
        "--volumes-from",
        "src",
        "busybox",
        "true",
    ]);
    d.ok(&["rm", "-v", "borrower"]);
    assert_eq!(d.ok(&["exec", "src", "cat", "/anon/w"]), "w\n");
    d.ok(&["rm", "-f", "-v", "src"]);
    d.ok(&["volume", "rm", "named"]);
    assert_eq!(d.ok(&["volume", "ls", "-q"]).trim(), "");

    // --device: the node exists in the container and the cgroup lets it
    // be used; a missing or non-device path is a 125 at create.
    let out = d.ok(&[
        "run",
        "--rm",
        "--device",
        "/dev/null:/dev/xnull",
        "busybox",
        "sh",
        "-c",
        "stat -c '%t,%T' /dev/xnull; echo x > /dev/xnull && echo written",
    ]);
    assert_eq!(out, "1,3\nwritten\n");
    let o = d.docker(&["run", "--rm", "--device", "/dev/nosuch", "busybox", "true"]);
    assert_eq!(code(&o), 125);
    assert!(stderr(&o).contains("/dev/nosuch"), "{}", stderr(&o));
    let o = d.docker(&["run", "--rm", "--device", "/tmp", "busybox", "true"]);
    assert_eq!(code(&o), 125);
    assert!(stderr(&o).contains("not a device"), "{}", stderr(&o));

    // --uts host: the host's (the sandbox's) hostname.
    let host_name = d.host.sh("hostname").expect("hostname");
    let out = d.ok(&["run", "--rm", "--uts", "host", "busybox", "hostname"]);
    assert_eq!(out.trim(), host_name.trim());

    // --pid/--ipc container:X join a running donor's namespaces; a
    // private IPC donor, a stopped or missing one are refused.
    d.ok(&[
        "run",
        "-d",
        "--name",
        "donor",
        "--ipc",
        "shareable",
        "busybox",
        "sleep",
        "1000",
    ]);
    let out = d.ok(&[
        "run",
        "--rm",
        "--pid",
        "container:donor",
        "--ipc",
        "container:donor",
        "busybox",
        "sh",
        "-c",
        "ps -o comm | grep -c sleep",
    ]);
    assert_eq!(out, "1\n", "the donor's processes are visible");
    let ns = |n: &str, kind: &str| {
        d.ok(&["exec", n, "readlink", &format!("/proc/self/ns/{kind}")])
            .trim()
            .to_owned()
    };
    d.ok(&[
        "run",
        "-d",
        "--name",
        "joiner",
        "--pid",
        "container:donor",
        "busybox",
        "sleep",
        "1000",
    ]);
    assert_eq!(ns("joiner", "pid"), ns("donor", "pid"));
    assert_ne!(
        ns("joiner", "ipc"),
        ns("donor", "ipc"),
        "only the PID namespace is shared"
    );
    d.ok(&[
        "run",
        "-d",
        "--name",
        "ipcjoiner",
        "--ipc",
        "container:donor",
        "busybox",
        "sleep",
        "1000",
    ]);
    assert_eq!(ns("ipcjoiner", "ipc"), ns("donor", "ipc"));
    // POSIX shared memory: the joiner sees the donor's /dev/shm.
    d.ok(&["exec", "donor", "sh", "-c", "echo hi > /dev/shm/seg"]);
    assert_eq!(d.ok(&["exec", "ipcjoiner", "cat", "/dev/shm/seg"]), "hi\n");
    let private_shm = d.ok(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "ls /dev/shm; grep -c ' /dev/shm ' /proc/self/mounts",
    ]);
    assert_eq!(private_shm, "1\n", "a private /dev/shm, empty");
    let none = d.docker(&[
        "run",
        "--rm",
        "--ipc",
        "none",
        "busybox",
        "sh",
        "-c",
        "grep -c ' /dev/shm ' /proc/self/mounts; ls -d /dev/shm",
    ]);
    assert_eq!(
        stdout(&none),
        "0\n",
        "--ipc none: no /dev/shm at all: {}",
        stderr(&none)
    );
    d.ok(&["run", "-d", "--name", "private", "busybox", "sleep", "1000"]);
    let o = d.docker(&[
        "run",
        "--rm",
        "--ipc",
        "container:private",
        "busybox",
        "true",
    ]);
    assert_ne!(code(&o), 0);
    assert!(stderr(&o).contains("non-shareable IPC"), "{}", stderr(&o));
    let o = d.docker(&[
        "run",
        "--rm",
        "--pid",
        "container:nosuch",
        "busybox",
        "true",
    ]);
    assert_ne!(code(&o), 0);
    d.ok(&["stop", "-t", "0", "private"]);
    let o = d.docker(&[
        "run",
        "--rm",
        "--pid",
        "container:private",
        "busybox",
        "true",
    ]);
    assert_ne!(code(&o), 0);
    assert!(
        stderr(&o).contains("non running container"),
        "{}",
        stderr(&o)
    );
    let o = d.docker(&["run", "--rm", "--ipc", "bogus", "busybox", "true"]);
    assert_eq!(code(&o), 125);
    let mounts_before_rm = d.host.sh("cat /proc/self/mounts").expect("mounts");
    assert!(
        mounts_before_rm.contains("/mounts/shm "),
        "the shareable donor's host-side shm: {mounts_before_rm}"
    );
    d.ok(&["rm", "-f", "donor", "joiner", "ipcjoiner", "private"]);
    let mounts = d.host.sh("cat /proc/self/mounts").expect("mounts");
    assert!(
        !mounts.contains("/mounts/shm "),
        "shm left mounted: {mounts}"
    );

    // A log driver berth does not have is refused at create.
    let o = d.docker(&["run", "--rm", "--log-driver", "syslog", "busybox", "true"]);
    assert_eq!(code(&o), 125);
    assert!(
        stderr(&o).contains("no log driver named 'syslog'"),
        "{}",
        stderr(&o)
    );
    d.ok(&["create", "--name", "logs", "busybox", "true"]);
    let lt = d.ok(&["inspect", "-f", "{{.HostConfig.LogConfig.Type}}", "logs"]);
    assert_eq!(lt.trim(), "json-file");

    // system df counts the image and who uses it; system prune removes
    // the stopped container and answers the build-cache step.
    let df = d.ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}} {{.TotalCount}} {{.Active}}",
    ]);
    assert!(df.contains("Images 1 1"), "{df}");
    assert!(df.contains("Containers 1 0"), "{df}");
    let out = d.ok(&["system", "prune", "-f"]);
    assert!(out.contains("Total reclaimed space"), "{out}");
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "");
    let df = d.ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}} {{.TotalCount}} {{.Active}}",
    ]);
    assert!(df.contains("Images 1 0"), "{df}");
}
