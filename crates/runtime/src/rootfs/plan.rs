//! Building a [`RootfsPlan`] from the config, in the parent, before clone.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use super::cgroupfs::{self, CgroupMountInput};
use super::devices;
use super::idmap;
use super::options::{self, UnsupportedOption};
use super::resolve;
use super::{Op, RelPath, RootfsPlan, TargetKind};
use crate::bundle::clean_container_path;

/// Why the rootfs could not be planned.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error("mount {dest}: {source}")]
    Option {
        dest: String,
        #[source]
        source: UnsupportedOption,
    },
    #[error("mount {dest}: bind source {source_path} does not exist")]
    NoSource { dest: String, source_path: PathBuf },
    #[error("mount {dest}: no type given")]
    NoType { dest: String },
    #[error("{0:?} contains a NUL byte")]
    Nul(String),
    #[error("mount {dest} (cgroup): {reason}")]
    Cgroup { dest: String, reason: String },
    #[error("mount {dest}: filesystem {fstype:?} must be mounted on ordinary directory")]
    NotDirectory { dest: String, fstype: String },
    #[error("mount {dest}: id-mapped mount: {reason}")]
    Idmap { dest: String, reason: String },
    #[error("device {path}: type {kind} cannot be created")]
    DeviceType { path: String, kind: String },
}

fn cstr(s: impl AsRef<[u8]>) -> Result<CString, RootfsError> {
    let b = s.as_ref();
    CString::new(b).map_err(|_| RootfsError::Nul(String::from_utf8_lossy(b).into_owned()))
}

/// What [`plan`] needs besides the config.
#[derive(Debug)]
pub struct PlanInput<'a> {
    pub spec: &'a Spec,
    pub bundle_dir: &'a Path,
    pub rootfs: &'a Path,
    /// The container gets a new cgroup namespace.
    pub new_cgroupns: bool,
    /// The container gets a new user namespace (no mknod, no v1 cgroupfs).
    pub new_userns: bool,
    /// The container's cgroup directories (controller → host dir), for
    /// bind-mounting them when no cgroup namespace is made.
    pub cgroup_paths: Vec<(String, PathBuf)>,
    /// /proc/self/mountinfo as the caller read it (for a `cgroup` mount,
    /// which mirrors the host's hierarchies); None: read it if needed.
    pub mountinfo: Option<&'a str>,
}

/// The bind source as a detached tree, id-mapped when asked: with the
/// mount's own mappings, else the container's (runtime-spec).
fn detached_source(
    src: &Path,
    recursive: bool,
    opts: &options::MountOptions,
    m: &oci_spec::runtime::Mount,
    linux: &oci_spec::runtime::Linux,
    dest: &str,
) -> Result<std::fs::File, RootfsError> {
    let err = |reason: String| RootfsError::Idmap {
        dest: dest.to_owned(),
        reason,
    };
    let tree = idmap::clone_tree(src, recursive || opts.idmap == Some(true)).map_err(|e| {
        if opts.idmap.is_some() {
            err(format!("cloning {}: {e}", src.display()))
        } else {
            RootfsError::NoSource {
                dest: dest.to_owned(),
                source_path: src.to_path_buf(),
            }
        }
    })?;
    if let Some(rec) = opts.idmap {
        let pick = |own: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>,
                    theirs: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| {
            own.clone()
                .filter(|v| !v.is_empty())
                .or_else(|| theirs.clone())
                .unwrap_or_default()
        };
        let uid = pick(m.uid_mappings(), linux.uid_mappings());
        let gid = pick(m.gid_mappings(), linux.gid_mappings());
        if uid.is_empty() || gid.is_empty() {
            return Err(err(
                "idmap needs uidMappings and gidMappings (on the mount or the container)".into(),
            ));
        }
        idmap::map_tree(&tree, &uid, &gid, rec).map_err(|e| err(format!("mount_setattr: {e}")))?;
    }
    Ok(tree)
}

