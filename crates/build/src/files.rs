//! Files for COPY/ADD and WORKDIR: paths resolved inside a mounted rootfs
//! (symlinks followed as the container would see them, never out of it),
//! trees copied in with docker's ownership and modes, and content digests
//! of what is copied (the cache's inputs).

use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::context::Skip;
use crate::error::{BuildError, Result};

/// `path` (absolute or relative, as seen inside the container) resolved
/// under `root`: every symlink on the way is followed relative to `root`,
/// so the result never leaves it. The last component is followed too
/// unless `follow_last` is false.
pub fn resolve_in(root: &Path, path: &str, follow_last: bool) -> Result<PathBuf> {
    let mut parts: Vec<String> = Vec::new();
    let mut todo: Vec<String> = components(path).into_iter().rev().collect();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            parts.pop();
            continue;
        }
        let candidate = root.join(parts.join("/")).join(&c);
        let is_last = todo.is_empty();
        match fs::symlink_metadata(&candidate) {
            Ok(md) if md.file_type().is_symlink() && (follow_last || !is_last) => {
                links += 1;
                if links > 40 {
                    return Err(BuildError::Context(format!(
                        "too many levels of symbolic links resolving {path}"
                    )));
                }
                let target = fs::read_link(&candidate).map_err(BuildError::io(format!(
                    "reading link {}",
                    candidate.display()
                )))?;
                let t = target.to_string_lossy().into_owned();
                if t.starts_with('/') {
                    parts.clear();
                }
                for x in components(&t).into_iter().rev() {
                    todo.push(x);
                }
            }
            _ => parts.push(c),
        }
    }
    Ok(root.join(parts.join("/")))
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

/// Owner and mode for what COPY writes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attrs {
    pub uid: u32,
    pub gid: u32,
    /// `--chmod`: replaces the mode of every file and directory copied.
    pub mode: Option<u32>,
    /// Keep each source entry's owner instead of `uid`/`gid` (ADD of an
    /// archive without `--chown`).
    pub keep_owner: bool,
}

/// Creates the directory `path` (inside the container's view) under
/// `root` with missing parents (root-owned, 0755, as docker creates them);
/// returns where it is on the host.
pub fn mkdir_in(root: &Path, path: &str, attrs: Option<Attrs>) -> Result<PathBuf> {
    let mut cur = String::new();
    let mut host = root.to_path_buf();
    for c in components(path) {
        cur = format!("{cur}/{c}");
        host = resolve_in(root, &cur, true)?;
        match fs::symlink_metadata(&host) {
            Ok(md) if md.is_dir() => {}
            Ok(_) => {
                return Err(BuildError::Context(format!(
                    "cannot create directory {cur}: a file of that name exists"
                )))
            }
            Err(_) => {
                fs::create_dir(&host).map_err(BuildError::io(format!("creating {cur}")))?;
                fs::set_permissions(&host, fs::Permissions::from_mode(0o755))
                    .map_err(BuildError::io(format!("chmod {cur}")))?;
                if let Some(a) = attrs {
                    chown(&host, a.uid, a.gid)?;
                }
            }
        }
    }
    Ok(host)
}

fn chown(p: &Path, uid: u32, gid: u32) -> Result<()> {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid))
        .map_err(BuildError::io(format!("chown {}", p.display())))
}

/// Copies `src` (a host path: a context file or a path in another
/// stage's rootfs) to the container path `dest` under `root`. A directory
/// has its contents copied; `skip` says which source-relative paths to
/// leave out (.dockerignore).
pub fn copy_into(
    src: &Path,
    root: &Path,
    dest: &str,
    attrs: Attrs,
    skip: &dyn Fn(&str) -> Skip,
) -> Result<()> {
    let md =
        fs::symlink_metadata(src).map_err(BuildError::io(format!("stat {}", src.display())))?;
    if md.is_dir() {
        let host = mkdir_in(root, dest, Some(attrs))?;
        apply_attrs(&host, &md, attrs)?;
        copy_dir(src, root, dest, "", attrs, skip)
    } else {
        copy_entry(src, &md, root, dest, attrs)
    }
}

fn copy_dir(
    src: &Path,
    root: &Path,
    dest: &str,
    rel: &str,
    attrs: Attrs,
    skip: &dyn Fn(&str) -> Skip,
) -> Result<()> {
    let dir = src.join(rel);
    let mut names: Vec<_> = fs::read_dir(&dir)
        .map_err(BuildError::io(format!("listing {}", dir.display())))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for n in names {
        let r = if rel.is_empty() {
            n
        } else {
            format!("{rel}/{n}")
        };
        let what = skip(&r);
        if what == Skip::All {
            continue;
        }
        let p = src.join(&r);
        let md =
            fs::symlink_metadata(&p).map_err(BuildError::io(format!("stat {}", p.display())))?;
        let d = format!("{}/{r}", dest.trim_end_matches('/'));
        if what == Skip::Entry {
            // Only what an exception takes back; its parents get made
            // plain, as a tar without the directory's entry unpacks.
            if md.is_dir() {
                copy_dir(src, root, dest, &r, attrs, skip)?;
            }
            continue;
        }
        if md.is_dir() {
            let host = mkdir_in(root, &d, Some(attrs))?;
            apply_attrs(&host, &md, attrs)?;
            copy_dir(src, root, dest, &r, attrs, skip)?;
        } else {
            copy_entry(&p, &md, root, &d, attrs)?;
        }
    }
    Ok(())
}

