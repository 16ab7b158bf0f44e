//! Pull and push (OCI distribution spec): manifests and indexes (this
//! host's platform picked), blobs verified by digest as they are stored,
//! parallel layer transfers, blob existence checks before uploads,
//! cross-repository mounts within a registry, chunked uploads, Basic and
//! Bearer-token auth with Docker's `config.json` credentials.
//!
//! A failed pull or push leaves the store as it was: what the pull had
//! downloaded or unpacked is removed again, so a retry starts clean.

pub mod auth;
pub mod client;
pub mod distribution;
pub mod search;
mod tee;

use std::path::PathBuf;
use std::sync::Mutex;

use oci_spec::image::{ImageIndex, ImageManifest};

use crate::archive::plan::{self, media};
use crate::compression;
use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::load::Added;
use crate::meta;
use crate::model::{Image, ImageRecord, LayerRef};
use crate::progress::{CountingReader, Phase, ProgressFn};
use crate::reference::Reference;
use crate::store::ImageStore;

pub use auth::Credentials;
pub use client::Client;

/// How to reach registries.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Hosts (`host:port`) to talk plain HTTP to besides loopback ones.
    pub insecure_registries: Vec<String>,
    /// Credentials to use instead of the docker config's.
    pub credentials: Option<Credentials>,
    /// Credentials by registry, before the docker config's (a build's
    /// `X-Registry-Config`): keys as docker's config.json has them
    /// (`localhost:5000`, `https://index.docker.io/v1/`).
    pub registry_credentials: Vec<(String, Credentials)>,
    /// Docker's config.json (default: `$DOCKER_CONFIG` or `~/.docker`).
    pub docker_config: Option<PathBuf>,
    /// Layers transferred at once.
    pub parallel: usize,
    /// Upload chunk size in bytes.
    pub chunk_size: usize,
    /// CA certificates (PEM) to trust for every registry, besides
    /// `<certs_dir>/<host>/*.crt`.
    pub ca_certs: Vec<PathBuf>,
    /// Docker's per-registry certificate dir (default `/etc/docker/certs.d`).
    pub certs_dir: PathBuf,
    /// Which manifest of an index to pull (default: linux/<host arch>).
    pub platform: Option<crate::platform::Platform>,
    /// Called as blobs move and layers unpack.
    pub progress: Option<ProgressFn>,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            insecure_registries: Vec::new(),
            credentials: None,
            registry_credentials: Vec::new(),
            docker_config: None,
            parallel: 3,
            chunk_size: 8 << 20,
            ca_certs: Vec::new(),
            certs_dir: PathBuf::from("/etc/docker/certs.d"),
            platform: None,
            progress: None,
        }
    }
}

impl RegistryOptions {
    /// A client for `host` with the credentials these options give.
    pub fn client(&self, host: &str) -> Result<Client> {
        let insecure =
            client::is_loopback(host) || self.insecure_registries.iter().any(|h| h == host);
        let keys = auth::auth_keys(host);
        let given = self
            .registry_credentials
            .iter()
            .find(|(k, _)| keys.contains(k))
            .map(|(_, c)| c);
        let creds = match self.credentials.as_ref().or(given) {
            Some(c) => Some(c.clone()),
            None => {
                let path = self
                    .docker_config
                    .clone()
                    .unwrap_or_else(auth::docker_config_path);
                auth::lookup(&path, host)?
            }
        };
        let mut cas = self.ca_certs.clone();
        if let Ok(rd) = std::fs::read_dir(self.certs_dir.join(host)) {
            let mut found: Vec<PathBuf> = rd
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "crt"))
                .collect();
            found.sort();
            cas.extend(found);
        }
        let mut c = Client::new(host, insecure, creds, &cas)?;
        c.chunk_size = self.chunk_size.max(1);
        Ok(c)
    }
}

/// What a push did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushReport {
    /// The manifest's digest.
    pub digest: String,
    /// Blobs uploaded.
    pub uploaded: usize,
    /// Blobs mounted from another repository of the registry.
    pub mounted: usize,
    /// Blobs the registry had already.
    pub skipped: usize,
}

/// Checks `creds` against `host` and stores them in the docker config
/// (`berth login`).
pub fn login(host: &str, creds: &Credentials, opts: &RegistryOptions) -> Result<()> {
    let with = RegistryOptions {
        credentials: Some(creds.clone()),
        ..opts.clone()
    };
    with.client(host)?.ping_authenticated()?;
    let path = opts
        .docker_config
        .clone()
        .unwrap_or_else(auth::docker_config_path);
    auth::store(&path, host, Some(creds))
}

