//! Helpers shared by the image crate's integration tests.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use berth_image::ImageStore;
use berth_testsupport::images::{sha256, MTIME};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A fresh store in a temp dir.
pub fn store() -> Result<(tempfile::TempDir, ImageStore), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let s = ImageStore::open(&dir.path().join("image"))?;
    Ok((dir, s))
}

/// Every path under the store root except the metadata db, with sizes:
/// what "the store is unchanged" compares.
pub fn state(store: &ImageStore) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    walk(store.root(), store.root(), &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let rel = p
            .strip_prefix(root)
            .unwrap_or(&p)
            .to_string_lossy()
            .into_owned();
        if rel == "db" {
            continue;
        }
        let meta = std::fs::symlink_metadata(&p);
        out.insert(format!("{rel} {}", meta.map(|m| m.len()).unwrap_or(0)));
        if p.is_dir() && !p.is_symlink() {
            walk(root, &p, out);
        }
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

pub fn bzip2(data: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

pub fn xz(data: &[u8]) -> Vec<u8> {
    let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 1).unwrap_or_default()
}

/// An OCI image layout, written as a tar (an oci-archive).
#[derive(Default)]
pub struct OciLayout {
    pub blobs: BTreeMap<String, Vec<u8>>,
    pub manifests: Vec<serde_json::Value>,
    /// Blob digests to leave out of the tar (to test missing blobs).
    pub omit: BTreeSet<String>,
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

impl OciLayout {
    pub fn blob(&mut self, bytes: Vec<u8>) -> (String, usize) {
        let d = sha256(&bytes);
        let n = bytes.len();
        self.blobs.insert(d.clone(), bytes);
        (d, n)
    }

    /// Adds an image: layers as (blob bytes, media type, uncompressed tar).
    /// Returns the manifest descriptor (not yet in index.json).
    pub fn image(&mut self, layers: Vec<(Vec<u8>, &str, Vec<u8>)>) -> serde_json::Value {
        let diff_ids: Vec<String> = layers.iter().map(|(_, _, tar)| sha256(tar)).collect();
        let config = serde_json::json!({
            "architecture": berth_image::platform::host_arch(),
            "os": "linux",
            "created": "2023-11-14T22:13:20Z",
            "config": {"Cmd": ["sh"], "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1000000000i64}},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        let (cd, cn) = self.blob(serde_json::to_vec(&config).unwrap_or_default());
        let mut descs = Vec::new();
        for (blob, mt, _) in layers {
            let (d, n) = self.blob(blob);
            descs.push(serde_json::json!({"mediaType": mt, "digest": d, "size": n}));
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
            "layers": descs,
        });
        let (md, mn) = self.blob(serde_json::to_vec(&manifest).unwrap_or_default());
        serde_json::json!({"mediaType": OCI_MANIFEST, "digest": md, "size": mn})
    }

    /// Wraps descriptors in an image index blob; returns its descriptor.
    pub fn index(&mut self, manifests: Vec<serde_json::Value>) -> serde_json::Value {
        let idx =
            serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests});
        let (d, n) = self.blob(serde_json::to_vec(&idx).unwrap_or_default());
        serde_json::json!({"mediaType": OCI_INDEX, "digest": d, "size": n})
    }

    pub fn to_tar(&self) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        let mut add = |name: &str, data: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(MTIME);
            h.set_entry_type(tar::EntryType::Regular);
            let _ = tar.append_data(&mut h, name, data);
        };
        add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
        for (d, bytes) in &self.blobs {
            if !self.omit.contains(d) {
                add(
                    &format!("blobs/sha256/{}", d.trim_start_matches("sha256:")),
                    bytes,
                );
            }
        }
        let idx = serde_json::json!({"schemaVersion": 2, "manifests": self.manifests});
        add("index.json", &serde_json::to_vec(&idx).unwrap_or_default());
        tar.into_inner().unwrap_or_default()
    }
}

/// Adds the platform of this host (or `arch`) to a descriptor.
pub fn with_platform(mut desc: serde_json::Value, arch: &str) -> serde_json::Value {
    desc["platform"] = serde_json::json!({"architecture": arch, "os": "linux"});
    desc
}

pub fn with_name(mut desc: serde_json::Value, name: &str) -> serde_json::Value {
    desc["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": name});
    desc
}
