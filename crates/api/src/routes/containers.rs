//! `/containers/...`: create, list, inspect, lifecycle, wait, logs,
//! attach, top, resize, rename, prune.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use berth_engine::container::attach::AttachOptions;
use berth_engine::container::logs::{parse_timestamp, LogOptions};
use berth_engine::container::stop::WaitCondition;
use berth_engine::{Engine, Filters};
use bollard_stubs::models::{ContainerCreateBody, ContainerCreateResponse, ContainerTopResponse};
use bytes::Bytes;
use futures::StreamExt;

use crate::body::{json, reply};
use crate::error::{ApiError, ApiResult};
use crate::hijack::{hijack, pump};
use crate::query::Q;

pub fn router() -> Router<Engine> {
    Router::new()
        .route("/containers/create", post(create))
        .route("/containers/json", get(list))
        .route("/containers/prune", post(prune))
        .route("/containers/{id}/json", get(inspect))
        .route("/containers/{id}/start", post(start))
        .route("/containers/{id}/stop", post(stop))
        .route("/containers/{id}/restart", post(restart))
        .route("/containers/{id}/kill", post(kill))
        .route("/containers/{id}/wait", post(wait))
        .route("/containers/{id}", delete(remove))
        .route("/containers/{id}/attach", post(attach))
        .route("/containers/{id}/attach/ws", get(attach_ws))
        .route("/containers/{id}/logs", get(logs))
        .route("/containers/{id}/pause", post(pause))
        .route("/containers/{id}/unpause", post(unpause))
        .route("/containers/{id}/rename", post(rename))
        .route("/containers/{id}/top", get(top))
        .route("/containers/{id}/resize", post(resize))
        .route("/containers/{id}/stats", get(stats))
        .route("/containers/{id}/changes", get(changes))
        .route("/containers/{id}/update", post(update))
        .route("/containers/{id}/export", get(export))
        .route(
            "/containers/{id}/archive",
            get(archive_get).head(archive_head).put(archive_put),
        )
        .route("/commit", post(commit))
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

async fn create(
    State(e): State<Engine>,
    Query(q): Query<Q>,
    requested: Option<axum::Extension<crate::version::Requested>>,
    b: Bytes,
) -> ApiResult<Response> {
    let mut body: ContainerCreateBody = json(&b, false)?;
    legacy_mac_address(&b, &mut body);
    let version = match requested.map(|r| r.0 .0) {
        Some(Ok(v)) => v,
        _ => crate::version::MAX,
    };
    if version < crate::version::ApiVersion(1, 45) && has_subpath(&body) {
        return Err(ApiError::bad_request(
            "VolumeOptions.Subpath needs API v1.45 or newer",
        ));
    }
    let made = e
        .create_for_platform(q.str("name"), body, q.str("platform"))
        .await?;
    Ok(reply(
        201,
        &ContainerCreateResponse {
            id: made.id,
            warnings: made.warnings,
        },
    ))
}

fn has_subpath(body: &ContainerCreateBody) -> bool {
    body.host_config
        .as_ref()
        .and_then(|h| h.mounts.as_ref())
        .is_some_and(|ms| {
            ms.iter().any(|m| {
                m.volume_options
                    .as_ref()
                    .and_then(|o| o.subpath.as_deref())
                    .is_some_and(|s| !s.is_empty())
            })
        })
}

/// The deprecated container-wide `MacAddress` (gone from the 1.44+
/// models, still sent by clients such as docker-py): dockerd gives it to
/// the primary network's endpoint when that asks for none.
fn legacy_mac_address(raw: &Bytes, body: &mut ContainerCreateBody) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(raw) else {
        return;
    };
    let Some(mac) = v
        .get("MacAddress")
        .and_then(|m| m.as_str())
        .filter(|m| !m.is_empty())
    else {
        return;
    };
    let mode = body
        .host_config
        .as_ref()
        .and_then(|h| h.network_mode.clone())
        .unwrap_or_default();
    let net = match mode.as_str() {
        "" | "default" => "bridge".to_owned(),
        "host" | "none" => return,
        m if m.starts_with("container:") => return,
        m => m.to_owned(),
    };
    let eps = body
        .networking_config
        .get_or_insert_with(Default::default)
        .endpoints_config
        .get_or_insert_with(Default::default);
    let key = if eps.contains_key("default") && !eps.contains_key(&net) {
        "default".to_owned()
    } else {
        net
    };
    let ep = eps.entry(key).or_default();
    if ep.mac_address.as_deref().is_none_or(str::is_empty) {
        ep.mac_address = Some(mac.to_owned());
    }
}

