//! `spec [--bundle DIR]`: write a default config.json.

use std::path::PathBuf;

use anyhow::{bail, Context};

/// Write a default config.json into the bundle directory.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Rootless config (not supported).
    #[arg(long)]
    pub rootless: bool,
}

pub fn run(a: Args) -> anyhow::Result<i32> {
    if a.rootless {
        bail!("spec --rootless is not supported: berth runs containers as root only");
    }
    let path = a.bundle.join("config.json");
    if path.exists() {
        bail!("{} already exists; remove it first", path.display());
    }
    let text = serde_json::to_string_pretty(&berth_runtime::spec::default_config())?;
    std::fs::write(&path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    Ok(0)
}
