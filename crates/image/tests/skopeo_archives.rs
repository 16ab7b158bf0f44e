//! berth's archives read by skopeo, and skopeo's archives loaded by berth
//! (docker-archive and oci-archive), with the same digests. No network.

mod common;

use std::process::Command;

use berth_image::ArchiveFormat;
use berth_testsupport::images::busybox_docker_archive;
use common::*;

fn skopeo(args: &[&str]) -> Result<Option<String>, Box<dyn std::error::Error>> {
    let present = Command::new("sh")
        .args(["-c", "command -v skopeo"])
        .output()?
        .status
        .success();
    if !present {
        berth_testsupport::kernel::report_skip(
            "skopeo is not installed (Debian package in .ci/run)",
        );
        return Ok(None);
    }
    // In a private mount namespace with an empty /var/lib: skopeo's blob
    // cache (/var/lib/containers/cache) must not reach the machine.
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount -t tmpfs berth-test-varlib /var/lib && exec skopeo --insecure-policy "$@""#)
        .arg("skopeo")
        .args(args)
        .output()?;
    if !out.status.success() {
        return Err(format!("skopeo {args:?}: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(Some(String::from_utf8(out.stdout)?))
}

#[test]
fn skopeo_reads_what_berth_saves_and_berth_loads_what_skopeo_writes() -> TestResult {
    let (dir, s) = store()?;
    let src = dir.path().join("busybox.tar");
    let id = busybox_docker_archive(&src)?;
    s.load(std::fs::File::open(&src)?)?;
    let img = s.resolve("busybox")?;

    let saved = dir.path().join("saved-docker.tar");
    s.save(
        &["busybox".into()],
        ArchiveFormat::DockerArchive,
        std::fs::File::create(&saved)?,
    )?;
    let Some(out) = skopeo(&[
        "inspect",
        "--raw",
        "--config",
        &format!("docker-archive:{}", saved.display()),
    ])?
    else {
        return Ok(());
    };
    assert_eq!(
        sha256(out.as_bytes()),
        id,
        "skopeo reads berth's docker-archive config unchanged"
    );
    let oci = dir.path().join("saved-oci.tar");
    s.save(
        &["busybox".into()],
        ArchiveFormat::OciArchive,
        std::fs::File::create(&oci)?,
    )?;
    let raw = skopeo(&[
        "inspect",
        "--raw",
        &format!("oci-archive:{}", oci.display()),
    ])?
    .unwrap_or_default();
    assert_eq!(
        Some(sha256(raw.as_bytes())),
        img.manifest_digest,
        "same manifest in the oci-archive"
    );

    // skopeo writes both formats; berth loads them to the same image
    for (dest, name) in [
        ("docker-archive", "sk-docker.tar"),
        ("oci-archive", "sk-oci.tar"),
    ] {
        let p = dir.path().join(name);
        let target = match dest {
            "docker-archive" => format!("docker-archive:{}:sk/bb:1", p.display()),
            _ => format!("oci-archive:{}:sk/bb:1", p.display()),
        };
        skopeo(&[
            "copy",
            &format!("docker-archive:{}", src.display()),
            &target,
        ])?;
        // skopeo re-encodes the config when it converts to OCI: the id is
        // that of the config skopeo wrote.
        let cfg = skopeo(&[
            "inspect",
            "--raw",
            "--config",
            &format!("{dest}:{}", p.display()),
        ])?
        .unwrap_or_default();
        if dest == "docker-archive" {
            assert_eq!(sha256(cfg.as_bytes()), id);
        }
        let (_d, fresh) = store()?;
        let loaded = fresh.load(std::fs::File::open(&p)?)?;
        assert_eq!(loaded.len(), 1, "{dest}");
        let id = sha256(cfg.as_bytes());
        assert_eq!(loaded[0].id, id, "{dest}");
        assert_eq!(fresh.resolve(&id)?.layers, img.layers, "{dest}");
        if dest == "docker-archive" {
            assert_eq!(loaded[0].repo_tags, vec!["sk/bb:1".to_string()]);
        }
    }
    Ok(())
}

fn sha256(b: &[u8]) -> String {
    berth_testsupport::images::sha256(b)
}