/// One non-directory entry to the container path `dest`.
fn copy_entry(src: &Path, md: &fs::Metadata, root: &Path, dest: &str, attrs: Attrs) -> Result<()> {
    let (parent, name) = match dest.trim_end_matches('/').rsplit_once('/') {
        Some((p, n)) => (p, n),
        None => ("", dest),
    };
    let pdir = mkdir_in(root, if parent.is_empty() { "/" } else { parent }, None)?;
    let target = pdir.join(name);
    if let Ok(old) = fs::symlink_metadata(&target) {
        if old.is_dir() {
            return Err(BuildError::Context(format!(
                "cannot overwrite directory {dest} with a file"
            )));
        }
        fs::remove_file(&target).map_err(BuildError::io(format!("replacing {dest}")))?;
    }
    if md.file_type().is_symlink() {
        let link =
            fs::read_link(src).map_err(BuildError::io(format!("reading {}", src.display())))?;
        std::os::unix::fs::symlink(&link, &target)
            .map_err(BuildError::io(format!("creating {dest}")))?;
        let (uid, gid) = if attrs.keep_owner {
            (md.uid(), md.gid())
        } else {
            (attrs.uid, attrs.gid)
        };
        return chown(&target, uid, gid);
    }
    if !md.is_file() {
        return Err(BuildError::Context(format!(
            "{}: only regular files, directories and symlinks can be copied",
            src.display()
        )));
    }
    let mut from =
        fs::File::open(src).map_err(BuildError::io(format!("opening {}", src.display())))?;
    let mut to = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&target)
        .map_err(BuildError::io(format!("creating {dest}")))?;
    std::io::copy(&mut from, &mut to).map_err(BuildError::io(format!("copying to {dest}")))?;
    drop(to);
    apply_attrs(&target, md, attrs)
}

fn apply_attrs(target: &Path, md: &fs::Metadata, attrs: Attrs) -> Result<()> {
    let (uid, gid) = if attrs.keep_owner {
        (md.uid(), md.gid())
    } else {
        (attrs.uid, attrs.gid)
    };
    chown(target, uid, gid)?;
    let mode = attrs.mode.unwrap_or(md.mode() & 0o7777);
    fs::set_permissions(target, fs::Permissions::from_mode(mode))
        .map_err(BuildError::io(format!("chmod {}", target.display())))?;
    let mtime = filetime_of(md);
    set_mtime(target, mtime)
}

fn filetime_of(md: &fs::Metadata) -> (i64, i64) {
    (md.mtime(), md.mtime_nsec())
}

