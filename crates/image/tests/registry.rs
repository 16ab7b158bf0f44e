//! Pull and push against Debian's `docker-registry` (distribution 2.8),
//! started by each test on 127.0.0.1 inside a SandboxHost, cross-checked
//! with Debian's `skopeo`; and a fake registry for the answers a real one
//! does not give on demand (500, a connection dropped mid-blob).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use berth_image::registry::{Credentials, RegistryOptions};
use berth_image::{ImageError, ImageStore};
use berth_testsupport::images::{busybox_docker_archive, sha256};
use berth_testsupport::SandboxHost;
use common::*;

const ADDR: &str = "127.0.0.1:5000";

struct Registry {
    sandbox: SandboxHost,
    child: Child,
    dir: PathBuf,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tool_missing(tool: &str) -> bool {
    let missing = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true);
    if missing {
        berth_testsupport::kernel::report_skip(&format!(
            "{tool} is not installed (Debian package in .ci/run)"
        ));
    }
    missing
}

/// Starts docker-registry in a fresh sandbox; with `htpasswd`, user
/// `berth` / password `s3cret` are required.
fn start_registry(htpasswd: bool) -> Result<Registry, Box<dyn std::error::Error>> {
    start_registry_at(htpasswd, ADDR, None)
}

/// Like [`start_registry`] on `addr`, serving HTTPS with `tls` (cert, key).
fn start_registry_at(
    htpasswd: bool,
    addr: &str,
    tls: Option<(&Path, &Path)>,
) -> Result<Registry, Box<dyn std::error::Error>> {
    let sandbox = SandboxHost::new()?;
    // skopeo keeps a blob cache in /var/lib/containers: give this sandbox an
    // empty /var/lib of its own so nothing reaches the machine's.
    sandbox.sh("mount -t tmpfs berth-test-varlib /var/lib")?;
    let dir = sandbox.root().join("registry");
    std::fs::create_dir_all(dir.join("data"))?;
    let mut cfg = format!(
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
        dir.join("data").display()
    );
    if let Some((cert, key)) = tls {
        cfg.push_str(&format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            cert.display(),
            key.display()
        ));
    }
    cfg.push_str("log:\n  level: warn\n");
    if htpasswd {
        let out = Command::new("htpasswd")
            .args(["-Bbn", "berth", "s3cret"])
            .output()?;
        std::fs::write(dir.join("htpasswd"), &out.stdout)?;
        cfg.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
            dir.join("htpasswd").display()
        ));
    }
    std::fs::write(dir.join("config.yml"), cfg)?;
    let log = std::fs::File::create(dir.join("registry.log"))?;
    let child = sandbox.spawn(
        Command::new("docker-registry")
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log)),
    )?;
    let reg = Registry {
        sandbox,
        child,
        dir,
    };
    // Ready when it accepts connections (bounded wait, not a timing check).
    for _ in 0..400 {
        let up = reg
            .sandbox
            .enter_keep_pidns(|| std::net::TcpStream::connect(addr).is_ok())?;
        if up {
            return Ok(reg);
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let mut reg = reg;
    Err(format!(
        "docker-registry did not come up (exit: {:?}): {}\nconfig:\n{}",
        reg.child.try_wait(),
        std::fs::read_to_string(reg.dir.join("registry.log"))?,
        std::fs::read_to_string(reg.dir.join("config.yml"))?
    )
    .into())
}

fn skopeo(reg: &Registry, args: &[&str]) -> Result<String, Box<dyn std::error::Error>> {
    let mut cmd = Command::new("skopeo");
    cmd.arg("--insecure-policy").args(args);
    for v in [
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "no_proxy",
        "NO_PROXY",
    ] {
        cmd.env_remove(v);
    }
    Ok(reg.sandbox.run(&mut cmd)?)
}

fn loaded_busybox(dir: &Path) -> Result<(ImageStore, String, PathBuf), Box<dyn std::error::Error>> {
    let s = ImageStore::open(&dir.join("image"))?;
    let archive = dir.join("busybox.tar");
    let id = busybox_docker_archive(&archive)?;
    s.load(std::fs::File::open(&archive)?)?;
    Ok((s, id, archive))
}

fn opts() -> RegistryOptions {
    RegistryOptions {
        // a small chunk size, so uploads really are chunked
        chunk_size: 256 * 1024,
        docker_config: Some(PathBuf::from("/nonexistent/berth-test/config.json")),
        ..RegistryOptions::default()
    }
}

#[test]
fn push_then_pull_into_an_empty_store_keeps_every_digest() -> TestResult {
    if tool_missing("docker-registry") || tool_missing("skopeo") {
        return Ok(());
    }
    let reg = start_registry(false)?;
    let dir = tempfile::tempdir()?;
    let (s, id, _) = loaded_busybox(dir.path())?;
    s.tag("busybox", &format!("{ADDR}/test/bb:1"))?;
    let image = s.resolve("busybox")?;
    let o = opts();
    let first = reg
        .sandbox
        .enter_keep_pidns(|| s.push(&format!("{ADDR}/test/bb:1"), &o))??;
    let digest = first.digest.clone();
    assert_eq!(Some(digest.clone()), image.manifest_digest);
    assert_eq!(
        (first.uploaded, first.mounted, first.skipped),
        (3, 0, 0),
        "2 layers + config"
    );
    // a second push finds every blob there
    let again = reg
        .sandbox
        .enter_keep_pidns(|| s.push(&format!("{ADDR}/test/bb:1"), &o))??;
    assert_eq!(
        (again.digest.as_str(), again.uploaded, again.skipped),
        (digest.as_str(), 0, 3)
    );
    // and another repo of the same registry mounts them
    s.tag("busybox", &format!("{ADDR}/other/bb:2"))?;
    let other = reg
        .sandbox
        .enter_keep_pidns(|| s.push(&format!("{ADDR}/other/bb:2"), &o))??;
    assert_eq!((other.uploaded, other.mounted), (0, 3));

    let (_d2, empty) = store()?;
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = events.clone();
    let watched = RegistryOptions {
        progress: Some(berth_image::progress::ProgressFn(std::sync::Arc::new(
            move |e| {
                if let Ok(mut v) = sink.lock() {
                    v.push(e.clone());
                }
            },
        ))),
        ..opts()
    };
    let pulled = reg
        .sandbox
        .enter_keep_pidns(|| empty.pull(&format!("{ADDR}/test/bb:1"), &watched))??;
    {
        use berth_image::progress::Phase;
        let events = events.lock().map_err(|_| "poisoned")?;
        let busybox_blob = &image.layers[0]; // uncompressed: blob digest = diff id
        let downloaded = events
            .iter()
            .filter(|e| &e.digest == busybox_blob && e.phase == Phase::Download)
            .map(|e| e.current)
            .max();
        assert_eq!(
            downloaded,
            events
                .iter()
                .find(|e| &e.digest == busybox_blob)
                .and_then(|e| e.total)
        );
        assert!(events
            .iter()
            .any(|e| &e.digest == busybox_blob && e.phase == Phase::Done));
        assert!(events
            .iter()
            .any(|e| &e.digest == busybox_blob && e.phase == Phase::Unpack));
    }
    assert_eq!(pulled.id, id);
    assert_eq!(pulled.manifest_digest.as_deref(), Some(digest.as_str()));
    assert_eq!(pulled.layers, image.layers);
    assert_eq!(pulled.repo_tags, vec![format!("{ADDR}/test/bb:1")]);
    assert_eq!(
        pulled.repo_digests,
        vec![format!("{ADDR}/test/bb@{digest}")]
    );
    // by digest too
    let by_digest = reg
        .sandbox
        .enter_keep_pidns(|| empty.pull(&format!("{ADDR}/other/bb@{digest}"), &o))??;
    assert_eq!(by_digest.id, id);

    // skopeo sees the same manifest, and copies it out unchanged
    let inspect: serde_json::Value = serde_json::from_str(&skopeo(
        &reg,
        &[
            "inspect",
            "--tls-verify=false",
            &format!("docker://{ADDR}/test/bb:1"),
        ],
    )?)?;
    assert_eq!(inspect["Digest"], digest.as_str());
    assert_eq!(inspect["Layers"].as_array().map(Vec::len), Some(2));
    let oci_dir = dir.path().join("oci");
    // (without --preserve-digests skopeo would gzip the plain layers)
    skopeo(
        &reg,
        &[
            "copy",
            "--preserve-digests",
            "--src-tls-verify=false",
            &format!("docker://{ADDR}/other/bb:2"),
            &format!("oci:{}:x", oci_dir.display()),
        ],
    )?;
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(oci_dir.join("index.json"))?)?;
    let copied = index["manifests"][0]["digest"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let copied_m = std::fs::read(
        oci_dir
            .join("blobs/sha256")
            .join(copied.trim_start_matches("sha256:")),
    )?;
    assert_eq!(copied, digest);
    assert_eq!(sha256(&copied_m), digest);
    Ok(())
}

#[test]
fn what_skopeo_pushed_berth_pulls() -> TestResult {
    if tool_missing("docker-registry") || tool_missing("skopeo") {
        return Ok(());
    }
    let reg = start_registry(false)?;
    let dir = tempfile::tempdir()?;
    let (s, id, archive) = loaded_busybox(dir.path())?;
    let local = s.resolve("busybox")?;
    // skopeo gzips the layers and writes a Docker v2 schema 2 manifest
    skopeo(
        &reg,
        &[
            "copy",
            "--dest-tls-verify=false",
            &format!("docker-archive:{}", archive.display()),
            &format!("docker://{ADDR}/sk/bb:latest"),
        ],
    )?;
    let inspect: serde_json::Value = serde_json::from_str(&skopeo(
        &reg,
        &[
            "inspect",
            "--tls-verify=false",
            &format!("docker://{ADDR}/sk/bb:latest"),
        ],
    )?)?;
    let (_d, empty) = store()?;
    let o = opts();
    let pulled = reg
        .sandbox
        .enter_keep_pidns(|| empty.pull(&format!("{ADDR}/sk/bb"), &o))??;
    assert_eq!(pulled.id, id, "same config, same image id");
    assert_eq!(pulled.layers, local.layers, "same diff ids");
    assert_eq!(
        pulled.manifest_digest.as_deref(),
        inspect["Digest"].as_str()
    );
    assert_eq!(pulled.repo_tags, vec![format!("{ADDR}/sk/bb:latest")]);
    // it unpacks and diffs like the loaded one
    assert!(empty
        .root()
        .join("snapshots")
        .join(pulled.layers[1].trim_start_matches("sha256:"))
        .join("fs/etc/motd")
        .exists());
    Ok(())
}

#[test]
fn a_registry_with_htpasswd_wants_credentials() -> TestResult {
    if tool_missing("docker-registry") || tool_missing("htpasswd") {
        return Ok(());
    }
    let reg = start_registry(true)?;
    let dir = tempfile::tempdir()?;
    let (s, _, _) = loaded_busybox(dir.path())?;
    let target = format!("{ADDR}/auth/bb:1");
    s.tag("busybox", &target)?;
    let anonymous = opts();
    let err = reg
        .sandbox
        .enter_keep_pidns(|| s.push(&target, &anonymous))?;
    assert!(
        matches!(
            &err,
            Err(ImageError::Registry {
                status: Some(401),
                ..
            })
        ),
        "{err:?}"
    );
    let wrong = RegistryOptions {
        credentials: Some(Credentials {
            username: "berth".into(),
            password: "nope".into(),
        }),
        ..opts()
    };
    let err = reg.sandbox.enter_keep_pidns(|| s.push(&target, &wrong))?;
    assert!(
        matches!(
            &err,
            Err(ImageError::Registry {
                status: Some(401),
                ..
            })
        ),
        "{err:?}"
    );
    // login stores the credentials in a docker config that push and pull then use
    let config = dir.path().join("docker/config.json");
    let with_config = RegistryOptions {
        docker_config: Some(config.clone()),
        ..opts()
    };
    let good = Credentials {
        username: "berth".into(),
        password: "s3cret".into(),
    };
    let bad = Credentials {
        username: "berth".into(),
        password: "nope".into(),
    };
    assert!(reg
        .sandbox
        .enter_keep_pidns(|| berth_image::registry::login(ADDR, &bad, &with_config))?
        .is_err());
    assert!(!config.exists(), "refused credentials are not stored");
    reg.sandbox
        .enter_keep_pidns(|| berth_image::registry::login(ADDR, &good, &with_config))??;
    assert!(std::fs::read_to_string(&config)?.contains(ADDR));
    let digest = reg
        .sandbox
        .enter_keep_pidns(|| s.push(&target, &with_config))??
        .digest;
    let (_d, empty) = store()?;
    let pulled = reg
        .sandbox
        .enter_keep_pidns(|| empty.pull(&target, &with_config))??;
    assert_eq!(pulled.manifest_digest, Some(digest));
    berth_image::registry::logout(ADDR, &with_config)?;
    let err = reg
        .sandbox
        .enter_keep_pidns(|| empty.pull(&target, &with_config))?;
    assert!(
        matches!(
            &err,
            Err(ImageError::Registry {
                status: Some(401),
                ..
            })
        ),
        "{err:?}"
    );
    Ok(())
}

/// What the fake registry answers for a path: status line, headers, body,
/// and how many body bytes to actually send before closing.
type Answer = (u16, Vec<(String, String)>, Vec<u8>, Option<usize>);

/// Serves `answer(path)` on 127.0.0.1 in the sandbox, one request per
/// connection, while `f` runs (in the same sandbox).
fn with_fake_registry<R: Send>(
    sandbox: &SandboxHost,
    answer: impl Fn(&str, &str) -> Answer + Sync,
    f: impl FnOnce(&str) -> R + Send,
) -> Result<R, Box<dyn std::error::Error>> {
    let r = sandbox.enter_keep_pidns(|| -> Result<R, String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let addr = listener
            .local_addr()
            .map_err(|e| e.to_string())?
            .to_string();
        let stop = std::sync::atomic::AtomicBool::new(false);
        let out = std::thread::scope(|scope| {
            scope.spawn(|| {
                for conn in listener.incoming() {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    let Ok(mut conn) = conn else { continue };
                    let mut reader = BufReader::new(match conn.try_clone() {
                        Ok(c) => c,
                        Err(_) => continue,
                    });
                    let mut line = String::new();
                    let _ = reader.read_line(&mut line);
                    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let mut head = String::new();
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).map(|n| n == 0).unwrap_or(true) || h == "\r\n" {
                            break;
                        }
                        head.push_str(&h.to_ascii_lowercase());
                    }
                    let (status, headers, body, cut) = answer(&path, &head);
                    let mut resp = format!(
                        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                        body.len()
                    );
                    for (k, v) in headers {
                        resp.push_str(&format!("{k}: {v}\r\n"));
                    }
                    resp.push_str("\r\n");
                    let _ = conn.write_all(resp.as_bytes());
                    let _ = conn.write_all(&body[..cut.unwrap_or(body.len()).min(body.len())]);
                }
            });
            let out = f(&addr);
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            let _ = std::net::TcpStream::connect(&addr);
            out
        });
        Ok(out)
    })??;
    Ok(r)
}

