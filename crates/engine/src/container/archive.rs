//! `/containers/{id}/archive` (what `docker cp` uses): stat a path in the
//! container, read it as a tar, extract a tar into a directory.
//!
//! Paths are resolved as the container sees them: each component is
//! looked up on the host through the container's mounts (volumes, binds,
//! its hostname/hosts/resolv.conf files, else the rootfs), and symlinks are
//! followed inside the container's root, never out of it. Extraction goes
//! through the tar crate's `unpack_in`, which refuses `..` and any entry
//! whose parent resolves outside the target directory.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use super::record::ContainerRecord;
use crate::error::{EngineError, Result};
use crate::Engine;

/// Docker's ContainerPathStat (`X-Docker-Container-Path-Stat`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PathStat {
    pub name: String,
    pub size: i64,
    /// Go's os.FileMode bits.
    pub mode: u32,
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// Where a container path lives on the host.
struct View {
    rootfs: PathBuf,
    /// (container path, host path), longest first.
    mounts: Vec<(PathBuf, PathBuf)>,
}

impl View {
    fn host_of(&self, cpath: &Path) -> PathBuf {
        for (dest, src) in &self.mounts {
            if let Ok(rest) = cpath.strip_prefix(dest) {
                return if rest.as_os_str().is_empty() {
                    src.clone()
                } else {
                    src.join(rest)
                };
            }
        }
        self.rootfs.join(cpath.strip_prefix("/").unwrap_or(cpath))
    }

    /// The container path with every symlink resolved inside the
    /// container (the last component too when `follow_last`).
    fn resolve(&self, path: &str, follow_last: bool) -> Result<PathBuf> {
        let mut todo: Vec<String> = components(path);
        todo.reverse();
        let mut cur = PathBuf::from("/");
        let mut hops = 0;
        while let Some(c) = todo.pop() {
            if c == ".." {
                cur.pop();
                continue;
            }
            let next = cur.join(&c);
            let last = todo.is_empty();
            let host = self.host_of(&next);
            match std::fs::symlink_metadata(&host) {
                Ok(m) if m.file_type().is_symlink() && (!last || follow_last) => {
                    hops += 1;
                    if hops > 40 {
                        return Err(EngineError::Invalid(format!(
                            "too many levels of symbolic links: {path}"
                        )));
                    }
                    let target = std::fs::read_link(&host)
                        .map_err(EngineError::io(format!("reading link {}", next.display())))?;
                    let target = target.to_string_lossy().into_owned();
                    if target.starts_with('/') {
                        cur = PathBuf::from("/");
                    }
                    let mut t = components(&target);
                    t.reverse();
                    todo.extend(t);
                }
                _ => cur = next,
            }
        }
        Ok(cur)
    }
}

