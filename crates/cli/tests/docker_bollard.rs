//! What bollard (the Rust Docker client) relies on, as its integration
//! suite found it (scripts/bollard-suite.sh, docs/engine.md): the tag a
//! pull's `fromImage` carries, `/distribution/{name}/json`, `POST /auth`,
//! a build's `X-Registry-Config`, gzipped archive uploads, `null` changes,
//! volume prune's `label!`, and imports whose tar headers leave numeric
//! fields unset. One daemon (and registry) per test, in its own sandbox
//! host; the docker CLI v28 and raw HTTP drive it.

mod docker_support;

use base64::Engine as _;
use docker_support::{stderr, Daemon};

const REG: &str = "127.0.0.1:5000";

/// `s` percent-encoded for a query string.
fn q(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The lines of a JSON message stream.
fn messages(body: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(body)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// busybox pushed to the registry as `name`, and gone from the engine.
fn push_busybox(d: &Daemon, name: &str) {
    d.load_busybox();
    d.ok(&["tag", "busybox", name]);
    d.ok(&["push", name]);
    d.ok(&["rmi", name]);
}

fn login(d: &Daemon, user: &str, password: &str) -> std::process::Output {
    d.docker(&["login", "-u", user, "-p", password, REG])
}

#[test]
fn a_pull_reports_the_tag_its_from_image_names() {
    let d = Daemon::start();
    let Some(_reg) = d.start_registry(None) else {
        return;
    };
    let image = format!("{REG}/hello-world:linux");
    push_busybox(&d, &image);
    // bollard sends the tag inside fromImage, with no tag parameter.
    let (status, body) = d.http_bytes(
        "POST",
        &format!("/images/create?fromImage={}", q(&image)),
        &[],
        None,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let msgs = messages(&body);
    assert_eq!(
        msgs[0],
        serde_json::json!({ "status": "Pulling from hello-world", "id": "linux" }),
        "{msgs:?}"
    );
    let last = msgs
        .last()
        .map(|m| m["status"].to_string())
        .unwrap_or_default();
    assert!(last.contains("Downloaded newer image"), "{msgs:?}");
    assert_eq!(d.inspect(&image, "{{index .RepoTags 0}}"), image);
}

#[test]
fn distribution_inspect_asks_the_registry() {
    let d = Daemon::start();
    let Some(_reg) = d.start_registry(None) else {
        return;
    };
    let image = format!("{REG}/dist/bb:1");
    push_busybox(&d, &image);
    let (status, body) = d.http("GET", &format!("/distribution/{image}/json"), None);
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    let digest = v["Descriptor"]["digest"].as_str().unwrap_or("");
    assert!(digest.starts_with("sha256:"), "{v}");
    assert!(v["Descriptor"]["size"].as_i64().unwrap_or(0) > 0, "{v}");
    assert!(
        v["Descriptor"]["mediaType"]
            .as_str()
            .unwrap_or("")
            .contains("manifest"),
        "{v}"
    );
    assert_eq!(v["Platforms"][0]["os"], "linux", "{v}");
    assert_eq!(
        v["Platforms"][0]["architecture"],
        d.inspect("busybox", "{{.Architecture}}"),
        "{v}"
    );
    // Nothing was pulled.
    assert_ne!(berth_status(&d, &image), 0);
    let (status, body) = d.http(
        "GET",
        &format!("/distribution/{REG}/dist/nosuch:1/json"),
        None,
    );
    assert_eq!(status, 404, "{body}");
}

fn berth_status(d: &Daemon, image: &str) -> i32 {
    d.docker(&["image", "inspect", image])
        .status
        .code()
        .unwrap_or(-1)
}

#[test]
fn login_checks_the_credentials_with_the_registry() {
    let d = Daemon::start();
    let Some(_reg) = d.start_registry(Some(("bollard", "s3cret"))) else {
        return;
    };
    let bad = login(&d, "bollard", "nope");
    assert!(!bad.status.success(), "a wrong password logged in");
    assert!(stderr(&bad).contains("unauthorized"), "{}", stderr(&bad));
    let (status, body) = d.http(
        "POST",
        "/auth",
        Some(r#"{"username":"bollard","password":"nope","serveraddress":"127.0.0.1:5000"}"#),
    );
    assert_eq!(status, 401, "{body}");
    let (status, body) = d.http(
        "POST",
        "/auth",
        Some(r#"{"username":"bollard","password":"s3cret","serveraddress":"http://127.0.0.1:5000/v2/"}"#),
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["Status"], "Login Succeeded");
    let good = login(&d, "bollard", "s3cret");
    assert!(good.status.success(), "{}", stderr(&good));
    // The stored login is what push then sends.
    push_busybox(&d, &format!("{REG}/auth/bb:1"));
    let (status, _) = d.http("POST", "/auth", Some(r#"{"password":"x"}"#));
    assert_eq!(status, 400);
}

/// A build context: just a Dockerfile.
fn context(dockerfile: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(dockerfile.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, "Dockerfile", dockerfile.as_bytes())
        .expect("context");
    b.into_inner().expect("context")
}

#[test]
fn a_build_pulls_from_with_its_x_registry_config() {
    let d = Daemon::start();
    let Some(_reg) = d.start_registry(Some(("bollard", "s3cret"))) else {
        return;
    };
    let base = format!("{REG}/base/bb:1");
    // Pushed with an X-Registry-Auth of its own: no login is stored.
    d.load_busybox();
    d.ok(&["tag", "busybox", &base]);
    let auth =
        serde_json::json!({ "username": "bollard", "password": "s3cret", "serveraddress": REG });
    let auth = format!(
        "X-Registry-Auth: {}",
        base64::engine::general_purpose::URL_SAFE.encode(auth.to_string())
    );
    let (status, body) = d.http_bytes(
        "POST",
        &format!("/images/{REG}/base/bb/push?tag=1"),
        &[&auth],
        None,
    );
    let pushed = messages(&body);
    assert_eq!(status, 200, "{pushed:?}");
    assert!(
        pushed.iter().all(|m| m.get("error").is_none()),
        "{pushed:?}"
    );
    d.ok(&["rmi", &base]);
    let ctx = context(&format!("FROM {base}\nLABEL built=yes\n"));
    let path = "/build?t=fromauth:1&rm=1";
    let denied = d.http_bytes(
        "POST",
        path,
        &["Content-Type: application/x-tar"],
        Some(&ctx),
    );
    let denied_text = String::from_utf8_lossy(&denied.1).into_owned();
    assert!(denied_text.contains("unauthorized"), "{denied_text}");
    // A header that does not decode counts as none, as in dockerd.
    let garbled = d.http_bytes(
        "POST",
        path,
        &[
            "Content-Type: application/x-tar",
            "X-Registry-Config: !!not base64",
        ],
        Some(&ctx),
    );
    let garbled_text = String::from_utf8_lossy(&garbled.1).into_owned();
    assert!(garbled_text.contains("unauthorized"), "{garbled_text}");
    let config = serde_json::json!({ REG: { "username": "bollard", "password": "s3cret" } });
    let header = format!(
        "X-Registry-Config: {}",
        base64::engine::general_purpose::URL_SAFE.encode(config.to_string())
    );
    let (status, body) = d.http_bytes(
        "POST",
        path,
        &["Content-Type: application/x-tar", &header],
        Some(&ctx),
    );
    let msgs = messages(&body);
    assert_eq!(status, 200, "{msgs:?}");
    assert!(msgs.iter().all(|m| m.get("error").is_none()), "{msgs:?}");
    assert_eq!(d.inspect("fromauth:1", "{{.Config.Labels.built}}"), "yes");
}

#[test]
fn an_archive_upload_may_be_gzipped() {
    let d = Daemon::start();
    d.load_busybox();
    d.ok(&[
        "create",
        "--name",
        "arch",
        "busybox",
        "cat",
        "/tmp/readme.txt",
    ]);
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    let text = b"Hello from Bollard!";
    h.set_size(text.len() as u64);
    h.set_mode(0o744);
    b.append_data(&mut h, "readme.txt", &text[..]).expect("tar");
    let tar = b.into_inner().expect("tar");
    let gz = {
        use std::io::Write;
        let mut c = std::process::Command::new("gzip")
            .arg("-c")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("gzip");
        if let Some(mut i) = c.stdin.take() {
            i.write_all(&tar).expect("gzip stdin");
        }
        c.wait_with_output().expect("gzip").stdout
    };
    assert_eq!(&gz[..2], &[0x1f, 0x8b]);
    let (status, body) = d.http_bytes(
        "PUT",
        "/containers/arch/archive?path=/tmp",
        &["Content-Type: application/x-tar"],
        Some(&gz),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(d.ok(&["start", "-a", "arch"]), "Hello from Bollard!");
    // Not a tar however it is read: still a 400.
    let (status, _) = d.http_bytes(
        "PUT",
        "/containers/arch/archive?path=/tmp",
        &[],
        Some(b"\x1f\x8b\x08junk"),
    );
    assert_eq!(status, 400);
}

#[test]
fn changes_of_an_untouched_container_are_null() {
    let d = Daemon::start();
    d.load_busybox();
    d.ok(&["run", "--name", "quiet", "busybox", "true"]);
    let (status, body) = d.http("GET", "/containers/quiet/changes", None);
    assert_eq!((status, body.trim()), (200, "null"));
    d.ok(&["run", "--name", "busy", "busybox", "touch", "/made"]);
    let (status, body) = d.http("GET", "/containers/busy/changes", None);
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v, serde_json::json!([{ "Path": "/made", "Kind": 1 }]));
}

#[test]
fn volume_prune_leaves_out_what_label_not_matches() {
    let d = Daemon::start();
    d.ok(&["volume", "create", "plain"]);
    d.ok(&["volume", "create", "--label", "maintainer=keep", "kept"]);
    d.ok(&["volume", "create", "--label", "maintainer=other", "other"]);
    let filters = q(r#"{"all":["true"],"label!":["maintainer=keep"]}"#);
    let (status, body) = d.http("POST", &format!("/volumes/prune?filters={filters}"), None);
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    let mut deleted: Vec<&str> = v["VolumesDeleted"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    deleted.sort_unstable();
    assert_eq!(deleted, ["other", "plain"], "{v}");
    assert_eq!(d.ok(&["volume", "ls", "-q"]).trim(), "kept");
}

#[test]
fn an_import_may_leave_numeric_header_fields_unset() {
    let d = Daemon::start();
    // What the tar crate's Header::new_gnu writes when only the name and
    // size are set: uid, gid, mode and mtime all NULs (bollard's wasm test).
    let mut h = tar::Header::new_gnu();
    h.set_path("entrypoint.wasm").expect("name");
    h.set_size(0);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, &[][..]).expect("tar");
    let tar = b.into_inner().expect("tar");
    let (status, body) = d.http_bytes(
        "POST",
        "/images/create?fromSrc=-&repo=empty-wasm&tag=latest",
        &["Content-Type: application/x-tar"],
        Some(&tar),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        d.inspect("empty-wasm:latest", "{{index .RepoTags 0}}"),
        "empty-wasm:latest"
    );
}

/// Serves `answers` search requests on `listener` with `results`,
/// returning the request lines it was sent.
fn fake_index(
    listener: std::net::TcpListener,
    answers: usize,
    results: &'static str,
) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        use std::io::{BufRead, Write};
        let mut asked = Vec::new();
        for _ in 0..answers {
            let Ok((s, _)) = listener.accept() else {
                break;
            };
            let mut r = std::io::BufReader::new(s);
            let mut line = String::new();
            let _ = r.read_line(&mut line);
            asked.push(line.trim_end().to_owned());
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            let body = format!(r#"{{"num_results":2,"query":"q","results":{results}}}"#);
            let _ = write!(
                r.get_mut(),
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
        asked
    })
}

#[test]
fn search_asks_the_registry_the_term_names() {
    let d = Daemon::start();
    let listener = d
        .host
        .enter_keep_pidns(|| std::net::TcpListener::bind(REG))
        .expect("enter the sandbox")
        .expect("bind 127.0.0.1:5000");
    let server = fake_index(
        listener,
        2,
        r#"[{"name":"hello-world","description":"Hello","star_count":5,"is_official":true,"is_automated":false},
            {"name":"you/hello","description":"","star_count":1,"is_official":false,"is_automated":true}]"#,
    );
    let (status, body) = d.http(
        "GET",
        &format!("/images/search?term={REG}/hello&limit=10"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v.as_array().map(Vec::len), Some(2), "{v}");
    assert_eq!(v[0]["name"], "hello-world");
    assert_eq!(v[0]["star_count"], 5);
    assert_eq!(v[0]["is_official"], true);
    assert_eq!(v[1]["is_automated"], true);
    let filters = q(r#"{"stars":["3"],"is-official":["true"]}"#);
    let (status, body) = d.http(
        "GET",
        &format!("/images/search?term={REG}/hello&filters={filters}"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        v,
        serde_json::json!([{ "name": "hello-world", "description": "Hello", "star_count": 5, "is_official": true, "is_automated": false }])
    );
    let asked = server.join().expect("fake index");
    assert_eq!(
        asked,
        [
            "GET /v1/search?q=hello&n=10 HTTP/1.1",
            "GET /v1/search?q=hello&n=25 HTTP/1.1"
        ]
    );
    // dockerd's bad input, answered before any registry is asked.
    for bad in [
        "limit=101".to_owned(),
        format!("filters={}", q(r#"{"bogus":["1"]}"#)),
        format!("filters={}", q(r#"{"stars":["many"]}"#)),
        format!("filters={}", q(r#"{"is-official":["maybe"]}"#)),
    ] {
        let (status, body) = d.http(
            "GET",
            &format!("/images/search?term={REG}/hello&{bad}"),
            None,
        );
        assert_eq!(status, 400, "{bad}: {body}");
    }
}
