//! Lexical handling of paths inside the container: cleaned, made absolute,
//! and refused when `..` would climb above the container's root.
//!
//! Symlinks are not followed here; the child resolves them at mount time
//! with `openat2(RESOLVE_IN_ROOT)`, which keeps them inside the rootfs.

use std::path::{Component, Path, PathBuf};

/// A path whose `..` components climb above `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathEscapes;

/// Cleans a container path: relative paths are taken relative to `/` (as
/// runc does for pre-1.0 configs), `.` and repeated slashes dropped, `..`
/// applied. Returns the absolute cleaned path, or [`PathEscapes`] when `..`
/// would go above `/`.
pub fn clean_container_path(p: &Path) -> Result<PathBuf, PathEscapes> {
    let mut out: Vec<&std::ffi::OsStr> = Vec::new();
    for c in p.components() {
        match c {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                if out.pop().is_none() {
                    return Err(PathEscapes);
                }
            }
            Component::Normal(n) => out.push(n),
        }
    }
    let mut clean = PathBuf::from("/");
    for n in out {
        clean.push(n);
    }
    Ok(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_and_refuses_escapes() {
        let ok = |s: &str| clean_container_path(Path::new(s));
        assert_eq!(ok("/proc"), Ok(PathBuf::from("/proc")));
        assert_eq!(ok("dev//shm/."), Ok(PathBuf::from("/dev/shm")));
        assert_eq!(ok("/a/b/../c"), Ok(PathBuf::from("/a/c")));
        assert_eq!(ok("/"), Ok(PathBuf::from("/")));
        assert_eq!(ok("/../etc"), Err(PathEscapes));
        assert_eq!(ok("/a/../../etc"), Err(PathEscapes));
        assert_eq!(ok("../../x"), Err(PathEscapes));
    }
}
