//! The last execve goes through a sealed in-memory trampoline, so no
//! process in a container ever runs, or can reach, berth's own executable
//! (CVE-2019-5736).
//!
//! berth does not re-execute itself: the child that joins the container is
//! a clone of berth, and until its final execve `/proc/<pid>/exe` names
//! the berth binary on the host. Two ways lead from the container to it:
//! - another container process opens `/proc/<child>/exe` while the child
//!   sets up (create→start, hooks, `exec`): the child is not dumpable from
//!   its first instruction (`PR_SET_DUMPABLE` 0), so the open fails for
//!   anything without CAP_SYS_PTRACE;
//! - the container's program is a script starting `#!/proc/self/exe`: the
//!   kernel resolves the interpreter while the execing process is still
//!   berth, the container then runs the host's berth binary as its own
//!   (dumpable) process, and a second process keeps an `O_PATH` handle to
//!   it and reopens it for writing once it exits. Non-dumpable cannot help
//!   here; what the process *is* at execve must not be berth.
//!
//! So the child first execs a tiny static ELF written into a sealed memfd
//! (about 4 KiB, made in the child, microseconds), which then execs the
//! program. At the program's execve `/proc/self/exe` is that memfd: sealed
//! against writes, growing and shrinking, private to the process, gone
//! with it. runc gets the same effect by re-executing a sealed copy of
//! itself (megabytes copied per start); the trampoline costs one extra
//! execve of a 4 KiB image, whose only jobs are to mark the sync socket
//! close-on-exec, execve the program, and report the file and errno if
//! that fails (on the socket, or on stderr once `create` has returned).
//!
//! x86_64 only (the machine code below); elsewhere the program is execed
//! directly and only the non-dumpable defence holds.

use std::ffi::{c_int, CStr};

use super::sys::{close, errno, write_all, CStringArray};

/// Longest program path the image holds (the kernel's PATH_MAX).
const PATH_MAX: usize = 4096;
/// Where the image is loaded (a fixed ET_EXEC address).
const BASE: u64 = 0x40_0000;
/// ELF header (64 bytes) + one program header (56 bytes).
const HEADERS: usize = 120;

