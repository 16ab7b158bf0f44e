//! Live restore: at daemon start, find the monitors of containers the
//! store says are running, watch them again, and settle those whose
//! monitor is gone (their exit record, or a lost-monitor error).

use super::record::Status;
use crate::{monitor_client, Engine};

impl Engine {
    /// Removes what a berthd killed in the middle of create or rm left
    /// behind without a record: rootfs (unmounted first), container files,
    /// run dirs whose monitor is gone.
    fn sweep_orphans(&self) {
        let known: std::collections::HashSet<String> = crate::lock(&self.inner.containers)
            .keys()
            .cloned()
            .collect();
        match self.inner.images.rootfs_ids() {
            Ok(ids) => {
                for id in ids.into_iter().filter(|id| !known.contains(id)) {
                    tracing::info!(container = %id, "removing a rootfs no container owns");
                    if let Err(e) = self.inner.images.remove_rootfs(&id) {
                        tracing::warn!(container = %id, "removing orphan rootfs: {e}");
                    }
                }
            }
            Err(e) => tracing::warn!("listing container rootfs: {e}"),
        }
        let cfg = &self.inner.cfg;
        let files = cfg.data_root.join("containers");
        for e in std::fs::read_dir(&files).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !known.contains(&name) {
                tracing::info!(container = %name, "removing files no container owns");
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        let runs = cfg.exec_root.join("c");
        for e in std::fs::read_dir(&runs).into_iter().flatten().flatten() {
            let short = e.file_name().to_string_lossy().into_owned();
            let owned = known.iter().any(|id| id.starts_with(&short));
            // A monitor that still answers is left alone.
            let alive =
                std::os::unix::net::UnixStream::connect(e.path().join("attach.sock")).is_ok();
            if !owned && !alive {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }

    /// Reconciles every container with what runs. Call once at start.
    pub async fn restore(&self) {
        self.sweep_orphans();
        let entries: Vec<_> = crate::lock(&self.inner.containers)
            .values()
            .cloned()
            .collect();
        for entry in entries {
            let rec = entry.record();
            match rec.state.status {
                Status::Running | Status::Paused | Status::Restarting => {
                    let socket = self
                        .inner
                        .cfg
                        .container_run_dir(&rec.id)
                        .join("attach.sock");
                    match monitor_client::wait_connection(&socket).await {
                        Ok(waiter) => {
                            tracing::info!(container = %rec.id, "live restore: monitor found");
                            self.watch_exit(entry.clone(), waiter);
                        }
                        Err(_) => {
                            tracing::info!(container = %rec.id, "live restore: container exited while the daemon was down");
                            self.on_exit(entry.clone()).await;
                        }
                    }
                }
                Status::Removing => {
                    let _ = self.update(&entry, |r| r.state.status = Status::Dead);
                }
                _ => {}
            }
        }
        self.sweep_network_orphans();
    }

    /// Removes what a berthd killed in the middle of an attach left: a
    /// container netns no running container's record names (its veth goes
    /// with it), and the driver's leases, ports and names of containers
    /// with no recorded endpoint.
    fn sweep_network_orphans(&self) {
        let live: Vec<_> = self
            .list_records()
            .into_iter()
            .filter(|r| r.state.status.is_live())
            .collect();
        let netns_in_use: std::collections::HashSet<std::path::PathBuf> = live
            .iter()
            .filter_map(|r| r.netns.as_ref().map(std::path::PathBuf::from))
            .collect();
        // Before the netns go: a CNI DEL may want the container's netns.
        let with_endpoints: std::collections::HashSet<String> = live
            .iter()
            .filter(|r| !r.endpoints.is_empty())
            .map(|r| r.id.clone())
            .collect();
        if let Err(e) = self.inner.attacher.release_orphans(&with_endpoints) {
            tracing::warn!("releasing network leftovers: {e}");
        }
        let dir = self.inner.cfg.netns_dir();
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = e.path();
            if !netns_in_use.contains(&path) {
                tracing::info!(netns = %path.display(), "removing a netns no running container owns");
                if let Err(e) = crate::network::remove_netns(&path) {
                    tracing::warn!(netns = %path.display(), "removing orphan netns: {e}");
                }
            }
        }
        // A start killed part-way mounted the rootfs of a container that
        // is not running.
        for r in self.list_records() {
            if !r.state.status.is_live() {
                if let Err(e) = self.inner.images.unmount_rootfs(&r.id) {
                    tracing::debug!(container = %r.id, "unmounting rootfs: {e}");
                }
                super::ipc_shm::release(&self.inner.cfg, &r.id);
            }
        }
    }
}
