//! berth's client of the Docker Engine API: one unix socket, API version
//! negotiated through `/_ping` as docker does, typed JSON in and out,
//! JSON message streams and hijacked attach/exec streams.

pub mod error;
pub mod hijack;
pub mod host;
pub mod http;
pub mod stdcopy;
pub mod stream;
pub mod tty;

use std::cell::OnceCell;
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::Serialize;

pub use error::{ClientError, Result};
use http::{Body, Request, Response};

/// The newest API version this client speaks; the daemon's own version is
/// used when it is older (docker's negotiation).
pub const MAX_API_VERSION: &str = "1.47";

pub struct Client {
    socket: PathBuf,
    label: String,
    version: OnceCell<String>,
    /// Extra headers on every request (X-Registry-Auth on pull/push).
    pub extra_headers: Vec<(String, String)>,
}

/// Query parameters, encoded by `encode_query`.
pub type Query<'a> = [(&'a str, String)];

impl Client {
    pub fn new(socket: PathBuf) -> Client {
        let label = format!("unix://{}", socket.display());
        Client {
            socket,
            label,
            version: OnceCell::new(),
            extra_headers: Vec::new(),
        }
    }

    /// The same daemon and negotiated version, with other extra headers.
    pub fn with_headers(&self, headers: Vec<(String, String)>) -> Client {
        let version = OnceCell::new();
        if let Some(v) = self.version.get() {
            let _ = version.set(v.clone());
        }
        Client {
            socket: self.socket.clone(),
            label: self.label.clone(),
            version,
            extra_headers: headers,
        }
    }

    pub fn host_label(&self) -> &str {
        &self.label
    }

    /// The API version used for every versioned path: `DOCKER_API_VERSION`
    /// if set, else min(ours, the daemon's from `/_ping`).
    pub fn api_version(&self) -> Result<&str> {
        if let Some(v) = self.version.get() {
            return Ok(v);
        }
        let v = match std::env::var("DOCKER_API_VERSION") {
            Ok(v) if !v.is_empty() => v,
            _ => {
                let resp = self.raw("GET", "/_ping".into(), Body::Empty, false)?;
                let status = resp.status;
                let server = resp.header("API-Version").map(str::to_owned);
                let body = resp.read_all()?;
                if !(200..300).contains(&status) {
                    return Err(daemon_error(status, &body));
                }
                match server {
                    Some(s) if version_less(&s, MAX_API_VERSION) => s,
                    _ => MAX_API_VERSION.to_owned(),
                }
            }
        };
        Ok(self.version.get_or_init(|| v))
    }

    /// The version negotiated so far, if any request was made.
    pub fn negotiated_version(&self) -> Option<&str> {
        self.version.get().map(String::as_str)
    }

    fn raw(&self, method: &str, target: String, body: Body, upgrade: bool) -> Result<Response> {
        http::send(
            &self.socket,
            &self.label,
            Request {
                method,
                target,
                headers: self.extra_headers.clone(),
                body,
                upgrade,
            },
        )
    }

    /// Send a request on a versioned path; non-2xx answers become
    /// `ClientError::Daemon` with the daemon's message.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        query: &Query<'_>,
        body: Body,
    ) -> Result<Response> {
        let target = format!("/v{}{}{}", self.api_version()?, path, encode_query(query));
        let resp = self.raw(method, target, body, false)?;
        check(resp)
    }

    /// Like `request`, but asks for the connection to be hijacked (attach,
    /// exec start): the body reader is then the raw stream.
    pub fn hijack(&self, path: &str, query: &Query<'_>, body: Body) -> Result<Response> {
        let target = format!("/v{}{}{}", self.api_version()?, path, encode_query(query));
        let resp = self.raw("POST", target, body, true)?;
        check(resp)
    }

    pub fn get_json<T: DeserializeOwned>(&self, path: &str, query: &Query<'_>) -> Result<T> {
        let body = self.request("GET", path, query, Body::Empty)?.read_all()?;
        Ok(serde_json::from_slice(&body)?)
    }

    pub fn post_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &Query<'_>,
        body: Option<&impl Serialize>,
    ) -> Result<T> {
        let body = self
            .request("POST", path, query, json_body(body)?)?
            .read_all()?;
        Ok(serde_json::from_slice(&body)?)
    }

    /// POST whose answer body is not needed (204s, or ignored JSON).
    pub fn post(&self, path: &str, query: &Query<'_>, body: Option<&impl Serialize>) -> Result<()> {
        self.request("POST", path, query, json_body(body)?)?
            .read_all()?;
        Ok(())
    }

    pub fn delete(&self, path: &str, query: &Query<'_>) -> Result<Vec<u8>> {
        self.request("DELETE", path, query, Body::Empty)?.read_all()
    }
}

/// No body to send: a typed `None` for `post`/`post_json`.
pub const NO_BODY: Option<&()> = None;

fn json_body(body: Option<&impl Serialize>) -> Result<Body> {
    Ok(match body {
        Some(b) => Body::Bytes(serde_json::to_vec(b)?, "application/json"),
        None => Body::Empty,
    })
}

fn check(resp: Response) -> Result<Response> {
    if (200..300).contains(&resp.status) || resp.status == 101 {
        return Ok(resp);
    }
    let status = resp.status;
    let body = resp.read_all().unwrap_or_default();
    Err(daemon_error(status, &body))
}

fn daemon_error(status: u16, body: &[u8]) -> ClientError {
    #[derive(serde::Deserialize)]
    struct Msg {
        message: String,
    }
    let message = match serde_json::from_slice::<Msg>(body) {
        Ok(m) => m.message,
        Err(_) => {
            let text = String::from_utf8_lossy(body).trim().to_owned();
            if text.is_empty() {
                format!("status {status}")
            } else {
                text
            }
        }
    };
    ClientError::Daemon { status, message }
}

/// `a.b` version strings compared numerically.
pub fn version_less(a: &str, b: &str) -> bool {
    let parse = |v: &str| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parse(a) < parse(b)
}

/// `?k=v&...` with values percent-encoded; empty query gives "".
pub fn encode_query(query: &Query<'_>) -> String {
    if query.is_empty() {
        return String::new();
    }
    let mut out = String::from("?");
    for (i, (k, v)) in query.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&percent_encode(k));
        out.push('=');
        out.push_str(&percent_encode(v));
    }
    out
}

pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        let q = [
            ("filters", r#"{"name":{"a b":true}}"#.to_owned()),
            ("all", "1".to_owned()),
        ];
        assert_eq!(
            encode_query(&q),
            "?filters=%7B%22name%22%3A%7B%22a%20b%22%3Atrue%7D%7D&all=1"
        );
        assert_eq!(encode_query(&[]), "");
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(version_less("1.9", "1.44"));
        assert!(version_less("1.41", "1.47"));
        assert!(!version_less("1.47", "1.47"));
        assert!(!version_less("1.50", "1.47"));
    }

    #[test]
    fn daemon_errors_carry_the_message() {
        let e = daemon_error(404, br#"{"message":"No such container: x"}"#);
        assert_eq!(
            e.to_string(),
            "Error response from daemon: No such container: x"
        );
        assert!(e.is_not_found());
        let e = daemon_error(500, b"");
        assert_eq!(e.to_string(), "Error response from daemon: status 500");
    }
}
