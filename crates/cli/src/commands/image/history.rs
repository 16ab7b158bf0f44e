//! `image history [-q] [--no-trunc] [--format table|json] IMAGE`

use berth_image::ImageStore;

use super::present::{ago, human_size, short_id, table};

/// Show the steps an image was made of.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only ids.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Do not shorten ids and commands.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// table or json.
    #[arg(long, default_value = "table")]
    pub format: String,
    /// The image.
    pub image: String,
}

pub fn run(store: &ImageStore, a: Args) -> anyhow::Result<i32> {
    let rows = store.history(&a.image)?;
    if a.quiet {
        for r in &rows {
            println!(
                "{}",
                if r.id == "<missing>" {
                    r.id.clone()
                } else {
                    short_id(&r.id, a.no_trunc)
                }
            );
        }
        return Ok(0);
    }
    if a.format == "json" {
        println!("{}", serde_json::to_string(&rows)?);
        return Ok(0);
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let id = if r.id == "<missing>" {
                r.id.clone()
            } else {
                short_id(&r.id, a.no_trunc)
            };
            let mut by = r.created_by.clone();
            if !a.no_trunc && by.chars().count() > 45 {
                by = by.chars().take(44).collect::<String>() + "…";
            }
            vec![
                id,
                ago(&r.created),
                by,
                human_size(r.size),
                r.comment.clone(),
            ]
        })
        .collect();
    table(
        &["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
        &cells,
    );
    Ok(0)
}
