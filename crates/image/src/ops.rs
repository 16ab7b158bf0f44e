//! Tag management and removal with `docker tag` / `docker rmi` /
//! `docker image prune` semantics, and `docker history`.

use berth_store::Txn;

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
    /// An image that is another's parent is never deleted (dockerd's hard
    /// conflict). With `prune` (dockerd's default, `noprune` off), parents
    /// left untagged and childless go too, up the chain, quietly stopping
    /// at the first one a tag, another child or a container keeps.
    pub fn remove(
        &self,
        reference: &str,
        force: bool,
        prune: bool,
        in_use: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<RemovedItem>> {
        let _meta = self.hold()?;
        let _gc = self.gc_lock(true)?;
        let removed = self.transact(|txn| {
            let rec = self.resolve_record(txn, reference)?;
            let tags = tags_of(txn, &rec.id)?;
            let by_tag = Reference::parse(reference)
                .ok()
                .filter(|r| r.digest.is_none())
                .and_then(|r| r.tagged())
                .filter(|full| tags.contains(full));
            let mut out = Vec::new();
            match &by_tag {
                Some(t) if tags.len() > 1 => {
                    meta::delete_ref(txn, t)?;
                    out.push(RemovedItem::Untagged(familiar_name(t)));
                    return Ok(out);
                }
                Some(t) => {
                    if in_use(&rec.id) && !force {
                        return Err(ImageError::InUse { image: rec.id.clone() });
                    }
                    meta::delete_ref(txn, t)?;
                    out.push(RemovedItem::Untagged(familiar_name(t)));
                    // The image itself goes unless something keeps it,
                    // and then silently (dockerd: the untag was the remove).
                    delete_chain(txn, &rec.id, force, prune, true, in_use, &mut out)?;
                }
                None => {
                    if tags.len() > 1 && !force {
                        return Err(ImageError::Conflict(format!(
                            "unable to delete {} (must be forced) - image is referenced in multiple repositories",
                            short_id(&rec.id)
                        )));
                    }
                    if has_children(txn, &rec.id)? {
                        return Err(child_conflict(&rec.id));
                    }
                    if in_use(&rec.id) && !force {
                        return Err(ImageError::InUse { image: rec.id.clone() });
                    }
                    for t in &tags {
                        meta::delete_ref(txn, t)?;
                        out.push(RemovedItem::Untagged(familiar_name(t)));
                    }
                    delete_chain(txn, &rec.id, true, prune, false, in_use, &mut out)?;
                }
            }
            Ok(out)
        })?;
        self.collect_garbage()?;
        Ok(removed)
    }

    /// `docker image prune`: dangling images (untagged, and no image's
    /// parent), or with `dangling_only = false` every image no container
    /// uses; each with its untagged parents that nothing else keeps (the
    /// step images of a build). Then the blobs and snapshots nothing
    /// references.
    pub fn prune(&self, dangling_only: bool, in_use: &dyn Fn(&str) -> bool) -> Result<PruneReport> {
        let _meta = self.hold()?;
        let _gc = self.gc_lock(true)?;
        let removed = self.transact(|txn| {
            let refs = meta::refs(txn)?;
            let records = meta::images(txn)?;
            let parents: std::collections::HashSet<&str> =
                records.iter().map(|r| r.parent.as_str()).collect();
            let mut out = Vec::new();
            for rec in &records {
                let tagged = refs.iter().any(|(_, id)| *id == rec.id);
                let childless = !parents.contains(rec.id.as_str());
                // Untagged images with children go with their heads.
                if !tagged && !childless {
                    continue;
                }
                if (dangling_only && (tagged || !childless)) || in_use(&rec.id) {
                    continue;
                }
                // An earlier head's chain may have taken it already.
                if meta::get_image(txn, &rec.id)?.is_none() {
                    continue;
                }
                let mut items = Vec::new();
                for t in tags_of(txn, &rec.id)? {
                    meta::delete_ref(txn, &t)?;
                    items.push(RemovedItem::Untagged(familiar_name(&t)));
                }
                delete_chain(txn, &rec.id, false, true, true, in_use, &mut items)?;
                out.extend(items);
            }
            Ok(out)
        })?;
        let space_reclaimed = self.collect_garbage()?;
        Ok(PruneReport {
            removed,
            space_reclaimed,
        })
    }

    /// `docker history`: newest step first. Rows get the ids (and tags)
    /// of the image and its parents in turn, one history entry each, as
    /// dockerd walks the chain a build made; rows past the first image
    /// without a parent (a pulled or loaded base) show `<missing>`.
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
        let mut view = self.view()?;
        let (mut id, mut tags) = (img.id.clone(), img.repo_tags.clone());
        for row in rows.iter_mut() {
            row.id = id.clone();
            row.tags = std::mem::take(&mut tags);
            let parent = meta::get_image(&mut view, &id)?
                .map(|r| r.parent)
                .unwrap_or_default();
            if parent.is_empty() || meta::get_image(&mut view, &parent)?.is_none() {
                break;
            }
            tags = tags_of(&mut view, &parent)?
                .iter()
                .map(|t| familiar_name(t))
                .collect();
            tags.sort();
            id = parent;
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

/// The full refs (`docker.io/library/x:tag`) that point at `id`.
fn tags_of(txn: &mut dyn Txn, id: &str) -> Result<Vec<String>> {
    Ok(meta::refs(txn)?
        .into_iter()
        .filter(|(_, i)| i == id)
        .map(|(full, _)| full)
        .collect())
}

/// Whether some image names `id` as its parent.
fn has_children(txn: &mut dyn Txn, id: &str) -> Result<bool> {
    Ok(meta::images(txn)?.iter().any(|r| r.parent == id))
}

fn child_conflict(id: &str) -> ImageError {
    ImageError::Conflict(format!(
        "unable to delete {} (cannot be forced) - image has dependent child images",
        short_id(id)
    ))
}

/// dockerd's delete helper: deletes image `id` (its tags are gone
/// already, unless `force`) and, with `prune`, its parents in turn while
/// each is untagged, childless and unused. A conflict on the way is an
/// error, or with `quiet` the end of the chain.
fn delete_chain(
    txn: &mut dyn Txn,
    id: &str,
    force: bool,
    prune: bool,
    quiet: bool,
    in_use: &dyn Fn(&str) -> bool,
    out: &mut Vec<RemovedItem>,
) -> Result<()> {
    let (mut id, mut force, mut quiet) = (id.to_string(), force, quiet);
    loop {
        let Some(rec) = meta::get_image(txn, &id)? else {
            return Ok(());
        };
        let tags = tags_of(txn, &id)?;
        let conflict = if has_children(txn, &id)? {
            Some(child_conflict(&id))
        } else if !force && !tags.is_empty() {
            Some(ImageError::Conflict(format!(
                "unable to delete {} (must be forced) - image is referenced in multiple repositories",
                short_id(&id)
            )))
        } else if !force && in_use(&id) {
            Some(ImageError::InUse { image: id.clone() })
        } else {
            None
        };
        if let Some(e) = conflict {
            return if quiet { Ok(()) } else { Err(e) };
        }
        for t in &tags {
            meta::delete_ref(txn, t)?;
            out.push(RemovedItem::Untagged(familiar_name(t)));
        }
        meta::delete_image(txn, &id)?;
        out.push(RemovedItem::Deleted(id.clone()));
        if !prune || rec.parent.is_empty() {
            return Ok(());
        }
        // Parents are pruned without force and quietly.
        id = rec.parent;
        force = false;
        quiet = true;
    }
}

/// The 12-digit id docker shows.
pub fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}