/// The trampoline's code, assembled from `trampoline.s` beside this file
/// (`as trampoline.s -o t.o && objcopy -O binary -j .text t.o t.bin`; the
/// test below reassembles it when binutils are there). At entry rsp
/// points at argc, argv[], NULL, envp[]. It runs `fcntl(SYNC, F_SETFD,
/// FD_CLOEXEC)`, then `execve(PATH, argv, envp)`; if that returns, it
/// sends the runtime's ERROR message (step EXECVE, INDEX, errno) on SYNC,
/// or, with nobody listening any more (after `create` returned), writes
/// `exec PATH: errno N` to stderr, and exits 127. EBADF from the fcntl
/// means SYNC is already gone: the image runs a second time, as the
/// interpreter of a `#!/proc/self/exe` script the program execed; it
/// exits 126 instead of looping.
#[cfg(target_arch = "x86_64")]
const CODE: [u8; 0x13d] = [
    0x48, 0x8d, 0x74, 0x24, 0x08, 0x48, 0x8b, 0x04, 0x24, 0x48, 0x8d, 0x54, 0xc4, 0x10, 0x49, 0x89,
    0xf5, 0x49, 0x89, 0xd6, 0xbf, 0x44, 0x33, 0x22, 0x11, 0xbe, 0x02, 0x00, 0x00, 0x00, 0xba, 0x01,
    0x00, 0x00, 0x00, 0xb8, 0x48, 0x00, 0x00, 0x00, 0x0f, 0x05, 0x83, 0xf8, 0xf7, 0x0f, 0x84, 0xf1,
    0x00, 0x00, 0x00, 0x48, 0x8d, 0x3d, 0x03, 0x01, 0x00, 0x00, 0x4c, 0x89, 0xee, 0x4c, 0x89, 0xf2,
    0xb8, 0x3b, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xf7, 0xd8, 0x41, 0x89, 0xc7, 0x48, 0x83, 0xec, 0x20,
    0xc7, 0x04, 0x24, 0x06, 0x00, 0x00, 0x00, 0xc7, 0x44, 0x24, 0x04, 0x28, 0x00, 0x00, 0x00, 0xc7,
    0x44, 0x24, 0x08, 0x88, 0x77, 0x66, 0x55, 0x89, 0x44, 0x24, 0x0c, 0xbf, 0x44, 0x33, 0x22, 0x11,
    0x48, 0x89, 0xe6, 0xba, 0x10, 0x00, 0x00, 0x00, 0x41, 0xba, 0x00, 0x40, 0x00, 0x00, 0x45, 0x31,
    0xc0, 0x45, 0x31, 0xc9, 0xb8, 0x2c, 0x00, 0x00, 0x00, 0x0f, 0x05, 0x48, 0x85, 0xc0, 0x0f, 0x89,
    0x84, 0x00, 0x00, 0x00, 0xbf, 0x02, 0x00, 0x00, 0x00, 0x48, 0x8d, 0x35, 0x90, 0x00, 0x00, 0x00,
    0xba, 0x05, 0x00, 0x00, 0x00, 0xb8, 0x01, 0x00, 0x00, 0x00, 0x0f, 0x05, 0x48, 0x8d, 0x35, 0x8a,
    0x00, 0x00, 0x00, 0x31, 0xd2, 0x80, 0x3c, 0x16, 0x00, 0x74, 0x05, 0x48, 0xff, 0xc2, 0xeb, 0xf5,
    0xbf, 0x02, 0x00, 0x00, 0x00, 0xb8, 0x01, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xbf, 0x02, 0x00, 0x00,
    0x00, 0x48, 0x8d, 0x35, 0x5d, 0x00, 0x00, 0x00, 0xba, 0x08, 0x00, 0x00, 0x00, 0xb8, 0x01, 0x00,
    0x00, 0x00, 0x0f, 0x05, 0x48, 0x8d, 0x74, 0x24, 0x1f, 0xc6, 0x06, 0x0a, 0x44, 0x89, 0xf8, 0xb9,
    0x0a, 0x00, 0x00, 0x00, 0x31, 0xd2, 0xf7, 0xf1, 0x80, 0xc2, 0x30, 0x48, 0xff, 0xce, 0x88, 0x16,
    0x85, 0xc0, 0x75, 0xf0, 0x48, 0x8d, 0x54, 0x24, 0x20, 0x48, 0x29, 0xf2, 0xbf, 0x02, 0x00, 0x00,
    0x00, 0xb8, 0x01, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xbf, 0x7f, 0x00, 0x00, 0x00, 0xb8, 0xe7, 0x00,
    0x00, 0x00, 0x0f, 0x05, 0xbf, 0x7e, 0x00, 0x00, 0x00, 0xb8, 0xe7, 0x00, 0x00, 0x00, 0x0f, 0x05,
    0x65, 0x78, 0x65, 0x63, 0x20, 0x3a, 0x20, 0x65, 0x72, 0x72, 0x6e, 0x6f, 0x20,
];

/// Placeholders in CODE patched by [`make`]: SYNC (twice) and INDEX.
#[cfg(target_arch = "x86_64")]
const SYNC_AT: [usize; 2] = [0x15, 0x6c];
#[cfg(all(test, target_arch = "x86_64"))]
const SYNC_PLACEHOLDER: u32 = 0x1122_3344;
#[cfg(target_arch = "x86_64")]
const INDEX_AT: usize = 0x63;
#[cfg(all(test, target_arch = "x86_64"))]
const INDEX_PLACEHOLDER: u32 = 0x5566_7788;

#[cfg(target_arch = "x86_64")]
const PATH_AT: usize = HEADERS + CODE.len();
#[cfg(target_arch = "x86_64")]
const IMAGE_LEN: usize = PATH_AT + PATH_MAX;

