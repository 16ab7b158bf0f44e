//! `resume ID`

use berth_runtime::Runtime;

/// Thaw a paused container.
#[derive(Debug, clap::Args)]
pub struct Args {
    pub id: String,
}

pub fn run(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
    rt.resume(&a.id)?;
    Ok(0)
}
