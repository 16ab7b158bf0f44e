//! `start`: mount the rootfs, make the netns and attach it, write the
//! config.json, start the monitor (which creates the container through the
//! runtime library), connect waiting attaches, then let the process run.
//! Also what happens at exit: cleanup, restart policy, `--rm`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_monitor::protocol::Request;
use berth_monitor::{ExitRecord, Job, LogConfig, MonitorConfig};
use bollard_stubs::models::RestartPolicyNameEnum;

use super::record::{ContainerRecord, Status};
use super::spec::{self, SpecInputs};
use super::Entry;
use crate::error::{EngineError, Result};
use crate::events::Event;
use crate::monitor_client;
use crate::network::{self, EndpointConfig, NetworkMode};
use crate::{lock, Engine};

const EMPTY_TIME: &str = "0001-01-01T00:00:00Z";

/// What start prepared, to undo on failure or at exit.
struct Prepared {
    netns: Option<PathBuf>,
    endpoints: std::collections::HashMap<String, network::Endpoint>,
}

/// /etc/hosts as dockerd writes it: the defaults, `--add-host`s, the
/// legacy links' lines, then the container's own address.
fn hosts_file(hostname: &str, ip: Option<&str>, extra: &[String], links: &[String]) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::\tip6-localnet\nff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for e in extra {
        if let Some((name, addr)) = e.split_once(':') {
            s.push_str(&format!("{addr}\t{name}\n"));
        }
    }
    for l in links {
        s.push_str(l);
        s.push('\n');
    }
    if let Some(ip) = ip.filter(|i| !i.is_empty()) {
        s.push_str(&format!("{ip}\t{hostname}\n"));
    }
    s
}

/// Whether `ndots` is set by the container's `--dns-option`s, or else by
/// the host's resolv.conf options (dockerd's "ndots set").
pub(crate) fn ndots_set(opts: &[String], host: &str) -> bool {
    let has = |o: &str| o.starts_with("ndots:");
    if !opts.is_empty() {
        return opts.iter().any(|o| has(o));
    }
    host.lines()
        .filter_map(|l| l.trim().strip_prefix("options"))
        .any(|rest| rest.split_whitespace().any(has))
}

/// The container's resolv.conf, as dockerd writes it: the host's, its
/// loopback servers dropped in a netns of its own, `--dns`, `--dns-search`
/// and `--dns-option` replacing the host's lines. With the embedded DNS
/// (`embedded`), the only nameserver is 127.0.0.11 (the servers become
/// its upstreams) and `ndots:0` is added unless an ndots is set.
pub(crate) fn resolv_conf(
    host: &str,
    own_netns: bool,
    embedded: bool,
    dns: &[String],
    search: &[String],
    opts: &[String],
) -> String {
    let mut servers: Vec<String> = Vec::new();
    let mut other: Vec<String> = Vec::new();
    let mut host_search: Vec<String> = Vec::new();
    let mut options: Vec<String> = opts.to_vec();
    for line in host.lines() {
        let mut w = line.split_whitespace();
        match w.next() {
            Some("nameserver") => {
                if let Some(ip) = w.next() {
                    let local = ip.starts_with("127.") || ip == "::1";
                    // The embedded DNS asks the host's servers from the
                    // daemon's netns: loopback ones work there.
                    if embedded || !(own_netns && local) {
                        servers.push(ip.to_owned());
                    }
                }
            }
            Some("search") | Some("domain") if search.is_empty() => {
                host_search = vec![line.to_owned()];
            }
            Some("options") if opts.is_empty() => options.extend(w.map(str::to_owned)),
            Some("search") | Some("domain") | Some("options") => {}
            Some(c) if c.starts_with('#') || c.starts_with(';') => {}
            Some(_) => other.push(line.to_owned()),
            None => {}
        }
    }
    let from_host = dns.is_empty();
    if !from_host {
        servers = dns.to_vec();
    }
    let upstream = servers.clone();
    if embedded {
        servers = vec![crate::network::dns::RESOLVER_ADDR.to_string()];
        // A malformed ndots would leave the resolver's choice unset.
        options.retain(|o| {
            o.strip_prefix("ndots:")
                .is_none_or(|n| n.parse::<u32>().is_ok())
        });
        if !options.iter().any(|o| o.starts_with("ndots:")) {
            options.push("ndots:0".into());
        }
    } else if servers.is_empty() {
        servers = vec!["8.8.8.8".into(), "8.8.4.4".into()];
    }
    let mut s = String::new();
    for l in other {
        s.push_str(&l);
        s.push('\n');
    }
    if !search.is_empty() {
        s.push_str(&format!("search {}\n", search.join(" ")));
    } else {
        for l in host_search {
            s.push_str(&l);
            s.push('\n');
        }
    }
    for n in servers {
        s.push_str(&format!("nameserver {n}\n"));
    }
    if !options.is_empty() {
        s.push_str(&format!("options {}\n", options.join(" ")));
    }
    if embedded {
        // Where the embedded DNS sends what it does not know (as dockerd's
        // trailing comment): the host's servers from the daemon's netns.
        let list: Vec<String> = upstream
            .iter()
            .map(|u| {
                if from_host {
                    format!("host({u})")
                } else {
                    u.clone()
                }
            })
            .collect();
        s.push_str(&format!(
            "\n# berthd embedded DNS; upstream servers: [{}]\n",
            list.join(" ")
        ));
    }
    s
}

