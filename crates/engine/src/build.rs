//! `POST /build`: a tar context built with berth-build on the engine's
//! image store, as dockerd's legacy builder does; RUN steps in containers
//! of berth's runtime (the daemon's own binary as `berth-runc`).

use std::io::{BufRead, BufReader, Read};

pub use berth_build::Removal;
use berth_build::{BuildError, BuildOptions, Context, RuntimeExec};
use serde_json::json;

use crate::error::{EngineError, Result};
use crate::events::Event;
use crate::image_store::map_err;
use crate::network::{EndpointConfig, NetworkMode};
use crate::Engine;

/// A build's parameters (the query of `POST /build`).
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    pub tags: Vec<String>,
    /// The Dockerfile's path in the context (default `Dockerfile`).
    pub dockerfile: Option<String>,
    pub build_args: Vec<(String, String)>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub network: Option<String>,
    pub labels: Vec<(String, String)>,
    /// `q`: no step output, only the id.
    pub quiet: bool,
    /// `pull`: pull every FROM image, even one the store has.
    pub pull: bool,
    /// `platform`: os/arch[/variant] of FROM images.
    pub platform: Option<String>,
    /// `X-Registry-Config`: credentials by registry for FROM's pulls.
    pub registry_credentials: Vec<(String, crate::registry::Credentials)>,
    /// `cachefrom`: images whose steps the cache may reuse.
    pub cache_from: Vec<String>,
    /// `extrahosts`: `NAME:ADDR` lines for RUN's /etc/hosts.
    pub extra_hosts: Vec<String>,
    /// `rm` / `forcerm`: which RUN containers go.
    pub removal: berth_build::Removal,
}

/// RUN containers as engine containers, as dockerd's builder makes them:
/// created for the step, then removed or kept (exited, with the step's
/// changes as their rootfs) for `docker ps -a`.
struct EngineContainers {
    engine: Engine,
    handle: tokio::runtime::Handle,
}

