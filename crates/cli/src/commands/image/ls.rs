//! `image ls [-q] [-a] [--digests] [--no-trunc] [--format table|json] [REPO[:TAG]]`

use berth_image::ImageStore;

use super::present::{ago, human_size, short_id, table};

/// List images.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only image ids.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Show all images, a build's intermediate step images too.
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Show digests.
    #[arg(long)]
    pub digests: bool,
    /// Full ids.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// table or json.
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Only images of this repository (and tag).
    pub reference: Option<String>,
}

pub fn run(store: &ImageStore, a: Args) -> anyhow::Result<i32> {
    let mut images = store.list()?;
    // Untagged images that are another's parent (a build's steps) show
    // only with -a, as docker lists them.
    let parents: std::collections::HashSet<String> =
        images.iter().map(|i| i.parent.clone()).collect();
    if !a.all {
        images.retain(|i| {
            !(i.repo_tags.is_empty() && i.repo_digests.is_empty() && parents.contains(&i.id))
        });
    }
    if let Some(r) = &a.reference {
        let want = berth_image::Reference::parse(r)?;
        let repo = want.familiar_repository();
        let tag_given = r.rsplit('/').next().is_some_and(|last| last.contains(':'));
        images.retain(|i| {
            i.repo_tags.iter().any(|t| {
                let (tr, tt) = t.rsplit_once(':').unwrap_or((t.as_str(), ""));
                tr == repo && (!tag_given || Some(tt) == want.tag.as_deref())
            })
        });
    }
    if a.quiet {
        let mut seen = std::collections::HashSet::new();
        for i in &images {
            if seen.insert(i.id.clone()) {
                println!("{}", short_id(&i.id, a.no_trunc));
            }
        }
        return Ok(0);
    }
    if a.format == "json" {
        let v: Vec<serde_json::Value> = images
            .iter()
            .map(|i| {
                serde_json::json!({
                    "Id": i.id,
                    "RepoTags": i.repo_tags,
                    "RepoDigests": i.repo_digests,
                    "ParentId": i.parent,
                    "Created": i.created,
                    "Size": i.size,
                })
            })
            .collect();
        println!("{}", serde_json::to_string(&v)?);
        return Ok(0);
    }
    if a.format != "table" {
        anyhow::bail!("--format {:?}: only table and json are supported", a.format);
    }
    let mut rows = Vec::new();
    for i in &images {
        let tags: Vec<(String, String)> = if i.repo_tags.is_empty() {
            vec![("<none>".into(), "<none>".into())]
        } else {
            i.repo_tags
                .iter()
                .map(|t| {
                    let (r, tag) = t.rsplit_once(':').unwrap_or((t.as_str(), "<none>"));
                    (r.to_string(), tag.to_string())
                })
                .collect()
        };
        for (repo, tag) in tags {
            let mut row = vec![repo, tag];
            if a.digests {
                row.push(i.manifest_digest.clone().unwrap_or_else(|| "<none>".into()));
            }
            row.extend([
                short_id(&i.id, a.no_trunc),
                ago(&i.created),
                human_size(i.size),
            ]);
            rows.push(row);
        }
    }
    let mut head = vec!["REPOSITORY", "TAG"];
    if a.digests {
        head.push("DIGEST");
    }
    head.extend(["IMAGE ID", "CREATED", "SIZE"]);
    table(&head, &rows);
    Ok(0)
}
