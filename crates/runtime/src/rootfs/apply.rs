//! Carrying out a [`RootfsPlan`] in the child, between clone and execve:
//! raw syscalls on the plan's prepared C strings, paths built in stack
//! buffers, every target resolved inside the rootfs with
//! `openat2(RESOLVE_IN_ROOT)` so a symlink in the image cannot redirect a
//! mount onto the host. Failures report (step, index, errno) and exit.

use std::ffi::{c_char, c_int, c_ulong, CStr};
use std::ptr;

use super::{copyup, Op, RelPath, RootfsPlan, TargetKind};
use crate::launch::step;
use crate::launch::sync::fail;
use crate::launch::sys::{self, close, errno, open_in_root, StackPath};

const PATH_MAX: usize = 4096;

fn mount(
    src: *const c_char,
    target: *const c_char,
    fstype: *const c_char,
    flags: c_ulong,
    data: *const c_char,
) -> c_int {
    // SAFETY: every pointer is NULL or a NUL-terminated string from the plan
    // or a stack buffer that outlives the call.
    unsafe { libc::mount(src, target, fstype, flags, data.cast()) }
}

fn opt_ptr(s: &Option<std::ffi::CString>) -> *const c_char {
    s.as_ref().map_or(ptr::null(), |s| s.as_ptr())
}

/// statvfs's ST_RELATIME (Linux's value; the libc crate has it only
/// for glibc).
const ST_RELATIME: libc::c_ulong = 0x1000;

/// Flags a remount must keep because the kernel locks them (mounts made
/// in a less privileged user namespace), from statfs of `target`.
fn locked_flags(target: *const c_char) -> c_ulong {
    // SAFETY: an all-zero statvfs is a valid value to be overwritten.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: target is NUL-terminated; st is a valid out pointer.
    if unsafe { libc::statvfs(target, &mut st) } != 0 {
        return 0;
    }
    let f = st.f_flag as c_ulong;
    let mut out = 0;
    for (st_flag, ms_flag) in [
        (libc::ST_RDONLY, libc::MS_RDONLY),
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (ST_RELATIME, libc::MS_RELATIME),
    ] {
        if f & st_flag != 0 {
            out |= ms_flag;
        }
    }
    out
}

/// A remount; on EPERM retried with the flags the kernel locked (except
/// read-only, which the caller decides).
fn remount(target: *const c_char, flags: c_ulong) -> c_int {
    if mount(ptr::null(), target, ptr::null(), flags, ptr::null()) == 0 {
        return 0;
    }
    if errno() != libc::EPERM {
        return -1;
    }
    let locked = locked_flags(target) & !libc::MS_RDONLY;
    mount(
        ptr::null(),
        target,
        ptr::null(),
        flags | locked,
        ptr::null(),
    )
}

/// A relative path copied into a stack buffer, NUL-terminated, so the
/// walk below can cut it at each `/` without touching the plan.
struct PathBuf4k {
    buf: [u8; PATH_MAX],
    len: usize,
}

impl PathBuf4k {
    fn new(rel: &RelPath) -> Option<PathBuf4k> {
        let b = rel.as_bytes();
        if b.len() >= PATH_MAX {
            return None;
        }
        let mut p = PathBuf4k {
            buf: [0; PATH_MAX],
            len: b.len(),
        };
        p.buf[..b.len()].copy_from_slice(b);
        Some(p)
    }

    fn ptr_at(&self, i: usize) -> *const c_char {
        self.buf[i..].as_ptr().cast()
    }

    /// The path from byte `i` on, up to and including a NUL.
    fn from(&self, i: usize) -> &[u8] {
        &self.buf[i..]
    }

    /// Start of the last component.
    fn last_start(&self) -> usize {
        self.buf[..self.len]
            .iter()
            .rposition(|&b| b == b'/')
            .map_or(0, |i| i + 1)
    }
}

const DOT: &CStr = c".";

