//! load -> save -> load keeps digests; references resolve as docker's do;
//! OCI layouts with indexes, gzip/zstd layers; tag/rm/history.

mod common;

use berth_image::{ArchiveFormat, ImageError, RemovedItem};
use berth_testsupport::images::{
    busybox_docker_archive, busybox_image, DockerArchive, LayerBuilder,
};
use common::*;

#[test]
fn busybox_docker_archive_loads_and_resolves_like_docker() -> TestResult {
    let (dir, s) = store()?;
    let path = dir.path().join("busybox.tar");
    let id = busybox_docker_archive(&path)?;
    let loaded = s.load(std::fs::File::open(&path)?)?;
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].id, id);
    assert_eq!(loaded[0].repo_tags, vec!["busybox:latest".to_string()]);
    assert_eq!(loaded[0].layers_unpacked, 2);
    let hex = id.trim_start_matches("sha256:");
    for r in [
        "busybox",
        "busybox:latest",
        "docker.io/library/busybox:latest",
        &id,
        hex,
        &hex[..12],
        &hex[..1],
    ] {
        assert_eq!(s.resolve(r)?.id, id, "resolving {r}");
    }
    assert!(matches!(
        s.resolve("busybox:other"),
        Err(ImageError::NotFound(_))
    ));
    assert!(matches!(
        s.resolve("Bad Name"),
        Err(ImageError::InvalidReference(_))
    ));
    let img = s.resolve("busybox")?;
    assert_eq!(img.repo_tags, vec!["busybox:latest".to_string()]);
    assert_eq!(img.layers.len(), 2);
    assert!(img.size > 100_000, "size {} should count busybox", img.size);
    assert_eq!(img.created, "2023-11-14T22:13:20Z");
    let cmd = img.config.config().as_ref().and_then(|c| c.cmd().clone());
    assert_eq!(cmd, Some(vec!["sh".to_string()]));
    assert_eq!(s.list()?.len(), 1);
    // loading again unpacks nothing; a gzip-, bzip2-, xz- or zstd-compressed
    // archive loads too (docker load takes them all)
    let again = s.load(std::fs::File::open(&path)?)?;
    assert_eq!(again[0].layers_unpacked, 0);
    let bytes = std::fs::read(&path)?;
    assert_eq!(s.load(&gzip(&bytes)[..])?[0].id, id);
    assert_eq!(s.load(&zstd(&bytes)[..])?[0].id, id);
    assert_eq!(s.load(&bzip2(&bytes)[..])?[0].id, id);
    assert_eq!(s.load(&xz(&bytes)[..])?[0].id, id);
    Ok(())
}

#[test]
fn load_save_load_keeps_every_digest_in_both_formats() -> TestResult {
    let (dir, s) = store()?;
    let path = dir.path().join("busybox.tar");
    busybox_docker_archive(&path)?;
    s.load(std::fs::File::open(&path)?)?;
    let first = s.resolve("busybox")?;
    for format in [ArchiveFormat::DockerArchive, ArchiveFormat::OciArchive] {
        let mut out = Vec::new();
        s.save(&["busybox".to_string()], format, &mut out)?;
        let (_d2, s2) = store()?;
        let loaded = s2.load(&out[..])?;
        assert_eq!(loaded.len(), 1);
        let second = s2.resolve(&first.id)?;
        assert_eq!(second.id, first.id, "{format:?}");
        assert_eq!(second.manifest_digest, first.manifest_digest, "{format:?}");
        assert_eq!(second.layers, first.layers, "{format:?}");
        assert_eq!(
            second.repo_tags,
            vec!["busybox:latest".to_string()],
            "{format:?}"
        );
        // and once more from the second store
        let mut out2 = Vec::new();
        s2.save(&["busybox:latest".to_string()], format, &mut out2)?;
        let (_d3, s3) = store()?;
        s3.load(&out2[..])?;
        assert_eq!(
            s3.resolve("busybox")?.manifest_digest,
            first.manifest_digest
        );
    }
    Ok(())
}

#[test]
fn save_of_several_images_holds_them_all() -> TestResult {
    let (_dir, s) = store()?;
    let mut other = LayerBuilder::new();
    other.file("hello", 0o644, b"hi")?;
    let archive = DockerArchive {
        images: vec![
            busybox_image()?,
            berth_testsupport::images::ArchiveImage::new(
                vec![other.finish()?],
                &["example.com/team/hello:v1"],
            ),
        ],
    };
    let loaded = s.load(&archive.to_bytes()?[..])?;
    assert_eq!(loaded.len(), 2);
    assert_eq!(
        loaded[1].repo_tags,
        vec!["example.com/team/hello:v1".to_string()]
    );
    let mut out = Vec::new();
    s.save(
        &["busybox".into(), "example.com/team/hello:v1".into()],
        ArchiveFormat::DockerArchive,
        &mut out,
    )?;
    let (_d2, s2) = store()?;
    let mut ids: Vec<String> = s2.load(&out[..])?.into_iter().map(|l| l.id).collect();
    ids.sort();
    let mut want: Vec<String> = loaded.into_iter().map(|l| l.id).collect();
    want.sort();
    assert_eq!(ids, want);
    assert_eq!(
        s2.resolve("example.com/team/hello:v1")?.repo_tags,
        vec!["example.com/team/hello:v1".to_string()]
    );
    Ok(())
}

