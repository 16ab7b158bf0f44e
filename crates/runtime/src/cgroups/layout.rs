//! Which cgroup hierarchies this host has, found from /proc/self/mountinfo and
//! confirmed per mount with `statfs` magic numbers (a directory named
//! "unified" or "memory" proves nothing: it may be a plain directory on a
//! tmpfs, or shadowed by a later mount).

use std::path::{Path, PathBuf};

use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC};

use super::error::CgroupError;

/// Controllers the v1 kernel knows, to tell them apart from mount options in
/// a cgroup mount's super options ("rw,cpu,cpuacct").
const V1_CONTROLLERS: &[&str] = &[
    "cpuset",
    "cpu",
    "cpuacct",
    "io",
    "blkio",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "perf_event",
    "net_prio",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
    "debug",
];

/// One mounted cgroup v1 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct V1Hierarchy {
    /// Where it is mounted, e.g. /sys/fs/cgroup/cpu,cpuacct.
    pub mountpoint: PathBuf,
    /// The hierarchy path visible at the mountpoint (mountinfo field 4).
    pub root: PathBuf,
    /// Controllers bound to it, including named ones ("name=systemd").
    pub controllers: Vec<String>,
}

impl V1Hierarchy {
    /// True if this hierarchy carries `controller`.
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

/// One mounted cgroup2 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UnifiedMount {
    pub mountpoint: PathBuf,
    pub root: PathBuf,
}

/// The cgroup layout of this host.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Layout {
    /// cgroup v1 hierarchies; `unified` is the cgroup2 mount of a hybrid
    /// host (on this project's machines it only carries hugetlb).
    V1 {
        hierarchies: Vec<V1Hierarchy>,
        unified: Option<UnifiedMount>,
    },
    /// A pure cgroup v2 host: one hierarchy, every controller on it.
    V2(UnifiedMount),
}

impl Layout {
    /// Detects the layout of the current mount namespace.
    pub fn detect() -> Result<Layout, CgroupError> {
        let text = read_mountinfo().map_err(|source| CgroupError::Read {
            path: PathBuf::from(MOUNTINFO),
            source,
        })?;
        Self::from_mountinfo(&text)
    }

    /// As [`detect`](Self::detect), from mountinfo text the caller read
    /// (with [`read_mountinfo`]) to use for other things too.
    pub fn from_mountinfo(text: &str) -> Result<Layout, CgroupError> {
        Self::from_mounts(parse_mountinfo(text), fs_magic)
    }

    /// A pure-v2 layout at `mountpoint` (which must be a cgroup2 mount). Used
    /// to drive the v2 code paths against a hybrid host's cgroup2 mount.
    pub fn v2_at(mountpoint: &Path) -> Result<Layout, CgroupError> {
        match fs_magic(mountpoint) {
            Some(Magic::V2) => Ok(Layout::V2(UnifiedMount {
                mountpoint: mountpoint.to_owned(),
                root: PathBuf::from("/"),
            })),
            _ => Err(CgroupError::InvalidPath {
                path: mountpoint.display().to_string(),
                reason: "not a cgroup2 mount",
            }),
        }
    }

    /// True for a pure v2 host.
    pub fn is_v2(&self) -> bool {
        matches!(self, Layout::V2(_))
    }

    /// The cgroup2 mount, if any (pure v2, or the hybrid's unified mount).
    pub fn unified(&self) -> Option<&UnifiedMount> {
        match self {
            Layout::V1 { unified, .. } => unified.as_ref(),
            Layout::V2(u) => Some(u),
        }
    }

