//! `load [-i FILE] [-q]`: docker-archive or oci-archive, from a file or stdin.

use std::io::BufReader;
use std::path::PathBuf;

use anyhow::Context;
use berth_image::ImageStore;

/// Load images from an archive.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The archive (default: stdin).
    #[arg(short = 'i', long)]
    pub input: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// json prints what was loaded as JSON.
    #[arg(long, default_value = "text")]
    pub format: String,
}

pub fn run(store: &ImageStore, a: Args) -> anyhow::Result<i32> {
    let loaded = match &a.input {
        Some(p) => {
            let f = std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?;
            store.load(BufReader::new(f))?
        }
        None => store.load(BufReader::new(std::io::stdin().lock()))?,
    };
    if a.quiet {
        return Ok(0);
    }
    if a.format == "json" {
        let v: Vec<_> = loaded
            .iter()
            .map(|l| serde_json::json!({"Id": l.id, "RepoTags": l.repo_tags, "LayersUnpacked": l.layers_unpacked}))
            .collect();
        println!("{}", serde_json::to_string(&v)?);
        return Ok(0);
    }
    for l in &loaded {
        if l.repo_tags.is_empty() {
            println!("Loaded image ID: {}", l.id);
        }
        for t in &l.repo_tags {
            println!("Loaded image: {t}");
        }
    }
    Ok(0)
}