impl berth_build::RunContainers for EngineContainers {
    fn create(&self, run: &berth_build::RunInfo) -> std::result::Result<String, String> {
        let body = bollard_stubs::models::ContainerCreateBody {
            image: Some(run.image_id.clone()),
            cmd: Some(run.args.clone()),
            entrypoint: Some(Vec::new()),
            env: Some(run.env.clone()),
            working_dir: Some(run.cwd.clone()),
            user: Some(run.user.clone()),
            host_config: Some(bollard_stubs::models::HostConfig {
                network_mode: Some("none".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.handle
            .block_on(self.engine.create(None, body))
            .map(|c| c.id)
            .map_err(|e| e.to_string())
    }

    fn finish(
        &self,
        id: &str,
        kept: Option<berth_build::KeptRun>,
    ) -> std::result::Result<(), String> {
        let Some(k) = kept else {
            return self
                .handle
                .block_on(self.engine.remove(id, true, true))
                .map_err(|e| e.to_string());
        };
        let engine = &self.engine;
        let store = engine
            .inner
            .image_store
            .as_ref()
            .ok_or("this daemon has no image store")?;
        let rootfs = store.rootfs(id).map_err(|e| e.to_string())?;
        // The step's changes become the container's own layer.
        std::fs::remove_dir_all(&rootfs.upper)
            .and_then(|()| std::fs::rename(k.upper, &rootfs.upper))
            .map_err(|e| format!("moving the step's changes into container {id}: {e}"))?;
        let entry = engine.lookup(id).map_err(|e| e.to_string())?;
        engine
            .update(&entry, |r| {
                r.state.status = crate::container::record::Status::Exited;
                r.state.exit_code = k.exit_code as i64;
                r.state.started_at = k.started_at.clone();
                r.state.finished_at = k.finished_at.clone();
            })
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// A netns the build's RUN steps join, attached to a network; detached
/// and removed on drop.
struct BuildNetns {
    engine: Engine,
    path: std::path::PathBuf,
    cfg: EndpointConfig,
    endpoint: Option<crate::network::Endpoint>,
}

impl Drop for BuildNetns {
    fn drop(&mut self) {
        if let Some(ep) = self.endpoint.take() {
            if let Err(e) = self
                .engine
                .inner
                .attacher
                .detach(&self.path, &self.cfg, &ep)
            {
                tracing::warn!(network = %self.cfg.network, error = %e, "detaching a build's netns");
            }
        }
        if let Err(e) = crate::network::remove_netns(&self.path) {
            tracing::warn!(netns = %self.path.display(), error = %e, "removing a build's netns");
        }
    }
}

fn build_err(e: BuildError) -> EngineError {
    match e {
        BuildError::Image(e) => map_err(e),
        BuildError::Io { .. } => EngineError::Internal(e.to_string()),
        BuildError::RunFailed { code, .. } => EngineError::BuildRun {
            message: e.to_string(),
            code,
        },
        e => EngineError::Invalid(e.to_string()),
    }
}

/// Whether a Dockerfile path climbs out of the context (`../x`).
fn escapes_context(p: &str) -> bool {
    let mut depth: i64 = 0;
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            _ => depth += 1,
        }
    }
    false
}

/// A joined netns and the resolv.conf its RUN containers get.
struct JoinedNetns {
    _ns: BuildNetns,
    path: std::path::PathBuf,
    resolv_conf: Option<String>,
}

impl Engine {
    /// For `networkmode` naming a network (by name or id; `bridge` too):
    /// a netns attached to it, with the network's DNS, that the build's
    /// RUN steps join. `none`, `host` and `default` need none (RUN then
    /// gets a netns of its own with only lo, or the daemon's).
    fn build_netns(&self, mode: Option<&str>) -> Result<Option<JoinedNetns>> {
        let network = match mode {
            Some("host") => return Ok(None),
            // berth's builds stay off the network by default; the netns
            // is made here so that lo is up, as in dockerd's `none`.
            None | Some("") | Some("default") | Some("none") => None,
            Some(m) => match NetworkMode::parse(m)? {
                NetworkMode::Network(n) => Some(crate::network::known_network(self, &n)?),
                NetworkMode::Container(_) => {
                    return Err(EngineError::Invalid(format!(
                        "network mode {m:?} is not supported for builds"
                    )))
                }
                NetworkMode::None => None,
                NetworkMode::Host => return Ok(None),
            },
        };
        let cfg = &self.inner.cfg;
        let id = crate::ids::new_id()?;
        let path = crate::network::create_netns(&cfg.netns_dir(), &id)?;
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let mut ns = BuildNetns {
            engine: self.clone(),
            path: path.clone(),
            cfg: EndpointConfig {
                container_id: id.clone(),
                container_name: id.clone(),
                network: network.clone().unwrap_or_default(),
                aliases: Vec::new(),
                ports: Vec::new(),
                ifname: "eth0".into(),
                ipv4: None,
                ipv6: None,
                mac: None,
                dns: cfg.dns.iter().filter_map(|d| d.parse().ok()).collect(),
                ndots_set: crate::container::start::ndots_set(&cfg.dns_options, &host_resolv),
                links: Default::default(),
            },
            endpoint: None,
        };
        if network.is_none() {
            return Ok(Some(JoinedNetns {
                _ns: ns,
                path,
                resolv_conf: None,
            }));
        }
        let ep = self.inner.attacher.attach(&path, &ns.cfg)?;
        let embedded = !ep.dns_server.is_empty();
        ns.endpoint = Some(ep);
        let resolv_conf = Some(crate::container::start::resolv_conf(
            &host_resolv,
            true,
            embedded,
            &cfg.dns,
            &cfg.dns_search,
            &cfg.dns_options,
        ));
        Ok(Some(JoinedNetns {
            _ns: ns,
            path,
            resolv_conf,
        }))
    }

    /// Builds `context` (a tar, gzip or not); progress goes to `tx` as
    /// Docker's JSON messages (`{"stream": ...}`, then `{"aux": {"ID": ...}}`).
    /// Returns the image id.
    pub async fn image_build(
        &self,
        context: Box<dyn Read + Send>,
        req: BuildRequest,
        tx: tokio::sync::mpsc::UnboundedSender<serde_json::Value>,
    ) -> Result<String> {
        let engine = self.clone();
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || engine.build_blocking(context, req, tx, handle))
            .await
            .map_err(|e| EngineError::Internal(e.to_string()))?
    }

    fn build_blocking(
        &self,
        context: Box<dyn Read + Send>,
        req: BuildRequest,
        tx: tokio::sync::mpsc::UnboundedSender<serde_json::Value>,
        handle: tokio::runtime::Handle,
    ) -> Result<String> {
        let store =
            self.inner.image_store.clone().ok_or_else(|| {
                EngineError::NotImplemented("this daemon has no image store".into())
            })?;
        let cfg = &self.inner.cfg;
        let work = cfg.exec_root.join("build");
        std::fs::create_dir_all(&work)
            .map_err(EngineError::io(format!("creating {}", work.display())))?;
        let dir = tempfile::Builder::new()
            .prefix("context-")
            .tempdir_in(&work)
            .map_err(EngineError::io("creating the build context dir"))?;
        let mut r = BufReader::new(context);
        let gz = r
            .fill_buf()
            .map_err(EngineError::io("reading the build context"))?
            .starts_with(&[0x1f, 0x8b]);
        let reader: Box<dyn Read> = if gz {
            Box::new(flate2::read::GzDecoder::new(r))
        } else {
            Box::new(r)
        };
        // The docker CLI's context for a Dockerfile from outside it ends
        // right after the last file's bytes (no padding, no end blocks),
        // which Go's tar reader takes as the end; zeros after it make
        // that an ordinary end for this reader too.
        let mut a = tar::Archive::new(reader.chain(std::io::repeat(0).take(2048)));
        a.set_preserve_permissions(true);
        a.unpack(dir.path())
            .map_err(|e| EngineError::Invalid(format!("reading the build context (a tar): {e}")))?;
        let name = req
            .dockerfile
            .clone()
            .unwrap_or_else(|| "Dockerfile".into());
        // The Dockerfile is a path in the context, never out of it (an
        // absolute one is taken from the context's root), as dockerd reads it.
        // Both errors are plain ones in dockerd, answered 500.
        if escapes_context(&name) {
            return Err(EngineError::Internal(format!(
                "forbidden path outside the build context: {name} ()"
            )));
        }
        let rel = berth_build::context::clean(&name);
        let probe = Context::open(dir.path()).map_err(build_err)?;
        let text = probe
            .path(&rel)
            .ok()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .ok_or_else(|| {
                EngineError::Internal(format!("Cannot locate specified Dockerfile: {name}"))
            })?;
        let ctx = Context::open_received(dir.path(), &rel).map_err(build_err)?;
        let mut extra_hosts = Vec::new();
        for h in &req.extra_hosts {
            match h.split_once(':') {
                Some((name, addr)) if !name.is_empty() && !addr.is_empty() => {
                    let addr = if addr == "host-gateway" {
                        return Err(EngineError::Invalid(
                            "extra host host-gateway: berth has no host-gateway address for builds"
                                .into(),
                        ));
                    } else {
                        addr.trim_start_matches('[').trim_end_matches(']')
                    };
                    if addr.parse::<std::net::IpAddr>().is_err() {
                        return Err(EngineError::Invalid(format!(
                            "invalid IP address in add-host: \"{addr}\""
                        )));
                    }
                    extra_hosts.push((name.to_string(), addr.to_string()));
                }
                _ => {
                    return Err(EngineError::Invalid(format!(
                        "bad format for add-host: \"{h}\""
                    )))
                }
            }
        }
        let netns = self.build_netns(req.network.as_deref())?;
        let opts = BuildOptions {
            dockerfile: text,
            tags: req.tags.clone(),
            build_args: req.build_args.clone(),
            target: req.target.clone(),
            no_cache: req.no_cache,
            network: req.network.clone(),
            labels: req.labels.clone(),
            runtime: RuntimeExec {
                binary: cfg.self_binary.clone(),
                root: work.join("runtime"),
                bundles: work.join("bundles"),
                cgroup_parent: Some(cfg.cgroup_parent.clone()),
            },
            // A client that hung up stops the build at the next step.
            cancel: Some(berth_build::Cancel({
                let tx = tx.clone();
                std::sync::Arc::new(move || tx.is_closed())
            })),
            // FROM pulls an image the store lacks, with the daemon's
            // registry settings, as `POST /images/create` does.
            registry: Some(berth_image::registry::RegistryOptions {
                insecure_registries: cfg.insecure_registries.clone(),
                registry_credentials: req.registry_credentials.clone(),
                ..Default::default()
            }),
            pull: req.pull,
            cache_from: req.cache_from.clone(),
            removal: req.removal,
            containers: Some(berth_build::Containers(std::sync::Arc::new(
                EngineContainers {
                    engine: self.clone(),
                    handle: handle.clone(),
                },
            ))),
            extra_hosts,
            run_network: netns.as_ref().map(|n| berth_build::RunNetwork {
                netns: n.path.clone(),
                resolv_conf: n.resolv_conf.clone(),
            }),
            platform: req
                .platform
                .as_deref()
                .filter(|p| !p.is_empty())
                .map(berth_image::platform::Platform::parse)
                .transpose()
                .map_err(|e| EngineError::Invalid(e.to_string()))?,
        };
        let quiet = req.quiet;
        let mut progress = |s: &str| {
            if !quiet {
                let _ = tx.send(json!({ "stream": s }));
            }
        };
        let aux = tx.clone();
        let mut on_image = |id: &str| {
            let _ = aux.send(json!({ "aux": { "ID": id } }));
        };
        let built =
            berth_build::build_announcing(&store, &ctx, &opts, &mut progress, &mut on_image)
                .map_err(build_err)?;
        drop(netns);
        if quiet {
            let _ = tx.send(json!({ "stream": format!("{}\n", built.id) }));
        }
        self.inner
            .events
            .publish(Event::new("image", "build", &built.id));
        for t in &req.tags {
            self.inner
                .events
                .publish(Event::new("image", "tag", &built.id).attr("name", t));
        }
        Ok(built.id)
    }
}
