//! `run [--detach] [--keep] [create flags] ID`

use berth_runtime::{RunOptions, Runtime};

/// Create and start a container; in the foreground, wait for it and
/// delete it, exiting with its exit code.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub create: super::create::Args,
    /// Return once the container runs.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Do not delete the container after it exits (foreground): it stays
    /// stopped until `delete`.
    #[arg(long)]
    pub keep: bool,
}

pub fn run(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
    let out = rt.run(&RunOptions {
        create: a.create.options(),
        detach: a.detach,
        keep: a.keep,
    })?;
    super::warn_all(&out.warnings);
    Ok(out.exit_code.unwrap_or(0))
}
