//! Layer snapshots: each layer unpacked once, into `snapshots/<diff-id
//! hex>/fs`, the directory overlayfs uses as a lower layer.
//!
//! A snapshot is unpacked into `snapshots/.tmp-*`, its diff id verified,
//! and renamed into place, so a present snapshot is always complete. A lock
//! file per layer (`<hex>.lock`, flock) makes concurrent loads of the same
//! layer, in this process or another, unpack it once: the others wait for
//! the lock and then find the snapshot there.

pub mod pack;
pub mod unpack;

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::digest::{Digest, HashingReader};
use crate::error::{ImageError, Result};

/// The snapshot directory.
#[derive(Debug, Clone)]
pub struct Snapshots {
    dir: PathBuf,
}

/// What [`Snapshots::ensure`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ensured {
    /// Total size of the layer's regular files.
    pub size: u64,
    /// Whether this call unpacked it (false: it was already there).
    pub unpacked: bool,
}

impl Snapshots {
    /// Opens (creating) `snapshots/` under `root`.
    pub fn open(root: &Path) -> Result<Snapshots> {
        let dir = root.join("snapshots");
        fs::create_dir_all(&dir).map_err(ImageError::io("creating", &dir))?;
        Ok(Snapshots { dir })
    }

    /// The directory holding snapshot `diff_id` (its content is in `fs/`).
    pub fn path(&self, diff_id: &Digest) -> PathBuf {
        self.dir.join(diff_id.hex())
    }

    /// The overlay lower directory of `diff_id`.
    pub fn fs_path(&self, diff_id: &Digest) -> PathBuf {
        self.path(diff_id).join("fs")
    }

    /// Whether snapshot `diff_id` is present (and so complete).
    pub fn contains(&self, diff_id: &Digest) -> bool {
        self.fs_path(diff_id).is_dir()
    }

    /// The recorded size of a present snapshot.
    pub fn size(&self, diff_id: &Digest) -> Result<u64> {
        let p = self.path(diff_id).join("size");
        let s = fs::read_to_string(&p).map_err(ImageError::io("reading", &p))?;
        s.trim()
            .parse()
            .map_err(|_| ImageError::corrupt(format!("snapshot {diff_id}"), "size file unreadable"))
    }

    /// Makes sure snapshot `diff_id` exists, unpacking the uncompressed
    /// stream `open()` returns if not. The stream's sha256 must be
    /// `diff_id`; otherwise nothing is kept.
    pub fn ensure<'a>(
        &self,
        diff_id: &Digest,
        open: impl FnOnce() -> Result<Box<dyn Read + 'a>>,
    ) -> Result<Ensured> {
        let _lock = LayerLock::acquire(&self.dir, diff_id)?;
        if self.contains(diff_id) {
            return Ok(Ensured {
                size: self.size(diff_id)?,
                unpacked: false,
            });
        }
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".tmp-{}-", &diff_id.hex()[..12]))
            .tempdir_in(&self.dir)
            .map_err(ImageError::io("creating a temp snapshot in", &self.dir))?;
        let fs_dir = tmp.path().join("fs");
        fs::create_dir(&fs_dir).map_err(ImageError::io("creating", &fs_dir))?;
        let mut hashing = HashingReader::new(open()?);
        let size = unpack::unpack(&mut hashing, &fs_dir).map_err(|e| layer_context(diff_id, e))?;
        let (got, _) = hashing
            .finish()
            .map_err(|e| ImageError::corrupt(format!("layer {diff_id}"), e))?;
        if got != *diff_id {
            return Err(ImageError::corrupt(
                format!("layer {diff_id}"),
                format!("uncompressed content has digest {got}"),
            ));
        }
        let size_path = tmp.path().join("size");
        fs::write(&size_path, size.to_string()).map_err(ImageError::io("writing", &size_path))?;
        let tmp = tmp.keep();
        let dest = self.path(diff_id);
        if let Err(e) = fs::rename(&tmp, &dest) {
            let _ = fs::remove_dir_all(&tmp);
            return Err(ImageError::io("renaming snapshot into", &dest)(e));
        }
        tracing::debug!(layer = %diff_id, size, "unpacked layer");
        Ok(Ensured {
            size,
            unpacked: true,
        })
    }

    /// Removes snapshot `diff_id` (under its lock; missing is fine).
    pub fn remove(&self, diff_id: &Digest) -> Result<()> {
        let _lock = LayerLock::acquire(&self.dir, diff_id)?;
        let p = self.path(diff_id);
        // Renamed aside first so a half-removed snapshot is never taken for
        // a complete one.
        let aside = self.dir.join(format!(".rm-{}", diff_id.hex()));
        match fs::rename(&p, &aside) {
            Ok(()) => {
                fs::remove_dir_all(&aside).map_err(ImageError::io("removing", &aside))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ImageError::io("removing", &p)(e)),
        }
        Ok(())
    }

    /// The diff ids of every present snapshot.
    pub fn list(&self) -> Result<Vec<Digest>> {
        let rd = fs::read_dir(&self.dir).map_err(ImageError::io("listing", &self.dir))?;
        let mut out = Vec::new();
        for e in rd {
            let e = e.map_err(ImageError::io("listing", &self.dir))?;
            if let Some(name) = e.file_name().to_str() {
                if let Ok(d) = Digest::parse(&format!("sha256:{name}"), name) {
                    out.push(d);
                }
            }
        }
        Ok(out)
    }
}

/// The per-layer lock: an flock on `<hex>.lock`, removed again by its
/// holder so no lock files pile up. A waiter that got the lock on a file
/// already unlinked retries on the new one (it compares inodes), so two
/// holders never run at once.
struct LayerLock {
    path: PathBuf,
    _file: File,
}

impl LayerLock {
    fn acquire(dir: &Path, diff_id: &Digest) -> Result<LayerLock> {
        use std::os::unix::fs::MetadataExt;
        let path = dir.join(format!("{}.lock", diff_id.hex()));
        loop {
            let file = File::create(&path).map_err(ImageError::io("creating", &path))?;
            file.lock().map_err(ImageError::io("locking", &path))?;
            let held = file.metadata().map_err(ImageError::io("stat", &path))?;
            match fs::metadata(&path) {
                Ok(now) if now.ino() == held.ino() && now.dev() == held.dev() => {
                    return Ok(LayerLock { path, _file: file })
                }
                // Unlinked (or replaced) by the previous holder: try again.
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(ImageError::io("stat", &path)(e)),
            }
        }
    }
}

impl Drop for LayerLock {
    fn drop(&mut self) {
        // Unlink while still holding the flock (the file closes after this).
        let _ = fs::remove_file(&self.path);
    }
}

fn layer_context(diff_id: &Digest, e: ImageError) -> ImageError {
    match e {
        ImageError::Corrupt { object, reason } if object == "layer tar" => {
            ImageError::corrupt(format!("layer {diff_id}"), reason)
        }
        other => other,
    }
}
