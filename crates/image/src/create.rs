//! Making new images in the store (`import`, `commit`): a layer from a tar
//! stream, and an image record from a config and its layers.

use std::io::Read;

use serde_json::Value;

use crate::archive::plan::media;
use crate::compression::{self, Compression};
use crate::error::{ImageError, Result};
use crate::load::{synth_manifest, Added};
use crate::meta;
use crate::model::{ImageRecord, LayerRef};
use crate::store::ImageStore;

impl ImageStore {
    /// Stores the uncompressed layer tar `r` as a blob (its digest is the
    /// diff id) and unpacks its snapshot.
    pub(crate) fn add_layer(&self, r: impl Read, added: &mut Added) -> Result<LayerRef> {
        let (d, new) = self.inner.content.put_reader_new(r, None)?;
        if new {
            added.blobs.push(d.clone());
        }
        let ensured = self.inner.snapshots.ensure(&d, || {
            let r = self.inner.content.reader(&d)?;
            compression::decompress(r, Compression::None)
                .map_err(|e| ImageError::corrupt(format!("blob {d}"), e))
        })?;
        if ensured.unpacked {
            added.snapshots.push(d.clone());
        }
        let blob_size = std::fs::metadata(self.inner.content.path(&d))
            .map_err(ImageError::io("stat", self.inner.content.path(&d)))?
            .len();
        Ok(LayerRef {
            diff_id: d.to_string(),
            blob: d.to_string(),
            media_type: compression::oci_media_type(Compression::None).to_string(),
            blob_size,
        })
    }

    /// Stores `config` (a whole image config JSON) with `layers` as a new
    /// image, tagged `tag` (a full reference) if given; returns its id.
    pub(crate) fn add_image(
        &self,
        config: &Value,
        layers: Vec<LayerRef>,
        tag: Option<&str>,
        parent: &str,
        added: &mut Added,
    ) -> Result<String> {
        let bytes =
            serde_json::to_vec(config).map_err(|e| ImageError::corrupt("new image config", e))?;
        // What the new config says must read back as an image config.
        crate::archive::plan::diff_ids(&bytes, "new image config")?;
        let config_digest = self.put_blob(&bytes, added)?;
        let manifest = synth_manifest(&config_digest, bytes.len(), &layers);
        let manifest_digest = self.put_blob(&manifest, added)?;
        let rec = ImageRecord {
            id: config_digest.to_string(),
            manifest_digest: Some(manifest_digest.to_string()),
            manifest_media_type: Some(media::OCI_MANIFEST.to_string()),
            layers,
            repo_digests: Vec::new(),
            parent: parent.to_string(),
        };
        self.transact(|txn| {
            meta::put_image(txn, &rec)?;
            if let Some(t) = tag {
                meta::put_ref(txn, t, &rec.id)?;
            }
            Ok(())
        })?;
        Ok(rec.id)
    }
}

/// The full `repo:tag` of an optional `--tag`-style reference, checked
/// before any work is done.
pub(crate) fn target_tag(reference: Option<&str>) -> Result<Option<String>> {
    let Some(r) = reference else { return Ok(None) };
    let parsed = crate::reference::Reference::parse(r)?;
    match (&parsed.digest, parsed.tagged()) {
        (None, Some(full)) => Ok(Some(full)),
        _ => Err(ImageError::InvalidReference(r.to_string())),
    }
}

/// Now, RFC 3339 in UTC with nanoseconds, as docker writes `created`.
pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}
