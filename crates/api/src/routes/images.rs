//! `/images/...`: load, list, inspect, tag, remove, history (from
//! `berth-image`). Pulling from a registry is not available: berth loads
//! images from archives.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use berth_engine::{Engine, EngineError, Filters};
use bytes::Bytes;

use crate::body::reply;
use crate::error::{ApiError, ApiResult};
use crate::query::Q;

pub fn router() -> Router<Engine> {
    Router::new()
        .route("/images/json", get(list))
        .route("/images/load", post(load))
        .route("/images/create", post(pull))
        .route("/images/prune", post(prune))
        .route("/images/get", get(save_many))
        .route(
            "/images/{*rest}",
            get(get_named).post(post_named).delete(remove),
        )
}

async fn list(State(e): State<Engine>, Query(q): Query<Q>) -> ApiResult<Response> {
    let f = Filters::parse(q.str("filters"))?;
    Ok(reply(200, &e.image_list(q.bool("all"), f).await?))
}

/// A request body read synchronously (by the image store, on a blocking
/// thread) while the async side feeds it chunk by chunk.
struct BodyReader {
    rx: std::sync::mpsc::Receiver<Result<Bytes, String>>,
    cur: Bytes,
}

impl std::io::Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.recv() {
                Ok(Ok(b)) => self.cur = b,
                Ok(Err(e)) => return Err(std::io::Error::other(e)),
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur = self.cur.slice(n..);
        Ok(n)
    }
}

async fn load(State(e): State<Engine>, body: axum::body::Body) -> ApiResult<Response> {
    let (tx, rx) = std::sync::mpsc::sync_channel(16);
    let mut stream = body.into_data_stream();
    tokio::spawn(async move {
        use futures::StreamExt;
        while let Some(chunk) = stream.next().await {
            let item = chunk.map_err(|err| err.to_string());
            let stop = item.is_err();
            let tx = tx.clone();
            if tokio::task::spawn_blocking(move || tx.send(item))
                .await
                .map(|r| r.is_err())
                .unwrap_or(true)
                || stop
            {
                return;
            }
        }
    });
    let reader = BodyReader {
        rx,
        cur: Bytes::new(),
    };
    let lines = e.image_load(Box::new(reader)).await?;
    let mut out = String::new();
    for l in lines {
        out.push_str(&serde_json::json!({ "stream": format!("{l}\n") }).to_string());
        out.push('\n');
    }
    Ok(Response::builder()
        .header(axum::http::header::CONTENT_TYPE, "application/json")
        .body(axum::body::Body::from(out))
        .unwrap_or_default())
}

async fn pull(Query(q): Query<Q>) -> ApiResult<Response> {
    let image = q.str("fromImage").unwrap_or("");
    Err(EngineError::NotFound(format!(
        "pull access denied for {image}: berthd does not pull from registries; load the image with `docker load`"
    ))
    .into())
}

async fn prune(State(e): State<Engine>, Query(q): Query<Q>) -> ApiResult<Response> {
    let f = Filters::parse(q.str("filters"))?;
    let dangling_only = !f
        .get("dangling")
        .is_some_and(|v| v.iter().any(|x| x == "false" || x == "0"));
    let (deleted, space) = e.image_prune(dangling_only).await?;
    Ok(reply(
        200,
        &serde_json::json!({ "ImagesDeleted": deleted, "SpaceReclaimed": space }),
    ))
}

async fn save(e: &Engine, names: Vec<String>) -> ApiResult<Response> {
    let (resp, writer) = crate::body::streamed("application/x-tar");
    let job = e.image_save(names, Box::new(writer)).await?;
    tokio::spawn(async move {
        if let Ok(Err(err)) = job.await {
            tracing::warn!("image save: {err}");
        }
    });
    Ok(resp)
}

async fn save_many(State(e): State<Engine>, uri: axum::http::Uri) -> ApiResult<Response> {
    let names: Vec<String> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.strip_prefix("names="))
        .map(percent_decode)
        .collect();
    save(&e, names).await
}

/// `%XX` and `+` of a query value.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn split(rest: &str) -> (&str, &str) {
    match rest.rsplit_once('/') {
        Some((name, verb)) => (name, verb),
        None => (rest, ""),
    }
}

async fn get_named(State(e): State<Engine>, Path(rest): Path<String>) -> ApiResult<Response> {
    match split(&rest) {
        (name, "json") => Ok(reply(200, &e.image_inspect(name.to_owned()).await?)),
        (name, "history") => Ok(reply(200, &e.image_history(name.to_owned()).await?)),
        (name, "get") => save(&e, vec![name.to_owned()]).await,
        _ => Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            format!("page not found: /images/{rest}"),
        )),
    }
}

async fn post_named(
    State(e): State<Engine>,
    Path(rest): Path<String>,
    Query(q): Query<Q>,
) -> ApiResult<Response> {
    match split(&rest) {
        (name, "tag") => {
            e.image_tag(
                name.to_owned(),
                q.str("repo").unwrap_or("").to_owned(),
                q.str("tag").map(str::to_owned),
            )
            .await?;
            Ok(axum::http::StatusCode::CREATED.into_response_compat())
        }
        (_, "push") => {
            Err(EngineError::NotImplemented("berthd does not push to registries".into()).into())
        }
        _ => Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            format!("page not found: /images/{rest}"),
        )),
    }
}

async fn remove(
    State(e): State<Engine>,
    Path(rest): Path<String>,
    Query(q): Query<Q>,
) -> ApiResult<Response> {
    Ok(reply(200, &e.image_remove(rest, q.bool("force")).await?))
}

use crate::body::IntoResponseCompat;
