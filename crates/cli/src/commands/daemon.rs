//! `berth daemon` (also `berthd`): dockerd's flags and daemon.json keys,
//! translated into an engine and an API server.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use berth_engine::network::bridge::{
    parse_cidr, parse_fixed_cidr_v6, parse_mtu, BridgeDriver, BridgeOptions,
};
use berth_engine::network::cni::{CniConfig, CniDriver};
use berth_engine::network::dispatch::Networks;
use berth_engine::network::pools::AddressPool;
use berth_engine::{Engine, EngineConfig};
use clap::Parser;

/// berthd: the berth container engine daemon.
#[derive(Debug, Parser)]
#[command(name = "berthd", version)]
struct Flags {
    /// Daemon socket to listen on (unix://PATH).
    #[arg(short = 'H', long = "host")]
    host: Vec<String>,
    /// Persistent state (images, containers, volumes).
    #[arg(long = "data-root")]
    data_root: Option<PathBuf>,
    /// Runtime state (sockets, container state).
    #[arg(long = "exec-root")]
    exec_root: Option<PathBuf>,
    /// debug, info, warn, error, fatal.
    #[arg(short = 'l', long = "log-level")]
    log_level: Option<String>,
    /// daemon.json.
    #[arg(long = "config-file", default_value = "/etc/berth/daemon.json")]
    config_file: PathBuf,
    /// Parent cgroup of every container.
    #[arg(long = "cgroup-parent")]
    cgroup_parent: Option<String>,
    /// Registries to talk plain HTTP to.
    #[arg(long = "insecure-registry")]
    insecure_registry: Vec<String>,
    /// Accepted for dockerd compatibility; berth always keeps containers
    /// running across daemon restarts.
    #[arg(long = "live-restore", num_args = 0..=1, default_missing_value = "true")]
    live_restore: Option<bool>,
    /// The default bridge's gateway address and prefix (e.g. 10.20.0.1/16).
    #[arg(long = "bip")]
    bip: Option<String>,
    /// The default bridge's range for container addresses (its subnet
    /// too, without --bip).
    #[arg(long = "fixed-cidr")]
    fixed_cidr: Option<String>,
    /// The MTU of the default bridge and its containers' interfaces.
    #[arg(long = "mtu")]
    mtu: Option<String>,
    /// Where subnets of the default bridge and of networks created
    /// without --subnet come from: base=CIDR,size=N (repeatable).
    #[arg(long = "default-address-pool")]
    default_address_pool: Vec<String>,
    /// Masquerade outbound traffic of the default bridge (--ip-masq=false: not).
    #[arg(long = "ip-masq", num_args = 0..=1, default_missing_value = "true")]
    ip_masq: Option<bool>,
    /// Inter-container communication on the default bridge (--icc=false:
    /// its containers reach each other only through published ports).
    #[arg(long = "icc", num_args = 0..=1, default_missing_value = "true")]
    icc: Option<bool>,
    /// Program berth's nftables table (--iptables=false: no rule at all:
    /// no masquerade, no published ports, no isolation).
    #[arg(long = "iptables", num_args = 0..=1, default_missing_value = "true")]
    iptables: Option<bool>,
    /// Turn on IP forwarding (--ip-forward=false: leave the sysctls alone).
    #[arg(long = "ip-forward", num_args = 0..=1, default_missing_value = "true")]
    ip_forward: Option<bool>,
    /// Give the default bridge an IPv6 subnet too.
    #[arg(long = "ipv6", num_args = 0..=1, default_missing_value = "true")]
    ipv6: Option<bool>,
    /// The default bridge's IPv6 subnet (with --ipv6; else from the pools).
    #[arg(long = "fixed-cidr-v6")]
    fixed_cidr_v6: Option<String>,
    /// DNS servers of containers that give none.
    #[arg(long = "dns")]
    dns: Vec<String>,
    /// DNS search domains of containers that give none.
    #[arg(long = "dns-search")]
    dns_search: Vec<String>,
    /// DNS options of containers that give none.
    #[arg(long = "dns-opt")]
    dns_opt: Vec<String>,
    /// Run an init in every container unless it says --init=false.
    #[arg(long = "init", num_args = 0..=1, default_missing_value = "true")]
    init: Option<bool>,
    /// The static init binary for --init (default: berth-init beside
    /// berthd, docker-init, tini-static).
    #[arg(long = "init-path")]
    init_path: Option<PathBuf>,
    /// CNI conflists, each a network of driver cni (default /etc/cni/net.d).
    #[arg(long = "cni-config-dir")]
    cni_config_dir: Option<PathBuf>,
    /// CNI plugin dirs, searched in order; repeat or join with ':'
    /// (default /opt/cni/bin:/usr/lib/cni).
    #[arg(long = "cni-bin-dir")]
    cni_bin_dir: Vec<String>,
    /// An external OCI runtime NAME=PATH (repeatable); containers pick
    /// it with --runtime NAME.
    #[arg(long = "add-runtime")]
    add_runtime: Vec<String>,
    /// The runtime of containers that name none (default runc, berth's own).
    #[arg(long = "default-runtime")]
    default_runtime: Option<String>,
}

