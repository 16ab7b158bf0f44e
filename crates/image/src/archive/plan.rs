//! What a load will bring in, worked out and checked from the staged archive
//! before anything is written to the store: configs parsed, every blob
//! present with the digest it is named by, media types known, one diff id
//! per layer.

use std::collections::BTreeSet;
use std::path::PathBuf;

use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};
use serde::Deserialize;

use super::staging::{blob_path, Staged};
use crate::compression::{self, Compression};
use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::platform;
use crate::reference::Reference;

/// Media types of manifests, indexes and configs (OCI and Docker v2 s2).
pub mod media {
    /// OCI image manifest.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// OCI image index.
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// OCI image config.
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// Docker v2 schema 2 manifest.
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// Docker manifest list.
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    /// Docker image config.
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
}

/// One image to load.
#[derive(Debug)]
pub struct Plan {
    pub config_digest: Digest,
    pub config_bytes: Vec<u8>,
    pub config_member: String,
    /// The manifest as found (OCI layouts); docker-archives have none.
    pub manifest: Option<(Digest, String, Vec<u8>)>,
    pub layers: Vec<PlanLayer>,
    /// Full normalised `repo:tag` references.
    pub tags: BTreeSet<String>,
}

/// One layer of a [`Plan`].
#[derive(Debug, Clone)]
pub struct PlanLayer {
    pub member: String,
    pub staged: PathBuf,
    pub blob: Digest,
    pub blob_size: u64,
    pub media_type: String,
    pub compression: Compression,
    pub diff_id: Digest,
}

/// Works out the plans of a staged archive: OCI layout (which Docker 25+
/// `docker save` output also is) when index.json is there, else classic
/// docker-archive.
pub fn plans(st: &Staged) -> Result<Vec<Plan>> {
    let plans = if st.has("index.json") {
        oci_plans(st)?
    } else if st.has("manifest.json") {
        docker_plans(st)?
    } else {
        return Err(ImageError::corrupt(
            "archive",
            "neither index.json (OCI layout) nor manifest.json (docker save) found",
        ));
    };
    // An index names one manifest once per tag (docker save, skopeo):
    // one plan per image, with all its tags.
    let mut merged: Vec<Plan> = Vec::new();
    for p in plans {
        let same = merged.iter_mut().find(|m| {
            m.config_digest == p.config_digest
                && m.manifest.as_ref().map(|x| &x.0) == p.manifest.as_ref().map(|x| &x.0)
        });
        match same {
            Some(m) => m.tags.extend(p.tags),
            None => merged.push(p),
        }
    }
    let mut plans = merged;
    if st.has("manifest.json") && st.has("index.json") {
        // Docker 25+: manifest.json carries the RepoTags.
        for entry in docker_manifest(st)? {
            let (cd, _) = st.digest(&entry.config, "manifest.json")?;
            for p in plans.iter_mut().filter(|p| p.config_digest == cd) {
                p.tags.extend(parse_tags(&entry.repo_tags)?);
            }
        }
    }
    Ok(plans)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    layers: Vec<String>,
}

fn docker_manifest(st: &Staged) -> Result<Vec<DockerManifestEntry>> {
    let bytes = st.read_member("manifest.json", "the archive")?;
    serde_json::from_slice(&bytes).map_err(|e| ImageError::corrupt("manifest.json", e))
}

fn parse_tags(tags: &Option<Vec<String>>) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for t in tags.iter().flatten() {
        let r = Reference::parse(t)?;
        match r.tagged() {
            Some(full) if r.digest.is_none() => {
                out.insert(full);
            }
            _ => return Err(ImageError::InvalidReference(t.clone())),
        }
    }
    Ok(out)
}

fn docker_plans(st: &Staged) -> Result<Vec<Plan>> {
    let mut out = Vec::new();
    for entry in docker_manifest(st)? {
        let config_bytes = st.read_member(&entry.config, "manifest.json")?;
        let (config_digest, _) = st.digest(&entry.config, "manifest.json")?;
        check_named_digest(&entry.config, &config_digest)?;
        let diff_ids = diff_ids(&config_bytes, &entry.config)?;
        if diff_ids.len() != entry.layers.len() {
            return Err(ImageError::corrupt(
                "manifest.json",
                format!(
                    "{} lists {} layers but its config has {} diff ids",
                    entry.config,
                    entry.layers.len(),
                    diff_ids.len()
                ),
            ));
        }
        let mut layers = Vec::new();
        for (member, diff_id) in entry.layers.iter().zip(diff_ids) {
            let staged = st.require(member, "manifest.json")?.to_path_buf();
            let (blob, blob_size) = st.digest(member, "manifest.json")?;
            check_named_digest(member, &blob)?;
            let head = head_bytes(&staged)?;
            let compression = compression::sniff(&head);
            layers.push(PlanLayer {
                member: member.clone(),
                staged,
                blob,
                blob_size,
                media_type: compression::oci_media_type(compression).to_string(),
                compression,
                diff_id,
            });
        }
        out.push(Plan {
            config_digest,
            config_bytes,
            config_member: entry.config.clone(),
            manifest: None,
            layers,
            tags: parse_tags(&entry.repo_tags)?,
        });
    }
    Ok(out)
}

