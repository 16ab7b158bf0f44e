//! `/images/...`: pulling is not available (berth loads images from
//! archives); the image endpoints proper come from `berth-image`.

use axum::response::Response;
use axum::routing::post;
use axum::Router;
use berth_engine::{Engine, EngineError};

use crate::error::ApiResult;

pub fn router() -> Router<Engine> {
    Router::new().route("/images/create", post(pull))
}

async fn pull() -> ApiResult<Response> {
    Err(EngineError::NotFound(
        "berthd cannot pull images from a registry: load the image with `docker load`".into(),
    )
    .into())
}
