//! The process entry of berth's plugins: when a binary is invoked as
//! `berth-bridge`, `berth-macvlan`, `berth-ipvlan`, `berth-host-local`,
//! `berth-loopback` or `berth-portmap` (a symlink or copy under that name),
//! it speaks the CNI protocol: `CNI_*` variables and the configuration on
//! stdin in, the result or the spec's JSON error on stdout, exit status 0
//! or 1. Shared by the `berth-cni` binary (this crate's) and `berth`.

use std::io::{Read, Write};

use crate::types::{CniError, CniVersion, ErrorCode};

/// Whether `name` is one of berth's plugin names.
pub fn is_plugin_name(name: &str) -> bool {
    crate::plugins::by_name(name).is_some()
}

/// Runs the plugin `name` and returns the process exit status.
pub fn plugin_main(name: &str) -> i32 {
    init_logs();
    let Some(plugin) = crate::plugins::by_name(name) else {
        return 2;
    };
    let mut stdin = Vec::new();
    let outcome = match std::io::stdin().read_to_end(&mut stdin) {
        Ok(_) => crate::plugin::run(plugin.as_ref(), |k| std::env::var(k).ok(), &stdin),
        Err(e) => {
            let err = CniError::new(ErrorCode::IoFailure, format!("reading stdin: {e}"));
            crate::plugin::Outcome {
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

/// Logs go to stderr only: stdout belongs to the protocol. `BERTH_LOG`
/// takes tracing's filter directives; without it, warnings and errors,
/// through a plain level filter (no directive parsing at every start: a
/// plugin process lives for one verb).
fn init_logs() {
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr);
    let _ = match std::env::var_os("BERTH_LOG") {
        Some(_) => builder
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            )
            .try_init(),
        None => builder
            .with_max_level(tracing_subscriber::filter::LevelFilter::WARN)
            .try_init(),
    };
}
