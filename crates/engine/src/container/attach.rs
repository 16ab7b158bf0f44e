//! `attach`: a connection to the container's monitor carrying stdcopy
//! frames out and stdin in. Attaching before start (as `docker run`
//! does) registers a pending attach that `start` connects before it lets
//! the process run, so no output is lost.

use std::future::Future;

use tokio::net::UnixStream;

use crate::error::{EngineError, Result};
use crate::{lock, monitor_client, Engine};

/// Which streams to attach.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttachOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

impl Engine {
    /// Registers the attach now (so a start that follows sees it) and
    /// returns whether the container has a tty and a future for the
    /// monitor connection.
    pub fn attach(
        &self,
        name: &str,
        opts: AttachOptions,
    ) -> Result<(
        bool,
        impl Future<Output = Result<UnixStream>> + Send + 'static,
    )> {
        let entry = self.lookup(name)?;
        let rec = entry.record();
        let tty = rec.tty();
        let stdin = opts.stdin && rec.config.open_stdin.unwrap_or(false);
        let running = rec.state.status.is_live();
        let socket = self
            .inner
            .cfg
            .container_run_dir(&rec.id)
            .join("attach.sock");
        let pending = if running {
            None
        } else {
            let (tx, rx) = tokio::sync::oneshot::channel();
            lock(&entry.pending_attach).push(tx);
            Some(rx)
        };
        let fut = async move {
            match pending {
                None => monitor_client::attach(&socket, stdin, opts.stdout, opts.stderr).await,
                Some(rx) => {
                    let (socket, confirm) = rx.await.map_err(|_| {
                        EngineError::Conflict("the container was not started".into())
                    })?;
                    let conn =
                        monitor_client::attach(&socket, stdin, opts.stdout, opts.stderr).await;
                    let _ = confirm.send(());
                    conn
                }
            }
        };
        Ok((tty, fut))
    }
}
