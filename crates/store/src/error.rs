//! The store's error type.

use std::path::PathBuf;

/// Errors from any [`crate::Store`] backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store's directory or file could not be created or opened.
    #[error("cannot open store {path}: {source}")]
    Open {
        /// The store file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Another process held the store exclusively for longer than we wait.
    #[error("store {path} stayed locked by another process for {waited_ms} ms")]
    Busy {
        /// The store file.
        path: PathBuf,
        /// How long we waited.
        waited_ms: u64,
    },
    /// A file of a file-backed store could not be read or written.
    #[error("store {op} {path}: {source}")]
    Io {
        /// What was being done (`read`, `write`, `sync`, ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A key cannot name a file (an empty, `.`-led or NUL-holding segment).
    #[error("store key {0:?} is not valid here")]
    BadKey(String),
    /// The redb backend failed.
    #[error("store backend: {0}")]
    Backend(#[from] redb::Error),
    /// A value was not the JSON it should be.
    #[error("store value at {key} is not valid: {source}")]
    Decode {
        /// The key whose value failed to decode.
        key: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A value could not be encoded as JSON.
    #[error("cannot encode value for {key}: {source}")]
    Encode {
        /// The key being written.
        key: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The transaction closure asked to abort (used by [`crate::transact`] to
    /// carry the caller's own error out; callers never see this variant from it).
    #[error("transaction aborted")]
    Aborted,
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Backend(e.into())
            }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);
