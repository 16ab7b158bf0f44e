//! `image prune [-a] [-f]`

use berth_image::{ImageStore, RemovedItem};

use super::present::human_size;

/// Remove unused images.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Every image no container uses, not only untagged ones.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not ask (berth never asks; accepted for docker's scripts).
    #[arg(short = 'f', long)]
    pub force: bool,
    /// json prints the report as JSON.
    #[arg(long, default_value = "table")]
    pub format: String,
}

pub fn run(store: &ImageStore, a: Args) -> anyhow::Result<i32> {
    let report = store.prune(!a.all, &super::no_containers)?;
    if a.format == "json" {
        println!(
            "{}",
            serde_json::json!({"ImagesDeleted": report.removed, "SpaceReclaimed": report.space_reclaimed})
        );
        return Ok(0);
    }
    if !report.removed.is_empty() {
        println!("Deleted Images:");
        for i in &report.removed {
            match i {
                RemovedItem::Untagged(t) => println!("untagged: {t}"),
                RemovedItem::Deleted(id) => println!("deleted: {id}"),
            }
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        human_size(report.space_reclaimed)
    );
    Ok(0)
}
