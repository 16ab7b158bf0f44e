//! `inspect` (containers, images, volumes, networks): the daemon's JSON as
//! received, as an indented array, or each object through `--format`.

use clap::Args;
use serde_json::Value;

use super::output::Template;
use super::Ctx;

#[derive(Args)]
pub struct InspectArgs {
    /// Format output using a custom template ('json' or a Go template)
    #[arg(short = 'f', long)]
    format: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long)]
    size: bool,
    /// Only inspect objects of the given type (container, image, volume, network)
    #[arg(long = "type")]
    typ: Option<String>,
    #[arg(required = true)]
    names: Vec<String>,
}

/// The inspect path of `name` for each object kind, in docker's order.
fn paths(kind: &str, name: &str) -> String {
    match kind {
        "container" => format!("/containers/{name}/json"),
        "image" => format!("/images/{name}/json"),
        "volume" => format!("/volumes/{name}"),
        _ => format!("/networks/{name}"),
    }
}

/// Fetch one object of the allowed kinds; a 404 tries the next kind.
pub fn fetch(cx: &Ctx, kinds: &[&str], name: &str, size: bool) -> anyhow::Result<Value> {
    for kind in kinds {
        let q: Vec<(&str, String)> = if size && *kind == "container" {
            vec![("size", "1".into())]
        } else {
            vec![]
        };
        match cx.client.get_json::<Value>(&paths(kind, name), &q) {
            Ok(v) => return Ok(v),
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e.into()),
        }
    }
    if kinds.len() == 1 {
        anyhow::bail!("Error: No such {}: {name}", kinds[0]);
    }
    anyhow::bail!("Error: No such object: {name}")
}

/// Print objects as docker does: a JSON array with 4-space indentation, or
/// one rendered template per object.
pub fn print_objects(objects: &[Value], format: Option<&str>) -> anyhow::Result<()> {
    match format {
        None | Some("") => {
            let mut buf = Vec::new();
            let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
            let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
            serde::Serialize::serialize(objects, &mut ser)?;
            println!("{}", String::from_utf8_lossy(&buf));
        }
        Some("json") => {
            for o in objects {
                println!("{}", serde_json::to_string(o)?);
            }
        }
        Some(f) => {
            let t = Template::parse(f)?;
            for o in objects {
                println!("{}", t.render(o)?);
            }
        }
    }
    Ok(())
}

/// Inspect `names` of the given kinds, printing what was found and failing
/// (exit 1) if any was not.
pub fn inspect_kinds(
    cx: &Ctx,
    kinds: &[&str],
    names: &[String],
    format: Option<&str>,
    size: bool,
) -> anyhow::Result<i32> {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for n in names {
        match fetch(cx, kinds, n, size) {
            Ok(v) => found.push(v),
            Err(e) => errors.push(e),
        }
    }
    if !(found.is_empty() && format.is_some()) {
        print_objects(&found, format)?;
    }
    for e in &errors {
        eprintln!("{e:#}");
    }
    Ok(if errors.is_empty() { 0 } else { 1 })
}

pub fn inspect(cx: &Ctx, a: InspectArgs) -> anyhow::Result<i32> {
    let all = ["container", "image", "volume", "network"];
    let kinds: Vec<&str> = match a.typ.as_deref() {
        None | Some("") => all.to_vec(),
        Some(t) if all.contains(&t) => vec![t],
        Some(t) => anyhow::bail!("\"{t}\" is not a valid value for --type"),
    };
    inspect_kinds(cx, &kinds, &a.names, a.format.as_deref(), a.size)
}
