//! Images: `images`/`image ls`, `pull`, `push`, `load`, `save`, `tag`,
//! `rmi`, `image inspect/history/prune`.

use std::io::Write;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::container_files::archive_output;
use super::container_list::{ellipsis, headers, short_id};
use super::filters::Filters;
use super::inspect::inspect_kinds;
use super::output::{print_rows, units, Format};
use super::system::{confirm, print_reclaimed, prune_objects, Pruned};
use super::{for_each_name, login, Ctx};
use crate::client::{
    http::Body,
    stream::{json_stream, ProgressMessage, ProgressPrinter},
    NO_BODY,
};

#[derive(Subcommand)]
pub enum ImageCmd {
    /// Build an image from a Dockerfile
    Build(crate::commands::image::build::Args),
    /// List images
    #[command(alias = "list")]
    Ls(ImagesArgs),
    /// Display detailed information on one or more images
    Inspect(ImageInspectArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Remove unused images
    Prune(ImagePruneArgs),
    /// Remove one or more images
    #[command(alias = "remove")]
    Rm(RmiArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Save one or more images to a tar archive
    Save(SaveArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
}

#[derive(Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long)]
    all: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Show digests
    #[arg(long)]
    digests: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    #[arg(short = 'f', long = "filter")]
    filter: Vec<String>,
    #[arg(long)]
    format: Option<String>,
    /// REPOSITORY[:TAG]
    reference: Option<String>,
}

#[derive(Args)]
pub struct ImageInspectArgs {
    #[arg(short = 'f', long)]
    format: Option<String>,
    #[arg(required = true)]
    images: Vec<String>,
}

#[derive(Args)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set)]
    human: bool,
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    #[arg(short = 'q', long)]
    quiet: bool,
    #[arg(long)]
    format: Option<String>,
    image: String,
}

#[derive(Args)]
pub struct ImagePruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long)]
    all: bool,
    #[arg(short = 'f', long)]
    force: bool,
    #[arg(long = "filter")]
    filter: Vec<String>,
}

#[derive(Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    no_prune: bool,
    #[arg(required = true)]
    images: Vec<String>,
}

#[derive(Args)]
pub struct TagArgs {
    source: String,
    target: String,
}

#[derive(Args)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    all_tags: bool,
    #[arg(long)]
    platform: Option<String>,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    quiet: bool,
    image: String,
}

#[derive(Args)]
pub struct PushArgs {
    #[arg(short = 'a', long = "all-tags")]
    all_tags: bool,
    #[arg(short = 'q', long)]
    quiet: bool,
    image: String,
}

#[derive(Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long)]
    input: Option<String>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    quiet: bool,
}

#[derive(Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    output: Option<String>,
    #[arg(required = true)]
    images: Vec<String>,
}

#[derive(Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change")]
    change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long)]
    message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    platform: Option<String>,
    /// file|URL|-
    source: String,
    /// REPOSITORY[:TAG]
    reference: Option<String>,
}

/// `import`: a rootfs tar (file, `-` for stdin, or a URL the daemon
/// fetches) becomes an image; prints its id as docker does.
pub fn import(cx: &Ctx, a: ImportArgs) -> anyhow::Result<i32> {
    let is_url = a.source.starts_with("http://") || a.source.starts_with("https://");
    let mut q: Vec<(&str, String)> = vec![(
        "fromSrc",
        if is_url { a.source.clone() } else { "-".into() },
    )];
    if let Some(r) = &a.reference {
        let (repo, tag) = split_reference(r);
        q.push(("repo", repo));
        if let Some(t) = tag {
            q.push(("tag", t));
        }
    }
    if let Some(m) = &a.message {
        q.push(("message", m.clone()));
    }
    if let Some(p) = &a.platform {
        q.push(("platform", p.clone()));
    }
    for c in &a.change {
        q.push(("changes", c.clone()));
    }
    let body = if is_url {
        Body::Empty
    } else if a.source == "-" {
        Body::Stream(Box::new(std::io::stdin()), "application/x-tar")
    } else {
        let f = std::fs::File::open(&a.source).with_context(|| format!("open {}", a.source))?;
        Body::Stream(Box::new(f), "application/x-tar")
    };
    let resp = cx.client.request("POST", "/images/create", &q, body)?;
    for msg in json_stream::<ProgressMessage>(resp.body) {
        let msg = msg?;
        if let Some(e) = msg.error_message() {
            anyhow::bail!("{e}");
        }
        if let Some(s) = msg.status.as_deref().filter(|s| s.starts_with("sha256:")) {
            println!("{s}");
        }
    }
    Ok(0)
}

