//! Unpacking one layer tar into its own directory, safely.
//!
//! Every entry is placed relative to a directory fd opened with `openat2`
//! and `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, so neither `..`, an absolute
//! path, nor a symlink planted by an earlier entry can make the kernel
//! resolve outside the layer directory; names are also checked lexically
//! first, so the error names the offending entry and how it would escape.
//! Symlink entries themselves are created as written: their targets are
//! meaningful only inside the container's root, and nothing here follows them.
//!
//! Docker/OCI whiteouts become overlayfs's form: `.wh.NAME` a 0:0 character
//! device `NAME`, `.wh..wh..opq` the `trusted.overlay.opaque=y` xattr on the
//! directory.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::rc::Rc;

use rustix::fs::{
    AtFlags, FileType, Gid, Mode, OFlags, ResolveFlags, Timespec, Timestamps, Uid, XattrFlags,
};

use crate::error::{ImageError, Result};

/// The whiteout prefix and the opaque-directory marker (OCI image spec,
/// "Whiteouts").
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// See [`WHITEOUT_PREFIX`].
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// The xattr overlayfs reads for an opaque directory.
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Unpacks the tar stream `r` into the existing empty directory `dest`;
/// returns the total size of the regular files written.
pub fn unpack(r: impl Read, dest: &Path) -> Result<u64> {
    let root = open_dir(dest)?;
    let mut archive = tar::Archive::new(r);
    let entries = archive
        .entries()
        .map_err(|e| ImageError::corrupt("layer tar", e))?;
    let mut size = 0u64;
    let mut dir_times: Vec<(Vec<String>, u64)> = Vec::new();
    let mut cached_parent: Option<(Vec<String>, Rc<OwnedFd>)> = None;
    for entry in entries {
        let mut entry = entry.map_err(|e| ImageError::corrupt("layer tar", e))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let comps = components(&raw)?;
        let kind = entry.header().entry_type();
        let Some((leaf, parents)) = comps.split_last() else {
            // "./": the layer root itself; take its metadata.
            if kind.is_dir() {
                apply_meta(&root, ".", &mut entry, &raw, false)?;
                dir_times.push((Vec::new(), mtime(&entry)));
            }
            continue;
        };
        // Consecutive entries mostly share a directory: keep its fd. One
        // slot is enough to stay safe: an entry can only remove children
        // of its own parent, and an entry elsewhere evicts the slot first.
        let parent_fd = match &cached_parent {
            Some((key, fd)) if key.as_slice() == parents => fd.clone(),
            _ => {
                let fd = Rc::new(open_parents(&root, parents, &raw, true)?);
                cached_parent = Some((parents.to_vec(), fd.clone()));
                fd
            }
        };
        let parent: &OwnedFd = &parent_fd;
        if leaf == OPAQUE_MARKER {
            set_xattr(parent, None, OPAQUE_XATTR, b"y", &raw)?;
            continue;
        }
        if let Some(hidden) = leaf.strip_prefix(WHITEOUT_PREFIX) {
            if hidden.starts_with(WHITEOUT_PREFIX) {
                // Other aufs metadata (.wh..wh.plnk, ...): not content.
                continue;
            }
            if hidden.is_empty() || hidden == "." || hidden == ".." {
                return Err(unsafe_entry(&raw, "whiteout of no name"));
            }
            remove_existing(parent, hidden, &raw)?;
            rustix::fs::mknodat(parent, hidden, FileType::CharacterDevice, Mode::empty(), 0)
                .map_err(|e| io_entry("creating whiteout", &raw, e))?;
            continue;
        }
        let existing = rustix::fs::statat(parent, leaf.as_str(), AtFlags::SYMLINK_NOFOLLOW).ok();
        let existing_is_dir =
            existing.is_some_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory);
        if existing.is_some() && !(kind.is_dir() && existing_is_dir) {
            remove_existing(parent, leaf, &raw)?;
        }
        let name = leaf.as_str();
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let fd = rustix::fs::openat(
                    parent,
                    name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|e| io_entry("creating", &raw, e))?;
                let mut f = File::from(fd);
                size += copy_sparse(&mut entry, &mut f)
                    .map_err(|e| ImageError::corrupt(format!("layer entry {raw:?}"), e))?;
            }
            tar::EntryType::Directory => {
                if !existing_is_dir {
                    rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o700))
                        .map_err(|e| io_entry("creating directory", &raw, e))?;
                }
                let mut path = parents.to_vec();
                path.push(leaf.clone());
                dir_times.push((path, mtime(&entry)));
            }
            tar::EntryType::Symlink => {
                let target = link_name(&entry, &raw)?;
                rustix::fs::symlinkat(target.as_str(), parent, name)
                    .map_err(|e| io_entry("creating symlink", &raw, e))?;
            }
            tar::EntryType::Link => {
                let target = link_name(&entry, &raw)?;
                let tcomps = components(&target).map_err(|e| match e {
                    ImageError::Unsafe { reason, .. } => {
                        unsafe_entry(&raw, format!("hardlink target {target:?}: {reason}"))
                    }
                    other => other,
                })?;
                let Some((tleaf, tparents)) = tcomps.split_last() else {
                    return Err(unsafe_entry(&raw, "hardlink to the layer root"));
                };
                let tparent = open_parents(&root, tparents, &raw, false)?;
                rustix::fs::linkat(&tparent, tleaf.as_str(), parent, name, AtFlags::empty())
                    .map_err(|e| io_entry("creating hardlink", &raw, e))?;
                // A hardlink shares its target's inode and metadata.
                continue;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let h = entry.header();
                let (ft, dev) = match kind {
                    tar::EntryType::Char => (FileType::CharacterDevice, device(h)),
                    tar::EntryType::Block => (FileType::BlockDevice, device(h)),
                    _ => (FileType::Fifo, 0),
                };
                rustix::fs::mknodat(parent, name, ft, Mode::from_raw_mode(0o600), dev)
                    .map_err(|e| io_entry("creating device node", &raw, e))?;
            }
            other => {
                tracing::debug!(entry = %raw, kind = ?other, "skipping layer entry of unhandled kind");
                continue;
            }
        }
        apply_meta(
            parent,
            name,
            &mut entry,
            &raw,
            kind == tar::EntryType::Symlink,
        )?;
    }
    // Directory mtimes last, deepest first: creating entries inside a
    // directory changes its mtime.
    for (path, secs) in dir_times.iter().rev() {
        let (dir, name) = match path.split_last() {
            Some((leaf, parents)) => (open_parents(&root, parents, "", false)?, leaf.as_str()),
            None => (root.try_clone().map_err(ImageError::io("dup", dest))?, "."),
        };
        set_times(&dir, name, *secs)
            .map_err(|e| io_entry("setting times of", &path.join("/"), e))?;
    }
    Ok(size)
}