async fn list(State(e): State<Engine>, Query(q): Query<Q>) -> ApiResult<Response> {
    let f = Filters::parse(q.str("filters"))?;
    let mut list = e.list(q.bool("all"), q.int("limit")?, &f)?;
    if q.bool("size") {
        for c in &mut list {
            if let Some(rec) = c.id.as_deref().and_then(|id| e.lookup(id).ok()) {
                let (rw, rootfs) = e.sizes(&rec.record());
                c.size_rw = Some(rw);
                c.size_root_fs = Some(rootfs);
            }
        }
    }
    Ok(reply(200, &list))
}

async fn prune(State(e): State<Engine>, Query(q): Query<Q>) -> ApiResult<Response> {
    let f = Filters::parse(q.str("filters"))?;
    f.check_keys(&["until", "label", "label!"])?;
    let mut deleted = Vec::new();
    let mut space = 0i64;
    for r in e.list_records() {
        if r.state.status.is_live() || !f.labels_match("label", &r.labels()) {
            continue;
        }
        // What the container wrote (its rw layer) is what its removal frees.
        let (rw, _) = e.sizes(&r);
        if e.remove(&r.id, false, false).await.is_ok() {
            deleted.push(r.id);
            space += rw;
        }
    }
    Ok(reply(
        200,
        &serde_json::json!({ "ContainersDeleted": deleted, "SpaceReclaimed": space }),
    ))
}

async fn inspect(
    State(e): State<Engine>,
    Path(id): Path<String>,
    Query(q): Query<Q>,
) -> ApiResult<Response> {
    let rec = e.lookup(&id)?.record();
    let mut out = e.inspect_record(&rec);
    if q.bool("size") {
        let (rw, rootfs) = e.sizes(&rec);
        out.size_rw = Some(rw);
        out.size_root_fs = Some(rootfs);
    }
    let mut v = serde_json::to_value(out)
        .map_err(|err| berth_engine::EngineError::Internal(err.to_string()))?;
    super::networks::add_default_bridge_fields(&mut v);
    add_endpoint_null_fields(&mut v);
    Ok(reply(200, &v))
}

/// dockerd writes every field of a container's endpoints, `null` when
/// unset (the models leave unset ones out); clients index them directly
/// (`Networks[n]['Aliases']`).
fn add_endpoint_null_fields(inspect: &mut serde_json::Value) {
    let Some(nets) = inspect
        .pointer_mut("/NetworkSettings/Networks")
        .and_then(serde_json::Value::as_object_mut)
    else {
        return;
    };
    for ep in nets
        .values_mut()
        .filter_map(serde_json::Value::as_object_mut)
    {
        for k in ["IPAMConfig", "Links", "Aliases", "DriverOpts", "DNSNames"] {
            ep.entry(k).or_insert(serde_json::Value::Null);
        }
    }
}

async fn start(State(e): State<Engine>, Path(id): Path<String>) -> ApiResult<Response> {
    e.start(&id).await?;
    Ok(no_content())
}

async fn stop(
    State(e): State<Engine>,
    Path(id): Path<String>,
    Query(q): Query<Q>,
) -> ApiResult<Response> {
    e.stop(&id, q.int("t")?, q.str("signal").filter(|s| !s.is_empty()))
        .await?;
    Ok(no_content())
}

async fn restart(
    State(e): State<Engine>,
    Path(id): Path<String>,
    Query(q): Query<Q>,
) -> ApiResult<Response> {
    e.restart(&id, q.int("t")?, q.str("signal").filter(|s| !s.is_empty()))
        .await?;
    Ok(no_content())
}

async fn kill(
    State(e): State<Engine>,
    Path(id): Path<String>,
    Query(q): Query<Q>,
) -> ApiResult<Response> {
    e.kill(&id, q.str("signal")).await?;
    Ok(no_content())
}

async fn wait(
    State(e): State<Engine>,
    Path(id): Path<String>,
    Query(q): Query<Q>,
) -> ApiResult<Response> {
    let cond = WaitCondition::parse(q.str("condition"))?;
    e.lookup(&id)?;
    // Headers go out at once; the body when the condition holds.
    let stream = futures::stream::once(async move {
        let body = match e.wait(&id, cond).await {
            Ok((code, err)) => serde_json::json!({
                "StatusCode": code,
                "Error": err.map(|m| serde_json::json!({ "Message": m })),
            }),
            Err(err) => serde_json::json!({
                "StatusCode": -1,
                "Error": { "Message": err.to_string() },
            }),
        };
        Ok::<_, Infallible>(Bytes::from(format!("{body}\n")))
    });
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_default())
}

