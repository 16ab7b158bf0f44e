//! The public data types of the image API (what the engine shows and
//! passes back), and the records kept in the metadata store.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// An image as `docker images` / `docker image inspect` show it.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// `sha256:<config digest hex>`.
    pub id: String,
    /// Tags in docker's short form (`busybox:latest`).
    pub repo_tags: Vec<String>,
    /// `name@sha256:..` of the manifests this image was pulled by.
    pub repo_digests: Vec<String>,
    /// The parent image id (`commit`ed images), or empty.
    pub parent: String,
    /// RFC 3339, from the config (empty when the config has none).
    pub created: String,
    /// Unpacked size of all layers.
    pub size: u64,
    /// The OCI view of the config blob.
    pub config: oci_spec::image::ImageConfiguration,
    /// The Docker-only config fields OCI lacks.
    pub docker_config: DockerImageConfigExtras,
    /// The manifest's digest, when the image has one in the store.
    pub manifest_digest: Option<String>,
    /// Layer diff ids, bottom first.
    pub layers: Vec<String>,
}

/// Docker's config fields that the OCI image config has no place for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DockerImageConfigExtras {
    /// HEALTHCHECK.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    /// ONBUILD triggers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    /// SHELL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    /// Windows-only quoting hint, kept for round trips.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_escaped: Option<bool>,
    /// Seconds to wait after StopSignal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
}

/// A Docker HEALTHCHECK (durations in nanoseconds, as in the config JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD", ..]` or `["CMD-SHELL", cmd]`.
    #[serde(default)]
    pub test: Vec<String>,
    /// Between checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    /// For one check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    /// Grace period after start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i64>,
    /// Between checks during the start period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<i64>,
    /// Failures before unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
}

/// One image a load brought in, as `docker load` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedImage {
    /// `sha256:..`.
    pub id: String,
    /// Short-form tags given to it by the archive.
    pub repo_tags: Vec<String>,
    /// How many of its layers this load unpacked (the rest were present).
    pub layers_unpacked: usize,
}

/// What `remove` did, in `docker rmi`'s words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum RemovedItem {
    /// A tag (short form) was removed.
    Untagged(String),
    /// An image (id) was deleted.
    Deleted(String),
}

/// One row of `docker history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// The image id for the top row, `<missing>` for the others (as docker).
    pub id: String,
    /// RFC 3339.
    pub created: String,
    /// The instruction.
    pub created_by: String,
    /// Size of the layer the step made (0 for empty layers).
    pub size: u64,
    /// The step's comment.
    pub comment: String,
    /// Tags of the top row.
    pub tags: Vec<String>,
}

/// Output format of `save`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArchiveFormat {
    /// `docker save` (Docker 25+ layout: manifest.json + OCI layout, which
    /// older docker load reads too).
    #[default]
    DockerArchive,
    /// An OCI image layout in a tar.
    OciArchive,
}

/// A container root filesystem: what the runtime mounts, or what
/// [`crate::ImageStore::mount_rootfs`] mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rootfs {
    /// Lower layers, topmost first (overlayfs order).
    pub lowerdirs: Vec<PathBuf>,
    /// The container's writable layer.
    pub upper: PathBuf,
    /// overlayfs's work dir.
    pub work: PathBuf,
    /// Where the rootfs is mounted.
    pub merged: PathBuf,
}

/// Kind of a change in `docker diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ChangeKind {
    /// `A`.
    Added,
    /// `C`.
    Changed,
    /// `D`.
    Deleted,
}

/// One line of `docker diff`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Absolute path inside the container.
    pub path: String,
    /// What happened to it.
    pub kind: ChangeKind,
}

/// What `commit` changes in the new image's config.
#[derive(Debug, Clone, Default)]
pub struct ImageConfigPatch {
    /// `--author`.
    pub author: Option<String>,
    /// `--message`.
    pub comment: Option<String>,
    /// `--change` Dockerfile instructions (CMD, ENV, ...).
    pub changes: Vec<String>,
    /// The container's config to use instead of the image's (the engine's
    /// view of Cmd, Env, ... at commit time).
    pub config: Option<oci_spec::image::Config>,
}

/// What `prune` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Untagged and deleted entries.
    pub removed: Vec<RemovedItem>,
    /// Bytes freed on disk.
    pub space_reclaimed: u64,
}

/// An image in the metadata store (`image/images/<hex>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ImageRecord {
    pub id: String,
    #[serde(default)]
    pub manifest_digest: Option<String>,
    #[serde(default)]
    pub manifest_media_type: Option<String>,
    pub layers: Vec<LayerRef>,
    #[serde(default)]
    pub repo_digests: Vec<String>,
    #[serde(default)]
    pub parent: String,
}

/// A layer of an image: its diff id (the uncompressed tar's digest), the
/// blob it is stored as, that blob's media type and size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerRef {
    pub diff_id: String,
    pub blob: String,
    pub media_type: String,
    pub blob_size: u64,
}

/// A container rootfs (`image/containers/<id>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ContainerRecord {
    pub image_id: String,
    pub diff_ids: Vec<String>,
}
