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
mod query;
pub mod routes;
pub mod version;

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

/// Serves the API on a unix socket (mode 0660) until `shutdown` resolves.
pub async fn serve(
    engine: Engine,
    socket: &Path,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
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
    tracing::info!(socket = %socket.display(), "API listening");
    let app = router(engine).map_request(version::strip_prefix);
    // Each connection's requests carry its socket (hijack::ConnFd), so a
    // hijacked stream can wait until the client has read the 101.
    let make = tower::service_fn(
        move |inc: axum::serve::IncomingStream<'_, tokio::net::UnixListener>| {
            use std::os::fd::AsRawFd;
            let fd = hijack::ConnFd(inc.io().as_raw_fd());
            let svc = app
                .clone()
                .map_request(move |mut req: axum::extract::Request| {
                    req.extensions_mut().insert(fd);
                    req
                });
            std::future::ready(Ok::<_, std::convert::Infallible>(svc))
        },
    );
    axum::serve(listener, make)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServeError::Serve)?;
    let _ = std::fs::remove_file(socket);
    Ok(())
}
