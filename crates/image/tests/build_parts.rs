//! The builder's view of the store: a layer from a directory, an image
//! from parts with several tags, build cache records, and a layer that a
//! prune collected before the image was written.

use berth_image::{ImageParts, ImageStore};
use serde_json::json;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn parts_of(
    store: &ImageStore,
    dir: &std::path::Path,
) -> Result<ImageParts, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir.join("etc"))?;
    std::fs::write(dir.join("etc/greeting"), "hi\n")?;
    let layer = store.layer_from_dir(dir, false)?;
    Ok(ImageParts {
        config: json!({
            "architecture": "amd64", "os": "linux", "config": { "Cmd": ["cat", "/etc/greeting"] },
            "rootfs": { "type": "layers", "diff_ids": [layer.diff_id] }
        }),
        layers: vec![layer],
    })
}

#[test]
fn image_from_parts_with_tags_and_cache_records() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = ImageStore::open(&dir.path().join("image"))?;
    let parts = parts_of(&store, &dir.path().join("layer"))?;
    assert!(store.parts_present(&parts));
    assert!(store.build_cache_get("k1")?.is_none());
    store.build_cache_put("k1", &parts)?;
    assert_eq!(store.build_cache_get("k1")?, Some(parts.clone()));
    let img = store.create_image(&parts, &["a:1".into(), "example.com/b".into()], "")?;
    assert_eq!(
        img.repo_tags,
        vec!["a:1".to_string(), "example.com/b:latest".to_string()]
    );
    assert_eq!(img.layers.len(), 1);
    let (id, back) = store.parts("a:1")?;
    assert_eq!(id, img.id);
    assert_eq!(back, parts);
    // A bad tag fails before anything is written.
    assert!(store.create_image(&parts, &["Bad:Tag".into()], "").is_err());
    assert_eq!(store.list()?.len(), 1);
    Ok(())
}

#[test]
fn a_layer_collected_during_the_build_is_named() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = ImageStore::open(&dir.path().join("image"))?;
    let parts = parts_of(&store, &dir.path().join("layer"))?;
    // No image holds the layer yet: a prune collects it.
    store.prune(false, &|_| false)?;
    assert!(!store.parts_present(&parts));
    let e = store
        .create_image(&parts, &[], "")
        .err()
        .map(|e| e.to_string());
    assert!(
        e.as_deref()
            .is_some_and(|m| m.contains(&parts.layers[0].diff_id)),
        "{e:?}"
    );
    assert!(store.list()?.is_empty());
    Ok(())
}
