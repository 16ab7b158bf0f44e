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
//! close-on-exec, execve the program, and report the errno if that fails.
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

/// The trampoline's code. At entry rsp points at argc, argv[], NULL,
/// envp[]. It runs `fcntl(SYNC, F_SETFD, FD_CLOEXEC)`, then
/// `execve(PATH, argv, envp)`; if that returns, it sends the runtime's
/// ERROR message (kind 6, step EXECVE = 40, index 0, errno) on SYNC and
/// exits 127. EBADF from the fcntl means SYNC is already gone: the image
/// runs a second time, as the interpreter of a `#!/proc/self/exe` script
/// the program execed; it exits 126 instead of looping. Assembled from
/// (intel syntax):
/// ```text
///   lea rsi,[rsp+8]; mov rax,[rsp]; lea rdx,[rsp+rax*8+16]
///   mov r13,rsi; mov r14,rdx
///   mov edi,SYNC; mov esi,2; mov edx,1; mov eax,72; syscall     ; fcntl
///   cmp eax,-EBADF; je again
///   lea rdi,[rip+PATH]; mov rsi,r13; mov rdx,r14
///   mov eax,59; syscall                                          ; execve
///   neg eax; sub rsp,16
///   mov dword [rsp],6; mov dword [rsp+4],40; mov dword [rsp+8],0
///   mov [rsp+12],eax
///   mov edi,SYNC; mov rsi,rsp; mov edx,16; mov r10d,0x4000
///   xor r8d,r8d; xor r9d,r9d; mov eax,44; syscall                ; sendto
///   mov edi,127; mov eax,231; syscall                            ; exit_group
/// again:
///   mov edi,126; mov eax,231; syscall
/// PATH:
/// ```
#[cfg(target_arch = "x86_64")]
const CODE: [u8; 0x9c] = [
    0x48, 0x8d, 0x74, 0x24, 0x08, // lea rsi,[rsp+0x8]
    0x48, 0x8b, 0x04, 0x24, // mov rax,QWORD PTR [rsp]
    0x48, 0x8d, 0x54, 0xc4, 0x10, // lea rdx,[rsp+rax*8+0x10]
    0x49, 0x89, 0xf5, // mov r13,rsi
    0x49, 0x89, 0xd6, // mov r14,rdx
    0xbf, 0, 0, 0, 0, // mov edi,SYNC (patched)
    0xbe, 0x02, 0x00, 0x00, 0x00, // mov esi,0x2
    0xba, 0x01, 0x00, 0x00, 0x00, // mov edx,0x1
    0xb8, 0x48, 0x00, 0x00, 0x00, // mov eax,0x48
    0x0f, 0x05, // syscall
    0x83, 0xf8, 0xf7, // cmp eax,0xfffffff7
    0x74, 0x61, // je 90 <again>
    0x48, 0x8d, 0x3d, 0x66, 0x00, 0x00, 0x00, // lea rdi,[rip+0x66] # 9c <path>
    0x4c, 0x89, 0xee, // mov rsi,r13
    0x4c, 0x89, 0xf2, // mov rdx,r14
    0xb8, 0x3b, 0x00, 0x00, 0x00, // mov eax,0x3b
    0x0f, 0x05, // syscall
    0xf7, 0xd8, // neg eax
    0x48, 0x83, 0xec, 0x10, // sub rsp,0x10
    0xc7, 0x04, 0x24, 0x06, 0x00, 0x00, 0x00, // mov DWORD PTR [rsp],0x6
    0xc7, 0x44, 0x24, 0x04, 0x28, 0x00, 0x00, 0x00, // mov DWORD PTR [rsp+0x4],0x28
    0xc7, 0x44, 0x24, 0x08, 0x00, 0x00, 0x00, 0x00, // mov DWORD PTR [rsp+0x8],0x0
    0x89, 0x44, 0x24, 0x0c, // mov DWORD PTR [rsp+0xc],eax
    0xbf, 0, 0, 0, 0, // mov edi,SYNC (patched)
    0x48, 0x89, 0xe6, // mov rsi,rsp
    0xba, 0x10, 0x00, 0x00, 0x00, // mov edx,0x10
    0x41, 0xba, 0x00, 0x40, 0x00, 0x00, // mov r10d,0x4000
    0x45, 0x31, 0xc0, // xor r8d,r8d
    0x45, 0x31, 0xc9, // xor r9d,r9d
    0xb8, 0x2c, 0x00, 0x00, 0x00, // mov eax,0x2c
    0x0f, 0x05, // syscall
    0xbf, 0x7f, 0x00, 0x00, 0x00, // mov edi,0x7f
    0xb8, 0xe7, 0x00, 0x00, 0x00, // mov eax,0xe7
    0x0f, 0x05, // syscall
    0xbf, 0x7e, 0x00, 0x00, 0x00, // mov edi,0x7e
    0xb8, 0xe7, 0x00, 0x00, 0x00, // mov eax,0xe7
    0x0f, 0x05, // syscall
];

/// Offsets in CODE of the two SYNC immediates.
#[cfg(target_arch = "x86_64")]
const SYNC_AT: [usize; 2] = [0x15, 0x65];

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
/// NUL-terminated) into a sealed memfd and returns it (close-on-exec).
/// Errors are errnos. Async-signal-safe: the image is built on the stack.
#[cfg(target_arch = "x86_64")]
pub fn make(path: &CStr, sync: c_int) -> Result<c_int, c_int> {
    let p = path.to_bytes_with_nul();
    if p.len() > PATH_MAX {
        return Err(libc::ENAMETOOLONG);
    }
    let mut image = [0u8; IMAGE_LEN];
    image[..PATH_AT].copy_from_slice(&TEMPLATE);
    for at in SYNC_AT {
        image[HEADERS + at..HEADERS + at + 4].copy_from_slice(&(sync as u32).to_le_bytes());
    }
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
pub fn make(_path: &CStr, _sync: c_int) -> Result<c_int, c_int> {
    Err(libc::ENOSYS)
}

/// Child side: execs the trampoline `fd` with the program's argv and envp,
/// handing it `sync` (which it closes at the program's execve). Returns
/// only on failure, with the errno.
pub fn exec(fd: c_int, sync: c_int, argv: &CStringArray, envp: &CStringArray) -> c_int {
    let (argv, envp) = (argv.as_ptr(), envp.as_ptr());
    // SAFETY: fcntl with integer arguments.
    unsafe { libc::fcntl(sync, libc::F_SETFD, 0) };
    // SAFETY: fd is the sealed image; argv and envp are NULL-terminated
    // arrays built before clone; the empty path with AT_EMPTY_PATH names fd.
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
    let mut e = errno();
    if e == libc::ENOSYS || e == libc::EPERM {
        // execveat unavailable or refused by the profile: the same image
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
        assert_eq!(
            u64::from_le_bytes(t[24..32].try_into().unwrap_or_default()),
            BASE + 120
        );
        assert_eq!(&t[HEADERS..HEADERS + 5], &[0x48, 0x8d, 0x74, 0x24, 0x08]);
        // The rip-relative PATH operand lands on PATH_AT.
        let lea_end = HEADERS + 0x36;
        assert_eq!(lea_end + 0x66, PATH_AT);
        for at in SYNC_AT {
            assert_eq!(t[HEADERS + at - 1], 0xbf, "mov edi,imm32 at {at:#x}");
        }
    }
}
