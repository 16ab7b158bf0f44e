//! What a registry holds for a reference, without pulling it (`GET
//! /distribution/{name}/json`): the descriptor of the manifest or index
//! the reference names, and the platforms it has images for.

use std::io::Read;

use oci_spec::image::{ImageIndex, ImageManifest};

use super::RegistryOptions;
use crate::archive::plan::media;
use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::reference::Reference;

/// One platform an image is for, as its index entry or config says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DistributionPlatform {
    pub architecture: String,
    pub os: String,
    pub os_version: Option<String>,
    pub os_features: Vec<String>,
    pub variant: Option<String>,
}

/// The manifest (or index) a reference names on its registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distribution {
    pub media_type: String,
    pub digest: Digest,
    /// Bytes of the manifest.
    pub size: u64,
    /// An index's platforms in its order; a single manifest's one, from
    /// its config.
    pub platforms: Vec<DistributionPlatform>,
}

/// Asks `reference`'s registry for its manifest: an index lists its
/// platforms; a single image's platform is read from its config blob (as
/// dockerd does).
pub fn inspect(reference: &str, opts: &RegistryOptions) -> Result<Distribution> {
    let r = Reference::parse(reference)?;
    let client = opts.client(&r.domain)?;
    let repo = &r.path;
    let wanted = match (&r.digest, &r.tag) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.clone(),
        (None, None) => "latest".to_string(),
    };
    let (bytes, media_type, digest) = client.get_manifest(repo, &wanted)?;
    let object = format!("{}/{repo}@{digest}", r.domain);
    let platforms = if media_type == media::OCI_INDEX || media_type == media::DOCKER_LIST {
        let index: ImageIndex =
            serde_json::from_slice(&bytes).map_err(|e| ImageError::corrupt(&object, e))?;
        index
            .manifests()
            .iter()
            .filter_map(|m| m.platform().as_ref())
            .map(|p| DistributionPlatform {
                architecture: p.architecture().to_string(),
                os: p.os().to_string(),
                os_version: p.os_version().clone(),
                os_features: p.os_features().clone().unwrap_or_default(),
                variant: p.variant().clone(),
            })
            .collect()
    } else if media_type == media::OCI_MANIFEST || media_type == media::DOCKER_MANIFEST {
        let m: ImageManifest =
            serde_json::from_slice(&bytes).map_err(|e| ImageError::corrupt(&object, e))?;
        let config_digest = Digest::parse(m.config().digest().as_ref(), &object)?;
        let config_object = format!("config {config_digest} of {object}");
        let mut config = Vec::new();
        client
            .get_blob(repo, &config_digest)?
            .take(16 << 20)
            .read_to_end(&mut config)
            .map_err(|e| ImageError::corrupt(&config_object, e))?;
        if Digest::of(&config) != config_digest {
            return Err(ImageError::corrupt(
                config_object,
                "content does not match its digest",
            ));
        }
        vec![platform_of_config(&config, &config_object)?]
    } else {
        return Err(ImageError::UnsupportedMediaType { object, media_type });
    };
    Ok(Distribution {
        media_type,
        digest,
        size: bytes.len() as u64,
        platforms,
    })
}

/// An image config's `os`, `architecture`, `variant`, `os.version` and
/// `os.features`.
fn platform_of_config(config: &[u8], object: &str) -> Result<DistributionPlatform> {
    let c: serde_json::Value =
        serde_json::from_slice(config).map_err(|e| ImageError::corrupt(object, e))?;
    let s = |k: &str| c[k].as_str().filter(|v| !v.is_empty()).map(str::to_owned);
    Ok(DistributionPlatform {
        architecture: s("architecture").unwrap_or_default(),
        os: s("os").unwrap_or_default(),
        os_version: s("os.version"),
        os_features: c["os.features"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        variant: s("variant"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_names_its_platform() {
        let p = platform_of_config(
            br#"{"architecture":"arm","os":"linux","variant":"v7","os.features":["x"]}"#,
            "config",
        )
        .expect("config");
        assert_eq!(
            p,
            DistributionPlatform {
                architecture: "arm".into(),
                os: "linux".into(),
                os_version: None,
                os_features: vec!["x".into()],
                variant: Some("v7".into()),
            }
        );
        assert!(platform_of_config(b"[", "config").is_err());
    }
}
