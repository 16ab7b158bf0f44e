//! What the engine needs from images: resolve a reference to an image's
//! id and run config, and the container root filesystems made from it.
//! `berth-image`'s `ImageStore` is the implementation; the trait is the
//! seam that lets engine tests run on a plain directory.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::error::Result;

/// The parts of an image's config a container is made from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageRunConfig {
    pub env: Vec<String>,
    pub cmd: Vec<String>,
    pub entrypoint: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub volumes: Vec<String>,
    pub exposed_ports: Vec<String>,
    pub labels: HashMap<String, String>,
    pub stop_signal: Option<String>,
    /// The image's HEALTHCHECK.
    pub healthcheck: Option<bollard_stubs::models::HealthConfig>,
}

/// A resolved image.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageInfo {
    /// `sha256:<hex>`.
    pub id: String,
    pub config: ImageRunConfig,
    /// `os/arch[/variant]` from the image's config (empty when unknown).
    pub platform: String,
}

/// Images and container root filesystems.
pub trait Images: Send + Sync {
    /// The image a reference names; `EngineError::NotFound("No such image: REF")`.
    fn resolve(&self, reference: &str) -> Result<ImageInfo>;
    /// Prepares (does not mount) the container's rootfs from the image.
    fn create_rootfs(&self, container_id: &str, image_id: &str) -> Result<()>;
    /// Mounts it (idempotent); returns the merged directory.
    fn mount_rootfs(&self, container_id: &str) -> Result<PathBuf>;
    fn unmount_rootfs(&self, container_id: &str) -> Result<()>;
    fn remove_rootfs(&self, container_id: &str) -> Result<()>;
    /// How many images there are (for `/info`).
    fn count(&self) -> usize;
    /// Every container that has a rootfs (to find those left by a crash).
    fn rootfs_ids(&self) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
}

/// No image store (a daemon without images can still answer the API).
pub struct NoImages;

impl Images for NoImages {
    fn resolve(&self, reference: &str) -> Result<ImageInfo> {
        Err(crate::EngineError::NotFound(format!(
            "No such image: {reference}"
        )))
    }
    fn create_rootfs(&self, _: &str, _: &str) -> Result<()> {
        Err(crate::EngineError::Internal("no image store".into()))
    }
    fn mount_rootfs(&self, _: &str) -> Result<PathBuf> {
        Err(crate::EngineError::Internal("no image store".into()))
    }
    fn unmount_rootfs(&self, _: &str) -> Result<()> {
        Ok(())
    }
    fn remove_rootfs(&self, _: &str) -> Result<()> {
        Ok(())
    }
    fn count(&self) -> usize {
        0
    }
}
