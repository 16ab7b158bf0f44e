//! [`ImageStore`]: the content store, snapshots and metadata together, and
//! the read side (resolve, list).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use berth_store::{RedbStore, Store, StoreError, Txn};

use crate::content::ContentStore;
use crate::digest::{is_hex64, Digest};
use crate::error::{ImageError, Result};
use crate::meta;
use crate::model::{DockerImageConfigExtras, Image, ImageRecord};
use crate::reference::{familiar_name, Reference};
use crate::snapshot::Snapshots;

/// The image store under one root directory. Cheap to clone.
#[derive(Clone)]
pub struct ImageStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub root: PathBuf,
    pub content: ContentStore,
    pub snapshots: Snapshots,
    pub containers: PathBuf,
    meta: Meta,
}

/// Where the metadata lives.
enum Meta {
    /// A store the caller keeps open (the engine's).
    Shared(Arc<dyn Store>),
    /// Our own redb file, open only while an operation runs: redb lets one
    /// process at a time have the file open, and the daemonless CLI and
    /// berthd may both work on one image store. Threads of this process
    /// share the open handle.
    File {
        path: PathBuf,
        open: Mutex<Weak<RedbStore>>,
    },
}

impl std::fmt::Debug for ImageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageStore")
            .field("root", &self.inner.root)
            .finish()
    }
}

impl ImageStore {
    /// Opens the store at `root` (`<data-root>/image`): `blobs/`,
    /// `snapshots/`, `containers/`, `tmp/` and the metadata file `db/images.redb`.
    pub fn open(root: &Path) -> Result<ImageStore> {
        let path = root.join("db").join("images.redb");
        // Opened once here, so a store that cannot be opened fails now.
        let first = Arc::new(RedbStore::open(&path)?);
        let store = Self::new(
            root,
            Meta::File {
                path,
                open: Mutex::new(Arc::downgrade(&first)),
            },
        );
        drop(first);
        store
    }

    /// Like [`Self::open`] with the metadata kept in `meta` (e.g. the
    /// engine's own store); keys are under `image/`.
    pub fn open_with_store(root: &Path, meta: Arc<dyn Store>) -> Result<ImageStore> {
        Self::new(root, Meta::Shared(meta))
    }