/// Opens (O_PATH) the directory `p[..end]` inside the rootfs, creating
/// missing components (mode 0755) one by one. Each creation happens in a
/// directory that was itself resolved inside the rootfs.
fn mkdir_all(rootfd: c_int, p: &mut PathBuf4k, end: usize) -> Result<c_int, c_int> {
    let dir_flags = libc::O_PATH | libc::O_DIRECTORY;
    if end == 0 {
        let fd = open_in_root(rootfd, DOT.to_bytes_with_nul(), dir_flags);
        return if fd < 0 { Err(errno()) } else { Ok(fd) };
    }
    let saved = p.buf[end];
    p.buf[end] = 0;
    let fd = open_in_root(rootfd, p.from(0), dir_flags);
    if fd >= 0 {
        p.buf[end] = saved;
        return Ok(fd);
    }
    if errno() != libc::ENOENT {
        let e = errno();
        p.buf[end] = saved;
        return Err(e);
    }
    p.buf[end] = saved;

    let mut parent = open_in_root(rootfd, DOT.to_bytes_with_nul(), dir_flags);
    if parent < 0 {
        return Err(errno());
    }
    let mut start = 0;
    while start < end {
        let mut stop = start;
        while stop < end && p.buf[stop] != b'/' {
            stop += 1;
        }
        if stop == start {
            start += 1;
            continue;
        }
        let saved = p.buf[stop];
        p.buf[stop] = 0;
        let mut fd = open_in_root(rootfd, p.from(0), dir_flags);
        if fd < 0 && errno() == libc::ENOENT {
            // SAFETY: parent is an open directory descriptor; the name is
            // NUL-terminated at `stop`.
            let r = unsafe { libc::mkdirat(parent, p.ptr_at(start), 0o755) };
            if r != 0 && errno() != libc::EEXIST {
                let e = errno();
                p.buf[stop] = saved;
                close(parent);
                return Err(e);
            }
            fd = open_in_root(rootfd, p.from(0), dir_flags);
        }
        let e = errno();
        p.buf[stop] = saved;
        close(parent);
        if fd < 0 {
            return Err(e);
        }
        parent = fd;
        start = stop + 1;
    }
    Ok(parent)
}

/// Opens (O_PATH) the mount target `rel`, creating it (and its parents)
/// as a directory or an empty file.
fn ensure_target(rootfd: c_int, rel: &RelPath, kind: TargetKind) -> Result<c_int, c_int> {
    let mut p = PathBuf4k::new(rel).ok_or(libc::ENAMETOOLONG)?;
    let len = p.len;
    match kind {
        // Resolved by the caller; a directory if it was not.
        TargetKind::Dir | TargetKind::FromSource => mkdir_all(rootfd, &mut p, len),
        TargetKind::File => {
            if len == 0 {
                return Err(libc::EISDIR);
            }
            let fd = open_in_root(rootfd, p.from(0), libc::O_PATH);
            if fd >= 0 {
                return Ok(fd);
            }
            if errno() != libc::ENOENT {
                return Err(errno());
            }
            let name = p.last_start();
            let parent = mkdir_all(rootfd, &mut p, name.saturating_sub(1))?;
            // SAFETY: parent is an open directory; the name is NUL-terminated.
            let f = unsafe {
                libc::openat(
                    parent,
                    p.ptr_at(name),
                    libc::O_CREAT
                        | libc::O_EXCL
                        | libc::O_WRONLY
                        | libc::O_CLOEXEC
                        | libc::O_NOFOLLOW,
                    0o644,
                )
            };
            if f < 0 && errno() != libc::EEXIST {
                let e = errno();
                close(parent);
                return Err(e);
            }
            close(f);
            close(parent);
            let fd = open_in_root(rootfd, p.from(0), libc::O_PATH);
            if fd < 0 {
                Err(errno())
            } else {
                Ok(fd)
            }
        }
    }
}

