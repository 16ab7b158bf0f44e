//! `network ls/inspect/create/rm/connect/disconnect/prune`.

use std::collections::HashMap;

use anyhow::bail;
use bollard_stubs::models::{
    EndpointIpamConfig, EndpointSettings, Ipam, IpamConfig, NetworkConnectRequest,
    NetworkCreateRequest, NetworkDisconnectRequest,
};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::container_flags::parse_labels;
use super::container_list::{headers, short_id};
use super::filters::Filters;
use super::inspect::inspect_kinds;
use super::output::{print_rows, Format};
use super::system::{confirm, prune_objects, Pruned};
use super::{for_each_name, Ctx};

#[derive(Subcommand)]
pub enum NetworkCmd {
    /// List networks
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// Create a network
    Create(CreateArgs),
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
}

#[derive(Args)]
pub struct LsArgs {
    #[arg(short = 'q', long)]
    quiet: bool,
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    #[arg(short = 'f', long = "filter")]
    filter: Vec<String>,
    #[arg(long)]
    format: Option<String>,
}

#[derive(Args)]
pub struct InspectArgs {
    #[arg(short = 'f', long)]
    format: Option<String>,
    /// Verbose output for diagnostics
    #[arg(short = 'v', long)]
    verbose: bool,
    #[arg(required = true)]
    networks: Vec<String>,
}

#[derive(Args)]
pub struct CreateArgs {
    /// Driver to manage the Network
    #[arg(short = 'd', long, default_value = "bridge")]
    driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long)]
    subnet: Vec<String>,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long)]
    gateway: Vec<String>,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range")]
    ip_range: Vec<String>,
    /// Auxiliary IPv4 or IPv6 addresses used by Network driver
    #[arg(long = "aux-address")]
    aux_address: Vec<String>,
    /// IP Address Management Driver
    #[arg(long = "ipam-driver")]
    ipam_driver: Option<String>,
    /// Set IPAM driver specific options
    #[arg(long = "ipam-opt")]
    ipam_opt: Vec<String>,
    /// Restrict external access to the network
    #[arg(long)]
    internal: bool,
    /// Enable or disable IPv6 networking
    #[arg(long)]
    ipv6: bool,
    /// Enable manual container attachment
    #[arg(long)]
    attachable: bool,
    /// Set metadata on a network
    #[arg(long)]
    label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt")]
    opt: Vec<String>,
    /// Control the network's scope
    #[arg(long)]
    scope: Option<String>,
    name: String,
}

#[derive(Args)]
pub struct RmArgs {
    #[arg(short = 'f', long)]
    force: bool,
    #[arg(required = true)]
    networks: Vec<String>,
}

#[derive(Args)]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long)]
    alias: Vec<String>,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long)]
    ip: Option<String>,
    /// IPv6 address (e.g., "2001:db8::33")
    #[arg(long)]
    ip6: Option<String>,
    /// Add link to another container
    #[arg(long)]
    link: Vec<String>,
    /// Driver options for the network
    #[arg(long = "driver-opt")]
    driver_opt: Vec<String>,
    network: String,
    container: String,
}

#[derive(Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long)]
    force: bool,
    network: String,
    container: String,
}

#[derive(Args)]
pub struct PruneArgs {
    #[arg(short = 'f', long)]
    force: bool,
    #[arg(long = "filter")]
    filter: Vec<String>,
}

pub fn dispatch(cx: &Ctx, cmd: NetworkCmd) -> anyhow::Result<i32> {
    match cmd {
        NetworkCmd::Ls(a) => ls(cx, a),
        NetworkCmd::Inspect(a) => {
            let _ = a.verbose;
            inspect_kinds(cx, &["network"], &a.networks, a.format.as_deref(), false)
        }
        NetworkCmd::Create(a) => create(cx, a),
        NetworkCmd::Rm(a) => rm(cx, a),
        NetworkCmd::Connect(a) => connect(cx, a),
        NetworkCmd::Disconnect(a) => disconnect(cx, a),
        NetworkCmd::Prune(a) => prune(cx, a),
    }
}

fn ls(cx: &Ctx, a: LsArgs) -> anyhow::Result<i32> {
    let q: Vec<(&str, String)> = Filters::parse(&a.filter)?.query().into_iter().collect();
    let mut nets: Vec<Value> = cx.client.get_json("/networks", &q)?;
    nets.sort_by(|a, b| a["Name"].as_str().cmp(&b["Name"].as_str()));
    let rows: Vec<Value> = nets
        .iter()
        .map(|n| {
            let s = |k: &str| n.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            let b = |k: &str| {
                n.get(k)
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                    .to_string()
            };
            json!({
                "ID": short_id(&s("Id"), !a.no_trunc), "Name": s("Name"), "Driver": s("Driver"),
                "Scope": s("Scope"), "IPv6": b("EnableIPv6"), "Internal": b("Internal"),
                "CreatedAt": s("Created"), "Labels": "",
            })
        })
        .collect();
    let format = if a.quiet {
        Format::Raw("{{.ID}}".into())
    } else {
        Format::from_flag(
            a.format.as_deref(),
            "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}",
        )
    };
    let hdr = headers(&[
        ("ID", "NETWORK ID"),
        ("Name", "NAME"),
        ("Driver", "DRIVER"),
        ("Scope", "SCOPE"),
        ("IPv6", "IPV6"),
        ("Internal", "INTERNAL"),
        ("CreatedAt", "CREATED"),
        ("Labels", "LABELS"),
    ]);
    print_rows(&format, &hdr, &rows)?;
    Ok(0)
}

