//! The container's /dev/shm as Docker makes it for each IPC mode: a tmpfs
//! of its own (`private`, the default), one mounted on the host side so
//! others can join it (`shareable`), the donor's (`container:X`), the
//! host's (`host`), or none (`none`).
//!
//! POSIX shared memory lives in /dev/shm, not in the IPC namespace, so a
//! container that joins another's IPC namespace must see the donor's
//! /dev/shm too; a tmpfs inside the donor's mount namespace cannot be
//! reached from outside, hence the host-side mount for `shareable`.

use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use super::record::ContainerRecord;
use crate::config::EngineConfig;
use crate::error::{EngineError, Result};

/// Docker's default /dev/shm size.
pub const DEFAULT_SIZE: i64 = 64 * 1024 * 1024;

/// What the container's /dev/shm is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shm {
    /// A tmpfs made in the container's mount namespace.
    Private,
    /// A bind of this host directory.
    Bind(PathBuf),
    /// No /dev/shm mount (`--ipc none`).
    None,
}

/// The host-side shm mount of a `shareable` container (where dockerd
/// keeps it too: beside the container's config, not in its run dir,
/// which each start recreates).
pub fn host_dir(cfg: &EngineConfig, id: &str) -> PathBuf {
    cfg.container_dir(id).join("mounts").join("shm")
}

pub fn size(rec: &ContainerRecord) -> i64 {
    rec.host_config
        .shm_size
        .filter(|s| *s > 0)
        .unwrap_or(DEFAULT_SIZE)
}

/// The /dev/shm of `rec`; `donor` is the record named by `container:X`.
/// For `shareable` this mounts the host-side tmpfs (undone by [`release`]).
pub fn prepare(
    cfg: &EngineConfig,
    rec: &ContainerRecord,
    donor: Option<&ContainerRecord>,
) -> Result<Shm> {
    let mode = rec.host_config.ipc_mode.as_deref().unwrap_or("");
    Ok(match mode {
        "none" => Shm::None,
        "host" => Shm::Bind(PathBuf::from("/dev/shm")),
        "shareable" => Shm::Bind(mount_host_tmpfs(&host_dir(cfg, &rec.id), size(rec))?),
        m if m.starts_with("container:") => match donor {
            Some(d) => match d.host_config.ipc_mode.as_deref() {
                Some("host") => Shm::Bind(PathBuf::from("/dev/shm")),
                _ => {
                    let dir = host_dir(cfg, &d.id);
                    if !is_mountpoint(&dir) {
                        return Err(EngineError::Conflict(format!(
                            "cannot join IPC of container {}: its /dev/shm is not mounted",
                            d.id
                        )));
                    }
                    Shm::Bind(dir)
                }
            },
            None => Shm::Private,
        },
        _ => Shm::Private,
    })
}

fn mount_host_tmpfs(dir: &Path, size: i64) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(EngineError::io("creating the shm dir"))?;
    if is_mountpoint(dir) {
        // A restart of the same container: its shm is still there.
        return Ok(dir.to_path_buf());
    }
    let data = format!("mode=1777,size={size}");
    mount(
        Some("shm"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some(data.as_str()),
    )
    .map_err(|e| EngineError::Internal(format!("mounting shm at {}: {e}", dir.display())))?;
    Ok(dir.to_path_buf())
}

/// Unmounts a container's host-side shm, if it has one.
pub fn release(cfg: &EngineConfig, id: &str) {
    let dir = host_dir(cfg, id);
    if is_mountpoint(&dir) {
        if let Err(e) = umount2(&dir, MntFlags::MNT_DETACH) {
            tracing::warn!(container = %id, "unmounting shm: {e}");
        }
    }
}

/// Whether `dir` is a mount point: its device differs from its parent's.
fn is_mountpoint(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(m), Some(parent)) = (std::fs::symlink_metadata(dir), dir.parent()) else {
        return false;
    };
    std::fs::metadata(parent).is_ok_and(|p| p.dev() != m.dev())
}
