//! `exec`: instances made by exec create, run by exec start through a
//! monitor in its exec mode (the same attach protocol as the container's),
//! exit codes kept for exec inspect.

use std::sync::{Arc, Mutex};

use berth_monitor::protocol::Request;
use berth_monitor::{ExitRecord, Job, LogConfig, MonitorConfig};
use bollard_stubs::models::{ExecConfig, ExecInspectResponse, ProcessConfig};
use tokio::net::UnixStream;

use super::spec;
use crate::error::{EngineError, Result};
use crate::events::Event;
use crate::{ids, lock, monitor_client, Engine};

#[derive(Debug, Clone, Default)]
pub struct ExecState {
    pub started: bool,
    pub running: bool,
    pub exit_code: Option<i64>,
    pub pid: i64,
}

/// One exec instance.
pub struct ExecEntry {
    pub id: String,
    pub container_id: String,
    pub config: ExecConfig,
    pub state: Mutex<ExecState>,
}

/// An exec whose monitor is ready: `run` starts the process.
pub struct Launch {
    engine: Engine,
    exec: Arc<ExecEntry>,
    socket: std::path::PathBuf,
    container: (String, String),
}

impl Launch {
    pub async fn run(self) -> Result<()> {
        let Launch {
            engine,
            exec: x,
            socket,
            container: (cid, cname),
        } = self;
        let fail = |e: EngineError| {
            let _ = std::fs::remove_dir_all(engine.inner.cfg.exec_run_dir(&x.id));
            let mut st = lock(&x.state);
            st.running = false;
            st.exit_code = Some(126);
            e
        };
        let waiter = monitor_client::wait_connection(&socket)
            .await
            .map_err(fail)?;
        let pid = match monitor_client::request(&socket, Request::Start).await {
            Ok(p) => p.parse::<i64>().unwrap_or(0),
            Err(e) => {
                monitor_client::until_closed(waiter).await;
                return Err(fail(monitor_client::start_error(&e.to_string())));
            }
        };
        {
            let mut st = lock(&x.state);
            st.running = true;
            st.pid = pid;
        }
        let cmd = x.config.cmd.clone().unwrap_or_default().join(" ");
        engine.inner.events.publish(
            Event::new("container", &format!("exec_start: {cmd}"), &cid)
                .attr("name", cname)
                .attr("execID", x.id.clone()),
        );
        tokio::spawn(async move {
            monitor_client::until_closed(waiter).await;
            engine.exec_finished(&x);
        });
        Ok(())
    }
}

