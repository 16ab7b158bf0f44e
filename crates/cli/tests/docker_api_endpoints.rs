//! Engine API features through the docker CLI v28 (and raw requests
//! where the CLI has no verb): volume subpaths (`--mount
//! type=volume,...,volume-subpath=SUB`), the websocket attach
//! (`/containers/{id}/attach/ws`), the answer to a `docker load` of
//! something that is not an image archive, and a loopback TCP host
//! beside the unix socket. One daemon per test, in its own sandbox host.

mod docker_support;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use docker_support::{code, stderr, Daemon};

#[test]
fn a_volume_subpath_mounts_only_that_directory() {
    let d = Daemon::start();
    d.load_busybox();
    d.ok(&["volume", "create", "vol"]);
    d.ok(&[
        "run",
        "--rm",
        "-v",
        "vol:/v",
        "busybox",
        "sh",
        "-c",
        "mkdir -p /v/sub/deeper && echo inside > /v/sub/f && echo top > /v/top \
         && ln -s sub /v/alias && ln -s / /v/escape",
    ]);
    let m = "type=volume,src=vol,dst=/x,volume-subpath=sub";
    let out = d.ok(&[
        "run",
        "--rm",
        "--mount",
        m,
        "busybox",
        "sh",
        "-c",
        "cat /x/f; ls /x",
    ]);
    assert_eq!(out, "inside\ndeeper\nf\n");
    // A symlink inside the volume that stays inside is followed.
    let m = "type=volume,src=vol,dst=/x,volume-subpath=alias,readonly";
    assert_eq!(
        d.ok(&["run", "--rm", "--mount", m, "busybox", "cat", "/x/f"]),
        "inside\n"
    );
    // The subpath is recorded with the mount.
    let m = "type=volume,src=vol,dst=/x,volume-subpath=sub/deeper";
    d.ok(&["create", "--name", "kept", "--mount", m, "busybox", "true"]);
    assert_eq!(
        d.inspect(
            "kept",
            "{{(index .HostConfig.Mounts 0).VolumeOptions.Subpath}}"
        ),
        "sub/deeper"
    );
}

#[test]
fn bad_volume_subpaths_are_refused_as_dockerd_refuses_them() {
    let d = Daemon::start();
    d.load_busybox();
    d.ok(&["volume", "create", "vol"]);
    d.ok(&[
        "run",
        "--rm",
        "-v",
        "vol:/v",
        "busybox",
        "ln",
        "-s",
        "/",
        "/v/escape",
    ]);
    let run = |sub: &str| {
        let m = format!("type=volume,src=vol,dst=/x,volume-subpath={sub}");
        d.docker(&["run", "--rm", "--mount", &m, "busybox", "true"])
    };
    // Lexically outside the volume: refused at create.
    for sub in ["../other", "/etc"] {
        let out = run(sub);
        assert_eq!(code(&out), 125);
        assert!(
            stderr(&out).contains(
                "invalid mount config for type \"volume\": subpath must be a relative path within the volume"
            ),
            "{sub}: {}",
            stderr(&out)
        );
    }
    // Missing, or a symlink that leads out: refused at start.
    let out = run("missing");
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains("cannot access path"),
        "{}",
        stderr(&out)
    );
    let out = run("escape");
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains("path concatenation escapes the base directory"),
        "{}",
        stderr(&out)
    );
    // An anonymous volume has no subpath (raw API: the CLI needs a src).
    let (status, body) = d.http(
        "POST",
        "/containers/create",
        Some(
            r#"{"Image": "busybox", "HostConfig": {"Mounts": [{"Type": "volume", "Target": "/x",
                "VolumeOptions": {"Subpath": "sub"}}]}}"#,
        ),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("must not set Subpath when using anonymous volumes"),
        "{body}"
    );
    // Before API 1.45 there are no subpaths.
    let (status, body) = d.http(
        "POST",
        "/v1.44/containers/create",
        Some(
            r#"{"Image": "busybox", "HostConfig": {"Mounts": [{"Type": "volume", "Source": "vol",
                "Target": "/x", "VolumeOptions": {"Subpath": "sub"}}]}}"#,
        ),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("VolumeOptions.Subpath needs API v1.45 or newer"),
        "{body}"
    );
    assert!(
        d.ok(&["ps", "-aq"]).trim().is_empty(),
        "a container was left"
    );
}

/// A websocket client on berthd's socket: the handshake's response head
/// and the connection.
fn ws_connect(d: &Daemon, path: &str) -> (String, UnixStream) {
    let mut s = UnixStream::connect(&d.sock).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: berth\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .expect("handshake");
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).expect("response head");
        head.push(b[0]);
    }
    (String::from_utf8_lossy(&head).into_owned(), s)
}

/// Reads server frames until the close frame: (opcode, payload) each.
fn ws_frames(s: &mut UnixStream) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    loop {
        let mut h = [0u8; 2];
        if s.read_exact(&mut h).is_err() {
            return out;
        }
        assert_eq!(h[1] & 0x80, 0, "server frames are not masked");
        let len = match h[1] & 0x7F {
            126 => {
                let mut l = [0u8; 2];
                s.read_exact(&mut l).expect("len");
                u16::from_be_bytes(l) as usize
            }
            127 => {
                let mut l = [0u8; 8];
                s.read_exact(&mut l).expect("len");
                u64::from_be_bytes(l) as usize
            }
            n => n as usize,
        };
        let mut p = vec![0u8; len];
        s.read_exact(&mut p).expect("payload");
        let op = h[0] & 0x0F;
        if op == 0x8 {
            return out;
        }
        out.push((op, p));
    }
}

