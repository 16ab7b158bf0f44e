//! `state ID`: runc's state JSON.

use berth_runtime::Runtime;

/// Print a container's state as JSON.
#[derive(Debug, clap::Args)]
pub struct Args {
    pub id: String,
}

pub fn run(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
    let state = rt.state(&a.id)?;
    println!("{}", serde_json::to_string_pretty(&state)?);
    Ok(0)
}
