//! `berth-host-local`: IPAM from local ranges, persisted in berth-store.
//!
//! Reads host-local's `ipam` section (`ranges`, or the legacy top-level
//! `subnet`/`rangeStart`/`rangeEnd`/`gateway`; `routes`; `dataDir`;
//! `resolvConf`) and allocates through berth-net's [`Ipam`] over
//! [`LeaseFiles`] (a file per lease under `dataDir`, flock'ed per
//! transaction), which makes concurrent ADDs from many plugin processes safe
//! and a lease durable before ADD answers. Static addresses
//! come from `runtimeConfig.ips`, `args.cni.ips` or `CNI_ARGS` `IP=`.
//!
//! The same functions serve berth's main plugins in-process when their
//! `ipam.type` is `berth-host-local` (saving a fork+exec per ADD).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use berth_net::ipam::{Ipam, IpamConfig, IpamError, IpamRoute, LeaseFiles, Range};
use berth_store::{RedbStore, Store, StoreError};
use ipnet::IpNet;
use serde::Deserialize;

use crate::plugin::{Plugin, Request};
use crate::types::{CniError, CniResult, Dns, ErrorCode, IpConfig, Route};

/// Where leases live without `dataDir` (berth's counterpart of the reference
/// plugin's /var/lib/cni/networks). On tmpfs, as podman keeps its IPAM
/// database under /run: a lease names an address in a network namespace,
/// and no namespace survives a reboot, so neither should the lease (on disk
/// every ADD also pays an fsync).
pub const DEFAULT_DATA_DIR: &str = "/run/berth/cni/networks";
/// Where berth before the lease files kept the leases, inside `dataDir`.
const OLD_STORE_FILE: &str = "ipam.redb";

pub struct HostLocal;

#[derive(Debug, Deserialize)]
struct Wrapper {
    ipam: HostLocalConf,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HostLocalConf {
    #[serde(default, deserialize_with = "crate::types::runtime::null_as_default")]
    ranges: Vec<Vec<Range>>,
    #[serde(default)]
    subnet: Option<IpNet>,
    #[serde(default)]
    range_start: Option<IpAddr>,
    #[serde(default)]
    range_end: Option<IpAddr>,
    #[serde(default)]
    gateway: Option<IpAddr>,
    #[serde(default, deserialize_with = "crate::types::runtime::null_as_default")]
    routes: Vec<IpamRoute>,
    #[serde(default)]
    data_dir: Option<PathBuf>,
    #[serde(default)]
    resolv_conf: Option<PathBuf>,
}

/// The parsed `ipam` section.
struct Parsed {
    cfg: IpamConfig,
    data_dir: PathBuf,
    resolv_conf: Option<PathBuf>,
}

fn parse(req: &Request) -> Result<Parsed, CniError> {
    if req.conf.ipam.is_none() {
        return Err(CniError::invalid_config(
            "network config: field `ipam` is required for host-local",
        ));
    }
    let w: Wrapper = req.conf.section()?;
    let c = w.ipam;
    let mut ranges = c.ranges;
    if let Some(subnet) = c.subnet {
        ranges.insert(
            0,
            vec![Range {
                subnet,
                range_start: c.range_start,
                range_end: c.range_end,
                gateway: c.gateway,
            }],
        );
    } else if c.range_start.is_some() || c.range_end.is_some() || c.gateway.is_some() {
        return Err(CniError::invalid_config(
            "network config: field `ipam.subnet` is required with rangeStart/rangeEnd/gateway",
        ));
    }
    let cfg = IpamConfig {
        ranges,
        routes: c.routes,
    };
    cfg.validate().map_err(ipam_error)?;
    Ok(Parsed {
        cfg,
        data_dir: c
            .data_dir
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
        resolv_conf: c.resolv_conf,
    })
}

/// The leases in `dir` ([`LeaseFiles`]: one fsync'd file per lease, where
/// a redb commit cost eight fsyncs per ADD). Leases an older berth kept in
/// `dir/ipam.redb` are carried over first, once.
fn open_store(dir: &Path) -> Result<LeaseFiles, CniError> {
    open_store_with(dir, |d| LeaseFiles::open(d))
}

fn open_store_with(
    dir: &Path,
    open: fn(&Path) -> Result<LeaseFiles, StoreError>,
) -> Result<LeaseFiles, CniError> {
    let store = open(dir).map_err(|e| store_error(&e))?;
    let old = dir.join(OLD_STORE_FILE);
    if old.exists() {
        migrate(&store, &old).map_err(|e| store_error(&e))?;
    }
    Ok(store)
}

fn migrate(store: &LeaseFiles, old: &Path) -> Result<(), StoreError> {
    let entries = RedbStore::open(old)?.list_prefix("ipam/")?;
    store.update(&mut |t| {
        for (k, v) in &entries {
            if t.get(k)?.is_none() {
                t.put(k, v)?;
            }
        }
        Ok(())
    })?;
    let mut done = old.as_os_str().to_owned();
    done.push(".migrated");
    match std::fs::rename(old, &done) {
        Ok(()) => Ok(()),
        // Another plugin process migrated it meanwhile.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StoreError::Io {
            op: "rename",
            path: old.to_path_buf(),
            source,
        }),
    }
}