fn dir_is_empty(p: &Path) -> bool {
    std::fs::read_dir(p)
        .map(|mut d| d.next().is_none())
        .unwrap_or(true)
}

/// The /etc/hosts of a container with its own netns, from its record
/// (its endpoints attached) and its links' lines.
pub(crate) fn hosts_of(rec: &ContainerRecord, links: &[String]) -> String {
    let first = rec.endpoints.values().min_by_key(|e| e.ifname.clone());
    hosts_file(
        &hostname_of(rec),
        first.map(|e| e.ip_address.as_str()),
        rec.host_config.extra_hosts.as_deref().unwrap_or(&[]),
        links,
    )
}

/// A container's hostname as Docker chooses it.
pub(crate) fn hostname_of(rec: &ContainerRecord) -> String {
    let given = rec.config.hostname.clone().unwrap_or_default();
    if !given.is_empty() {
        return given;
    }
    if rec.host_config.network_mode.as_deref() == Some("host")
        || rec.host_config.uts_mode.as_deref() == Some("host")
    {
        if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
            return h.trim().to_owned();
        }
    }
    rec.short_id().to_owned()
}

impl Engine {
    /// `POST /containers/{id}/start`.
    pub async fn start(&self, name: &str) -> Result<()> {
        let entry = self.lookup(name)?;
        let _op = entry.op.lock().await;
        self.start_locked(&entry, false).await
    }