fn set_mtime(p: &Path, (s, ns): (i64, i64)) -> Result<()> {
    let ts = rustix::fs::Timespec {
        tv_sec: s,
        tv_nsec: ns as _,
    };
    let times = rustix::fs::Timestamps {
        last_access: ts,
        last_modification: ts,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        p,
        &times,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(|e| BuildError::io(format!("setting mtime of {}", p.display()))(e.into()))
}

/// Adds to `h` the names, kinds, modes and contents under `src` (a file
/// or a directory), skipping what `skip` says: what COPY would copy.
pub fn hash_tree(h: &mut Sha256, src: &Path, rel: &str, skip: &dyn Fn(&str) -> Skip) -> Result<()> {
    hash_entry(h, src, rel, true, skip)
}

fn hash_entry(
    h: &mut Sha256,
    src: &Path,
    rel: &str,
    this: bool,
    skip: &dyn Fn(&str) -> Skip,
) -> Result<()> {
    let p = if rel.is_empty() {
        src.to_path_buf()
    } else {
        src.join(rel)
    };
    let md = fs::symlink_metadata(&p).map_err(BuildError::io(format!("stat {}", p.display())))?;
    if !this && !md.is_dir() {
        return Ok(());
    }
    if this {
        h.update(format!("{rel}\0{:o}\0", md.mode()).as_bytes());
    }
    if md.file_type().is_symlink() {
        let l = fs::read_link(&p).map_err(BuildError::io(format!("reading {}", p.display())))?;
        h.update(l.to_string_lossy().as_bytes());
    } else if md.is_file() {
        let mut f =
            fs::File::open(&p).map_err(BuildError::io(format!("opening {}", p.display())))?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = f
                .read(&mut buf)
                .map_err(BuildError::io(format!("reading {}", p.display())))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    } else if md.is_dir() {
        let mut names: Vec<_> = fs::read_dir(&p)
            .map_err(BuildError::io(format!("listing {}", p.display())))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for n in names {
            let r = if rel.is_empty() {
                n
            } else {
                format!("{rel}/{n}")
            };
            match skip(&r) {
                Skip::Keep => hash_entry(h, src, &r, true, skip)?,
                Skip::Entry => hash_entry(h, src, &r, false, skip)?,
                Skip::All => {}
            }
        }
    }
    if this {
        h.update(b"\n");
    }
    Ok(())
}

/// `user[:group]` (names or numbers) against the rootfs's /etc/passwd and
/// /etc/group: (uid, gid). A user without a group gets its passwd group.
pub fn lookup_user(root: &Path, spec: &str) -> Result<(u32, u32)> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let read = |f: &str| -> Vec<Vec<String>> {
        resolve_in(root, f, true)
            .ok()
            .and_then(|p| fs::read_to_string(p).ok())
            .unwrap_or_default()
            .lines()
            .map(|l| l.split(':').map(str::to_string).collect())
            .collect()
    };
    let passwd = read("/etc/passwd");
    let entry = passwd.iter().find(|f| {
        f.first().is_some_and(|n| n == u)
            || (u.parse::<u32>().is_ok() && f.get(2).is_some_and(|x| x == u))
    });
    let uid = match (u.parse::<u32>(), entry) {
        (Ok(n), _) => n,
        (Err(_), Some(f)) => f.get(2).and_then(|x| x.parse().ok()).unwrap_or(0),
        (Err(_), None) => {
            return Err(BuildError::Context(format!(
                "unable to find user {u}: no matching entries in passwd file"
            )))
        }
    };
    let mut gid = entry
        .and_then(|f| f.get(3))
        .and_then(|x| x.parse().ok())
        .unwrap_or(if g.is_none() { uid } else { 0 });
    if let Some(g) = g.filter(|g| !g.is_empty()) {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => read("/etc/group")
                .iter()
                .find(|f| f.first().is_some_and(|n| n == g))
                .and_then(|f| f.get(2))
                .and_then(|x| x.parse().ok())
                .ok_or_else(|| {
                    BuildError::Context(format!(
                        "unable to find group {g}: no matching entries in group file"
                    ))
                })?,
        };
    }
    Ok((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_resolve_inside_the_root() -> std::result::Result<(), Box<dyn std::error::Error>> {
        let d = tempfile::tempdir()?;
        let root = d.path();
        fs::create_dir_all(root.join("usr/bin"))?;
        std::os::unix::fs::symlink("usr/bin", root.join("bin"))?;
        std::os::unix::fs::symlink("/etc", root.join("usr/escape"))?;
        std::os::unix::fs::symlink("../../../../..", root.join("usr/up"))?;
        assert_eq!(resolve_in(root, "/bin/sh", true)?, root.join("usr/bin/sh"));
        assert_eq!(
            resolve_in(root, "usr/escape/passwd", true)?,
            root.join("etc/passwd")
        );
        assert_eq!(resolve_in(root, "/usr/up/x", true)?, root.join("x"));
        assert_eq!(resolve_in(root, "/bin", false)?, root.join("bin"));
        Ok(())
    }

    #[test]
    fn copy_sets_owner_mode_and_keeps_content(
    ) -> std::result::Result<(), Box<dyn std::error::Error>> {
        let d = tempfile::tempdir()?;
        let src = d.path().join("src");
        fs::create_dir_all(src.join("sub"))?;
        fs::write(src.join("sub/f"), "hello")?;
        fs::write(src.join("skipme"), "x")?;
        let root = d.path().join("root");
        fs::create_dir_all(&root)?;
        let me = (
            rustix::process::getuid().as_raw(),
            rustix::process::getgid().as_raw(),
        );
        let attrs = Attrs {
            uid: me.0,
            gid: me.1,
            mode: Some(0o640),
            keep_owner: false,
        };
        copy_into(&src, &root, "/app/", attrs, &|r| {
            if r == "skipme" {
                Skip::All
            } else {
                Skip::Keep
            }
        })?;
        assert_eq!(fs::read_to_string(root.join("app/sub/f"))?, "hello");
        assert!(!root.join("app/skipme").exists());
        assert_eq!(fs::metadata(root.join("app/sub/f"))?.mode() & 0o7777, 0o640);
        let mut a = Sha256::new();
        let mut b = Sha256::new();
        hash_tree(&mut a, &src, "", &|r| {
            if r == "skipme" {
                Skip::All
            } else {
                Skip::Keep
            }
        })?;
        fs::write(src.join("skipme"), "changed")?;
        hash_tree(&mut b, &src, "", &|r| {
            if r == "skipme" {
                Skip::All
            } else {
                Skip::Keep
            }
        })?;
        assert_eq!(a.finalize(), b.finalize());
        Ok(())
    }
}
