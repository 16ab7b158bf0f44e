//! `/volumes/...`: create, list, inspect, remove, prune (local driver).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use berth_engine::volumes::VolumeRecord;
use berth_engine::{Engine, Filters};
use bollard_stubs::models::{Volume, VolumeCreateRequest, VolumeListResponse};

use crate::body::{json, reply};
use crate::error::ApiResult;
use crate::query::Q;

pub fn router() -> Router<Engine> {
    Router::new()
        .route("/volumes", get(list))
        .route("/volumes/create", post(create))
        .route("/volumes/prune", post(prune))
        .route("/volumes/{name}", get(inspect).delete(remove))
}

fn model(e: &Engine, v: VolumeRecord) -> Volume {
    Volume {
        mountpoint: e.volume_path(&v.name).to_string_lossy().into_owned(),
        name: v.name,
        driver: v.driver,
        created_at: Some(v.created_at),
        status: None,
        labels: v.labels,
        scope: serde_json::from_value(serde_json::json!("local")).ok(),
        cluster_volume: None,
        options: v.options,
        usage_data: None,
    }
}

async fn list(State(e): State<Engine>, Query(q): Query<Q>) -> ApiResult<Response> {
    let f = Filters::parse(q.str("filters"))?;
    let vols = e
        .volume_list(&f)?
        .into_iter()
        .map(|v| model(&e, v))
        .collect();
    Ok(reply(
        200,
        &VolumeListResponse {
            volumes: Some(vols),
            warnings: Some(Vec::new()),
        },
    ))
}

async fn create(State(e): State<Engine>, b: bytes::Bytes) -> ApiResult<Response> {
    let req: VolumeCreateRequest = json(&b, true)?;
    let v = e.volume_create(
        req.name.as_deref(),
        req.driver.as_deref(),
        req.labels.unwrap_or_default(),
        req.driver_opts.unwrap_or_default(),
        false,
    )?;
    Ok(reply(201, &model(&e, v)))
}

async fn inspect(State(e): State<Engine>, Path(name): Path<String>) -> ApiResult<Response> {
    let v = e.volume_get(&name)?;
    Ok(reply(200, &model(&e, v)))
}

async fn remove(
    State(e): State<Engine>,
    Path(name): Path<String>,
    Query(q): Query<Q>,
) -> ApiResult<Response> {
    e.volume_remove(&name, q.bool("force"))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn prune(State(e): State<Engine>, Query(q): Query<Q>) -> ApiResult<Response> {
    let f = Filters::parse(q.str("filters"))?;
    let (deleted, space) = e.volume_prune(&f)?;
    Ok(reply(
        200,
        &serde_json::json!({ "VolumesDeleted": deleted, "SpaceReclaimed": space }),
    ))
}
