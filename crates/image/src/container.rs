//! A container's rootfs as content: `diff` (its upper dir against the
//! image), `commit` (the upper dir as a new layer on top of the image) and
//! `export` (the merged rootfs as one tar).

use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::changes;
use crate::create::{now_rfc3339, target_tag};
use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::load::Added;
use crate::meta;
use crate::model::{Change, ChangeKind, Image, ImageConfigPatch};
use crate::snapshot::pack::{self, PackMode};
use crate::snapshot::unpack::OPAQUE_XATTR;
use crate::store::ImageStore;

impl ImageStore {
    /// `docker diff`: what the container added (A), changed (C) or deleted
    /// (D) relative to its image, by path, sorted.
    pub fn diff(&self, container_id: &str) -> Result<Vec<Change>> {
        let _meta = self.hold()?;
        let rootfs = self.rootfs(container_id)?;
        let mut out = Vec::new();
        diff_walk(&rootfs.upper, &rootfs.lowerdirs, "", &mut out)?;
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// `docker commit`: the container's upper dir as a new layer over its
    /// image, with the config from `patch`; tagged `reference` if given.
    pub fn commit(
        &self,
        container_id: &str,
        patch: ImageConfigPatch,
        reference: Option<&str>,
    ) -> Result<Image> {
        let tag = target_tag(reference)?;
        let rootfs = self.rootfs(container_id)?;
        let rec = meta::get_container(&mut self.view()?, container_id)?
            .ok_or_else(|| ImageError::NotFound(format!("rootfs of container {container_id}")))?;
        let base = self.resolve_record(&mut self.view()?, &rec.image_id)?;
        let base_digest = Digest::parse(&base.id, "image record")?;
        let mut cfg: Value = serde_json::from_slice(&self.inner.content.read(&base_digest)?)
            .map_err(|e| ImageError::corrupt(format!("config {}", base.id), e))?;
        // The new config first, so a bad --change fails before any work.
        let mut inner = match &patch.config {
            Some(c) => {
                serde_json::to_value(c).map_err(|e| ImageError::corrupt("commit config", e))?
            }
            None => cfg.get("config").cloned().unwrap_or(Value::Null),
        };
        if !inner.is_object() {
            inner = Value::Object(Default::default());
        }
        if let Some(map) = inner.as_object_mut() {
            changes::apply(map, &patch.changes)?;
        }
        let _gc = self.gc_lock(false)?;
        let mut added = Added::default();
        let res = (|| {
            // Pack to a temp file first: the tar is hashed as it is stored.
            let tmp = tempfile::tempfile_in(self.inner.content.tmp_dir()).map_err(
                ImageError::io("creating temp file in", self.inner.content.tmp_dir()),
            )?;
            let mut w = std::io::BufWriter::new(tmp);
            pack::pack(&rootfs.upper, &mut w, PackMode::OverlayUpper)?;
            let mut tmp = w
                .into_inner()
                .map_err(|e| ImageError::io("writing", "commit layer")(e.into_error()))?;
            use std::io::Seek;
            tmp.rewind()
                .map_err(ImageError::io("rewinding", "commit layer"))?;
            let layer = self.add_layer(std::io::BufReader::new(tmp), &mut added)?;
            let created = now_rfc3339();
            let obj = cfg.as_object_mut().ok_or_else(|| {
                ImageError::corrupt(format!("config {}", base.id), "not an object")
            })?;
            obj.insert("created".into(), created.clone().into());
            obj.insert("config".into(), inner.clone());
            if let Some(a) = &patch.author {
                obj.insert("author".into(), a.clone().into());
            }
            obj.remove("container");
            obj.remove("container_config");
            let rootfs_v = obj
                .entry("rootfs")
                .or_insert_with(|| serde_json::json!({"type": "layers", "diff_ids": []}));
            if let Some(ids) = rootfs_v.get_mut("diff_ids").and_then(Value::as_array_mut) {
                ids.push(layer.diff_id.clone().into());
            }
            let hist = obj
                .entry("history")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Some(h) = hist.as_array_mut() {
                let mut entry = serde_json::json!({"created": created, "created_by": ""});
                if let Some(c) = &patch.comment {
                    entry["comment"] = c.clone().into();
                }
                if let Some(a) = &patch.author {
                    entry["author"] = a.clone().into();
                }
                h.push(entry);
            }
            let mut layers = base.layers.clone();
            layers.push(layer);
            self.add_image(&cfg, layers, tag.as_deref(), &base.id, &mut added)
        })();
        match res {
            Ok(id) => {
                drop(_gc);
                self.resolve(&id)
            }
            Err(e) => {
                self.undo(&added);
                Err(e)
            }
        }
    }

    /// `docker export`: the container's merged rootfs as a tar. Mounts it
    /// for the time of the export if it is not mounted.
    pub fn export(&self, container_id: &str, out: impl Write) -> Result<()> {
        let rootfs = self.rootfs(container_id)?;
        let was_mounted = crate::rootfs::is_mountpoint(&rootfs.merged)?;
        let merged = self.mount_rootfs(container_id)?;
        let res = pack::pack(&merged, out, PackMode::Plain);
        if !was_mounted {
            self.unmount_rootfs(container_id)?;
        }
        res
    }
}

fn diff_walk(upper: &Path, lowers: &[PathBuf], rel: &str, out: &mut Vec<Change>) -> Result<()> {
    let here = if rel.is_empty() {
        upper.to_path_buf()
    } else {
        upper.join(rel)
    };
    let rd = std::fs::read_dir(&here).map_err(ImageError::io("listing", &here))?;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let rel_path = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{}", name)
        };
        let path = upper.join(&rel_path);
        let md = std::fs::symlink_metadata(&path).map_err(ImageError::io("stat", &path))?;
        let in_image = in_lowers(lowers, &rel_path);
        let shown = format!("/{rel_path}");
        if md.file_type().is_char_device() && md.rdev() == 0 {
            if in_image {
                out.push(Change {
                    path: shown,
                    kind: ChangeKind::Deleted,
                });
            }
            continue;
        }
        out.push(Change {
            path: shown,
            kind: if in_image {
                ChangeKind::Changed
            } else {
                ChangeKind::Added
            },
        });
        if md.is_dir() {
            let opaque = is_opaque(&path);
            if opaque && in_image {
                // Everything the image had below an opaque dir is gone
                // unless the upper dir has it again.
                for l in lowers {
                    list_deleted_below(l, &path, &rel_path, out)?;
                }
            }
            diff_walk(upper, lowers, &rel_path, out)?;
        }
    }
    Ok(())
}

