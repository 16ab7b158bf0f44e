//! Container root filesystems: an overlayfs mount of the image's layer
//! snapshots (topmost first) under a per-container upper and work dir in
//! `containers/<id>/`.
//!
//! The mount is made with the new mount API (`fsopen("overlay")` and one
//! `lowerdir+` per layer, kernel 6.8+), so an image of any number of layers
//! mounts: with a single `lowerdir=a:b:..` option string, mount(2) fails
//! once the string passes one page (about 40-60 layers with berth's paths).
//! On older kernels the single string is tried, and an image too long for
//! it gets a clear error.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rustix::fs::AtFlags;
use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags};

use crate::compression::Compression;
use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::meta;
use crate::model::{ContainerRecord, LayerRef, Rootfs};
use crate::store::ImageStore;

impl ImageStore {
    fn container_dir(&self, container_id: &str) -> Result<PathBuf> {
        let ok = !container_id.is_empty()
            && container_id.len() <= 128
            && container_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
            && !container_id.starts_with('.');
        if !ok {
            return Err(ImageError::InvalidReference(format!(
                "container id {container_id:?}"
            )));
        }
        Ok(self.inner.containers.join(container_id))
    }

    /// Prepares `containers/<id>/{upper,work,merged}` for a container of
    /// `image_id` (any reference resolves); re-unpacks any layer snapshot
    /// that is missing from its blob.
    pub fn create_rootfs(&self, container_id: &str, image_id: &str) -> Result<Rootfs> {
        let _meta = self.hold()?;
        let _gc = self.gc_lock(false)?;
        let rec = self.resolve_record(&mut self.view()?, image_id)?;
        self.create_rootfs_of(container_id, &rec.id, &rec.layers)
    }

    /// Like [`Self::create_rootfs`] for a rootfs of `layers` (bottom first)
    /// that no image names yet (a build step's); `image_id` may be empty.
    /// The record keeps the layers from garbage collection while it exists.
    pub fn create_rootfs_of_layers(
        &self,
        container_id: &str,
        image_id: &str,
        layers: &[LayerRef],
    ) -> Result<Rootfs> {
        let _meta = self.hold()?;
        let _gc = self.gc_lock(false)?;
        self.create_rootfs_of(container_id, image_id, layers)
    }

    fn create_rootfs_of(
        &self,
        container_id: &str,
        image_id: &str,
        layers: &[LayerRef],
    ) -> Result<Rootfs> {
        let dir = self.container_dir(container_id)?;
        if meta::get_container(&mut self.view()?, container_id)?.is_some() {
            return Err(ImageError::Conflict(format!(
                "container {container_id} already has a rootfs"
            )));
        }
        for l in layers {
            let diff_id = Digest::parse(&l.diff_id, "image record")?;
            let blob = Digest::parse(&l.blob, "image record")?;
            let c = crate::compression::from_media_type(&l.media_type, &l.blob)
                .unwrap_or(Compression::None);
            self.inner.snapshots.ensure(&diff_id, || {
                let r = self.inner.content.reader(&blob)?;
                crate::compression::decompress(r, c)
                    .map_err(|e| ImageError::corrupt(format!("blob {blob}"), e))
            })?;
        }
        for sub in ["upper", "work", "merged"] {
            let p = dir.join(sub);
            fs::create_dir_all(&p).map_err(ImageError::io("creating", &p))?;
        }
        let record = ContainerRecord {
            image_id: image_id.to_string(),
            diff_ids: layers.iter().map(|l| l.diff_id.clone()).collect(),
        };
        let res = self.transact(|txn| {
            if meta::get_container(txn, container_id)?.is_some() {
                return Err(ImageError::Conflict(format!(
                    "container {container_id} already has a rootfs"
                )));
            }
            meta::put_container(txn, container_id, &record)
        });
        if let Err(e) = res {
            if !matches!(e, ImageError::Conflict(_)) {
                let _ = fs::remove_dir_all(&dir);
            }
            return Err(e);
        }
        self.rootfs_of(container_id, &record)
    }

