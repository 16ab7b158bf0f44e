//! Live restore: at daemon start, find the monitors of containers the
//! store says are running, watch them again, and settle those whose
//! monitor is gone (their exit record, or a lost-monitor error).

use super::record::Status;
use crate::{monitor_client, Engine};

impl Engine {
    /// Reconciles every container with what runs. Call once at start.
    pub async fn restore(&self) {
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
    }
}
