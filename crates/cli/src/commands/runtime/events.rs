//! `events --stats ID`: one stats sample as JSON.

use anyhow::bail;
use berth_runtime::Runtime;

/// Container statistics (only the one-shot `--stats` form).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one stats sample and exit.
    #[arg(long)]
    pub stats: bool,
    /// Accepted for runc compatibility.
    #[arg(long, default_value = "5s")]
    pub interval: String,
    pub id: String,
}

pub fn run(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
    if !a.stats {
        bail!("events: only --stats (one sample) is supported");
    }
    println!("{}", serde_json::to_string(&rt.stats_event(&a.id)?)?);
    Ok(0)
}
