//! `pause ID`

use berth_runtime::Runtime;

/// Freeze every process of a container.
#[derive(Debug, clap::Args)]
pub struct Args {
    pub id: String,
}

pub fn run(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
    rt.pause(&a.id)?;
    Ok(0)
}