fn components(p: &str) -> Vec<String> {
    Path::new(p)
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

/// Go's os.FileMode of a file's metadata.
fn go_mode(m: &Metadata) -> u32 {
    let mode = m.mode();
    let mut g = mode & 0o777;
    let kind = mode & libc::S_IFMT;
    g |= match kind {
        libc::S_IFDIR => 1 << 31,
        libc::S_IFLNK => 1 << 27,
        libc::S_IFIFO => 1 << 25,
        libc::S_IFSOCK => 1 << 24,
        libc::S_IFBLK => 1 << 26,
        libc::S_IFCHR => (1 << 26) | (1 << 21),
        _ => 0,
    };
    if mode & libc::S_ISUID != 0 {
        g |= 1 << 23;
    }
    if mode & libc::S_ISGID != 0 {
        g |= 1 << 22;
    }
    if mode & libc::S_ISVTX != 0 {
        g |= 1 << 20;
    }
    g
}

fn not_found(path: &str, rec: &ContainerRecord) -> EngineError {
    EngineError::NotFound(format!(
        "Could not find the file {path} in container {}",
        rec.name
    ))
}

/// Whether the caller asked for a directory's content (`dir/` or `dir/.`).
fn wants_dir(path: &str) -> bool {
    path.ends_with('/') || path.ends_with("/.")
}

impl Engine {
    /// The container's filesystem view; mounts its rootfs when needed
    /// (the bool says whether this call mounted it, to unmount after).
    fn view(&self, rec: &ContainerRecord) -> Result<(View, bool)> {
        let live = rec.state.status.is_live();
        let rootfs = self.inner.images.mount_rootfs(&rec.id)?;
        let files = self.inner.cfg.container_dir(&rec.id);
        let mut mounts: Vec<(PathBuf, PathBuf)> = ["hostname", "hosts", "resolv.conf"]
            .iter()
            .map(|f| (PathBuf::from(format!("/etc/{f}")), files.join(f)))
            .filter(|(_, h)| h.exists())
            .collect();
        for m in rec.mounts.iter().filter(|m| m.kind != "tmpfs") {
            mounts.retain(|(d, _)| d != Path::new(&m.destination));
            mounts.push((PathBuf::from(&m.destination), PathBuf::from(&m.source)));
        }
        mounts.sort_by_key(|(d, _)| std::cmp::Reverse(d.as_os_str().len()));
        Ok((View { rootfs, mounts }, !live))
    }

    fn release_view(&self, rec: &ContainerRecord, mounted_here: bool) {
        // A stopped container's rootfs is not left mounted, unless it
        // started meanwhile.
        if mounted_here {
            let now_live = self
                .lookup(&rec.id)
                .map(|e| e.record().state.status.is_live())
                .unwrap_or(false);
            if !now_live {
                if let Err(e) = self.inner.images.unmount_rootfs(&rec.id) {
                    tracing::warn!(container = %rec.id, "unmounting rootfs after archive: {e}");
                }
            }
        }
    }

    fn stat_in(view: &View, rec: &ContainerRecord, path: &str) -> Result<(PathStat, PathBuf)> {
        let cpath = view.resolve(path, wants_dir(path))?;
        let host = view.host_of(&cpath);
        let m = std::fs::symlink_metadata(&host).map_err(|_| not_found(path, rec))?;
        if wants_dir(path) && !m.is_dir() {
            // As lstat("file/") fails with ENOTDIR.
            return Err(not_found(path, rec));
        }
        let link_target = if m.file_type().is_symlink() {
            // Docker reports the link's target resolved in the container.
            view.resolve(path, true)?.to_string_lossy().into_owned()
        } else {
            String::new()
        };
        let name = cpath
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "/".into());
        let mtime = berth_runtime::state::time::format_rfc3339(
            m.mtime().max(0) as u64,
            m.mtime_nsec().clamp(0, 999_999_999) as u32,
        );
        Ok((
            PathStat {
                name,
                size: m.size() as i64,
                mode: go_mode(&m),
                mtime,
                link_target,
            },
            host,
        ))
    }

    /// `HEAD /containers/{id}/archive`.
    pub async fn archive_stat(&self, name: &str, path: &str) -> Result<PathStat> {
        let rec = self.lookup(name)?.record();
        let path = path.to_owned();
        let engine = self.clone();
        tokio::task::spawn_blocking(move || {
            let (view, mounted) = engine.view(&rec)?;
            let r = Engine::stat_in(&view, &rec, &path).map(|(s, _)| s);
            engine.release_view(&rec, mounted);
            r
        })
        .await
        .map_err(|e| EngineError::Internal(e.to_string()))?
    }

    /// `GET /containers/{id}/archive`: the stat now, the tar written to
    /// `out` by the returned task.
    pub async fn archive_get(
        &self,
        name: &str,
        path: &str,
        out: Box<dyn std::io::Write + Send>,
    ) -> Result<(PathStat, tokio::task::JoinHandle<Result<()>>)> {
        let rec = self.lookup(name)?.record();
        let engine = self.clone();
        let p = path.to_owned();
        let r = rec.clone();
        let (stat, host, mounted) = tokio::task::spawn_blocking(move || {
            let (view, mounted) = engine.view(&r)?;
            match Engine::stat_in(&view, &r, &p) {
                Ok((s, h)) => Ok((s, h, mounted)),
                Err(e) => {
                    engine.release_view(&r, mounted);
                    Err(e)
                }
            }
        })
        .await
        .map_err(|e| EngineError::Internal(e.to_string()))??;
        let engine = self.clone();
        let base = if stat.name == "/" {
            ".".to_owned()
        } else {
            stat.name.clone()
        };
        let job = tokio::task::spawn_blocking(move || {
            let mut b = tar::Builder::new(out);
            b.follow_symlinks(false);
            let m = std::fs::symlink_metadata(&host)
                .map_err(EngineError::io(format!("reading {}", host.display())))?;
            let r = if m.is_dir() {
                b.append_dir_all(&base, &host)
            } else {
                b.append_path_with_name(&host, &base)
            }
            .and_then(|()| b.finish())
            .map_err(EngineError::io("writing the archive"));
            engine.release_view(&rec, mounted);
            r
        });
        Ok((stat, job))
    }

    /// `PUT /containers/{id}/archive`: extracts `tar` into the directory
    /// `path`.
    pub async fn archive_put(
        &self,
        name: &str,
        path: &str,
        tar_bytes: Vec<u8>,
        no_overwrite_dir_non_dir: bool,
        copy_uid_gid: bool,
    ) -> Result<()> {
        let rec = self.lookup(name)?.record();
        let engine = self.clone();
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || {
            let (view, mounted) = engine.view(&rec)?;
            let r = extract(
                &view,
                &rec,
                &path,
                &tar_bytes,
                no_overwrite_dir_non_dir,
                copy_uid_gid,
            );
            engine.release_view(&rec, mounted);
            r
        })
        .await
        .map_err(|e| EngineError::Internal(e.to_string()))?
    }
}

