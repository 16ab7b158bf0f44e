//! `load`: an archive in, images out. The archive is staged and fully
//! checked first ([`crate::archive::plan`]); then layers are unpacked (each
//! verified against its diff id), blobs moved into the content store, and
//! the records and tags written in one metadata transaction. If any step
//! fails, the snapshots and blobs this load added are removed again, so a
//! failed load leaves the store as it was.

use std::fs::File;
use std::io::{BufReader, Read};
use std::sync::Mutex;

use crate::archive::plan::{self, media, Plan};
use crate::archive::staging::Staged;
use crate::compression;
use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::meta;
use crate::model::{ImageRecord, LayerRef, LoadedImage};
use crate::reference::familiar_name;
use crate::store::ImageStore;

/// What a load added, to undo on failure.
#[derive(Default)]
pub(crate) struct Added {
    pub blobs: Vec<Digest>,
    pub snapshots: Vec<Digest>,
}

impl ImageStore {
    /// Loads a docker-archive (`docker save`) or an OCI layout / oci-archive.
    pub fn load(&self, archive: impl Read) -> Result<Vec<LoadedImage>> {
        // docker load also takes a compressed archive (docker save | gzip,
        // bzip2, xz or zstd).
        let (_, plain) =
            compression::open_stream(archive).map_err(|e| ImageError::corrupt("archive", e))?;
        let staged = Staged::read(plain, self.inner.content.tmp_dir())?;
        let plans = plan::plans(&staged)?;
        let mut added = Added::default();
        let _gc = self.gc_lock(false)?;
        match self.apply(&plans, &mut added) {
            Ok(loaded) => Ok(loaded),
            Err(e) => {
                self.undo(&added);
                Err(e)
            }
        }
    }

    pub(crate) fn undo(&self, added: &Added) {
        for d in &added.snapshots {
            if let Err(e) = self.inner.snapshots.remove(d) {
                tracing::warn!(layer = %d, error = %e, "removing snapshot of a failed load");
            }
        }
        for d in &added.blobs {
            if let Err(e) = self.inner.content.remove(d) {
                tracing::warn!(blob = %d, error = %e, "removing blob of a failed load");
            }
        }
    }

    fn apply(&self, plans: &[Plan], added: &mut Added) -> Result<Vec<LoadedImage>> {
        let mut records = Vec::new();
        let mut loaded = Vec::new();
        for p in plans {
            let mut unpacked = 0;
            // Layers unpack in parallel: each snapshot is its own directory.
            let done = Mutex::new(Vec::new());
            let res = crate::parallel::for_each(&p.layers, unpack_threads(), |l| {
                let ensured = self.inner.snapshots.ensure(&l.diff_id, || {
                    let f = File::open(&l.staged).map_err(ImageError::io("opening", &l.staged))?;
                    compression::decompress(BufReader::new(f), l.compression)
                        .map_err(|e| ImageError::corrupt(&l.member, e))
                });
                let ensured = ensured.map_err(|e| name_member(e, &l.member))?;
                if ensured.unpacked {
                    if let Ok(mut d) = done.lock() {
                        d.push(l.diff_id.clone());
                    }
                }
                Ok(())
            });
            let done = done.into_inner().unwrap_or_default();
            unpacked += done.len();
            added.snapshots.extend(done);
            res?;
            // Blobs: layers, config, manifest (synthesised for
            // docker-archives, so save can write an OCI layout).
            for l in &p.layers {
                if !self.inner.content.contains(&l.blob) {
                    self.inner.content.adopt(&l.staged, &l.blob)?;
                    added.blobs.push(l.blob.clone());
                }
            }
            self.put_blob(&p.config_bytes, added)?;
            let layers: Vec<LayerRef> = p
                .layers
                .iter()
                .map(|l| LayerRef {
                    diff_id: l.diff_id.to_string(),
                    blob: l.blob.to_string(),
                    media_type: l.media_type.clone(),
                    blob_size: l.blob_size,
                })
                .collect();
            let (manifest_digest, manifest_type) = match &p.manifest {
                Some((d, mt, bytes)) => {
                    self.put_blob(bytes, added)?;
                    (d.clone(), mt.clone())
                }
                None => {
                    let bytes = synth_manifest(&p.config_digest, p.config_bytes.len(), &layers);
                    (
                        self.put_blob(&bytes, added)?,
                        media::OCI_MANIFEST.to_string(),
                    )
                }
            };
            records.push((
                ImageRecord {
                    id: p.config_digest.to_string(),
                    manifest_digest: Some(manifest_digest.to_string()),
                    manifest_media_type: Some(manifest_type),
                    layers,
                    repo_digests: Vec::new(),
                    parent: String::new(),
                },
                p.tags.clone(),
            ));
            loaded.push(LoadedImage {
                id: p.config_digest.to_string(),
                repo_tags: p.tags.iter().map(|t| familiar_name(t)).collect(),
                layers_unpacked: unpacked,
            });
        }
        self.transact(|txn| {
            for (rec, tags) in &records {
                let mut rec = rec.clone();
                if let Some(old) = meta::get_image(txn, &rec.id)? {
                    // Same config: keep what the earlier arrival knew.
                    rec.repo_digests = old.repo_digests;
                    rec.parent = old.parent;
                }
                meta::put_image(txn, &rec)?;
                for t in tags {
                    meta::put_ref(txn, t, &rec.id)?;
                }
            }
            Ok(())
        })?;
        for l in &loaded {
            tracing::info!(id = %l.id, tags = ?l.repo_tags, "loaded image");
        }
        Ok(loaded)
    }

    pub(crate) fn put_blob(&self, bytes: &[u8], added: &mut Added) -> Result<Digest> {
        let d = Digest::of(bytes);
        if !self.inner.content.contains(&d) {
            self.inner.content.put_bytes(bytes)?;
            added.blobs.push(d.clone());
        }
        Ok(d)
    }
}

/// Threads for unpacking layers: the cores, at most 4.
fn unpack_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().min(4))
}

/// An OCI manifest for an image that came without one.
pub(crate) fn synth_manifest(config: &Digest, config_len: usize, layers: &[LayerRef]) -> Vec<u8> {
    let layers: Vec<serde_json::Value> = layers
        .iter()
        .map(|l| {
            serde_json::json!({
                "mediaType": l.media_type,
                "digest": l.blob,
                "size": l.blob_size,
            })
        })
        .collect();
    let m = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "config": {
            "mediaType": media::OCI_CONFIG,
            "digest": config.to_string(),
            "size": config_len,
        },
        "layers": layers,
    });
    serde_json::to_vec(&m).unwrap_or_default()
}

/// Puts the archive member into a layer error that only says "layer".
fn name_member(e: ImageError, member: &str) -> ImageError {
    match e {
        ImageError::Corrupt { object, reason } if object.starts_with("layer ") => {
            ImageError::corrupt(format!("{object} ({member})"), reason)
        }
        ImageError::Unsafe { entry, reason } => ImageError::Unsafe {
            entry,
            reason: format!("{reason} (in layer {member})"),
        },
        other => other,
    }
}
