//! `cp` (both ways, through the archive endpoints) and `export`.

use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use base64::Engine;
use clap::Args;

use super::Ctx;
use crate::client::{http::Body, tty};

#[derive(Args)]
pub struct CpArgs {
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    follow_link: bool,
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long)]
    archive: bool,
    /// Suppress progress output during copy
    #[arg(short = 'q', long)]
    quiet: bool,
    /// CONTAINER:SRC_PATH or SRC_PATH or -
    src: String,
    /// CONTAINER:DEST_PATH or DEST_PATH or -
    dest: String,
}

#[derive(Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    output: Option<String>,
    container: String,
}

/// `CONTAINER:PATH` splits; a local path (with `/` before any `:`, or
/// none at all) does not.
pub fn split_container_path(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    let (c, p) = arg.split_once(':')?;
    if c.is_empty() || c.contains('/') {
        return None;
    }
    Some((c, p))
}

/// Go's `os.ModeDir` bit in the path-stat header's mode.
const GO_MODE_DIR: u64 = 1 << 31;

fn container_path_is_dir(cx: &Ctx, container: &str, path: &str) -> anyhow::Result<Option<bool>> {
    match cx.client.request(
        "HEAD",
        &format!("/containers/{container}/archive"),
        &[("path", path.to_owned())],
        Body::Empty,
    ) {
        Ok(resp) => {
            let stat = resp
                .header("X-Docker-Container-Path-Stat")
                .and_then(|h| base64::engine::general_purpose::STANDARD.decode(h).ok())
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
            let mode = stat
                .as_ref()
                .and_then(|s| s.get("mode"))
                .and_then(|m| m.as_u64())
                .unwrap_or(0);
            Ok(Some(mode & GO_MODE_DIR != 0))
        }
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn basename(p: &str) -> String {
    Path::new(p.trim_end_matches('/'))
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| ".".into())
}

fn parent_of(p: &str) -> String {
    let trimmed = p.trim_end_matches('/');
    match Path::new(trimmed).parent() {
        Some(par) if !par.as_os_str().is_empty() => par.to_string_lossy().into_owned(),
        _ => {
            if p.starts_with('/') {
                "/".into()
            } else {
                ".".into()
            }
        }
    }
}

/// An entry path with its first component renamed to `top`; refuses any
/// path that could leave the destination (`..`, absolute).
pub fn renamed_entry(path: &Path, top: Option<&str>) -> anyhow::Result<PathBuf> {
    let mut out = PathBuf::new();
    for (i, c) in path.components().enumerate() {
        match c {
            Component::Normal(n) => {
                if i == 0 || (i == 1 && out.as_os_str().is_empty()) {
                    out.push(top.map(std::ffi::OsStr::new).unwrap_or(n));
                } else {
                    out.push(n);
                }
            }
            Component::CurDir => {}
            _ => bail!("archive entry {path:?} would leave the destination"),
        }
    }
    Ok(out)
}

fn copy_from_container(cx: &Ctx, container: &str, src: &str, dest: &str) -> anyhow::Result<()> {
    let resp = cx.client.request(
        "GET",
        &format!("/containers/{container}/archive"),
        &[("path", src.to_owned())],
        Body::Empty,
    )?;
    let mut body = resp.body;
    if dest == "-" {
        std::io::copy(&mut body, &mut std::io::stdout().lock())?;
        return Ok(());
    }
    let dest_path = Path::new(dest);
    let (root, top) = if dest_path.is_dir() {
        (dest_path.to_path_buf(), None)
    } else {
        if dest.ends_with('/') {
            bail!("destination directory {dest:?} must exist");
        }
        (PathBuf::from(parent_of(dest)), Some(basename(dest)))
    };
    if !root.is_dir() {
        bail!("destination directory {} does not exist", root.display());
    }
    let mut archive = tar::Archive::new(body);
    archive.set_preserve_permissions(true);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let rel = renamed_entry(&entry.path()?, top.as_deref())?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        let target = root.join(&rel);
        entry
            .unpack(&target)
            .with_context(|| format!("extracting {}", target.display()))?;
    }
    Ok(())
}