    /// Blocking part of start: everything before the monitor.
    fn prepare(&self, rec: &ContainerRecord) -> Result<Prepared> {
        let cfg = &self.inner.cfg;
        let id = &rec.id;
        let rootfs = self.inner.images.mount_rootfs(id)?;
        let mut prepared = Prepared {
            netns: None,
            endpoints: Default::default(),
        };
        let result = (|| -> Result<()> {
            // A subpath mount shows part of the volume: no image content
            // is copied into it.
            for m in rec
                .mounts
                .iter()
                .filter(|m| m.kind == "volume" && m.subpath.is_empty())
            {
                let inside = rootfs.join(m.destination.trim_start_matches('/'));
                let vol = Path::new(&m.source);
                if inside.is_dir() && !dir_is_empty(&inside) && dir_is_empty(vol) {
                    // First mount of an empty volume gets the image's content.
                    let status = std::process::Command::new("cp")
                        .arg("-a")
                        .arg(format!("{}/.", inside.display()))
                        .arg(vol)
                        .status()
                        .map_err(EngineError::io("copying image content into volume"))?;
                    if !status.success() {
                        return Err(EngineError::Internal(format!(
                            "copying {} into volume {} failed",
                            m.destination, m.name
                        )));
                    }
                }
            }
            let mode = NetworkMode::parse(rec.host_config.network_mode.as_deref().unwrap_or(""))?;
            let mut join_pid = None;
            match &mode {
                NetworkMode::None | NetworkMode::Network(_) => {
                    let ns = network::create_netns(&cfg.netns_dir(), id)?;
                    prepared.netns = Some(ns.clone());
                    if let NetworkMode::Network(n) = &mode {
                        self.attach_all(rec, &ns, n, &mut prepared.endpoints)?;
                    }
                }
                NetworkMode::Host => {}
                NetworkMode::Container(other) => {
                    let o = self.lookup(other)?.record();
                    if o.state.status != Status::Running {
                        return Err(EngineError::Conflict(format!(
                            "cannot join network namespace of a non running container: container {} is {}",
                            o.id,
                            o.state.status.as_str()
                        )));
                    }
                    join_pid = Some(o.state.pid);
                }
            }
            let hostname = hostname_of(rec);
            let files = cfg.container_dir(id);
            let linked = self.linked(rec, prepared.endpoints.contains_key("bridge"))?;
            // Any user-defined network gives it the embedded DNS.
            let embedded_dns = prepared
                .endpoints
                .values()
                .any(|e| !e.dns_server.is_empty());
            let hc = &rec.host_config;
            let write = |name: &str, text: String| {
                std::fs::write(files.join(name), text)
                    .map_err(EngineError::io(format!("writing {name}")))
            };
            write("hostname", format!("{hostname}\n"))?;
            write(
                "hosts",
                match mode {
                    NetworkMode::Host => std::fs::read_to_string("/etc/hosts").unwrap_or_default(),
                    _ => {
                        let mut attached = rec.clone();
                        attached.endpoints = prepared.endpoints.clone();
                        hosts_of(&attached, &linked.hosts)
                    }
                },
            )?;
            // The container's --dns* or else the daemon's.
            let (dns, dns_search, dns_options) = cfg.dns_of(hc);
            write(
                "resolv.conf",
                resolv_conf(
                    &std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
                    mode.own_netns(),
                    embedded_dns,
                    dns,
                    dns_search,
                    dns_options,
                ),
            )?;
            let user = spec::resolve_user(
                &rootfs,
                rec.config.user.as_deref().unwrap_or(""),
                hc.group_add.as_deref().unwrap_or(&[]),
            )?;
            let init = super::init::wanted(hc.init, cfg.init_default)
                .then(|| cfg.init_binary())
                .transpose()?;
            let shared = self.shared_namespaces(rec)?;
            let ipc_donor = match hc
                .ipc_mode
                .as_deref()
                .and_then(|m| m.strip_prefix("container:"))
            {
                Some(name) => Some(self.lookup(name)?.record()),
                None => None,
            };
            let shm = super::ipc_shm::prepare(cfg, rec, ipc_donor.as_ref())?;
            let with_subpaths = super::subpath::resolved(rec)?;
            let mut config = spec::build(
                &with_subpaths,
                &SpecInputs {
                    rootfs: &rootfs,
                    netns: prepared.netns.as_deref(),
                    join_netns_pid: join_pid,
                    shared,
                    files_dir: &files,
                    cgroup_parent: &cfg.cgroup_parent,
                    hostname: &hostname,
                    user: &user,
                    init: init.as_deref(),
                    shm: &shm,
                    link_env: &linked.env,
                },
            )?;
            if let berth_runtime::Driver::Oci(cli) = self.driver(rec) {
                // Older runtimes refuse a newer ociVersion than theirs
                // (crun 1.8 wants 1.0.x); the spec berth writes keeps to
                // what they read.
                if let Some(v) = cli.spec_version() {
                    config["ociVersion"] = serde_json::Value::String(v);
                }
            }
            let run_dir = cfg.container_run_dir(id);
            let _ = std::fs::remove_dir_all(&run_dir);
            let bundle = run_dir.join("bundle");
            std::fs::create_dir_all(&bundle).map_err(EngineError::io("creating bundle dir"))?;
            let bytes = serde_json::to_vec_pretty(&config)
                .map_err(|e| EngineError::Internal(format!("encoding config.json: {e}")))?;
            std::fs::write(bundle.join("config.json"), bytes)
                .map_err(EngineError::io("writing config.json"))?;
            Ok(())
        })();
        if let Err(e) = result {
            self.release(rec, prepared.netns.as_deref(), &prepared.endpoints);
            return Err(e);
        }
        Ok(prepared)
    }

