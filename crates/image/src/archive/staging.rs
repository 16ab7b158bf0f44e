//! An archive (`docker save` or OCI layout tar) unpacked to a private temp
//! dir, because `docker save` puts manifest.json after the layers and the
//! input is a stream. Only regular files are written; symlinks (docker save
//! links duplicate layers) are kept as a name map and resolved inside the
//! archive, never on disk.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::digest::{Digest, HashingReader};
use crate::error::{ImageError, Result};

/// A staged archive.
pub struct Staged {
    dir: tempfile::TempDir,
    files: HashMap<String, PathBuf>,
    links: HashMap<String, String>,
    digests: std::cell::RefCell<HashMap<String, (Digest, u64)>>,
}

impl Staged {
    /// Reads the archive stream `r` into a temp dir under `tmp`.
    pub fn read(r: impl Read, tmp: &Path) -> Result<Staged> {
        let dir = tempfile::Builder::new()
            .prefix("load-")
            .tempdir_in(tmp)
            .map_err(ImageError::io("creating a staging dir in", tmp))?;
        let mut files = HashMap::new();
        let mut links = HashMap::new();
        let mut archive = tar::Archive::new(r);
        let entries = archive
            .entries()
            .map_err(|e| ImageError::corrupt("archive", e))?;
        for (n, entry) in entries.enumerate() {
            let mut entry = entry.map_err(|e| ImageError::corrupt("archive", e))?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Some(name) = normalise(&raw) else {
                return Err(ImageError::Unsafe {
                    entry: raw,
                    reason: "archive member outside the archive root".into(),
                });
            };
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    // Flat numbered names: no directory structure from the
                    // archive ever reaches the disk.
                    let path = dir.path().join(n.to_string());
                    let mut f = File::create(&path).map_err(ImageError::io("creating", &path))?;
                    io::copy(&mut entry, &mut f)
                        .map_err(|e| ImageError::corrupt(format!("archive member {name}"), e))?;
                    files.insert(name, path);
                }
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let target = entry
                        .link_name_bytes()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    let base = if entry.header().entry_type() == tar::EntryType::Symlink {
                        parent_of(&name)
                    } else {
                        String::new()
                    };
                    links.insert(name, join(&base, &target));
                }
                _ => {}
            }
        }
        Ok(Staged {
            dir,
            files,
            links,
            digests: Default::default(),
        })
    }

    /// The staged file for archive member `name`, following links inside
    /// the archive.
    pub fn file(&self, name: &str) -> Option<&Path> {
        let mut cur = normalise(name)?;
        for _ in 0..16 {
            if let Some(p) = self.files.get(&cur) {
                return Some(p);
            }
            cur = normalise(self.links.get(&cur)?)?;
        }
        None
    }

    /// Whether member `name` exists.
    pub fn has(&self, name: &str) -> bool {
        self.file(name).is_some()
    }

    /// Member `name`'s bytes (for JSON documents); `referenced_by` names who
    /// asked, for the error.
    pub fn read_member(&self, name: &str, referenced_by: &str) -> Result<Vec<u8>> {
        let p = self.require(name, referenced_by)?;
        fs::read(p).map_err(ImageError::io("reading", p))
    }

    /// The staged path of `name` or a [`ImageError::Missing`].
    pub fn require(&self, name: &str, referenced_by: &str) -> Result<&Path> {
        self.file(name).ok_or_else(|| ImageError::Missing {
            object: name.to_string(),
            referenced_by: referenced_by.to_string(),
        })
    }

    /// The sha256 and size of member `name` (hashed once).
    pub fn digest(&self, name: &str, referenced_by: &str) -> Result<(Digest, u64)> {
        let key = normalise(name).unwrap_or_default();
        if let Some(d) = self.digests.borrow().get(&key) {
            return Ok(d.clone());
        }
        let p = self.require(name, referenced_by)?;
        let f = File::open(p).map_err(ImageError::io("opening", p))?;
        let d = HashingReader::new(io::BufReader::new(f))
            .finish()
            .map_err(ImageError::io("reading", p))?;
        self.digests.borrow_mut().insert(key, d.clone());
        Ok(d)
    }

    /// Reads blob `blobs/sha256/<hex>` and checks its content matches.
    pub fn verified_blob(&self, d: &Digest, referenced_by: &str) -> Result<Vec<u8>> {
        let name = blob_path(d);
        let (got, _) = self.digest(&name, referenced_by)?;
        if got != *d {
            return Err(ImageError::corrupt(
                name,
                format!("content has digest {got}"),
            ));
        }
        self.read_member(&name, referenced_by)
    }

    /// The staging dir (same file system as the content store).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// `blobs/sha256/<hex>`.
pub fn blob_path(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

/// Archive member names without `./`, empty parts and `..` (None if it
/// climbs above the root).
fn normalise(raw: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            c => out.push(c),
        }
    }
    Some(out.join("/"))
}

fn parent_of(name: &str) -> String {
    name.rsplit_once('/')
        .map(|(p, _)| p.to_string())
        .unwrap_or_default()
}

fn join(base: &str, target: &str) -> String {
    if target.starts_with('/') || base.is_empty() {
        target.to_string()
    } else {
        format!("{base}/{target}")
    }
}
