//! `/images/...`: load, list, inspect, tag, remove, history, import,
//! pull and push (from `berth-image`), and `/distribution/{name}/json`.

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
        .route("/images/search", get(search))
        .route("/distribution/{*rest}", get(distribution))
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
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, String>>,
    cur: Bytes,
}

impl std::io::Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(std::io::Error::other(e)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur = self.cur.slice(n..);
        Ok(n)
    }
}

/// The request body as a blocking reader for the image store.
pub(crate) fn body_reader(body: axum::body::Body) -> Box<dyn std::io::Read + Send> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let mut stream = body.into_data_stream();
    tokio::spawn(async move {
        use futures::StreamExt;
        while let Some(chunk) = stream.next().await {
            let item = chunk.map_err(|err| err.to_string());
            let stop = item.is_err();
            if tx.send(item).await.is_err() || stop {
                return;
            }
        }
    });
    Box::new(BodyReader {
        rx,
        cur: Bytes::new(),
    })
}

/// A failed load is still a 200 whose JSON stream ends in `errorDetail`,
/// as dockerd answers (docker-py raises `ImageLoadError` from that line).
async fn load(State(e): State<Engine>, body: axum::body::Body) -> ApiResult<Response> {
    let mut out = String::new();
    match e.image_load(body_reader(body)).await {
        Ok(lines) => {
            for l in lines {
                out.push_str(&serde_json::json!({ "stream": format!("{l}\n") }).to_string());
                out.push('\n');
            }
        }
        Err(err) => {
            let m = err.to_string();
            out.push_str(
                &serde_json::json!({ "errorDetail": { "message": m }, "error": m }).to_string(),
            );
            out.push('\n');
        }
    }
    Ok(Response::builder()
        .header(axum::http::header::CONTENT_TYPE, "application/json")
        .body(axum::body::Body::from(out))
        .unwrap_or_default())
}

/// `X-Registry-Auth`: base64url JSON with username and password.
fn registry_auth(headers: &axum::http::HeaderMap) -> Option<(String, String)> {
    let raw = headers.get("x-registry-auth")?.to_str().ok()?;
    let bytes = base64_decode(raw)?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let user = v["username"].as_str().unwrap_or("").to_owned();
    let pass = v["password"].as_str().unwrap_or("").to_owned();
    (!user.is_empty()).then_some((user, pass))
}

/// Standard or URL-safe base64, padding optional.
pub(crate) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.trim().bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => return None,
        } as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Runs a pull or push: an error before the registry sent anything is an
/// HTTP error (as dockerd's "pull access denied"); later ones go into the
/// JSON stream as `errorDetail`.
async fn progress_stream<F>(
    first: Option<serde_json::Value>,
    job: impl FnOnce(tokio::sync::mpsc::UnboundedSender<serde_json::Value>) -> F,
) -> ApiResult<Response>
where
    F: std::future::Future<Output = berth_engine::Result<String>> + Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut task = tokio::spawn(job(tx));
    let early = tokio::select! {
        m = rx.recv() => Err(m),
        r = &mut task => Ok(r),
    };
    let mut head: Vec<serde_json::Value> = first.into_iter().collect();
    let finished = match early {
        Ok(Ok(Err(e))) => return Err(e.into()),
        Ok(Ok(Ok(status))) => Some(Ok(status)),
        Ok(Err(join)) => return Err(EngineError::Internal(join.to_string()).into()),
        Err(m) => {
            head.extend(m);
            None
        }
    };
    let (out_tx, out_rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        let line = |v: &serde_json::Value| Bytes::from(format!("{v}\n"));
        for v in &head {
            if out_tx.send(line(v)).await.is_err() {
                return;
            }
        }
        let result = match finished {
            Some(r) => {
                while let Ok(m) = rx.try_recv() {
                    let _ = out_tx.send(line(&m)).await;
                }
                r
            }
            None => {
                while let Some(m) = rx.recv().await {
                    let _ = out_tx.send(line(&m)).await;
                }
                match task.await {
                    Ok(r) => r,
                    Err(e) => Err(EngineError::Internal(e.to_string())),
                }
            }
        };
        let last = match result {
            Ok(status) => serde_json::json!({ "status": status }),
            Err(e) => {
                serde_json::json!({ "errorDetail": { "message": e.to_string() }, "error": e.to_string() })
            }
        };
        let _ = out_tx.send(line(&last)).await;
    });
    let body = futures::StreamExt::map(
        tokio_stream::wrappers::ReceiverStream::new(out_rx),
        Ok::<_, std::convert::Infallible>,
    );
    Ok(Response::builder()
        .header(axum::http::header::CONTENT_TYPE, "application/json")
        .body(axum::body::Body::from_stream(body))
        .unwrap_or_default())
}

