//! berth-engine: berthd's state and services.
//!
//! Owns the containers (create, start, stop, exec, logs, attach, wait,
//! remove; one module per verb under `container/`), their monitors (the
//! per-container processes of `berth-monitor`, started with fork+exec of
//! the daemon's own binary), volumes, the event bus and the seams to
//! images ([`images::Images`], filled by `berth-image`) and networks
//! ([`network::NetworkAttacher`]). State is persisted in `berth-store`
//! (redb) and reconciled with what runs when the daemon starts, so
//! containers outlive a daemon restart (live restore).
//!
//! The HTTP surface (Docker's JSON) is `berth-api`'s; this crate speaks
//! Docker's typed models where they are the data (`bollard-stubs`).

pub mod build;
pub mod config;
pub mod container;
mod error;
pub mod events;
mod faults;
pub mod filters;
mod ids;
pub mod image_store;
pub mod images;
pub mod monitor_client;
pub mod network;
pub mod registry;
pub mod volumes;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use berth_runtime::Runtime;
use berth_store::{RedbStore, Store};

pub use config::EngineConfig;
pub use container::record::{ContainerRecord, Status};
pub use error::{EngineError, Result};
pub use events::{Event, EventBus};
pub use filters::Filters;

use container::Entry;
use images::Images;
use network::NetworkAttacher;

/// The engine: cheap to clone, shared by every API handler.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) cfg: EngineConfig,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) runtime: Runtime,
    pub(crate) images: Arc<dyn Images>,
    pub(crate) image_store: Option<berth_image::ImageStore>,
    pub(crate) attacher: Arc<dyn NetworkAttacher>,
    pub(crate) events: EventBus,
    pub(crate) containers: Mutex<HashMap<String, Arc<Entry>>>,
    pub(crate) execs: Mutex<HashMap<String, Arc<container::exec::ExecEntry>>>,
    /// Serialises name reservation (create, rename).
    pub(crate) names: tokio::sync::Mutex<()>,
    pub(crate) started: std::time::SystemTime,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Engine {
    /// Opens (or creates) the engine's state and loads its containers.
    /// Call [`Engine::restore`] from inside the async runtime next.
    pub fn open(cfg: EngineConfig, attacher: Arc<dyn NetworkAttacher>) -> Result<Engine> {
        for d in [
            cfg.data_root.clone(),
            cfg.data_root.join("containers"),
            cfg.volumes_dir(),
            cfg.exec_root.clone(),
            cfg.runtime_root(),
            cfg.netns_dir(),
            cfg.exec_root.join("c"),
            cfg.exec_root.join("x"),
        ] {
            std::fs::create_dir_all(&d)
                .map_err(EngineError::io(format!("creating {}", d.display())))?;
        }
        let store: Arc<dyn Store> = Arc::new(RedbStore::open(cfg.data_root.join("berth.db"))?);
        let runtime = Runtime::new(cfg.runtime_root());
        let image_store =
            berth_image::ImageStore::open_with_store(&cfg.data_root.join("image"), store.clone())
                .map_err(image_store::map_err)?;
        let images: Arc<dyn Images> = Arc::new(image_store.clone());
        let engine = Engine {
            inner: Arc::new(Inner {
                cfg,
                store,
                runtime,
                images,
                image_store: Some(image_store),
                attacher,
                events: EventBus::default(),
                containers: Mutex::new(HashMap::new()),
                execs: Mutex::new(HashMap::new()),
                names: tokio::sync::Mutex::new(()),
                started: std::time::SystemTime::now(),
            }),
        };
        engine.load()?;
        Ok(engine)
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.cfg
    }

    pub fn events(&self) -> &EventBus {
        &self.inner.events
    }

    /// When the daemon started (for `/info`'s SystemTime and uptime).
    pub fn started(&self) -> std::time::SystemTime {
        self.inner.started
    }

    pub fn images(&self) -> &Arc<dyn Images> {
        &self.inner.images
    }

    pub fn image_count(&self) -> usize {
        self.inner.images.count()
    }

    /// Counts for `/info`: (all, running, paused, stopped).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let all = self.list_records();
        let running = all
            .iter()
            .filter(|r| r.state.status == Status::Running)
            .count();
        let paused = all
            .iter()
            .filter(|r| r.state.status == Status::Paused)
            .count();
        (all.len(), running, paused, all.len() - running - paused)
    }
}