/// Copies `r` into the new file `f`, leaving runs of zero blocks as holes
/// (sparse files stay sparse; tar's own sparse entries arrive as zeros).
fn copy_sparse(r: &mut impl Read, f: &mut File) -> io::Result<u64> {
    use std::io::{Seek, SeekFrom, Write};
    const BLOCK: usize = 64 * 1024;
    let mut buf = vec![0u8; BLOCK];
    let mut total = 0u64;
    let mut pending_hole = false;
    loop {
        let mut n = 0;
        while n < BLOCK {
            match r.read(&mut buf[n..])? {
                0 => break,
                k => n += k,
            }
        }
        if n == 0 {
            break;
        }
        if n == BLOCK && buf.iter().all(|b| *b == 0) {
            f.seek(SeekFrom::Current(BLOCK as i64))?;
            pending_hole = true;
        } else {
            f.write_all(&buf[..n])?;
            pending_hole = false;
        }
        total += n as u64;
    }
    if pending_hole {
        // A trailing hole: the size comes from set_len, not a write.
        f.set_len(total)?;
    }
    Ok(total)
}

/// The lexical check: relative, no `..` above the root. Returns the
/// components without `.` and empty parts.
fn components(raw: &str) -> Result<Vec<String>> {
    if raw.starts_with('/') {
        return Err(unsafe_entry(raw, "absolute path"));
    }
    let mut out: Vec<String> = Vec::new();
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if out.pop().is_none() {
                    return Err(unsafe_entry(raw, "climbs out of the layer with .."));
                }
            }
            c => out.push(c.to_string()),
        }
    }
    Ok(out)
}

fn open_dir(dest: &Path) -> Result<OwnedFd> {
    rustix::fs::open(
        dest,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| ImageError::io("opening", dest)(e.into()))
}

/// Opens (creating when `create`) each parent directory beneath `root`
/// without following any symlink.
fn open_parents(root: &OwnedFd, parents: &[String], raw: &str, create: bool) -> Result<OwnedFd> {
    let mut cur = root.try_clone().map_err(|e| ImageError::Io {
        op: "dup",
        path: raw.into(),
        source: e,
    })?;
    for (i, comp) in parents.iter().enumerate() {
        let open = |dir: &OwnedFd| {
            rustix::fs::openat2(
                dir,
                comp.as_str(),
                // No O_NOFOLLOW: with it a symlink leaf opens as itself and
                // fails as ENOTDIR; RESOLVE_NO_SYMLINKS refuses it with ELOOP.
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
            )
        };
        let next = match open(&cur) {
            Err(rustix::io::Errno::NOENT) if create => {
                match rustix::fs::mkdirat(&cur, comp.as_str(), Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(io_entry("creating parent of", raw, e)),
                }
                open(&cur)
            }
            r => r,
        };
        cur = match next {
            Ok(fd) => fd,
            Err(rustix::io::Errno::LOOP) | Err(rustix::io::Errno::XDEV) => {
                return Err(unsafe_entry(
                    raw,
                    format!("goes through the symlink {:?}", parents[..=i].join("/")),
                ))
            }
            Err(rustix::io::Errno::NOTDIR) => {
                return Err(ImageError::corrupt(
                    format!("layer entry {raw:?}"),
                    format!("{:?} is not a directory", parents[..=i].join("/")),
                ))
            }
            Err(e) => return Err(io_entry("opening parent of", raw, e)),
        };
    }
    Ok(cur)
}

