//! Crafted layer tars that try to write outside their layer directory are
//! refused, the error names the entry, the host is untouched and the store
//! is as it was.

mod common;

use berth_image::ImageError;
use berth_testsupport::images::{ArchiveImage, DockerArchive, LayerBuilder};
use common::*;
use tar::EntryType;

/// Builds a layer with `f`, loads it, and checks the refusal.
fn refused(
    what: &str,
    entry: &str,
    f: impl FnOnce(&mut LayerBuilder, &str) -> std::io::Result<()>,
) -> TestResult {
    let (_dir, s) = store()?;
    let canary = tempfile::tempdir()?;
    std::fs::write(canary.path().join("secret"), "untouched")?;
    let canary_path = canary.path().to_string_lossy().into_owned();
    let mut l = LayerBuilder::new();
    l.file("ok.txt", 0o644, b"fine")?;
    f(&mut l, &canary_path)?;
    let archive = DockerArchive {
        images: vec![ArchiveImage::new(vec![l.finish()?], &["evil:latest"])],
    };
    let before = state(&s);
    match s.load(&archive.to_bytes()?[..]) {
        Err(ImageError::Unsafe { entry: got, reason }) => {
            assert_eq!(
                got,
                entry.replace("CANARY", &canary_path),
                "{what}: wrong entry named ({reason})"
            );
        }
        other => panic!("{what}: expected an Unsafe error, got {other:?}"),
    }
    assert_eq!(state(&s), before, "{what}: the store changed");
    assert!(s.list()?.is_empty());
    let left: Vec<_> = std::fs::read_dir(canary.path())?
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        left,
        vec![std::ffi::OsString::from("secret")],
        "{what}: the canary dir changed"
    );
    assert_eq!(
        std::fs::read_to_string(canary.path().join("secret"))?,
        "untouched"
    );
    Ok(())
}

#[test]
fn dotdot_entries_are_refused() -> TestResult {
    refused("plain ..", "../escape.txt", |l, _| {
        l.raw("../escape.txt", EntryType::Regular, 0o644, None, b"x")
            .map(drop)
    })?;
    refused("nested ..", "a/../../escape.txt", |l, _| {
        l.raw("a/../../escape.txt", EntryType::Regular, 0o644, None, b"x")
            .map(drop)
    })
}

#[test]
fn absolute_entries_are_refused() -> TestResult {
    refused("absolute file", "CANARY/pwned", |l, c| {
        l.raw(&format!("{c}/pwned"), EntryType::Regular, 0o644, None, b"x")
            .map(drop)
    })
}

#[test]
fn entries_through_a_symlink_to_outside_are_refused() -> TestResult {
    refused("file through absolute symlink", "link/pwned", |l, c| {
        l.symlink("link", c)?;
        l.file("link/pwned", 0o644, b"x").map(drop)
    })?;
    refused("dir through relative symlink", "up/tmp/pwned/", |l, _| {
        l.symlink("up", "../../../../../../../..")?;
        l.dir("up/tmp/pwned", 0o755).map(drop)
    })?;
    refused("symlink replaced parent", "d/sub/pwned", |l, c| {
        l.dir("d", 0o755)?;
        l.symlink("d/sub", c)?;
        l.file("d/sub/pwned", 0o644, b"x").map(drop)
    })?;
    // The unpacker keeps the last parent directory open across entries:
    // a directory that held entries and is then replaced by a symlink
    // must not be reused for the entries after it.
    refused(
        "used directory replaced by a symlink",
        "d/sub/pwned",
        |l, c| {
            l.dir("d/sub", 0o755)?;
            l.file("d/sub/a", 0o644, b"a")?;
            l.file("d/sub/b", 0o644, b"b")?;
            l.symlink("d/sub", c)?;
            l.file("d/sub/pwned", 0o644, b"x").map(drop)
        },
    )?;
    refused("whiteout then symlink", "d/sub/pwned", |l, c| {
        l.dir("d/sub", 0o755)?;
        l.file("d/sub/a", 0o644, b"a")?;
        l.whiteout("d/sub")?;
        l.symlink("d/sub", c)?;
        l.file("d/sub/pwned", 0o644, b"x").map(drop)
    })
}

#[test]
fn hardlinks_to_outside_are_refused() -> TestResult {
    refused("hardlink with ..", "hl", |l, _| {
        l.hardlink("hl", "../../../../etc/passwd").map(drop)
    })?;
    refused("hardlink absolute", "hl", |l, _| {
        l.hardlink("hl", "/etc/passwd").map(drop)
    })?;
    refused("hardlink through symlink", "hl", |l, c| {
        l.symlink("outside", c)?;
        l.hardlink("hl", "outside/secret").map(drop)
    })
}

#[test]
fn a_whiteout_through_a_symlink_is_refused() -> TestResult {
    refused("whiteout via symlink", "outside/.wh.secret", |l, c| {
        l.symlink("outside", c)?;
        l.whiteout("outside/secret").map(drop)
    })
}

#[test]
fn symlinks_inside_the_layer_are_kept_as_written() -> TestResult {
    // Absolute symlink targets are normal in images (/bin/sh -> /bin/busybox):
    // they are stored, not followed.
    let (_dir, s) = store()?;
    let mut l = LayerBuilder::new();
    l.symlink("etc-link", "/etc")?;
    l.file("real", 0o644, b"x")?;
    l.hardlink("hard", "real")?;
    let img = ArchiveImage::new(vec![l.finish()?], &["links:latest"]);
    let diff = img.layers[0].1.clone();
    s.load(&DockerArchive { images: vec![img] }.to_bytes()?[..])?;
    let fs = s
        .root()
        .join("snapshots")
        .join(diff.trim_start_matches("sha256:"))
        .join("fs");
    assert_eq!(
        std::fs::read_link(fs.join("etc-link"))?,
        std::path::PathBuf::from("/etc")
    );
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(fs.join("hard"))?.ino(),
        std::fs::metadata(fs.join("real"))?.ino()
    );
    Ok(())
}
