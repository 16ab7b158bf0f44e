//! /dev contents: the default nodes every container gets (runtime-spec
//! config-linux.md "Default Devices"), `linux.devices`, and the standard
//! symlinks.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Linux, LinuxDeviceType};

use super::plan::RootfsError;
use super::{resolve, Op, RelPath};
use crate::bundle::clean_container_path;

/// (path, major, minor) of the default character devices, mode 0666.
const DEFAULTS: &[(&str, i64, i64)] = &[
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

const LINKS: &[(&str, &str)] = &[
    ("/proc/self/fd", "dev/fd"),
    ("/proc/self/fd/0", "dev/stdin"),
    ("/proc/self/fd/1", "dev/stdout"),
    ("/proc/self/fd/2", "dev/stderr"),
    ("pts/ptmx", "dev/ptmx"),
];

fn c(s: &str) -> Result<CString, RootfsError> {
    CString::new(s).map_err(|_| RootfsError::Nul(s.to_owned()))
}

fn makedev(major: i64, minor: i64) -> libc::dev_t {
    libc::makedev(major as u32, minor as u32)
}

/// Appends device and symlink operations for `/dev`.
pub fn plan(
    linux: &Linux,
    rootfs: &Path,
    new_userns: bool,
    ops: &mut Vec<Op>,
) -> Result<(), RootfsError> {
    let configured: Vec<PathBuf> = linux
        .devices()
        .iter()
        .flatten()
        .filter_map(|d| clean_container_path(d.path()).ok())
        .collect();
    for (path, major, minor) in DEFAULTS {
        if configured.iter().any(|p| p == Path::new(path)) {
            continue;
        }
        ops.push(Op::Device {
            path: RelPath::from_clean(Path::new(path)),
            mode: libc::S_IFCHR | 0o666,
            dev: makedev(*major, *minor),
            uid: 0,
            gid: 0,
            host: new_userns.then(|| c(path)).transpose()?,
        });
    }
    for d in linux.devices().iter().flatten() {
        let Ok(path) = clean_container_path(d.path()) else {
            continue;
        };
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
            LinuxDeviceType::B => libc::S_IFBLK,
            LinuxDeviceType::P => libc::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(RootfsError::DeviceType {
                    path: path.display().to_string(),
                    kind: "a".into(),
                })
            }
        };
        let perm = d.file_mode().unwrap_or(0o666) & 0o7777;
        let host = if new_userns {
            Some(c(&path.display().to_string())?)
        } else {
            None
        };
        ops.push(Op::Device {
            path: RelPath::from_clean(&resolve::in_root(rootfs, &path, true)),
            mode: kind | perm,
            dev: makedev(d.major(), d.minor()),
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
            host,
        });
    }
    for (target, link) in LINKS {
        ops.push(Op::Symlink {
            target: c(target)?,
            link: RelPath::from_clean(Path::new(link)),
        });
    }
    if Path::new("/proc/kcore").exists() {
        ops.push(Op::Symlink {
            target: c("/proc/kcore")?,
            link: RelPath::from_clean(Path::new("dev/core")),
        });
    }
    Ok(())
}
