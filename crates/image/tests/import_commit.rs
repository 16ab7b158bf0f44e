//! import of a plain rootfs tar, and a container's diff / commit / export
//! (mounts in a SandboxHost).

mod common;

use std::process::Command;

use berth_image::{ChangeKind, ImageConfigPatch, ImageError};
use berth_testsupport::images::{busybox_docker_archive, busybox_layers, LayerBuilder};
use berth_testsupport::SandboxHost;
use common::*;

#[test]
fn import_makes_a_one_layer_image_with_changes() -> TestResult {
    let (_dir, s) = store()?;
    let base = busybox_layers()?.remove(0);
    let img = s.import(
        &gzip(&base)[..],
        Some("imported:v1"),
        &["CMD [\"/bin/sh\"]".into(), "ENV X=1".into()],
    )?;
    assert_eq!(img.layers, vec![berth_testsupport::images::sha256(&base)]);
    assert_eq!(img.repo_tags, vec!["imported:v1".to_string()]);
    let cfg = img.config.config().clone().unwrap_or_default();
    assert_eq!(cfg.cmd().clone(), Some(vec!["/bin/sh".to_string()]));
    assert_eq!(cfg.env().clone(), Some(vec!["X=1".to_string()]));
    let hist = s.history("imported:v1")?;
    assert_eq!(hist.len(), 1);
    assert_eq!(hist[0].comment, "Imported from -");
    assert_eq!(s.resolve("imported:v1")?.id, img.id);
    // docker import takes bzip2 and xz streams too: the same layer.
    for packed in [bzip2(&base), xz(&base)] {
        let again = s.import(&packed[..], Some("imported:v2"), &[])?;
        assert_eq!(again.layers, img.layers);
    }
    // untagged import works too
    let mut l = LayerBuilder::new();
    l.file("x", 0o644, b"x")?;
    let plain = s.import(&l.finish()?[..], None, &[])?;
    assert!(plain.repo_tags.is_empty());
    Ok(())
}

#[test]
fn a_bad_import_leaves_the_store_unchanged() -> TestResult {
    let (_dir, s) = store()?;
    let before = state(&s);
    let mut l = LayerBuilder::new();
    l.file("ok", 0o644, b"x")?;
    let tar = l.finish()?;
    assert!(matches!(
        s.import(&tar[..], None, &["RUN rm -rf /".into()]),
        Err(ImageError::InvalidChange { .. })
    ));
    assert!(matches!(
        s.import(&tar[..], Some("Bad:Ref"), &[]),
        Err(ImageError::InvalidReference(_))
    ));
    let mut evil = LayerBuilder::new();
    evil.raw("../../outside", tar::EntryType::Regular, 0o644, None, b"x")?;
    assert!(matches!(
        s.import(&evil.finish()?[..], Some("evil:1"), &[]),
        Err(ImageError::Unsafe { .. })
    ));
    assert_eq!(state(&s), before);
    assert!(s.list()?.is_empty());
    Ok(())
}

#[test]
fn diff_commit_and_export_see_the_containers_changes() -> TestResult {
    let (dir, s) = store()?;
    let path = dir.path().join("busybox.tar");
    let base_id = busybox_docker_archive(&path)?;
    s.load(std::fs::File::open(&path)?)?;
    s.create_rootfs("c1", "busybox")?;
    let sandbox = SandboxHost::new()?;
    let (changes, exported, committed) = sandbox.enter(|| -> Result<_, String> {
        let merged = s.mount_rootfs("c1").map_err(|e| e.to_string())?;
        let script = "echo new > /new.txt; echo other > /etc/hostname; rm /etc/passwd; \
                      rm -rf /data/old; mkdir /data/old; touch /data/old/fresh";
        let out = Command::new("chroot")
            .arg(&merged)
            .args(["/bin/sh", "-c", script])
            .output()
            .map_err(|e| e.to_string())?;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let changes = s.diff("c1").map_err(|e| e.to_string())?;
        let mut exported = Vec::new();
        s.export("c1", &mut exported).map_err(|e| e.to_string())?;
        let patch = ImageConfigPatch {
            comment: Some("by the test".into()),
            changes: vec!["CMD [\"cat\", \"/new.txt\"]".into()],
            ..Default::default()
        };
        let committed = s
            .commit("c1", patch, Some("committed:1"))
            .map_err(|e| e.to_string())?;
        s.unmount_rootfs("c1").map_err(|e| e.to_string())?;
        // the committed image, in a second container
        s.create_rootfs("c2", "committed:1")
            .map_err(|e| e.to_string())?;
        let m2 = s.mount_rootfs("c2").map_err(|e| e.to_string())?;
        assert_eq!(
            std::fs::read_to_string(m2.join("new.txt")).ok().as_deref(),
            Some("new\n")
        );
        assert_eq!(
            std::fs::read_to_string(m2.join("etc/hostname"))
                .ok()
                .as_deref(),
            Some("other\n")
        );
        assert!(
            !m2.join("etc/passwd").exists(),
            "deleted file stays deleted"
        );
        assert!(m2.join("data/old/fresh").exists());
        assert!(
            !m2.join("data/old/new.txt").exists(),
            "replaced dir hides the image's content"
        );
        assert!(m2.join("bin/busybox").exists());
        s.remove_rootfs("c2").map_err(|e| e.to_string())?;
        Ok((changes, exported, committed))
    })??;
    let has = |p: &str, k: ChangeKind| changes.iter().any(|c| c.path == p && c.kind == k);
    assert!(has("/new.txt", ChangeKind::Added), "{changes:?}");
    assert!(has("/etc/hostname", ChangeKind::Changed), "{changes:?}");
    assert!(has("/etc/passwd", ChangeKind::Deleted), "{changes:?}");
    assert!(has("/etc", ChangeKind::Changed), "{changes:?}");
    assert!(has("/data/old/fresh", ChangeKind::Added), "{changes:?}");
    assert!(
        !changes.iter().any(|c| c.path.starts_with("/bin")),
        "{changes:?}"
    );

    let mut names = Vec::new();
    for e in tar::Archive::new(&exported[..]).entries()? {
        names.push(e?.path()?.to_string_lossy().into_owned());
    }
    assert!(names.iter().any(|n| n == "new.txt"));
    assert!(names.iter().any(|n| n == "bin/busybox"));
    assert!(!names
        .iter()
        .any(|n| n == "etc/passwd" || n == "etc/removed.txt" || n.contains(".wh.")));

    assert_eq!(committed.parent, base_id);
    assert_eq!(committed.layers.len(), 3);
    assert_eq!(committed.repo_tags, vec!["committed:1".to_string()]);
    let cmd = committed
        .config
        .config()
        .clone()
        .and_then(|c| c.cmd().clone());
    assert_eq!(cmd, Some(vec!["cat".to_string(), "/new.txt".to_string()]));
    assert_eq!(s.history("committed:1")?[0].comment, "by the test");
    s.remove_rootfs("c1")?;
    Ok(())
}