/// Attaches the detached mount `tree` onto the target descriptor.
fn attach(tree: c_int, target: c_int) -> c_int {
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x04;
    const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
    // SAFETY: move_mount with two open descriptors and empty paths.
    unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree,
            c"".as_ptr(),
            target,
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        ) as c_int
    }
}

/// Opens the directory `rel` for reading (what getdents needs); -1 when
/// it does not exist.
fn open_dir(rootfd: c_int, rel: &RelPath) -> Result<c_int, c_int> {
    let mut p = PathBuf4k::new(rel).ok_or(libc::ENAMETOOLONG)?;
    let len = p.len;
    p.buf[len] = 0;
    let path = if len == 0 {
        DOT.to_bytes_with_nul()
    } else {
        p.from(0)
    };
    let fd = open_in_root(rootfd, path, libc::O_RDONLY | libc::O_DIRECTORY);
    if fd < 0 {
        return if errno() == libc::ENOENT {
            Ok(-1)
        } else {
            Err(errno())
        };
    }
    Ok(fd)
}

/// Room for a tmpfs's options with the inherited mode in front.
const DATA_MAX: usize = 4096;

fn is_tmpfs(fstype: &Option<std::ffi::CString>) -> bool {
    fstype.as_ref().is_some_and(|t| t.as_bytes() == b"tmpfs")
}

/// A bind source the plan could not see: a directory or a file now?
fn source_kind(source: &Option<std::ffi::CString>) -> Result<TargetKind, c_int> {
    // SAFETY: an all-zero stat is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is NULL or NUL-terminated; st is a valid out pointer.
    if unsafe { libc::stat(opt_ptr(source), &mut st) } != 0 {
        return Err(errno());
    }
    Ok(if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        TargetKind::Dir
    } else {
        TargetKind::File
    })
}

/// A tmpfs's options with `mode=` of its existing mount point in front
/// (later options, an explicit `mode=` too, win), as runc 1.3 does; the
/// options as given when the mount point does not exist yet.
fn tmpfs_data(
    rootfd: c_int,
    dest: &RelPath,
    data: &Option<std::ffi::CString>,
    buf: &mut [u8; DATA_MAX],
) -> Result<*const c_char, c_int> {
    let mut p = PathBuf4k::new(dest).ok_or(libc::ENAMETOOLONG)?;
    let len = p.len;
    p.buf[len] = 0;
    let path = if len == 0 {
        DOT.to_bytes_with_nul()
    } else {
        p.from(0)
    };
    let fd = open_in_root(rootfd, path, libc::O_PATH);
    if fd < 0 {
        return if errno() == libc::ENOENT {
            Ok(opt_ptr(data))
        } else {
            Err(errno())
        };
    }
    // SAFETY: an all-zero stat is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is open; st is a valid out pointer.
    let r = unsafe { libc::fstat(fd, &mut st) };
    let e = errno();
    close(fd);
    if r != 0 {
        return Err(e);
    }
    let mode = st.st_mode & 0o7777;
    let mut n = 0;
    let mut put = |b: &[u8]| -> Result<(), c_int> {
        let end = n + b.len();
        // Keep one byte for the NUL.
        if end >= DATA_MAX {
            return Err(libc::E2BIG);
        }
        buf[n..end].copy_from_slice(b);
        n = end;
        Ok(())
    };
    put(b"mode=")?;
    let mut digits = [0u8; 4];
    for (k, d) in digits.iter_mut().enumerate() {
        *d = b'0' + ((mode >> (3 * (3 - k))) & 7) as u8;
    }
    put(&digits)?;
    if let Some(d) = data {
        put(b",")?;
        put(d.as_bytes())?;
    }
    buf[n] = 0;
    Ok(buf.as_ptr().cast())
}

/// procfs and sysfs: the filesystems that runc mounts only onto an
/// ordinary directory.
fn kernel_fs(fstype: &Option<std::ffi::CString>) -> bool {
    fstype
        .as_ref()
        .is_some_and(|t| t.as_bytes() == b"proc" || t.as_bytes() == b"sysfs")
}

