//! `POST /build`: the legacy builder's endpoint (what `DOCKER_BUILDKIT=0
//! docker build` calls). The body is the context as a tar; the answer a
//! stream of JSON messages: `{"stream": "Step 1/5 : FROM busybox\n"}`,
//! RUN output, `{"aux": {"ID": "sha256:..."}}`, and on a failure after
//! the build began, `{"errorDetail": ..., "error": ...}` (a failure before
//! anything was said is an HTTP error, as dockerd answers a bad
//! Dockerfile).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use berth_engine::build::{BuildRequest, Removal};
use berth_engine::{Engine, EngineError};
use bytes::Bytes;

use crate::error::{ApiError, ApiResult};
use crate::query::pairs;
use crate::routes::images::body_reader;

pub fn router() -> Router<Engine> {
    Router::new().route("/build", post(build))
}

fn truthy(v: &str) -> bool {
    !matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "" | "0" | "no" | "false" | "none"
    )
}

/// A JSON map parameter (`buildargs`, `labels`); null values are dropped
/// (docker sends a bare `--build-arg KEY` unset in its environment so).
fn json_map(name: &str, v: &str) -> ApiResult<Vec<(String, String)>> {
    if v.is_empty() {
        return Ok(Vec::new());
    }
    let m: BTreeMap<String, Option<String>> = serde_json::from_str(v)
        .map_err(|e| ApiError::bad_request(format!("invalid {name}: {e}")))?;
    Ok(m.into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect())
}

fn request(uri: &axum::http::Uri) -> ApiResult<BuildRequest> {
    let mut req = BuildRequest::default();
    // dockerd: forcerm wins; an absent rm means rm.
    let (mut rm, mut forcerm) = (None, false);
    for (k, v) in pairs(uri) {
        match k.as_str() {
            "t" if !v.is_empty() => req.tags.push(v),
            // A parameter given twice counts once, by its first value, as
            // Go's FormValue reads it (docker-py sends `dockerfile` as a
            // name and the text of a Dockerfile from outside the context).
            "dockerfile" if !v.is_empty() => {
                req.dockerfile.get_or_insert(v);
            }
            "buildargs" => req.build_args = json_map("buildargs", &v)?,
            "labels" => req.labels = json_map("labels", &v)?,
            "target" if !v.is_empty() => {
                req.target.get_or_insert(v);
            }
            "nocache" => req.no_cache = truthy(&v),
            "q" => req.quiet = truthy(&v),
            "networkmode" if !v.is_empty() => {
                req.network.get_or_insert(v);
            }
            "pull" => req.pull = truthy(&v),
            "platform" if !v.is_empty() => req.platform = Some(v),
            "cachefrom" if !v.is_empty() => {
                req.cache_from = serde_json::from_str(&v)
                    .map_err(|e| ApiError::bad_request(format!("invalid cachefrom: {e}")))?
            }
            "extrahosts" if !v.is_empty() => req.extra_hosts.push(v),
            "rm" => rm = Some(truthy(&v)),
            "forcerm" => forcerm = truthy(&v),
            "remote" if !v.is_empty() => {
                return Err(ApiError::bad_request(
                    "remote build contexts are not supported: berth builds offline (send the context as the request body)",
                ))
            }
            "version" if v == "2" => {
                return Err(ApiError::bad_request(
                    "BuildKit is not supported by berth: build with DOCKER_BUILDKIT=0",
                ))
            }
            _ => {}
        }
    }
    req.removal = if forcerm {
        Removal::Always
    } else if rm.unwrap_or(true) {
        Removal::OnSuccess
    } else {
        Removal::Never
    };
    Ok(req)
}

/// `X-Registry-Config`: base64url JSON mapping a registry to its
/// AuthConfig (`{"localhost:5000": {"username": .., "password": ..}}`),
/// what FROM pulls with. Entries without a username are left out; a
/// header that does not decode counts as none, as dockerd ignores it (a
/// pull without credentials is no error either).
fn registry_config(
    headers: &axum::http::HeaderMap,
) -> Vec<(String, berth_engine::registry::Credentials)> {
    let decoded = headers
        .get("x-registry-config")
        .and_then(|raw| raw.to_str().ok())
        .and_then(crate::routes::images::base64_decode)
        .and_then(|bytes| {
            serde_json::from_slice::<BTreeMap<String, serde_json::Value>>(&bytes).ok()
        });
    let Some(m) = decoded else {
        return Vec::new();
    };
    m.into_iter()
        .filter_map(|(k, v)| {
            let username = v["username"].as_str().filter(|u| !u.is_empty())?.to_owned();
            let password = v["password"].as_str().unwrap_or("").to_owned();
            Some((
                k,
                berth_engine::registry::Credentials { username, password },
            ))
        })
        .collect()
}

async fn build(
    State(e): State<Engine>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> ApiResult<Response> {
    let mut req = request(&uri)?;
    req.registry_credentials = registry_config(&headers);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let engine = e.clone();
    let context = body_reader(body);
    let mut task = tokio::spawn(async move { engine.image_build(context, req, tx).await });
    // Wait for the first message or the end: an error before any output
    // is an HTTP error.
    // The task's end wins a tie: a build that failed before saying
    // anything also closes the channel, and must still answer an error.
    let early = tokio::select! {
        biased;
        r = &mut task => Ok(r),
        m = rx.recv() => match m {
            Some(m) => Err(Some(m)),
            None => Ok((&mut task).await),
        },
    };
    let mut head = Vec::new();
    let finished = match early {
        Ok(Ok(Err(err))) => return Err(err.into()),
        Ok(Ok(Ok(_))) => true,
        Ok(Err(join)) => return Err(EngineError::Internal(join.to_string()).into()),
        Err(m) => {
            head.extend(m);
            false
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
        while let Some(m) = rx.recv().await {
            if out_tx.send(line(&m)).await.is_err() {
                // The client went away: dropping the receiver tells the
                // build to stop at its next step.
                return;
            }
        }
        if finished {
            return;
        }
        let result = match task.await {
            Ok(r) => r,
            Err(e) => Err(EngineError::Internal(e.to_string())),
        };
        if let Err(e) = result {
            let m = e.to_string();
            let detail = match &e {
                EngineError::BuildRun { code, .. } => {
                    serde_json::json!({ "code": code, "message": m })
                }
                _ => serde_json::json!({ "message": m }),
            };
            let v = serde_json::json!({ "errorDetail": detail, "error": m });
            let _ = out_tx.send(line(&v)).await;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_of_the_docker_cli() -> Result<(), Box<dyn std::error::Error>> {
        let uri: axum::http::Uri = "/build?buildargs=%7B%22A%22%3A%221%22%2C%22B%22%3Anull%7D&dockerfile=sub%2FDockerfile&labels=%7B%22l%22%3A%22v%22%7D&networkmode=default&nocache=1&q=0&t=a%3A1&t=b&target=s&version=1".parse()?;
        let r = request(&uri).map_err(|e| format!("{e:?}"))?;
        assert_eq!(r.tags, vec!["a:1".to_string(), "b".to_string()]);
        assert_eq!(r.dockerfile.as_deref(), Some("sub/Dockerfile"));
        assert_eq!(r.build_args, vec![("A".to_string(), "1".to_string())]);
        assert_eq!(r.labels, vec![("l".to_string(), "v".to_string())]);
        assert_eq!(r.target.as_deref(), Some("s"));
        assert!(r.no_cache && !r.quiet);
        assert_eq!(r.network.as_deref(), Some("default"));
        let bad: axum::http::Uri = "/build?version=2".parse()?;
        assert!(request(&bad).is_err());
        Ok(())
    }
}