async fn remove(
    State(e): State<Engine>,
    Path(id): Path<String>,
    Query(q): Query<Q>,
) -> ApiResult<Response> {
    if q.bool("link") {
        e.remove_link(&id).await?;
        return Ok(no_content());
    }
    e.remove(&id, q.bool("force"), q.bool("v")).await?;
    Ok(no_content())
}

async fn attach(
    State(e): State<Engine>,
    Path(id): Path<String>,
    Query(q): Query<Q>,
    mut req: Request,
) -> ApiResult<Response> {
    let opts = AttachOptions {
        stdin: q.bool("stdin"),
        stdout: q.bool("stdout"),
        stderr: q.bool("stderr"),
    };
    // logs=1: what the log holds first; stream=0: only that.
    let replay = log_replay(&e, &id, &q, &opts);
    let stream = !q.0.contains_key("stream") || q.bool("stream");
    let detach_keys = crate::detach_keys::parse(q.str("detachKeys"))?;
    let tty = e.lookup(&id)?.record().tty();
    let conn = if stream {
        Some(e.attach(&id, opts)?.1)
    } else {
        None
    };
    Ok(hijack(&mut req, tty, move |mut client| async move {
        if let Some(mut rx) = replay {
            use tokio::io::AsyncWriteExt;
            // Clients that read the 101 through a buffered reader and then
            // take the raw socket (docker-py) lose bytes that arrive in the
            // same read as the headers; dockerd's replay comes a few ms
            // after its 101 as it opens the log, and so does ours.
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            while let Some(entry) = rx.recv().await {
                let mut out = Vec::with_capacity(entry.line.len() + 8);
                if !tty {
                    out.extend_from_slice(&frame(entry.stream, entry.line.len()));
                }
                out.extend_from_slice(&entry.line);
                if client.write_all(&out).await.is_err() {
                    return;
                }
            }
        }
        match conn {
            Some(conn) => match conn.await {
                Ok(m) => pump(client, m, tty, detach_keys).await,
                Err(err) => tracing::debug!("attach: {err}"),
            },
            None => {
                use tokio::io::AsyncWriteExt;
                let _ = client.shutdown().await;
            }
        }
    }))
}

/// `GET /containers/{id}/attach/ws`: the attach over a websocket, as
/// dockerd: stdin/stdout/stderr are honoured from API 1.42 on (all three
/// before), frames are binary from 1.28 on, streams are not multiplexed.
async fn attach_ws(
    State(e): State<Engine>,
    Path(id): Path<String>,
    Query(q): Query<Q>,
    mut req: Request,
) -> ApiResult<Response> {
    use crate::version::{ApiVersion, Requested, MAX};
    use crate::websocket;
    let version = match req.extensions().get::<Requested>() {
        Some(Requested(Ok(v))) => *v,
        _ => MAX,
    };
    let key = websocket::handshake_key(req.headers()).map_err(ApiError::bad_request)?;
    let per_stream = version >= ApiVersion(1, 42);
    let opts = AttachOptions {
        stdin: !per_stream || q.bool("stdin"),
        stdout: !per_stream || q.bool("stdout"),
        stderr: !per_stream || q.bool("stderr"),
    };
    let kind = if version >= ApiVersion(1, 28) {
        websocket::Kind::Binary
    } else {
        websocket::Kind::Text
    };
    let replay = log_replay(&e, &id, &q, &opts);
    let detach_keys = crate::detach_keys::parse(q.str("detachKeys"))?;
    let conn = if q.bool("stream") {
        Some(e.attach(&id, opts)?.1)
    } else {
        e.lookup(&id)?;
        None
    };
    Ok(websocket::upgrade(
        &mut req,
        &key,
        move |mut ws| async move {
            use futures::SinkExt;
            if let Some(mut rx) = replay {
                while let Some(entry) = rx.recv().await {
                    if ws
                        .send(websocket::message(kind, &entry.line))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
            match conn {
                Some(conn) => match conn.await {
                    Ok(m) => websocket::pump(ws, m, kind, detach_keys).await,
                    Err(err) => tracing::debug!("attach/ws: {err}"),
                },
                None => websocket::close(ws).await,
            }
        },
    ))
}

/// An attach's `logs=1`: what the log holds of the attached streams,
/// sent before the live output.
fn log_replay(
    e: &Engine,
    id: &str,
    q: &Q,
    opts: &AttachOptions,
) -> Option<tokio::sync::mpsc::Receiver<berth_engine::container::logs::LogEntry>> {
    if !q.bool("logs") || !(opts.stdout || opts.stderr) {
        return None;
    }
    e.logs(
        id,
        LogOptions {
            stdout: opts.stdout,
            stderr: opts.stderr,
            ..LogOptions::default()
        },
    )
    .ok()
}

async fn logs(
    State(e): State<Engine>,
    Path(id): Path<String>,
    Query(q): Query<Q>,
) -> ApiResult<Response> {
    let stdout = q.bool("stdout");
    let stderr = q.bool("stderr");
    if !stdout && !stderr {
        return Err(ApiError::bad_request(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let tail = match q.str("tail").unwrap_or("all") {
        "all" | "" => None,
        t => Some(
            t.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("invalid tail: {t}")))?,
        )
        .filter(|n| *n >= 0)
        .map(|n| n as usize),
    };
    let opts = LogOptions {
        follow: q.bool("follow"),
        stdout,
        stderr,
        since: parse_timestamp(q.str("since").unwrap_or(""))?,
        // until=0 is "no bound" for logs.
        until: parse_timestamp(q.str("until").unwrap_or(""))?.filter(|u| *u > 0.0),
        tail,
    };
    let tty = e.lookup(&id)?.record().tty();
    let timestamps = q.bool("timestamps");
    let rx = e.logs(&id, opts)?;
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx).map(move |entry| {
        let mut payload = Vec::with_capacity(entry.line.len() + 40);
        if timestamps {
            payload.extend_from_slice(entry.time.as_bytes());
            payload.push(b' ');
        }
        payload.extend_from_slice(&entry.line);
        let out = if tty {
            payload
        } else {
            let mut f = frame(entry.stream, payload.len()).to_vec();
            f.extend_from_slice(&payload);
            f
        };
        Ok::<_, Infallible>(Bytes::from(out))
    });
    let ct = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, ct)
        .body(Body::from_stream(stream))
        .unwrap_or_default())
}

