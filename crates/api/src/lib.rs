//! berth-api: berthd's HTTP surface, the Docker Engine API on a unix
//! socket (axum/hyper). One router module per Docker API group under
//! `routes/` translates requests (Docker's typed models from
//! `bollard-stubs`) into `berth-engine` calls and results into Docker's
//! JSON; `version` strips and checks `/v1.NN/` prefixes, `hijack` serves
//! attach/exec upgrades, errors are `{"message": ...}` with Docker's codes.

pub mod activity;
mod body;
mod detach_keys;
mod error;
mod hijack;
mod link_paths;
mod query;
pub mod routes;
pub mod version;
mod websocket;

use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use axum::Router;
use berth_engine::Engine;
use tower::ServiceExt;

pub use error::ApiError;

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {path}: {source}")]
    Listen {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// The whole API router.
pub fn router(engine: Engine) -> Router {
    Router::new()
        .merge(routes::system::router())
        .merge(routes::containers::router())
        .merge(routes::exec::router())
        .merge(routes::images::router())
        .merge(routes::build::router())
        .merge(routes::volumes::router())
        .merge(routes::networks::router())
        .merge(routes::swarm::router())
        .fallback(|uri: axum::http::Uri| async move {
            ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                format!("page not found: {}", uri.path()),
            )
        })
        .layer(axum::middleware::from_fn(version::check))
        .layer(axum::middleware::from_fn(activity::track))
        .with_state(engine)
}

/// Where the API listens: a unix socket (mode 0660) or a TCP address
/// (berthd has no TLS, so the daemon allows loopback addresses only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    Unix(std::path::PathBuf),
    Tcp(std::net::SocketAddr),
}

/// Serves the API on a unix socket until `shutdown` resolves.
pub async fn serve(
    engine: Engine,
    socket: &Path,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    serve_all(engine, &[Listen::Unix(socket.to_path_buf())], shutdown).await
}

/// Serves the API on every listener until `shutdown` resolves.
pub async fn serve_all(
    engine: Engine,
    listens: &[Listen],
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let app = router(engine).map_request(version::strip_prefix);
    // Each connection's requests carry its socket (hijack::ConnFd), so a
    // hijacked stream can wait until the client has read the 101.
    macro_rules! with_conn_fd {
        ($app:expr, $listener:ty) => {{
            let app = $app;
            tower::service_fn(move |inc: axum::serve::IncomingStream<'_, $listener>| {
                use std::os::fd::AsRawFd;
                let fd = hijack::ConnFd(inc.io().as_raw_fd());
                let svc = app
                    .clone()
                    .map_request(move |mut req: axum::extract::Request| {
                        req.extensions_mut().insert(fd);
                        req
                    });
                std::future::ready(Ok::<_, std::convert::Infallible>(svc))
            })
        }};
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut servers = tokio::task::JoinSet::new();
    for l in listens {
        let stopped = {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };
        match l {
            Listen::Unix(socket) => {
                let listener = bind_unix(socket)?;
                tracing::info!(socket = %socket.display(), "API listening");
                let socket = socket.clone();
                let app = app.clone();
                servers.spawn(async move {
                    let r = axum::serve(listener, with_conn_fd!(app, tokio::net::UnixListener))
                        .with_graceful_shutdown(stopped)
                        .await;
                    let _ = std::fs::remove_file(&socket);
                    r
                });
            }
            Listen::Tcp(addr) => {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|source| ServeError::Listen {
                        path: format!("tcp://{addr}"),
                        source,
                    })?;
                tracing::info!(address = %addr, "API listening");
                let app = app.clone();
                servers.spawn(async move {
                    axum::serve(listener, with_conn_fd!(app, tokio::net::TcpListener))
                        .with_graceful_shutdown(stopped)
                        .await
                });
            }
        }
    }
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    while let Some(r) = servers.join_next().await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(ServeError::Serve(e)),
            Err(e) => return Err(ServeError::Serve(std::io::Error::other(e.to_string()))),
        }
    }
    Ok(())
}

fn bind_unix(socket: &Path) -> Result<tokio::net::UnixListener, ServeError> {
    let listen_err = |source| ServeError::Listen {
        path: socket.display().to_string(),
        source,
    };
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir).map_err(listen_err)?;
    }
    match std::fs::remove_file(socket) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(listen_err(e)),
    }
    let listener = tokio::net::UnixListener::bind(socket).map_err(listen_err)?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o660)).map_err(listen_err)?;
    Ok(listener)
}