impl Engine {
    /// `POST /containers/{id}/exec`.
    pub fn exec_create(&self, name: &str, cfg: ExecConfig) -> Result<String> {
        let entry = self.lookup(name)?;
        let rec = entry.record();
        if rec.state.status == super::record::Status::Paused {
            return Err(EngineError::Conflict(format!(
                "container {} is paused, unpause the container before exec",
                rec.id
            )));
        }
        if !rec.state.status.is_live() {
            return Err(EngineError::Conflict(format!(
                "container {} is not running",
                rec.id
            )));
        }
        if cfg.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            return Err(EngineError::Invalid("No exec command specified".into()));
        }
        let id = ids::new_id()?;
        lock(&self.inner.execs).insert(
            id.clone(),
            Arc::new(ExecEntry {
                id: id.clone(),
                container_id: rec.id.clone(),
                config: cfg.clone(),
                state: Mutex::new(ExecState::default()),
            }),
        );
        self.inner.events.publish(
            Event::new(
                "container",
                &format!("exec_create: {}", cfg.cmd.unwrap_or_default().join(" ")),
                &rec.id,
            )
            .attr("name", rec.name.clone())
            .attr("execID", id.clone()),
        );
        Ok(id)
    }

    fn exec_entry(&self, id: &str) -> Result<Arc<ExecEntry>> {
        lock(&self.inner.execs)
            .get(id)
            .cloned()
            .ok_or_else(|| EngineError::NotFound(format!("No such exec instance: {id}")))
    }

    /// `POST /exec/{id}/start`: the monitor is ready and, unless detached,
    /// attached; the process starts with [`Launch::run`] (detached: at
    /// once). Attached clients start it once their connection is hijacked,
    /// as dockerd does, so no output races the 101 response.
    pub async fn exec_start(
        &self,
        id: &str,
        detach: bool,
    ) -> Result<(Option<UnixStream>, Option<Launch>)> {
        let x = self.exec_entry(id)?;
        {
            let mut st = lock(&x.state);
            if st.started {
                return Err(EngineError::Conflict(format!(
                    "Error: Exec command {id} is already running"
                )));
            }
            st.started = true;
        }
        let centry = self.lookup(&x.container_id)?;
        let crec = centry.record();
        if !crec.state.status.is_live() {
            return Err(EngineError::Conflict(format!(
                "container {} is not running",
                crec.id
            )));
        }
        let cfg = &x.config;
        let user = match cfg.user.as_deref().filter(|u| !u.is_empty()) {
            None => None,
            Some(u) => {
                let engine = self.clone();
                let cid = crec.id.clone();
                let u = u.to_owned();
                let pu = tokio::task::spawn_blocking(move || {
                    let rootfs = engine.inner.images.mount_rootfs(&cid)?;
                    spec::resolve_user(&rootfs, &u, &[])
                })
                .await
                .map_err(|e| EngineError::Internal(e.to_string()))??;
                Some((pu.uid, Some(pu.gid)))
            }
        };
        let run_dir = self.inner.cfg.exec_run_dir(id);
        std::fs::create_dir_all(&run_dir).map_err(EngineError::io("creating exec dir"))?;
        let tty = cfg.tty.unwrap_or(false);
        let attach_stdin = cfg.attach_stdin.unwrap_or(false) && !detach;
        let mcfg = MonitorConfig {
            id: crec.id.clone(),
            runtime_root: self.inner.cfg.runtime_root(),
            state_dir: run_dir.clone(),
            job: Job::Exec {
                args: cfg.cmd.clone().unwrap_or_default(),
                env: cfg.env.clone().unwrap_or_default(),
                cwd: cfg
                    .working_dir
                    .clone()
                    .filter(|w| !w.is_empty())
                    .map(Into::into),
                user,
                additional_gids: Vec::new(),
            },
            log: LogConfig::None,
            tty,
            open_stdin: attach_stdin,
            stdin_once: true,
            oci_runtime: oci_cli(self.driver(&crec)),
        };
        let fail = |e: EngineError| {
            let _ = std::fs::remove_dir_all(&run_dir);
            let mut st = lock(&x.state);
            st.running = false;
            st.exit_code = Some(126);
            e
        };
        let handle = monitor_client::spawn(
            &self.inner.cfg.monitor_binary,
            &self.inner.cfg.monitor_args,
            &mcfg,
        )
        .await
        .map_err(fail)?;
        let conn = if detach {
            None
        } else {
            Some(
                monitor_client::attach(
                    &handle.socket,
                    attach_stdin,
                    cfg.attach_stdout.unwrap_or(false),
                    cfg.attach_stderr.unwrap_or(false),
                )
                .await
                .map_err(fail)?,
            )
        };
        let launch = Launch {
            engine: self.clone(),
            exec: x.clone(),
            socket: handle.socket.clone(),
            container: (crec.id.clone(), crec.name.clone()),
        };
        if detach {
            launch.run().await?;
            return Ok((None, None));
        }
        Ok((conn, Some(launch)))
    }

    /// Reads the exec's exit record (once) and forgets its run dir.
    fn exec_finished(&self, x: &ExecEntry) {
        let run_dir = self.inner.cfg.exec_run_dir(&x.id);
        let exit = ExitRecord::read(&run_dir.join("exit.json")).ok().flatten();
        let code = {
            let mut st = lock(&x.state);
            if !st.running {
                return;
            }
            st.running = false;
            let code = exit.map(|e| e.exit_code as i64).unwrap_or(126);
            st.exit_code = Some(code);
            code
        };
        let _ = std::fs::remove_dir_all(&run_dir);
        self.inner.events.publish(
            Event::new("container", "exec_die", &x.container_id)
                .attr("execID", x.id.clone())
                .attr("exitCode", code.to_string()),
        );
    }

    /// SIGKILL to an exec's process (a healthcheck past its timeout).
    pub(crate) fn exec_kill(&self, id: &str) {
        let Ok(x) = self.exec_entry(id) else { return };
        let st = lock(&x.state).clone();
        if st.running && st.pid > 0 {
            // SAFETY: kill(2) on the pid the exec's monitor reported; the
            // monitor parents it, so the pid cannot be reused before it is
            // reaped and its exit recorded (which clears `running`).
            unsafe { libc::kill(st.pid as i32, libc::SIGKILL) };
        }
    }

    /// Drops an exec instance the daemon made for itself (healthchecks),
    /// so they do not pile up in the container's ExecIDs.
    pub(crate) fn exec_forget(&self, id: &str) {
        lock(&self.inner.execs).remove(id);
    }

    /// `GET /exec/{id}/json`.
    pub fn exec_inspect(&self, id: &str) -> Result<ExecInspectResponse> {
        let x = self.exec_entry(id)?;
        if lock(&x.state).running {
            // The attach stream may end before our watcher ran: the exit
            // record is the truth.
            let exited = self.inner.cfg.exec_run_dir(id).join("exit.json");
            if exited.exists() {
                self.exec_finished(&x);
            }
        }
        let st = lock(&x.state).clone();
        let cfg = &x.config;
        let cmd = cfg.cmd.clone().unwrap_or_default();
        Ok(ExecInspectResponse {
            can_remove: Some(false),
            detach_keys: Some(cfg.detach_keys.clone().unwrap_or_default()),
            id: Some(x.id.clone()),
            running: Some(st.running),
            exit_code: st.exit_code,
            process_config: Some(ProcessConfig {
                privileged: Some(cfg.privileged.unwrap_or(false)),
                user: Some(cfg.user.clone().unwrap_or_default()),
                tty: Some(cfg.tty.unwrap_or(false)),
                entrypoint: cmd.first().cloned(),
                arguments: Some(cmd.iter().skip(1).cloned().collect()),
            }),
            open_stdin: Some(cfg.attach_stdin.unwrap_or(false)),
            open_stderr: Some(cfg.attach_stderr.unwrap_or(false)),
            open_stdout: Some(cfg.attach_stdout.unwrap_or(false)),
            container_id: Some(x.container_id.clone()),
            pid: Some(st.pid),
        })
    }

    /// `POST /exec/{id}/resize`.
    pub async fn exec_resize(&self, id: &str, height: u16, width: u16) -> Result<()> {
        let x = self.exec_entry(id)?;
        if !x.config.tty.unwrap_or(false) {
            return Ok(());
        }
        let socket = self.inner.cfg.exec_run_dir(&x.id).join("attach.sock");
        monitor_client::request(&socket, Request::Resize { height, width })
            .await
            .map(|_| ())
    }
}

/// The external runtime a monitor drives, if any.
pub(crate) fn oci_cli(d: berth_runtime::Driver) -> Option<berth_runtime::OciCli> {
    match d {
        berth_runtime::Driver::Oci(cli) => Some(cli),
        berth_runtime::Driver::Builtin(_) => None,
    }
}
