//! Running nftables scripts: in-process through libnftables when the
//! library is installed (no fork/exec per transaction), else through the
//! `nft` binary. Either way one script is one atomic kernel transaction,
//! and it acts in the network namespace of the calling thread.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use super::FirewallError;

type CtxNew = unsafe extern "C" fn(u32) -> *mut c_void;
type CtxFree = unsafe extern "C" fn(*mut c_void);
type CtxInt = unsafe extern "C" fn(*mut c_void) -> c_int;
type CtxStr = unsafe extern "C" fn(*mut c_void) -> *const c_char;
type RunCmd = unsafe extern "C" fn(*mut c_void, *const c_char) -> c_int;

/// The libnftables entry points berth uses.
struct Lib {
    ctx_new: CtxNew,
    ctx_free: CtxFree,
    buffer_output: CtxInt,
    buffer_error: CtxInt,
    get_output: CtxStr,
    get_error: CtxStr,
    run_cmd: RunCmd,
}

/// libnftables keeps some process-wide state (its parser's symbol tables,
/// the gmp allocator setup); serialise use to stay on the safe side. The
/// cost is nil next to a kernel transaction.
static LIB_LOCK: Mutex<()> = Mutex::new(());

fn lib() -> Option<&'static Lib> {
    static LIB: OnceLock<Option<Lib>> = OnceLock::new();
    LIB.get_or_init(load).as_ref()
}

fn load() -> Option<Lib> {
    // SAFETY: dlopen with a constant NUL-terminated name; the handle is kept
    // for the life of the process (never dlclosed), so symbols stay valid.
    let handle = unsafe {
        libc::dlopen(
            c"libnftables.so.1".as_ptr(),
            libc::RTLD_NOW | libc::RTLD_LOCAL,
        )
    };
    if handle.is_null() {
        tracing::debug!("libnftables.so.1 not found; using the nft binary");
        return None;
    }
    let sym = |name: &CStr| {
        // SAFETY: handle is a live dlopen handle; name is NUL-terminated.
        let p = unsafe { libc::dlsym(handle, name.as_ptr()) };
        (!p.is_null()).then_some(p)
    };
    // SAFETY: (for each transmute below) the symbols are the documented
    // libnftables functions (libnftables(3)) with exactly these C
    // signatures; a null symbol aborts the load instead.
    unsafe {
        Some(Lib {
            ctx_new: std::mem::transmute::<*mut c_void, CtxNew>(sym(c"nft_ctx_new")?),
            ctx_free: std::mem::transmute::<*mut c_void, CtxFree>(sym(c"nft_ctx_free")?),
            buffer_output: std::mem::transmute::<*mut c_void, CtxInt>(sym(
                c"nft_ctx_buffer_output",
            )?),
            buffer_error: std::mem::transmute::<*mut c_void, CtxInt>(sym(c"nft_ctx_buffer_error")?),
            get_output: std::mem::transmute::<*mut c_void, CtxStr>(sym(
                c"nft_ctx_get_output_buffer",
            )?),
            get_error: std::mem::transmute::<*mut c_void, CtxStr>(sym(
                c"nft_ctx_get_error_buffer",
            )?),
            run_cmd: std::mem::transmute::<*mut c_void, RunCmd>(sym(c"nft_run_cmd_from_buffer")?),
        })
    }
}

/// Which way scripts run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// libnftables, in process.
    Library,
    /// The `nft` binary, one process per script.
    Binary,
}

/// The backend this process uses.
pub fn backend() -> Backend {
    if lib().is_some() {
        Backend::Library
    } else {
        Backend::Binary
    }
}

/// Runs `script` as one transaction; returns nft's standard output.
/// `op` names the operation for errors.
pub fn run(op: &str, script: &str) -> Result<String, FirewallError> {
    tracing::trace!(op, script, "nft");
    match lib() {
        Some(lib) => run_lib(lib, op, script),
        None => run_binary(op, script),
    }
}

fn run_lib(lib: &Lib, op: &str, script: &str) -> Result<String, FirewallError> {
    let c_script = CString::new(script).map_err(|_| FirewallError::Invalid {
        what: "nft script",
        detail: "contains a NUL byte".into(),
    })?;
    let _guard = LIB_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    // SAFETY: nft_ctx_new(NFT_CTX_DEFAULT) returns a new context or null.
    let ctx = unsafe { (lib.ctx_new)(0) };
    if ctx.is_null() {
        return Err(FirewallError::Nft {
            op: op.to_string(),
            message: "nft_ctx_new failed".into(),
        });
    }
    // SAFETY: ctx is a live context for the whole block and freed exactly
    // once at its end; the buffers it returns are NUL-terminated strings it
    // owns, copied out before the free.
    unsafe {
        (lib.buffer_output)(ctx);
        (lib.buffer_error)(ctx);
        let rc = (lib.run_cmd)(ctx, c_script.as_ptr());
        let text = |p: *const c_char| {
            if p.is_null() {
                String::new()
            } else {
                CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        };
        let out = text((lib.get_output)(ctx));
        let err = text((lib.get_error)(ctx));
        (lib.ctx_free)(ctx);
        if rc != 0 {
            return Err(FirewallError::Nft {
                op: op.to_string(),
                message: first_error(&err),
            });
        }
        Ok(out)
    }
}

fn run_binary(op: &str, script: &str) -> Result<String, FirewallError> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(FirewallError::Spawn)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(FirewallError::Spawn)?;
    }
    let out = child.wait_with_output().map_err(FirewallError::Spawn)?;
    if !out.status.success() {
        return Err(FirewallError::Nft {
            op: op.to_string(),
            message: first_error(&String::from_utf8_lossy(&out.stderr)),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// nft prints "file:line:col: Error: why" followed by the offending line and
/// a caret line; keep the first error line, without the location.
fn first_error(stderr: &str) -> String {
    let line = stderr
        .lines()
        .find(|l| l.contains("Error:"))
        .unwrap_or_else(|| stderr.lines().next().unwrap_or(""));
    match line.split_once("Error: ") {
        Some((_, why)) => why.trim().to_string(),
        None => line.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn first_error_strips_location() {
        let e = "/dev/stdin:1:30-37: Error: Could not process rule: File exists\nadd element ...\n   ^^^\n";
        assert_eq!(super::first_error(e), "Could not process rule: File exists");
    }
}
