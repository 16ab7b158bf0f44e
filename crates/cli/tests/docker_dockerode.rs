//! What dockerode's test suite (scripts/dockerode-suite.sh) found berthd
//! doing differently from dockerd, each through the HTTP API or the
//! docker CLI: attach and exec start without `Upgrade` (dockerode's
//! default) answer a 200 streaming the output, a list limit includes
//! stopped containers, a created container has its (empty) /etc files,
//! `RUN --mount` fails at its step (classic builder), not at parse.

mod docker_support;

use docker_support::raw_http::{self, demux};
use docker_support::{code, stderr, stdout, Daemon};

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[test]
fn attach_without_upgrade_streams_the_output_in_a_200_sent_before_start() {
    let d = Daemon::start();
    d.load_busybox();
    let id = d.ok(&["create", "busybox", "sh", "-c", "echo out; echo err >&2"]);
    let id = id.trim();
    // The head must come before the container starts: dockerode starts it
    // only once the attach has answered.
    let attach = raw_http::request(
        &d.sock,
        "POST",
        &format!("/containers/{id}/attach?stream=1&stdout=1&stderr=1"),
        "",
    );
    assert_eq!(attach.status, 200, "head: {:?}", attach.headers);
    assert_eq!(
        attach.header("content-type"),
        Some("application/vnd.docker.raw-stream")
    );
    d.ok(&["start", id]);
    let mut frames = demux(&attach.body());
    frames.sort();
    assert_eq!(
        frames,
        vec![(1, b"out\n".to_vec()), (2, b"err\n".to_vec())],
        "attach output"
    );
}

#[test]
fn exec_start_without_upgrade_streams_the_output_in_a_200() {
    let d = Daemon::start();
    d.load_busybox();
    let id = d.ok(&["run", "-d", "busybox", "sleep", "300"]);
    let id = id.trim();
    let (code, body) = d.http(
        "POST",
        &format!("/containers/{id}/exec"),
        Some(r#"{"AttachStdout":true,"AttachStderr":true,"Cmd":["sh","-c","echo foo; exit 3"]}"#),
    );
    assert_eq!(code, 201, "exec create: {body}");
    let exec = json(&body)["Id"].as_str().expect("exec Id").to_owned();
    let start = raw_http::request(
        &d.sock,
        "POST",
        &format!("/exec/{exec}/start"),
        r#"{"Detach":false,"Tty":false}"#,
    );
    assert_eq!(start.status, 200, "head: {:?}", start.headers);
    assert_eq!(demux(&start.body()), vec![(1, b"foo\n".to_vec())]);
    let (code, body) = d.http("GET", &format!("/exec/{exec}/json"), None);
    assert_eq!(code, 200, "exec inspect: {body}");
    let v = json(&body);
    assert_eq!(v["Running"], false, "{body}");
    assert_eq!(v["ExitCode"], 3, "{body}");
    d.ok(&["rm", "-f", id]);
}

#[test]
fn a_list_limit_includes_containers_that_are_not_running() {
    let d = Daemon::start();
    d.load_busybox();
    let a = d.ok(&["create", "-l", "probe", "busybox", "true"]);
    let b = d.ok(&["create", "-l", "probe", "-l", "kind=b", "busybox", "true"]);
    assert_eq!(d.ok(&["ps", "-q"]).trim(), "", "ps lists only running ones");
    // docker ps -n N: the N last created, whatever their state.
    let last = d.ok(&["ps", "-q", "--no-trunc", "-n", "1"]);
    assert_eq!(last.trim(), b.trim());
    // filters={"label":["probe"]}, as dockerode sends it.
    let (code, body) = d.http(
        "GET",
        "/containers/json?limit=3&filters=%7B%22label%22%3A%5B%22probe%22%5D%7D",
        None,
    );
    assert_eq!(code, 200, "{body}");
    let mut ids: Vec<String> = json(&body)
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| c["Id"].as_str().unwrap_or_default().to_owned())
        .collect();
    ids.sort();
    let mut want = vec![a.trim().to_owned(), b.trim().to_owned()];
    want.sort();
    assert_eq!(ids, want, "limit=3 with a label filter: {body}");
}

#[test]
fn a_created_container_has_empty_etc_files_before_its_first_start() {
    let d = Daemon::start();
    d.load_busybox();
    let id = d.ok(&["create", "busybox", "sh", "-c", "exit 0"]);
    let id = id.trim();
    let out = d.host.root().join("copied");
    std::fs::create_dir_all(&out).expect("out dir");
    // dockerode's getArchive of /etc/resolv.conf on a container it has
    // only created; dockerd's init layer has the empty file.
    for f in ["resolv.conf", "hosts", "hostname"] {
        let dest = out.join(f);
        d.ok(&["cp", &format!("{id}:/etc/{f}"), &dest.to_string_lossy()]);
        let len = std::fs::metadata(&dest).expect("copied file").len();
        assert_eq!(len, 0, "/etc/{f} of a created container");
    }
    d.ok(&["start", id]);
    d.ok(&["wait", id]);
    let hosts = d.ok(&["cp", &format!("{id}:/etc/hostname"), "-"]);
    assert!(hosts.contains(&id[..12]), "hostname after start: {hosts}");
}

#[test]
fn run_mount_parses_and_fails_at_its_step_as_in_the_classic_builder() {
    let d = Daemon::start();
    d.load_busybox();
    let ctx = d.host.root().join("ctx");
    std::fs::create_dir_all(&ctx).expect("context dir");
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN --mount=type=cache,target=/test echo test\n",
    )
    .expect("Dockerfile");
    let out = d
        .docker_cmd(&["build", &ctx.to_string_lossy()])
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .expect("docker build");
    let (so, se) = (stdout(&out), stderr(&out));
    assert_ne!(code(&out), 0, "the build must fail: {so}");
    // The earlier steps ran and the stream (HTTP 200) carries the error.
    assert!(
        so.contains("Step 1/2 : FROM busybox"),
        "stdout: {so}\nstderr: {se}"
    );
    assert!(
        so.contains("Step 2/2 : RUN --mount=type=cache,target=/test echo test"),
        "stdout: {so}\nstderr: {se}"
    );
    assert!(
        se.contains("the --mount option requires BuildKit"),
        "stderr: {se}"
    );
}