fn copy_to_container(
    cx: &Ctx,
    src: &str,
    container: &str,
    dest: &str,
    follow: bool,
) -> anyhow::Result<()> {
    let (dir, name): (String, Option<String>) = match container_path_is_dir(cx, container, dest)? {
        Some(true) => (dest.to_owned(), None),
        Some(false) if src != "-" && Path::new(src).is_dir() => {
            bail!("cannot copy a directory to a file: {dest}")
        }
        Some(false) | None => {
            if dest.ends_with('/') {
                bail!("destination directory {dest:?} does not exist in the container");
            }
            (parent_of(dest), Some(basename(dest)))
        }
    };
    let body: Box<dyn Read + Send> = if src == "-" {
        Box::new(std::io::stdin())
    } else {
        let meta = if follow {
            std::fs::metadata(src)
        } else {
            std::fs::symlink_metadata(src)
        };
        meta.with_context(|| format!("could not find the file {src} in the local filesystem"))?;
        let (reader, writer) = std::io::pipe()?;
        let src = PathBuf::from(src);
        let entry_name = name.unwrap_or_else(|| basename(&src.to_string_lossy()));
        std::thread::spawn(move || -> std::io::Result<()> {
            let mut b = tar::Builder::new(writer);
            b.follow_symlinks(follow);
            if src.is_dir() {
                b.append_dir_all(&entry_name, &src)?;
            } else {
                b.append_path_with_name(&src, &entry_name)?;
            }
            b.into_inner()?.flush()
        });
        Box::new(reader)
    };
    cx.client
        .request(
            "PUT",
            &format!("/containers/{container}/archive"),
            &[("path", dir)],
            Body::Stream(body, "application/x-tar"),
        )?
        .read_all()?;
    Ok(())
}

pub fn cp(cx: &Ctx, a: CpArgs) -> anyhow::Result<i32> {
    let _ = (a.archive, a.quiet);
    match (split_container_path(&a.src), split_container_path(&a.dest)) {
        (Some((c, p)), None) => copy_from_container(cx, c, p, &a.dest)?,
        (None, Some((c, p))) => copy_to_container(cx, &a.src, c, p, a.follow_link)?,
        (Some(_), Some(_)) => bail!("copying between containers is not supported"),
        (None, None) => bail!("must specify at least one container source"),
    }
    Ok(0)
}

/// Where an archive goes: a file with `-o`, else stdout unless it is a
/// terminal (docker refuses that too).
pub fn archive_output(path: Option<&str>, what: &str) -> anyhow::Result<Box<dyn Write>> {
    match path {
        Some(p) if p != "-" => {
            Ok(Box::new(std::fs::File::create(p).with_context(|| {
                format!("failed to export {what}: create {p}")
            })?))
        }
        _ => {
            if tty::is_terminal(std::os::fd::AsFd::as_fd(&std::io::stdout())) {
                return Err(anyhow!(
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect"
                ));
            }
            Ok(Box::new(std::io::stdout()))
        }
    }
}

pub fn export(cx: &Ctx, a: ExportArgs) -> anyhow::Result<i32> {
    let mut out = archive_output(a.output.as_deref(), "container")?;
    let resp = cx.client.request(
        "GET",
        &format!("/containers/{}/export", a.container),
        &[],
        Body::Empty,
    )?;
    let mut body = resp.body;
    std::io::copy(&mut body, &mut out)?;
    out.flush()?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths_split_only_on_container_names() {
        assert_eq!(
            split_container_path("web:/etc/hosts"),
            Some(("web", "/etc/hosts"))
        );
        assert_eq!(split_container_path("/tmp/a:b"), None);
        assert_eq!(split_container_path("./x:y"), None);
        assert_eq!(split_container_path("file.txt"), None);
        assert_eq!(split_container_path("dir/x:y"), None);
    }

    #[test]
    fn entries_are_renamed_and_kept_inside() {
        assert_eq!(
            renamed_entry(Path::new("hosts"), Some("h2")).unwrap(),
            PathBuf::from("h2")
        );
        assert_eq!(
            renamed_entry(Path::new("etc/a/b"), Some("x")).unwrap(),
            PathBuf::from("x/a/b")
        );
        assert_eq!(
            renamed_entry(Path::new("./etc/a"), None).unwrap(),
            PathBuf::from("etc/a")
        );
        assert!(renamed_entry(Path::new("etc/../../x"), None).is_err());
        assert!(renamed_entry(Path::new("/abs"), None).is_err());
    }

    #[test]
    fn parents_and_basenames() {
        assert_eq!(parent_of("/a/b"), "/a");
        assert_eq!(parent_of("/a"), "/");
        assert_eq!(parent_of("b"), ".");
        assert_eq!(basename("/a/b/"), "b");
    }
}
