//! Bad archives get a clear error naming the object, and the store is left
//! exactly as it was (no blob, snapshot, temp file or record added).

mod common;

use berth_image::ImageError;
use berth_testsupport::images::{
    busybox_docker_archive, sha256, ArchiveImage, DockerArchive, LayerBuilder,
};
use common::*;

fn layer(name: &str) -> Vec<u8> {
    let mut l = LayerBuilder::new();
    let _ = l.file(name, 0o644, &vec![b'z'; 4096]);
    l.finish().unwrap_or_default()
}

/// Loads `archive` into a store already holding busybox; returns the error.
fn load_fails(archive: &[u8]) -> Result<ImageError, Box<dyn std::error::Error>> {
    let (dir, s) = store()?;
    let bb = dir.path().join("bb.tar");
    busybox_docker_archive(&bb)?;
    s.load(std::fs::File::open(&bb)?)?;
    let before = state(&s);
    let images_before = s.list()?;
    let err = match s.load(archive) {
        Ok(l) => panic!("loaded {l:?}"),
        Err(e) => e,
    };
    assert_eq!(state(&s), before, "store changed after: {err}");
    assert_eq!(s.list()?, images_before);
    Ok(err)
}

#[test]
fn a_corrupt_gzip_layer_is_named_and_undone() -> TestResult {
    let good = layer("a");
    let bad_tar = layer("b");
    let mut gz = gzip(&bad_tar);
    let mid = gz.len() / 2;
    for b in &mut gz[mid..mid + 16] {
        *b ^= 0x5a;
    }
    let mut oci = OciLayout::default();
    let m = oci.image(vec![
        (
            good.clone(),
            "application/vnd.oci.image.layer.v1.tar",
            good.clone(),
        ),
        (
            gz.clone(),
            "application/vnd.oci.image.layer.v1.tar+gzip",
            bad_tar,
        ),
    ]);
    oci.manifests.push(with_name(m, "x/y:z"));
    let err = load_fails(&oci.to_tar())?;
    let blob = sha256(&gz);
    assert!(
        matches!(&err, ImageError::Corrupt { object, .. } if object.contains(blob.trim_start_matches("sha256:"))),
        "{err}"
    );
    Ok(())
}

#[test]
fn a_blob_whose_content_differs_from_its_name_is_refused() -> TestResult {
    let l = layer("a");
    let mut oci = OciLayout::default();
    let m = oci.image(vec![(
        l.clone(),
        "application/vnd.oci.image.layer.v1.tar",
        l.clone(),
    )]);
    oci.manifests.push(m);
    let d = sha256(&l);
    if let Some(b) = oci.blobs.get_mut(&d) {
        b[600] ^= 1;
    }
    let err = load_fails(&oci.to_tar())?;
    assert!(
        matches!(&err, ImageError::Corrupt { object, reason } if object.contains(d.trim_start_matches("sha256:")) && reason.contains("digest")),
        "{err}"
    );
    Ok(())
}

#[test]
fn a_layer_not_matching_its_diff_id_is_refused() -> TestResult {
    let mut img = ArchiveImage::new(vec![layer("a")], &["wrong:diff"]);
    let claimed = sha256(b"something else");
    img.layers[0].1 = claimed.clone();
    let err = load_fails(&DockerArchive { images: vec![img] }.to_bytes()?)?;
    assert!(
        matches!(&err, ImageError::Corrupt { object, reason } if object.contains(&claimed) && reason.contains("digest")),
        "{err}"
    );
    Ok(())
}

#[test]
fn a_truncated_archive_or_layer_is_refused() -> TestResult {
    let archive = DockerArchive {
        images: vec![ArchiveImage::new(vec![layer("a")], &["t:1"])],
    }
    .to_bytes()?;
    let err = load_fails(&archive[..archive.len() / 2])?;
    assert!(
        matches!(
            &err,
            ImageError::Corrupt { .. } | ImageError::Missing { .. }
        ),
        "{err}"
    );
    // a layer cut short inside an intact archive
    let full = layer("big");
    let cut = full[..2048].to_vec();
    let mut img = ArchiveImage::new(vec![cut], &["t:2"]);
    img.layers[0].1 = sha256(&full);
    let err = load_fails(&DockerArchive { images: vec![img] }.to_bytes()?)?;
    assert!(
        matches!(&err, ImageError::Corrupt { object, .. } if object.contains("layer")),
        "{err}"
    );
    Ok(())
}

#[test]
fn a_manifest_naming_a_missing_blob_is_refused() -> TestResult {
    let l = layer("a");
    let mut oci = OciLayout::default();
    let m = oci.image(vec![(
        l.clone(),
        "application/vnd.oci.image.layer.v1.tar",
        l.clone(),
    )]);
    let manifest_digest = m["digest"].as_str().unwrap_or_default().to_string();
    oci.manifests.push(m);
    oci.omit.insert(sha256(&l));
    let err = load_fails(&oci.to_tar())?;
    match &err {
        ImageError::Missing {
            object,
            referenced_by,
        } => {
            assert!(
                object.contains(sha256(&l).trim_start_matches("sha256:")),
                "{err}"
            );
            assert!(
                referenced_by.contains(manifest_digest.trim_start_matches("sha256:")),
                "{err}"
            );
        }
        other => panic!("expected Missing, got {other}"),
    }
    // docker-archive: manifest.json names a layer.tar that is not there
    let mut bytes = Vec::new();
    {
        let mut tar = tar::Builder::new(&mut bytes);
        let manifest = br#"[{"Config":"c.json","RepoTags":["m:1"],"Layers":["nope/layer.tar"]}]"#;
        let cfg = br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:0000000000000000000000000000000000000000000000000000000000000000"]}}"#;
        for (name, data) in [("manifest.json", &manifest[..]), ("c.json", &cfg[..])] {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            tar.append_data(&mut h, name, data)?;
        }
        tar.finish()?;
    }
    let err = load_fails(&bytes)?;
    assert!(
        matches!(&err, ImageError::Missing { object, .. } if object == "nope/layer.tar"),
        "{err}"
    );
    Ok(())
}

#[test]
fn an_unknown_media_type_is_refused() -> TestResult {
    let l = layer("a");
    let mut oci = OciLayout::default();
    let m = oci.image(vec![(
        l.clone(),
        "application/vnd.example.weird",
        l.clone(),
    )]);
    oci.manifests.push(m);
    let err = load_fails(&oci.to_tar())?;
    assert!(
        matches!(&err, ImageError::UnsupportedMediaType { object, media_type }
            if media_type == "application/vnd.example.weird" && object.contains(sha256(&l).trim_start_matches("sha256:"))),
        "{err}"
    );
    // and at the top level
    let mut oci = OciLayout::default();
    let mut m = oci.image(vec![(
        l.clone(),
        "application/vnd.oci.image.layer.v1.tar",
        l,
    )]);
    m["mediaType"] = "application/vnd.example.manifest".into();
    oci.manifests.push(m);
    let err = load_fails(&oci.to_tar())?;
    assert!(
        matches!(&err, ImageError::UnsupportedMediaType { .. }),
        "{err}"
    );
    Ok(())
}

#[test]
fn an_archive_that_is_neither_format_is_refused() -> TestResult {
    let mut l = LayerBuilder::new();
    l.file("random", 0o644, b"x")?;
    let err = load_fails(&l.finish()?)?;
    assert!(
        matches!(&err, ImageError::Corrupt { object, .. } if object == "archive"),
        "{err}"
    );
    Ok(())
}