/// The daemon.json keys berth supports (dockerd's names).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DaemonJson {
    hosts: Option<Vec<String>>,
    #[serde(rename = "data-root")]
    data_root: Option<PathBuf>,
    #[serde(rename = "exec-root")]
    exec_root: Option<PathBuf>,
    #[serde(rename = "log-level")]
    log_level: Option<String>,
    #[serde(rename = "cgroup-parent")]
    cgroup_parent: Option<String>,
    #[serde(rename = "log-driver")]
    log_driver: Option<String>,
    #[serde(rename = "log-opts")]
    log_opts: Option<HashMap<String, String>>,
    #[serde(rename = "live-restore")]
    live_restore: Option<bool>,
    #[serde(rename = "insecure-registries")]
    insecure_registries: Option<Vec<String>>,
    bip: Option<String>,
    #[serde(rename = "fixed-cidr")]
    fixed_cidr: Option<String>,
    mtu: Option<i64>,
    #[serde(rename = "default-address-pools")]
    default_address_pools: Option<Vec<PoolJson>>,
    dns: Option<Vec<String>>,
    #[serde(rename = "ip-masq")]
    ip_masq: Option<bool>,
    icc: Option<bool>,
    iptables: Option<bool>,
    #[serde(rename = "ip-forward")]
    ip_forward: Option<bool>,
    ipv6: Option<bool>,
    #[serde(rename = "fixed-cidr-v6")]
    fixed_cidr_v6: Option<String>,
    #[serde(rename = "dns-search")]
    dns_search: Option<Vec<String>>,
    #[serde(rename = "dns-opts")]
    dns_opts: Option<Vec<String>>,
    init: Option<bool>,
    #[serde(rename = "init-path")]
    init_path: Option<PathBuf>,
    #[serde(rename = "cni-config-dir")]
    cni_config_dir: Option<PathBuf>,
    /// Plugin dirs joined with ':', as CNI_PATH.
    #[serde(rename = "cni-bin-dir")]
    cni_bin_dir: Option<String>,
    runtimes: Option<HashMap<String, RuntimeJson>>,
    #[serde(rename = "default-runtime")]
    default_runtime: Option<String>,
}

/// One of daemon.json's `runtimes`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RuntimeJson {
    path: Option<PathBuf>,
    #[serde(rename = "runtimeArgs", default)]
    runtime_args: Vec<String>,
    #[serde(rename = "runtimeType")]
    runtime_type: Option<String>,
    options: Option<serde_json::Value>,
}

