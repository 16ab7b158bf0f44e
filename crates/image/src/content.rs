//! The content store: blobs named by their sha256 under `blobs/sha256/<hex>`.
//!
//! A blob becomes visible only complete and verified: it is written (or
//! staged) in `tmp/` on the same file system, fsynced, its digest checked,
//! and renamed into place; the directory is fsynced so the rename survives a
//! crash. Reads verify again, so a blob damaged on disk is reported, not used.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::digest::{Digest, HashingReader, HashingWriter};
use crate::error::{ImageError, Result};

/// The blob directory and its staging area.
#[derive(Debug, Clone)]
pub struct ContentStore {
    blobs: PathBuf,
    tmp: PathBuf,
}

impl ContentStore {
    /// Opens (creating) `blobs/sha256` and `tmp` under `root`.
    pub fn open(root: &Path) -> Result<ContentStore> {
        let blobs = root.join("blobs").join("sha256");
        let tmp = root.join("tmp");
        for d in [&blobs, &tmp] {
            fs::create_dir_all(d).map_err(ImageError::io("creating", d))?;
        }
        Ok(ContentStore { blobs, tmp })
    }

    /// Where blob `d` lives.
    pub fn path(&self, d: &Digest) -> PathBuf {
        self.blobs.join(d.hex())
    }

    /// The staging directory (same file system as the blobs).
    pub fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    /// Whether blob `d` is present.
    pub fn contains(&self, d: &Digest) -> bool {
        self.path(d).is_file()
    }

    /// Writes `bytes` as a blob and returns its digest.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Digest> {
        let d = Digest::of(bytes);
        if self.contains(&d) {
            return Ok(d);
        }
        self.put_reader(bytes, Some(&d))
    }

    /// Streams `r` into a blob; when `expected` is given, a different digest
    /// is refused and nothing becomes visible.
    pub fn put_reader(&self, r: impl Read, expected: Option<&Digest>) -> Result<Digest> {
        self.put_reader_new(r, expected).map(|(d, _)| d)
    }

    /// Like [`Self::put_reader`]; also says whether the blob is new.
    pub fn put_reader_new(
        &self,
        r: impl Read,
        expected: Option<&Digest>,
    ) -> Result<(Digest, bool)> {
        let tmp = tempfile::NamedTempFile::new_in(&self.tmp)
            .map_err(ImageError::io("creating a temp blob in", &self.tmp))?;
        let mut w = HashingWriter::new(io::BufWriter::new(tmp));
        let mut r = r;
        io::copy(&mut r, &mut w).map_err(ImageError::io("writing a temp blob in", &self.tmp))?;
        let (d, _, buf) = w.finish();
        let tmp = buf
            .into_inner()
            .map_err(|e| ImageError::io("writing a temp blob in", &self.tmp)(e.into_error()))?;
        if let Some(want) = expected {
            if *want != d {
                return Err(ImageError::corrupt(
                    format!("blob {want}"),
                    format!("content has digest {d}"),
                ));
            }
        }
        if self.contains(&d) {
            return Ok((d, false));
        }
        tmp.as_file()
            .sync_all()
            .map_err(ImageError::io("syncing", tmp.path()))?;
        let path = tmp.into_temp_path();
        self.commit(path.as_ref(), &d)?;
        // Renamed away: nothing left for the guard to delete.
        let _ = path.keep();
        Ok((d, true))
    }

    /// Moves an already verified staged file (in [`Self::tmp_dir`]) into
    /// place as blob `d`, after fsyncing it.
    pub fn adopt(&self, staged: &Path, d: &Digest) -> Result<()> {
        if self.contains(d) {
            return Ok(());
        }
        File::open(staged)
            .and_then(|f| f.sync_all())
            .map_err(ImageError::io("syncing", staged))?;
        self.commit(staged, d)
    }

    fn commit(&self, from: &Path, d: &Digest) -> Result<()> {
        let to = self.path(d);
        fs::rename(from, &to).map_err(ImageError::io("renaming blob into", &to))?;
        File::open(&self.blobs)
            .and_then(|dir| dir.sync_all())
            .map_err(ImageError::io("syncing", &self.blobs))
    }

    /// The whole blob, verified (for manifests and configs).
    pub fn read(&self, d: &Digest) -> Result<Vec<u8>> {
        let p = self.path(d);
        let bytes = match fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ImageError::Missing {
                    object: format!("blob {d}"),
                    referenced_by: "the image store".into(),
                })
            }
            Err(e) => return Err(ImageError::io("reading", &p)(e)),
        };
        let got = Digest::of(&bytes);
        if got != *d {
            return Err(ImageError::corrupt(
                format!("blob {d}"),
                format!("stored content has digest {got}"),
            ));
        }
        Ok(bytes)
    }

    /// A reader over blob `d` that fails at the end if the content does not
    /// match its digest.
    pub fn reader(&self, d: &Digest) -> Result<VerifiedReader> {
        let p = self.path(d);
        let f = File::open(&p).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                ImageError::Missing {
                    object: format!("blob {d}"),
                    referenced_by: "the image store".into(),
                }
            } else {
                ImageError::io("opening", &p)(e)
            }
        })?;
        Ok(VerifiedReader {
            inner: Some(HashingReader::new(io::BufReader::new(f))),
            want: d.clone(),
        })
    }

    /// Removes blob `d` (missing is fine).
    pub fn remove(&self, d: &Digest) -> Result<()> {
        let p = self.path(d);
        match fs::remove_file(&p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(ImageError::io("removing", &p)(e)),
            _ => Ok(()),
        }
    }

    /// Every blob digest present.
    pub fn list(&self) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        let rd = fs::read_dir(&self.blobs).map_err(ImageError::io("listing", &self.blobs))?;
        for e in rd {
            let e = e.map_err(ImageError::io("listing", &self.blobs))?;
            if let Some(name) = e.file_name().to_str() {
                if let Ok(d) = Digest::parse(&format!("sha256:{name}"), name) {
                    out.push(d);
                }
            }
        }
        Ok(out)
    }

    /// Writes a blob to `out`, verifying it on the way.
    pub fn copy_to(&self, d: &Digest, out: &mut dyn Write) -> Result<u64> {
        let mut r = self.reader(d)?;
        io::copy(&mut r, out).map_err(|e| verified_read_error(d, e))
    }
}

