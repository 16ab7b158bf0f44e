//! Finding a plugin on CNI_PATH and running it once: environment in, JSON on
//! stdin, result or JSON error back from stdout.
//!
//! Used by the client for every chain step and by berth's own plugins to
//! delegate to an IPAM plugin, exactly as the reference plugins do.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command as Proc, Stdio};

use crate::types::{CniError, Command, ErrorCode};

/// Why running a plugin failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("plugin {plugin:?} not found in CNI_PATH {path:?}")]
    NotFound { plugin: String, path: Vec<PathBuf> },
    #[error("running plugin {}: {source}", path.display())]
    Spawn {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("plugin {plugin} {command} failed: {error}")]
    Plugin {
        plugin: String,
        command: Command,
        error: CniError,
    },
    #[error(
        "plugin {plugin} {command} exited with {status} without a CNI error on stdout: {output}"
    )]
    BadFailure {
        plugin: String,
        command: Command,
        status: String,
        output: String,
    },
}

impl ExecError {
    /// The error as a CNI error, for a plugin that delegated and must report
    /// in the spec's form itself: a delegate's own CNI error passes through.
    pub fn into_cni(self) -> CniError {
        match self {
            ExecError::Plugin { error, .. } => error,
            other => CniError::new(ErrorCode::DELEGATE_FAILED, other.to_string()),
        }
    }
}

/// The `CNI_*` values of one invocation.
#[derive(Debug, Clone, Default)]
pub struct InvokeEnv {
    pub container_id: String,
    pub netns: Option<PathBuf>,
    pub ifname: String,
    pub args: Vec<(String, String)>,
    pub path: Vec<PathBuf>,
}

impl InvokeEnv {
    fn cni_args(&self) -> String {
        self.args
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";")
    }
}

/// Looks `plugin` up in the CNI_PATH directories, first match wins.
pub fn find_plugin(plugin: &str, path: &[PathBuf]) -> Result<PathBuf, ExecError> {
    for dir in path {
        let candidate = dir.join(plugin);
        if let Ok(meta) = std::fs::metadata(&candidate) {
            if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
                return Ok(candidate);
            }
        }
    }
    Err(ExecError::NotFound {
        plugin: plugin.to_owned(),
        path: path.to_vec(),
    })
}

/// Runs the plugin at `exe` with `command`, writes `stdin`, and returns its
/// stdout on success. A failure with a JSON error becomes
/// [`ExecError::Plugin`]; stderr is appended to the message of anything else.
pub fn invoke(
    exe: &Path,
    command: Command,
    env: &InvokeEnv,
    stdin: &[u8],
) -> Result<Vec<u8>, ExecError> {
    let plugin = exe
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| exe.display().to_string());
    let cni_path = std::env::join_paths(&env.path)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut child = Proc::new(exe)
        .env("CNI_COMMAND", command.as_str())
        .env("CNI_CONTAINERID", &env.container_id)
        .env(
            "CNI_NETNS",
            env.netns
                .as_deref()
                .map(Path::as_os_str)
                .unwrap_or_default(),
        )
        .env("CNI_IFNAME", &env.ifname)
        .env("CNI_ARGS", env.cni_args())
        .env("CNI_PATH", cni_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| ExecError::Spawn {
            path: exe.to_owned(),
            source,
        })?;
    // Write stdin from this thread, not a helper: a caller may sit in a PID
    // namespace other than its children's (a thread that joined one cannot
    // create threads). Every CNI plugin reads its whole stdin before writing,
    // and a plugin that ignores stdin (VERSION) just closes it: EPIPE is fine.
    if let Some(mut pipe) = child.stdin.take() {
        let _ = pipe.write_all(stdin);
    }
    let out = child
        .wait_with_output()
        .map_err(|source| ExecError::Spawn {
            path: exe.to_owned(),
            source,
        })?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if !stderr.is_empty() {
        tracing::debug!(plugin = %plugin, %command, stderr = %stderr, "plugin stderr");
    }
    if out.status.success() {
        return Ok(out.stdout);
    }
    if let Ok(error) = serde_json::from_slice::<CniError>(&out.stdout) {
        return Err(ExecError::Plugin {
            plugin,
            command,
            error,
        });
    }
    let mut output = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !stderr.is_empty() {
        if !output.is_empty() {
            output.push_str("; ");
        }
        output.push_str("stderr: ");
        output.push_str(&stderr);
    }
    Err(ExecError::BadFailure {
        plugin,
        command,
        status: out.status.to_string(),
        output,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        p
    }

    #[test]
    fn finds_first_executable_on_path() {
        let a = tempfile::tempdir().expect("tmp");
        let b = tempfile::tempdir().expect("tmp");
        std::fs::write(a.path().join("p"), "not executable").expect("write");
        let exe = script(b.path(), "p", "true");
        let path = vec![a.path().to_owned(), b.path().to_owned()];
        assert_eq!(find_plugin("p", &path).expect("found"), exe);
        assert!(matches!(
            find_plugin("q", &path),
            Err(ExecError::NotFound { .. })
        ));
    }

    #[test]
    fn passes_env_and_stdin_and_reads_errors() {
        let d = tempfile::tempdir().expect("tmp");
        let echo = script(
            d.path(),
            "echo",
            r#"echo "$CNI_COMMAND $CNI_IFNAME $CNI_ARGS"; cat"#,
        );
        let env = InvokeEnv {
            container_id: "c1".into(),
            ifname: "eth0".into(),
            args: vec![("A".into(), "1".into())],
            ..Default::default()
        };
        let out = invoke(&echo, Command::Add, &env, b"{}").expect("ok");
        assert_eq!(String::from_utf8_lossy(&out), "ADD eth0 A=1\n{}");

        let fail = script(
            d.path(),
            "fail",
            r#"echo '{"cniVersion":"1.0.0","code":7,"msg":"bad"}'; exit 1"#,
        );
        match invoke(&fail, Command::Add, &env, b"{}") {
            Err(ExecError::Plugin { error, .. }) => assert_eq!(error.code.as_u32(), 7),
            other => panic!("unexpected {other:?}"),
        }
        let crash = script(d.path(), "crash", "echo oops >&2; exit 3");
        match invoke(&crash, Command::Del, &env, b"{}") {
            Err(ExecError::BadFailure { output, .. }) => assert!(output.contains("oops")),
            other => panic!("unexpected {other:?}"),
        }
    }
}