fn store_error(e: &StoreError) -> CniError {
    match e {
        StoreError::Busy { .. } => CniError::new(ErrorCode::TryAgainLater, e.to_string()),
        _ => CniError::new(ErrorCode::IoFailure, format!("ipam store: {e}")),
    }
}

fn ipam_error(e: IpamError) -> CniError {
    match e {
        IpamError::Config { field, detail } => {
            CniError::invalid_config(format!("network config: field `ipam.{field}`: {detail}"))
        }
        IpamError::BadName { .. } => CniError::invalid_env(e.to_string()),
        IpamError::NotInRange(_) | IpamError::TwoInOneSet(..) => {
            CniError::invalid_config(e.to_string())
        }
        IpamError::Exhausted { .. } | IpamError::Taken { .. } => CniError::ipam(e.to_string()),
        IpamError::Store(s) => store_error(&s),
    }
}

/// Static addresses asked for, from every place the conventions allow.
fn requested_ips(req: &Request) -> Result<Vec<IpAddr>, CniError> {
    let mut out: Vec<IpAddr> = req.conf.runtime_config.ips.iter().map(|r| r.0).collect();
    if let Some(cni) = &req.conf.args.cni {
        out.extend(cni.ips.iter().map(|r| r.0));
    }
    if let Some(ips) = req.args.arg("IP") {
        for s in ips.split(',').filter(|s| !s.is_empty()) {
            let r: crate::types::RequestedIp = s
                .parse()
                .map_err(|e: String| CniError::invalid_env(format!("CNI_ARGS IP: {e}")))?;
            out.push(r.0);
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Allocates for the request's attachment; the result has `ips` (no
/// interface index), `routes` and `dns`.
pub fn allocate(req: &Request) -> Result<CniResult, CniError> {
    let (result, durable) = allocate_deferred(req)?;
    durable.wait()?;
    Ok(result)
}

/// Leases of an allocation whose sync to disk may still be running.
pub struct Durable(LeaseFiles);

impl Durable {
    /// Returns once the leases are on disk; call before answering ADD.
    pub fn wait(self) -> Result<(), CniError> {
        self.0.wait_durable().map_err(|e| store_error(&e))
    }
}

/// Like [`allocate`], but the leases' sync to disk runs on while the
/// caller configures the container ([`Durable::wait`] before answering).
pub fn allocate_deferred(req: &Request) -> Result<(CniResult, Durable), CniError> {
    let p = parse(req)?;
    let requested = requested_ips(req)?;
    let store = open_store_with(&p.data_dir, |d| LeaseFiles::open_background(d))?;
    let ipam = Ipam::new(&store, &req.conf.name).map_err(ipam_error)?;
    let allocs = ipam
        .allocate(&p.cfg, &req.args.container_id, &req.args.ifname, &requested)
        .map_err(ipam_error)?;
    let dns = match &p.resolv_conf {
        None => Dns::default(),
        Some(path) => match read_resolv_conf(path) {
            Ok(d) => d,
            Err(e) => {
                // Do not keep the addresses of an ADD that fails.
                let _ = ipam.release(&req.args.container_id, Some(&req.args.ifname));
                return Err(e);
            }
        },
    };
    let result = CniResult {
        interfaces: Vec::new(),
        ips: allocs
            .into_iter()
            .map(|a| IpConfig {
                address: a.address,
                gateway: a.gateway,
                interface: None,
            })
            .collect(),
        routes: p
            .cfg
            .routes
            .iter()
            .map(|r| Route::new(r.dst, r.gw))
            .collect(),
        dns,
    };
    drop(ipam);
    Ok((result, Durable(store)))
}

/// Releases the attachment's addresses (nothing held is fine).
pub fn release(req: &Request) -> Result<(), CniError> {
    let p = parse(req)?;
    let store = open_store(&p.data_dir)?;
    let ipam = Ipam::new(&store, &req.conf.name).map_err(ipam_error)?;
    ipam.release(&req.args.container_id, Some(&req.args.ifname))
        .map_err(ipam_error)?;
    Ok(())
}

/// The attachment must still hold the addresses `prevResult` lists.
pub fn check(req: &Request) -> Result<(), CniError> {
    let p = parse(req)?;
    let store = open_store(&p.data_dir)?;
    let ipam = Ipam::new(&store, &req.conf.name).map_err(ipam_error)?;
    let held = ipam
        .addresses_of(&req.args.container_id, &req.args.ifname)
        .map_err(ipam_error)?;
    if held.is_empty() {
        return Err(CniError::check(format!(
            "host-local: no address is allocated to {}/{} on network {}",
            req.args.container_id, req.args.ifname, req.conf.name
        )));
    }
    if let Some(prev) = &req.conf.prev_result {
        for ip in &prev.ips {
            let a = ip.address.addr();
            let in_ranges = p.cfg.ranges.iter().flatten().any(|r| r.subnet.contains(&a));
            if in_ranges && !held.contains(&a) {
                return Err(CniError::check(format!(
                    "host-local: address {a} of the previous result is not allocated to {}/{}",
                    req.args.container_id, req.args.ifname
                )));
            }
        }
    }
    Ok(())
}

/// Releases every lease of the network whose attachment is not listed as
/// valid.
pub fn gc(req: &Request) -> Result<(), CniError> {
    let p = parse(req)?;
    let store = open_store(&p.data_dir)?;
    let ipam = Ipam::new(&store, &req.conf.name).map_err(ipam_error)?;
    let valid = &req.conf.valid_attachments;
    let mut stale: Vec<(String, String)> = ipam
        .leases()
        .map_err(ipam_error)?
        .into_iter()
        .filter(|l| {
            !valid
                .iter()
                .any(|v| v.container_id == l.container_id && v.ifname == l.ifname)
        })
        .map(|l| (l.container_id, l.ifname))
        .collect();
    stale.sort();
    stale.dedup();
    for (cid, ifname) in stale {
        tracing::info!(container = %cid, %ifname, network = %req.conf.name, "GC releasing leases");
        ipam.release(&cid, Some(&ifname)).map_err(ipam_error)?;
    }
    Ok(())
}

/// Ready when the configuration is valid and the store opens.
pub fn status(req: &Request) -> Result<(), CniError> {
    let p = parse(req)?;
    open_store(&p.data_dir).map(|_| ()).map_err(|e| {
        CniError::new(
            ErrorCode::PluginNotAvailable,
            format!("host-local: {}", e.msg),
        )
    })
}

/// `nameserver`, `domain`, `search` and `options` lines of a resolv.conf.
fn read_resolv_conf(path: &Path) -> Result<Dns, CniError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CniError::invalid_config(format!(
            "network config: field `ipam.resolvConf`: reading {}: {e}",
            path.display()
        ))
    })?;
    let mut dns = Dns::default();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => dns.nameservers.extend(words.map(str::to_owned)),
            Some("domain") => dns.domain = words.next().map(str::to_owned),
            Some("search") => dns.search = words.map(str::to_owned).collect(),
            Some("options") => dns.options.extend(words.map(str::to_owned)),
            _ => {}
        }
    }
    Ok(dns)
}