fn extract(
    view: &View,
    rec: &ContainerRecord,
    path: &str,
    tar_bytes: &[u8],
    no_overwrite_dir_non_dir: bool,
    copy_uid_gid: bool,
) -> Result<()> {
    let cpath = view.resolve(path, true)?;
    let host = view.host_of(&cpath);
    let m = std::fs::metadata(&host).map_err(|_| not_found(path, rec))?;
    if !m.is_dir() {
        return Err(EngineError::Invalid(format!(
            "extraction point is not a directory: {path}"
        )));
    }
    let in_rootfs = host.starts_with(&view.rootfs);
    if in_rootfs && rec.host_config.readonly_rootfs.unwrap_or(false) {
        return Err(EngineError::Invalid(
            "container rootfs is marked read-only".into(),
        ));
    }
    // dockerd takes the archive gzip, bzip2, xz or zstd compressed too
    // (bollard's upload_to_container sends a gzipped tar).
    let (_, plain) = berth_image::compression::open_stream(tar_bytes)
        .map_err(|e| EngineError::Invalid(format!("reading the archive: {e}")))?;
    let mut archive = tar::Archive::new(plain);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_preserve_ownerships(copy_uid_gid);
    archive.set_overwrite(true);
    archive.set_unpack_xattrs(false);
    let entries = archive
        .entries()
        .map_err(|e| EngineError::Invalid(format!("reading the archive: {e}")))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| EngineError::Invalid(format!("reading the archive: {e}")))?;
        let name = entry
            .path()
            .map_err(|e| EngineError::Invalid(format!("bad name in the archive: {e}")))?
            .into_owned();
        if no_overwrite_dir_non_dir {
            let target = host.join(&name);
            if let Ok(existing) = std::fs::symlink_metadata(&target) {
                let new_is_dir = entry.header().entry_type().is_dir();
                if existing.is_dir() != new_is_dir {
                    return Err(EngineError::Invalid(format!(
                        "cannot overwrite {} with {}: {}",
                        if existing.is_dir() {
                            "directory"
                        } else {
                            "non-directory"
                        },
                        if new_is_dir {
                            "directory"
                        } else {
                            "non-directory"
                        },
                        Path::new(path).join(&name).display()
                    )));
                }
            }
        }
        let unpacked = entry
            .unpack_in(&host)
            .map_err(|e| EngineError::Invalid(format!("extracting {}: {e}", name.display())))?;
        if !unpacked {
            return Err(EngineError::Invalid(format!(
                "refusing to extract {} outside {path}",
                name.display()
            )));
        }
        if !copy_uid_gid {
            // Docker gives copied files to the container's root.
            let target = host.join(&name);
            let _ = std::os::unix::fs::lchown(&target, Some(0), Some(0));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(root: &Path) -> View {
        View {
            rootfs: root.join("rootfs"),
            mounts: vec![(PathBuf::from("/vol"), root.join("vol"))],
        }
    }

    #[test]
    fn symlinks_resolve_inside_the_container() {
        let d = tempfile::tempdir().expect("tempdir");
        let r = d.path();
        std::fs::create_dir_all(r.join("rootfs/etc")).expect("etc");
        std::fs::create_dir_all(r.join("vol/sub")).expect("vol");
        std::os::unix::fs::symlink("/etc", r.join("rootfs/abs")).expect("link");
        std::os::unix::fs::symlink("../../../../..", r.join("rootfs/up")).expect("link");
        std::os::unix::fs::symlink("/vol/sub", r.join("rootfs/tovol")).expect("link");
        let v = view(r);
        assert_eq!(
            v.resolve("/abs/passwd", false).expect("r"),
            Path::new("/etc/passwd")
        );
        assert_eq!(v.resolve("/up/etc", false).expect("r"), Path::new("/etc"));
        assert_eq!(v.resolve("/abs", false).expect("r"), Path::new("/abs"));
        assert_eq!(v.resolve("/abs", true).expect("r"), Path::new("/etc"));
        let p = v.resolve("/tovol/f", false).expect("r");
        assert_eq!(v.host_of(&p), r.join("vol/sub/f"));
        assert_eq!(v.host_of(Path::new("/etc/x")), r.join("rootfs/etc/x"));
    }

    #[test]
    fn link_loops_end() {
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(d.path().join("rootfs")).expect("rootfs");
        std::os::unix::fs::symlink("/b", d.path().join("rootfs/a")).expect("a");
        std::os::unix::fs::symlink("/a", d.path().join("rootfs/b")).expect("b");
        assert!(view(d.path()).resolve("/a/x", false).is_err());
    }

    #[test]
    fn go_modes() {
        let d = tempfile::tempdir().expect("tempdir");
        let m = std::fs::metadata(d.path()).expect("meta");
        assert_ne!(go_mode(&m) & (1 << 31), 0);
    }
}
