//! `POST /build`: a tar context built with berth-build on the engine's
//! image store, as dockerd's legacy builder does; RUN steps in containers
//! of berth's runtime (the daemon's own binary as `berth-runc`).

use std::io::{BufRead, BufReader, Read};

use berth_build::{BuildError, BuildOptions, Context, RuntimeExec};
use serde_json::json;

use crate::error::{EngineError, Result};
use crate::events::Event;
use crate::image_store::map_err;
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
}

fn build_err(e: BuildError) -> EngineError {
    match e {
        BuildError::Image(e) => map_err(e),
        BuildError::Io { .. } => EngineError::Internal(e.to_string()),
        e => EngineError::Invalid(e.to_string()),
    }
}

impl Engine {
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
        tokio::task::spawn_blocking(move || engine.build_blocking(context, req, tx))
            .await
            .map_err(|e| EngineError::Internal(e.to_string()))?
    }

    fn build_blocking(
        &self,
        context: Box<dyn Read + Send>,
        req: BuildRequest,
        tx: tokio::sync::mpsc::UnboundedSender<serde_json::Value>,
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
        let mut a = tar::Archive::new(reader);
        a.set_preserve_permissions(true);
        a.unpack(dir.path())
            .map_err(|e| EngineError::Invalid(format!("reading the build context (a tar): {e}")))?;
        let ctx = Context::open(dir.path()).map_err(build_err)?;
        let name = req
            .dockerfile
            .clone()
            .unwrap_or_else(|| "Dockerfile".into());
        let text = ctx
            .path(&berth_build::context::clean(&name))
            .ok()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .ok_or_else(|| {
                EngineError::Invalid(format!("Cannot locate specified Dockerfile: {name}"))
            })?;
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