/// procfs and sysfs go only onto an ordinary directory (or where nothing
/// is yet): a symlink as the last component is refused, not followed, as
/// runc refuses it (CVE-2019-16884/19921: an image that points /proc
/// elsewhere chooses where the kernel's files appear). Components before
/// the last resolve inside the rootfs like any destination.
fn check_ordinary_dir(
    rootfs: &Path,
    dest: &Path,
    dest_s: &str,
    fstype: &str,
) -> Result<(), RootfsError> {
    let at = resolve::in_root(rootfs, dest, false);
    let host = rootfs.join(at.strip_prefix("/").unwrap_or(&at));
    match std::fs::symlink_metadata(&host) {
        Ok(m) if !m.is_dir() => Err(RootfsError::NotDirectory {
            dest: dest_s.to_owned(),
            fstype: fstype.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// Plans the rootfs of `input.spec`.
pub fn plan(input: &PlanInput<'_>) -> Result<RootfsPlan, RootfsError> {
    let spec = input.spec;
    let linux = spec.linux().clone().unwrap_or_default();
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);

    let (root_propagation, shared) = match linux.rootfs_propagation().as_deref() {
        Some(p) if !p.is_empty() => {
            let f = options::propagation_flag(p).unwrap_or(libc::MS_SLAVE | libc::MS_REC);
            (f, f & libc::MS_SHARED != 0)
        }
        _ => (libc::MS_SLAVE | libc::MS_REC, false),
    };
    // pivot_root refuses a shared new root: with a shared propagation the
    // tree is made slave first and shared again after the pivot.
    let (root_propagation, post_pivot_propagation) = if shared {
        (libc::MS_SLAVE | libc::MS_REC, Some(root_propagation))
    } else {
        (root_propagation, None)
    };

    let mut ops = Vec::new();
    let mut source_fds = Vec::new();
    let mut read_only_later = Vec::new();
    let mut dev_bound = false;
    for m in spec.mounts().iter().flatten() {
        let dest = clean_container_path(m.destination()).unwrap_or_else(|_| PathBuf::from("/"));
        let dest_s = dest.display().to_string();
        let typ = m.typ().as_deref().unwrap_or("");
        if typ == "proc" || typ == "sysfs" {
            check_ordinary_dir(input.rootfs, &dest, &dest_s, typ)?;
        }
        let dest = resolve::in_root(input.rootfs, &dest, true);
        let opts = options::parse(m.options().as_deref().unwrap_or(&[])).map_err(|source| {
            RootfsError::Option {
                dest: dest_s.clone(),
                source,
            }
        })?;
        if opts.bind || typ == "bind" || typ == "rbind" {
            let recursive = opts.recursive || typ == "rbind";
            let src = m.source().clone().unwrap_or_default();
            let src = if src.is_absolute() {
                src
            } else {
                input.bundle_dir.join(src)
            };
            // A missing source inside the rootfs may be made by an earlier
            // mount of this config: the child decides then. Elsewhere it
            // is an error now.
            let kind = match std::fs::metadata(&src) {
                Ok(m) if m.is_dir() => TargetKind::Dir,
                Ok(_) => TargetKind::File,
                Err(_) if src.starts_with(input.rootfs) => TargetKind::FromSource,
                Err(_) => {
                    return Err(RootfsError::NoSource {
                        dest: dest_s.clone(),
                        source_path: src.clone(),
                    })
                }
            };
            if dest == Path::new("/dev") {
                dev_bound = true;
            }
            let mut flags = libc::MS_BIND;
            if recursive {
                flags |= libc::MS_REC;
            }
            let settable = opts.flags & !(libc::MS_REMOUNT | libc::MS_BIND | libc::MS_REC);
            // In a new user namespace (and for id-mapped mounts) the
            // parent clones the source; the child attaches the clone.
            let tree = match kind {
                TargetKind::Dir | TargetKind::File if input.new_userns || opts.idmap.is_some() => {
                    let f = detached_source(&src, recursive, &opts, m, &linux, &dest_s)?;
                    let fd = std::os::fd::AsRawFd::as_raw_fd(&f);
                    source_fds.push(f);
                    fd
                }
                _ if opts.idmap.is_some() => {
                    return Err(RootfsError::Idmap {
                        dest: dest_s.clone(),
                        reason: "the bind source does not exist".into(),
                    })
                }
                _ => -1,
            };
            ops.push(Op::Mount {
                dest: RelPath::from_clean(&dest),
                kind,
                source: Some(cstr(src.as_os_str().as_bytes())?),
                fstype: None,
                flags,
                data: None,
                remount: (settable != 0).then_some(libc::MS_BIND | libc::MS_REMOUNT | settable),
                propagation: opts.propagation,
                tree,
            });
        } else if typ == "cgroup" || typ == "cgroup2" {
            let input = CgroupMountInput {
                dest: &dest,
                flags: opts.flags,
                new_cgroupns: input.new_cgroupns,
                new_userns: input.new_userns,
                cgroup_paths: &input.cgroup_paths,
                mountinfo: input.mountinfo,
            };
            ops.extend(
                cgroupfs::plan(&input).map_err(|reason| RootfsError::Cgroup {
                    dest: dest_s.clone(),
                    reason,
                })?,
            );
        } else {
            if typ.is_empty() {
                return Err(RootfsError::NoType { dest: dest_s });
            }
            let source = m
                .source()
                .as_ref()
                .map(|s| s.as_os_str().as_bytes().to_vec())
                .unwrap_or_else(|| typ.as_bytes().to_vec());
            // A read-only tmpfs or /dev is mounted writable and made
            // read-only after everything else (runc's finalizeRootfs):
            // devpts, shm, device nodes and later mounts go inside first.
            let mut flags = opts.flags;
            if flags & libc::MS_RDONLY != 0 && (typ == "tmpfs" || dest == Path::new("/dev")) {
                flags &= !libc::MS_RDONLY;
                let kept = flags
                    & (libc::MS_NOSUID
                        | libc::MS_NODEV
                        | libc::MS_NOEXEC
                        | libc::MS_NOATIME
                        | libc::MS_NODIRATIME
                        | libc::MS_RELATIME
                        | libc::MS_STRICTATIME);
                read_only_later.push(Op::Remount {
                    dest: RelPath::from_clean(&dest),
                    flags: libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | kept,
                });
            }
            if opts.copy_up && typ == "tmpfs" {
                ops.push(Op::CopyUpFrom {
                    dest: RelPath::from_clean(&dest),
                });
            }
            ops.push(Op::Mount {
                dest: RelPath::from_clean(&dest),
                kind: TargetKind::Dir,
                source: Some(cstr(source)?),
                fstype: Some(cstr(typ)?),
                flags,
                data: if opts.data.is_empty() {
                    None
                } else {
                    Some(cstr(&opts.data)?)
                },
                remount: None,
                propagation: opts.propagation,
                tree: -1,
            });
        }
    }

    if !dev_bound {
        devices::plan(&linux, input.rootfs, input.new_userns, &mut ops)?;
    }

    // runc creates a missing cwd; so does berth (after the mounts, so it
    // lands in whatever is mounted there).
    if let Some(p) = spec.process() {
        if let Ok(cwd) = clean_container_path(p.cwd()) {
            if cwd != Path::new("/") {
                ops.push(Op::Dir {
                    path: RelPath::from_clean(&resolve::in_root(input.rootfs, &cwd, true)),
                });
            }
        }
    }

    ops.extend(read_only_later);

    let paths = |list: &Option<Vec<String>>| -> Result<Vec<CString>, RootfsError> {
        list.iter()
            .flatten()
            .filter_map(|p| clean_container_path(Path::new(p)).ok())
            .map(|p| cstr(p.as_os_str().as_bytes()))
            .collect()
    };
    let mut sysctls = Vec::new();
    let mut keys: Vec<(&String, &String)> = linux.sysctl().iter().flatten().collect();
    keys.sort();
    for (k, v) in keys {
        let path = format!("/proc/sys/{}", k.replace('.', "/"));
        sysctls.push((cstr(path)?, v.as_bytes().to_vec()));
    }

    Ok(RootfsPlan {
        rootfs: cstr(input.rootfs.as_os_str().as_bytes())?,
        root_propagation,
        post_pivot_propagation,
        ops,
        masked: paths(linux.masked_paths())?,
        readonly: paths(linux.readonly_paths())?,
        root_readonly: spec
            .root()
            .as_ref()
            .and_then(|r| r.readonly())
            .unwrap_or(false),
        sysctls,
        dev_console: terminal && !dev_bound,
        source_fds,
        shared_mount_ns: !linux
            .namespaces()
            .iter()
            .flatten()
            .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Mount),
    })
}