/// One IPAM pool per `--subnet`; `--gateway`/`--ip-range` are given to
/// subnets in order, as most users write them.
pub fn ipam_pools(a: &CreateArgs) -> anyhow::Result<Vec<IpamConfig>> {
    if a.gateway.len() > a.subnet.len() || a.ip_range.len() > a.subnet.len() {
        bail!("every ip-range or gateway must have a corresponding subnet");
    }
    let aux = parse_labels(&a.aux_address);
    if !aux.is_empty() && a.subnet.is_empty() {
        bail!("every auxiliary address must have a corresponding subnet");
    }
    Ok(a.subnet
        .iter()
        .enumerate()
        .map(|(i, s)| IpamConfig {
            subnet: Some(s.clone()),
            gateway: a.gateway.get(i).cloned(),
            ip_range: a.ip_range.get(i).cloned(),
            auxiliary_addresses: (i == 0 && !aux.is_empty()).then(|| aux.clone()),
        })
        .collect())
}

fn create(cx: &Ctx, a: CreateArgs) -> anyhow::Result<i32> {
    let pools = ipam_pools(&a)?;
    let opts: HashMap<String, String> = parse_labels(&a.opt);
    let ipam_opts = parse_labels(&a.ipam_opt);
    let req = NetworkCreateRequest {
        name: a.name.clone(),
        driver: Some(a.driver.clone()),
        scope: a.scope.clone(),
        internal: a.internal.then_some(true),
        attachable: a.attachable.then_some(true),
        enable_ipv6: a.ipv6.then_some(true),
        ipam: Some(Ipam {
            driver: Some(a.ipam_driver.clone().unwrap_or_else(|| "default".into())),
            config: Some(pools),
            options: (!ipam_opts.is_empty()).then_some(ipam_opts),
        }),
        options: Some(opts),
        labels: Some(parse_labels(&a.label)),
        ..Default::default()
    };
    let r: Value = cx.client.post_json("/networks/create", &[], Some(&req))?;
    if let Some(w) = r
        .get("Warning")
        .and_then(Value::as_str)
        .filter(|w| !w.is_empty())
    {
        eprintln!("{w}");
    }
    println!("{}", r.get("Id").and_then(Value::as_str).unwrap_or(""));
    Ok(0)
}

fn rm(cx: &Ctx, a: RmArgs) -> anyhow::Result<i32> {
    for_each_name(&a.networks, |n| {
        match cx.client.delete(&format!("/networks/{n}"), &[]) {
            Err(e) if a.force && e.is_not_found() => return Ok(()),
            other => other?,
        };
        println!("{n}");
        Ok(())
    })
}

fn connect(cx: &Ctx, a: ConnectArgs) -> anyhow::Result<i32> {
    let opts = parse_labels(&a.driver_opt);
    let ep = EndpointSettings {
        aliases: (!a.alias.is_empty()).then(|| a.alias.clone()),
        links: (!a.link.is_empty()).then(|| a.link.clone()),
        driver_opts: (!opts.is_empty()).then_some(opts),
        ipam_config: (a.ip.is_some() || a.ip6.is_some()).then(|| EndpointIpamConfig {
            ipv4_address: a.ip.clone(),
            ipv6_address: a.ip6.clone(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let req = NetworkConnectRequest {
        container: a.container.clone(),
        endpoint_config: Some(ep),
    };
    cx.client
        .post(&format!("/networks/{}/connect", a.network), &[], Some(&req))?;
    Ok(0)
}

fn disconnect(cx: &Ctx, a: DisconnectArgs) -> anyhow::Result<i32> {
    let req = NetworkDisconnectRequest {
        container: a.container.clone(),
        force: a.force.then_some(true),
    };
    cx.client.post(
        &format!("/networks/{}/disconnect", a.network),
        &[],
        Some(&req),
    )?;
    Ok(0)
}

fn prune(cx: &Ctx, a: PruneArgs) -> anyhow::Result<i32> {
    if !a.force
        && !confirm(
            "WARNING! This will remove all custom networks not used by at least one container.",
        )?
    {
        return Ok(0);
    }
    prune_objects(cx, Pruned::Networks, &Filters::parse(&a.filter)?)?;
    Ok(0)
}