pub fn dispatch(cx: &Ctx, cmd: ImageCmd) -> anyhow::Result<i32> {
    match cmd {
        ImageCmd::Ls(a) => ls(cx, a),
        ImageCmd::Inspect(a) => {
            inspect_kinds(cx, &["image"], &a.images, a.format.as_deref(), false)
        }
        ImageCmd::History(a) => history(cx, a),
        ImageCmd::Prune(a) => prune(cx, a),
        ImageCmd::Rm(a) => rmi(cx, a),
        ImageCmd::Tag(a) => tag(cx, a),
        ImageCmd::Pull(a) => pull(cx, a),
        ImageCmd::Push(a) => push(cx, a),
        ImageCmd::Load(a) => load(cx, a),
        ImageCmd::Save(a) => save(cx, a),
        ImageCmd::Import(a) => import(cx, a),
        ImageCmd::Build(a) => super::build::run(cx, a),
    }
}

/// `name[:tag][@digest]` into (name, tag-or-digest); the tag is the part
/// after the last `:` that follows the last `/`.
pub fn split_reference(r: &str) -> (String, Option<String>) {
    if let Some((name, digest)) = r.split_once('@') {
        return (name.to_owned(), Some(digest.to_owned()));
    }
    let slash = r.rfind('/').map(|i| i + 1).unwrap_or(0);
    match r[slash..].rfind(':') {
        Some(i) => (
            r[..slash + i].to_owned(),
            Some(r[slash + i + 1..].to_owned()),
        ),
        None => (r.to_owned(), None),
    }
}

/// The registry host of a reference (for credentials): the first component
/// if it looks like a host, else Docker Hub.
pub fn registry_of(reference: &str) -> String {
    match reference.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first.to_owned()
        }
        _ => login::DOCKER_HUB.to_owned(),
    }
}

/// Print a progress stream: lines when not quiet; an in-band error fails.
fn follow_progress(body: impl std::io::Read, quiet: bool, to_stderr: bool) -> anyhow::Result<()> {
    let tty = if to_stderr {
        crate::client::tty::is_terminal(std::os::fd::AsFd::as_fd(&std::io::stderr()))
    } else {
        crate::client::tty::is_terminal(std::os::fd::AsFd::as_fd(&std::io::stdout()))
    };
    let mut printer = ProgressPrinter::new(tty);
    let (mut so, mut se) = (std::io::stdout(), std::io::stderr());
    let out: &mut dyn Write = if to_stderr { &mut se } else { &mut so };
    for msg in json_stream::<ProgressMessage>(body) {
        let msg = msg?;
        if let Some(e) = msg.error_message() {
            anyhow::bail!("{e}");
        }
        if !quiet {
            printer.print(&msg, out)?;
        }
    }
    Ok(())
}

fn with_auth(cx: &Ctx, reference: &str) -> Vec<(String, String)> {
    let mut h = cx.client.extra_headers.clone();
    if let Some(a) = login::registry_auth_header(&registry_of(reference)) {
        h.push(("X-Registry-Auth".into(), a));
    }
    h
}

/// Pull `reference`; progress goes to stderr when `to_stderr` (during run).
pub fn pull_image(
    cx: &Ctx,
    reference: &str,
    platform: Option<&str>,
    quiet: bool,
    to_stderr: bool,
) -> anyhow::Result<()> {
    let (name, tag) = split_reference(reference);
    let mut q: Vec<(&str, String)> = vec![
        ("fromImage", name),
        ("tag", tag.unwrap_or_else(|| "latest".into())),
    ];
    if let Some(p) = platform {
        q.push(("platform", p.to_owned()));
    }
    let client = cx.client.with_headers(with_auth(cx, reference));
    let resp = client.request("POST", "/images/create", &q, Body::Empty)?;
    follow_progress(resp.body, quiet, to_stderr)
}

pub fn pull(cx: &Ctx, a: PullArgs) -> anyhow::Result<i32> {
    let reference = if a.all_tags || split_reference(&a.image).1.is_some() {
        a.image.clone()
    } else {
        println!("Using default tag: latest");
        format!("{}:latest", a.image)
    };
    pull_image(cx, &reference, a.platform.as_deref(), a.quiet, false)?;
    if a.quiet {
        println!("{reference}");
    }
    Ok(0)
}

pub fn push(cx: &Ctx, a: PushArgs) -> anyhow::Result<i32> {
    let (name, tag) = split_reference(&a.image);
    let mut q: Vec<(&str, String)> = Vec::new();
    if let Some(t) = tag.filter(|_| !a.all_tags) {
        q.push(("tag", t));
    }
    // The daemon requires X-Registry-Auth on push, even if empty.
    let mut client = cx.client.with_headers(with_auth(cx, &a.image));
    if !client
        .extra_headers
        .iter()
        .any(|(k, _)| k == "X-Registry-Auth")
    {
        client
            .extra_headers
            .push(("X-Registry-Auth".into(), "e30=".into()));
    }
    let resp = client.request("POST", &format!("/images/{name}/push"), &q, Body::Empty)?;
    follow_progress(resp.body, a.quiet, false)?;
    Ok(0)
}

