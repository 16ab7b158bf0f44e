//! Packing a directory into a layer tar: for `commit` (a container's upper
//! dir, with overlayfs's whiteouts turned back into `.wh.` entries) and
//! `export` (a mounted rootfs as is). Hardlinks are kept as links, xattrs as
//! PAX `SCHILY.xattr.*` records (overlayfs's own `trusted.overlay.*` left
//! out), device nodes with their numbers.
//!
//! The directory should not change while it is packed (the engine pauses or
//! stops the container first, as docker does): entries are read by path and
//! never followed through symlinks.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use crate::error::{ImageError, Result};
use crate::snapshot::unpack::{OPAQUE_MARKER, OPAQUE_XATTR, WHITEOUT_PREFIX};

/// How to read the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackMode {
    /// Everything as it is (an export).
    Plain,
    /// An overlayfs upper dir: 0:0 char devices become `.wh.NAME`, opaque
    /// directories get a `.wh..wh..opq` entry.
    OverlayUpper,
}

/// Writes `dir`'s content as a tar to `out`.
pub fn pack(dir: &Path, out: impl Write, mode: PackMode) -> Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    let mut links = HashMap::new();
    walk(&mut b, dir, "", mode, &mut links)?;
    b.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(ImageError::io("writing tar of", dir))
}

fn walk<W: Write>(
    b: &mut tar::Builder<W>,
    dir: &Path,
    rel: &str,
    mode: PackMode,
    links: &mut HashMap<(u64, u64), String>,
) -> Result<()> {
    let here = if rel.is_empty() {
        dir.to_path_buf()
    } else {
        dir.join(rel)
    };
    let mut names: Vec<String> = fs::read_dir(&here)
        .map_err(ImageError::io("listing", &here))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let rel_path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let path = dir.join(&rel_path);
        let md = fs::symlink_metadata(&path).map_err(ImageError::io("stat", &path))?;
        let ft = md.file_type();
        if mode == PackMode::OverlayUpper && ft.is_char_device() && md.rdev() == 0 {
            let wh = match rel.is_empty() {
                true => format!("{WHITEOUT_PREFIX}{name}"),
                false => format!("{rel}/{WHITEOUT_PREFIX}{name}"),
            };
            let mut h = header(&md, tar::EntryType::Regular);
            h.set_size(0);
            h.set_mode(0o644);
            b.append_data(&mut h, &wh, io::empty())
                .map_err(ImageError::io("writing tar entry", &path))?;
            continue;
        }
        let xattrs = xattrs(&path)?;
        let opaque = mode == PackMode::OverlayUpper
            && ft.is_dir()
            && xattrs.iter().any(|(k, v)| k == OPAQUE_XATTR && v == b"y");
        let kept: Vec<(String, Vec<u8>)> = xattrs
            .into_iter()
            .filter(|(k, _)| !k.starts_with("trusted.overlay."))
            .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v))
            .collect();
        if !kept.is_empty() {
            b.append_pax_extensions(kept.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
                .map_err(ImageError::io("writing tar entry", &path))?;
        }
        let err = ImageError::io("writing tar entry", &path);
        if ft.is_dir() {
            let mut h = header(&md, tar::EntryType::Directory);
            b.append_data(&mut h, format!("{rel_path}/"), io::empty())
                .map_err(err)?;
            if opaque {
                let mut h = header(&md, tar::EntryType::Regular);
                h.set_mode(0o644);
                b.append_data(&mut h, format!("{rel_path}/{OPAQUE_MARKER}"), io::empty())
                    .map_err(ImageError::io("writing tar entry", &path))?;
            }
            walk(b, dir, &rel_path, mode, links)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&path).map_err(ImageError::io("reading link", &path))?;
            let mut h = header(&md, tar::EntryType::Symlink);
            b.append_link(&mut h, &rel_path, &target).map_err(err)?;
        } else if ft.is_file() {
            let key = (md.dev(), md.ino());
            if md.nlink() > 1 {
                if let Some(first) = links.get(&key) {
                    let mut h = header(&md, tar::EntryType::Link);
                    h.set_size(0);
                    b.append_link(&mut h, &rel_path, first).map_err(err)?;
                    continue;
                }
                links.insert(key, rel_path.clone());
            }
            let mut h = header(&md, tar::EntryType::Regular);
            h.set_size(md.len());
            let f = fs::File::open(&path).map_err(ImageError::io("opening", &path))?;
            b.append_data(&mut h, &rel_path, f).map_err(err)?;
        } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
            let kind = if ft.is_char_device() {
                tar::EntryType::Char
            } else if ft.is_block_device() {
                tar::EntryType::Block
            } else {
                tar::EntryType::Fifo
            };
            let mut h = header(&md, kind);
            if kind != tar::EntryType::Fifo {
                let dev = md.rdev();
                h.set_device_major(rustix::fs::major(dev))
                    .map_err(ImageError::io("writing tar entry", &path))?;
                h.set_device_minor(rustix::fs::minor(dev))
                    .map_err(ImageError::io("writing tar entry", &path))?;
            }
            b.append_data(&mut h, &rel_path, io::empty()).map_err(err)?;
        }
        // Sockets are not content.
    }
    Ok(())
}

fn header(md: &fs::Metadata, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(md.mode() & 0o7777);
    h.set_uid(u64::from(md.uid()));
    h.set_gid(u64::from(md.gid()));
    h.set_mtime(u64::try_from(md.mtime()).unwrap_or(0));
    h.set_size(0);
    h
}

fn xattrs(path: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut names = vec![0u8; 4096];
    let n = match rustix::fs::llistxattr(path, &mut names) {
        Ok(n) => n,
        Err(rustix::io::Errno::NOTSUP) => return Ok(Vec::new()),
        Err(e) => return Err(ImageError::io("listing xattrs of", path)(e.into())),
    };
    let mut out = Vec::new();
    for name in names[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name).into_owned();
        let mut val = vec![0u8; 64 * 1024];
        match rustix::fs::lgetxattr(path, name.as_str(), &mut val) {
            Ok(len) => {
                val.truncate(len);
                out.push((name, val));
            }
            Err(rustix::io::Errno::NODATA) => {}
            Err(e) => return Err(ImageError::io("reading xattrs of", path)(e.into())),
        }
    }
    Ok(out)
}
