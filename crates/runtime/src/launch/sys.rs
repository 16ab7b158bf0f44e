//! Async-signal-safe building blocks for the code that runs between clone
//! and execve: raw syscalls on prepared buffers, integer formatting into
//! stack arrays, no allocation, no locks, no panics on any input.

use std::ffi::{c_char, c_int, CStr, CString};
use std::ptr;

/// The calling thread's errno.
pub fn errno() -> c_int {
    // SAFETY: __errno_location returns a valid pointer to this thread's errno.
    unsafe { *libc::__errno_location() }
}

/// Writes all of `buf` to `fd`, retrying on EINTR; false on failure.
pub fn write_all(fd: c_int, mut buf: &[u8]) -> bool {
    while !buf.is_empty() {
        // SAFETY: buf is a valid readable slice for its length.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            return false;
        }
        if n == 0 {
            return false;
        }
        buf = buf.get(n as usize..).unwrap_or(&[]);
    }
    true
}

/// Decimal digits of `n` into `buf`, returning the used tail.
pub fn fmt_u64(buf: &mut [u8; 20], mut n: u64) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    &buf[i..]
}

/// A NUL-terminated path built on the stack (e.g. `/proc/self/fd/7`).
pub struct StackPath {
    buf: [u8; 64],
}

impl StackPath {
    /// `prefix` followed by the decimal `n` (prefix must be under 40 bytes).
    pub fn with_number(prefix: &[u8], n: u64) -> StackPath {
        let mut p = StackPath { buf: [0; 64] };
        let plen = prefix.len().min(40);
        p.buf[..plen].copy_from_slice(&prefix[..plen]);
        let mut digits = [0u8; 20];
        let d = fmt_u64(&mut digits, n);
        p.buf[plen..plen + d.len()].copy_from_slice(d);
        p
    }

    /// `/proc/self/fd/<fd>`: the path the kernel resolves to the object
    /// behind `fd` (how mounts land on a target resolved with openat2).
    pub fn proc_fd(fd: c_int) -> StackPath {
        StackPath::with_number(b"/proc/self/fd/", fd as u64)
    }

    pub fn as_ptr(&self) -> *const c_char {
        self.buf.as_ptr().cast()
    }

    /// The bytes before the NUL.
    pub fn bytes(&self) -> &[u8] {
        let end = self
            .buf
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.buf.len());
        &self.buf[..end]
    }
}

/// A NULL-terminated array of C strings (argv/envp), built before clone.
#[derive(Debug)]
pub struct CStringArray {
    strings: Vec<CString>,
    ptrs: Vec<*const c_char>,
}

impl CStringArray {
    pub fn new(strings: Vec<CString>) -> CStringArray {
        let mut ptrs: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        ptrs.push(ptr::null());
        CStringArray { strings, ptrs }
    }

    pub fn as_ptr(&self) -> *const *const c_char {
        self.ptrs.as_ptr()
    }

    pub fn strings(&self) -> impl Iterator<Item = &CStr> {
        self.strings.iter().map(CString::as_c_str)
    }

    pub fn first(&self) -> Option<&CStr> {
        self.strings.first().map(CString::as_c_str)
    }

    pub fn len(&self) -> usize {
        self.strings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.strings.is_empty()
    }
}

/// Ends the calling process at once, without running atexit handlers or
/// flushing stdio (those belong to the parent's copy of the memory).
pub fn exit_now(code: c_int) -> ! {
    // SAFETY: _exit never returns and is async-signal-safe.
    unsafe { libc::_exit(code) }
}

/// `openat2` with `RESOLVE_IN_ROOT`: resolves `path` as if `root` were `/`,
/// so `..` and absolute symlinks cannot leave the rootfs. `path` must hold
/// a NUL (the name ends there); without one the call fails with EINVAL.
pub fn open_in_root(root: c_int, path: &[u8], flags: c_int) -> c_int {
    if !path.contains(&0) {
        // SAFETY: writing this thread's errno.
        unsafe { *libc::__errno_location() = libc::EINVAL };
        return -1;
    }
    // SAFETY: open_how is plain data; all-zero is its default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: path holds a NUL within the slice (checked above) and `how`
    // is a valid open_how of the size given.
    unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root,
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        ) as c_int
    }
}

/// Closes `fd` if it is valid.
pub fn close(fd: c_int) {
    if fd >= 0 {
        // SAFETY: closing a descriptor number has no memory effects.
        unsafe { libc::close(fd) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers_and_paths() {
        let mut b = [0u8; 20];
        assert_eq!(fmt_u64(&mut b, 0), b"0");
        assert_eq!(fmt_u64(&mut b, 1234567890), b"1234567890");
        assert_eq!(fmt_u64(&mut b, u64::MAX), b"18446744073709551615");
        assert_eq!(StackPath::proc_fd(17).bytes(), b"/proc/self/fd/17");
        assert_eq!(
            StackPath::with_number(b"/dev/pts/", 3).bytes(),
            b"/dev/pts/3"
        );
    }
}