/// Removes `host`'s credentials from the docker config (`berth logout`).
pub fn logout(host: &str, opts: &RegistryOptions) -> Result<()> {
    let path = opts
        .docker_config
        .clone()
        .unwrap_or_else(auth::docker_config_path);
    auth::store(&path, host, None)
}

impl ImageStore {
    /// `docker pull`: fetches `reference` and stores it under its tag.
    pub fn pull(&self, reference: &str, opts: &RegistryOptions) -> Result<Image> {
        let r = Reference::parse(reference)?;
        let client = opts.client(&r.domain)?;
        let _gc = self.gc_lock(false)?;
        let mut added = Added::default();
        match self.pull_into(&r, &client, opts, &mut added) {
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

    fn pull_into(
        &self,
        r: &Reference,
        client: &Client,
        opts: &RegistryOptions,
        added: &mut Added,
    ) -> Result<String> {
        let repo = &r.path;
        let wanted = match (&r.digest, &r.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        };
        let (mut bytes, mut media_type, top_digest) = client.get_manifest(repo, &wanted)?;
        let mut manifest_digest = top_digest.clone();
        let from_index = media_type == media::OCI_INDEX || media_type == media::DOCKER_LIST;
        if media_type == media::OCI_INDEX || media_type == media::DOCKER_LIST {
            let object = format!("{}/{repo}@{top_digest}", r.domain);
            let index: ImageIndex =
                serde_json::from_slice(&bytes).map_err(|e| ImageError::corrupt(&object, e))?;
            let want = opts
                .platform
                .clone()
                .unwrap_or_else(crate::platform::Platform::host);
            let chosen = crate::platform::choose_for(index.manifests(), &want, &object)?;
            let d = Digest::parse(chosen.digest().as_ref(), &object)?;
            let got = client.get_manifest(repo, d.as_str())?;
            bytes = got.0;
            media_type = got.1;
            manifest_digest = got.2;
        }
        let object = format!("{}/{repo}@{manifest_digest}", r.domain);
        if media_type != media::OCI_MANIFEST && media_type != media::DOCKER_MANIFEST {
            return Err(ImageError::UnsupportedMediaType { object, media_type });
        }
        let m: ImageManifest =
            serde_json::from_slice(&bytes).map_err(|e| ImageError::corrupt(&object, e))?;
        // Everything the manifest names is checked before any download.
        let config_digest = Digest::parse(m.config().digest().as_ref(), &object)?;
        let mut layers = Vec::new();
        for l in m.layers() {
            let d = Digest::parse(l.digest().as_ref(), &object)?;
            let mt = l.media_type().to_string();
            let c = compression::from_media_type(&mt, &format!("layer {d} of {object}"))?;
            layers.push((d, mt, c, l.size()));
        }
        let added_m = Mutex::new(std::mem::take(added));
        let sizes: std::collections::HashMap<Digest, u64> =
            layers.iter().map(|(d, _, _, n)| (d.clone(), *n)).collect();
        let fetch = |d: &Digest| -> Result<()> {
            if self.inner.content.contains(d) {
                if let Some(p) = &opts.progress {
                    p.report(d.as_str(), Phase::Exists, 0, sizes.get(d).copied());
                }
                return Ok(());
            }
            let reader = CountingReader::new(
                client.get_blob(repo, d)?,
                opts.progress.clone(),
                d.as_str(),
                Phase::Download,
                sizes.get(d).copied(),
            );
            let (_, new) =
                self.inner
                    .content
                    .put_reader_new(reader, Some(d))
                    .map_err(|e| match e {
                        // Reading the response failed (a dropped connection, a short body).
                        ImageError::Io { source, .. } => ImageError::Registry {
                            object: format!("blob {d} from {}/{repo}", client.host),
                            status: None,
                            reason: format!("download failed: {source}"),
                        },
                        other => other,
                    })?;
            if new {
                if let Ok(mut a) = added_m.lock() {
                    a.blobs.push(d.clone());
                }
            }
            if let Some(p) = &opts.progress {
                p.report(d.as_str(), Phase::Done, 0, None);
            }
            Ok(())
        };
        let res = (|| {
            fetch(&config_digest)?;
            let config_bytes = self.inner.content.read(&config_digest)?;
            let diff_ids = plan::diff_ids(&config_bytes, &format!("config {config_digest}"))?;
            // A single-platform image pulled for an explicit other platform
            // is refused, as docker refuses it.
            if let (false, Some(want)) = (from_index, &opts.platform) {
                let c: serde_json::Value = serde_json::from_slice(&config_bytes)
                    .map_err(|e| ImageError::corrupt(format!("config {config_digest}"), e))?;
                let s = |k: &str| c[k].as_str().unwrap_or("").to_string();
                let mut actual = format!("{}/{}", s("os"), s("architecture"));
                if !s("variant").is_empty() {
                    actual = format!("{actual}/{}", s("variant"));
                }
                let ok = s("os") == want.os
                    && s("architecture") == want.arch
                    && want.variant.as_ref().is_none_or(|v| *v == s("variant"));
                if !ok {
                    return Err(ImageError::PlatformMismatch {
                        reference: crate::reference::familiar_name(&r.to_string()),
                        wanted: want.to_string(),
                        actual,
                    });
                }
            }
            if diff_ids.len() != layers.len() {
                return Err(ImageError::corrupt(
                    &object,
                    format!(
                        "{} layers but its config has {} diff ids",
                        layers.len(),
                        diff_ids.len()
                    ),
                ));
            }
            // Each layer unpacks as soon as its blob is in, in parallel with the
            // others' transfers (snapshots are independent directories).
            let pairs: Vec<_> = layers.iter().zip(diff_ids.iter()).collect();
            crate::parallel::for_each(&pairs, opts.parallel, |((blob, _, c, _), diff_id)| {
                let stored = self.inner.content.contains(blob);
                if stored {
                    fetch(blob)?;
                }
                let tee_error = tee::TeeError::default();
                let ensured = self.inner.snapshots.ensure(diff_id, || {
                    // A blob not in the store yet unpacks from the network
                    // stream as it is stored (one pass, see tee.rs).
                    let r: Box<dyn std::io::Read> = if stored {
                        Box::new(self.inner.content.reader(blob)?)
                    } else {
                        let http = CountingReader::new(
                            client.get_blob(repo, blob)?,
                            opts.progress.clone(),
                            blob.as_str(),
                            Phase::Download,
                            sizes.get(blob).copied(),
                        );
                        Box::new(tee::TeeToStore::new(
                            http,
                            &self.inner.content,
                            blob,
                            format!("{}/{repo}", client.host),
                            tee_error.clone(),
                        )?)
                    };
                    let plain = compression::decompress(r, *c)
                        .map_err(|e| ImageError::corrupt(format!("blob {blob}"), e))?;
                    let counted = CountingReader::new(
                        plain,
                        opts.progress.clone(),
                        blob.as_str(),
                        Phase::Unpack,
                        None,
                    );
                    Ok(Box::new(counted) as Box<dyn std::io::Read>)
                });
                if !stored && self.inner.content.contains(blob) {
                    // Stored by the tee (even when the unpack failed after
                    // it: a failed pull removes it again).
                    if let Ok(mut a) = added_m.lock() {
                        a.blobs.push((*blob).clone());
                    }
                    if let Some(p) = &opts.progress {
                        p.report(blob.as_str(), Phase::Done, 0, None);
                    }
                }
                if let Some(e) = tee_error.lock().ok().and_then(|mut t| t.take()) {
                    return Err(e);
                }
                let ensured = ensured.map_err(|e| match e {
                    ImageError::Corrupt { object, reason } => {
                        ImageError::corrupt(format!("{object} (blob {blob})"), reason)
                    }
                    other => other,
                })?;
                // The snapshot was there already (nothing read), or the
                // unpacker stopped before the stream's end: fetch the blob.
                fetch(blob)?;
                if ensured.unpacked {
                    if let Ok(mut a) = added_m.lock() {
                        a.snapshots.push((*diff_id).clone());
                    }
                }
                Ok(())
            })?;
            Ok(diff_ids)
        })();
        *added = added_m.into_inner().unwrap_or_default();
        let diff_ids = res?;
        let mut refs = Vec::new();
        for ((blob, mt, _, size), diff_id) in layers.iter().zip(diff_ids) {
            refs.push(LayerRef {
                diff_id: diff_id.to_string(),
                blob: blob.to_string(),
                media_type: mt.clone(),
                blob_size: *size,
            });
        }
        self.put_blob(&bytes, added)?;
        let id = config_digest.to_string();
        let repo_digest = format!("{}@{top_digest}", r.repository());
        let tag = if r.digest.is_none() { r.tagged() } else { None };
        self.transact(|txn| {
            let mut rec = ImageRecord {
                id: id.clone(),
                manifest_digest: Some(manifest_digest.to_string()),
                manifest_media_type: Some(media_type.clone()),
                layers: refs.clone(),
                repo_digests: Vec::new(),
                parent: String::new(),
            };
            if let Some(old) = meta::get_image(txn, &id)? {
                rec.repo_digests = old.repo_digests;
                rec.parent = old.parent;
            }
            if !rec.repo_digests.contains(&repo_digest) {
                rec.repo_digests.push(repo_digest.clone());
            }
            meta::put_image(txn, &rec)?;
            if let Some(t) = &tag {
                meta::put_ref(txn, t, &id)?;
            }
            Ok(())
        })?;
        tracing::info!(reference = %r, id = %id, "pulled image");
        Ok(id)
    }

    /// `docker push`: uploads the image `reference` names to its registry
    /// (blobs the registry has are skipped, blobs another repository of it
    /// has are mounted) and says what it did.
    pub fn push(&self, reference: &str, opts: &RegistryOptions) -> Result<PushReport> {
        let r = Reference::parse(reference)?;
        let Some(tag) = r.tag.clone().filter(|_| r.digest.is_none()) else {
            return Err(ImageError::InvalidReference(reference.to_string()));
        };
        let rec = self.resolve_record(&mut self.view()?, reference)?;
        let manifest = rec
            .manifest_digest
            .as_deref()
            .map(|d| Digest::parse(d, "image record"))
            .transpose()?
            .ok_or_else(|| ImageError::corrupt(format!("image {}", rec.id), "has no manifest"))?;
        let manifest_bytes = self.inner.content.read(&manifest)?;
        let media_type = rec
            .manifest_media_type
            .clone()
            .unwrap_or_else(|| media::OCI_MANIFEST.to_string());
        let client = opts.client(&r.domain)?;
        let repo = &r.path;
        // A repository of the same registry that has the image already.
        let prefix = format!("{}/", r.domain);
        let mount_from: Option<String> = rec
            .repo_digests
            .iter()
            .filter_map(|rd| rd.strip_prefix(&prefix))
            .filter_map(|rest| rest.split_once('@').map(|(repo, _)| repo.to_string()))
            .find(|other| other != repo);
        let mut blobs: Vec<Digest> = Vec::new();
        for l in &rec.layers {
            blobs.push(Digest::parse(&l.blob, "image record")?);
        }
        blobs.push(Digest::parse(&rec.id, "image record")?);
        let counts = Mutex::new(PushReport::default());
        crate::parallel::for_each(&blobs, opts.parallel, |d| {
            let total = std::fs::metadata(self.inner.content.path(d))
                .ok()
                .map(|m| m.len());
            if client.blob_exists(repo, d)? {
                tracing::debug!(blob = %d, "registry has the blob");
                if let Some(p) = &opts.progress {
                    p.report(d.as_str(), Phase::Exists, 0, total);
                }
                if let Ok(mut c) = counts.lock() {
                    c.skipped += 1;
                }
                return Ok(());
            }
            let mut reader = CountingReader::new(
                self.inner.content.reader(d)?,
                opts.progress.clone(),
                d.as_str(),
                Phase::Upload,
                total,
            );
            let mounted = client.push_blob(repo, d, &mut reader, mount_from.as_deref())?;
            if let Some(p) = &opts.progress {
                let phase = if mounted { Phase::Mounted } else { Phase::Done };
                p.report(d.as_str(), phase, total.unwrap_or(0), total);
            }
            if let Ok(mut c) = counts.lock() {
                if mounted {
                    c.mounted += 1;
                } else {
                    c.uploaded += 1;
                }
            }
            Ok(())
        })?;
        let mut report = counts.into_inner().unwrap_or_default();
        let digest = client.put_manifest(repo, &tag, &manifest_bytes, &media_type)?;
        let repo_digest = format!("{}@{digest}", r.repository());
        self.transact(|txn| {
            if let Some(mut cur) = meta::get_image(txn, &rec.id)? {
                if !cur.repo_digests.contains(&repo_digest) {
                    cur.repo_digests.push(repo_digest.clone());
                    meta::put_image(txn, &cur)?;
                }
            }
            Ok(())
        })?;
        tracing::info!(reference = %r, digest = %digest, "pushed image");
        report.digest = digest.to_string();
        Ok(report)
    }
}
