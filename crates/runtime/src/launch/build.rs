//! Building the child's [`ProcessPlan`] and [`ChildHook`]s from oci-spec
//! types, in the parent: C strings, PATH candidates, HOME, capability
//! masks, capped rlimits, compiled seccomp.

use std::ffi::{c_int, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use oci_spec::runtime::{Hook, LinuxSeccomp, Process};

use super::process::ProcessPlan;
use super::sys::CStringArray;
use super::ChildHook;
use crate::security::caps::{last_cap, CapSets};
use crate::security::rlimits;
use crate::security::seccomp::{self, SeccompError};

/// Why a process could not be planned.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0:?} contains a NUL byte")]
    Nul(String),
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
    #[error(transparent)]
    Env(#[from] super::env::EnvError),
    #[error("process.args is empty")]
    NoArgs,
}

fn c(s: impl AsRef<[u8]>) -> Result<CString, BuildError> {
    let b = s.as_ref();
    CString::new(b).map_err(|_| BuildError::Nul(String::from_utf8_lossy(b).into_owned()))
}

/// PATH used when the process environment has none (runc's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where to look for argv[0]: as given if it has a `/`, else each PATH
/// directory in order.
pub fn exec_candidates(arg0: &str, env: &[String]) -> Vec<String> {
    if arg0.contains('/') {
        return vec![arg0.to_owned()];
    }
    let path = env
        .iter()
        .rev()
        .find_map(|kv| kv.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| format!("{}/{arg0}", d.trim_end_matches('/')))
        .collect()
}

/// Inputs for [`process_plan`] beyond the process itself.
#[derive(Debug, Default)]
pub struct ProcessInputs<'a> {
    /// Rootfs on the host, for the HOME lookup.
    pub rootfs: Option<&'a Path>,
    pub seccomp: Option<&'a LinuxSeccomp>,
    pub console_socket: c_int,
    /// Descriptors after stdio to keep (LISTEN_FDS + --preserve-fds).
    pub keep_fds: c_int,
    /// Extra environment entries appended (e.g. LISTEN_FDS).
    pub extra_env: Vec<String>,
    pub hostname: Option<&'a str>,
    pub domainname: Option<&'a str>,
}

/// The plan for `process`; warnings (capped rlimits, skipped syscalls)
/// come back beside it.
pub fn process_plan(
    process: &Process,
    inputs: &ProcessInputs<'_>,
) -> Result<(ProcessPlan, Vec<String>), BuildError> {
    let args = process.args().clone().unwrap_or_default();
    let arg0 = args.first().ok_or(BuildError::NoArgs)?;
    let mut env = process.env().clone().unwrap_or_default();
    env.extend(inputs.extra_env.iter().cloned());
    let user = process.user();
    let env = super::env::prepare(&env, || {
        inputs
            .rootfs
            .map(|r| super::env::home_of(r, user.uid()))
            .unwrap_or_else(|| "/".into())
    })?;
    let candidates = exec_candidates(arg0, &env)
        .into_iter()
        .map(c)
        .collect::<Result<Vec<_>, _>>()?;
    let argv = CStringArray::new(args.iter().map(c).collect::<Result<_, _>>()?);
    let envp = CStringArray::new(env.iter().map(c).collect::<Result<_, _>>()?);

    let mut warnings = Vec::new();
    let caps = CapSets::from_spec(process.capabilities().as_ref(), last_cap());
    warnings.extend(crate::security::caps::ambient_warnings(&caps));
    let (rl, w) = rlimits::plan(process.rlimits().as_deref().unwrap_or(&[]));
    warnings.extend(w);
    let seccomp = match inputs.seccomp {
        Some(profile) => {
            let compiled = seccomp::compile(profile)?;
            warnings.extend(compiled.warnings);
            compiled.programs
        }
        None => Vec::new(),
    };
    let console_size = process.console_size().map(|b| {
        (
            b.height().min(u64::from(u16::MAX)) as u16,
            b.width().min(u64::from(u16::MAX)) as u16,
        )
    });
    let personality = None;
    let ioprio = process.io_priority().as_ref().map(|p| {
        use oci_spec::runtime::IOPriorityClass as C;
        let class = match p.class() {
            C::IoprioClassRt => 1,
            C::IoprioClassBe => 2,
            C::IoprioClassIdle => 3,
        };
        (class << 13) | (p.priority().clamp(0, 7) as c_int)
    });
    Ok((
        ProcessPlan {
            argv,
            envp,
            exec_candidates: candidates,
            cwd: c(process.cwd().as_os_str().as_bytes())?,
            uid: user.uid(),
            gid: user.gid(),
            groups: user.additional_gids().clone().unwrap_or_default(),
            umask: user.umask().unwrap_or(0o022),
            rlimits: rl,
            caps,
            no_new_privs: process.no_new_privileges().unwrap_or(false),
            seccomp,
            console_socket: inputs.console_socket,
            console_size,
            keep_fds: inputs.keep_fds,
            hostname: inputs.hostname.map(c).transpose()?,
            domainname: inputs.domainname.map(c).transpose()?,
            personality,
            ioprio,
            sched: process.scheduler().as_ref().map(super::sched::attr),
            oom_score_adj: process.oom_score_adj(),
        },
        warnings,
    ))
}

/// Hooks for the child to run, prepared as C strings. A hook without
/// `env` gets `default_env` (runc gives startContainer hooks the
/// container process's environment); one with `env` gets exactly it.
pub fn child_hooks(hooks: &[Hook], default_env: &[String]) -> Result<Vec<ChildHook>, BuildError> {
    hooks
        .iter()
        .map(|h| {
            let path = c(h.path().as_os_str().as_bytes())?;
            let args = match h.args() {
                Some(a) if !a.is_empty() => a.iter().map(c).collect::<Result<Vec<_>, _>>()?,
                _ => vec![path.clone()],
            };
            let env = h
                .env()
                .as_deref()
                .unwrap_or(default_env)
                .iter()
                .map(c)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ChildHook {
                path,
                argv: CStringArray::new(args),
                envp: CStringArray::new(env),
                timeout: h.timeout(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_candidates() {
        assert_eq!(exec_candidates("/bin/sh", &[]), vec!["/bin/sh"]);
        assert_eq!(exec_candidates("./x", &[]), vec!["./x"]);
        assert_eq!(
            exec_candidates("sh", &["PATH=/a:/b/".into()]),
            vec!["/a/sh", "/b/sh"]
        );
        assert_eq!(exec_candidates("sh", &[]).len(), 6);
    }
}
