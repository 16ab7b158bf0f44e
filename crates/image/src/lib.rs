//! berth-image: container images for berth.
//!
//! Owns the content store (sha256-addressed blobs, verified on write and
//! read), the image metadata (records and tags in berth-store, Docker's
//! reference normalisation), layer snapshots (each layer unpacked once,
//! safely, whiteouts in overlayfs form), container root filesystems
//! (overlayfs), and the archive formats: docker-archive and OCI layout in
//! ([`ImageStore::load`]) and out ([`ImageStore::save`]), `import` of a
//! plain rootfs tar, a container's `diff`, `commit` and `export`, and
//! `pull`/`push` to registries ([`registry`]).
//!
//! The API is synchronous; the engine calls it from blocking tasks.

pub mod archive;
mod changes;
pub mod compression;
mod container;
pub mod content;
mod create;
pub mod digest;
mod error;
mod import;
mod load;
mod meta;
mod model;
mod ops;
mod parallel;
mod parts;
pub mod platform;
pub mod progress;
pub mod reference;
pub mod registry;
pub mod rootfs;
mod save;
pub mod snapshot;
mod store;

pub use digest::Digest;
pub use error::{ImageError, Result};
pub use model::{
    ArchiveFormat, Change, ChangeKind, DockerImageConfigExtras, Healthcheck, HistoryEntry, Image,
    ImageConfigPatch, LayerRef, LoadedImage, PruneReport, RemovedItem, Rootfs,
};
pub use parts::ImageParts;
pub use reference::Reference;
pub use store::ImageStore;
