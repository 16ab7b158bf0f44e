//! `rm`: refuse a running container unless forced; otherwise kill it,
//! remove its rootfs, files and record (and anonymous volumes with -v).

use std::time::Duration;

use super::record::Status;
use crate::error::{EngineError, Result};
use crate::events::Event;
use crate::{lock, Engine};

impl Engine {
    /// `DELETE /containers/{id}`.
    pub async fn remove(&self, name: &str, force: bool, volumes: bool) -> Result<()> {
        let entry = self.lookup(name)?;
        let _op = entry.op.lock().await;
        let rec = entry.record();
        if rec.state.status == Status::Removing {
            return Err(EngineError::Conflict(format!(
                "removal of container {} is already in progress",
                rec.id
            )));
        }
        if rec.state.status.is_live() {
            if !force {
                let what = if rec.state.status == Status::Paused {
                    "container is paused and must be unpaused first"
                } else {
                    "container is running: stop the container before removing or force remove"
                };
                return Err(EngineError::Conflict(format!(
                    "cannot remove container \"/{}\": {what}",
                    rec.name
                )));
            }
            let seen = entry.notice.borrow().exits;
            self.update(&entry, |r| r.state.stopped_by_user = true)?;
            if rec.state.status == Status::Paused {
                let _ = self.driver(&rec).resume(&rec.id);
            }
            if rec.state.status != Status::Restarting {
                let _ = self.driver(&rec).kill(&rec.id, libc::SIGKILL, true);
                let mut rx = entry.notice.subscribe();
                let exited = rx.wait_for(|n| n.exits > seen);
                if tokio::time::timeout(Duration::from_secs(30), exited)
                    .await
                    .is_err()
                {
                    return Err(EngineError::Internal(format!(
                        "could not kill container {}",
                        rec.id
                    )));
                }
            }
        }
        self.update(&entry, |r| r.state.status = Status::Removing)?;
        crate::faults::crash_point("remove:marked");
        let engine = self.clone();
        let id = rec.id.clone();
        let removed = tokio::task::spawn_blocking(move || -> Result<()> {
            engine.inner.images.remove_rootfs(&id)?;
            // Never descend into a still-mounted shm.
            super::ipc_shm::release(&engine.inner.cfg, &id);
            let dir = engine.inner.cfg.container_dir(&id);
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(EngineError::io(format!("removing {}", dir.display()))(e)),
            }
        })
        .await
        .map_err(|e| EngineError::Internal(e.to_string()))?;
        if let Err(e) = removed {
            let _ = self.update(&entry, |r| {
                r.state.status = Status::Dead;
                r.state.error = e.to_string();
            });
            return Err(e);
        }
        crate::faults::crash_point("remove:rootfs-gone");
        self.inner
            .store
            .delete(&super::record::ContainerRecord::key(&rec.id))?;
        lock(&self.inner.containers).remove(&rec.id);
        if volumes {
            for m in rec
                .mounts
                .iter()
                .filter(|m| m.kind == "volume" && m.anonymous)
            {
                if let Err(e) = self.volume_remove(&m.name, true) {
                    tracing::warn!(volume = %m.name, "removing anonymous volume: {e}");
                }
            }
        }
        self.inner.events.publish(
            Event::new("container", "destroy", &rec.id)
                .attr("name", rec.name.clone())
                .attr("image", rec.image.clone()),
        );
        entry.notice.send_modify(|n| {
            n.removed = true;
            n.running = false;
        });
        Ok(())
    }
}