async fn pull(
    State(e): State<Engine>,
    uri: axum::http::Uri,
    Query(q): Query<Q>,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> ApiResult<Response> {
    if let Some(src) = q.str("fromSrc") {
        if src != "-" {
            return Err(ApiError::bad_request(
                "berthd imports from the request body only (fromSrc=-)",
            ));
        }
        let reference = q.str("repo").filter(|r| !r.is_empty()).map(|r| {
            match q.str("tag").filter(|t| !t.is_empty()) {
                Some(t) => format!("{r}:{t}"),
                None => r.to_owned(),
            }
        });
        let changes = crate::query::repeated(&uri, "changes");
        let id = e
            .image_import(body_reader(body), reference, changes)
            .await?;
        let line = serde_json::json!({ "status": id });
        return Ok(Response::builder()
            .header(axum::http::header::CONTENT_TYPE, "application/json")
            .body(axum::body::Body::from(format!("{line}\n")))
            .unwrap_or_default());
    }
    let image = q
        .str("fromImage")
        .filter(|i| !i.is_empty())
        .ok_or_else(|| ApiError::bad_request("fromImage is required"))?;
    let reference = match q.str("tag").filter(|t| !t.is_empty()) {
        Some(t) if t.starts_with("sha256:") => format!("{image}@{t}"),
        Some(t) => format!("{image}:{t}"),
        None => image.to_owned(),
    };
    let creds = registry_auth(&headers);
    let platform = q.str("platform").map(str::to_owned);
    // The tag may come in fromImage (bollard) or apart (the docker CLI).
    let first = berth_engine::registry::pull_started(&reference);
    progress_stream(first, move |tx| async move {
        e.image_pull(reference, creds, platform, tx).await
    })
    .await
}

async fn push(
    e: Engine,
    name: String,
    q: Q,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    let reference = match q.str("tag").filter(|t| !t.is_empty()) {
        Some(t) => format!("{name}:{t}"),
        None => name,
    };
    let creds = registry_auth(&headers);
    progress_stream(None, move |tx| async move {
        e.image_push(reference, creds, tx).await
    })
    .await
}

/// `GET /images/search?term=&limit=&filters=`: dockerd's limit (1-100,
/// default 25) and filters (`stars`, `is-official`, `is-automated`).
async fn search(State(e): State<Engine>, Query(q): Query<Q>) -> ApiResult<Response> {
    let term = q.str("term").unwrap_or("").to_owned();
    let limit = match q.str("limit").filter(|l| !l.is_empty()) {
        None => 25,
        Some(l) => match l.parse::<i64>() {
            Ok(n) if (1..=100).contains(&n) => n as usize,
            Ok(0) => 25,
            Ok(n) => {
                return Err(ApiError::bad_request(format!(
                    "limit {n} is outside the range of [1, 100]"
                )))
            }
            Err(_) => return Err(ApiError::bad_request(format!("invalid limit: {l}"))),
        },
    };
    let f = Filters::parse(q.str("filters"))?;
    f.check_keys(&["stars", "is-official", "is-automated"])?;
    let mut filters = berth_engine::registry::SearchFilters::default();
    for v in f.get("stars").unwrap_or(&[]) {
        let n = v
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request(format!("invalid filter 'stars={v}'")))?;
        filters.stars = Some(filters.stars.map_or(n, |s| s.max(n)));
    }
    let flag = |key: &str| -> ApiResult<Option<bool>> {
        match f.get(key) {
            None => Ok(None),
            Some(vals) => {
                let mut out = None;
                for v in vals {
                    out = Some(match v.to_ascii_lowercase().as_str() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => {
                            return Err(ApiError::bad_request(format!(
                                "invalid filter '{key}={v}'"
                            )))
                        }
                    });
                }
                Ok(out)
            }
        }
    };
    filters.is_official = flag("is-official")?;
    filters.is_automated = flag("is-automated")?;
    Ok(reply(200, &e.image_search(term, limit, filters).await?))
}

/// `GET /distribution/{name}/json`: the registry's descriptor and
/// platforms for `name`, with the request's `X-Registry-Auth`.
async fn distribution(
    State(e): State<Engine>,
    Path(rest): Path<String>,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    match split(&rest) {
        (name, "json") if !name.is_empty() => {
            let creds = registry_auth(&headers);
            Ok(reply(
                200,
                &e.image_distribution(name.to_owned(), creds).await?,
            ))
        }
        _ => Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            format!("page not found: /distribution/{rest}"),
        )),
    }
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
    let names = crate::query::repeated(&uri, "names");
    save(&e, names).await
}

fn split(rest: &str) -> (&str, &str) {
    match rest.rsplit_once('/') {
        Some((name, verb)) => (name, verb),
        None => (rest, ""),
    }
}

async fn get_named(State(e): State<Engine>, Path(rest): Path<String>) -> ApiResult<Response> {
    match split(&rest) {
        (name, "json") => {
            let inspect = e.image_inspect(name.to_owned()).await?;
            let mut v = serde_json::to_value(&inspect).map_err(|err| {
                ApiError::new(
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    format!("encoding image inspect: {err}"),
                )
            })?;
            // API <= 1.51 (docker CLI v28, docker-py) still has Parent.
            v["Parent"] = e.image_parent(name.to_owned()).await?.into();
            Ok(reply(200, &v))
        }
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
    headers: axum::http::HeaderMap,
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
        (name, "push") => push(e, name.to_owned(), q, headers).await,
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
    Ok(reply(
        200,
        &e.image_remove(rest, q.bool("force"), !q.bool("noprune"))
            .await?,
    ))
}

use crate::body::IntoResponseCompat;