pub fn load(cx: &Ctx, a: LoadArgs) -> anyhow::Result<i32> {
    let input: Box<dyn std::io::Read + Send> = match a.input.as_deref() {
        Some(p) if p != "-" => {
            Box::new(std::fs::File::open(p).with_context(|| format!("open {p}"))?)
        }
        _ => {
            if crate::client::tty::is_terminal(std::os::fd::AsFd::as_fd(&std::io::stdin())) {
                anyhow::bail!("requested load from stdin, but stdin is empty");
            }
            Box::new(std::io::stdin())
        }
    };
    let q: Vec<(&str, String)> = if a.quiet {
        vec![("quiet", "1".into())]
    } else {
        vec![]
    };
    let resp = cx.client.request(
        "POST",
        "/images/load",
        &q,
        Body::Stream(input, "application/x-tar"),
    )?;
    let json = resp
        .header("Content-Type")
        .is_some_and(|c| c.contains("json"));
    if json {
        follow_progress(resp.body, false, false)?;
    } else {
        let mut body = resp.body;
        std::io::copy(&mut body, &mut std::io::stdout())?;
    }
    Ok(0)
}

pub fn save(cx: &Ctx, a: SaveArgs) -> anyhow::Result<i32> {
    let mut out = archive_output(a.output.as_deref(), "image")?;
    let q: Vec<(&str, String)> = a.images.iter().map(|i| ("names", i.clone())).collect();
    let resp = cx.client.request("GET", "/images/get", &q, Body::Empty)?;
    let mut body = resp.body;
    std::io::copy(&mut body, &mut out)?;
    out.flush()?;
    Ok(0)
}

pub fn tag(cx: &Ctx, a: TagArgs) -> anyhow::Result<i32> {
    let (repo, tag) = split_reference(&a.target);
    let mut q: Vec<(&str, String)> = vec![("repo", repo)];
    if let Some(t) = tag {
        q.push(("tag", t));
    }
    cx.client
        .post(&format!("/images/{}/tag", a.source), &q, NO_BODY)?;
    Ok(0)
}

pub fn rmi(cx: &Ctx, a: RmiArgs) -> anyhow::Result<i32> {
    let mut q: Vec<(&str, String)> = Vec::new();
    if a.force {
        q.push(("force", "1".into()));
    }
    if a.no_prune {
        q.push(("noprune", "1".into()));
    }
    for_each_name(&a.images, |n| {
        let body = cx.client.delete(&format!("/images/{n}"), &q)?;
        let items: Vec<Value> = serde_json::from_slice(&body).unwrap_or_default();
        for i in items {
            if let Some(u) = i.get("Untagged").and_then(Value::as_str) {
                println!("Untagged: {u}");
            }
            if let Some(d) = i.get("Deleted").and_then(Value::as_str) {
                println!("Deleted: {d}");
            }
        }
        Ok(())
    })
}

