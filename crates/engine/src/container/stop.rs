//! Signals and waiting: stop (signal, then SIGKILL after the timeout),
//! kill, wait, restart, pause/unpause, and the small verbs on a live
//! container (rename, top, resize).

use std::sync::Arc;
use std::time::Duration;

use berth_monitor::protocol::Request;

use super::record::Status;
use super::{Entry, Notice};
use crate::error::{EngineError, Result};
use crate::events::Event;
use crate::{ids, monitor_client, Engine};

/// How long `kill` with SIGKILL waits for the exit before it answers.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// `wait`'s condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

impl WaitCondition {
    pub fn parse(s: Option<&str>) -> Result<WaitCondition> {
        match s.unwrap_or("") {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            other => Err(EngineError::Invalid(format!(
                "invalid condition: \"{other}\""
            ))),
        }
    }
}

/// A signal by name (`TERM`, `SIGKILL`) or number.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    }
    berth_runtime::container::signal::parse(s)
        .ok_or_else(|| EngineError::Invalid(format!("Invalid signal: {s}")))
}

impl Engine {
    fn not_running(&self, entry: &Entry) -> EngineError {
        let r = entry.record();
        EngineError::Conflict(format!("container {} is not running", r.id))
    }

    /// Waits until the exit count passes `seen` (or the container is removed).
    async fn wait_exit_after(&self, entry: &Entry, seen: u64, timeout: Option<Duration>) -> bool {
        let mut rx = entry.notice.subscribe();
        let wait = rx.wait_for(|n| n.exits > seen || n.removed);
        match timeout {
            Some(t) => matches!(tokio::time::timeout(t, wait).await, Ok(Ok(_))),
            None => wait.await.is_ok(),
        }
    }

    /// `POST /containers/{id}/stop`.
    pub async fn stop(&self, name: &str, timeout: Option<i64>, signal: Option<&str>) -> Result<()> {
        let entry = self.lookup(name)?;
        let _op = entry.op.lock().await;
        self.stop_locked(&entry, timeout, signal).await
    }