fn oci_plans(st: &Staged) -> Result<Vec<Plan>> {
    let bytes = st.read_member("index.json", "the archive")?;
    let index: ImageIndex =
        serde_json::from_slice(&bytes).map_err(|e| ImageError::corrupt("index.json", e))?;
    let mut out = Vec::new();
    for desc in index.manifests() {
        let tags = tags_of(desc.annotations().as_ref());
        let d = Digest::parse(desc.digest().as_ref(), "index.json")?;
        out.push(manifest_plan(
            st,
            &d,
            desc.media_type().as_ref(),
            "index.json",
            tags,
            0,
        )?);
    }
    Ok(out)
}

/// Follows an index (picking this host's platform) down to a manifest.
fn manifest_plan(
    st: &Staged,
    d: &Digest,
    media_type: &str,
    referenced_by: &str,
    tags: BTreeSet<String>,
    depth: u32,
) -> Result<Plan> {
    let object = blob_path(d);
    if depth > 4 {
        return Err(ImageError::corrupt(object, "indexes nested too deep"));
    }
    let bytes = st.verified_blob(d, referenced_by)?;
    match media_type {
        media::OCI_INDEX | media::DOCKER_LIST => {
            let index: ImageIndex =
                serde_json::from_slice(&bytes).map_err(|e| ImageError::corrupt(&object, e))?;
            let chosen = platform::choose(index.manifests(), &object)?;
            let cd = Digest::parse(chosen.digest().as_ref(), &object)?;
            manifest_plan(
                st,
                &cd,
                chosen.media_type().as_ref(),
                &object,
                tags,
                depth + 1,
            )
        }
        media::OCI_MANIFEST | media::DOCKER_MANIFEST => {
            let m: ImageManifest =
                serde_json::from_slice(&bytes).map_err(|e| ImageError::corrupt(&object, e))?;
            let cfg = m.config();
            let cfg_type = cfg.media_type().to_string();
            if cfg_type != media::OCI_CONFIG && cfg_type != media::DOCKER_CONFIG {
                return Err(ImageError::UnsupportedMediaType {
                    object: format!("config of {object}"),
                    media_type: cfg_type,
                });
            }
            let config_digest = Digest::parse(cfg.digest().as_ref(), &object)?;
            let config_bytes = st.verified_blob(&config_digest, &object)?;
            let diff_ids = diff_ids(&config_bytes, &blob_path(&config_digest))?;
            if diff_ids.len() != m.layers().len() {
                return Err(ImageError::corrupt(
                    &object,
                    format!(
                        "{} layers but its config has {} diff ids",
                        m.layers().len(),
                        diff_ids.len()
                    ),
                ));
            }
            let mut layers = Vec::new();
            for (l, diff_id) in m.layers().iter().zip(diff_ids) {
                let blob = Digest::parse(l.digest().as_ref(), &object)?;
                let member = blob_path(&blob);
                let media_type = l.media_type().to_string();
                let compression = compression::from_media_type(
                    &media_type,
                    &format!("layer {blob} of {object}"),
                )?;
                let staged = st.require(&member, &object)?.to_path_buf();
                let (got, blob_size) = st.digest(&member, &object)?;
                if got != blob {
                    return Err(ImageError::corrupt(
                        member,
                        format!("content has digest {got}"),
                    ));
                }
                layers.push(PlanLayer {
                    member,
                    staged,
                    blob,
                    blob_size,
                    media_type,
                    compression,
                    diff_id,
                });
            }
            Ok(Plan {
                config_digest: config_digest.clone(),
                config_bytes,
                config_member: blob_path(&config_digest),
                manifest: Some((d.clone(), media_type.to_string(), bytes)),
                layers,
                tags,
            })
        }
        other => Err(ImageError::UnsupportedMediaType {
            object: format!("{object} (named by {referenced_by})"),
            media_type: other.to_string(),
        }),
    }
}

/// Tags from an index descriptor's annotations: containerd's full name, or
/// the OCI ref name when it is a whole reference rather than a bare tag.
fn tags_of(ann: Option<&std::collections::HashMap<String, String>>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Some(ann) = ann else { return out };
    let name = ann.get("io.containerd.image.name").or_else(|| {
        ann.get("org.opencontainers.image.ref.name")
            .filter(|n| n.contains(':') || n.contains('/'))
    });
    if let Some(r) = name.and_then(|n| Reference::parse(n).ok()) {
        if let Some(t) = r.tagged() {
            out.insert(t);
        }
    }
    out
}

/// The diff ids in a config, which must parse as an image config.
pub fn diff_ids(config: &[u8], object: &str) -> Result<Vec<Digest>> {
    let cfg: ImageConfiguration =
        serde_json::from_slice(config).map_err(|e| ImageError::corrupt(object, e))?;
    cfg.rootfs()
        .diff_ids()
        .iter()
        .map(|d| Digest::parse(d, object))
        .collect()
}

/// A member named `.../sha256/<hex>` or `<hex>.json` must hash to that hex.
fn check_named_digest(member: &str, got: &Digest) -> Result<()> {
    let last = member.rsplit('/').next().unwrap_or(member);
    let stem = last.strip_suffix(".json").unwrap_or(last);
    let named_in_blobs = member.contains("sha256/") || last.ends_with(".json");
    if named_in_blobs && crate::digest::is_hex64(stem) && stem != got.hex() {
        return Err(ImageError::corrupt(
            member,
            format!("content has digest {got}"),
        ));
    }
    Ok(())
}

fn head_bytes(p: &std::path::Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = vec![0u8; 8];
    let mut f = std::fs::File::open(p).map_err(ImageError::io("opening", p))?;
    let n = f.read(&mut buf).map_err(ImageError::io("reading", p))?;
    buf.truncate(n);
    Ok(buf)
}