    fn new(root: &Path, meta: Meta) -> Result<ImageStore> {
        let content = ContentStore::open(root)?;
        let snapshots = Snapshots::open(root)?;
        let containers = root.join("containers");
        fs::create_dir_all(&containers).map_err(ImageError::io("creating", &containers))?;
        let gc_lock = root.join("gc.lock");
        fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&gc_lock)
            .map_err(ImageError::io("creating", &gc_lock))?;
        // Leftover staging from a crash: nothing in tmp/ is referenced.
        if let Ok(rd) = fs::read_dir(content.tmp_dir()) {
            for e in rd.flatten() {
                let age = e.metadata().and_then(|m| m.modified()).ok();
                let old = age
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|d| d.as_secs() > 24 * 3600);
                if old {
                    let _ = fs::remove_dir_all(e.path()).or_else(|_| fs::remove_file(e.path()));
                }
            }
        }
        Ok(ImageStore {
            inner: Arc::new(Inner {
                root: root.to_path_buf(),
                content,
                snapshots,
                containers,
                meta,
            }),
        })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The metadata store, opened if this process has it closed.
    fn meta(&self) -> Result<Arc<dyn Store>> {
        match &self.inner.meta {
            Meta::Shared(s) => Ok(s.clone()),
            Meta::File { path, open } => {
                let mut guard = open
                    .lock()
                    .map_err(|_| ImageError::Conflict("image metadata lock poisoned".into()))?;
                if let Some(live) = guard.upgrade() {
                    return Ok(live);
                }
                let s = Arc::new(RedbStore::open(path)?);
                *guard = Arc::downgrade(&s);
                Ok(s)
            }
        }
    }

    /// Keeps the metadata store open for the rest of one public operation,
    /// so its reads and transactions share one open of the redb file.
    pub(crate) fn hold(&self) -> Result<Arc<dyn Store>> {
        self.meta()
    }

    /// Runs `f` in one metadata transaction.
    pub(crate) fn transact<T>(&self, f: impl FnMut(&mut dyn Txn) -> Result<T>) -> Result<T> {
        let meta = self.meta()?;
        berth_store::transact(meta.as_ref(), f)
    }

    /// A read-only view (no write transaction for reads).
    pub(crate) fn view(&self) -> Result<ReadView> {
        Ok(ReadView(self.meta()?))
    }

    /// Resolves a reference, `sha256:<id>`, or unambiguous id prefix.
    pub fn resolve(&self, reference: &str) -> Result<Image> {
        let _meta = self.hold()?;
        let rec = self.resolve_record(&mut self.view()?, reference)?;
        self.image_of(&mut self.view()?, &rec)
    }

    pub(crate) fn resolve_record(&self, txn: &mut dyn Txn, reference: &str) -> Result<ImageRecord> {
        let not_found = || ImageError::NotFound(reference.to_string());
        if let Some(hex) = reference.strip_prefix("sha256:") {
            if is_hex64(hex) {
                return meta::get_image(txn, hex)?.ok_or_else(not_found);
            }
            return self.by_prefix(txn, hex, reference);
        }
        if let Ok(r) = Reference::parse(reference) {
            if let Some(d) = &r.digest {
                let by_repo = format!("{}@{d}", r.repository());
                // By the digest it was pulled by, or the manifest it has.
                let hit = meta::images(txn)?.into_iter().find(|rec| {
                    rec.repo_digests.contains(&by_repo)
                        || rec.manifest_digest.as_deref() == Some(d.as_str())
                });
                return hit.ok_or_else(not_found);
            }
            if let Some(full) = r.tagged() {
                if let Some(id) = meta::get_ref(txn, &full)? {
                    return meta::get_image(txn, &id)?.ok_or_else(not_found);
                }
            }
        }
        if !reference.is_empty()
            && reference.len() <= 64
            && reference
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return self.by_prefix(txn, reference, reference);
        }
        if Reference::parse(reference).is_err() {
            return Err(ImageError::InvalidReference(reference.to_string()));
        }
        Err(not_found())
    }

    fn by_prefix(&self, txn: &mut dyn Txn, prefix: &str, reference: &str) -> Result<ImageRecord> {
        let mut hits = txn.list_prefix(&format!("{}{prefix}", meta::IMAGES))?;
        match hits.len() {
            0 => Err(ImageError::NotFound(reference.to_string())),
            1 => {
                let (k, v) = hits.remove(0);
                serde_json::from_slice(&v)
                    .map_err(|e| ImageError::corrupt(format!("metadata {k}"), e))
            }
            _ => Err(ImageError::Ambiguous(reference.to_string())),
        }
    }

    /// Every image, newest first.
    pub fn list(&self) -> Result<Vec<Image>> {
        let _meta = self.hold()?;
        let mut view = self.view()?;
        let mut out = Vec::new();
        for rec in meta::images(&mut view)? {
            out.push(self.image_of(&mut view, &rec)?);
        }
        out.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// The full [`Image`] of a record (reads and verifies its config).
    pub(crate) fn image_of(&self, txn: &mut dyn Txn, rec: &ImageRecord) -> Result<Image> {
        let config_digest = Digest::parse(&rec.id, "image record")?;
        let bytes = self.inner.content.read(&config_digest)?;
        let object = format!("config {}", rec.id);
        let config: oci_spec::image::ImageConfiguration =
            serde_json::from_slice(&bytes).map_err(|e| ImageError::corrupt(&object, e))?;
        let docker_config = docker_extras(&bytes);
        let mut repo_tags: Vec<String> = meta::refs(txn)?
            .into_iter()
            .filter(|(_, id)| *id == rec.id)
            .map(|(full, _)| familiar_name(&full))
            .collect();
        repo_tags.sort();
        let mut size = 0;
        for l in &rec.layers {
            let d = Digest::parse(&l.diff_id, &object)?;
            size += self.inner.snapshots.size(&d).unwrap_or(0);
        }
        Ok(Image {
            id: rec.id.clone(),
            repo_tags,
            repo_digests: rec.repo_digests.iter().map(|r| familiar_name(r)).collect(),
            parent: rec.parent.clone(),
            created: config.created().clone().unwrap_or_default(),
            size,
            config,
            docker_config,
            manifest_digest: rec.manifest_digest.clone(),
            layers: rec.layers.iter().map(|l| l.diff_id.clone()).collect(),
        })
    }
}

/// The Docker-only fields of a config blob's `config` object.
pub(crate) fn docker_extras(config_bytes: &[u8]) -> DockerImageConfigExtras {
    #[derive(serde::Deserialize)]
    struct Outer {
        #[serde(default)]
        config: Option<DockerImageConfigExtras>,
    }
    serde_json::from_slice::<Outer>(config_bytes)
        .ok()
        .and_then(|o| o.config)
        .unwrap_or_default()
}

/// Reads through the store without a write transaction.
pub(crate) struct ReadView(Arc<dyn Store>);

impl Txn for ReadView {
    fn get(&mut self, key: &str) -> std::result::Result<Option<Vec<u8>>, StoreError> {
        self.0.get(key)
    }
    fn put(&mut self, _: &str, _: &[u8]) -> std::result::Result<(), StoreError> {
        Err(StoreError::Aborted)
    }
    fn delete(&mut self, _: &str) -> std::result::Result<bool, StoreError> {
        Err(StoreError::Aborted)
    }
    fn list_prefix(
        &mut self,
        prefix: &str,
    ) -> std::result::Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.0.list_prefix(prefix)
    }
}