    /// Builds the layout from parsed mounts, `magic` telling what filesystem
    /// really sits at a path (a seam so the logic is testable without root).
    pub(crate) fn from_mounts(
        mounts: Vec<MountEntry>,
        magic: impl Fn(&Path) -> Option<Magic>,
    ) -> Result<Layout, CgroupError> {
        let mut hierarchies: Vec<V1Hierarchy> = Vec::new();
        let mut unified: Vec<UnifiedMount> = Vec::new();
        // A later mount at the same mountpoint hides an earlier one.
        let mut seen: Vec<&Path> = Vec::new();
        for m in mounts.iter().rev() {
            if seen.contains(&m.mountpoint.as_path()) {
                continue;
            }
            seen.push(&m.mountpoint);
            match (m.fstype.as_str(), magic(&m.mountpoint)) {
                ("cgroup", Some(Magic::V1)) => {
                    let controllers: Vec<String> = m
                        .super_options
                        .split(',')
                        .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
                        .map(str::to_owned)
                        .collect();
                    if controllers.is_empty() {
                        continue;
                    }
                    let h = V1Hierarchy {
                        mountpoint: m.mountpoint.clone(),
                        root: m.root.clone(),
                        controllers,
                    };
                    // The same hierarchy mounted twice: keep the preferred one.
                    match hierarchies
                        .iter_mut()
                        .find(|o| o.controllers == h.controllers)
                    {
                        Some(o) if preferred(&h.mountpoint, &h.root, &o.mountpoint, &o.root) => {
                            *o = h
                        }
                        Some(_) => {}
                        None => hierarchies.push(h),
                    }
                }
                ("cgroup2", Some(Magic::V2)) => unified.push(UnifiedMount {
                    mountpoint: m.mountpoint.clone(),
                    root: m.root.clone(),
                }),
                _ => {}
            }
        }
        hierarchies.sort_by(|a, b| a.mountpoint.cmp(&b.mountpoint));
        unified.sort_by(|a, b| {
            if preferred(&a.mountpoint, &a.root, &b.mountpoint, &b.root) {
                std::cmp::Ordering::Less
            } else {
                std::cmp::Ordering::Greater
            }
        });
        let unified = unified.into_iter().next();
        let has_real_v1 = hierarchies
            .iter()
            .any(|h| h.controllers.iter().any(|c| !c.starts_with("name=")));
        if has_real_v1 {
            Ok(Layout::V1 {
                hierarchies,
                unified,
            })
        } else if let Some(u) = unified {
            Ok(Layout::V2(u))
        } else {
            Err(CgroupError::NoHierarchy)
        }
    }
}

const MOUNTINFO: &str = "/proc/self/mountinfo";

/// Reads /proc/self/mountinfo. procfs reports a size of 0, so a plain
/// `read_to_string` would start from a 32-byte buffer and need a read per
/// doubling; one page-sized buffer takes a typical table in one or two.
pub fn read_mountinfo() -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::with_capacity(16 * 1024);
    std::fs::File::open(MOUNTINFO)?.read_to_string(&mut text)?;
    Ok(text)
}

/// Prefers mounts under /sys/fs/cgroup and mounts of the hierarchy's root.
fn preferred(a: &Path, a_root: &Path, b: &Path, b_root: &Path) -> bool {
    let score = |p: &Path, r: &Path| {
        (p.starts_with("/sys/fs/cgroup") as u8) * 2 + (r == Path::new("/")) as u8
    };
    score(a, a_root) > score(b, b_root)
}

/// What `statfs` says a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Magic {
    V1,
    V2,
    Other,
}

pub(crate) fn fs_magic(path: &Path) -> Option<Magic> {
    let st = statfs(path).ok()?;
    let t = st.filesystem_type();
    Some(if t == CGROUP_SUPER_MAGIC {
        Magic::V1
    } else if t == CGROUP2_SUPER_MAGIC {
        Magic::V2
    } else {
        Magic::Other
    })
}

/// The fields of a mountinfo line this module needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountEntry {
    pub root: PathBuf,
    pub mountpoint: PathBuf,
    pub fstype: String,
    pub super_options: String,
}

