//! `start ID`

use berth_runtime::Runtime;

/// Start a created container.
#[derive(Debug, clap::Args)]
pub struct Args {
    pub id: String,
}

pub fn run(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
    let warnings = rt.start(&a.id)?;
    super::warn_all(&warnings);
    Ok(0)
}
