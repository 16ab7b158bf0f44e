//! `push [-q] [--insecure-registry HOST]... NAME[:TAG]`

use berth_image::registry::RegistryOptions;
use berth_image::ImageStore;

/// Upload an image to its registry.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only print the manifest digest.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// A registry (host:port) to reach over plain HTTP.
    #[arg(long = "insecure-registry")]
    pub insecure: Vec<String>,
    /// The image (its name says the registry).
    pub reference: String,
}

pub fn run(store: &ImageStore, a: Args) -> anyhow::Result<i32> {
    let opts = RegistryOptions {
        insecure_registries: a.insecure,
        progress: super::bars::for_terminal(a.quiet),
        ..RegistryOptions::default()
    };
    let report = store.push(&a.reference, &opts)?;
    if a.quiet {
        println!("{}", report.digest);
        return Ok(0);
    }
    println!(
        "{} blobs uploaded, {} mounted, {} already there",
        report.uploaded, report.mounted, report.skipped
    );
    let tag = berth_image::Reference::parse(&a.reference)?
        .tag
        .unwrap_or_else(|| "latest".into());
    println!("{tag}: digest: {}", report.digest);
    Ok(0)
}