    /// Undoes what start made (rootfs mount, netns, endpoints, run dir).
    /// Keeps going past failures and logs them.
    fn release(
        &self,
        rec: &ContainerRecord,
        netns: Option<&Path>,
        endpoints: &std::collections::HashMap<String, network::Endpoint>,
    ) {
        let id = &rec.id;
        if netns.is_some() {
            let mut attached = rec.clone();
            attached.endpoints = endpoints.clone();
            self.close_link_openings(&attached);
        }
        if let Some(ns) = netns {
            for (n, ep) in endpoints {
                let cfg = EndpointConfig::of_endpoint(rec, n, ep);
                if let Err(e) = self.inner.attacher.detach(ns, &cfg, ep) {
                    tracing::warn!(container = %id, "detaching from {n}: {e}");
                }
            }
            if let Err(e) = network::remove_netns(ns) {
                tracing::warn!(container = %id, "removing netns: {e}");
            }
        }
        // The monitor deletes the runtime's state; a monitor that died
        // early may not have.
        let driver = self.driver(rec);
        if driver.exists(id) {
            let _ = driver.delete(id, true);
        }
        if let Err(e) = self.inner.images.unmount_rootfs(id) {
            tracing::warn!(container = %id, "unmounting rootfs: {e}");
        }
        super::ipc_shm::release(&self.inner.cfg, id);
        let _ = std::fs::remove_dir_all(self.inner.cfg.container_run_dir(id));
    }

