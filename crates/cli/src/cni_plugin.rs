//! berth as a CNI plugin: when invoked as `berth-bridge`, `berth-macvlan`,
//! `berth-ipvlan`, `berth-host-local`, `berth-loopback` or `berth-portmap`
//! (a symlink or copy of the binary under that name), it speaks the CNI
//! protocol: `CNI_*` variables and the configuration on stdin in, the result
//! or the spec's JSON error on stdout, exit status 0 or 1.

use std::io::{Read, Write};

use berth_cni::types::{CniError, CniVersion, ErrorCode};

/// Whether `name` is one of berth's plugin names.
pub fn is_plugin_name(name: &str) -> bool {
    berth_cni::plugins::by_name(name).is_some()
}

/// Runs the plugin `name` and returns the process exit status.
pub fn plugin_main(name: &str) -> i32 {
    // Logs go to stderr only: stdout belongs to the protocol.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .try_init();
    let Some(plugin) = berth_cni::plugins::by_name(name) else {
        return 2;
    };
    let mut stdin = Vec::new();
    let outcome = match std::io::stdin().read_to_end(&mut stdin) {
        Ok(_) => berth_cni::plugin::run(plugin.as_ref(), |k| std::env::var(k).ok(), &stdin),
        Err(e) => {
            let err = CniError::new(ErrorCode::IoFailure, format!("reading stdin: {e}"));
            berth_cni::plugin::Outcome {
                stdout: serde_json::to_vec(&err.to_json(CniVersion::LATEST)).unwrap_or_default(),
                exit_code: 1,
            }
        }
    };
    let mut out = std::io::stdout().lock();
    if out
        .write_all(&outcome.stdout)
        .and_then(|_| out.flush())
        .is_err()
    {
        return 1;
    }
    outcome.exit_code
}