/// One masked client frame.
fn ws_send(s: &mut UnixStream, opcode: u8, payload: &[u8]) {
    let mask = [0x37u8, 0xfa, 0x21, 0x3d];
    let mut f = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    s.write_all(&f).expect("send frame");
}

#[test]
fn the_websocket_attach_carries_stdin_and_output_as_binary_frames() {
    let d = Daemon::start();
    d.load_busybox();
    d.ok(&[
        "create",
        "-i",
        "--name",
        "ws",
        "busybox",
        "sh",
        "-c",
        "read line; echo \"got $line\"; echo err >&2",
    ]);
    let (head, mut s) = ws_connect(
        &d,
        "/v1.45/containers/ws/attach/ws?stdin=1&stdout=1&stderr=1&stream=1",
    );
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    d.ok(&["start", "ws"]);
    ws_send(&mut s, 0x2, b"hello\n");
    let frames = ws_frames(&mut s);
    assert!(frames.iter().all(|(op, _)| *op == 0x2), "{frames:?}");
    let text: Vec<u8> = frames.into_iter().flat_map(|(_, p)| p).collect();
    let text = String::from_utf8_lossy(&text);
    assert!(
        text.contains("got hello\n") && text.contains("err\n"),
        "{text:?}"
    );
    assert!(
        !text.contains('\u{1}'),
        "output is not stdcopy-framed: {text:?}"
    );
}

#[test]
fn the_websocket_attach_ends_at_the_detach_keys_and_the_container_runs_on() {
    let d = Daemon::start();
    d.load_busybox();
    d.ok(&["run", "-d", "-i", "--name", "cat", "busybox", "cat"]);
    let (head, mut s) = ws_connect(
        &d,
        "/v1.45/containers/cat/attach/ws?stdin=1&stdout=1&stream=1&detachKeys=ctrl-x",
    );
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    ws_send(&mut s, 0x2, b"echoed\n");
    let mut got = Vec::new();
    while !got.ends_with(b"echoed\n") {
        let mut h = [0u8; 2];
        s.read_exact(&mut h).expect("frame head");
        assert_eq!(h[0], 0x82, "a binary data frame");
        let mut p = vec![0u8; usize::from(h[1] & 0x7F)];
        s.read_exact(&mut p).expect("payload");
        got.extend(p);
    }
    ws_send(&mut s, 0x2, &[0x18]);
    assert!(
        ws_frames(&mut s).is_empty(),
        "only the close frame after the detach"
    );
    assert_eq!(d.inspect("cat", "{{.State.Status}}"), "running");
    d.ok(&["rm", "-f", "cat"]);
}

#[test]
fn the_websocket_attach_replays_logs_in_text_frames_for_old_clients() {
    let d = Daemon::start();
    d.load_busybox();
    d.ok(&["run", "--name", "done", "busybox", "echo", "logged"]);
    // API 1.27: text frames, all streams; stream=0: the log only.
    let (head, mut s) = ws_connect(&d, "/v1.27/containers/done/attach/ws?logs=1");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(ws_frames(&mut s), vec![(0x1, b"logged\n".to_vec())]);

    // Not a websocket handshake; an unknown container.
    let (status, _) = d.http("GET", "/containers/done/attach/ws?logs=1", None);
    assert_eq!(status, 400);
    let (head, _) = ws_connect(&d, "/containers/nope/attach/ws?logs=1");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
}

#[test]
fn loading_something_that_is_not_an_image_archive_fails_in_the_stream() {
    let d = Daemon::start();
    let bad = d.host.root().join("bad.tar");
    std::fs::write(&bad, "abc").expect("write");
    let out = d.docker(&["load", "-i", &bad.to_string_lossy()]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(!stderr(&out).trim().is_empty());
    // As dockerd: a 200 whose JSON stream carries the error.
    let (status, body) = d.http("POST", "/images/load", Some("abc"));
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(body.trim()).expect("one JSON line");
    let msg = v["errorDetail"]["message"].as_str().unwrap_or_default();
    assert!(!msg.is_empty() && v["error"] == msg, "{body}");
    assert!(stderr(&out).contains(msg), "{} vs {msg}", stderr(&out));
    assert!(d.ok(&["images", "-q"]).trim().is_empty());
}

#[test]
fn a_loopback_tcp_host_serves_the_api_beside_the_unix_socket() {
    // The sandbox's own loopback: the docker CLI runs inside it.
    let d = Daemon::start_with("{}", &["-H", "tcp://127.0.0.1:2375"]);
    d.load_busybox();
    let out = d
        .host
        .sh(
            "DOCKER_HOST=tcp://127.0.0.1:2375 docker run --rm busybox echo over-tcp \
             && DOCKER_HOST=tcp://127.0.0.1:2375 docker info --format '{{.DefaultRuntime}}'",
        )
        .expect("docker over tcp");
    assert_eq!(out, "over-tcp\nrunc\n");
    // And the unix socket still answers.
    assert_eq!(
        d.ok(&["info", "--format", "{{.DefaultRuntime}}"]).trim(),
        "runc"
    );
}
