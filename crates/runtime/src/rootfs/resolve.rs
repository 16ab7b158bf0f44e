//! Resolving a container path inside the rootfs the way the container will
//! see it: symlinks followed with the rootfs as `/` (absolute targets
//! restart at the rootfs, `..` stops at it), like runc's securejoin.
//!
//! Done in the parent before clone, on the image as it is on disk, so a
//! dangling link such as `/evil -> ../../../host/dir` becomes the plain
//! path `host/dir` under the rootfs and the child creates it there. The
//! child still opens every target with `openat2(RESOLVE_IN_ROOT)`, so a
//! link that appears later cannot escape either.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// Links followed before giving up (the kernel's limit is 40 per lookup).
const MAX_LINKS: u32 = 255;

/// Resolves `path` (a container path) inside `rootfs`; returns the
/// symlink-free path relative to the container's `/` (absolute, cleaned).
/// With `follow_last` false, a symlink in the final component is kept.
pub fn in_root(rootfs: &Path, path: &Path, follow_last: bool) -> PathBuf {
    let mut todo: VecDeque<OsString> = components(path);
    let mut done: Vec<OsString> = Vec::new();
    let mut links = 0;
    while let Some(c) = todo.pop_front() {
        if c == ".." {
            done.pop();
            continue;
        }
        let last = todo.is_empty();
        let mut candidate = rootfs.to_path_buf();
        candidate.extend(&done);
        candidate.push(&c);
        let is_link =
            std::fs::symlink_metadata(&candidate).is_ok_and(|m| m.file_type().is_symlink());
        if is_link && (follow_last || !last) && links < MAX_LINKS {
            links += 1;
            if let Ok(target) = std::fs::read_link(&candidate) {
                if target.is_absolute() {
                    done.clear();
                }
                let mut next = components(&target);
                next.extend(todo);
                todo = next;
                continue;
            }
        }
        done.push(c);
    }
    let mut out = PathBuf::from("/");
    out.extend(done);
    out
}

fn components(p: &Path) -> VecDeque<OsString> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_stay_inside_the_rootfs() -> std::io::Result<()> {
        let tmp = tempfile::tempdir()?;
        let r = tmp.path();
        std::fs::create_dir_all(r.join("var/run"))?;
        symlink("/var/run", r.join("run"))?;
        symlink("../../../../../../etc", r.join("up"))?;
        symlink("/nowhere/deep", r.join("dangling"))?;
        symlink("loop", r.join("loop"))?;
        assert_eq!(
            in_root(r, Path::new("/run/x"), true),
            Path::new("/var/run/x")
        );
        assert_eq!(
            in_root(r, Path::new("/up/passwd"), true),
            Path::new("/etc/passwd")
        );
        assert_eq!(
            in_root(r, Path::new("/dangling"), true),
            Path::new("/nowhere/deep")
        );
        assert_eq!(in_root(r, Path::new("/run"), false), Path::new("/run"));
        assert_eq!(in_root(r, Path::new("/a/../b"), true), Path::new("/b"));
        // A loop ends (as a plain name) instead of spinning.
        assert_eq!(in_root(r, Path::new("/loop"), true), Path::new("/loop"));
        Ok(())
    }
}
