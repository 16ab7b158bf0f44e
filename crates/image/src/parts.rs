//! An image taken apart and put together again, for the builder: its
//! config JSON and layers ([`ImageParts`]), a layer from a directory, an
//! image record from parts, and the build cache's records.
//!
//! The build cache maps a key (the builder's digest of parent state,
//! instruction and inputs) to the parts a step produced. Its layers belong
//! to no image until the build's result does, so a cache entry is only a
//! hint: [`ImageStore::parts_present`] says whether its layers survived
//! garbage collection.

use std::io::Seek;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::create::target_tag;
use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::load::Added;
use crate::meta;
use crate::model::{Image, LayerRef};
use crate::snapshot::pack::{self, PackMode};
use crate::store::ImageStore;

/// Key prefix of build cache records in the metadata store.
const BUILD_CACHE: &str = "image/buildcache/";

/// An image's config blob (as JSON, so fields berth does not model
/// survive) and its layers, bottom first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageParts {
    pub config: Value,
    pub layers: Vec<LayerRef>,
}

impl ImageStore {
    /// The id and parts of the image `reference` names.
    pub fn parts(&self, reference: &str) -> Result<(String, ImageParts)> {
        let _meta = self.hold()?;
        let rec = self.resolve_record(&mut self.view()?, reference)?;
        let d = Digest::parse(&rec.id, "image record")?;
        let config: Value = serde_json::from_slice(&self.inner.content.read(&d)?)
            .map_err(|e| ImageError::corrupt(format!("config {}", rec.id), e))?;
        Ok((
            rec.id,
            ImageParts {
                config,
                layers: rec.layers,
            },
        ))
    }

    /// Packs `dir` as a new layer (an overlayfs upper dir when `upper`:
    /// its whiteouts become `.wh.` entries), stores it uncompressed and
    /// unpacks its snapshot.
    pub fn layer_from_dir(&self, dir: &Path, upper: bool) -> Result<LayerRef> {
        let _gc = self.gc_lock(false)?;
        let tmp = tempfile::tempfile_in(self.inner.content.tmp_dir()).map_err(ImageError::io(
            "creating temp file in",
            self.inner.content.tmp_dir(),
        ))?;
        let mut w = std::io::BufWriter::new(tmp);
        let mode = if upper {
            PackMode::OverlayUpper
        } else {
            PackMode::Plain
        };
        pack::pack(dir, &mut w, mode)?;
        let mut tmp = w
            .into_inner()
            .map_err(|e| ImageError::io("writing", "build layer")(e.into_error()))?;
        tmp.rewind()
            .map_err(ImageError::io("rewinding", "build layer"))?;
        let mut added = Added::default();
        self.add_layer(std::io::BufReader::new(tmp), &mut added)
    }

    /// Whether every layer of `parts` still has its blob and snapshot.
    pub fn parts_present(&self, parts: &ImageParts) -> bool {
        parts.layers.iter().all(|l| {
            let ok = |s: &str| Digest::parse(s, "layer").ok();
            match (ok(&l.blob), ok(&l.diff_id)) {
                (Some(b), Some(d)) => {
                    self.inner.content.contains(&b) && self.inner.snapshots.contains(&d)
                }
                _ => false,
            }
        })
    }

    /// Stores `parts` as an image with the given tags (each a reference
    /// with a tag; all are checked before anything is written) and parent.
    pub fn create_image(&self, parts: &ImageParts, tags: &[String], parent: &str) -> Result<Image> {
        let _meta = self.hold()?;
        let mut full = Vec::new();
        for t in tags {
            full.extend(target_tag(Some(t))?);
        }
        // Under the GC lock, no prune runs between this check and the
        // record: a layer made earlier (a build step's) may have been
        // collected before, since no image held it.
        let _gc = self.gc_lock(false)?;
        if let Some(l) = parts.layers.iter().find(|l| {
            !self.parts_present(&ImageParts {
                config: Value::Null,
                layers: vec![(*l).clone()],
            })
        }) {
            return Err(ImageError::Missing {
                object: format!("layer {}", l.diff_id),
                referenced_by: "the new image (removed by a prune during the build? build again)"
                    .into(),
            });
        }
        let mut added = Added::default();
        let id = self.add_image(
            &parts.config,
            parts.layers.clone(),
            None,
            parent,
            &mut added,
        );
        let id = match id {
            Ok(id) => id,
            Err(e) => {
                self.undo(&added);
                return Err(e);
            }
        };
        self.transact(|txn| {
            for t in &full {
                meta::put_ref(txn, t, &id)?;
            }
            Ok(())
        })?;
        drop(_gc);
        self.resolve(&id)
    }

    /// The build cache's record under `key`, if any.
    pub fn build_cache_get(&self, key: &str) -> Result<Option<ImageParts>> {
        let _meta = self.hold()?;
        let mut view = self.view()?;
        Ok(berth_store::get_json(
            &mut view,
            &format!("{BUILD_CACHE}{key}"),
        )?)
    }

    /// Records `parts` under `key` in the build cache.
    pub fn build_cache_put(&self, key: &str, parts: &ImageParts) -> Result<()> {
        self.transact(|txn| {
            Ok(berth_store::put_json(
                txn,
                &format!("{BUILD_CACHE}{key}"),
                parts,
            )?)
        })
    }
}
