//! A layer blob stored while it is unpacked: the registry's stream is
//! written to a temp blob (hashed) as the unpacker reads it, and at its end
//! the digest is checked and the blob renamed into the content store. One
//! pass over the network bytes instead of a download, then a second read
//! (and hash) of the stored blob to unpack it.

use std::io::{self, BufWriter, Read, Write};
use std::sync::{Arc, Mutex};

use crate::content::ContentStore;
use crate::digest::{Digest, HashingWriter};
use crate::error::ImageError;

/// What went wrong in the tee, kept for the caller: the unpacker only sees
/// an io::Error and would name the layer tar, not the download.
pub(crate) type TeeError = Arc<Mutex<Option<ImageError>>>;

pub(crate) struct TeeToStore<'s, R> {
    inner: R,
    out: Option<HashingWriter<BufWriter<tempfile::NamedTempFile>>>,
    content: &'s ContentStore,
    want: Digest,
    /// Where the blob came from, for errors.
    source: String,
    error: TeeError,
}

impl<'s, R: Read> TeeToStore<'s, R> {
    pub(crate) fn new(
        inner: R,
        content: &'s ContentStore,
        want: &Digest,
        source: String,
        error: TeeError,
    ) -> Result<Self, ImageError> {
        let tmp = tempfile::NamedTempFile::new_in(content.tmp_dir())
            .map_err(ImageError::io("creating a temp blob in", content.tmp_dir()))?;
        Ok(TeeToStore {
            inner,
            out: Some(HashingWriter::new(BufWriter::with_capacity(
                256 * 1024,
                tmp,
            ))),
            content,
            want: want.clone(),
            source,
            error,
        })
    }

    fn fail(&self, e: ImageError) -> io::Error {
        let msg = e.to_string();
        if let Ok(mut slot) = self.error.lock() {
            slot.get_or_insert(e);
        }
        io::Error::new(io::ErrorKind::InvalidData, msg)
    }

    /// At the end of the stream: verify, fsync, rename into place.
    fn commit(&mut self) -> io::Result<()> {
        let Some(out) = self.out.take() else {
            return Ok(());
        };
        let (got, _, buf) = out.finish();
        if got != self.want {
            return Err(self.fail(ImageError::corrupt(
                format!("blob {}", self.want),
                format!("content has digest {got}"),
            )));
        }
        let tmp = buf.into_inner().map_err(|e| e.into_error())?;
        let path = tmp.into_temp_path();
        self.content
            .adopt(path.as_ref(), &self.want)
            .map_err(|e| self.fail(e))?;
        // Renamed away: nothing left for the guard to delete.
        let _ = path.keep();
        Ok(())
    }
}

impl<R: Read> Read for TeeToStore<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(e) => {
                return Err(self.fail(ImageError::Registry {
                    object: format!("blob {} from {}", self.want, self.source),
                    status: None,
                    reason: format!("download failed: {e}"),
                }))
            }
        };
        if n == 0 {
            self.commit()?;
            return Ok(0);
        }
        let written = match &mut self.out {
            Some(out) => out.write_all(&buf[..n]),
            None => Ok(()),
        };
        if let Err(e) = written {
            let dir = self.content.tmp_dir().to_path_buf();
            return Err(self.fail(ImageError::io("writing a temp blob in", dir)(e)));
        }
        Ok(n)
    }
}
