//! `save`: images out as a tar. The default is what Docker 25+ writes, an
//! OCI image layout plus docker's `manifest.json` and `repositories`, which
//! docker load of any version, podman and skopeo read; `OciArchive` leaves
//! the docker files out. Blobs are written as stored, so manifest, config
//! and layer digests survive a save and a load.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::meta;
use crate::model::{ArchiveFormat, ImageRecord};
use crate::reference::{familiar_name, Reference};
use crate::store::ImageStore;

impl ImageStore {
    /// Writes `references` (tags, ids) to `out` as one archive.
    pub fn save(
        &self,
        references: &[String],
        format: ArchiveFormat,
        out: impl Write,
    ) -> Result<()> {
        let mut view = self.view()?;
        // (record, tags to name it by in the archive)
        let mut chosen: Vec<(ImageRecord, BTreeSet<String>)> = Vec::new();
        for r in references {
            let rec = self.resolve_record(&mut view, r)?;
            let tag = Reference::parse(r)
                .ok()
                .and_then(|p| if p.digest.is_none() { p.tagged() } else { None })
                .filter(|full| {
                    meta::get_ref(&mut view, full).ok().flatten().as_deref()
                        == Some(rec.id.as_str())
                });
            match chosen.iter_mut().find(|(c, _)| c.id == rec.id) {
                Some((_, tags)) => tags.extend(tag),
                None => chosen.push((rec, tag.into_iter().collect())),
            }
        }
        // Not held while the archive streams out (other processes may need it).
        drop(view);
        let mut w = tar::Builder::new(out);
        let mut written: BTreeSet<Digest> = BTreeSet::new();
        let mut index_manifests = Vec::new();
        let mut docker_manifest = Vec::new();
        let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        self.append_bytes(&mut w, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        for (rec, tags) in &chosen {
            let config = Digest::parse(&rec.id, "image record")?;
            let manifest = rec
                .manifest_digest
                .as_deref()
                .map(|m| Digest::parse(m, "image record"))
                .transpose()?
                .ok_or_else(|| {
                    ImageError::corrupt(format!("image {}", rec.id), "has no manifest")
                })?;
            let mut blobs = vec![config.clone(), manifest.clone()];
            let mut layer_paths = Vec::new();
            for l in &rec.layers {
                let d = Digest::parse(&l.blob, "image record")?;
                layer_paths.push(format!("blobs/sha256/{}", d.hex()));
                blobs.push(d);
            }
            for d in blobs {
                if written.insert(d.clone()) {
                    self.append_blob(&mut w, &d)?;
                }
            }
            let manifest_size = std::fs::metadata(self.inner.content.path(&manifest))
                .map_err(ImageError::io(
                    "reading",
                    self.inner.content.path(&manifest),
                ))?
                .len();
            let media_type = rec
                .manifest_media_type
                .clone()
                .unwrap_or_else(|| crate::archive::plan::media::OCI_MANIFEST.to_string());
            let descriptor = |ann: Option<serde_json::Value>| {
                let mut d = serde_json::json!({
                    "mediaType": media_type,
                    "digest": manifest.to_string(),
                    "size": manifest_size,
                });
                if let (Some(a), Some(obj)) = (ann, d.as_object_mut()) {
                    obj.insert("annotations".into(), a);
                }
                d
            };
            if tags.is_empty() {
                index_manifests.push(descriptor(None));
            }
            for full in tags {
                let tag = full.rsplit_once(':').map(|(_, t)| t).unwrap_or("latest");
                index_manifests.push(descriptor(Some(serde_json::json!({
                    "io.containerd.image.name": full,
                    "org.opencontainers.image.ref.name": tag,
                }))));
                if let Some((repo, t)) = familiar_name(full).rsplit_once(':') {
                    let top = rec
                        .layers
                        .last()
                        .map(|l| l.blob.trim_start_matches("sha256:").to_string());
                    repositories
                        .entry(repo.to_string())
                        .or_default()
                        .insert(t.to_string(), top.unwrap_or_default());
                }
            }
            docker_manifest.push(serde_json::json!({
                "Config": format!("blobs/sha256/{}", config.hex()),
                "RepoTags": tags.iter().map(|t| familiar_name(t)).collect::<Vec<_>>(),
                "Layers": layer_paths,
            }));
        }
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": crate::archive::plan::media::OCI_INDEX,
            "manifests": index_manifests,
        });
        self.append_json(&mut w, "index.json", &index)?;
        if format == ArchiveFormat::DockerArchive {
            self.append_json(
                &mut w,
                "manifest.json",
                &serde_json::Value::from(docker_manifest),
            )?;
            if !repositories.is_empty() {
                self.append_json(
                    &mut w,
                    "repositories",
                    &serde_json::to_value(&repositories).unwrap_or_default(),
                )?;
            }
        }
        w.into_inner()
            .and_then(|mut o| o.flush())
            .map_err(ImageError::io("writing", "archive"))?;
        Ok(())
    }

    fn append_blob<W: Write>(&self, w: &mut tar::Builder<W>, d: &Digest) -> Result<()> {
        let path = self.inner.content.path(d);
        let len = std::fs::metadata(&path)
            .map_err(ImageError::io("reading", &path))?
            .len();
        let mut h = header(len, 0o444);
        let r = self.inner.content.reader(d)?;
        w.append_data(&mut h, format!("blobs/sha256/{}", d.hex()), r)
            .map_err(|e| crate::content::verified_read_error(d, e))
    }

    fn append_bytes<W: Write>(
        &self,
        w: &mut tar::Builder<W>,
        name: &str,
        bytes: &[u8],
    ) -> Result<()> {
        let mut h = header(bytes.len() as u64, 0o444);
        w.append_data(&mut h, name, bytes)
            .map_err(ImageError::io("writing archive member", name))
    }

    fn append_json<W: Write>(
        &self,
        w: &mut tar::Builder<W>,
        name: &str,
        v: &serde_json::Value,
    ) -> Result<()> {
        let bytes = serde_json::to_vec(v).map_err(|e| ImageError::corrupt(name, e))?;
        self.append_bytes(w, name, &bytes)
    }
}

fn header(len: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_size(len);
    h.set_mode(mode);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h
}
