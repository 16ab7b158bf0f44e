//! Turning config.json's `linux.cgroupsPath` into a directory per hierarchy.
//!
//! As in runc's cgroupfs driver: an absolute path is taken from the root of
//! each hierarchy; a relative one is taken from the cgroup this process is in
//! (per hierarchy, from /proc/self/cgroup). No path means `/<id>`, as runc's
//! cgroupfs driver places it (a shared parent of berth's own cost a mkdir
//! and an rmdir in every v1 hierarchy per container: ~15% of a `run`).

use std::path::{Component, Path, PathBuf};

use super::error::CgroupError;

/// A validated cgroupsPath, with no `.`/`..` and never the root itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CgroupPath {
    absolute: bool,
    /// Normal components only, joined with '/'.
    rel: PathBuf,
}

impl CgroupPath {
    /// Validates `cgroups_path`, or builds the default from `container_id`.
    pub fn parse(cgroups_path: Option<&str>, container_id: &str) -> Result<Self, CgroupError> {
        let raw = match cgroups_path {
            Some(p) if !p.is_empty() => p.to_owned(),
            _ => {
                if container_id.is_empty()
                    || container_id.contains('/')
                    || container_id == "."
                    || container_id == ".."
                {
                    return Err(CgroupError::InvalidPath {
                        path: container_id.to_owned(),
                        reason: "a container id used as a cgroup name must be one non-empty path component",
                    });
                }
                format!("/{container_id}")
            }
        };
        let path = Path::new(&raw);
        let mut rel = PathBuf::new();
        for c in path.components() {
            match c {
                Component::RootDir => {}
                Component::Normal(n) => rel.push(n),
                Component::CurDir | Component::ParentDir | Component::Prefix(_) => {
                    return Err(CgroupError::InvalidPath {
                        path: raw,
                        reason: "'.' and '..' are not allowed (the path could leave its parent)",
                    })
                }
            }
        }
        if rel.as_os_str().is_empty() {
            return Err(CgroupError::InvalidPath {
                path: raw,
                reason: "a container cannot be placed in a hierarchy's root cgroup",
            });
        }
        Ok(CgroupPath {
            absolute: path.is_absolute(),
            rel,
        })
    }

    /// True for a path taken from the hierarchy root.
    pub fn is_absolute(&self) -> bool {
        self.absolute
    }

    /// The path without its leading '/'.
    pub fn relative(&self) -> &Path {
        &self.rel
    }

    /// The directory in a hierarchy mounted at `mountpoint` whose mount shows
    /// hierarchy path `mount_root`, `own` being this process's cgroup there.
    pub(crate) fn dir_in(
        &self,
        mountpoint: &Path,
        mount_root: &Path,
        own: Option<&str>,
    ) -> PathBuf {
        if self.absolute {
            return mountpoint.join(&self.rel);
        }
        let own = Path::new(own.unwrap_or("/"));
        // The mount may show a sub-tree of the hierarchy: strip what is above it.
        let below = own.strip_prefix(mount_root).unwrap_or(own);
        let below = below.strip_prefix("/").unwrap_or(below);
        mountpoint.join(below).join(&self.rel)
    }
}

/// This process's cgroup per hierarchy, from /proc/self/cgroup.
#[derive(Debug, Clone, Default)]
pub(crate) struct OwnCgroups {
    /// (controllers of a v1 hierarchy, path); v2 has empty controllers.
    entries: Vec<(Vec<String>, String)>,
}

impl OwnCgroups {
    pub(crate) fn read() -> Result<Self, CgroupError> {
        let path = Path::new("/proc/self/cgroup");
        let text = std::fs::read_to_string(path).map_err(|source| CgroupError::Read {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self::parse(&text))
    }

    pub(crate) fn parse(text: &str) -> Self {
        let entries = text
            .lines()
            .filter_map(|l| {
                let mut it = l.splitn(3, ':');
                let _id = it.next()?;
                let ctls = it.next()?;
                let path = it.next()?;
                let ctls = ctls
                    .split(',')
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect();
                Some((ctls, path.to_owned()))
            })
            .collect();
        OwnCgroups { entries }
    }

    /// The path in the v1 hierarchy carrying exactly `controllers`.
    pub(crate) fn v1(&self, controllers: &[String]) -> Option<&str> {
        self.entries
            .iter()
            .find(|(c, _)| {
                !c.is_empty()
                    && c.len() == controllers.len()
                    && c.iter().all(|x| controllers.contains(x))
            })
            .map(|(_, p)| p.as_str())
    }

    /// The path in the cgroup2 hierarchy ("0::/path").
    pub(crate) fn v2(&self) -> Option<&str> {
        self.entries
            .iter()
            .find(|(c, _)| c.is_empty())
            .map(|(_, p)| p.as_str())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn default_path_uses_id() {
        let p = CgroupPath::parse(None, "abc").unwrap();
        assert!(p.is_absolute());
        assert_eq!(p.relative(), Path::new("abc"));
        let p = CgroupPath::parse(Some(""), "abc").unwrap();
        assert_eq!(p.relative(), Path::new("abc"));
    }

    #[test]
    fn rejects_escapes_and_root() {
        for bad in ["/a/../b", "..", "/", "//", "./x"] {
            assert!(
                matches!(
                    CgroupPath::parse(Some(bad), "id"),
                    Err(CgroupError::InvalidPath { .. })
                ),
                "{bad} accepted"
            );
        }
        assert!(CgroupPath::parse(None, "a/b").is_err());
        assert!(CgroupPath::parse(None, "..").is_err());
    }

    #[test]
    fn normalises_slashes() {
        let p = CgroupPath::parse(Some("/x//y/"), "id").unwrap();
        assert_eq!(p.relative(), Path::new("x/y"));
    }

    #[test]
    fn absolute_and_relative_dirs() {
        let abs = CgroupPath::parse(Some("/a/b"), "id").unwrap();
        assert_eq!(
            abs.dir_in(
                Path::new("/sys/fs/cgroup/memory"),
                Path::new("/"),
                Some("/own")
            ),
            PathBuf::from("/sys/fs/cgroup/memory/a/b")
        );
        let rel = CgroupPath::parse(Some("a/b"), "id").unwrap();
        assert!(!rel.is_absolute());
        assert_eq!(
            rel.dir_in(
                Path::new("/sys/fs/cgroup/memory"),
                Path::new("/"),
                Some("/own/x")
            ),
            PathBuf::from("/sys/fs/cgroup/memory/own/x/a/b")
        );
        // A mount of a sub-tree: the part above the mount is stripped.
        assert_eq!(
            rel.dir_in(Path::new("/mnt"), Path::new("/own"), Some("/own/x")),
            PathBuf::from("/mnt/x/a/b")
        );
    }

    #[test]
    fn own_cgroups_parse() {
        let own = OwnCgroups::parse(
            "9:name=systemd:/\n4:memory:/process_api/14e6\n2:cpu,cpuacct:/c\n0::/u\n",
        );
        assert_eq!(own.v1(&["memory".into()]), Some("/process_api/14e6"));
        assert_eq!(own.v1(&["cpuacct".into(), "cpu".into()]), Some("/c"));
        assert_eq!(own.v1(&["name=systemd".into()]), Some("/"));
        assert_eq!(own.v1(&["pids".into()]), None);
        assert_eq!(own.v2(), Some("/u"));
    }
}