#[test]
fn oci_layout_with_index_picks_the_host_platform_and_reads_gzip_and_zstd() -> TestResult {
    let (_dir, s) = store()?;
    let mut l1 = LayerBuilder::new();
    l1.file("one", 0o644, b"1")?;
    let l1 = l1.finish()?;
    let mut l2 = LayerBuilder::new();
    l2.file("two", 0o644, b"2")?;
    let l2 = l2.finish()?;
    let mut l3 = LayerBuilder::new();
    l3.file("three", 0o644, b"3")?;
    let l3 = l3.finish()?;
    let mut oci = OciLayout::default();
    let host = oci.image(vec![
        (
            gzip(&l1),
            "application/vnd.oci.image.layer.v1.tar+gzip",
            l1.clone(),
        ),
        (
            zstd(&l2),
            "application/vnd.oci.image.layer.v1.tar+zstd",
            l2.clone(),
        ),
        (
            l3.clone(),
            "application/vnd.oci.image.layer.v1.tar",
            l3.clone(),
        ),
    ]);
    let foreign = oci.image(vec![(
        l1.clone(),
        "application/vnd.oci.image.layer.v1.tar",
        l1.clone(),
    )]);
    let foreign_arch = if berth_image::platform::host_arch() == "amd64" {
        "s390x"
    } else {
        "amd64"
    };
    let idx = oci.index(vec![
        with_platform(foreign, foreign_arch),
        with_platform(host.clone(), berth_image::platform::host_arch()),
    ]);
    oci.manifests.push(with_name(idx, "example.com/multi:1.0"));
    let loaded = s.load(&oci.to_tar()[..])?;
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].layers_unpacked, 3);
    let img = s.resolve("example.com/multi:1.0")?;
    assert_eq!(img.manifest_digest.as_deref(), host["digest"].as_str());
    assert_eq!(
        img.docker_config.healthcheck.map(|h| h.test),
        Some(vec!["CMD".to_string(), "true".to_string()])
    );
    // by digest too
    let by_digest = format!(
        "example.com/multi@{}",
        host["digest"].as_str().unwrap_or_default()
    );
    assert_eq!(s.resolve(&by_digest)?.id, img.id);
    Ok(())
}

#[test]
fn tag_remove_and_history_follow_docker() -> TestResult {
    let (dir, s) = store()?;
    let path = dir.path().join("busybox.tar");
    let id = busybox_docker_archive(&path)?;
    s.load(std::fs::File::open(&path)?)?;
    s.tag("busybox", "mine/bb:v2")?;
    assert_eq!(s.resolve("mine/bb:v2")?.id, id);
    assert_eq!(
        s.resolve(&id)?.repo_tags,
        vec!["busybox:latest".to_string(), "mine/bb:v2".to_string()]
    );
    assert!(matches!(
        s.tag("busybox", "x@sha256:12"),
        Err(ImageError::InvalidReference(_))
    ));
    // by id with two tags needs force
    assert!(matches!(
        s.remove(&id, false, true, &|_| false),
        Err(ImageError::Conflict(_))
    ));
    // a container using it blocks deleting the last tag
    assert_eq!(
        s.remove("mine/bb:v2", false, true, &|_| true)?,
        vec![RemovedItem::Untagged("mine/bb:v2".into())]
    );
    assert!(matches!(
        s.remove("busybox", false, true, &|_| true),
        Err(ImageError::InUse { .. })
    ));
    let hist = s.history("busybox")?;
    assert_eq!(hist.len(), 2);
    assert_eq!(hist[0].id, id);
    assert_eq!(hist[1].id, "<missing>");
    assert!(
        hist[1].size > hist[0].size,
        "the busybox layer is the bigger one"
    );
    let before = s.disk_usage()?;
    assert!(before > 0);
    let removed = s.remove("busybox", false, true, &|_| false)?;
    assert_eq!(
        removed,
        vec![
            RemovedItem::Untagged("busybox:latest".into()),
            RemovedItem::Deleted(id.clone())
        ]
    );
    assert!(matches!(s.resolve(&id), Err(ImageError::NotFound(_))));
    assert_eq!(s.disk_usage()?, 0, "blobs and snapshots are collected");
    Ok(())
}

