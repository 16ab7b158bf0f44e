//! API versions: the range berthd speaks and the `/v1.NN/` path prefix,
//! stripped before routing and remembered for the handlers.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The newest API version berthd speaks (what docker CLI v28 negotiates).
pub const MAX: ApiVersion = ApiVersion(1, 50);
/// The oldest accepted.
pub const MIN: ApiVersion = ApiVersion(1, 24);

/// `major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion(pub u32, pub u32);

impl std::fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

impl ApiVersion {
    pub fn parse(s: &str) -> Option<ApiVersion> {
        let (a, b) = s.split_once('.')?;
        Some(ApiVersion(a.parse().ok()?, b.parse().ok()?))
    }
}

/// The version a request asked for (MAX when it had no prefix), or the
/// unparsable/out-of-range text.
#[derive(Debug, Clone)]
pub struct Requested(pub Result<ApiVersion, String>);

/// Strips `/vX.Y` from the path (a `map_request` step before routing).
pub fn strip_prefix(mut req: Request) -> Request {
    let path = req.uri().path().to_owned();
    let mut version = Ok(MAX);
    if let Some(rest) = path.strip_prefix("/v") {
        let (v, tail) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if v.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            version = ApiVersion::parse(v).ok_or_else(|| v.to_owned());
            let pq = match req.uri().query() {
                Some(q) => format!("{tail}?{q}"),
                None => tail.to_owned(),
            };
            let mut parts = req.uri().clone().into_parts();
            if let Ok(p) = pq.parse() {
                parts.path_and_query = Some(p);
                if let Ok(u) = axum::http::Uri::from_parts(parts) {
                    *req.uri_mut() = u;
                }
            }
        }
    }
    if let Some(p) = crate::link_paths::encode(req.method(), req.uri().path()) {
        let pq = match req.uri().query() {
            Some(q) => format!("{p}?{q}"),
            None => p,
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = pq.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(u) = axum::http::Uri::from_parts(parts) {
                *req.uri_mut() = u;
            }
        }
    }
    req.extensions_mut().insert(Requested(version));
    req
}

/// Refuses versions outside MIN..=MAX as dockerd does.
pub async fn check(req: Request, next: Next) -> Response {
    let requested = req.extensions().get::<Requested>().cloned();
    if let Some(Requested(v)) = requested {
        let err = match v {
            Err(text) => Some(format!("invalid API version: {text}")),
            Ok(v) if v > MAX => Some(format!(
                "client version {v} is too new. Maximum supported API version is {MAX}"
            )),
            Ok(v) if v < MIN => Some(format!(
                "client version {v} is too old. Minimum supported API version is {MIN}, please upgrade your client to a newer version"
            )),
            Ok(_) => None,
        };
        if let Some(e) = err {
            return ApiError::bad_request(e).into_response();
        }
    }
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if let Ok(v) = MAX.to_string().parse() {
        h.insert("api-version", v);
    }
    h.insert("ostype", axum::http::HeaderValue::from_static("linux"));
    h.insert(
        "server",
        axum::http::HeaderValue::from_static(concat!(
            "Docker/",
            env!("CARGO_PKG_VERSION"),
            " (linux)"
        )),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_stripped_and_kept() {
        let req = Request::builder()
            .uri("/v1.43/containers/json?all=1")
            .body(axum::body::Body::empty())
            .expect("request");
        let req = strip_prefix(req);
        assert_eq!(req.uri().path(), "/containers/json");
        assert_eq!(req.uri().query(), Some("all=1"));
        let v = req.extensions().get::<Requested>().map(|r| r.0.clone());
        assert_eq!(v, Some(Ok(ApiVersion(1, 43))));
        let plain = strip_prefix(
            Request::builder()
                .uri("/volumes")
                .body(axum::body::Body::empty())
                .expect("request"),
        );
        assert_eq!(plain.uri().path(), "/volumes");
    }

    #[test]
    fn versions_order() {
        assert!(ApiVersion(1, 9) < ApiVersion(1, 24));
        assert!(ApiVersion::parse("1.51").expect("v") > MAX);
        assert_eq!(ApiVersion::parse("x"), None);
    }
}