fn remove_existing(parent: &OwnedFd, name: &str, raw: &str) -> Result<()> {
    let Ok(st) = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) else {
        return Ok(());
    };
    let res = if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        remove_tree(parent, name)
    } else {
        rustix::fs::unlinkat(parent, name, AtFlags::empty())
    };
    res.map_err(|e| io_entry("replacing", raw, e))
}

/// Removes directory `name` beneath `parent` and all it holds, by fd,
/// never following a symlink.
fn remove_tree(parent: &OwnedFd, name: &str) -> rustix::io::Result<()> {
    let dir = rustix::fs::openat2(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
    )?;
    let mut names = Vec::new();
    let mut it = rustix::fs::Dir::read_from(&dir)?;
    while let Some(e) = it.read() {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push((
                e.file_name().to_owned(),
                e.file_type() == FileType::Directory,
            ));
        }
    }
    for (n, is_dir) in names {
        let n = n.to_string_lossy().into_owned();
        if is_dir {
            remove_tree(&dir, &n)?;
        } else {
            rustix::fs::unlinkat(&dir, n.as_str(), AtFlags::empty())?;
        }
    }
    rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR)
}

/// A numeric header field as Go's archive/tar (so dockerd) reads it: one
/// of only NULs and spaces is 0. The tar crate's `Header::new_gnu` leaves
/// the fields a writer does not set so (bollard's tests import such
/// archives); the tar crate alone refuses them.
fn unset_is_zero(field: &[u8], parsed: std::io::Result<u64>) -> std::io::Result<u64> {
    match parsed {
        Err(_) if field.iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
        other => other,
    }
}

