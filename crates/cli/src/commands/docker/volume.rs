//! `volume create/ls/inspect/rm/prune`.

use std::collections::HashMap;

use bollard_stubs::models::VolumeCreateRequest;
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::container_flags::parse_labels;
use super::container_list::headers;
use super::filters::Filters;
use super::inspect::inspect_kinds;
use super::output::{print_rows, units, Format};
use super::system::{confirm, print_reclaimed, prune_objects, Pruned};
use super::{for_each_name, Ctx};

#[derive(Subcommand)]
pub enum VolumeCmd {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove unused local volumes
    Prune(PruneArgs),
}

#[derive(Args)]
pub struct CreateArgs {
    /// Specify volume driver name
    #[arg(short = 'd', long, default_value = "local")]
    driver: String,
    /// Set metadata for a volume
    #[arg(long)]
    label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    opt: Vec<String>,
    /// Specify volume name
    #[arg(long = "name")]
    name_flag: Option<String>,
    name: Option<String>,
}

#[derive(Args)]
pub struct LsArgs {
    #[arg(short = 'q', long)]
    quiet: bool,
    #[arg(short = 'f', long = "filter")]
    filter: Vec<String>,
    #[arg(long)]
    format: Option<String>,
}

#[derive(Args)]
pub struct InspectArgs {
    #[arg(short = 'f', long)]
    format: Option<String>,
    #[arg(required = true)]
    volumes: Vec<String>,
}

#[derive(Args)]
pub struct RmArgs {
    /// Force the removal of one or more volumes
    #[arg(short = 'f', long)]
    force: bool,
    #[arg(required = true)]
    volumes: Vec<String>,
}

#[derive(Args)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long)]
    all: bool,
    #[arg(short = 'f', long)]
    force: bool,
    #[arg(long = "filter")]
    filter: Vec<String>,
}

pub fn dispatch(cx: &Ctx, cmd: VolumeCmd) -> anyhow::Result<i32> {
    match cmd {
        VolumeCmd::Create(a) => create(cx, a),
        VolumeCmd::Ls(a) => ls(cx, a),
        VolumeCmd::Inspect(a) => {
            inspect_kinds(cx, &["volume"], &a.volumes, a.format.as_deref(), false)
        }
        VolumeCmd::Rm(a) => rm(cx, a),
        VolumeCmd::Prune(a) => prune(cx, a),
    }
}

fn create(cx: &Ctx, a: CreateArgs) -> anyhow::Result<i32> {
    if a.name.is_some() && a.name_flag.is_some() {
        anyhow::bail!(
            "conflicting options: either specify --name or provide positional arg, not both"
        );
    }
    let opts: HashMap<String, String> = parse_labels(&a.opt);
    let req = VolumeCreateRequest {
        name: a.name.or(a.name_flag),
        driver: Some(a.driver),
        driver_opts: (!opts.is_empty()).then_some(opts),
        labels: Some(parse_labels(&a.label)).filter(|l| !l.is_empty()),
        ..Default::default()
    };
    let v: Value = cx.client.post_json("/volumes/create", &[], Some(&req))?;
    println!("{}", v.get("Name").and_then(Value::as_str).unwrap_or(""));
    Ok(0)
}

fn ls(cx: &Ctx, a: LsArgs) -> anyhow::Result<i32> {
    let q: Vec<(&str, String)> = Filters::parse(&a.filter)?.query().into_iter().collect();
    let list: Value = cx.client.get_json("/volumes", &q)?;
    let mut vols: Vec<Value> = list
        .get("Volumes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    vols.sort_by(|a, b| a["Name"].as_str().cmp(&b["Name"].as_str()));
    let rows: Vec<Value> = vols
        .iter()
        .map(|v| {
            let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            let mut labels: Vec<String> = v
                .get("Labels")
                .and_then(Value::as_object)
                .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect())
                .unwrap_or_default();
            labels.sort();
            json!({
                "Name": s("Name"), "Driver": s("Driver"), "Scope": s("Scope"),
                "Mountpoint": s("Mountpoint"), "Labels": labels.join(","),
                "Size": v.pointer("/UsageData/Size").and_then(Value::as_i64).map(units::human_size).unwrap_or_else(|| "N/A".into()),
            })
        })
        .collect();
    let format = if a.quiet {
        Format::Raw("{{.Name}}".into())
    } else {
        Format::from_flag(a.format.as_deref(), "{{.Driver}}\t{{.Name}}")
    };
    let hdr = headers(&[
        ("Name", "VOLUME NAME"),
        ("Driver", "DRIVER"),
        ("Scope", "SCOPE"),
        ("Mountpoint", "MOUNTPOINT"),
        ("Labels", "LABELS"),
        ("Size", "SIZE"),
    ]);
    print_rows(&format, &hdr, &rows)?;
    for w in list
        .get("Warnings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        eprintln!("{}", w.as_str().unwrap_or(""));
    }
    Ok(0)
}

fn rm(cx: &Ctx, a: RmArgs) -> anyhow::Result<i32> {
    let q: Vec<(&str, String)> = if a.force {
        vec![("force", "1".into())]
    } else {
        vec![]
    };
    for_each_name(&a.volumes, |n| {
        cx.client.delete(&format!("/volumes/{n}"), &q)?;
        println!("{n}");
        Ok(())
    })
}

fn prune(cx: &Ctx, a: PruneArgs) -> anyhow::Result<i32> {
    let warning = if a.all {
        "WARNING! This will remove all local volumes not used by at least one container."
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container."
    };
    if !a.force && !confirm(warning)? {
        return Ok(0);
    }
    let mut f = Filters::parse(&a.filter)?;
    if a.all {
        f.add("all", "true");
    }
    print_reclaimed(prune_objects(cx, Pruned::Volumes, &f)?);
    Ok(0)
}