/// Parses /proc/self/mountinfo, keeping only cgroup and cgroup2 mounts.
pub(crate) fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let pre: Vec<&str> = pre.split(' ').collect();
            let mut post = post.split(' ');
            let fstype = post.next()?;
            if fstype != "cgroup" && fstype != "cgroup2" {
                return None;
            }
            let _source = post.next()?;
            let super_options = post.next().unwrap_or("");
            Some(MountEntry {
                root: PathBuf::from(unescape(pre.get(3)?)),
                mountpoint: PathBuf::from(unescape(pre.get(4)?)),
                fstype: fstype.to_owned(),
                super_options: super_options.to_owned(),
            })
        })
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` for a space, `\134` for `\`).
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let oct = &bytes[i + 1..i + 4];
            if oct.iter().all(|b| (b'0'..=b'7').contains(b)) {
                let v = oct
                    .iter()
                    .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
                if let Ok(v) = u8::try_from(v) {
                    out.push(v);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a panic is the failure report
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    fn magic_by_name(p: &Path) -> Option<Magic> {
        Some(
            if p.ends_with("unified") || p == Path::new("/sys/fs/cgroup") {
                Magic::V2
            } else {
                Magic::V1
            },
        )
    }

    #[test]
    fn hybrid_is_v1_with_unified() {
        let layout = Layout::from_mounts(parse_mountinfo(HYBRID), magic_by_name).unwrap();
        let Layout::V1 {
            hierarchies,
            unified,
        } = layout
        else {
            panic!("expected v1, got {layout:?}");
        };
        assert_eq!(hierarchies.len(), 4);
        assert!(hierarchies.iter().any(|h| h.has("name=systemd")));
        assert!(hierarchies
            .iter()
            .any(|h| h.has("cpuacct") && !h.has("cpu")));
        assert_eq!(
            unified.unwrap().mountpoint,
            PathBuf::from("/sys/fs/cgroup/unified")
        );
    }

    #[test]
    fn statfs_overrides_fstype_label() {
        // The mountinfo says cgroup, but statfs finds something else there
        // (shadowed): it must not count.
        let layout = Layout::from_mounts(parse_mountinfo(HYBRID), |p| {
            if p.ends_with("unified") {
                Some(Magic::V2)
            } else {
                Some(Magic::Other)
            }
        })
        .unwrap();
        assert!(layout.is_v2());
    }

    #[test]
    fn pure_v2() {
        let text = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        let layout = Layout::from_mounts(parse_mountinfo(text), magic_by_name).unwrap();
        assert_eq!(
            layout,
            Layout::V2(UnifiedMount {
                mountpoint: "/sys/fs/cgroup".into(),
                root: "/".into()
            })
        );
    }

    #[test]
    fn only_named_v1_is_still_v2() {
        let text = "\
30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw
31 30 0:27 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd
";
        let layout = Layout::from_mounts(parse_mountinfo(text), |p| {
            Some(if p.ends_with("systemd") {
                Magic::V1
            } else {
                Magic::V2
            })
        })
        .unwrap();
        assert!(layout.is_v2());
    }

    #[test]
    fn no_cgroups_is_an_error() {
        let text = "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n";
        assert!(matches!(
            Layout::from_mounts(parse_mountinfo(text), magic_by_name),
            Err(CgroupError::NoHierarchy)
        ));
    }

    #[test]
    fn duplicate_hierarchy_prefers_sys_fs_cgroup() {
        let text = "\
50 23 0:32 /x /mnt/mem rw - cgroup cgroup rw,memory
35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
";
        let layout = Layout::from_mounts(parse_mountinfo(text), |_| Some(Magic::V1)).unwrap();
        let Layout::V1 { hierarchies, .. } = layout else {
            panic!("expected v1");
        };
        assert_eq!(hierarchies.len(), 1);
        assert_eq!(
            hierarchies[0].mountpoint,
            PathBuf::from("/sys/fs/cgroup/memory")
        );
    }

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape(r"/a\040b"), "/a b");
        assert_eq!(unescape(r"/a\134"), r"/a\");
        assert_eq!(unescape(r"/plain"), "/plain");
        assert_eq!(unescape(r"/trail\04"), r"/trail\04");
    }
}