/// Maps a read error from a [`VerifiedReader`] to the right [`ImageError`].
pub fn verified_read_error(d: &Digest, e: io::Error) -> ImageError {
    if e.kind() == io::ErrorKind::InvalidData {
        ImageError::corrupt(format!("blob {d}"), e)
    } else {
        ImageError::Io {
            op: "reading blob",
            path: PathBuf::from(d.hex()),
            source: e,
        }
    }
}

/// See [`ContentStore::reader`].
pub struct VerifiedReader {
    inner: Option<HashingReader<io::BufReader<File>>>,
    want: Digest,
}

impl Read for VerifiedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(inner) = self.inner.as_mut() else {
            return Ok(0);
        };
        let n = inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            if let Some(done) = self.inner.take() {
                let (got, _) = done.finish()?;
                if got != self.want {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("stored content has digest {got}"),
                    ));
                }
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_is_verified_on_write_and_read() -> Result<()> {
        let dir = tempfile::tempdir().map_err(ImageError::io("tempdir", "/tmp"))?;
        let cs = ContentStore::open(dir.path())?;
        let d = cs.put_bytes(b"hello")?;
        assert_eq!(cs.read(&d)?, b"hello");
        let wrong = Digest::of(b"other");
        assert!(matches!(
            cs.put_reader(&b"hello"[..], Some(&wrong)),
            Err(ImageError::Corrupt { .. })
        ));
        assert!(!cs.contains(&wrong), "a refused blob must not be visible");
        assert_eq!(fs::read_dir(cs.tmp_dir()).map(|r| r.count()).ok(), Some(0));
        // damage on disk is noticed by both read paths
        fs::write(cs.path(&d), b"jello").map_err(ImageError::io("write", "blob"))?;
        assert!(matches!(cs.read(&d), Err(ImageError::Corrupt { .. })));
        let mut sink = Vec::new();
        assert!(matches!(
            cs.copy_to(&d, &mut sink),
            Err(ImageError::Corrupt { .. })
        ));
        Ok(())
    }
}
