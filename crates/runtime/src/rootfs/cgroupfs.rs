//! Planning a `cgroup` mount (config.json `"type": "cgroup"`): what the
//! container sees at /sys/fs/cgroup, shaped like the host's layout.
//!
//! - Pure v2 host: one cgroup2 mount (fresh inside a cgroup namespace,
//!   else a bind of the container's own cgroup directory).
//! - v1 or hybrid host: a tmpfs, then one mount per host hierarchy under
//!   it (fresh `cgroup -o <controllers>` mounts inside a cgroup namespace,
//!   which the kernel roots at the container's cgroup; binds of the
//!   container's directories otherwise), the host's symlinks (`cpu,cpuacct`
//!   style), and the tmpfs remounted read-only last if asked.
//!
//! The layout is read here from /proc/self/mountinfo; cgroup management
//! itself lives in [`crate::cgroups`].

use std::ffi::{c_ulong, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{Op, RelPath, TargetKind};

/// Inputs for one cgroup mount.
pub struct CgroupMountInput<'a> {
    pub dest: &'a Path,
    pub flags: c_ulong,
    pub new_cgroupns: bool,
    pub new_userns: bool,
    pub cgroup_paths: &'a [(String, PathBuf)],
    /// /proc/self/mountinfo, if the caller has read it already.
    pub mountinfo: Option<&'a str>,
}

/// One cgroup hierarchy mounted on the host under /sys/fs/cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    /// Name under /sys/fs/cgroup (`cpu`, `unified`, `systemd`, ...).
    pub name: String,
    /// `cgroup` or `cgroup2`.
    pub fstype: String,
    /// Controllers / name= options for a v1 mount (`cpu,cpuacct`).
    pub options: String,
}

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Unescapes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses mountinfo text into (mount point, fstype, super options).
pub fn parse_mountinfo(text: &str) -> Vec<(String, String, String)> {
    text.lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let mp = pre.split(' ').nth(4)?;
            let mut post = post.split(' ');
            let fstype = post.next()?;
            let _source = post.next()?;
            let sopts = post.next().unwrap_or("");
            Some((unescape(mp), fstype.to_owned(), sopts.to_owned()))
        })
        .collect()
}

/// The host's hierarchies directly under /sys/fs/cgroup, and whether
/// /sys/fs/cgroup itself is a cgroup2 mount (pure v2).
pub fn host_layout(mountinfo: &str) -> (bool, Vec<Hierarchy>) {
    let mut pure_v2 = false;
    let mut out: Vec<Hierarchy> = Vec::new();
    for (mp, fstype, sopts) in parse_mountinfo(mountinfo) {
        if mp == CGROUP_ROOT {
            // A later mount on the same point hides earlier ones.
            pure_v2 = fstype == "cgroup2";
            if pure_v2 {
                out.clear();
            }
            continue;
        }
        let Some(name) = mp.strip_prefix("/sys/fs/cgroup/") else {
            continue;
        };
        if name.contains('/') || (fstype != "cgroup" && fstype != "cgroup2") {
            continue;
        }
        let options = sopts
            .split(',')
            .filter(|o| !matches!(*o, "rw" | "ro") && !o.starts_with("release_agent"))
            .collect::<Vec<_>>()
            .join(",");
        out.retain(|h| h.name != name);
        out.push(Hierarchy {
            name: name.to_owned(),
            fstype,
            options,
        });
    }
    (pure_v2, out)
}

fn c(b: &[u8]) -> Result<CString, String> {
    CString::new(b).map_err(|_| "path contains a NUL byte".to_owned())
}

/// The container's directory in the hierarchy mounted at `mountpoint`.
fn own_dir(paths: &[(String, PathBuf)], mountpoint: &Path) -> Option<PathBuf> {
    paths
        .iter()
        .map(|(_, p)| p)
        .find(|p| p.starts_with(mountpoint))
        .cloned()
}

