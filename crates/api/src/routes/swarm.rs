//! Swarm-mode endpoints (`/swarm`, `/nodes`, `/services`, `/tasks`,
//! `/secrets`, `/configs`). berthd is a single engine that never joins a
//! swarm, so it answers them as dockerd does on a node outside a swarm:
//! 503 "not part of a swarm" (clients such as docker-py treat that answer
//! to `swarm leave --force` as success); creating or joining a swarm is
//! 501, something berth does not do.

use axum::http::StatusCode;
use axum::routing::{any, post};
use axum::Router;
use berth_engine::Engine;

use crate::error::ApiError;

const NO_SWARM: &str = "This node is not part of a swarm. Use \"docker swarm init\" or \
                        \"docker swarm join\" to connect this node to swarm and try again.";

pub fn router() -> Router<Engine> {
    let mut r = Router::new()
        .route("/swarm/init", post(unsupported))
        .route("/swarm/join", post(unsupported));
    for group in ["swarm", "nodes", "services", "tasks", "secrets", "configs"] {
        r = r
            .route(&format!("/{group}"), any(not_in_swarm))
            .route(&format!("/{group}/{{*rest}}"), any(not_in_swarm));
    }
    r
}

async fn not_in_swarm() -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, NO_SWARM)
}

async fn unsupported() -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "berth does not support swarm mode",
    )
}
