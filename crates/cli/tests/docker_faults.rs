//! Faults, driven by the docker CLI: berthd killed (SIGKILL) in the middle
//! of create and of rm (at crash points, `BERTH_CRASH_AT`, so the moment
//! is exact), kill -9 of berthd with running containers and of monitors
//! while it is down. The restarted daemon reports the truth, and once the
//! containers are removed nothing is left: mounts, cgroups, processes,
//! rootfs and files on disk, records.

mod docker_support;

use docker_support::{code, stderr, Daemon};

fn dir_entries(p: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(p)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Everything a removed container could leave behind.
fn assert_nothing_left(d: &Daemon) {
    assert_eq!(d.ok(&["ps", "-aq"]).trim(), "", "containers left");
    let lib = &d.host.dirs().lib;
    let run = &d.host.dirs().run;
    assert_eq!(
        dir_entries(&lib.join("image/containers")),
        Vec::<String>::new(),
        "rootfs left"
    );
    assert_eq!(
        dir_entries(&lib.join("containers")),
        Vec::<String>::new(),
        "container files left"
    );
    assert_eq!(
        dir_entries(&run.join("c")),
        Vec::<String>::new(),
        "run dirs left"
    );
    assert!(
        d.berth_mounts().is_empty(),
        "mounts left: {:?}",
        d.berth_mounts()
    );
    assert!(
        d.leftover_cgroups().is_empty(),
        "cgroups left: {:?}",
        d.leftover_cgroups()
    );
    let procs = d.sandbox_processes();
    assert!(
        !procs.contains("berth monitor") && !procs.contains("sleep 1000"),
        "processes left:\n{procs}"
    );
}

fn wait_exit(d: &mut Daemon) {
    for _ in 0..200 {
        if d.exited() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("berthd did not stop at its crash point:\n{}", d.log_text());
}

#[test]
fn berthd_killed_during_create_leaves_nothing_after_restart() {
    let mut d = Daemon::start();
    d.load_busybox();
    d.start_again(&[("BERTH_CRASH_AT", "create:rootfs-made")]);
    let out = d.docker(&["create", "--name", "half", "busybox", "true"]);
    assert_ne!(code(&out), 0, "create answered although berthd died");
    wait_exit(&mut d);
    // The crash point was reached: a rootfs exists that no record names.
    let lib = d.host.dirs().lib.clone();
    assert_eq!(dir_entries(&lib.join("image/containers")).len(), 1);
    d.start_again(&[]);
    assert_eq!(
        d.ok(&["ps", "-aq"]).trim(),
        "",
        "no half-made container is listed"
    );
    assert_nothing_left(&d);
    // The name was never taken; the image can go (no orphan holds it).
    d.ok(&["create", "--name", "half", "busybox", "true"]);
    d.ok(&["rm", "half"]);
    d.ok(&["rmi", "busybox"]);
    assert_nothing_left(&d);
}

#[test]
fn berthd_killed_during_rm_reports_a_dead_container_that_rm_removes() {
    let mut d = Daemon::start();
    d.load_busybox();
    for point in ["remove:marked", "remove:rootfs-gone"] {
        d.start_again(&[("BERTH_CRASH_AT", point)]);
        let cid = d.ok(&["run", "-d", "-v", "/anon", "busybox", "sleep", "1000"]);
        let cid = cid.trim().to_owned();
        let out = d.docker(&["rm", "-f", "-v", &cid]);
        assert_ne!(code(&out), 0, "{point}: rm answered although berthd died");
        wait_exit(&mut d);
        d.start_again(&[]);
        // As dockerd does after a crash mid-removal: the container is
        // reported dead, and rm finishes the job.
        let st = d.ok(&["inspect", "-f", "{{.State.Status}} {{.State.Pid}}", &cid]);
        assert_eq!(st.trim(), "dead 0", "{point}");
        let ps = d.ok(&["ps", "-a", "--filter", "status=dead", "-q"]);
        assert_eq!(ps.trim(), &cid[..12], "{point}");
        let out = d.docker(&["start", &cid]);
        assert_ne!(code(&out), 0, "{point}: a dead container started");
        d.ok(&["rm", "-v", &cid]);
        let out = d.docker(&["inspect", &cid]);
        assert!(
            stderr(&out).contains("No such"),
            "{point}: {}",
            stderr(&out)
        );
        assert_nothing_left(&d);
    }
    // The anonymous volumes of the dead containers: prune takes them.
    d.ok(&["volume", "prune", "-f"]);
    assert_eq!(d.ok(&["volume", "ls", "-q"]).trim(), "");
}

#[test]
fn kill_9_of_berthd_and_of_monitors_then_the_truth_and_no_leaks() {
    let mut d = Daemon::start();
    d.load_busybox();
    let mut ids = Vec::new();
    for n in ["ka", "kb", "kc"] {
        let id = d.ok(&["run", "-d", "--name", n, "busybox", "sleep", "1000"]);
        ids.push(id.trim().to_owned());
    }
    d.ok(&["create", "--name", "idle", "busybox", "true"]);
    d.kill9();
    // While berthd is down, kc's monitor is killed. Its container's
    // process outlives it (as a runc container outlives a killed shim);
    // the restarted daemon finds the monitor gone, kills and cleans it.
    let run = d.host.dirs().run.clone();
    let monitor = std::fs::read_to_string(run.join("c").join(&ids[2][..16]).join("monitor.pid"))
        .expect("monitor pid");
    d.host
        .sh(&format!("kill -9 {}", monitor.trim()))
        .expect("kill monitor");
    let sleeping = |d: &Daemon| {
        d.host
            .sh("pgrep -xc -f 'sleep 1000' || true")
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    assert_eq!(
        sleeping(&d),
        "3",
        "every container's process lives on without berthd"
    );
    d.restart();
    let st = |d: &Daemon, n: &str| {
        d.ok(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", n])
            .trim()
            .to_owned()
    };
    assert_eq!(st(&d, "ka"), "running 0");
    assert_eq!(st(&d, "kb"), "running 0");
    let c = st(&d, "kc");
    assert!(c.starts_with("exited"), "kc after its monitor died: {c}");
    assert_eq!(st(&d, "idle"), "created 0");
    let mut left = String::new();
    for _ in 0..100 {
        left = sleeping(&d);
        if left == "2" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(left, "2", "kc's process is gone once berthd is back");
    assert_eq!(d.ok(&["exec", "ka", "echo", "alive"]).trim(), "alive");
    // A second crash with nothing in flight changes nothing.
    d.kill9();
    d.restart();
    assert_eq!(st(&d, "ka"), "running 0");
    d.ok(&["rm", "-f", "ka", "kb", "kc", "idle"]);
    assert_nothing_left(&d);
}
