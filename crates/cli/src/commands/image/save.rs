//! `save [-o FILE] [--format docker-archive|oci-archive] IMAGE...`

use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;
use berth_image::{ArchiveFormat, ImageStore};

/// Save images to an archive.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The archive to write (default: stdout).
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// docker-archive (default) or oci-archive.
    #[arg(long, default_value = "docker-archive")]
    pub format: String,
    /// Images.
    #[arg(required = true)]
    pub images: Vec<String>,
}

pub fn run(store: &ImageStore, a: Args) -> anyhow::Result<i32> {
    let format = match a.format.as_str() {
        "docker-archive" | "docker" => ArchiveFormat::DockerArchive,
        "oci-archive" | "oci" => ArchiveFormat::OciArchive,
        other => anyhow::bail!("--format {other:?}: docker-archive or oci-archive"),
    };
    match &a.output {
        Some(p) => {
            // Written beside the target and renamed: no half archive under its name.
            let dir = p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let tmp = tempfile::NamedTempFile::new_in(dir)
                .with_context(|| format!("creating a file in {}", dir.display()))?;
            let mut w = BufWriter::new(tmp);
            store.save(&a.images, format, &mut w)?;
            let tmp = w
                .into_inner()
                .map_err(|e| anyhow::anyhow!("writing {}: {}", p.display(), e.error()))?;
            tmp.as_file().sync_all()?;
            tmp.persist(p)
                .with_context(|| format!("writing {}", p.display()))?;
        }
        None => {
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                anyhow::bail!("refusing to write an archive to a terminal: use -o or redirect");
            }
            let mut w = BufWriter::new(stdout.lock());
            store.save(&a.images, format, &mut w)?;
            w.flush()?;
        }
    }
    Ok(0)
}
