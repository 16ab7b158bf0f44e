//! The crate's error type: one enum, so the engine can map kinds to HTTP codes
//! (NotFound 404, InUse/Conflict 409, InvalidReference 400).

use std::path::PathBuf;

/// Errors from the image store.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// No image (or container rootfs) by that reference or id.
    #[error("no such image: {0}")]
    NotFound(String),
    /// An id prefix matches more than one image.
    #[error("image id prefix {0} is ambiguous")]
    Ambiguous(String),
    /// The image is used by a container and `force` was not given.
    #[error("image {image} is in use by a container")]
    InUse {
        /// The image's id.
        image: String,
    },
    /// Not a valid image reference (`name[:tag][@digest]`).
    #[error("invalid reference {0:?}")]
    InvalidReference(String),
    /// A `--change` instruction berth cannot apply.
    #[error("invalid change {change:?}: {reason}")]
    InvalidChange {
        /// The instruction as given.
        change: String,
        /// Why.
        reason: String,
    },
    /// The operation conflicts with the store's state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// An object (blob, manifest, layer, archive entry) is not what it claims.
    #[error("{object}: {reason}")]
    Corrupt {
        /// What was being read, e.g. `blobs/sha256/ab..` or `manifest.json`.
        object: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A manifest names content that the archive or store lacks.
    #[error("{object} (named by {referenced_by}) is missing")]
    Missing {
        /// The missing object.
        object: String,
        /// Who named it.
        referenced_by: String,
    },
    /// A media type berth does not handle.
    #[error("{object}: unsupported media type {media_type:?}")]
    UnsupportedMediaType {
        /// The descriptor's owner and target.
        object: String,
        /// The media type as written.
        media_type: String,
    },
    /// A layer tar entry that would land outside its layer directory.
    #[error("refusing layer entry {entry:?}: {reason}")]
    Unsafe {
        /// The entry's path as written in the tar.
        entry: String,
        /// How it would escape.
        reason: String,
    },
    /// A file system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// On what.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// Mounting or unmounting a container rootfs failed.
    #[error("{op} overlay at {target}: {source}")]
    Mount {
        /// mount / unmount.
        op: &'static str,
        /// The mount point.
        target: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An image index / manifest list has no manifest for the platform
    /// asked for (docker's words).
    #[error("no matching manifest for {platform} in the manifest list entries ({object})")]
    NoMatchingPlatform {
        /// `os/arch[/variant]`.
        platform: String,
        /// The index.
        object: String,
    },
    /// An image in the store is for another platform than the one asked
    /// for (docker's words).
    #[error("image with reference {reference} was found but does not match the specified platform: wanted {wanted}, actual: {actual}")]
    PlatformMismatch {
        /// The reference as given.
        reference: String,
        /// `os/arch[/variant]` asked for.
        wanted: String,
        /// The image's.
        actual: String,
    },
    /// A registry refused or failed a request.
    #[error("registry: {object}: {reason}")]
    Registry {
        /// The URL or object.
        object: String,
        /// The HTTP status, when there was one.
        status: Option<u16>,
        /// What went wrong.
        reason: String,
    },
    /// The metadata store failed.
    #[error("image metadata store: {0}")]
    Store(#[from] berth_store::StoreError),
}

impl ImageError {
    /// A [`ImageError::Corrupt`] for `object`.
    pub(crate) fn corrupt(object: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        ImageError::Corrupt {
            object: object.into(),
            reason: reason.to_string(),
        }
    }

    /// A closure building [`ImageError::Io`], for `map_err`.
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> ImageError {
        let path = path.into();
        move |source| ImageError::Io { op, path, source }
    }
}

/// The crate's result type.
pub type Result<T, E = ImageError> = std::result::Result<T, E>;