impl Plugin for HostLocal {
    fn add(&self, req: &Request) -> Result<CniResult, CniError> {
        allocate(req)
    }
    fn del(&self, req: &Request) -> Result<(), CniError> {
        release(req)
    }
    fn check(&self, req: &Request) -> Result<(), CniError> {
        check(req)
    }
    fn status(&self, req: &Request) -> Result<(), CniError> {
        status(req)
    }
    fn gc(&self, req: &Request) -> Result<(), CniError> {
        gc(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Command;

    fn req(conf: serde_json::Value) -> Request {
        Request::for_test(Command::Add, conf, &[("IP", "10.1.0.9,fd00::9")])
    }

    #[test]
    fn legacy_subnet_becomes_the_first_range_set() {
        let r = req(serde_json::json!({
            "cniVersion": "1.0.0", "name": "n", "type": "bridge",
            "ipam": {"type": "berth-host-local", "subnet": "10.1.0.0/24", "gateway": "10.1.0.254",
                     "ranges": [[{"subnet": "fd00::/64"}]], "dataDir": "/x"}
        }));
        let p = parse(&r).expect("parse");
        assert_eq!(p.cfg.ranges.len(), 2);
        assert_eq!(p.cfg.ranges[0][0].subnet.to_string(), "10.1.0.0/24");
        assert_eq!(p.data_dir, PathBuf::from("/x"));
        assert_eq!(
            requested_ips(&r).expect("ips"),
            vec![
                "10.1.0.9".parse::<IpAddr>().expect("ip"),
                "fd00::9".parse().expect("ip")
            ]
        );
    }

    #[test]
    fn config_errors_name_the_field() {
        let e = parse(&req(serde_json::json!({
            "cniVersion": "1.0.0", "name": "n", "type": "bridge",
            "ipam": {"type": "berth-host-local", "subnet": "10.1.0.0/24", "rangeEnd": "10.2.0.1"}
        })))
        .err()
        .expect("must fail");
        assert_eq!(e.code, ErrorCode::InvalidNetworkConfig);
        assert!(e.msg.contains("ipam.ranges[0][0].rangeEnd"), "{}", e.msg);
        let e = parse(&req(serde_json::json!({
            "cniVersion": "1.0.0", "name": "n", "type": "bridge",
            "ipam": {"type": "berth-host-local", "ranges": [[{"subnet": true}]]}
        })))
        .err()
        .expect("must fail");
        assert_eq!(e.code, ErrorCode::DecodingFailure);
        assert!(e.msg.contains("ipam.ranges[0][0].subnet"), "{}", e.msg);
        let e = parse(&req(serde_json::json!({
            "cniVersion": "1.0.0", "name": "n", "type": "bridge",
            "ipam": {"type": "berth-host-local", "gateway": "10.1.0.1"}
        })))
        .err()
        .expect("must fail");
        assert!(e.msg.contains("ipam.subnet"), "{}", e.msg);
    }

    #[test]
    fn resolv_conf_lines_become_dns() {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("resolv.conf");
        std::fs::write(
            &p,
            "# c\nnameserver 10.0.0.53\nnameserver fd00::53\nsearch a.example b.example\noptions ndots:2\ndomain example\n",
        )
        .expect("write");
        let dns = read_resolv_conf(&p).expect("read");
        assert_eq!(dns.nameservers, ["10.0.0.53", "fd00::53"]);
        assert_eq!(dns.search, ["a.example", "b.example"]);
        assert_eq!(dns.options, ["ndots:2"]);
        assert_eq!(dns.domain.as_deref(), Some("example"));
    }
}