/// The external runtimes (`--add-runtime` or daemon.json's `runtimes`,
/// not both, as dockerd) and the default one, checked as dockerd does.
fn runtime_options(
    add: &[String],
    default: Option<&str>,
    file: &DaemonJson,
    cfg: &mut EngineConfig,
) -> anyhow::Result<()> {
    if !add.is_empty() && file.runtimes.is_some() {
        bail!("the following directives are specified both as a flag and in the configuration file: runtimes");
    }
    if default.is_some() && file.default_runtime.is_some() {
        bail!("the following directives are specified both as a flag and in the configuration file: default-runtime");
    }
    for a in add {
        let (k, v) = a
            .split_once('=')
            .map(|(k, v)| (k.trim().to_lowercase(), v.trim()))
            .filter(|(k, v)| !k.is_empty() && !v.is_empty())
            .with_context(|| format!("invalid runtime argument: {a}"))?;
        if cfg.runtimes.contains_key(&k) {
            bail!("runtime '{k}' was already defined");
        }
        cfg.runtimes.insert(
            k,
            berth_engine::config::ExternalRuntime {
                path: v.into(),
                args: Vec::new(),
            },
        );
    }
    for (name, rt) in file.runtimes.iter().flatten() {
        if rt.runtime_type.is_some() || rt.options.is_some() {
            bail!("runtime {name}: runtimeType (a containerd shim) is not supported; give a path");
        }
        let Some(path) = rt.path.clone() else {
            bail!("runtime {name}: either a runtimeType or a path must be configured");
        };
        cfg.runtimes.insert(
            name.clone(),
            berth_engine::config::ExternalRuntime {
                path,
                args: rt.runtime_args.clone(),
            },
        );
    }
    if let Some(d) = default.or(file.default_runtime.as_deref()) {
        cfg.default_runtime = d.to_owned();
    }
    cfg.check_runtimes().map_err(anyhow::Error::msg)
}

/// One of daemon.json's `default-address-pools`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolJson {
    base: String,
    size: i64,
}

/// The flag's values if any were given, else daemon.json's.
fn flag_or_file(flag: &[String], file: &Option<Vec<String>>) -> Vec<String> {
    if flag.is_empty() {
        file.clone().unwrap_or_default()
    } else {
        flag.to_vec()
    }
}

/// The networking options (flags over daemon.json), parsed: the bridge
/// driver's and the daemon-wide DNS defaults.
fn network_options(
    flags: &Flags,
    file: &DaemonJson,
    cfg: &mut EngineConfig,
) -> anyhow::Result<BridgeOptions> {
    let pools = if !flags.default_address_pool.is_empty() {
        flags
            .default_address_pool
            .iter()
            .map(|p| p.parse::<AddressPool>())
            .collect::<Result<Vec<_>, _>>()?
    } else {
        file.default_address_pools
            .iter()
            .flatten()
            .map(|p| AddressPool::new(&p.base, p.size))
            .collect::<Result<Vec<_>, _>>()?
    };
    let mtu = match (&flags.mtu, file.mtu) {
        (Some(m), _) => Some(parse_mtu(m)?),
        (None, Some(m)) => Some(parse_mtu(&m.to_string())?),
        (None, None) => None,
    };
    let iptables = flags.iptables.or(file.iptables);
    let icc = flags.icc.or(file.icc);
    if iptables == Some(false) && icc == Some(false) {
        // dockerd's words.
        bail!("You specified --iptables=false with --icc=false. ICC=false uses iptables to function. Please set --icc or --iptables to true");
    }
    let opts = BridgeOptions {
        bip: flags
            .bip
            .as_deref()
            .or(file.bip.as_deref())
            .map(|b| parse_cidr("--bip", b))
            .transpose()?,
        fixed_cidr: flags
            .fixed_cidr
            .as_deref()
            .or(file.fixed_cidr.as_deref())
            .map(|f| parse_cidr("--fixed-cidr", f))
            .transpose()?,
        mtu,
        pools: pools.clone(),
        // As dockerd: no masquerade without its rules.
        ip_masq: match iptables {
            Some(false) => Some(false),
            _ => flags.ip_masq.or(file.ip_masq),
        },
        icc,
        ipv6: flags.ipv6.or(file.ipv6).unwrap_or(false),
        fixed_cidr_v6: flags
            .fixed_cidr_v6
            .as_deref()
            .or(file.fixed_cidr_v6.as_deref())
            .map(parse_fixed_cidr_v6)
            .transpose()?,
        iptables,
        ip_forward: flags.ip_forward.or(file.ip_forward),
    };
    cfg.address_pools = pools;
    cfg.dns = flag_or_file(&flags.dns, &file.dns);
    if let Some(bad) = cfg
        .dns
        .iter()
        .find(|d| d.parse::<std::net::IpAddr>().is_err())
    {
        bail!("invalid --dns {bad:?}: not an IP address");
    }
    cfg.dns_search = flag_or_file(&flags.dns_search, &file.dns_search);
    if let Some(bad) = cfg
        .dns_search
        .iter()
        .find(|d| d.is_empty() || d.starts_with('-') || d.len() > 255)
    {
        bail!("invalid --dns-search {bad:?}: not a domain name");
    }
    cfg.dns_options = flag_or_file(&flags.dns_opt, &file.dns_opts);
    Ok(opts)
}

