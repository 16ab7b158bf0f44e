//! `/containers/{id}/exec` and `/exec/{id}/...`.

use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use berth_engine::Engine;
use bollard_stubs::models::ExecConfig;
use http_body_util::BodyExt;

use crate::body::{json, reply};
use crate::error::{ApiError, ApiResult};
use crate::hijack::{hijack, pump};
use crate::query::Q;

pub fn router() -> Router<Engine> {
    Router::new()
        .route("/containers/{id}/exec", post(create))
        .route("/exec/{id}/start", post(start))
        .route("/exec/{id}/json", get(inspect))
        .route("/exec/{id}/resize", post(resize))
}

async fn create(
    State(e): State<Engine>,
    Path(id): Path<String>,
    b: bytes::Bytes,
) -> ApiResult<Response> {
    let mut cfg: ExecConfig = json(&b, false)?;
    // dockerd decodes JSON keys case-insensitively (Go), and docker-py
    // sends `detachKeys` from the client's config file that way.
    if cfg.detach_keys.is_none() {
        cfg.detach_keys = serde_json::from_slice::<serde_json::Value>(&b)
            .ok()
            .and_then(|v| v.get("detachKeys")?.as_str().map(str::to_owned));
    }
    let exec_id = e.exec_create(&id, cfg)?;
    Ok(reply(201, &serde_json::json!({ "Id": exec_id })))
}

#[derive(serde::Deserialize, Default)]
struct StartBody {
    #[serde(rename = "Detach", default)]
    detach: bool,
    #[serde(rename = "Tty", default)]
    tty: bool,
}

async fn start(
    State(e): State<Engine>,
    Path(id): Path<String>,
    mut req: Request,
) -> ApiResult<Response> {
    let body = std::mem::take(req.body_mut());
    let bytes = body
        .collect()
        .await
        .map_err(|err| ApiError::bad_request(format!("reading body: {err}")))?
        .to_bytes();
    let sb: StartBody = json(&bytes, true)?;
    // As dockerd, the start request's Tty alone chooses the raw stream;
    // without it the output is stdcopy-framed even when the exec has a
    // pty (its merged output all comes as stdout frames).
    let tty = sb.tty;
    let detach_keys = crate::detach_keys::parse(e.exec_inspect(&id)?.detach_keys.as_deref())?;
    if sb.detach {
        e.exec_start(&id, true).await?;
        return Ok(StatusCode::OK.into_response());
    }
    let (conn, launch) = e.exec_start(&id, false).await?;
    Ok(hijack(&mut req, tty, move |client| async move {
        if let Some(l) = launch {
            if let Err(err) = l.run().await {
                tracing::debug!("exec start: {err}");
                return;
            }
        }
        if let Some(m) = conn {
            pump(client, m, tty, detach_keys).await;
        }
    }))
}

async fn inspect(State(e): State<Engine>, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(reply(200, &e.exec_inspect(&id)?))
}

async fn resize(
    State(e): State<Engine>,
    Path(id): Path<String>,
    Query(q): Query<Q>,
) -> ApiResult<Response> {
    let h = q.int("h")?.unwrap_or(0).clamp(0, u16::MAX as i64) as u16;
    let w = q.int("w")?.unwrap_or(0).clamp(0, u16::MAX as i64) as u16;
    e.exec_resize(&id, h, w).await?;
    Ok(StatusCode::OK.into_response())
}
