//! Unpacking keeps what a layer says about each entry: owners, modes with
//! set-id bits, mtimes (directories too), xattrs, device nodes, fifos,
//! hardlinks.

mod common;

use std::os::unix::fs::{FileTypeExt, MetadataExt};

use berth_testsupport::images::{ArchiveImage, DockerArchive, Entry, LayerBuilder};
use common::*;
use tar::EntryType;

#[test]
fn owners_modes_mtimes_xattrs_and_devices_survive_unpacking() -> TestResult {
    let (_dir, s) = store()?;
    let mut l = LayerBuilder::new();
    l.entry(&Entry {
        name: "srv/",
        kind: EntryType::Directory,
        mode: 0o750,
        uid: 33,
        gid: 44,
        mtime: 1_000_000,
        ..Entry::default()
    })?;
    l.pax(&[
        ("SCHILY.xattr.user.origin", b"berth"),
        ("SCHILY.xattr.trusted.t", b"1"),
    ])?;
    l.entry(&Entry {
        name: "srv/tool",
        mode: 0o4755,
        uid: 1234,
        gid: 5678,
        mtime: 1_234_567,
        data: b"#!/bin/sh\n",
        ..Entry::default()
    })?;
    l.entry(&Entry {
        name: "srv/null",
        kind: EntryType::Char,
        mode: 0o666,
        device: Some((1, 3)),
        ..Entry::default()
    })?;
    l.entry(&Entry {
        name: "srv/loop9",
        kind: EntryType::Block,
        mode: 0o660,
        device: Some((7, 9)),
        ..Entry::default()
    })?;
    l.entry(&Entry {
        name: "srv/pipe",
        kind: EntryType::Fifo,
        mode: 0o600,
        ..Entry::default()
    })?;
    l.entry(&Entry {
        name: "srv/link",
        kind: EntryType::Symlink,
        link: Some("tool"),
        uid: 7,
        gid: 8,
        mtime: 2_000_000,
        ..Entry::default()
    })?;
    l.hardlink("srv/tool2", "srv/tool")?;
    let img = ArchiveImage::new(vec![l.finish()?], &["meta:1"]);
    let diff = img.layers[0].1.clone();
    s.load(&DockerArchive { images: vec![img] }.to_bytes()?[..])?;
    let fs = s
        .root()
        .join("snapshots")
        .join(diff.trim_start_matches("sha256:"))
        .join("fs");

    let srv = std::fs::symlink_metadata(fs.join("srv"))?;
    assert_eq!(
        (srv.mode() & 0o7777, srv.uid(), srv.gid(), srv.mtime()),
        (0o750, 33, 44, 1_000_000)
    );
    let tool = std::fs::symlink_metadata(fs.join("srv/tool"))?;
    assert_eq!(
        (tool.mode() & 0o7777, tool.uid(), tool.gid(), tool.mtime()),
        (0o4755, 1234, 5678, 1_234_567)
    );
    assert_eq!(tool.nlink(), 2);
    assert_eq!(
        std::fs::symlink_metadata(fs.join("srv/tool2"))?.ino(),
        tool.ino()
    );
    let mut buf = [0u8; 16];
    let n = rustix::fs::lgetxattr(fs.join("srv/tool"), "user.origin", &mut buf)?;
    assert_eq!(&buf[..n], b"berth");
    let n = rustix::fs::lgetxattr(fs.join("srv/tool"), "trusted.t", &mut buf)?;
    assert_eq!(&buf[..n], b"1");
    let null = std::fs::symlink_metadata(fs.join("srv/null"))?;
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));
    let lp = std::fs::symlink_metadata(fs.join("srv/loop9"))?;
    assert!(lp.file_type().is_block_device());
    assert_eq!(lp.rdev(), rustix::fs::makedev(7, 9));
    assert!(std::fs::symlink_metadata(fs.join("srv/pipe"))?
        .file_type()
        .is_fifo());
    let link = std::fs::symlink_metadata(fs.join("srv/link"))?;
    assert!(link.file_type().is_symlink());
    assert_eq!((link.uid(), link.gid(), link.mtime()), (7, 8, 2_000_000));
    Ok(())
}

#[test]
fn files_of_zeros_are_unpacked_sparse() -> TestResult {
    let (_dir, s) = store()?;
    let mut data = vec![0u8; 4 << 20];
    data[..5].copy_from_slice(b"start");
    let mut l = LayerBuilder::new();
    l.file("sparse", 0o644, &data)?;
    l.file("zeros", 0o644, &vec![0u8; 1 << 20])?;
    let img = ArchiveImage::new(vec![l.finish()?], &["sparse:1"]);
    let diff = img.layers[0].1.clone();
    s.load(&DockerArchive { images: vec![img] }.to_bytes()?[..])?;
    let fs = s
        .root()
        .join("snapshots")
        .join(diff.trim_start_matches("sha256:"))
        .join("fs");
    let md = std::fs::metadata(fs.join("sparse"))?;
    assert_eq!(md.len(), 4 << 20);
    assert!(
        md.blocks() * 512 < 1 << 20,
        "{} blocks for 4 MiB of mostly zeros",
        md.blocks()
    );
    assert_eq!(std::fs::read(fs.join("sparse"))?, data);
    assert_eq!(std::fs::metadata(fs.join("zeros"))?.len(), 1 << 20);
    assert_eq!(std::fs::read(fs.join("zeros"))?, vec![0u8; 1 << 20]);
    Ok(())
}
