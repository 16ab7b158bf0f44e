//! berthd driven by docker-py (Debian's python3-docker, the Docker SDK for
//! Python): the core scenario (run, logs, exec, wait, stop, volumes,
//! images, errors) and more (stats, streamed logs, demuxed exec, top,
//! update, pause, rename, archives, healthchecks, events, prune, df).
//! Skipped, saying why, when python3 cannot import `docker`.

mod docker_support;

use docker_support::Daemon;

fn have_docker_py() -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import docker"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!(
            "SKIP: python3 cannot import docker (apt-get install python3-docker, as .ci/run does)"
        );
    }
    ok
}

fn run_script(name: &str, ok_line: &str) {
    if !have_docker_py() {
        return;
    }
    let d = Daemon::start();
    d.load_busybox();
    let script = format!("{}/tests/docker_py/{name}", env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(format!("unix://{}", d.sock.display()))
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains(ok_line),
        "docker-py {name} failed ({}):\n{stdout}\n{stderr}\nberthd log tail:\n{}",
        out.status,
        docker_support::tail(&d.log_text(), 30)
    );
}

#[test]
fn docker_py_runs_the_core_scenario() {
    run_script("scenario.py", "docker-py scenario ok");
}

#[test]
fn docker_py_stats_archives_health_events_prune() {
    run_script("more.py", "docker-py more ok");
}

#[test]
fn docker_py_suite_gaps_swarm_kill_exec_detach_endpoints_prune() {
    run_script("suite_gaps.py", "docker-py suite gaps ok");
}
