//! `delete [--force] ID`

use berth_runtime::Runtime;

/// Delete a stopped container (--force: kill it first).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(short = 'f', long)]
    pub force: bool,
    pub id: String,
}

pub fn run(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
    let warnings = rt.delete(&a.id, a.force)?;
    super::warn_all(&warnings);
    Ok(0)
}