/// The plan checked that `rel`'s last component is no symlink; check again
/// where it is mounted (an earlier mount may have put one there): opened
/// without following the last component, it must be a directory.
fn ordinary_dir(rootfd: c_int, rel: &RelPath) -> Result<(), c_int> {
    let mut p = PathBuf4k::new(rel).ok_or(libc::ENAMETOOLONG)?;
    if p.len == 0 {
        return Ok(());
    }
    let len = p.len;
    p.buf[len] = 0;
    let fd = open_in_root(
        rootfd,
        p.from(0),
        libc::O_PATH | libc::O_NOFOLLOW | libc::O_DIRECTORY,
    );
    if fd < 0 {
        return Err(errno());
    }
    close(fd);
    Ok(())
}

/// The parent directory of `rel` (created if missing) and the stack path
/// holding `rel`, for *at() calls on the last component.
fn ensure_parent(rootfd: c_int, rel: &RelPath) -> Result<(c_int, PathBuf4k, usize), c_int> {
    let mut p = PathBuf4k::new(rel).ok_or(libc::ENAMETOOLONG)?;
    if p.len == 0 {
        return Err(libc::EINVAL);
    }
    let name = p.last_start();
    let parent = mkdir_all(rootfd, &mut p, name.saturating_sub(1))?;
    Ok((parent, p, name))
}

