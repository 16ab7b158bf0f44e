//! `image tag SOURCE TARGET`

use berth_image::ImageStore;

/// Give an image another name.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image (name or id).
    pub source: String,
    /// The new name[:tag].
    pub target: String,
}

pub fn run(store: &ImageStore, a: Args) -> anyhow::Result<i32> {
    store.tag(&a.source, &a.target)?;
    Ok(0)
}
