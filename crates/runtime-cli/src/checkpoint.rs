//! `checkpoint` and `restore`: present so engines get a clear answer.
//! Checkpoint/restore needs CRIU, which berth does not integrate; both
//! verbs take runc's flags and fail with that reason (exit 1, as runc when
//! criu is missing). `checkpoint` first checks the container exists, as
//! runc does.

use anyhow::bail;
use berth_runtime::Runtime;

/// runc's checkpoint/restore flags and the container id, taken as they are.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// runc's flags (--image-path, --work-path, --leave-running, ...) and
    /// the container id (last).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 1..)]
    pub args: Vec<String>,
}

pub fn run(rt: &Runtime, verb: &str, a: Args) -> anyhow::Result<i32> {
    let id = a.args.last().filter(|w| !w.starts_with('-'));
    if verb == "checkpoint" {
        if let Some(id) = id {
            rt.state(id)?;
        }
    }
    bail!(
        "{verb}: checkpoint/restore needs CRIU, which berth does not support \
         (no criu integration); use runc with criu installed to {verb} containers"
    )
}