/// Before pivot_root: propagation, the rootfs bind, every mount, device
/// and symlink. Returns the rootfs descriptor (O_PATH).
pub fn prepare(plan: &RootfsPlan, sync: c_int) -> c_int {
    if !plan.shared_mount_ns {
        private_root(plan, sync);
    }
    // SAFETY: rootfs is a NUL-terminated path.
    let rootfd = unsafe {
        libc::open(
            plan.rootfs.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if rootfd < 0 {
        fail(sync, step::OPEN_ROOTFS, 0, errno());
    }
    apply_ops(plan, rootfd, sync);
    rootfd
}

/// In the container's own mount namespace: "/" gets the configured
/// propagation and the rootfs becomes a mount of its own (pivot_root
/// needs one).
fn private_root(plan: &RootfsPlan, sync: c_int) {
    if mount(
        ptr::null(),
        c"/".as_ptr(),
        ptr::null(),
        plan.root_propagation,
        ptr::null(),
    ) != 0
    {
        fail(sync, step::ROOT_PROPAGATION, 0, errno());
    }
    let rootfs = plan.rootfs.as_ptr();
    if mount(
        rootfs,
        rootfs,
        ptr::null(),
        libc::MS_BIND | libc::MS_REC,
        ptr::null(),
    ) != 0
    {
        fail(sync, step::ROOTFS_BIND, 0, errno());
    }
}

/// Every mount, device, symlink and directory of the plan, in order.
fn apply_ops(plan: &RootfsPlan, rootfd: c_int, sync: c_int) {
    // A tmpcopyup's source: the directory the next tmpfs will cover.
    let mut copy_from: c_int = -1;
    for (i, op) in plan.ops.iter().enumerate() {
        let i = i as u32;
        match op {
            Op::CopyUpFrom { dest } => {
                copy_from =
                    open_dir(rootfd, dest).unwrap_or_else(|e| fail(sync, step::COPY_UP, i, e));
            }
            Op::Mount {
                dest,
                kind,
                source,
                fstype,
                flags,
                data,
                remount: re,
                propagation,
                tree,
            } => {
                let kind = match kind {
                    TargetKind::FromSource => {
                        source_kind(source).unwrap_or_else(|e| fail(sync, step::MOUNT, i, e))
                    }
                    k => *k,
                };
                // Before the target is made: a tmpfs takes the mode of a
                // mount point that exists.
                let mut data_buf = [0u8; DATA_MAX];
                let data_ptr = if is_tmpfs(fstype) {
                    tmpfs_data(rootfd, dest, data, &mut data_buf)
                        .unwrap_or_else(|e| fail(sync, step::MOUNT, i, e))
                } else {
                    opt_ptr(data)
                };
                let fd = ensure_target(rootfd, dest, kind)
                    .unwrap_or_else(|e| fail(sync, step::MOUNT_TARGET, i, e));
                if kernel_fs(fstype) {
                    if let Err(e) = ordinary_dir(rootfd, dest) {
                        close(fd);
                        fail(sync, step::MOUNT_NOT_DIR, i, e);
                    }
                }
                let target = StackPath::proc_fd(fd);
                let r = if *tree >= 0 {
                    attach(*tree, fd)
                } else {
                    mount(
                        opt_ptr(source),
                        target.as_ptr(),
                        opt_ptr(fstype),
                        *flags,
                        data_ptr,
                    )
                };
                if r != 0 {
                    fail(sync, step::MOUNT, i, errno());
                }
                close(fd);
                if copy_from >= 0 {
                    let to =
                        open_dir(rootfd, dest).unwrap_or_else(|e| fail(sync, step::COPY_UP, i, e));
                    if to >= 0 {
                        if let Err(e) = copyup::copy_tree(copy_from, to) {
                            fail(sync, step::COPY_UP, i, e);
                        }
                    }
                    close(to);
                    close(copy_from);
                    copy_from = -1;
                }
                if re.is_some() || !propagation.is_empty() {
                    // The old descriptor names the covered directory;
                    // reopen to reach the new mount.
                    let Ok(mut p) = PathBuf4k::new(dest).ok_or(libc::ENAMETOOLONG) else {
                        fail(sync, step::MOUNT_TARGET, i, libc::ENAMETOOLONG)
                    };
                    let len = p.len;
                    let fd = if len == 0 {
                        open_in_root(rootfd, DOT.to_bytes_with_nul(), libc::O_PATH)
                    } else {
                        p.buf[len] = 0;
                        open_in_root(rootfd, p.from(0), libc::O_PATH)
                    };
                    if fd < 0 {
                        fail(sync, step::MOUNT_TARGET, i, errno());
                    }
                    let target = StackPath::proc_fd(fd);
                    if let Some(flags) = re {
                        if remount(target.as_ptr(), *flags) != 0 {
                            fail(sync, step::MOUNT_REMOUNT, i, errno());
                        }
                    }
                    for p in propagation {
                        if mount(ptr::null(), target.as_ptr(), ptr::null(), *p, ptr::null()) != 0 {
                            fail(sync, step::MOUNT_PROPAGATION, i, errno());
                        }
                    }
                    close(fd);
                }
            }
            Op::Symlink { target, link } => {
                let (parent, p, name) =
                    ensure_parent(rootfd, link).unwrap_or_else(|e| fail(sync, step::SYMLINK, i, e));
                // SAFETY: target and name are NUL-terminated; parent is open.
                let r = unsafe { libc::symlinkat(target.as_ptr(), parent, p.ptr_at(name)) };
                if r != 0 && errno() != libc::EEXIST {
                    fail(sync, step::SYMLINK, i, errno());
                }
                close(parent);
            }
            Op::Device {
                path,
                mode,
                dev,
                uid,
                gid,
                host,
            } => match host {
                None => {
                    let (parent, p, name) = ensure_parent(rootfd, path)
                        .unwrap_or_else(|e| fail(sync, step::DEVICE, i, e));
                    // SAFETY: name is NUL-terminated; parent is open.
                    let r = unsafe { libc::mknodat(parent, p.ptr_at(name), *mode, *dev) };
                    if r == 0 {
                        // SAFETY: as above.
                        let r = unsafe {
                            libc::fchownat(
                                parent,
                                p.ptr_at(name),
                                *uid,
                                *gid,
                                libc::AT_SYMLINK_NOFOLLOW,
                            )
                        };
                        if r != 0 {
                            fail(sync, step::DEVICE, i, errno());
                        }
                    } else if errno() != libc::EEXIST {
                        fail(sync, step::DEVICE, i, errno());
                    }
                    close(parent);
                }
                Some(host) => {
                    let fd = ensure_target(rootfd, path, TargetKind::File)
                        .unwrap_or_else(|e| fail(sync, step::DEVICE, i, e));
                    let target = StackPath::proc_fd(fd);
                    if mount(
                        host.as_ptr(),
                        target.as_ptr(),
                        ptr::null(),
                        libc::MS_BIND,
                        ptr::null(),
                    ) != 0
                    {
                        fail(sync, step::DEVICE, i, errno());
                    }
                    close(fd);
                }
            },
            Op::Dir { path } => {
                let fd = ensure_target(rootfd, path, TargetKind::Dir)
                    .unwrap_or_else(|e| fail(sync, step::MOUNT_TARGET, i, e));
                close(fd);
            }
            Op::Remount { dest, flags } => {
                let fd = ensure_target(rootfd, dest, TargetKind::Dir)
                    .unwrap_or_else(|e| fail(sync, step::MOUNT_TARGET, i, e));
                let target = StackPath::proc_fd(fd);
                if remount(target.as_ptr(), *flags) != 0 {
                    fail(sync, step::MOUNT_REMOUNT, i, errno());
                }
                close(fd);
            }
        }
    }
}

/// pivot_root into the rootfs and detach the old root; `chroot` after a
/// move mount only where pivot_root is impossible (a rootfs on the
/// initramfs, which cannot be pivoted away from).
pub fn pivot(plan: &RootfsPlan, sync: c_int) {
    if plan.shared_mount_ns {
        // No namespace of our own to pivot: chroot, as runc does then.
        // SAFETY: chroot and chdir on NUL-terminated paths.
        if unsafe { libc::chroot(plan.rootfs.as_ptr()) } != 0 {
            fail(sync, step::PIVOT_ROOT, 6, errno());
        }
        // SAFETY: as above.
        if unsafe { libc::chdir(c"/".as_ptr()) } != 0 {
            fail(sync, step::PIVOT_ROOT, 8, errno());
        }
        return;
    }
    let flags = libc::O_DIRECTORY | libc::O_RDONLY | libc::O_CLOEXEC;
    // SAFETY: constant / plan paths, NUL-terminated.
    let oldroot = unsafe { libc::open(c"/".as_ptr(), flags) };
    // SAFETY: as above.
    let newroot = unsafe { libc::open(plan.rootfs.as_ptr(), flags) };
    if oldroot < 0 || newroot < 0 {
        fail(sync, step::PIVOT_ROOT, 0, errno());
    }
    // SAFETY: fchdir on an open directory.
    if unsafe { libc::fchdir(newroot) } != 0 {
        fail(sync, step::PIVOT_ROOT, 1, errno());
    }
    let dot = DOT.as_ptr();
    // SAFETY: pivot_root takes two NUL-terminated paths.
    let r = unsafe { libc::syscall(libc::SYS_pivot_root, dot, dot) };
    if r == 0 {
        // The old root now sits on top of "."; leave it as a slave so the
        // detach below cannot propagate to the host, then drop it.
        // SAFETY: fchdir on an open directory; mount/umount2 on ".".
        unsafe {
            if libc::fchdir(oldroot) != 0 {
                fail(sync, step::PIVOT_ROOT, 2, errno());
            }
        }
        if mount(
            ptr::null(),
            dot,
            ptr::null(),
            libc::MS_SLAVE | libc::MS_REC,
            ptr::null(),
        ) != 0
        {
            fail(sync, step::PIVOT_ROOT, 3, errno());
        }
        // SAFETY: umount2 on a NUL-terminated path.
        if unsafe { libc::umount2(dot, libc::MNT_DETACH) } != 0 {
            fail(sync, step::PIVOT_ROOT, 4, errno());
        }
    } else if errno() == libc::EINVAL {
        if mount(dot, c"/".as_ptr(), ptr::null(), libc::MS_MOVE, ptr::null()) != 0 {
            fail(sync, step::PIVOT_ROOT, 5, errno());
        }
        // SAFETY: chroot on ".".
        if unsafe { libc::chroot(dot) } != 0 {
            fail(sync, step::PIVOT_ROOT, 6, errno());
        }
    } else {
        fail(sync, step::PIVOT_ROOT, 7, errno());
    }
    // SAFETY: chdir to a constant path.
    if unsafe { libc::chdir(c"/".as_ptr()) } != 0 {
        fail(sync, step::PIVOT_ROOT, 8, errno());
    }
    close(oldroot);
    close(newroot);
    if let Some(p) = plan.post_pivot_propagation {
        if mount(ptr::null(), c"/".as_ptr(), ptr::null(), p, ptr::null()) != 0 {
            fail(sync, step::ROOT_PROPAGATION, 1, errno());
        }
    }
}

/// After pivot_root: sysctls (before /proc/sys turns read-only), read-only
/// and masked paths, then the read-only root.
pub fn finish(plan: &RootfsPlan, sync: c_int) {
    for (i, (path, value)) in plan.sysctls.iter().enumerate() {
        // SAFETY: path is NUL-terminated.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
        if fd < 0 || !sys::write_all(fd, value) {
            fail(sync, step::SYSCTL, i as u32, errno());
        }
        close(fd);
    }
    for (i, p) in plan.readonly.iter().enumerate() {
        let p = p.as_ptr();
        if mount(p, p, ptr::null(), libc::MS_BIND | libc::MS_REC, ptr::null()) != 0 {
            if errno() == libc::ENOENT {
                continue;
            }
            fail(sync, step::READONLY_PATH, i as u32, errno());
        }
        let flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_REC;
        if remount(p, flags) != 0 {
            fail(sync, step::READONLY_PATH, i as u32, errno());
        }
    }
    for (i, p) in plan.masked.iter().enumerate() {
        // SAFETY: an all-zero stat is a valid value to be overwritten.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: p is NUL-terminated; st is a valid out pointer.
        if unsafe { libc::stat(p.as_ptr(), &mut st) } != 0 {
            if errno() == libc::ENOENT {
                continue;
            }
            fail(sync, step::MASK, i as u32, errno());
        }
        let r = if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            mount(
                c"tmpfs".as_ptr(),
                p.as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_RDONLY,
                ptr::null(),
            )
        } else {
            mount(
                c"/dev/null".as_ptr(),
                p.as_ptr(),
                ptr::null(),
                libc::MS_BIND,
                ptr::null(),
            )
        };
        if r != 0 {
            fail(sync, step::MASK, i as u32, errno());
        }
    }
    if plan.root_readonly {
        let flags = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
        if remount(c"/".as_ptr(), flags) != 0 {
            fail(sync, step::ROOT_READONLY, 0, errno());
        }
    }
}

/// Binds the console's pty slave (`/dev/pts/N`) onto /dev/console, as
/// runc does for a container with a terminal.
pub fn bind_console(slave_path: &StackPath, sync: c_int) {
    let console = c"/dev/console".as_ptr();
    // SAFETY: constant path; creates an empty file to bind over.
    let fd = unsafe {
        libc::open(
            console,
            libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
            0o600,
        )
    };
    if fd < 0 {
        fail(sync, step::DEV_CONSOLE, 0, errno());
    }
    close(fd);
    if mount(
        slave_path.as_ptr(),
        console,
        ptr::null(),
        libc::MS_BIND,
        ptr::null(),
    ) != 0
    {
        fail(sync, step::DEV_CONSOLE, 1, errno());
    }
}