#[test]
fn registry_errors_are_named_and_leave_the_store_unchanged() -> TestResult {
    let sandbox = SandboxHost::new()?;
    let dir = tempfile::tempdir()?;
    let (s, _, _) = loaded_busybox(dir.path())?;
    let before = state(&s);
    let mut layer = berth_testsupport::images::LayerBuilder::new();
    layer.file("big", 0o644, &vec![7u8; 64 * 1024])?;
    let layer = layer.finish()?;
    let layer_d = sha256(&layer);
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": berth_image::platform::host_arch(), "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer_d]},
    }))?;
    let config_d = sha256(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_d, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_d, "size": layer.len()}],
    }))?;
    let ct = |t: &str| vec![("Content-Type".to_string(), t.to_string())];
    // A blob served with other content than its digest (a valid tar, so
    // only the digest can tell).
    let mut other = berth_testsupport::images::LayerBuilder::new();
    other.file("big", 0o644, &vec![8u8; 64 * 1024])?;
    let other = other.finish()?;
    let answer = |path: &str, _: &str| -> Answer {
        match path {
            "/v2/b/manifests/lying" => (
                200,
                ct("application/vnd.oci.image.manifest.v1+json"),
                manifest.clone(),
                None,
            ),
            p if p == format!("/v2/b/blobs/{config_d}") => (200, vec![], config.clone(), None),
            p if p == format!("/v2/b/blobs/{layer_d}") => (200, vec![], other.clone(), None),
            "/v2/a/manifests/missing" => (404, vec![], b"{}".to_vec(), None),
            "/v2/a/manifests/broken" => (500, vec![], b"oops".to_vec(), None),
            "/v2/a/manifests/drop" => (
                200,
                ct("application/vnd.oci.image.manifest.v1+json"),
                manifest.clone(),
                None,
            ),
            p if p == format!("/v2/a/blobs/{config_d}") => (200, vec![], config.clone(), None),
            p if p == format!("/v2/a/blobs/{layer_d}") => (200, vec![], layer.clone(), Some(1000)),
            _ => (404, vec![], Vec::new(), None),
        }
    };
    let o = opts();
    let results = with_fake_registry(&sandbox, answer, |addr| {
        [
            s.pull(&format!("{addr}/a:missing"), &o),
            s.pull(&format!("{addr}/a:broken"), &o),
            s.pull(&format!("{addr}/a:drop"), &o),
            s.pull(&format!("{addr}/b:lying"), &o),
        ]
    })?;
    let [missing, broken, dropped, lying] = results;
    assert!(
        matches!(&lying, Err(ImageError::Corrupt { object, reason })
            if object.contains(&format!("blob {layer_d}")) && reason.contains(&sha256(&other))),
        "{lying:?}"
    );
    assert!(
        matches!(&missing, Err(ImageError::NotFound(r)) if r.ends_with("/a:missing")),
        "{missing:?}"
    );
    assert!(
        matches!(&broken, Err(ImageError::Registry { status: Some(500), object, .. }) if object.ends_with("/a:broken")),
        "{broken:?}"
    );
    assert!(
        matches!(&dropped, Err(ImageError::Registry { object, .. }) if object.contains(layer_d.trim_start_matches("sha256:"))),
        "{dropped:?}"
    );
    assert_eq!(
        state(&s),
        before,
        "the config blob fetched before the drop is gone again"
    );
    Ok(())
}

