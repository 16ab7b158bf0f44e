//! Deciding how the child gets its namespaces, before clone.
//!
//! Fast path (no namespace joined by path, no time namespace): every new
//! namespace comes from the clone flags, and the clone child is the
//! container's init. Slow path: the clone child joins the namespaces named
//! by path (user first, as runc does, so the others are joined with the
//! capabilities of that user namespace), unshares the new ones, and when a
//! PID or time namespace only applies to children, forks once more
//! (CLONE_PARENT, so the init is still our child) and exits.
//!
//! A new cgroup namespace is always unshared after the parent has moved the
//! process into its cgroup, so the namespace is rooted there.

use std::ffi::c_int;
use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Linux, LinuxNamespaceType};

/// How the child gets its namespaces.
#[derive(Debug, Default)]
pub struct NsPlan {
    /// CLONE_NEW* flags given to clone itself (fast path).
    pub clone_flags: c_int,
    /// Namespace files to setns into, in order (descriptor, CLONE_NEW* type).
    pub setns: Vec<(RawFd, c_int)>,
    /// Human names of `setns` entries, for errors.
    pub setns_names: Vec<String>,
    /// New namespaces the child unshares itself (slow path; no cgroup).
    pub unshare_flags: c_int,
    /// Unshare a cgroup namespace after joining the cgroup.
    pub new_cgroup: bool,
    /// Fork after the namespaces (a PID or time namespace applies to
    /// children only).
    pub fork: bool,
    /// A new user namespace: the parent writes the id maps.
    pub new_user: bool,
    /// A user namespace joined by path: the child becomes its root right
    /// after joining (its host uid is not mapped there).
    pub joined_user: bool,
    /// Contents for /proc/self/timens_offsets, written before the fork.
    pub time_offsets: Option<Vec<u8>>,
    /// Holds the namespace files open until the plan is dropped.
    pub files: Vec<File>,
}

/// Why namespaces could not be planned.
#[derive(Debug, thiserror::Error)]
pub enum NsError {
    #[error("opening {kind} namespace {path}: {source}")]
    Open {
        kind: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a {kind} namespace")]
    WrongType { kind: String, path: PathBuf },
}

/// CLONE_NEW* flag of a namespace type.
pub fn flag(t: LinuxNamespaceType) -> c_int {
    match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => libc::CLONE_NEWTIME,
    }
}

/// Name of a namespace type as config.json spells it.
pub fn name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "network",
        LinuxNamespaceType::Time => "time",
    }
}

/// ioctl(NS_GET_NSTYPE): the CLONE_NEW* type of a namespace file.
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;

/// Opens a namespace file and checks it is of type `t`.
pub fn open_ns(path: &Path, t: LinuxNamespaceType) -> Result<File, NsError> {
    let f = File::open(path).map_err(|source| NsError::Open {
        kind: name(t).to_owned(),
        path: path.to_path_buf(),
        source,
    })?;
    // SAFETY: NS_GET_NSTYPE takes no argument and returns the type.
    // (The request is c_ulong on glibc, c_int on musl.)
    let ty = unsafe { libc::ioctl(f.as_raw_fd(), NS_GET_NSTYPE as _) };
    if ty != flag(t) {
        return Err(NsError::WrongType {
            kind: name(t).to_owned(),
            path: path.to_path_buf(),
        });
    }
    Ok(f)
}