fn list_deleted_below(
    lower: &Path,
    upper_dir: &Path,
    rel: &str,
    out: &mut Vec<Change>,
) -> Result<()> {
    let Ok(rd) = std::fs::read_dir(lower.join(rel)) else {
        return Ok(());
    };
    for e in rd.flatten() {
        let name = e.file_name();
        if upper_dir.join(&name).symlink_metadata().is_err() {
            let p = format!("/{rel}/{}", name.to_string_lossy());
            if !out.iter().any(|c| c.path == p) {
                out.push(Change {
                    path: p,
                    kind: ChangeKind::Deleted,
                });
            }
        }
    }
    Ok(())
}

/// Whether `rel` exists in the image the lower layers (topmost first) make.
fn in_lowers(lowers: &[PathBuf], rel: &str) -> bool {
    let comps: Vec<&str> = rel.split('/').collect();
    for l in lowers {
        // An opaque parent in this layer hides everything below it further down.
        let mut hidden_below = false;
        for i in 1..comps.len() {
            if is_opaque(&l.join(comps[..i].join("/"))) {
                hidden_below = true;
            }
        }
        match std::fs::symlink_metadata(l.join(rel)) {
            Ok(md) if md.file_type().is_char_device() && md.rdev() == 0 => return false,
            Ok(_) => return true,
            Err(_) if hidden_below => return false,
            Err(_) => {}
        }
    }
    false
}

fn is_opaque(p: &Path) -> bool {
    let mut buf = [0u8; 4];
    matches!(rustix::fs::lgetxattr(p, OPAQUE_XATTR, &mut buf), Ok(1) if buf[0] == b'y')
}
