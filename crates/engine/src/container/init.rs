//! `--init`: a static init binary (tini, as dockerd ships it as
//! docker-init) bind-mounted read-only at /sbin/docker-init and run as
//! PID 1 in front of the command, so zombies are reaped and signals
//! forwarded. berth's own binary never runs inside a container (the
//! CVE-2019-5736 defence in docs/architecture.md), hence a separate one.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{EngineError, Result};

/// Where the init binary appears inside the container (dockerd's path).
pub const CONTAINER_PATH: &str = "/sbin/docker-init";

/// Whether a container runs with an init: its `HostConfig.Init`, or the
/// daemon's default (`"init": true` in daemon.json) when that is null.
pub fn wanted(init: Option<bool>, daemon_default: bool) -> bool {
    init.unwrap_or(daemon_default)
}

/// The process args with the init in front: `docker-init -- CMD...`.
pub fn wrap(args: Vec<String>) -> Vec<String> {
    let mut out = vec![CONTAINER_PATH.to_owned(), "--".to_owned()];
    out.extend(args);
    out
}

/// Finds the init binary on the host: `explicit` (`--init-path`) alone if
/// given; else `berth-init` or `docker-init` beside berthd, `docker-init`
/// on $PATH, then `tini-static` (Debian's tini package). Dynamic
/// candidates of the search are passed over (a busybox image has no
/// libc); if only dynamic ones exist, the first is named in the error.
pub fn lookup(explicit: Option<&Path>, beside: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        if !p.exists() {
            return Err(EngineError::Internal(format!(
                "exec: \"{}\": stat {}: no such file or directory (set by --init-path)",
                p.display(),
                p.display()
            )));
        }
        check_static(p)?;
        return Ok(p.to_path_buf());
    }
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(dir) = beside {
        candidates.push(dir.join("berth-init"));
        candidates.push(dir.join("docker-init"));
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path_var).collect();
    for name in ["docker-init", "tini-static"] {
        candidates.extend(dirs.iter().map(|d| d.join(name)));
        candidates.push(Path::new("/usr/bin").join(name));
    }
    let mut dynamic = None;
    for c in candidates.iter().filter(|c| c.is_file()) {
        match check_static(c) {
            Ok(()) => return Ok(c.clone()),
            Err(e) => {
                dynamic.get_or_insert(e);
            }
        }
    }
    Err(dynamic.unwrap_or_else(|| {
        EngineError::Internal(
            "exec: \"docker-init\": executable file not found in $PATH (berthd also looked for \
             berth-init next to itself and tini-static; install tini or set --init-path)"
                .into(),
        )
    }))
}

/// Refuses anything but a static ELF executable: no PT_INTERP program
/// header (a dynamic one would need the image's libc and loader).
pub fn check_static(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let bad = |why: String| EngineError::Internal(format!("init binary {}: {why}", path.display()));
    let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Err(bad("not an executable file".into()));
    }
    let mut head = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(64 * 1024).read_to_end(&mut head))
        .map_err(|e| bad(e.to_string()))?;
    match interpreter(&head) {
        Ok(false) => Ok(()),
        Ok(true) => Err(bad(
            "is dynamically linked; --init needs a static binary (e.g. tini-static)".into(),
        )),
        Err(why) => Err(bad(why.into())),
    }
}

/// Whether the ELF image in `b` (its first bytes) has a PT_INTERP header.
fn interpreter(b: &[u8]) -> std::result::Result<bool, &'static str> {
    const PT_INTERP: u32 = 3;
    if b.len() < 52 || &b[..4] != b"\x7fELF" {
        return Err("not an ELF executable");
    }
    let wide = match b[4] {
        1 => false,
        2 => true,
        _ => return Err("unknown ELF class"),
    };
    let le = match b[5] {
        1 => true,
        2 => false,
        _ => return Err("unknown ELF byte order"),
    };
    let num = |off: usize, len: usize| -> std::result::Result<u64, &'static str> {
        let s = b.get(off..off + len).ok_or("truncated ELF header")?;
        let mut v = 0u64;
        for i in 0..len {
            let byte = if le { s[len - 1 - i] } else { s[i] };
            v = (v << 8) | u64::from(byte);
        }
        Ok(v)
    };
    let (phoff, phentsize, phnum) = if wide {
        (num(32, 8)?, num(54, 2)?, num(56, 2)?)
    } else {
        (num(28, 4)?, num(42, 2)?, num(44, 2)?)
    };
    for i in 0..phnum {
        let off = usize::try_from(phoff + i * phentsize).map_err(|_| "bad program header")?;
        if num(off, 4)? as u32 == PT_INTERP {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal 64-bit little-endian ELF header with the given program
    /// header types.
    fn elf64(types: &[u32]) -> Vec<u8> {
        let mut b = vec![0u8; 64];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[32..40].copy_from_slice(&64u64.to_le_bytes());
        b[54..56].copy_from_slice(&56u16.to_le_bytes());
        b[56..58].copy_from_slice(&(types.len() as u16).to_le_bytes());
        for t in types {
            let mut ph = vec![0u8; 56];
            ph[..4].copy_from_slice(&t.to_le_bytes());
            b.extend(ph);
        }
        b
    }

    #[test]
    fn pt_interp_means_dynamic() {
        assert_eq!(interpreter(&elf64(&[6, 3, 1])), Ok(true));
        assert_eq!(interpreter(&elf64(&[1, 1, 4])), Ok(false));
        assert!(interpreter(
            b"#!/bin/sh\necho not elf\n........................................................"
        )
        .is_err());
        let mut cut = elf64(&[1, 3]);
        cut.truncate(64 + 20);
        assert!(interpreter(&cut).is_err(), "headers past the end");
    }

    #[test]
    fn host_binaries_are_told_apart() {
        // The test binary itself links libc dynamically.
        let me = std::env::current_exe().expect("current exe");
        let e = check_static(&me).expect_err("a dynamic binary is refused");
        assert!(e.to_string().contains("dynamically linked"), "{e}");
        let tini = Path::new("/usr/bin/tini-static");
        if tini.exists() {
            check_static(tini).expect("tini-static is static");
        } else {
            eprintln!("skipping the static half: /usr/bin/tini-static missing (package tini)");
        }
        let missing = lookup(Some(Path::new("/nonexistent/init")), None).expect_err("missing");
        assert!(missing.to_string().contains("no such file"), "{missing}");
    }

    #[test]
    fn the_init_goes_in_front() {
        assert_eq!(
            wrap(vec!["sleep".into(), "1".into()]),
            ["/sbin/docker-init", "--", "sleep", "1"]
        );
        assert!(wanted(None, true) && !wanted(Some(false), true) && wanted(Some(true), false));
    }
}
