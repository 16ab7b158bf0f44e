//! `pull [-q] [--insecure-registry HOST]... NAME[:TAG|@DIGEST]`

use berth_image::registry::RegistryOptions;
use berth_image::ImageStore;

/// Download an image from a registry.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only print the image's full name.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// A registry (host:port) to reach over plain HTTP.
    #[arg(long = "insecure-registry")]
    pub insecure: Vec<String>,
    /// os/arch[/variant] to pick from a multi-platform image.
    #[arg(long)]
    pub platform: Option<String>,
    /// The image.
    pub reference: String,
}

pub fn run(store: &ImageStore, a: Args) -> anyhow::Result<i32> {
    let opts = RegistryOptions {
        insecure_registries: a.insecure,
        progress: super::bars::for_terminal(a.quiet),
        platform: a
            .platform
            .as_deref()
            .map(berth_image::platform::Platform::parse)
            .transpose()?,
        ..RegistryOptions::default()
    };
    let img = store.pull(&a.reference, &opts)?;
    let name = berth_image::Reference::parse(&a.reference)?;
    if a.quiet {
        println!("{name}");
        return Ok(0);
    }
    if let Some(d) = img.repo_digests.last() {
        println!("Digest: {}", d.rsplit_once('@').map(|x| x.1).unwrap_or(d));
    }
    println!(
        "Status: Downloaded image for {}",
        berth_image::reference::familiar_name(&name.to_string())
    );
    println!("{name}");
    Ok(0)
}