#[test]
fn a_bearer_token_challenge_is_answered_with_the_credentials() -> TestResult {
    let sandbox = SandboxHost::new()?;
    let (_dir, s) = store()?;
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
            .to_vec();
    let config_d = sha256(&config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_d, "size": config.len()},
        "layers": [],
    }))?;
    let token_asked_with_basic = std::sync::atomic::AtomicBool::new(false);
    let addr_cell = std::sync::OnceLock::<String>::new();
    let answer = |path: &str, head: &str| -> Answer {
        let addr = addr_cell.get().cloned().unwrap_or_default();
        if path.starts_with("/token?") {
            // berth:pw
            if head.contains("authorization: basic ymvydgg6chc=") {
                token_asked_with_basic.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            assert!(path.contains("scope=repository%3Aa%3Apull"), "{path}");
            assert!(path.contains("service=fake"), "{path}");
            return (200, vec![], br#"{"token":"tok123"}"#.to_vec(), None);
        }
        if !head.contains("authorization: bearer tok123") {
            let challenge = format!(
                r#"Bearer realm="http://{addr}/token",service="fake",scope="repository:a:pull""#
            );
            return (
                401,
                vec![("WWW-Authenticate".into(), challenge)],
                Vec::new(),
                None,
            );
        }
        match path {
            "/v2/a/manifests/1" => (200, vec![], manifest.clone(), None),
            p if p == format!("/v2/a/blobs/{config_d}") => (200, vec![], config.clone(), None),
            _ => (404, vec![], Vec::new(), None),
        }
    };
    let o = RegistryOptions {
        credentials: Some(Credentials {
            username: "berth".into(),
            password: "pw".into(),
        }),
        ..opts()
    };
    let pulled = with_fake_registry(&sandbox, answer, |addr| {
        let _ = addr_cell.set(addr.to_string());
        s.pull(&format!("{addr}/a:1"), &o)
    })??;
    assert_eq!(pulled.id, config_d);
    assert!(
        token_asked_with_basic.load(std::sync::atomic::Ordering::SeqCst),
        "the token request carried the credentials"
    );
    Ok(())
}

/// A CA and a server certificate for 127.0.0.1 signed by it (openssl CLI).
fn make_certs(dir: &Path) -> Result<(PathBuf, PathBuf, PathBuf), Box<dyn std::error::Error>> {
    let sh = |script: &str| -> Result<(), Box<dyn std::error::Error>> {
        let out = Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(dir)
            .output()?;
        if !out.status.success() {
            return Err(format!("{script}: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        Ok(())
    };
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    sh(&format!(
        "openssl req -x509 {ec} -keyout ca.key -out ca.pem -days 2 -subj /CN=berth-test-ca"
    ))?;
    sh(&format!(
        "openssl req {ec} -keyout srv.key -out srv.csr -subj /CN=127.0.0.1"
    ))?;
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )?;
    sh("openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile ext.cnf")?;
    Ok((dir.join("ca.pem"), dir.join("srv.pem"), dir.join("srv.key")))
}

#[test]
fn an_https_registry_is_trusted_through_its_ca_only() -> TestResult {
    if tool_missing("docker-registry") || tool_missing("openssl") {
        return Ok(());
    }
    let certs = tempfile::tempdir()?;
    let (ca, cert, key) = make_certs(certs.path())?;
    let addr = "127.0.0.1:5443";
    let reg = start_registry_at(false, addr, Some((&cert, &key)))?;
    let dir = tempfile::tempdir()?;
    let (s, id, _) = loaded_busybox(dir.path())?;
    let target = format!("{addr}/tls/bb:1");
    s.tag("busybox", &target)?;
    // Docker's layout: /etc/docker/certs.d/<host>/ca.crt (here a temp dir)
    let certs_d = dir.path().join("certs.d");
    std::fs::create_dir_all(certs_d.join(addr))?;
    std::fs::copy(&ca, certs_d.join(addr).join("ca.crt"))?;
    let trusted = RegistryOptions {
        certs_dir: certs_d,
        ..opts()
    };
    let pushed = reg
        .sandbox
        .enter_keep_pidns(|| s.push(&target, &trusted))??;
    let (_d, empty) = store()?;
    let untrusted = RegistryOptions {
        certs_dir: dir.path().join("none"),
        ca_certs: Vec::new(),
        ..opts()
    };
    let err = reg
        .sandbox
        .enter_keep_pidns(|| empty.pull(&target, &untrusted))?;
    // Loopback without a CA means plain HTTP: the TLS port refuses it.
    assert!(err.is_err(), "plain HTTP against the TLS port must fail");
    let with_ca = RegistryOptions {
        ca_certs: vec![ca.clone()],
        ..untrusted.clone()
    };
    let pulled = reg
        .sandbox
        .enter_keep_pidns(|| empty.pull(&target, &with_ca))??;
    assert_eq!(pulled.id, id);
    assert_eq!(pulled.manifest_digest, Some(pushed.digest));
    // a CA that did not sign the server's certificate is refused
    let other = tempfile::tempdir()?;
    let (wrong_ca, _, _) = make_certs(other.path())?;
    let wrong = RegistryOptions {
        ca_certs: vec![wrong_ca],
        ..untrusted
    };
    let (_d3, empty3) = store()?;
    let err = reg
        .sandbox
        .enter_keep_pidns(|| empty3.pull(&target, &wrong))?;
    assert!(
        matches!(&err, Err(ImageError::Registry { reason, .. }) if reason.to_lowercase().contains("certificate") || reason.to_lowercase().contains("issuer")),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn pull_picks_the_platform_asked_for_from_an_index() -> TestResult {
    let sandbox = SandboxHost::new()?;
    let (_dir, s) = store()?;
    let mut blobs = std::collections::HashMap::new();
    let mut descs = Vec::new();
    for arch in ["amd64", "arm64", "s390x"] {
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []},
        }))?;
        let cd = sha256(&config);
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
            "layers": [],
        }))?;
        let md = sha256(&manifest);
        descs.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": manifest.len(),
            "platform": {"os": "linux", "architecture": arch},
        }));
        blobs.insert(format!("/v2/m/blobs/{cd}"), config);
        blobs.insert(format!("/v2/m/manifests/{md}"), manifest);
    }
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": descs,
    }))?;
    let index_d = sha256(&index);
    let answer = |path: &str, _: &str| -> Answer {
        if path == "/v2/m/manifests/multi" {
            return (
                200,
                vec![(
                    "Content-Type".into(),
                    "application/vnd.oci.image.index.v1+json".into(),
                )],
                index.clone(),
                None,
            );
        }
        match blobs.get(path) {
            Some(b) => (200, vec![], b.clone(), None),
            None => (404, vec![], Vec::new(), None),
        }
    };
    let s390x = RegistryOptions {
        platform: Some(berth_image::platform::Platform::parse("linux/s390x")?),
        ..opts()
    };
    let riscv = RegistryOptions {
        platform: Some(berth_image::platform::Platform::parse("linux/riscv64")?),
        ..opts()
    };
    let (host, other, missing) = with_fake_registry(&sandbox, answer, |addr| {
        (
            s.pull(&format!("{addr}/m:multi"), &opts()),
            s.pull(&format!("{addr}/m:multi"), &s390x),
            s.pull(&format!("{addr}/m:multi"), &riscv),
        )
    })?;
    let (host, other) = (host?, other?);
    assert_eq!(
        host.config.architecture().to_string(),
        berth_image::platform::host_arch()
    );
    assert_eq!(other.config.architecture().to_string(), "s390x");
    assert!(
        other.repo_digests[0].ends_with(&index_d),
        "the repo digest is the index's, as docker records it"
    );
    assert!(
        matches!(&missing, Err(e @ ImageError::NoMatchingPlatform { .. })
            if e.to_string().starts_with("no matching manifest for linux/riscv64 in the manifest list entries")),
        "{missing:?}"
    );
    Ok(())
}