fn apply_meta<R: Read>(
    parent: &OwnedFd,
    name: &str,
    entry: &mut tar::Entry<'_, R>,
    raw: &str,
    symlink: bool,
) -> Result<()> {
    let h = entry.header();
    let old = h.as_old();
    let uid = unset_is_zero(&old.uid, h.uid())
        .map_err(|e| ImageError::corrupt(format!("layer entry {raw:?}"), e))?;
    let gid = unset_is_zero(&old.gid, h.gid())
        .map_err(|e| ImageError::corrupt(format!("layer entry {raw:?}"), e))?;
    let mode = unset_is_zero(&old.mode, h.mode().map(u64::from))
        .map_err(|e| ImageError::corrupt(format!("layer entry {raw:?}"), e))?;
    let mode = u32::try_from(mode)
        .map_err(|_| ImageError::corrupt(format!("layer entry {raw:?}"), "mode out of range"))?;
    let (uid, gid) = (
        u32::try_from(uid)
            .map_err(|_| ImageError::corrupt(format!("layer entry {raw:?}"), "uid out of range"))?,
        u32::try_from(gid)
            .map_err(|_| ImageError::corrupt(format!("layer entry {raw:?}"), "gid out of range"))?,
    );
    // chown first: it clears set-id bits that chmod then restores.
    rustix::fs::chownat(
        parent,
        name,
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(|e| io_entry("chown", raw, e))?;
    if !symlink {
        rustix::fs::chmodat(
            parent,
            name,
            Mode::from_raw_mode(mode & 0o7777),
            AtFlags::empty(),
        )
        .map_err(|e| io_entry("chmod", raw, e))?;
    }
    if let Ok(Some(exts)) = entry.pax_extensions() {
        let mut xattrs = Vec::new();
        for ext in exts.flatten() {
            if let Ok(key) = ext.key() {
                if let Some(attr) = key.strip_prefix("SCHILY.xattr.") {
                    // overlayfs's own xattrs (redirect, metacopy, opaque, ...)
                    // from an image would steer the mount; only the unpacker
                    // sets them, from whiteout entries.
                    if attr.starts_with("trusted.overlay.") {
                        tracing::debug!(entry = %raw, xattr = %attr, "dropping an overlayfs xattr from a layer");
                        continue;
                    }
                    xattrs.push((attr.to_string(), ext.value_bytes().to_vec()));
                }
            }
        }
        for (attr, value) in xattrs {
            set_xattr(parent, Some(name), &attr, &value, raw)?;
        }
    }
    if !entry.header().entry_type().is_dir() {
        set_times(parent, name, mtime(entry)).map_err(|e| io_entry("setting times of", raw, e))?;
    }
    Ok(())
}

fn set_xattr(
    parent: &OwnedFd,
    name: Option<&str>,
    attr: &str,
    value: &[u8],
    raw: &str,
) -> Result<()> {
    let err = |e| io_entry("setting xattr on", raw, e);
    let Some(name) = name else {
        // The directory itself: reopen it readable (O_PATH fds take no xattrs).
        let fd = rustix::fs::openat(
            parent,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(err)?;
        return rustix::fs::fsetxattr(&fd, attr, value, XattrFlags::empty()).map_err(err);
    };
    let st = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW).map_err(err)?;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile | FileType::Directory => {
            let fd = rustix::fs::openat(
                parent,
                name,
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(err)?;
            rustix::fs::fsetxattr(&fd, attr, value, XattrFlags::empty()).map_err(err)
        }
        // Symlinks, devices and fifos cannot be opened for this without
        // following or triggering them: through the parent's /proc link,
        // with lsetxattr not following the leaf.
        _ => {
            let path = format!("/proc/self/fd/{}/{name}", parent.as_fd().as_raw_fd());
            rustix::fs::lsetxattr(&path, attr, value, XattrFlags::empty()).map_err(err)
        }
    }
}

fn set_times(dir: &OwnedFd, name: &str, secs: u64) -> rustix::io::Result<()> {
    let t = Timespec {
        tv_sec: i64::try_from(secs).unwrap_or(i64::MAX),
        tv_nsec: 0,
    };
    let ts = Timestamps {
        last_access: t,
        last_modification: t,
    };
    rustix::fs::utimensat(dir, name, &ts, AtFlags::SYMLINK_NOFOLLOW)
}

fn mtime<R: Read>(entry: &tar::Entry<'_, R>) -> u64 {
    entry.header().mtime().unwrap_or(0)
}

fn device(h: &tar::Header) -> rustix::fs::Dev {
    let major = h.device_major().ok().flatten().unwrap_or(0);
    let minor = h.device_minor().ok().flatten().unwrap_or(0);
    rustix::fs::makedev(major, minor)
}

fn link_name<R: Read>(entry: &tar::Entry<'_, R>, raw: &str) -> Result<String> {
    match entry.link_name_bytes() {
        Some(b) if !b.is_empty() => Ok(String::from_utf8_lossy(&b).into_owned()),
        _ => Err(ImageError::corrupt(
            format!("layer entry {raw:?}"),
            "link without a target",
        )),
    }
}

fn unsafe_entry(raw: &str, reason: impl Into<String>) -> ImageError {
    ImageError::Unsafe {
        entry: raw.to_string(),
        reason: reason.into(),
    }
}

fn io_entry(op: &'static str, raw: &str, e: rustix::io::Errno) -> ImageError {
    ImageError::Io {
        op,
        path: raw.into(),
        source: e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// An entry whose header only has a name, a size and a checksum (the
    /// tar crate's `Header::new_gnu` leaves uid, gid and mode all NULs),
    /// as bollard's image import test writes it: dockerd takes it as
    /// root's, mode 0.
    #[test]
    fn unset_numeric_fields_read_as_zero() -> std::result::Result<(), Box<dyn std::error::Error>> {
        let mut h = tar::Header::new_gnu();
        h.set_path("entrypoint.wasm")?;
        h.set_size(0);
        h.set_cksum();
        let mut b = tar::Builder::new(Vec::new());
        b.append(&h, &[][..])?;
        let tar = b.into_inner()?;
        let dir = tempfile::tempdir()?;
        unpack(&tar[..], dir.path())?;
        let md = std::fs::symlink_metadata(dir.path().join("entrypoint.wasm"))?;
        assert!(md.is_file());
        assert_eq!((md.uid(), md.gid(), md.mode() & 0o7777), (0, 0, 0));
        Ok(())
    }

    #[test]
    fn a_garbled_numeric_field_is_still_refused() {
        let mut h = tar::Header::new_gnu();
        let _ = h.set_path("f");
        h.set_size(0);
        h.as_old_mut().uid.copy_from_slice(b"12x4567\0");
        h.set_cksum();
        let mut b = tar::Builder::new(Vec::new());
        let tar = b.append(&h, &[][..]).and_then(|_| b.into_inner());
        let dir = tempfile::tempdir().expect("tempdir");
        let err = unpack(&tar.expect("tar")[..], dir.path()).expect_err("garbled uid");
        assert!(err.to_string().contains("layer entry"), "{err}");
    }
}