const IMAGE_HEADERS: &[(&str, &str)] = &[
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("ID", "IMAGE ID"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Containers", "CONTAINERS"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
    ("VirtualSize", "VIRTUAL SIZE"),
];

/// One row per repo:tag of each image, `<none>` for untagged ones.
pub fn image_rows(images: &[Value], trunc: bool) -> Vec<Value> {
    let mut rows = Vec::new();
    for img in images {
        let id = img.get("Id").and_then(Value::as_str).unwrap_or("");
        let id = if trunc {
            short_id(id, true)
        } else {
            id.to_owned()
        };
        let created = img.get("Created").and_then(Value::as_i64).unwrap_or(0);
        let size = img.get("Size").and_then(Value::as_i64).unwrap_or(0);
        let digests: Vec<String> = img
            .get("RepoDigests")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let digest = digests
            .first()
            .and_then(|d| d.split_once('@'))
            .map(|(_, d)| d.to_owned())
            .unwrap_or_else(|| "<none>".into());
        let tags: Vec<String> = img
            .get("RepoTags")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let tags = if tags.is_empty() {
            vec!["<none>:<none>".to_owned()]
        } else {
            tags
        };
        for t in tags {
            let (repo, tag) = split_reference(&t);
            rows.push(json!({
                "Repository": repo,
                "Tag": tag.unwrap_or_else(|| "<none>".into()),
                "Digest": digest,
                "ID": id,
                "CreatedSince": units::ago(created),
                "CreatedAt": units::go_time(created),
                "Size": units::human_size(size),
                "VirtualSize": units::human_size(size),
                "Containers": img.get("Containers").and_then(Value::as_i64).map(|c| c.to_string()).unwrap_or_else(|| "N/A".into()),
                "SharedSize": "N/A",
                "UniqueSize": "N/A",
            }));
        }
    }
    rows
}

pub fn ls(cx: &Ctx, a: ImagesArgs) -> anyhow::Result<i32> {
    let mut filters = Filters::parse(&a.filter)?;
    if let Some(r) = &a.reference {
        filters.add("reference", r);
    }
    let mut q: Vec<(&str, String)> = Vec::new();
    if a.all {
        q.push(("all", "1".into()));
    }
    if a.digests {
        q.push(("digests", "1".into()));
    }
    q.extend(filters.query());
    let images: Vec<Value> = cx.client.get_json("/images/json", &q)?;
    let rows = image_rows(&images, !a.no_trunc);
    let format = if a.quiet {
        let mut seen = std::collections::HashSet::new();
        for r in &rows {
            let id = r["ID"].as_str().unwrap_or("");
            if seen.insert(id.to_owned()) {
                println!("{id}");
            }
        }
        return Ok(0);
    } else if a.digests {
        Format::from_flag(
            a.format.as_deref(),
            "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}",
        )
    } else {
        let from_config = login::config_string(&login::config_path(), "imagesFormat");
        Format::from_flag(
            a.format.as_deref().or(from_config.as_deref()),
            "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}",
        )
    };
    print_rows(&format, &headers(IMAGE_HEADERS), &rows)?;
    Ok(0)
}

fn history(cx: &Ctx, a: HistoryArgs) -> anyhow::Result<i32> {
    let items: Vec<Value> = cx
        .client
        .get_json(&format!("/images/{}/history", a.image), &[])?;
    let trunc = !a.no_trunc;
    let rows: Vec<Value> = items
        .iter()
        .map(|h| {
            let id = h.get("Id").and_then(Value::as_str).unwrap_or("<missing>");
            let id = if id == "<missing>" {
                id.to_owned()
            } else {
                short_id(id, trunc)
            };
            let created = h.get("Created").and_then(Value::as_i64).unwrap_or(0);
            let by = h
                .get("CreatedBy")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let size = h.get("Size").and_then(Value::as_i64).unwrap_or(0);
            json!({
                "ID": id,
                "CreatedSince": if a.human { units::ago(created) } else { units::go_time(created) },
                "CreatedAt": units::go_time(created),
                "CreatedBy": if trunc { ellipsis(&by, 45) } else { by },
                "Size": if a.human { units::human_size(size) } else { size.to_string() },
                "Comment": h.get("Comment").and_then(Value::as_str).unwrap_or(""),
            })
        })
        .collect();
    let format = if a.quiet {
        Format::Raw("{{.ID}}".into())
    } else {
        Format::from_flag(
            a.format.as_deref(),
            "{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
        )
    };
    let hdr = json!({"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"});
    print_rows(&format, &hdr, &rows)?;
    Ok(0)
}

fn prune(cx: &Ctx, a: ImagePruneArgs) -> anyhow::Result<i32> {
    let warning = if a.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !a.force && !confirm(warning)? {
        return Ok(0);
    }
    let mut f = Filters::parse(&a.filter)?;
    f.add("dangling", if a.all { "false" } else { "true" });
    print_reclaimed(prune_objects(cx, Pruned::Images, &f)?);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_at_the_tag_not_the_port() {
        assert_eq!(split_reference("busybox"), ("busybox".into(), None));
        assert_eq!(
            split_reference("busybox:1.36"),
            ("busybox".into(), Some("1.36".into()))
        );
        assert_eq!(
            split_reference("localhost:5000/a/b"),
            ("localhost:5000/a/b".into(), None)
        );
        assert_eq!(
            split_reference("localhost:5000/a:v1"),
            ("localhost:5000/a".into(), Some("v1".into()))
        );
        assert_eq!(
            split_reference("a@sha256:abc"),
            ("a".into(), Some("sha256:abc".into()))
        );
    }

    #[test]
    fn registries_of_references() {
        assert_eq!(registry_of("busybox"), login::DOCKER_HUB);
        assert_eq!(registry_of("library/busybox"), login::DOCKER_HUB);
        assert_eq!(registry_of("localhost:5000/x"), "localhost:5000");
        assert_eq!(registry_of("quay.io/x/y"), "quay.io");
    }

    #[test]
    fn untagged_images_show_none() {
        let imgs = vec![
            json!({"Id": "sha256:0123456789abcdef", "RepoTags": [], "Created": 0, "Size": 1500}),
        ];
        let rows = image_rows(&imgs, true);
        assert_eq!(rows[0]["Repository"], "<none>");
        assert_eq!(rows[0]["Tag"], "<none>");
        assert_eq!(rows[0]["ID"], "0123456789ab");
        assert_eq!(rows[0]["Size"], "1.5kB");
    }
}
