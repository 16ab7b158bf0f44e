//! `import [-c CHANGE]... FILE|- [REPOSITORY[:TAG]]`: prints the new id, as docker does.

use std::io::BufReader;

use anyhow::Context;
use berth_image::ImageStore;

/// Make an image from a rootfs tarball.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Dockerfile instruction to apply to the config (CMD, ENV, ...).
    #[arg(short = 'c', long = "change")]
    pub changes: Vec<String>,
    /// The tarball, or - for stdin.
    pub file: String,
    /// Name for the image.
    pub reference: Option<String>,
}

pub fn run(store: &ImageStore, a: Args) -> anyhow::Result<i32> {
    let img = if a.file == "-" {
        store.import(
            BufReader::new(std::io::stdin().lock()),
            a.reference.as_deref(),
            &a.changes,
        )?
    } else {
        let f = std::fs::File::open(&a.file).with_context(|| format!("opening {}", a.file))?;
        store.import(BufReader::new(f), a.reference.as_deref(), &a.changes)?
    };
    println!("{}", img.id);
    Ok(0)
}
