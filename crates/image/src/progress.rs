//! Progress of transfers and unpacking, for progress bars (the CLI's
//! indicatif bars, the API's JSON progress streams).

use std::io::{self, Read};
use std::sync::Arc;

/// What is happening to one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Bytes coming from a registry.
    Download,
    /// Bytes going to a registry.
    Upload,
    /// The registry had it already.
    Exists,
    /// Mounted from another repository.
    Mounted,
    /// A layer being unpacked (bytes of the uncompressed tar).
    Unpack,
    /// This blob is done.
    Done,
}

/// One progress report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `sha256:..` of the blob (the diff id while unpacking).
    pub digest: String,
    /// What is happening.
    pub phase: Phase,
    /// Bytes so far.
    pub current: u64,
    /// Bytes in all, when known.
    pub total: Option<u64>,
}

/// A progress callback; cheap to clone.
#[derive(Clone)]
pub struct ProgressFn(pub Arc<dyn Fn(&Event) + Send + Sync>);

impl std::fmt::Debug for ProgressFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressFn")
    }
}

impl ProgressFn {
    /// Reports one event.
    pub fn report(&self, digest: &str, phase: Phase, current: u64, total: Option<u64>) {
        (self.0)(&Event {
            digest: digest.to_string(),
            phase,
            current,
            total,
        });
    }
}

/// Reports `phase` progress every 256 KiB read through it.
pub struct CountingReader<R> {
    inner: R,
    progress: Option<ProgressFn>,
    digest: String,
    phase: Phase,
    total: Option<u64>,
    count: u64,
    reported: u64,
}

impl<R: Read> CountingReader<R> {
    /// Wraps `inner`; with no progress callback it only passes bytes on.
    pub fn new(
        inner: R,
        progress: Option<ProgressFn>,
        digest: &str,
        phase: Phase,
        total: Option<u64>,
    ) -> Self {
        CountingReader {
            inner,
            progress,
            digest: digest.to_string(),
            phase,
            total,
            count: 0,
            reported: 0,
        }
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        if let Some(p) = &self.progress {
            if n == 0 || self.count - self.reported >= 256 * 1024 {
                self.reported = self.count;
                p.report(&self.digest, self.phase, self.count, self.total);
            }
        }
        Ok(n)
    }
}
