//! berthd driven by docker-py (Debian's python3-docker, the Docker SDK for
//! Python): run, logs, exec, wait, stop, volumes, images, errors.

mod docker_support;

use docker_support::Daemon;

#[test]
fn docker_py_runs_the_core_scenario() {
    let d = Daemon::start();
    d.load_busybox();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/docker_py/scenario.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(format!("unix://{}", d.sock.display()))
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("docker-py scenario ok"),
        "docker-py failed ({}):\n{stdout}\n{stderr}\nberthd log tail:\n{}",
        out.status,
        docker_support::tail(&d.log_text(), 30)
    );
}
