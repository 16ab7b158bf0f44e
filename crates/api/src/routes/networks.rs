//! `/networks/...`: the built-in networks (bridge, host, none) as Docker
//! shows them. User-defined networks arrive with engine networking
//! (issue 11); until then create answers 501.

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use berth_engine::{Engine, EngineError};
use serde_json::{json, Value};

use crate::body::reply;
use crate::error::{ApiError, ApiResult};

pub fn router() -> Router<Engine> {
    Router::new()
        .route("/networks", get(list))
        .route("/networks/create", post(create))
        .route("/networks/prune", post(prune))
        .route("/networks/{id}", get(inspect))
}

fn builtin(e: &Engine) -> Vec<Value> {
    ["bridge", "host", "none"]
        .iter()
        .map(|name| {
            let containers: serde_json::Map<String, Value> = e
                .list_records()
                .into_iter()
                .filter(|r| r.state.status.is_live() && r.host_config.network_mode.as_deref() == Some(*name))
                .map(|r| {
                    (
                        r.id.clone(),
                        json!({ "Name": r.name, "EndpointID": "", "MacAddress": "", "IPv4Address": "", "IPv6Address": "" }),
                    )
                })
                .collect();
            json!({
                "Name": name,
                "Id": name,
                "Created": "0001-01-01T00:00:00Z",
                "Scope": "local",
                "Driver": if *name == "none" { "null" } else { name },
                "EnableIPv4": *name == "bridge",
                "EnableIPv6": false,
                "IPAM": { "Driver": "default", "Options": null, "Config": [] },
                "Internal": false,
                "Attachable": false,
                "Ingress": false,
                "ConfigFrom": { "Network": "" },
                "ConfigOnly": false,
                "Containers": containers,
                "Options": {},
                "Labels": {},
            })
        })
        .collect()
}

async fn list(State(e): State<Engine>) -> ApiResult<Response> {
    Ok(reply(200, &builtin(&e)))
}

async fn inspect(State(e): State<Engine>, Path(id): Path<String>) -> ApiResult<Response> {
    builtin(&e)
        .into_iter()
        .find(|n| n["Name"] == id.as_str())
        .map(|n| reply(200, &n))
        .ok_or_else(|| ApiError::from(EngineError::NotFound(format!("network {id} not found"))))
}

async fn create() -> ApiResult<Response> {
    Err(EngineError::NotImplemented(
        "user-defined networks are not available yet in berthd (engine networking)".into(),
    )
    .into())
}

async fn prune() -> ApiResult<Response> {
    Ok(reply(200, &json!({ "NetworksDeleted": [] })))
}
