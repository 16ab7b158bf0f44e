//! `berth load/save/import/images/tag/history/rmi/image prune/inspect`,
//! daemonless on a temp image store.

use std::process::{Command, Output};

use berth_testsupport::images::busybox_docker_archive;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn berth(root: &std::path::Path, args: &[&str]) -> std::io::Result<Output> {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .env("BERTH_IMAGE_ROOT", root)
        .args(args)
        .output()
}

fn ok(root: &std::path::Path, args: &[&str]) -> Result<String, Box<dyn std::error::Error>> {
    let out = berth(root, args)?;
    if !out.status.success() {
        return Err(format!(
            "berth {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8(out.stdout)?)
}

#[test]
fn image_commands_work_daemonless_on_the_store() -> TestResult {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("image");
    let archive = dir.path().join("busybox.tar");
    let id = busybox_docker_archive(&archive)?;
    let a = archive.to_string_lossy().into_owned();

    assert_eq!(
        ok(&root, &["load", "-i", &a])?,
        "Loaded image: busybox:latest\n"
    );
    assert_eq!(ok(&root, &["load", "-q", "-i", &a])?, "");
    let hex = id.trim_start_matches("sha256:");
    assert_eq!(ok(&root, &["images", "-q"])?, format!("{}\n", &hex[..12]));
    let table = ok(&root, &["image", "ls"])?;
    assert!(table.starts_with("REPOSITORY"), "{table}");
    assert!(
        table.contains("busybox") && table.contains(&hex[..12]),
        "{table}"
    );

    ok(&root, &["tag", "busybox", "example.com/team/bb:v1"])?;
    let list: serde_json::Value =
        serde_json::from_str(&ok(&root, &["images", "--format", "json"])?)?;
    assert_eq!(
        list[0]["RepoTags"],
        serde_json::json!(["busybox:latest", "example.com/team/bb:v1"])
    );

    let inspect: serde_json::Value =
        serde_json::from_str(&ok(&root, &["image", "inspect", "busybox"])?)?;
    assert_eq!(inspect[0]["Id"], id.as_str());
    assert_eq!(inspect[0]["Config"]["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(
        inspect[0]["RootFS"]["Layers"].as_array().map(Vec::len),
        Some(2)
    );

    let hist: serde_json::Value =
        serde_json::from_str(&ok(&root, &["history", "--format", "json", "busybox"])?)?;
    assert_eq!(hist.as_array().map(Vec::len), Some(2));
    assert_eq!(
        ok(&root, &["history", "-q", "busybox"])?,
        format!("{}\n<missing>\n", &hex[..12])
    );

    let saved = dir.path().join("saved.tar");
    let s = saved.to_string_lossy().into_owned();
    ok(
        &root,
        &["save", "-o", &s, "busybox", "example.com/team/bb:v1"],
    )?;
    let oci = dir.path().join("saved-oci.tar");
    ok(
        &root,
        &[
            "save",
            "--format",
            "oci-archive",
            "-o",
            &oci.to_string_lossy(),
            "busybox",
        ],
    )?;

    // by id with two tags: refused without -f, exit status 1
    let out = berth(&root, &["rmi", hex])?;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be forced"));
    assert_eq!(
        ok(&root, &["rmi", "example.com/team/bb:v1"])?,
        "Untagged: example.com/team/bb:v1\n"
    );
    assert_eq!(
        ok(&root, &["rmi", "busybox"])?,
        format!("Untagged: busybox:latest\nDeleted: {id}\n")
    );
    assert_eq!(ok(&root, &["images", "-q"])?, "");

    // the saved archive brings both tags back, once
    assert_eq!(
        ok(&root, &["load", "-i", &s])?,
        "Loaded image: busybox:latest\nLoaded image: example.com/team/bb:v1\n"
    );
    let loaded: serde_json::Value = serde_json::from_str(&ok(
        &root,
        &["load", "--format", "json", "-i", &oci.to_string_lossy()],
    )?)?;
    assert_eq!(loaded[0]["Id"], id.as_str());

    // import with --change, then prune -a removes everything
    let rootfs = dir.path().join("rootfs.tar");
    let layer = berth_testsupport::images::busybox_layers()?.remove(0);
    std::fs::write(&rootfs, &layer)?;
    let imported = ok(
        &root,
        &[
            "import",
            "-c",
            "CMD [\"/bin/sh\"]",
            &rootfs.to_string_lossy(),
            "imported:1",
        ],
    )?;
    assert!(imported.starts_with("sha256:"), "{imported}");
    let inspect: serde_json::Value =
        serde_json::from_str(&ok(&root, &["image", "inspect", "imported:1"])?)?;
    assert_eq!(inspect[0]["Config"]["Cmd"], serde_json::json!(["/bin/sh"]));
    let pruned: serde_json::Value =
        serde_json::from_str(&ok(&root, &["image", "prune", "-a", "--format", "json"])?)?;
    assert!(pruned["SpaceReclaimed"].as_u64().unwrap_or(0) > 0);
    assert_eq!(ok(&root, &["images", "-q"])?, "");

    // errors: clear, exit 1
    let out = berth(&root, &["image", "inspect", "nope"])?;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such image: nope"));
    let out = berth(&root, &["load", "-i", &rootfs.to_string_lossy()])?;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("neither index.json"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

#[test]
fn push_and_pull_through_a_local_registry_with_login() -> TestResult {
    for tool in ["docker-registry", "htpasswd"] {
        let present = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()?
            .status
            .success();
        if !present {
            berth_testsupport::kernel::report_skip(&format!(
                "{tool} is not installed (Debian package in .ci/run)"
            ));
            return Ok(());
        }
    }
    let sandbox = berth_testsupport::SandboxHost::new()?;
    let dir = tempfile::tempdir()?;
    let reg = dir.path().join("reg");
    std::fs::create_dir_all(reg.join("data"))?;
    let pw = Command::new("htpasswd")
        .args(["-Bbn", "u", "pw"])
        .output()?;
    std::fs::write(reg.join("htpasswd"), &pw.stdout)?;
    std::fs::write(
        reg.join("config.yml"),
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:5000\nlog:\n  level: warn\nauth:\n  htpasswd:\n    realm: t\n    path: {}\n",
            reg.join("data").display(),
            reg.join("htpasswd").display()
        ),
    )?;
    let mut child = sandbox.spawn(
        Command::new("docker-registry")
            .arg("serve")
            .arg(reg.join("config.yml"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    )?;
    let mut up = false;
    for _ in 0..400 {
        if sandbox.enter_keep_pidns(|| std::net::TcpStream::connect("127.0.0.1:5000").is_ok())? {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let result = (|| -> TestResult {
        assert!(up, "docker-registry did not come up");
        let root = dir.path().join("image");
        let archive = dir.path().join("busybox.tar");
        let id = busybox_docker_archive(&archive)?;
        let run = |args: &[&str]| -> Result<Output, Box<dyn std::error::Error>> {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
            cmd.env("BERTH_IMAGE_ROOT", &root)
                .env("DOCKER_CONFIG", dir.path().join("docker"))
                .args(args);
            Ok(sandbox.output(&mut cmd)?)
        };
        let text = |o: &Output| {
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
        };
        assert!(run(&["load", "-q", "-i", &archive.to_string_lossy()])?
            .status
            .success());
        assert!(run(&["tag", "busybox", "127.0.0.1:5000/cli/bb:1"])?
            .status
            .success());
        let denied = run(&["push", "127.0.0.1:5000/cli/bb:1"])?;
        assert_eq!(denied.status.code(), Some(1));
        assert!(text(&denied).contains("unauthorized"), "{}", text(&denied));
        let login = run(&["login", "-u", "u", "-p", "pw", "127.0.0.1:5000"])?;
        assert!(login.status.success(), "{}", text(&login));
        let pushed = run(&["push", "-q", "127.0.0.1:5000/cli/bb:1"])?;
        assert!(pushed.status.success(), "{}", text(&pushed));
        let digest = String::from_utf8(pushed.stdout)?.trim().to_string();
        assert!(digest.starts_with("sha256:"));
        assert!(run(&["rmi", "127.0.0.1:5000/cli/bb:1"])?.status.success());
        assert!(run(&["rmi", "busybox"])?.status.success());
        let pulled = run(&["pull", "127.0.0.1:5000/cli/bb:1"])?;
        assert!(pulled.status.success(), "{}", text(&pulled));
        assert!(
            text(&pulled).contains(&format!("Digest: {digest}")),
            "{}",
            text(&pulled)
        );
        let inspect: serde_json::Value =
            serde_json::from_slice(&run(&["image", "inspect", "127.0.0.1:5000/cli/bb:1"])?.stdout)?;
        assert_eq!(inspect[0]["Id"], id.as_str());
        assert!(run(&["logout", "127.0.0.1:5000"])?.status.success());
        let again = run(&["pull", "127.0.0.1:5000/cli/bb:1"])?;
        assert_eq!(again.status.code(), Some(1), "logged out: {}", text(&again));
        Ok(())
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

#[test]
fn two_berth_processes_loading_at_once_unpack_each_layer_once() -> TestResult {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("image");
    let archive = dir.path().join("busybox.tar");
    let id = busybox_docker_archive(&archive)?;
    let a = archive.to_string_lossy().into_owned();
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_berth"))
            .env("BERTH_IMAGE_ROOT", &root)
            .args(["load", "--format", "json", "-i", &a])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
    };
    let (p1, p2) = (spawn()?, spawn()?);
    let (o1, o2) = (p1.wait_with_output()?, p2.wait_with_output()?);
    let mut unpacked = 0;
    for o in [&o1, &o2] {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout)?;
        assert_eq!(v[0]["Id"], id.as_str());
        unpacked += v[0]["LayersUnpacked"].as_u64().unwrap_or(99);
    }
    assert_eq!(
        unpacked, 2,
        "each of the 2 layers unpacked by one process only"
    );
    // and the store stays usable from a third process while this one holds it
    let s = berth_image::ImageStore::open(&root)?;
    assert_eq!(s.list()?.len(), 1);
    assert_eq!(ok(&root, &["images", "-q"])?.lines().count(), 1);
    Ok(())
}
