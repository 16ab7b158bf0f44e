//! Id-mapped bind mounts (`idmap`, `ridmap`), made in the parent before
//! clone: the source is cloned as a detached tree (open_tree), a user
//! namespace carrying the mount's mappings (or the container's) is made
//! for the occasion, and mount_setattr(MOUNT_ATTR_IDMAP) ties the tree to
//! it. The child only attaches the finished tree (move_mount), so this
//! works with and without a user namespace for the container.
//!
//! A file owned by id `c` on disk appears through the mount as the host
//! id `h` the mapping gives for `c` (the mount's mappings read the way a
//! user namespace's do); in a container whose user namespace maps `h`
//! back to `c`, the container sees its own ids.

use std::ffi::{c_int, CString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use oci_spec::runtime::LinuxIdMapping;

const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// The kernel's `struct mount_attr`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// A detached clone of `src` (the whole tree below it when `recursive`).
pub fn clone_tree(src: &Path, recursive: bool) -> io::Result<File> {
    let path = CString::new(src.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: open_tree with a NUL-terminated path and integer flags.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: open_tree returned a new descriptor that we own.
    Ok(unsafe { File::from_raw_fd(fd as c_int) })
}

/// Makes the detached `tree` id-mapped with `uid`/`gid` maps (its whole
/// tree when `recursive`, i.e. `ridmap`).
pub fn map_tree(
    tree: &File,
    uid: &[LinuxIdMapping],
    gid: &[LinuxIdMapping],
    recursive: bool,
) -> io::Result<()> {
    let userns = userns_with(uid, gid)?;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: mount_setattr on an open tree with a valid attr of its size.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// A user namespace with these maps, held by its descriptor: a helper
/// process unshares it, we write the maps and open it, the helper exits.
fn userns_with(uid: &[LinuxIdMapping], gid: &[LinuxIdMapping]) -> io::Result<File> {
    let mut pipe = [-1 as c_int; 2];
    // SAFETY: pipe is a valid array of two ints.
    if unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just created and are owned here.
    let (read, write) = unsafe { (File::from_raw_fd(pipe[0]), File::from_raw_fd(pipe[1])) };
    // SAFETY: clone with fork semantics; the child only calls read and
    // _exit (async-signal-safe) on memory it owns.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    } as i32;
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        let mut b = [0u8; 1];
        // SAFETY: close our copy of the write end (else EOF never comes),
        // read into a stack byte; _exit never returns.
        unsafe {
            libc::close(write.as_raw_fd());
            libc::read(read.as_raw_fd(), b.as_mut_ptr().cast(), 1);
            libc::_exit(0)
        }
    }
    drop(read);
    let result = (|| {
        std::fs::write(format!("/proc/{pid}/uid_map"), map_text(uid))?;
        std::fs::write(format!("/proc/{pid}/gid_map"), map_text(gid))?;
        File::open(format!("/proc/{pid}/ns/user"))
    })();
    // The helper exits at EOF on the pipe.
    drop(write);
    let mut status = 0;
    // SAFETY: reaping our own child with a valid status pointer.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    result
}
