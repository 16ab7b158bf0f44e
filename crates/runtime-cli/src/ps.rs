//! `ps [--format table|json] ID [ps args]`: the host's `ps` output
//! filtered to the container's processes (runc's behaviour).

use std::process::Command;

use anyhow::{bail, Context};
use berth_runtime::Runtime;

/// Processes running in a container.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(short = 'f', long, default_value = "table")]
    pub format: String,
    pub id: String,
    /// Arguments for ps(1) (default -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

pub fn run(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
    let pids = rt.pids(&a.id)?;
    match a.format.as_str() {
        "json" => {
            println!("{}", serde_json::to_string(&pids)?);
            return Ok(0);
        }
        "table" => {}
        other => bail!("unknown format {other:?} (table or json)"),
    }
    let args = if a.ps_args.is_empty() {
        vec!["-ef".to_owned()]
    } else {
        a.ps_args
    };
    let out = Command::new("ps")
        .args(&args)
        .output()
        .context("running ps")?;
    if !out.status.success() {
        bail!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .context("ps output has no PID column")?;
    println!("{header}");
    for l in lines {
        let pid = l
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            println!("{l}");
        }
    }
    Ok(0)
}
