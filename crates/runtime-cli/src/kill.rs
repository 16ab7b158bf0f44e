//! `kill [--all] ID [SIGNAL]`

use anyhow::anyhow;
use berth_runtime::container::signal;
use berth_runtime::Runtime;

/// Send a signal to a container's init (or all its processes).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Signal every process in the container.
    #[arg(short = 'a', long)]
    pub all: bool,
    pub id: String,
    /// Name (KILL, SIGKILL) or number; default SIGTERM.
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

pub fn run(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
    let sig = signal::parse(&a.signal).ok_or_else(|| anyhow!("unknown signal {:?}", a.signal))?;
    rt.kill(&a.id, sig, a.all)?;
    Ok(0)
}
