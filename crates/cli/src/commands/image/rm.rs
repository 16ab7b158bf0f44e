//! `image rm [-f] IMAGE...`

use berth_image::{ImageStore, RemovedItem};

/// Remove images (untag; delete with the last tag).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Remove even when several tags or containers refer to it.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Keep the untagged parents (a build's step images) the image leaves.
    #[arg(long)]
    pub no_prune: bool,
    /// Images.
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub fn run(store: &ImageStore, a: Args) -> anyhow::Result<i32> {
    let mut code = 0;
    for r in &a.images {
        match store.remove(r, a.force, !a.no_prune, &super::no_containers) {
            Ok(items) => {
                for i in items {
                    match i {
                        RemovedItem::Untagged(t) => println!("Untagged: {t}"),
                        RemovedItem::Deleted(id) => println!("Deleted: {id}"),
                    }
                }
            }
            Err(e) => {
                eprintln!("berth: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}