fn read_config(path: &Path, explicit: bool) -> anyhow::Result<DaemonJson> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .with_context(|| format!("unable to configure the daemon from {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            Ok(DaemonJson::default())
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// One `-H`: `unix://PATH` (or a bare path), or `tcp://ADDR[:PORT]` on a
/// loopback address (port 2375 by default, as dockerd). berthd has no
/// TLS, so it refuses other TCP addresses: the API is root on the host.
fn listen_addr(host: &str) -> anyhow::Result<berth_api::Listen> {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    if let Some(p) = host.strip_prefix("unix://").filter(|p| !p.is_empty()) {
        return Ok(berth_api::Listen::Unix(PathBuf::from(p)));
    }
    if host.starts_with('/') {
        return Ok(berth_api::Listen::Unix(PathBuf::from(host)));
    }
    let Some(addr) = host.strip_prefix("tcp://") else {
        bail!("unsupported host {host:?}: berthd listens on unix://PATH or tcp://LOOPBACK:PORT");
    };
    let addr = addr.trim_end_matches('/');
    // [v6]:port, [v6], v4:port, name:port, v4 or name.
    let (ip, port) = match addr.strip_prefix('[').and_then(|a| a.split_once(']')) {
        Some((ip, rest)) => (ip, rest.strip_prefix(':').unwrap_or(rest)),
        None => addr.rsplit_once(':').unwrap_or((addr, "")),
    };
    let port: u16 = if port.is_empty() {
        2375
    } else {
        port.parse()
            .with_context(|| format!("invalid port in host {host:?}"))?
    };
    let ip: IpAddr = match ip {
        "localhost" | "" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        other => other
            .parse()
            .with_context(|| format!("invalid address in host {host:?}"))?,
    };
    if !ip.is_loopback() {
        bail!(
            "refusing to listen on {host}: berthd has no TLS, and the API gives root on this machine to whoever reaches it; use a loopback address or a unix socket"
        );
    }
    Ok(berth_api::Listen::Tcp(SocketAddr::new(ip, port)))
}

fn level_filter(level: &str) -> anyhow::Result<&'static str> {
    Ok(match level {
        "debug" | "trace" => "debug",
        "info" => "info",
        "warn" | "warning" => "warn",
        "error" | "fatal" | "panic" => "error",
        other => bail!("unable to parse logging level: {other}"),
    })
}

/// The CNI driver's dirs: flags over daemon.json over the defaults.
fn cni_config(
    conf_dir: Option<PathBuf>,
    bin_dirs: &[String],
    file_conf_dir: Option<PathBuf>,
    file_bin_dir: Option<&str>,
    data_root: &Path,
) -> CniConfig {
    let joined: Vec<&str> = if bin_dirs.is_empty() {
        file_bin_dir.into_iter().collect()
    } else {
        bin_dirs.iter().map(String::as_str).collect()
    };
    let mut bins: Vec<PathBuf> = joined
        .iter()
        .flat_map(|d| d.split(':'))
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .collect();
    if bins.is_empty() {
        bins = CniConfig::default_bin_dirs();
    }
    CniConfig {
        conf_dir: conf_dir
            .or(file_conf_dir)
            .unwrap_or_else(|| "/etc/cni/net.d".into()),
        bin_dirs: bins,
        cache_dir: data_root.join("cni"),
    }
}

pub fn main(args: Vec<std::ffi::OsString>) -> i32 {
    match run(args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("berthd: {e:#}");
            1
        }
    }
}

