//! The exit record: how the supervised process ended, written atomically
//! to the state dir so that a berthd started later can read it.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// How the process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    /// Shell-style code: the exit status, or 128 + signal.
    pub exit_code: i32,
    /// RFC 3339 time the exit was seen.
    pub finished_at: String,
    /// The OOM killer killed a process of the container.
    pub oom_killed: bool,
    /// Why the process could not be started or supervised, if so.
    pub error: Option<String>,
}

impl ExitRecord {
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)
    }

    /// The record at `path`, if the process has exited.
    pub fn read(path: &Path) -> std::io::Result<Option<ExitRecord>> {
        match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(std::io::Error::other),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}