    /// Starts the container; `restarting` is the restart policy's start
    /// of a container in state `restarting` (counted in RestartCount).
    pub(crate) async fn start_locked(&self, entry: &Arc<Entry>, restarting: bool) -> Result<()> {
        let rec = entry.record();
        let restart_ok = restarting && rec.state.status == Status::Restarting;
        if rec.state.status.is_live() && !restart_ok {
            return Err(EngineError::NotModified("container already started".into()));
        }
        if matches!(rec.state.status, Status::Removing | Status::Dead) {
            return Err(EngineError::Conflict(format!(
                "container {} is marked for removal and cannot be started",
                rec.id
            )));
        }
        let engine = self.clone();
        let r = rec.clone();
        let prepared = match tokio::task::spawn_blocking(move || engine.prepare(&r))
            .await
            .map_err(|e| EngineError::Internal(e.to_string()))
            .and_then(|r| r)
        {
            Ok(p) => p,
            Err(e) => {
                if rec.host_config.auto_remove.unwrap_or(false) {
                    let engine = self.clone();
                    let id = rec.id.clone();
                    tokio::spawn(async move {
                        let _ = engine.remove(&id, true, true).await;
                    });
                }
                return Err(e);
            }
        };
        let cfg = &self.inner.cfg;
        let log_path = cfg
            .container_dir(&rec.id)
            .join(format!("{}-json.log", rec.id));
        let log = match rec
            .host_config
            .log_config
            .as_ref()
            .and_then(|l| l.typ.clone())
            .as_deref()
        {
            Some("none") => LogConfig::None,
            _ => {
                let opts = rec
                    .host_config
                    .log_config
                    .as_ref()
                    .and_then(|l| l.config.clone())
                    .unwrap_or_default();
                LogConfig::JsonFile {
                    path: log_path,
                    max_size: opts
                        .get("max-size")
                        .and_then(|s| parse_size(s))
                        .or(cfg.log_max_size),
                    max_file: opts
                        .get("max-file")
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(cfg.log_max_file),
                }
            }
        };
        let mcfg = MonitorConfig {
            id: rec.id.clone(),
            runtime_root: cfg.runtime_root(),
            state_dir: cfg.container_run_dir(&rec.id),
            job: Job::Container {
                bundle: cfg.container_run_dir(&rec.id).join("bundle"),
            },
            log,
            tty: rec.tty(),
            open_stdin: rec.config.open_stdin.unwrap_or(false),
            stdin_once: rec.config.stdin_once.unwrap_or(false),
            oci_runtime: super::exec::oci_cli(self.driver(&rec)),
        };
        let fail = |engine: &Engine, e: EngineError| {
            engine.release(&rec, prepared.netns.as_deref(), &prepared.endpoints);
            if rec.host_config.auto_remove.unwrap_or(false) {
                // dockerd removes an --rm container whose start failed
                // (`docker run --rm` waits for that).
                let engine = engine.clone();
                let id = rec.id.clone();
                tokio::spawn(async move {
                    if let Err(e) = engine.remove(&id, true, true).await {
                        tracing::warn!(container = %id, "auto-remove after failed start: {e}");
                    }
                });
            }
            let msg = e.to_string();
            let _ = engine.update(entry, |r| {
                r.state.error = msg.clone();
                r.state.exit_code = if msg.contains("not found") || msg.contains("no such file") {
                    127
                } else if msg.contains("permission denied") {
                    126
                } else {
                    128
                };
            });
            e
        };
        let handle =
            match monitor_client::spawn(&cfg.monitor_binary, &cfg.monitor_args, &mcfg).await {
                Ok(h) => h,
                Err(e) => return Err(fail(self, e)),
            };
        let pending: Vec<_> = std::mem::take(&mut *lock(&entry.pending_attach));
        let mut confirms = Vec::new();
        for p in pending {
            let (tx, rx) = tokio::sync::oneshot::channel();
            if p.send((handle.socket.clone(), tx)).is_ok() {
                confirms.push(rx);
            }
        }
        for rx in confirms {
            let _ = tokio::time::timeout(Duration::from_secs(5), rx).await;
        }
        let waiter = match monitor_client::wait_connection(&handle.socket).await {
            Ok(w) => w,
            Err(e) => {
                // SAFETY: kill on the monitor we just started.
                unsafe { libc::kill(handle.pid, libc::SIGKILL) };
                return Err(fail(self, e));
            }
        };
        let pid = match monitor_client::request(&handle.socket, Request::Start).await {
            Ok(pid) => pid.parse::<i64>().unwrap_or(0),
            Err(e) => {
                monitor_client::until_closed(waiter).await;
                return Err(fail(self, monitor_client::start_error(&e.to_string())));
            }
        };
        let now = berth_runtime::state::time::now_rfc3339();
        let started = self.update(entry, |r| {
            r.state.status = Status::Running;
            r.state.pid = pid;
            r.state.monitor_pid = handle.pid;
            r.state.exit_code = 0;
            r.state.error.clear();
            r.state.oom_killed = false;
            r.state.started_at = now.clone();
            r.state.finished_at = EMPTY_TIME.into();
            r.state.stopped_by_user = false;
            if restarting {
                r.restart_count += 1;
            }
            r.netns = prepared
                .netns
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned());
            r.endpoints = prepared.endpoints.clone();
        })?;
        // Under --icc=false its links open their holes; its parents'
        // /etc/hosts (and holes) follow its new address.
        self.set_link_openings(&started, true);
        self.refresh_parents(&rec.id);
        self.inner.events.publish(
            Event::new("container", "start", &rec.id)
                .attr("name", rec.name.clone())
                .attr("image", rec.image.clone()),
        );
        self.watch_exit(entry.clone(), waiter);
        Ok(())
    }

    /// Waits (in a task) for the monitor to record the exit, then handles it.
    pub(crate) fn watch_exit(&self, entry: Arc<Entry>, waiter: tokio::net::UnixStream) {
        self.start_health(&entry);
        let engine = self.clone();
        tokio::spawn(async move {
            monitor_client::until_closed(waiter).await;
            engine.on_exit(entry).await;
        });
    }

    /// The process exited (or its monitor is gone): record it, release
    /// what start made, then restart or auto-remove as the policy says.
    pub(crate) async fn on_exit(&self, entry: Arc<Entry>) {
        let rec = entry.record();
        let exit_path = self.inner.cfg.container_run_dir(&rec.id).join("exit.json");
        let exit = ExitRecord::read(&exit_path).ok().flatten();
        let engine = self.clone();
        let r = rec.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let netns = r.netns.as_ref().map(PathBuf::from);
            engine.release(&r, netns.as_deref(), &r.endpoints);
        })
        .await;
        let (code, finished, oom, error) = match &exit {
            Some(x) => (
                x.exit_code as i64,
                x.finished_at.clone(),
                x.oom_killed,
                x.error.clone().unwrap_or_default(),
            ),
            None => (
                255,
                berth_runtime::state::time::now_rfc3339(),
                false,
                "the container's monitor exited without recording an exit status".into(),
            ),
        };
        let updated = self.update(&entry, |r| {
            r.state.status = Status::Exited;
            r.state.exit_code = code;
            r.state.finished_at = finished.clone();
            r.state.oom_killed = oom;
            r.state.error = error.clone();
            r.state.pid = 0;
            r.state.monitor_pid = 0;
            r.netns = None;
            r.endpoints.clear();
        });
        // Restarting from the exit on (as dockerd), before any waiter hears
        // of the exit: an rm right after a wait must see it restarting.
        let restart = updated.as_ref().is_ok_and(|r| self.should_restart(r));
        let updated = if restart {
            self.update(&entry, |r| r.state.status = Status::Restarting)
        } else {
            updated
        };
        if oom {
            self.inner
                .events
                .publish(Event::new("container", "oom", &rec.id).attr("name", rec.name.clone()));
        }
        self.inner.events.publish(
            Event::new("container", "die", &rec.id)
                .attr("name", rec.name.clone())
                .attr("image", rec.image.clone())
                .attr("exitCode", code.to_string()),
        );
        entry.notice.send_modify(|n| {
            n.exits += 1;
            n.exit_code = code;
            n.running = false;
        });
        let Ok(rec) = updated else { return };
        if restart {
            let engine = self.clone();
            tokio::spawn(async move { engine.restart_after_exit(entry).await });
        } else if rec.host_config.auto_remove.unwrap_or(false) {
            let engine = self.clone();
            tokio::spawn(async move {
                if let Err(e) = engine.remove(&rec.id, true, true).await {
                    tracing::warn!(container = %rec.id, "auto-remove: {e}");
                }
            });
        }
    }

    fn should_restart(&self, rec: &ContainerRecord) -> bool {
        if rec.state.stopped_by_user {
            return false;
        }
        let p = rec.host_config.restart_policy.clone().unwrap_or_default();
        match p.name {
            Some(RestartPolicyNameEnum::ALWAYS) | Some(RestartPolicyNameEnum::UNLESS_STOPPED) => {
                true
            }
            Some(RestartPolicyNameEnum::ON_FAILURE) => {
                let max = p.maximum_retry_count.unwrap_or(0);
                rec.state.exit_code != 0 && (max == 0 || rec.restart_count < max)
            }
            _ => false,
        }
    }

    async fn restart_after_exit(&self, entry: Arc<Entry>) {
        let count = entry.record().restart_count;
        // dockerd's backoff: 100 ms, doubling, at most a minute.
        let delay = Duration::from_millis(100u64.saturating_mul(1 << count.clamp(0, 10)))
            .min(Duration::from_secs(60));
        let _ = self.update(&entry, |r| r.state.status = Status::Restarting);
        tokio::time::sleep(delay).await;
        let _op = entry.op.lock().await;
        let rec = entry.record();
        if rec.state.status != Status::Restarting || rec.state.stopped_by_user {
            if rec.state.status == Status::Restarting {
                let _ = self.update(&entry, |r| r.state.status = Status::Exited);
            }
            return;
        }
        if let Err(e) = self.start_locked(&entry, true).await {
            let _ = self.update(&entry, |r| r.state.status = Status::Exited);
            tracing::warn!(container = %rec.id, "restart: {e}");
        } else {
            self.inner.events.publish(
                Event::new("container", "restart", &rec.id).attr("name", rec.name.clone()),
            );
        }
    }
}

