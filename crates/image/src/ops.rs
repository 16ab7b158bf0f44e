//! Tag management and removal with `docker tag` / `docker rmi` /
//! `docker image prune` semantics, and `docker history`.

use crate::error::{ImageError, Result};
use crate::meta;
use crate::model::{HistoryEntry, ImageRecord, PruneReport, RemovedItem};
use crate::reference::{familiar_name, Reference};
use crate::store::ImageStore;

impl ImageStore {
    /// Points tag `target` at the image `source` resolves to.
    pub fn tag(&self, source: &str, target: &str) -> Result<()> {
        let _meta = self.hold()?;
        let r = Reference::parse(target)?;
        let full = match (&r.digest, r.tagged()) {
            (None, Some(full)) => full,
            _ => return Err(ImageError::InvalidReference(target.to_string())),
        };
        self.transact(|txn| {
            let rec = self.resolve_record(txn, source)?;
            meta::put_ref(txn, &full, &rec.id)
        })
    }

    /// `docker rmi`: a tag is untagged, and the image deleted with its last
    /// tag; by id, an image with several tags needs `force`. An image a
    /// container uses (`in_use(id)`) is not deleted without `force`; with
    /// it, the record goes but the layers stay while the container does.
    pub fn remove(
        &self,
        reference: &str,
        force: bool,
        in_use: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<RemovedItem>> {
        let _meta = self.hold()?;
        let _gc = self.gc_lock(true)?;
        let removed = self.transact(|txn| {
            let rec = self.resolve_record(txn, reference)?;
            let tags: Vec<String> = meta::refs(txn)?
                .into_iter()
                .filter(|(_, id)| *id == rec.id)
                .map(|(full, _)| full)
                .collect();
            let by_tag = Reference::parse(reference)
                .ok()
                .filter(|r| r.digest.is_none())
                .and_then(|r| r.tagged())
                .filter(|full| tags.contains(full));
            let mut out = Vec::new();
            let untag: Vec<String> = match &by_tag {
                Some(t) if tags.len() > 1 => vec![t.clone()],
                _ => {
                    if tags.len() > 1 && !force && by_tag.is_none() {
                        return Err(ImageError::Conflict(format!(
                            "unable to delete {} (must be forced) - image is referenced in multiple repositories",
                            short_id(&rec.id)
                        )));
                    }
                    if in_use(&rec.id) && !force {
                        return Err(ImageError::InUse { image: rec.id.clone() });
                    }
                    tags.clone()
                }
            };
            for t in &untag {
                meta::delete_ref(txn, t)?;
                out.push(RemovedItem::Untagged(familiar_name(t)));
            }
            if untag.len() == tags.len() {
                meta::delete_image(txn, &rec.id)?;
                out.push(RemovedItem::Deleted(rec.id.clone()));
            }
            Ok(out)
        })?;
        self.collect_garbage()?;
        Ok(removed)
    }

    /// `docker image prune`: dangling (untagged) images, or with
    /// `dangling_only = false` every image no container uses; then the
    /// blobs and snapshots nothing references.
    pub fn prune(&self, dangling_only: bool, in_use: &dyn Fn(&str) -> bool) -> Result<PruneReport> {
        let _meta = self.hold()?;
        let _gc = self.gc_lock(true)?;
        let removed = self.transact(|txn| {
            let refs = meta::refs(txn)?;
            let mut out = Vec::new();
            for rec in meta::images(txn)? {
                let tags: Vec<&String> = refs
                    .iter()
                    .filter(|(_, id)| *id == rec.id)
                    .map(|(f, _)| f)
                    .collect();
                if (dangling_only && !tags.is_empty()) || in_use(&rec.id) {
                    continue;
                }
                for t in tags {
                    meta::delete_ref(txn, t)?;
                    out.push(RemovedItem::Untagged(familiar_name(t)));
                }
                meta::delete_image(txn, &rec.id)?;
                out.push(RemovedItem::Deleted(rec.id.clone()));
            }
            Ok(out)
        })?;
        let space_reclaimed = self.collect_garbage()?;
        Ok(PruneReport {
            removed,
            space_reclaimed,
        })
    }

    /// `docker history`: newest step first; the top row carries the id and
    /// tags, the others `<missing>` as docker shows for loaded images.
    pub fn history(&self, reference: &str) -> Result<Vec<HistoryEntry>> {
        let _meta = self.hold()?;
        let img = self.resolve(reference)?;
        let mut sizes = img
            .layers
            .iter()
            .map(|d| {
                crate::Digest::parse(d, "image")
                    .and_then(|d| self.inner.snapshots.size(&d))
                    .unwrap_or(0)
            })
            .collect::<Vec<_>>()
            .into_iter();
        let mut rows = Vec::new();
        for h in img.config.history().iter().flatten() {
            let empty = h.empty_layer().unwrap_or(false);
            rows.push(HistoryEntry {
                id: "<missing>".into(),
                created: h.created().clone().unwrap_or_default(),
                created_by: h.created_by().clone().unwrap_or_default(),
                size: if empty { 0 } else { sizes.next().unwrap_or(0) },
                comment: h.comment().clone().unwrap_or_default(),
                tags: Vec::new(),
            });
        }
        // Layers the history does not describe (some tools write none).
        for size in sizes {
            rows.push(HistoryEntry {
                id: "<missing>".into(),
                created: img.created.clone(),
                created_by: String::new(),
                size,
                comment: String::new(),
                tags: Vec::new(),
            });
        }
        rows.reverse();
        if let Some(top) = rows.first_mut() {
            top.id = img.id.clone();
            top.tags = img.repo_tags.clone();
        }
        Ok(rows)
    }

    /// Bytes used by blobs and snapshots.
    pub fn disk_usage(&self) -> Result<u64> {
        let mut total = 0;
        for d in self.inner.content.list()? {
            total += std::fs::metadata(self.inner.content.path(&d))
                .map(|m| m.len())
                .unwrap_or(0);
        }
        for d in self.inner.snapshots.list()? {
            total += self.inner.snapshots.size(&d).unwrap_or(0);
        }
        Ok(total)
    }

    /// Removes blobs and snapshots no image or container references;
    /// returns the bytes freed. Callers hold the exclusive gc lock.
    fn collect_garbage(&self) -> Result<u64> {
        let mut view = self.view()?;
        let records: Vec<ImageRecord> = meta::images(&mut view)?;
        let mut blobs = std::collections::HashSet::new();
        let mut layers = std::collections::HashSet::new();
        for rec in &records {
            blobs.insert(rec.id.clone());
            blobs.extend(rec.manifest_digest.clone());
            for l in &rec.layers {
                blobs.insert(l.blob.clone());
                layers.insert(l.diff_id.clone());
            }
        }
        for (_, c) in meta::containers(&mut view)? {
            layers.extend(c.diff_ids);
        }
        let mut freed = 0;
        for d in self.inner.content.list()? {
            if !blobs.contains(d.as_str()) {
                freed += std::fs::metadata(self.inner.content.path(&d))
                    .map(|m| m.len())
                    .unwrap_or(0);
                self.inner.content.remove(&d)?;
            }
        }
        for d in self.inner.snapshots.list()? {
            if !layers.contains(d.as_str()) {
                freed += self.inner.snapshots.size(&d).unwrap_or(0);
                self.inner.snapshots.remove(&d)?;
            }
        }
        Ok(freed)
    }

    /// The store-wide lock between adding content (shared: loads, imports,
    /// commits) and collecting garbage (exclusive), so a blob a load has
    /// written but not yet recorded is never taken for garbage.
    pub(crate) fn gc_lock(&self, exclusive: bool) -> Result<std::fs::File> {
        let p = self.inner.root.join("gc.lock");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(ImageError::io("opening", &p))?;
        if exclusive {
            f.lock().map_err(ImageError::io("locking", &p))?;
        } else {
            f.lock_shared().map_err(ImageError::io("locking", &p))?;
        }
        Ok(f)
    }
}

/// The 12-digit id docker shows.
pub fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}
