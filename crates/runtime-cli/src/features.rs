//! `features`: what the runtime supports, as JSON.

/// Show the runtime's features.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_a: Args) -> anyhow::Result<i32> {
    println!(
        "{}",
        serde_json::to_string_pretty(&berth_runtime::features::features())?
    );
    Ok(0)
}