#[test]
fn a_docker_save_with_a_symlinked_duplicate_layer_loads() -> TestResult {
    // docker save writes a layer shared by two images once and links the
    // other image's layer.tar to it.
    let (_dir, s) = store()?;
    let mut l = LayerBuilder::new();
    l.file("shared", 0o644, b"x")?;
    let layer = l.finish()?;
    let a = berth_testsupport::images::ArchiveImage::new(vec![layer.clone()], &["a:1"]);
    let mut b = berth_testsupport::images::ArchiveImage::new(vec![layer.clone()], &["b:1"]);
    b.config = serde_json::json!({"Cmd": ["other"]});
    let (ca, cb) = (a.config_json(), b.config_json());
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| -> std::io::Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        tar.append_data(&mut h, name, data)
    };
    add("aaaa/layer.tar", &layer)?;
    add("ca.json", &ca)?;
    add("cb.json", &cb)?;
    add(
        "manifest.json",
        br#"[{"Config":"ca.json","RepoTags":["a:1"],"Layers":["aaaa/layer.tar"]},{"Config":"cb.json","RepoTags":["b:1"],"Layers":["bbbb/layer.tar"]}]"#,
    )?;
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    tar.append_link(&mut h, "bbbb/layer.tar", "../aaaa/layer.tar")?;
    let bytes = tar.into_inner()?;
    let loaded = s.load(&bytes[..])?;
    assert_eq!(loaded.len(), 2);
    assert_eq!(s.resolve("a:1")?.layers, s.resolve("b:1")?.layers);
    assert_ne!(s.resolve("a:1")?.id, s.resolve("b:1")?.id);
    // an archive link that leaves the archive is refused
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    tar.append_link(&mut h, "cccc/layer.tar", "../../../etc/passwd")?;
    let mut h = tar::Header::new_gnu();
    let m = br#"[{"Config":"ca.json","RepoTags":["c:1"],"Layers":["cccc/layer.tar"]}]"#;
    h.set_size(m.len() as u64);
    h.set_mode(0o644);
    tar.append_data(&mut h, "manifest.json", &m[..])?;
    let mut h = tar::Header::new_gnu();
    h.set_size(ca.len() as u64);
    h.set_mode(0o644);
    tar.append_data(&mut h, "ca.json", &ca[..])?;
    let err = s.load(&tar.into_inner()?[..]);
    assert!(
        matches!(&err, Err(ImageError::Missing { object, .. }) if object == "cccc/layer.tar"),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn prune_removes_dangling_images_then_unused_ones() -> TestResult {
    let (dir, s) = store()?;
    let path = dir.path().join("busybox.tar");
    let id = busybox_docker_archive(&path)?;
    s.load(std::fs::File::open(&path)?)?;
    let mut l = LayerBuilder::new();
    l.file("x", 0o644, b"x")?;
    let dangling = s.import(&l.finish()?[..], None, &[])?;
    let report = s.prune(true, &|_| false)?;
    assert_eq!(
        report.removed,
        vec![RemovedItem::Deleted(dangling.id.clone())]
    );
    assert!(report.space_reclaimed > 0);
    assert_eq!(s.list()?.len(), 1);
    // -a keeps what a container uses
    let report = s.prune(false, &|img| img == id)?;
    assert!(report.removed.is_empty());
    let report = s.prune(false, &|_| false)?;
    assert_eq!(
        report.removed,
        vec![
            RemovedItem::Untagged("busybox:latest".into()),
            RemovedItem::Deleted(id)
        ]
    );
    assert!(s.list()?.is_empty());
    assert_eq!(s.disk_usage()?, 0);
    Ok(())
}

#[test]
fn a_store_kept_by_the_engine_holds_the_metadata() -> TestResult {
    let dir = tempfile::tempdir()?;
    let meta = std::sync::Arc::new(berth_store::MemStore::default());
    let s = berth_image::ImageStore::open_with_store(&dir.path().join("image"), meta.clone())?;
    let path = dir.path().join("busybox.tar");
    let id = busybox_docker_archive(&path)?;
    s.load(std::fs::File::open(&path)?)?;
    assert_eq!(s.resolve("busybox")?.id, id);
    use berth_store::Store;
    let keys: Vec<String> = meta
        .list_prefix("image/")?
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert!(
        keys.iter()
            .any(|k| k == "image/refs/docker.io/library/busybox:latest"),
        "{keys:?}"
    );
    assert!(
        !dir.path().join("image/db").exists(),
        "no redb file of its own"
    );
    Ok(())
}