    fn rootfs_of(&self, container_id: &str, rec: &ContainerRecord) -> Result<Rootfs> {
        let dir = self.container_dir(container_id)?;
        let mut lowerdirs = Vec::new();
        for d in rec.diff_ids.iter().rev() {
            let p = self
                .inner
                .snapshots
                .fs_path(&Digest::parse(d, "container record")?);
            // One layer twice (two build steps that changed nothing alike)
            // is one snapshot dir twice, which overlayfs refuses (ELOOP);
            // its topmost place alone gives the same tree.
            if !lowerdirs.contains(&p) {
                lowerdirs.push(p);
            }
        }
        if lowerdirs.is_empty() {
            // overlayfs needs a lower layer; an image of no layers gets an
            // empty one of its own.
            let empty = dir.join("empty");
            fs::create_dir_all(&empty).map_err(ImageError::io("creating", &empty))?;
            lowerdirs.push(empty);
        }
        Ok(Rootfs {
            lowerdirs,
            upper: dir.join("upper"),
            work: dir.join("work"),
            merged: dir.join("merged"),
        })
    }

    /// The rootfs of a container made by [`Self::create_rootfs`].
    pub fn rootfs(&self, container_id: &str) -> Result<Rootfs> {
        let _meta = self.hold()?;
        let rec = meta::get_container(&mut self.view()?, container_id)?
            .ok_or_else(|| ImageError::NotFound(format!("rootfs of container {container_id}")))?;
        self.rootfs_of(container_id, &rec)
    }

    /// Mounts the container's overlay on its `merged` dir (a no-op if it is
    /// mounted already) and returns that path.
    pub fn mount_rootfs(&self, container_id: &str) -> Result<PathBuf> {
        let _meta = self.hold()?;
        let rootfs = self.rootfs(container_id)?;
        if is_mountpoint(&rootfs.merged)? {
            return Ok(rootfs.merged);
        }
        mount_overlay(&rootfs)?;
        Ok(rootfs.merged)
    }

    /// Unmounts the container's overlay (a no-op if it is not mounted).
    pub fn unmount_rootfs(&self, container_id: &str) -> Result<()> {
        let _meta = self.hold()?;
        let rootfs = self.rootfs(container_id)?;
        unmount(&rootfs.merged)
    }

    /// Every container that has a rootfs record or a directory here (a
    /// crash inside [`Self::create_rootfs`] can leave a directory alone).
    pub fn rootfs_ids(&self) -> Result<Vec<String>> {
        let _meta = self.hold()?;
        let mut ids: Vec<String> = meta::containers(&mut self.view()?)?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let dir = &self.inner.containers;
        let entries = fs::read_dir(dir).map_err(ImageError::io("reading", dir))?;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !ids.contains(&name) {
                ids.push(name);
            }
        }
        Ok(ids)
    }

    /// Unmounts and removes the container's rootfs and record (a no-op if
    /// it has none).
    pub fn remove_rootfs(&self, container_id: &str) -> Result<()> {
        let _meta = self.hold()?;
        let dir = self.container_dir(container_id)?;
        if meta::get_container(&mut self.view()?, container_id)?.is_some() {
            unmount(&dir.join("merged"))?;
        }
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(ImageError::io("removing", &dir)(e))
            }
            _ => {}
        }
        self.transact(|txn| meta::delete_container(txn, container_id))
    }
}

fn mount_err(op: &'static str, target: &Path) -> impl FnOnce(rustix::io::Errno) -> ImageError {
    let target = target.to_path_buf();
    move |e| ImageError::Mount {
        op,
        target,
        source: e.into(),
    }
}

/// Mounts `r` with fsopen/fsconfig; falls back to mount(2) where the
/// kernel lacks the new API or overlayfs's `lowerdir+`.
pub fn mount_overlay(r: &Rootfs) -> Result<()> {
    match mount_with_fsconfig(r) {
        Ok(()) => Ok(()),
        Err(e @ (rustix::io::Errno::NOSYS | rustix::io::Errno::INVAL)) => {
            tracing::debug!(error = %e, "fsconfig overlay mount failed, trying mount(2)");
            mount_legacy(r, e)
        }
        Err(e) => Err(mount_err("mounting", &r.merged)(e)),
    }
}