/// stdcopy header (the monitor's framing, which Docker clients read).
fn frame(stream: u8, len: usize) -> [u8; 8] {
    let l = (len as u32).to_be_bytes();
    [stream, 0, 0, 0, l[0], l[1], l[2], l[3]]
}

async fn pause(State(e): State<Engine>, Path(id): Path<String>) -> ApiResult<Response> {
    e.pause(&id, true).await?;
    Ok(no_content())
}

async fn unpause(State(e): State<Engine>, Path(id): Path<String>) -> ApiResult<Response> {
    e.pause(&id, false).await?;
    Ok(no_content())
}

async fn rename(
    State(e): State<Engine>,
    Path(id): Path<String>,
    Query(q): Query<Q>,
) -> ApiResult<Response> {
    let name = q
        .str("name")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("Neither old nor new names may be empty"))?;
    e.rename(&id, name).await?;
    Ok(no_content())
}

async fn top(
    State(e): State<Engine>,
    Path(id): Path<String>,
    Query(q): Query<Q>,
) -> ApiResult<Response> {
    let (titles, processes) = e.top(&id, q.str("ps_args")).await?;
    Ok(reply(
        200,
        &ContainerTopResponse {
            titles: Some(titles),
            processes: Some(processes),
        },
    ))
}

async fn resize(
    State(e): State<Engine>,
    Path(id): Path<String>,
    Query(q): Query<Q>,
) -> ApiResult<Response> {
    let h = q.int("h")?.unwrap_or(0).clamp(0, u16::MAX as i64) as u16;
    let w = q.int("w")?.unwrap_or(0).clamp(0, u16::MAX as i64) as u16;
    e.resize(&id, h, w).await?;
    Ok(StatusCode::OK.into_response())
}

async fn stats(
    State(e): State<Engine>,
    Path(id): Path<String>,
    Query(q): Query<Q>,
) -> ApiResult<Response> {
    let stream = !q.0.contains_key("stream") || q.bool("stream");
    let one_shot = q.bool("one-shot");
    let first = e.stats_sample(&id)?;
    if !stream {
        let sample = if one_shot {
            first
        } else {
            // Like dockerd: CPU figures need a previous sample.
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            with_pre(e.stats_sample(&id)?, &first)
        };
        return Ok(reply(200, &sample));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(2);
    tokio::spawn(async move {
        let mut prev = first.clone();
        if tx.send(Bytes::from(format!("{first}\n"))).await.is_err() {
            return;
        }
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            let Ok(next) = e.stats_sample(&id) else {
                return;
            };
            let out = with_pre(next.clone(), &prev);
            prev = next;
            if tx.send(Bytes::from(format!("{out}\n"))).await.is_err() {
                return;
            }
        }
    });
    let body = tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok::<_, Infallible>);
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(body))
        .unwrap_or_default())
}