/// Plans the namespaces of `linux`.
pub fn plan(linux: &Linux) -> Result<NsPlan, NsError> {
    let namespaces = linux.namespaces().clone().unwrap_or_default();
    let mut p = NsPlan::default();
    let joins_any = namespaces.iter().any(|n| n.path().is_some());
    let new_time = namespaces
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::Time && n.path().is_none());
    let slow = joins_any || new_time;

    // User namespace first, then the rest in config order (the child joins
    // them in runc's passes: see launch::child::setns_all).
    let mut ordered: Vec<_> = namespaces.iter().collect();
    ordered.sort_by_key(|n| n.typ() != LinuxNamespaceType::User);
    for ns in ordered {
        let t = ns.typ();
        match ns.path() {
            Some(path) => {
                let f = open_ns(path, t)?;
                p.setns.push((f.as_raw_fd(), flag(t)));
                p.setns_names
                    .push(format!("{} namespace {}", name(t), path.display()));
                p.files.push(f);
                if matches!(t, LinuxNamespaceType::Pid | LinuxNamespaceType::Time) {
                    p.fork = true;
                }
                if t == LinuxNamespaceType::User {
                    p.joined_user = true;
                }
            }
            None => {
                if t == LinuxNamespaceType::User {
                    p.new_user = true;
                }
                if t == LinuxNamespaceType::Cgroup {
                    p.new_cgroup = true;
                } else if slow {
                    p.unshare_flags |= flag(t);
                    if matches!(t, LinuxNamespaceType::Pid | LinuxNamespaceType::Time) {
                        p.fork = true;
                    }
                } else {
                    p.clone_flags |= flag(t);
                }
            }
        }
    }
    if let Some(offsets) = linux.time_offsets() {
        let mut text = String::new();
        let mut clocks: Vec<_> = offsets.iter().collect();
        clocks.sort_by_key(|(k, _)| k.as_str());
        for (clock, off) in clocks {
            text.push_str(&format!(
                "{clock} {} {}\n",
                off.secs().unwrap_or(0),
                off.nanosecs().unwrap_or(0)
            ));
        }
        if !text.is_empty() {
            p.time_offsets = Some(text.into_bytes());
        }
    }
    Ok(p)
}

/// Namespace types in the order exec joins them, with their /proc names.
pub const PROC_NAMES: &[(LinuxNamespaceType, &str)] = &[
    (LinuxNamespaceType::User, "user"),
    (LinuxNamespaceType::Mount, "mnt"),
    (LinuxNamespaceType::Cgroup, "cgroup"),
    (LinuxNamespaceType::Uts, "uts"),
    (LinuxNamespaceType::Ipc, "ipc"),
    (LinuxNamespaceType::Network, "net"),
    (LinuxNamespaceType::Pid, "pid"),
    (LinuxNamespaceType::Time, "time"),
];

/// Flags of the namespaces in which process `pid` differs from us: what
/// `exec` must join.
pub fn differing(pid: i32) -> c_int {
    use std::os::unix::fs::MetadataExt;
    let mut flags = 0;
    for (t, n) in PROC_NAMES {
        let theirs = std::fs::metadata(format!("/proc/{pid}/ns/{n}"));
        let ours = std::fs::metadata(format!("/proc/self/ns/{n}"));
        if let (Ok(a), Ok(b)) = (theirs, ours) {
            if a.ino() != b.ino() || a.dev() != b.dev() {
                flags |= flag(*t);
            }
        }
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxBuilder, LinuxNamespaceBuilder};

    fn ns(t: LinuxNamespaceType, path: Option<&str>) -> oci_spec::runtime::LinuxNamespace {
        let b = LinuxNamespaceBuilder::default().typ(t);
        let b = match path {
            Some(p) => b.path(p),
            None => b,
        };
        b.build().expect("namespace")
    }

    #[test]
    fn fast_path_uses_clone_flags() -> Result<(), Box<dyn std::error::Error>> {
        let linux = LinuxBuilder::default()
            .namespaces(vec![
                ns(LinuxNamespaceType::Pid, None),
                ns(LinuxNamespaceType::Mount, None),
                ns(LinuxNamespaceType::Cgroup, None),
            ])
            .build()?;
        let p = plan(&linux)?;
        assert_eq!(p.clone_flags, libc::CLONE_NEWPID | libc::CLONE_NEWNS);
        assert!(p.new_cgroup && !p.fork && p.setns.is_empty() && p.unshare_flags == 0);
        Ok(())
    }

    #[test]
    fn joining_takes_the_slow_path_and_checks_types() -> Result<(), Box<dyn std::error::Error>> {
        let linux = LinuxBuilder::default()
            .namespaces(vec![
                ns(LinuxNamespaceType::Pid, None),
                ns(LinuxNamespaceType::Network, Some("/proc/self/ns/net")),
            ])
            .build()?;
        let p = plan(&linux)?;
        assert_eq!(p.clone_flags, 0);
        assert_eq!(p.unshare_flags, libc::CLONE_NEWPID);
        assert!(p.fork);
        assert_eq!(p.setns.len(), 1);

        let wrong = LinuxBuilder::default()
            .namespaces(vec![ns(
                LinuxNamespaceType::Network,
                Some("/proc/self/ns/uts"),
            )])
            .build()?;
        assert!(matches!(plan(&wrong), Err(NsError::WrongType { .. })));
        Ok(())
    }
}
