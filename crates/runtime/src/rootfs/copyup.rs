//! `tmpcopyup` in the child: the directory a tmpfs is about to cover is
//! opened first; once the tmpfs is mounted, its tree is copied in through
//! that descriptor (the covered directory stays readable through it), with
//! modes, owners, symlinks and device nodes kept, as runc copies it.
//! Raw syscalls on stack buffers only; every name is resolved relative to
//! a directory descriptor with O_NOFOLLOW, so a symlink in the image is
//! copied as a symlink and never followed.

use std::ffi::c_int;

use crate::launch::sys::{close, errno};

/// Directory levels copied at most (each level holds one dirent buffer on
/// the stack).
const MAX_DEPTH: u32 = 64;

/// Copies the contents of directory `from` into directory `to`.
pub fn copy_tree(from: c_int, to: c_int) -> Result<(), c_int> {
    copy_dir(from, to, 0)
}

fn copy_dir(from: c_int, to: c_int, depth: u32) -> Result<(), c_int> {
    if depth > MAX_DEPTH {
        return Err(libc::ELOOP);
    }
    // getdents64 reads from the descriptor's offset: rewind (the fd may
    // have been read before).
    // SAFETY: lseek on an open descriptor.
    unsafe { libc::lseek(from, 0, libc::SEEK_SET) };
    let mut buf = [0u8; 2048];
    loop {
        // SAFETY: buf is a valid writable buffer of its length.
        let n = unsafe {
            libc::syscall(libc::SYS_getdents64, from, buf.as_mut_ptr(), buf.len()) as isize
        };
        if n < 0 {
            return Err(errno());
        }
        if n == 0 {
            return Ok(());
        }
        let mut off = 0usize;
        while off < n as usize {
            // linux_dirent64: u64 ino, i64 off, u16 reclen, u8 type, name.
            let Some(reclen) = buf.get(off + 16..off + 18) else {
                return Err(libc::EIO);
            };
            let reclen = usize::from(u16::from_ne_bytes([reclen[0], reclen[1]]));
            let Some(name) = buf.get(off + 19..off + reclen) else {
                return Err(libc::EIO);
            };
            off += reclen.max(1);
            let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            let bare = &name[..len];
            if bare == b"." || bare == b".." || len == name.len() {
                continue;
            }
            copy_entry(from, to, name.as_ptr().cast(), depth)?;
        }
    }
}

/// Copies the entry `name` (NUL-terminated) of `from` into `to`.
fn copy_entry(from: c_int, to: c_int, name: *const libc::c_char, depth: u32) -> Result<(), c_int> {
    // SAFETY: an all-zero stat is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: from is open; name is NUL-terminated; st is a valid out pointer.
    if unsafe { libc::fstatat(from, name, &mut st, libc::AT_SYMLINK_NOFOLLOW) } != 0 {
        return Err(errno());
    }
    let perm = st.st_mode & 0o7777;
    match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => {
            // SAFETY: to is open; name is NUL-terminated.
            if unsafe { libc::mkdirat(to, name, 0o700) } != 0 && errno() != libc::EEXIST {
                return Err(errno());
            }
            let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
            // SAFETY: as above.
            let sub_from = unsafe { libc::openat(from, name, flags) };
            // SAFETY: as above.
            let sub_to = unsafe { libc::openat(to, name, flags) };
            let r = if sub_from < 0 || sub_to < 0 {
                Err(errno())
            } else {
                copy_dir(sub_from, sub_to, depth + 1).and_then(|()| own(sub_to, &st, perm))
            };
            close(sub_from);
            close(sub_to);
            r
        }
        libc::S_IFREG => copy_file(from, to, name, &st, perm),
        libc::S_IFLNK => copy_link(from, to, name, &st),
        _ => {
            // Device nodes, FIFOs, sockets.
            // SAFETY: to is open; name is NUL-terminated.
            if unsafe { libc::mknodat(to, name, st.st_mode, st.st_rdev) } != 0 {
                return Err(errno());
            }
            // SAFETY: as above.
            if unsafe { libc::fchownat(to, name, st.st_uid, st.st_gid, libc::AT_SYMLINK_NOFOLLOW) }
                != 0
            {
                return Err(errno());
            }
            Ok(())
        }
    }
}

/// Owner first, then the mode (chown clears set-id bits).
fn own(fd: c_int, st: &libc::stat, perm: u32) -> Result<(), c_int> {
    // SAFETY: fchown on an open descriptor.
    if unsafe { libc::fchown(fd, st.st_uid, st.st_gid) } != 0 {
        return Err(errno());
    }
    // SAFETY: fchmod on an open descriptor.
    if unsafe { libc::fchmod(fd, perm) } != 0 {
        return Err(errno());
    }
    Ok(())
}

fn copy_file(
    from: c_int,
    to: c_int,
    name: *const libc::c_char,
    st: &libc::stat,
    perm: u32,
) -> Result<(), c_int> {
    // SAFETY: from/to are open; name is NUL-terminated.
    let src = unsafe {
        libc::openat(
            from,
            name,
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if src < 0 {
        return Err(errno());
    }
    // SAFETY: as above.
    let dst = unsafe {
        libc::openat(
            to,
            name,
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o600,
        )
    };
    if dst < 0 {
        let e = errno();
        close(src);
        return Err(e);
    }
    let mut r = Ok(());
    // sendfile: file to file across filesystems (copy_file_range refuses
    // an image's filesystem to tmpfs with EXDEV).
    loop {
        // SAFETY: both descriptors are open; a NULL offset uses src's offset.
        let n = unsafe { libc::sendfile(dst, src, std::ptr::null_mut(), 1 << 30) };
        if n < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            r = Err(errno());
            break;
        }
        if n == 0 {
            break;
        }
    }
    let r = r.and_then(|()| own(dst, st, perm));
    close(src);
    close(dst);
    r
}

/// A symlink as a symlink (never followed), with its owner.
#[inline(never)]
fn copy_link(
    from: c_int,
    to: c_int,
    name: *const libc::c_char,
    st: &libc::stat,
) -> Result<(), c_int> {
    let mut target = [0u8; 4097];
    // SAFETY: target is a valid buffer; one byte is kept for the NUL.
    let n = unsafe { libc::readlinkat(from, name, target.as_mut_ptr().cast(), target.len() - 1) };
    if n < 0 {
        return Err(errno());
    }
    target[n as usize] = 0;
    // SAFETY: target is NUL-terminated; to is open; name is NUL-terminated.
    if unsafe { libc::symlinkat(target.as_ptr().cast(), to, name) } != 0 {
        return Err(errno());
    }
    // SAFETY: as above.
    if unsafe { libc::fchownat(to, name, st.st_uid, st.st_gid, libc::AT_SYMLINK_NOFOLLOW) } != 0 {
        return Err(errno());
    }
    Ok(())
}