/// A sample with the previous one as its `precpu_stats`/`preread`.
fn with_pre(mut cur: serde_json::Value, prev: &serde_json::Value) -> serde_json::Value {
    cur["precpu_stats"] = prev["cpu_stats"].clone();
    cur["preread"] = prev["read"].clone();
    cur
}

async fn changes(State(e): State<Engine>, Path(id): Path<String>) -> ApiResult<Response> {
    let changes = e.container_changes(&id).await?;
    // dockerd's list of changes is nil, so `null`, when there are none
    // (bollard reads that as None).
    if changes.is_empty() {
        return Ok(reply(200, &serde_json::Value::Null));
    }
    Ok(reply(200, &changes))
}

const PATH_STAT: &str = "X-Docker-Container-Path-Stat";

fn archive_path(q: &Q) -> ApiResult<String> {
    q.str("path")
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| ApiError::bad_request("Path cannot be empty"))
}

fn stat_header(s: &berth_engine::container::archive::PathStat) -> String {
    use base64::Engine as _;
    let json = serde_json::to_vec(s).unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(json)
}

async fn archive_head(
    State(e): State<Engine>,
    Path(id): Path<String>,
    Query(q): Query<Q>,
) -> ApiResult<Response> {
    let stat = e.archive_stat(&id, &archive_path(&q)?).await?;
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(PATH_STAT, stat_header(&stat))
        .body(Body::empty())
        .unwrap_or_default())
}

async fn archive_get(
    State(e): State<Engine>,
    Path(id): Path<String>,
    Query(q): Query<Q>,
) -> ApiResult<Response> {
    let (mut resp, writer) = crate::body::streamed("application/x-tar");
    let (stat, job) = e
        .archive_get(&id, &archive_path(&q)?, Box::new(writer))
        .await?;
    if let Ok(v) = header::HeaderValue::from_str(&stat_header(&stat)) {
        resp.headers_mut().insert(PATH_STAT, v);
    }
    tokio::spawn(async move {
        if let Ok(Err(err)) = job.await {
            tracing::warn!("archive: {err}");
        }
    });
    Ok(resp)
}

async fn archive_put(
    State(e): State<Engine>,
    Path(id): Path<String>,
    Query(q): Query<Q>,
    req: Request,
) -> ApiResult<Response> {
    use http_body_util::BodyExt;
    let path = archive_path(&q)?;
    let body = req
        .into_body()
        .collect()
        .await
        .map_err(|err| ApiError::bad_request(format!("reading body: {err}")))?
        .to_bytes();
    e.archive_put(
        &id,
        &path,
        body.to_vec(),
        q.bool("noOverwriteDirNonDir"),
        q.bool("copyUIDGID"),
    )
    .await?;
    Ok(StatusCode::OK.into_response())
}

async fn export(State(e): State<Engine>, Path(id): Path<String>) -> ApiResult<Response> {
    let (resp, writer) = crate::body::streamed("application/x-tar");
    let job = e.container_export(&id, Box::new(writer)).await?;
    tokio::spawn(async move {
        if let Ok(Err(err)) = job.await {
            tracing::warn!("export: {err}");
        }
    });
    Ok(resp)
}

async fn commit(
    State(e): State<Engine>,
    Query(q): Query<Q>,
    uri: axum::http::Uri,
) -> ApiResult<Response> {
    let container = q
        .str("container")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad_request("container is required"))?;
    let reference = q.str("repo").filter(|r| !r.is_empty()).map(|r| {
        match q.str("tag").filter(|t| !t.is_empty()) {
            Some(t) => format!("{r}:{t}"),
            None => r.to_owned(),
        }
    });
    // One instruction per `changes` value (docker-py, the docker CLI), or
    // several in one value, a line each.
    let changes: Vec<String> = crate::query::repeated(&uri, "changes")
        .iter()
        .flat_map(|c| c.lines())
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    let id = e
        .commit(
            container,
            reference,
            q.str("author").map(str::to_owned),
            q.str("comment").map(str::to_owned),
            changes,
        )
        .await?;
    Ok(reply(201, &serde_json::json!({ "Id": id })))
}

async fn update(State(e): State<Engine>, Path(id): Path<String>, b: Bytes) -> ApiResult<Response> {
    let body: bollard_stubs::models::ContainerUpdateBody = json(&b, false)?;
    let warnings = e.update_resources(&id, body).await?;
    Ok(reply(200, &serde_json::json!({ "Warnings": warnings })))
}