    pub(crate) async fn stop_locked(
        &self,
        entry: &Arc<Entry>,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<()> {
        let rec = entry.record();
        if rec.state.status == Status::Restarting {
            self.update(entry, |r| {
                r.state.stopped_by_user = true;
                r.state.status = Status::Exited;
            })?;
            return Ok(());
        }
        if !rec.state.status.is_live() {
            return Err(EngineError::NotModified("container already stopped".into()));
        }
        self.update(entry, |r| r.state.stopped_by_user = true)?;
        let seen = entry.notice.borrow().exits;
        let sig_name = signal
            .map(str::to_owned)
            .or_else(|| rec.config.stop_signal.clone())
            .unwrap_or_else(|| "SIGTERM".into());
        let sig = parse_signal(&sig_name)?;
        let t = timeout.or(rec.config.stop_timeout).unwrap_or(10);
        if rec.state.status == Status::Paused {
            let _ = self.driver(&rec).resume(&rec.id);
        }
        let _ = self.driver(&rec).kill(&rec.id, sig, false);
        let graceful = if t < 0 {
            None
        } else {
            Some(Duration::from_secs(t as u64))
        };
        if !self.wait_exit_after(entry, seen, graceful).await {
            let _ = self.driver(&rec).kill(&rec.id, libc::SIGKILL, true);
            self.wait_exit_after(entry, seen, None).await;
        }
        self.inner
            .events
            .publish(Event::new("container", "stop", &rec.id).attr("name", rec.name.clone()));
        Ok(())
    }

    /// `POST /containers/{id}/kill`.
    pub async fn kill(&self, name: &str, signal: Option<&str>) -> Result<()> {
        let entry = self.lookup(name)?;
        let rec = entry.record();
        if !rec.state.status.is_live() {
            return Err(self.not_running(&entry));
        }
        let sig = parse_signal(signal.filter(|s| !s.is_empty()).unwrap_or("SIGKILL"))?;
        let seen = entry.notice.borrow().exits;
        if sig == libc::SIGKILL {
            let _ = self.update(&entry, |r| r.state.stopped_by_user = true);
        }
        self.driver(&rec).kill(&rec.id, sig, false)?;
        if sig == libc::SIGKILL && rec.state.status == Status::Paused {
            // A frozen task acts on SIGKILL only once thawed.
            let _ = self.driver(&rec).resume(&rec.id);
        }
        self.inner.events.publish(
            Event::new("container", "kill", &rec.id)
                .attr("name", rec.name.clone())
                .attr("signal", sig.to_string()),
        );
        // As dockerd: a SIGKILL returns once the container has exited, so
        // an inspect or rm right after sees it stopped. Bounded, since a
        // process in uninterruptible sleep may outlive the signal.
        if sig == libc::SIGKILL && !self.wait_exit_after(&entry, seen, Some(KILL_WAIT)).await {
            tracing::warn!(container = %rec.id, "still running {KILL_WAIT:?} after SIGKILL");
        }
        Ok(())
    }

    /// `POST /containers/{id}/wait`: the exit code once `cond` holds.
    pub async fn wait(&self, name: &str, cond: WaitCondition) -> Result<(i64, Option<String>)> {
        let entry = self.lookup(name)?;
        let mut rx = entry.notice.subscribe();
        let now: Notice = *rx.borrow();
        let rec = entry.record();
        let done = |n: &Notice| match cond {
            WaitCondition::NotRunning => !n.running,
            WaitCondition::NextExit => n.exits > now.exits || n.removed,
            WaitCondition::Removed => n.removed,
        };
        if cond == WaitCondition::NotRunning && !rec.state.status.is_live() {
            return Ok((rec.state.exit_code, None));
        }
        let n = *rx
            .wait_for(done)
            .await
            .map_err(|_| EngineError::Internal("container went away".into()))?;
        let code = if n.exits > now.exits {
            n.exit_code
        } else {
            entry.record().state.exit_code
        };
        let err = Some(entry.record().state.error).filter(|e| !e.is_empty());
        Ok((code, err))
    }

    /// `POST /containers/{id}/restart`.
    pub async fn restart(
        &self,
        name: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<()> {
        let entry = self.lookup(name)?;
        let _op = entry.op.lock().await;
        match self.stop_locked(&entry, timeout, signal).await {
            Ok(()) | Err(EngineError::NotModified(_)) => {}
            Err(e) => return Err(e),
        }
        self.start_locked(&entry, false).await?;
        let rec = entry.record();
        self.inner
            .events
            .publish(Event::new("container", "restart", &rec.id).attr("name", rec.name));
        Ok(())
    }

    /// `POST /containers/{id}/pause` and `/unpause`.
    pub async fn pause(&self, name: &str, pause: bool) -> Result<()> {
        let entry = self.lookup(name)?;
        let _op = entry.op.lock().await;
        let rec = entry.record();
        match (pause, rec.state.status) {
            (true, Status::Running) => self.driver(&rec).pause(&rec.id)?,
            (false, Status::Paused) => self.driver(&rec).resume(&rec.id)?,
            (true, Status::Paused) => {
                return Err(EngineError::Conflict(format!(
                    "container {} is already paused",
                    rec.id
                )))
            }
            (false, Status::Running) => {
                return Err(EngineError::Conflict(format!(
                    "container {} is not paused",
                    rec.id
                )))
            }
            _ => return Err(self.not_running(&entry)),
        }
        self.update(&entry, |r| {
            r.state.status = if pause {
                Status::Paused
            } else {
                Status::Running
            }
        })?;
        let action = if pause { "pause" } else { "unpause" };
        self.inner
            .events
            .publish(Event::new("container", action, &rec.id).attr("name", rec.name));
        Ok(())
    }

    /// `POST /containers/{id}/rename`.
    pub async fn rename(&self, name: &str, new_name: &str) -> Result<()> {
        let entry = self.lookup(name)?;
        let new_name = new_name.strip_prefix('/').unwrap_or(new_name);
        if !ids::valid_name(new_name) {
            return Err(EngineError::Invalid(format!(
                "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let _names = self.inner.names.lock().await;
        let rec = entry.record();
        if rec.name == new_name {
            return Err(EngineError::Conflict(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        if let Some(other) = self.id_by_name(new_name) {
            return Err(EngineError::Conflict(format!(
                "Conflict. The container name \"/{new_name}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
            )));
        }
        self.update(&entry, |r| r.name = new_name.to_owned())?;
        self.inner.events.publish(
            Event::new("container", "rename", &rec.id)
                .attr("name", new_name)
                .attr("oldName", format!("/{}", rec.name)),
        );
        Ok(())
    }

    /// `GET /containers/{id}/top`: `ps` with the given arguments, rows of
    /// the container's processes only. Returns (titles, rows).
    pub async fn top(
        &self,
        name: &str,
        ps_args: Option<&str>,
    ) -> Result<(Vec<String>, Vec<Vec<String>>)> {
        let entry = self.lookup(name)?;
        let rec = entry.record();
        if !rec.state.status.is_live() {
            return Err(EngineError::Conflict(format!(
                "container {} is not running",
                rec.id
            )));
        }
        let pids = self.driver(&rec).pids(&rec.id)?;
        let args = ps_args.filter(|a| !a.is_empty()).unwrap_or("-ef");
        let out = tokio::process::Command::new("ps")
            .args(args.split_whitespace())
            .output()
            .await
            .map_err(EngineError::io("running ps"))?;
        if !out.status.success() {
            return Err(EngineError::Internal(format!(
                "ps: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let titles: Vec<String> = lines
            .next()
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let pid_col = titles
            .iter()
            .position(|t| t == "PID")
            .ok_or_else(|| EngineError::Invalid("Couldn't find PID field in ps output".into()))?;
        let mut rows = Vec::new();
        for l in lines {
            let fields: Vec<&str> = l.split_whitespace().collect();
            if fields.len() < titles.len() {
                continue;
            }
            let Ok(pid) = fields[pid_col].parse::<i32>() else {
                continue;
            };
            if !pids.contains(&pid) {
                continue;
            }
            let mut row: Vec<String> = fields[..titles.len() - 1]
                .iter()
                .map(|s| s.to_string())
                .collect();
            row.push(fields[titles.len() - 1..].join(" "));
            rows.push(row);
        }
        Ok((titles, rows))
    }

    /// `POST /containers/{id}/resize`.
    pub async fn resize(&self, name: &str, height: u16, width: u16) -> Result<()> {
        let entry = self.lookup(name)?;
        let rec = entry.record();
        if !rec.state.status.is_live() {
            return Err(self.not_running(&entry));
        }
        if !rec.tty() {
            return Ok(());
        }
        let socket = self
            .inner
            .cfg
            .container_run_dir(&rec.id)
            .join("attach.sock");
        monitor_client::request(&socket, Request::Resize { height, width })
            .await
            .map(|_| ())
    }
}