/// Plans the operations for one cgroup mount.
pub fn plan(input: &CgroupMountInput<'_>) -> Result<Vec<Op>, String> {
    let read;
    let mountinfo = match input.mountinfo {
        Some(text) => text,
        None => {
            read = crate::cgroups::read_mountinfo()
                .map_err(|e| format!("reading /proc/self/mountinfo: {e}"))?;
            &read
        }
    };
    let (pure_v2, hierarchies) = host_layout(mountinfo);
    let sub_flags = input.flags | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    let dest = RelPath::from_clean(input.dest);
    let mut ops = Vec::new();

    if pure_v2 {
        ops.push(one(
            input,
            &dest,
            "cgroup2",
            "",
            Path::new(CGROUP_ROOT),
            sub_flags,
        )?);
        return Ok(ops);
    }
    if hierarchies.is_empty() {
        return Err("the host has no cgroup hierarchy under /sys/fs/cgroup".into());
    }
    ops.push(Op::Mount {
        dest: dest.clone(),
        kind: TargetKind::Dir,
        source: Some(c(b"tmpfs")?),
        fstype: Some(c(b"tmpfs")?),
        flags: libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        data: Some(c(b"mode=755")?),
        remount: None,
        propagation: Vec::new(),
        tree: -1,
    });
    for h in &hierarchies {
        let sub = input.dest.join(&h.name);
        let mountpoint = Path::new(CGROUP_ROOT).join(&h.name);
        ops.push(one(
            input,
            &RelPath::from_clean(&sub),
            &h.fstype,
            &h.options,
            &mountpoint,
            sub_flags,
        )?);
    }
    if let Ok(entries) = std::fs::read_dir(CGROUP_ROOT) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_symlink()) {
                if let Ok(target) = std::fs::read_link(e.path()) {
                    ops.push(Op::Symlink {
                        target: c(target.as_os_str().as_bytes())?,
                        link: RelPath::from_clean(&input.dest.join(e.file_name())),
                    });
                }
            }
        }
    }
    if input.flags & libc::MS_RDONLY != 0 {
        ops.push(Op::Remount {
            dest,
            flags: libc::MS_REMOUNT
                | libc::MS_RDONLY
                | libc::MS_NOSUID
                | libc::MS_NODEV
                | libc::MS_NOEXEC,
        });
    }
    Ok(ops)
}

/// One hierarchy: a fresh mount where the kernel allows it and the
/// container has its own cgroup namespace, else a bind of its directory.
fn one(
    input: &CgroupMountInput<'_>,
    dest: &RelPath,
    fstype: &str,
    options: &str,
    mountpoint: &Path,
    flags: c_ulong,
) -> Result<Op, String> {
    // v1 hierarchies cannot be mounted from a user namespace.
    let fresh = input.new_cgroupns && (fstype == "cgroup2" || !input.new_userns);
    if fresh {
        return Ok(Op::Mount {
            dest: dest.clone(),
            kind: TargetKind::Dir,
            source: Some(c(fstype.as_bytes())?),
            fstype: Some(c(fstype.as_bytes())?),
            flags,
            data: (!options.is_empty())
                .then(|| c(options.as_bytes()))
                .transpose()?,
            remount: None,
            propagation: Vec::new(),
            tree: -1,
        });
    }
    let src = own_dir(input.cgroup_paths, mountpoint).unwrap_or_else(|| mountpoint.to_path_buf());
    Ok(Op::Mount {
        dest: dest.clone(),
        kind: TargetKind::Dir,
        source: Some(c(src.as_os_str().as_bytes())?),
        fstype: None,
        flags: libc::MS_BIND | libc::MS_REC,
        data: None,
        remount: Some(libc::MS_BIND | libc::MS_REMOUNT | flags),
        propagation: Vec::new(),
        tree: -1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 23 0:40 / /mnt/with\\040space rw - tmpfs tmpfs rw
";

    #[test]
    fn reads_hybrid_and_v2_layouts() {
        let (v2, h) = host_layout(HYBRID);
        assert!(!v2);
        let names: Vec<_> = h
            .iter()
            .map(|h| (h.name.as_str(), h.options.as_str()))
            .collect();
        assert_eq!(
            names,
            [("cpu", "cpu"), ("systemd", "name=systemd"), ("unified", "")]
        );
        let (v2, h) =
            host_layout("30 23 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n");
        assert!(v2);
        assert!(h.is_empty());
        let all = parse_mountinfo(HYBRID);
        assert_eq!(all.last().map(|m| m.0.as_str()), Some("/mnt/with space"));
    }
}
