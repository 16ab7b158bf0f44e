//! Container root filesystems: the overlay of a loaded image behaves as
//! Docker's (whiteouts, opaque dirs, a writable upper), many-layer images
//! mount, and everything is unmounted and removed again. Mounts happen in a
//! SandboxHost's private mount namespace, so nothing reaches the host.

mod common;

use std::os::unix::fs::FileTypeExt;
use std::os::unix::fs::MetadataExt;
use std::process::Command;

use berth_image::ImageError;
use berth_testsupport::images::{
    busybox_docker_archive, ArchiveImage, DockerArchive, LayerBuilder,
};
use berth_testsupport::SandboxHost;
use common::*;

#[test]
fn whiteouts_and_opaque_dirs_behave_as_dockers_in_the_mounted_rootfs() -> TestResult {
    let (dir, s) = store()?;
    let path = dir.path().join("busybox.tar");
    busybox_docker_archive(&path)?;
    s.load(std::fs::File::open(&path)?)?;
    let img = s.resolve("busybox")?;

    // The top layer's snapshot holds overlayfs's forms.
    let top = s
        .root()
        .join("snapshots")
        .join(img.layers[1].trim_start_matches("sha256:"))
        .join("fs");
    let wh = std::fs::symlink_metadata(top.join("etc/removed.txt"))?;
    assert!(
        wh.file_type().is_char_device() && wh.rdev() == 0,
        "whiteout is a 0:0 char device"
    );
    let mut buf = [0u8; 8];
    let n = rustix::fs::lgetxattr(top.join("data/old"), "trusted.overlay.opaque", &mut buf)?;
    assert_eq!(&buf[..n], b"y");

    let rootfs = s.create_rootfs("c1", "busybox")?;
    assert_eq!(rootfs.lowerdirs.len(), 2);
    assert!(matches!(
        s.create_rootfs("c1", "busybox"),
        Err(ImageError::Conflict(_))
    ));
    let sandbox = SandboxHost::new()?;
    let merged = sandbox.enter(|| -> Result<std::path::PathBuf, String> {
        let merged = s.mount_rootfs("c1").map_err(|e| e.to_string())?;
        // idempotent
        assert_eq!(s.mount_rootfs("c1").map_err(|e| e.to_string())?, merged);
        assert!(
            !merged.join("etc/removed.txt").exists(),
            "whited-out file is gone"
        );
        assert!(
            !merged.join("data/old/keep.txt").exists(),
            "opaque dir hides the lower one"
        );
        assert!(merged.join("data/old/new.txt").exists());
        assert_eq!(
            std::fs::read_to_string(merged.join("data/kept.txt"))
                .ok()
                .as_deref(),
            Some("layer 1\n")
        );
        assert_eq!(
            std::fs::read_to_string(merged.join("etc/motd"))
                .ok()
                .as_deref(),
            Some("layer 2\n")
        );
        // busybox runs from it
        let out = Command::new("chroot")
            .arg(&merged)
            .args([
                "/bin/sh",
                "-c",
                "echo hi > /written; ls /data/old; cat /etc/hostname",
            ])
            .output()
            .map_err(|e| e.to_string())?;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "new.txt\nberth\n");
        s.unmount_rootfs("c1").map_err(|e| e.to_string())?;
        s.unmount_rootfs("c1").map_err(|e| e.to_string())?;
        assert!(!merged.join("bin").exists(), "unmounted");
        Ok(merged)
    })??;
    assert_eq!(
        std::fs::read_to_string(rootfs.upper.join("written"))?,
        "hi\n"
    );
    assert!(merged.exists());
    s.remove_rootfs("c1")?;
    assert!(!rootfs.upper.exists() && !merged.exists());
    assert!(matches!(s.mount_rootfs("c1"), Err(ImageError::NotFound(_))));
    Ok(())
}

#[test]
fn remove_rootfs_unmounts_first() -> TestResult {
    let (dir, s) = store()?;
    let path = dir.path().join("busybox.tar");
    busybox_docker_archive(&path)?;
    s.load(std::fs::File::open(&path)?)?;
    let rootfs = s.create_rootfs("c2", "busybox")?;
    let sandbox = SandboxHost::new()?;
    sandbox.enter(|| -> Result<(), String> {
        let merged = s.mount_rootfs("c2").map_err(|e| e.to_string())?;
        assert_eq!(berth_image::rootfs::is_mountpoint(&merged).ok(), Some(true));
        // A mounted dir cannot be removed (EBUSY): its removal shows the unmount.
        s.remove_rootfs("c2").map_err(|e| e.to_string())?;
        assert!(!merged.exists());
        Ok(())
    })??;
    assert!(!rootfs.merged.exists());
    Ok(())
}

#[test]
fn an_image_of_more_layers_than_one_page_of_mount_options_mounts() -> TestResult {
    let (_dir, s) = store()?;
    const N: usize = 130;
    let mut layers = Vec::new();
    for i in 0..N {
        let mut l = LayerBuilder::new();
        l.file(&format!("f{i}"), 0o644, b"x")?;
        l.file("order", 0o644, i.to_string().as_bytes())?;
        layers.push(l.finish()?);
    }
    let archive = DockerArchive {
        images: vec![ArchiveImage::new(layers, &["many:layers"])],
    };
    s.load(&archive.to_bytes()?[..])?;
    let rootfs = s.create_rootfs("many", "many:layers")?;
    let option_len: usize = rootfs
        .lowerdirs
        .iter()
        .map(|p| p.as_os_str().len() + 1)
        .sum();
    let page = rustix::param::page_size();
    assert!(
        option_len > page,
        "test must exceed a page: {option_len} <= {page}"
    );
    let sandbox = SandboxHost::new()?;
    sandbox.enter(|| -> Result<(), String> {
        let merged = s.mount_rootfs("many").map_err(|e| e.to_string())?;
        for i in 0..N {
            assert!(merged.join(format!("f{i}")).exists(), "f{i} missing");
        }
        let top = std::fs::read_to_string(merged.join("order")).map_err(|e| e.to_string())?;
        assert_eq!(top, (N - 1).to_string(), "the last layer is on top");
        s.unmount_rootfs("many").map_err(|e| e.to_string())
    })??;
    s.remove_rootfs("many")?;
    Ok(())
}