/// Little-endian `v` into `b` at `at` (const-friendly).
#[cfg(target_arch = "x86_64")]
const fn put(mut b: [u8; PATH_AT], at: usize, v: u64, len: usize) -> [u8; PATH_AT] {
    let mut i = 0;
    while i < len {
        b[at + i] = (v >> (8 * i)) as u8;
        i += 1;
    }
    b
}

/// ELF header, program header and code: everything but SYNC and PATH.
#[cfg(target_arch = "x86_64")]
const fn template() -> [u8; PATH_AT] {
    let mut b = [0u8; PATH_AT];
    // e_ident: magic, 64-bit, little-endian, version 1, System V ABI.
    b = put(b, 0, 0x0001_0102_464c_457f, 8);
    b = put(b, 16, 2, 2); // e_type ET_EXEC
    b = put(b, 18, 0x3e, 2); // e_machine x86-64
    b = put(b, 20, 1, 4); // e_version
    b = put(b, 24, BASE + HEADERS as u64, 8); // e_entry
    b = put(b, 32, 64, 8); // e_phoff
    b = put(b, 52, 64, 2); // e_ehsize
    b = put(b, 54, 56, 2); // e_phentsize
    b = put(b, 56, 1, 2); // e_phnum
                          // The one PT_LOAD: the whole file, read + execute.
    b = put(b, 64, 1, 4); // p_type PT_LOAD
    b = put(b, 68, 5, 4); // p_flags R|X
    b = put(b, 72, 0, 8); // p_offset
    b = put(b, 80, BASE, 8); // p_vaddr
    b = put(b, 88, BASE, 8); // p_paddr
    b = put(b, 96, IMAGE_LEN as u64, 8); // p_filesz
    b = put(b, 104, IMAGE_LEN as u64, 8); // p_memsz
    b = put(b, 112, 0x1000, 8); // p_align
    let mut i = 0;
    while i < CODE.len() {
        b[HEADERS + i] = CODE[i];
        i += 1;
    }
    b
}

#[cfg(target_arch = "x86_64")]
static TEMPLATE: [u8; PATH_AT] = template();

/// Child side: writes the trampoline for `path` (the program to exec,
/// NUL-terminated; exec candidate `index`, for the error report) into a
/// sealed memfd and returns it (close-on-exec).
/// Errors are errnos. Async-signal-safe: the image is built on the stack.
#[cfg(target_arch = "x86_64")]
pub fn make(path: &CStr, index: usize, sync: c_int) -> Result<c_int, c_int> {
    let p = path.to_bytes_with_nul();
    if p.len() > PATH_MAX {
        return Err(libc::ENAMETOOLONG);
    }
    let mut image = [0u8; IMAGE_LEN];
    image[..PATH_AT].copy_from_slice(&TEMPLATE);
    for at in SYNC_AT {
        image[HEADERS + at..HEADERS + at + 4].copy_from_slice(&(sync as u32).to_le_bytes());
    }
    image[HEADERS + INDEX_AT..HEADERS + INDEX_AT + 4]
        .copy_from_slice(&(index as u32).to_le_bytes());
    image[PATH_AT..PATH_AT + p.len()].copy_from_slice(p);

    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // MFD_EXEC: where vm.memfd_noexec asks callers to say so (6.3+);
    // older kernels refuse the flag with EINVAL.
    // SAFETY: memfd_create with a constant name and integer flags.
    let mut fd = unsafe { libc::memfd_create(c"berth-exec".as_ptr(), flags | libc::MFD_EXEC) };
    if fd < 0 && errno() == libc::EINVAL {
        // SAFETY: as above.
        fd = unsafe { libc::memfd_create(c"berth-exec".as_ptr(), flags) };
    }
    if fd < 0 {
        return Err(errno());
    }
    if !write_all(fd, &image) {
        let e = errno();
        close(fd);
        return Err(e);
    }
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl with integer arguments.
    if unsafe { libc::fcntl(fd, libc::F_ADD_SEALS, seals) } != 0 {
        let e = errno();
        close(fd);
        return Err(e);
    }
    Ok(fd)
}

