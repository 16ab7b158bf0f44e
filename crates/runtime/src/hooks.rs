//! Hooks run by the runtime process itself, in the runtime namespace
//! (prestart, createRuntime, poststart, poststop): the state JSON on
//! stdin, args as configured, env as configured or (none given) the
//! runtime's, the hook's timeout enforced.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use oci_spec::runtime::Hook;

/// A hook that failed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("{kind} hook {path}: {source}")]
    Spawn {
        kind: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{kind} hook {path} exited with {status}{output}")]
    Failed {
        kind: &'static str,
        path: PathBuf,
        status: String,
        output: String,
    },
    #[error("{kind} hook {path} timed out after {secs}s")]
    Timeout {
        kind: &'static str,
        path: PathBuf,
        secs: i64,
    },
}

fn wait_timeout(pid: i32, secs: i64) -> bool {
    // SAFETY: pidfd_open with integer arguments.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    if pidfd < 0 {
        return true;
    }
    let mut pfd = libc::pollfd {
        fd: pidfd,
        events: libc::POLLIN,
        revents: 0,
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(secs.max(0) as u64);
    let exited = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: pfd is a valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r > 0 {
            break true;
        }
        if r == 0 {
            break false;
        }
        if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            break true;
        }
    };
    // SAFETY: closing our own descriptor.
    unsafe { libc::close(pidfd) };
    exited
}

/// Runs one hook with `state` on stdin.
pub fn run_one(kind: &'static str, hook: &Hook, state: &[u8]) -> Result<(), HookError> {
    let path = hook.path().clone();
    let mut cmd = Command::new(&path);
    if let Some(args) = hook.args() {
        if let Some((first, rest)) = args.split_first() {
            cmd.arg0(first).args(rest);
        }
    }
    // Without `env` the hook inherits the runtime's environment, as under
    // runc (Go's exec with a nil Env); with it, exactly that list.
    if let Some(env) = hook.env() {
        cmd.env_clear();
        for kv in env {
            if let Some((k, v)) = kv.split_once('=') {
                cmd.env(k, v);
            }
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|source| HookError::Spawn {
        kind,
        path: path.clone(),
        source,
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that ignores its stdin closes the pipe early: not an error.
        let _ = stdin.write_all(state);
    }
    // Drain output on threads so a chatty hook cannot block on a full pipe
    // while we wait for it.
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    if let Some(secs) = hook.timeout() {
        if !wait_timeout(child.id() as i32, secs) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(HookError::Timeout { kind, path, secs });
        }
    }
    let status = child.wait().map_err(|source| HookError::Spawn {
        kind,
        path: path.clone(),
        source,
    })?;
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if status.success() {
        return Ok(());
    }
    let text = format!("{} {}", stdout.trim(), stderr.trim());
    let text = text.trim().replace('\n', " ");
    Err(HookError::Failed {
        kind,
        path,
        status: status.to_string(),
        output: if text.is_empty() {
            String::new()
        } else {
            format!(": {text}")
        },
    })
}

/// Runs `hooks` in order; the first failure stops and is returned.
pub fn run_all(kind: &'static str, hooks: &[Hook], state: &[u8]) -> Result<(), HookError> {
    for h in hooks {
        run_one(kind, h, state)?;
    }
    Ok(())
}

/// Runs every hook; failures become warnings (poststart, poststop: the
/// spec says log and go on).
pub fn run_warn(kind: &'static str, hooks: &[Hook], state: &[u8]) -> Vec<String> {
    hooks
        .iter()
        .filter_map(|h| run_one(kind, h, state).err().map(|e| e.to_string()))
        .collect()
}
