//! `image inspect IMAGE...`: docker's JSON array.

use berth_image::{Image, ImageStore};

/// Show images' details as JSON.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Images (names, ids).
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub fn run(store: &ImageStore, a: Args) -> anyhow::Result<i32> {
    let mut out = Vec::new();
    let mut code = 0;
    for r in &a.images {
        match store.resolve(r) {
            Ok(img) => out.push(docker_json(&img)?),
            Err(e) => {
                eprintln!("berth: {e}");
                code = 1;
            }
        }
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(code)
}

/// The image in the shape `docker image inspect` prints.
pub fn docker_json(img: &Image) -> anyhow::Result<serde_json::Value> {
    let mut config = match img.config.config() {
        Some(c) => serde_json::to_value(c)?,
        None => serde_json::Value::Null,
    };
    if let (Some(obj), serde_json::Value::Object(extra)) = (
        config.as_object_mut(),
        serde_json::to_value(&img.docker_config)?,
    ) {
        obj.extend(extra);
    }
    Ok(serde_json::json!({
        "Id": img.id,
        "RepoTags": img.repo_tags,
        "RepoDigests": img.repo_digests,
        "Parent": img.parent,
        "Comment": img.config.history().as_ref().and_then(|h| h.last()).and_then(|h| h.comment().clone()).unwrap_or_default(),
        "Created": img.created,
        "Author": img.config.author().clone().unwrap_or_default(),
        "Config": config,
        "Architecture": img.config.architecture().to_string(),
        "Os": img.config.os().to_string(),
        "Size": img.size,
        "RootFS": {"Type": "layers", "Layers": img.layers},
        "Descriptor": img.manifest_digest.as_ref().map(|d| serde_json::json!({"digest": d})),
    }))
}