/// Elsewhere there is no trampoline: the caller execs directly.
#[cfg(not(target_arch = "x86_64"))]
pub fn make(_path: &CStr, _index: usize, _sync: c_int) -> Result<c_int, c_int> {
    Err(libc::ENOSYS)
}

/// Child side: execs the trampoline `fd` with the program's argv and envp,
/// handing it `sync` (which it closes at the program's execve). Returns
/// only on failure, with the errno.
pub fn exec(
    fd: c_int,
    sync: c_int,
    argv: &CStringArray,
    envp: &CStringArray,
    execveat_allowed: bool,
) -> c_int {
    let (argv, envp) = (argv.as_ptr(), envp.as_ptr());
    // SAFETY: fcntl with integer arguments.
    unsafe { libc::fcntl(sync, libc::F_SETFD, 0) };
    let mut e = libc::EPERM;
    if execveat_allowed {
        // SAFETY: fd is the sealed image; argv and envp are NULL-terminated
        // arrays built before clone; the empty path with AT_EMPTY_PATH
        // names fd.
        unsafe {
            libc::syscall(
                libc::SYS_execveat,
                fd,
                c"".as_ptr(),
                argv,
                envp,
                libc::AT_EMPTY_PATH,
            )
        };
        e = errno();
    }
    if e == libc::ENOSYS || e == libc::EPERM {
        // execveat unavailable or not in the profile: the same image
        // through the container's /proc (procfs there is checked to be on
        // an ordinary directory), with plain execve.
        let path = super::sys::StackPath::proc_fd(fd);
        // SAFETY: as above, with a NUL-terminated path.
        unsafe { libc::execve(path.as_ptr(), argv, envp) };
        e = errno();
    }
    // SAFETY: fcntl with integer arguments.
    unsafe { libc::fcntl(sync, libc::F_SETFD, libc::FD_CLOEXEC) };
    e
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    #[test]
    fn the_image_is_one_loadable_segment_with_its_code_in_place() {
        let t = &TEMPLATE;
        assert_eq!(&t[..4], b"\x7fELF");
        let entry = u64::from_le_bytes(t[24..32].try_into().unwrap_or_default());
        assert_eq!(entry, BASE + HEADERS as u64);
        assert_eq!(&t[HEADERS..HEADERS + 5], &[0x48, 0x8d, 0x74, 0x24, 0x08]);
        let word = |at: usize| {
            u32::from_le_bytes(
                t[HEADERS + at..HEADERS + at + 4]
                    .try_into()
                    .unwrap_or_default(),
            )
        };
        for at in SYNC_AT {
            assert_eq!(word(at), SYNC_PLACEHOLDER, "SYNC at {at:#x}");
        }
        assert_eq!(word(INDEX_AT), INDEX_PLACEHOLDER);
    }

    /// CODE is what trampoline.s assembles to (when `as` is installed).
    #[test]
    fn code_matches_its_source() {
        let Ok(dir) = tempfile::tempdir() else {
            return;
        };
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src/launch/trampoline.s");
        let obj = dir.path().join("t.o");
        let bin = dir.path().join("t.bin");
        let ran = |cmd: &mut std::process::Command| cmd.status().is_ok_and(|s| s.success());
        if !ran(std::process::Command::new("as")
            .arg(src)
            .arg("-o")
            .arg(&obj))
        {
            eprintln!("skipped: no assembler (Debian binutils)");
            return;
        }
        assert!(ran(std::process::Command::new("objcopy")
            .args(["-O", "binary", "-j", ".text"])
            .arg(&obj)
            .arg(&bin)));
        assert_eq!(std::fs::read(&bin).unwrap_or_default(), CODE.to_vec());
    }
}