fn mount_with_fsconfig(r: &Rootfs) -> rustix::io::Result<()> {
    let fs = rustix::mount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
    for l in &r.lowerdirs {
        rustix::mount::fsconfig_set_string(&fs, "lowerdir+", l.as_path())?;
    }
    rustix::mount::fsconfig_set_string(&fs, "upperdir", r.upper.as_path())?;
    rustix::mount::fsconfig_set_string(&fs, "workdir", r.work.as_path())?;
    rustix::mount::fsconfig_create(&fs)?;
    let mnt = rustix::mount::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, MountAttrFlags::empty())?;
    rustix::mount::move_mount(
        &mnt,
        "",
        rustix::fs::CWD,
        r.merged.as_path(),
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
}

/// mount(2) with one option string; `why` is what the fsconfig way said.
fn mount_legacy(r: &Rootfs, why: rustix::io::Errno) -> Result<()> {
    let lowers: Vec<String> = r
        .lowerdirs
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        r.upper.display(),
        r.work.display()
    );
    let page = rustix::param::page_size();
    if data.len() >= page {
        return Err(ImageError::Mount {
            op: "mounting",
            target: r.merged.clone(),
            source: io::Error::other(format!(
                "{} layers need {} bytes of mount options (limit {page}); the fsconfig lowerdir+ way failed too \
                 ({why}: a kernel before 6.8, or a layer path of 256 bytes or more)",
                r.lowerdirs.len(),
                data.len()
            )),
        });
    }
    let data = std::ffi::CString::new(data).map_err(|e| ImageError::Mount {
        op: "mounting",
        target: r.merged.clone(),
        source: io::Error::other(e),
    })?;
    rustix::mount::mount(
        "overlay",
        r.merged.as_path(),
        "overlay",
        rustix::mount::MountFlags::empty(),
        Some(data.as_c_str()),
    )
    .map_err(mount_err("mounting", &r.merged))
}

fn unmount(target: &Path) -> Result<()> {
    loop {
        if !is_mountpoint(target)? {
            return Ok(());
        }
        match rustix::mount::unmount(target, rustix::mount::UnmountFlags::empty()) {
            Ok(()) => continue,
            Err(rustix::io::Errno::BUSY) => {
                // Still used by a process: detach now, freed when it exits.
                rustix::mount::unmount(target, rustix::mount::UnmountFlags::DETACH)
                    .map_err(mount_err("unmounting", target))?;
            }
            Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => return Ok(()),
            Err(e) => return Err(mount_err("unmounting", target)(e)),
        }
    }
}

/// Whether `p` is the root of a mount (statx's `STATX_ATTR_MOUNT_ROOT`,
/// which works in any mount and PID namespace, unlike reading
/// /proc/self/mountinfo); a missing path is not a mount point.
pub fn is_mountpoint(p: &Path) -> Result<bool> {
    use rustix::fs::{StatxAttributes, StatxFlags};
    match rustix::fs::statx(
        rustix::fs::CWD,
        p,
        AtFlags::SYMLINK_NOFOLLOW,
        StatxFlags::BASIC_STATS,
    ) {
        Ok(st) if st.stx_attributes_mask.contains(StatxAttributes::MOUNT_ROOT) => {
            Ok(st.stx_attributes.contains(StatxAttributes::MOUNT_ROOT))
        }
        Ok(st) => {
            // Older kernels: a different device than the parent's.
            let parent = p.parent().unwrap_or(p);
            let pst =
                rustix::fs::stat(parent).map_err(|e| ImageError::io("stat", parent)(e.into()))?;
            Ok(rustix::fs::makedev(st.stx_dev_major, st.stx_dev_minor) != pst.st_dev)
        }
        Err(rustix::io::Errno::NOENT) => Ok(false),
        Err(e) => Err(ImageError::io("stat", p)(e.into())),
    }
}
