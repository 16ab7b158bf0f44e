//! `berth build` through berthd: the context directory sent as a tar
//! (without what .dockerignore excludes, as the docker CLI sends it) to
//! `POST /build`, the legacy builder's JSON stream printed as it comes.

use std::io::{Seek, Write};
use std::path::Path;

use anyhow::Context as _;
use berth_build::Context;

use super::Ctx;
use crate::client::http::Body;
use crate::client::stream::json_stream;
use crate::commands::image::build::{build_args, dockerfile_text, labels, Args};

/// The context as a tar in a temp file; the Dockerfile's name in it.
fn context_tar(dir: &Path, file: Option<&str>) -> anyhow::Result<(std::fs::File, String)> {
    let ctx = Context::open(dir)?;
    let tmp = tempfile::tempfile().context("creating a temp file for the build context")?;
    let mut b = tar::Builder::new(std::io::BufWriter::new(tmp));
    b.follow_symlinks(false);
    let mut entries = Vec::new();
    ctx.walk("", &mut |rel| {
        if !ctx.ignored(rel) || rel == "Dockerfile" {
            entries.push(rel.to_string());
        }
    })?;
    let outside = match file {
        None => None,
        Some(f) => {
            let inside = (f != "-")
                .then(|| std::fs::canonicalize(f).ok())
                .flatten()
                .and_then(|p| {
                    p.strip_prefix(ctx.root())
                        .ok()
                        .map(|r| r.to_string_lossy().into_owned())
                })
                .filter(|r| entries.contains(r));
            match inside {
                Some(r) => Some(Err(r)),
                None => Some(Ok(dockerfile_text(Some(f), dir)?)),
            }
        }
    };
    let df_name = format!(".dockerfile.{}", std::process::id());
    let mut ignore_text = std::fs::read_to_string(ctx.root().join(".dockerignore")).ok();
    for rel in &entries {
        if rel == ".dockerignore" {
            continue;
        }
        let p = ctx.root().join(rel);
        b.append_path_with_name(&p, rel)
            .with_context(|| format!("adding {} to the build context", p.display()))?;
    }
    // .dockerignore always goes (the daemon removes it, and the
    // Dockerfile, when it names them); a Dockerfile from outside is
    // added to it, as the docker CLI does, so COPY . leaves it out.
    if let Some(Ok(_)) = &outside {
        let t = ignore_text.get_or_insert_with(|| ".dockerignore".to_string());
        t.push_str(&format!("\n{df_name}\n"));
    }
    if let Some(t) = &ignore_text {
        let mut h = tar::Header::new_gnu();
        h.set_size(t.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, ".dockerignore", t.as_bytes())?;
    }
    // A Dockerfile given with -f goes in by its path inside the context,
    // or, from outside it (or stdin), as a file of its own.
    let name = match outside {
        None => "Dockerfile".to_string(),
        Some(Err(r)) => r,
        Some(Ok(text)) => {
            let mut h = tar::Header::new_gnu();
            h.set_size(text.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, &df_name, text.as_bytes())?;
            df_name
        }
    };
    let mut w = b.into_inner().context("writing the build context")?;
    w.flush()?;
    let mut f = w.into_inner().map_err(|e| e.into_error())?;
    f.rewind()?;
    Ok((f, name))
}

fn json_map(pairs: &[(String, String)]) -> String {
    let m: serde_json::Map<String, serde_json::Value> = pairs
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::json!(v)))
        .collect();
    serde_json::Value::Object(m).to_string()
}

pub fn run(cx: &Ctx, a: Args) -> anyhow::Result<i32> {
    let (tar, dockerfile) = context_tar(&a.path, a.file.as_deref())?;
    let mut q: Vec<(&str, String)> = vec![("dockerfile", dockerfile)];
    for t in &a.tags {
        q.push(("t", t.clone()));
    }
    q.push(("buildargs", json_map(&build_args(&a.build_args))));
    q.push(("labels", json_map(&labels(&a.labels))));
    if let Some(t) = &a.target {
        q.push(("target", t.clone()));
    }
    if a.no_cache {
        q.push(("nocache", "1".into()));
    }
    if a.quiet {
        q.push(("q", "1".into()));
    }
    if let Some(n) = &a.network {
        q.push(("networkmode", n.clone()));
    }
    if a.pull {
        q.push(("pull", "1".into()));
    }
    if let Some(p) = &a.platform {
        q.push(("platform", p.clone()));
    }
    if !a.cache_from.is_empty() {
        q.push(("cachefrom", serde_json::json!(a.cache_from).to_string()));
    }
    for h in &a.add_hosts {
        q.push(("extrahosts", h.clone()));
    }
    q.push(("rm", if a.rm { "1" } else { "0" }.into()));
    if a.force_rm {
        q.push(("forcerm", "1".into()));
    }
    let resp = cx.client.request(
        "POST",
        "/build",
        &q,
        Body::Stream(Box::new(tar), "application/x-tar"),
    )?;
    let mut id = None;
    let mut out = std::io::stdout();
    for msg in json_stream::<serde_json::Value>(resp.body) {
        let msg = msg?;
        if let Some(e) = msg["error"]
            .as_str()
            .or(msg["errorDetail"]["message"].as_str())
        {
            anyhow::bail!("{e}");
        }
        if let Some(i) = msg["aux"]["ID"].as_str() {
            id = Some(i.to_string());
        }
        if let (false, Some(s)) = (a.quiet, msg["stream"].as_str()) {
            out.write_all(s.as_bytes())?;
            out.flush()?;
        }
    }
    let id = id.context("the daemon's build stream ended without an image id")?;
    if a.quiet {
        println!("{id}");
    }
    if let Some(f) = &a.iidfile {
        std::fs::write(f, &id).with_context(|| format!("writing {}", f.display()))?;
    }
    Ok(0)
}
