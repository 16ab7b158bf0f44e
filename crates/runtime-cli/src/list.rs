//! `list [--format table|json] [--quiet]`

use berth_runtime::Runtime;

/// List containers.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[arg(short = 'f', long, default_value = "table")]
    pub format: String,
    /// Only ids.
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

pub fn run(rt: &Runtime, a: Args) -> anyhow::Result<i32> {
    let list = rt.list()?;
    if a.quiet {
        for s in &list {
            println!("{}", s.id);
        }
        return Ok(0);
    }
    match a.format.as_str() {
        "json" => println!("{}", serde_json::to_string(&list)?),
        "table" => {
            let rows: Vec<[String; 6]> = list
                .iter()
                .map(|s| {
                    [
                        s.id.clone(),
                        s.pid.to_string(),
                        s.status.to_string(),
                        s.bundle.display().to_string(),
                        s.created.clone(),
                        if s.owner.is_empty() {
                            "root".into()
                        } else {
                            s.owner.clone()
                        },
                    ]
                })
                .collect();
            let head = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"];
            let mut w = [0usize; 6];
            for (i, h) in head.iter().enumerate() {
                w[i] = rows
                    .iter()
                    .map(|r| r[i].len())
                    .max()
                    .unwrap_or(0)
                    .max(h.len());
            }
            let line = |cells: &[&str]| {
                let mut s = String::new();
                for (i, c) in cells.iter().enumerate() {
                    if i + 1 == cells.len() {
                        s.push_str(c);
                    } else {
                        s.push_str(&format!("{c:<width$}   ", width = w[i]));
                    }
                }
                println!("{}", s.trim_end());
            };
            line(&head);
            for r in &rows {
                line(&r.iter().map(String::as_str).collect::<Vec<_>>());
            }
        }
        other => anyhow::bail!("unknown format {other:?} (table or json)"),
    }
    Ok(0)
}
