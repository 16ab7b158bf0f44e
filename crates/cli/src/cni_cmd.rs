//! `berth cni ...`: run a CNI configuration list for one attachment with
//! berth's CNI client, like `cnitool` (any plugins, berth's or others').

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{bail, Context};
use berth_cni::client::{Attachment, CniClient};
use berth_cni::types::{GcAttachment, NetConfList, PortMapping, Protocol};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "berth cni", about = "run CNI plugin chains (like cnitool)")]
struct Cli {
    /// Directories to search for plugins (default: $CNI_PATH, else /opt/cni/bin).
    #[arg(long, global = true, value_delimiter = ':')]
    cni_path: Vec<PathBuf>,
    /// Result cache directory (default: $BERTH_CNI_CACHE, else /var/lib/berth/cni).
    #[arg(long, global = true)]
    cache_dir: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Attach a container: ADD through the chain; prints the result.
    Add(AttachArgs),
    /// Detach: DEL through the chain in reverse.
    Del(AttachArgs),
    /// CHECK an attachment against its cached result.
    Check(AttachArgs),
    /// GC: delete attachments of the network not listed with --valid.
    Gc {
        conflist: PathBuf,
        /// An attachment to keep, CONTAINERID/IFNAME (repeatable).
        #[arg(long = "valid")]
        valid: Vec<String>,
    },
    /// STATUS of every plugin of the list.
    Status { conflist: PathBuf },
    /// The CNI versions a plugin supports.
    Version { plugin: String },
}

#[derive(Args)]
struct AttachArgs {
    conflist: PathBuf,
    netns: PathBuf,
    container_id: String,
    #[arg(default_value = "eth0")]
    ifname: String,
    /// CNI_ARGS, K=V;K2=V2.
    #[arg(long)]
    args: Option<String>,
    /// Publish a port: HOSTPORT:CONTAINERPORT[/tcp|udp] (capability portMappings).
    #[arg(long = "publish", short = 'p')]
    publish: Vec<String>,
    /// Capability arguments as a JSON object (merged; e.g. '{"ips":["10.1.0.9/24"]}').
    #[arg(long)]
    capability_args: Option<String>,
}

pub fn main(args: &[OsString]) -> anyhow::Result<()> {
    let cli = Cli::try_parse_from(
        std::iter::once(OsString::from("berth cni")).chain(args.iter().cloned()),
    )
    .unwrap_or_else(|e| e.exit());
    let path = if cli.cni_path.is_empty() {
        std::env::var_os("CNI_PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_else(|| vec![PathBuf::from("/opt/cni/bin")])
    } else {
        cli.cni_path
    };
    let cache = cli
        .cache_dir
        .or_else(|| std::env::var_os("BERTH_CNI_CACHE").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/var/lib/berth/cni"));
    let client = CniClient::new(path, cache);
    match cli.cmd {
        Cmd::Add(a) => {
            let (list, att) = attachment(&a)?;
            let r = client.add(&list, &att).context("ADD")?;
            println!(
                "{}",
                serde_json::to_string_pretty(&r.to_json(list.version))?
            );
        }
        Cmd::Del(a) => {
            let (list, att) = attachment(&a)?;
            client.del(&list, &att).context("DEL")?;
        }
        Cmd::Check(a) => {
            let (list, att) = attachment(&a)?;
            client.check(&list, &att).context("CHECK")?;
        }
        Cmd::Gc { conflist, valid } => {
            let list = load(&conflist)?;
            let valid = valid
                .iter()
                .map(|v| {
                    let (c, i) = v
                        .split_once('/')
                        .with_context(|| format!("--valid {v:?}: expected CONTAINERID/IFNAME"))?;
                    Ok(GcAttachment {
                        container_id: c.to_owned(),
                        ifname: i.to_owned(),
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            client.gc(&list, &valid).context("GC")?;
        }
        Cmd::Status { conflist } => {
            let list = load(&conflist)?;
            client.status(&list).context("STATUS")?;
            println!("{}: ready", list.name);
        }
        Cmd::Version { plugin } => {
            println!("{}", client.version_info(&plugin)?.join(" "));
        }
    }
    Ok(())
}

fn load(p: &std::path::Path) -> anyhow::Result<NetConfList> {
    NetConfList::load(p).with_context(|| format!("loading {}", p.display()))
}

fn attachment(a: &AttachArgs) -> anyhow::Result<(NetConfList, Attachment)> {
    let list = load(&a.conflist)?;
    let mut caps = serde_json::Map::new();
    if let Some(j) = &a.capability_args {
        let v: serde_json::Value = serde_json::from_str(j).context("--capability-args")?;
        let serde_json::Value::Object(m) = v else {
            bail!("--capability-args: expected a JSON object");
        };
        caps.extend(m);
    }
    if !a.publish.is_empty() {
        let maps = a
            .publish
            .iter()
            .map(|p| parse_publish(p))
            .collect::<anyhow::Result<Vec<_>>>()?;
        caps.insert("portMappings".into(), serde_json::to_value(maps)?);
    }
    let args = match &a.args {
        None => Vec::new(),
        Some(s) => {
            berth_cni::types::env::parse_cni_args(s).map_err(|e| anyhow::anyhow!("--args: {e}"))?
        }
    };
    Ok((
        list,
        Attachment {
            container_id: a.container_id.clone(),
            netns: Some(a.netns.clone()),
            ifname: a.ifname.clone(),
            args,
            capability_args: caps,
        },
    ))
}

fn parse_publish(s: &str) -> anyhow::Result<PortMapping> {
    let (ports, proto) = s.split_once('/').unwrap_or((s, "tcp"));
    let protocol = match proto {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        "sctp" => Protocol::Sctp,
        other => bail!("--publish {s:?}: unknown protocol {other:?}"),
    };
    let (h, c) = ports
        .split_once(':')
        .with_context(|| format!("--publish {s:?}: expected HOSTPORT:CONTAINERPORT"))?;
    Ok(PortMapping {
        host_port: h
            .parse()
            .with_context(|| format!("--publish {s:?}: host port"))?,
        container_port: c
            .parse()
            .with_context(|| format!("--publish {s:?}: container port"))?,
        protocol,
        host_ip: None,
    })
}