/// Docker's size strings: `10m`, `1g`, `512k`, plain bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let s = s.strip_suffix('b').unwrap_or(&s);
    let (num, mult) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1024),
        'm' => (&s[..s.len() - 1], 1024 * 1024),
        'g' => (&s[..s.len() - 1], 1024 * 1024 * 1024),
        _ => (s, 1),
    };
    num.parse::<f64>().ok().map(|n| (n * mult as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("10m"), Some(10 * 1024 * 1024));
        assert_eq!(parse_size("1k"), Some(1024));
        assert_eq!(parse_size("300"), Some(300));
        assert_eq!(parse_size("x"), None);
    }

    #[test]
    fn resolv_conf_drops_local_servers_in_own_netns() {
        let host = "nameserver 127.0.0.53\nsearch example\n";
        let r = resolv_conf(host, true, false, &[], &[], &[]);
        assert!(r.contains("nameserver 8.8.8.8"));
        assert!(!r.contains("127.0.0.53"));
        assert!(r.contains("search example"));
        let h = resolv_conf(host, false, false, &[], &[], &[]);
        assert!(h.contains("127.0.0.53"));
        let d = resolv_conf(host, true, false, &["1.1.1.1".into()], &["a.b".into()], &[]);
        assert!(d.contains("nameserver 1.1.1.1") && d.contains("search a.b"));
        assert!(!d.contains("search example"));
    }

    #[test]
    fn resolv_conf_with_the_embedded_dns() {
        let host = "nameserver 127.0.0.53\nsearch example\noptions edns0\n";
        let r = resolv_conf(host, true, true, &[], &[], &[]);
        let lines: Vec<&str> = r.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "search example",
                "nameserver 127.0.0.11",
                "options edns0 ndots:0",
                ""
            ]
        );
        assert!(r.contains("[host(127.0.0.53)]"), "{r}");
        // --dns become upstreams; a user's ndots is kept; --dns-search wins.
        let d = resolv_conf(
            host,
            true,
            true,
            &["10.0.0.9".into()],
            &["a.b".into()],
            &["ndots:2".into()],
        );
        assert!(d.contains("nameserver 127.0.0.11\n") && !d.contains("nameserver 10.0.0.9"));
        assert!(d.contains("options ndots:2\n") && d.contains("search a.b\n"));
        assert!(d.contains("[10.0.0.9]"), "{d}");
        let bad = resolv_conf(host, true, true, &[], &[], &["ndots:x".into()]);
        assert!(bad.contains("options ndots:0\n"), "{bad}");
    }

    #[test]
    fn ndots_from_options_or_host() {
        assert!(ndots_set(&["ndots:3".into()], ""));
        assert!(!ndots_set(&["edns0".into()], "options ndots:2"));
        assert!(ndots_set(&[], "options rotate ndots:2\n"));
        assert!(!ndots_set(&[], "nameserver 1.1.1.1\n"));
    }

    #[test]
    fn hosts_name_the_container() {
        let h = hosts_file(
            "abc",
            Some("10.0.0.2"),
            &["db:10.0.0.9".into()],
            &["172.17.0.3\tw 0123456789ab web".into()],
        );
        assert!(h.contains("10.0.0.2\tabc"));
        assert!(h.contains("10.0.0.9\tdb"));
        // As dockerd: the links' lines before the container's own.
        assert!(h.ends_with("10.0.0.9\tdb\n172.17.0.3\tw 0123456789ab web\n10.0.0.2\tabc\n"));
        assert!(h.starts_with("127.0.0.1\tlocalhost"));
    }
}