fn run(args: Vec<std::ffi::OsString>) -> anyhow::Result<()> {
    super::daemon_malloc::limit_arenas();
    let flags = Flags::try_parse_from(args).unwrap_or_else(|e| e.exit());
    let explicit = std::env::args().any(|a| a.starts_with("--config-file"));
    let file = read_config(&flags.config_file, explicit)?;
    if let Some(d) = file.log_driver.as_deref() {
        if d != "json-file" {
            bail!("log driver {d:?} is not supported (json-file)");
        }
    }
    let level = level_filter(
        flags
            .log_level
            .as_deref()
            .or(file.log_level.as_deref())
            .unwrap_or("info"),
    )?;
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(format!(
            "{level},hyper=warn,h2=warn"
        )))
        .with_writer(std::io::stderr)
        .init();
    let hosts = if !flags.host.is_empty() {
        flags.host.clone()
    } else {
        file.hosts
            .clone()
            .unwrap_or_else(|| vec!["unix:///run/berth/berth.sock".into()])
    };
    let listens = hosts
        .iter()
        .map(|h| listen_addr(h))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut cfg = EngineConfig::new(
        flags
            .data_root
            .clone()
            .or(file.data_root.clone())
            .unwrap_or_else(|| "/var/lib/berth".into()),
        flags
            .exec_root
            .clone()
            .or(file.exec_root.clone())
            .unwrap_or_else(|| "/run/berth".into()),
    );
    if let Some(p) = flags.cgroup_parent.clone().or(file.cgroup_parent.clone()) {
        cfg.cgroup_parent = p;
    }
    if let Some(opts) = &file.log_opts {
        cfg.log_max_size = opts
            .get("max-size")
            .and_then(|s| berth_engine::container::start::parse_size(s));
        cfg.log_max_file = opts
            .get("max-file")
            .and_then(|s| s.parse().ok())
            .unwrap_or(1);
    }
    let _ = flags.live_restore.or(file.live_restore);
    cfg.insecure_registries = flags.insecure_registry.clone();
    cfg.insecure_registries
        .extend(file.insecure_registries.clone().unwrap_or_default());
    let exe = std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into());
    cfg.use_monitor_beside(&exe);
    tracing::debug!(monitor = %cfg.monitor_binary.display(), "monitor binary");
    cfg.init_default = flags.init.or(file.init).unwrap_or(false);
    cfg.init_path = flags.init_path.clone().or(file.init_path.clone());
    runtime_options(
        &flags.add_runtime,
        flags.default_runtime.as_deref(),
        &file,
        &mut cfg,
    )?;
    let bridge_opts = network_options(&flags, &file, &mut cfg)?;
    let firewall = bridge_opts.firewall();
    std::fs::create_dir_all(&cfg.data_root)
        .with_context(|| format!("creating {}", cfg.data_root.display()))?;
    let bridge = BridgeDriver::open_with(&cfg.data_root.join("network.db"), &bridge_opts)
        .context("setting up networking")?;
    let cni = CniDriver::new(cni_config(
        flags.cni_config_dir.clone(),
        &flags.cni_bin_dir,
        file.cni_config_dir.clone(),
        file.cni_bin_dir.as_deref(),
        &cfg.data_root,
    ));
    let networks = Networks::new(Arc::new(bridge), Some(cni));
    let engine = Engine::open(cfg, Arc::new(networks)).context("opening the engine")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        tokio::spawn(super::daemon_malloc::trim_when_idle());
        tokio::spawn(super::daemon_malloc::release_when_quiet());
        engine.restore().await;
        // After restore: its repair publishes the ports of running containers.
        // --iptables=false: berth has no rules to watch over.
        if !firewall {
            tracing::info!("--iptables=false: berthd programs no firewall rules");
            // Holds the running containers' host ports again (clashes).
            if let Err(e) = engine.repair_firewall() {
                tracing::warn!("recording the running containers' ports: {e}");
            }
        } else if let Err(e) = berth_engine::network::firewall_watch::spawn(engine.clone()) {
            tracing::warn!("cannot watch the firewall for changes (no self-healing): {e}");
        }
        let shutdown = async {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(s) => s,
                    Err(_) => return std::future::pending().await,
                };
            tokio::select! {
                _ = term.recv() => {},
                _ = tokio::signal::ctrl_c() => {},
            }
            tracing::info!("shutting down (containers keep running)");
        };
        berth_api::serve_all(engine, &listens, shutdown).await
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> EngineConfig {
        EngineConfig::new("/nonexistent/data", "/nonexistent/exec")
    }

    #[test]
    fn hosts_are_unix_sockets_or_loopback_tcp() -> anyhow::Result<()> {
        use berth_api::Listen;
        assert_eq!(
            listen_addr("unix:///run/b.sock")?,
            Listen::Unix("/run/b.sock".into())
        );
        assert_eq!(
            listen_addr("/run/b.sock")?,
            Listen::Unix("/run/b.sock".into())
        );
        assert_eq!(
            listen_addr("tcp://127.0.0.1:2376")?,
            Listen::Tcp("127.0.0.1:2376".parse()?)
        );
        assert_eq!(
            listen_addr("tcp://localhost")?,
            Listen::Tcp("127.0.0.1:2375".parse()?)
        );
        assert_eq!(
            listen_addr("tcp://[::1]:2377")?,
            Listen::Tcp("[::1]:2377".parse()?)
        );
        let refused = listen_addr("tcp://0.0.0.0:2375").expect_err("not loopback");
        assert!(
            refused.to_string().contains("berthd has no TLS"),
            "{refused}"
        );
        assert_eq!(
            listen_addr("tcp://[::1]")?,
            Listen::Tcp("[::1]:2375".parse()?)
        );
        assert!(listen_addr("fd://").is_err());
        assert!(listen_addr("tcp://127.0.0.1:x").is_err());
        Ok(())
    }

    #[test]
    fn add_runtime_names_external_runtimes() -> anyhow::Result<()> {
        let mut c = cfg();
        let add = ["CRUN=/usr/bin/crun".to_owned()];
        runtime_options(&add, Some("crun"), &DaemonJson::default(), &mut c)?;
        assert_eq!(c.runtimes["crun"].path, PathBuf::from("/usr/bin/crun"));
        assert_eq!(c.default_runtime, "crun");
        Ok(())
    }

    #[test]
    fn runtime_flags_are_checked_as_dockerd_does() {
        let err = |add: &[&str], default: Option<&str>| {
            let add: Vec<String> = add.iter().map(|s| s.to_string()).collect();
            runtime_options(&add, default, &DaemonJson::default(), &mut cfg())
                .expect_err("refused")
                .to_string()
        };
        assert_eq!(
            err(&["runc=/usr/sbin/runc"], None),
            "runtime name 'runc' is reserved"
        );
        assert_eq!(err(&["crun"], None), "invalid runtime argument: crun");
        assert_eq!(
            err(&["a=/x", "a=/y"], None),
            "runtime 'a' was already defined"
        );
        assert_eq!(
            err(&[], Some("nope")),
            "specified default runtime 'nope' does not exist"
        );
    }

    #[test]
    fn daemon_json_runtimes_take_args() -> anyhow::Result<()> {
        let file: DaemonJson = serde_json::from_str(
            r#"{"runtimes": {"crun": {"path": "/usr/bin/crun", "runtimeArgs": ["--debug"]}}}"#,
        )?;
        let mut c = cfg();
        runtime_options(&[], None, &file, &mut c)?;
        assert_eq!(c.runtimes["crun"].args, vec!["--debug".to_owned()]);
        assert_eq!(c.default_runtime, "runc");
        let both = runtime_options(&["x=/y".into()], None, &file, &mut cfg());
        assert!(both.is_err());
        Ok(())
    }
}
