//! An HTTP client for one registry (OCI distribution spec): requests with
//! the token flow (a 401's challenge answered once per scope, tokens
//! cached), manifests, blob existence, streaming blob reads, and chunked
//! blob uploads with cross-repository mounts.
//!
//! Built on `ureq` (blocking): berth-image's API is synchronous and the
//! engine runs it on blocking threads, so an async stack (oci-client on
//! reqwest/tokio) would only add a runtime inside a thread pool; parallel
//! layer transfers are plain threads. TLS is rustls with the webpki roots,
//! or a registry's own CA (`/etc/docker/certs.d/<host>/ca.crt`, as docker).

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use ureq::http::{Response, StatusCode};

use super::auth::{parse_challenge, Challenge, Credentials};
use crate::digest::Digest;
use crate::error::{ImageError, Result};

/// Media types a pull accepts for a manifest.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// A client for one registry host.
pub struct Client {
    agent: ureq::Agent,
    /// `http://host:port` or `https://host`.
    base: String,
    /// The registry's name as in references (`127.0.0.1:5000`).
    pub host: String,
    creds: Option<Credentials>,
    tokens: Mutex<HashMap<String, String>>,
    /// Upload chunk size (PATCH bodies).
    pub chunk_size: usize,
}

enum Body<'a> {
    None,
    Bytes(&'a [u8]),
}

impl Client {
    /// A client for `host` (`docker.io` means `registry-1.docker.io`).
    /// HTTPS with the webpki roots, or only `ca_certs` (PEM files) when
    /// given; plain HTTP when `insecure` and no CA is given (as docker's
    /// `--insecure-registry` and loopback registries).
    pub fn new(
        host: &str,
        insecure: bool,
        creds: Option<Credentials>,
        ca_certs: &[PathBuf],
    ) -> Result<Client> {
        let api_host = if host == "docker.io" {
            "registry-1.docker.io"
        } else {
            host
        };
        let tls = !insecure || !ca_certs.is_empty();
        let mut roots = Vec::new();
        for p in ca_certs {
            let pem = std::fs::read(p).map_err(ImageError::io("reading CA certificate", p))?;
            for item in ureq::tls::parse_pem(&pem) {
                if let Ok(ureq::tls::PemItem::Certificate(c)) = item {
                    roots.push(c);
                }
            }
            if roots.is_empty() {
                return Err(ImageError::corrupt(
                    p.display().to_string(),
                    "no PEM certificate in it",
                ));
            }
        }
        let tls_config = if roots.is_empty() {
            ureq::tls::TlsConfig::builder().build()
        } else {
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(roots)))
                .build()
        };
        let loopback = is_loopback(api_host);
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_per_read(Some(Duration::from_secs(120)))
            // A proxy from the environment must not catch loopback traffic.
            .proxy(if loopback {
                None
            } else {
                ureq::Proxy::try_from_env()
            })
            .tls_config(tls_config)
            .max_redirects(5)
            .build();
        Ok(Client {
            agent: config.into(),
            base: format!("{}://{api_host}", if tls { "https" } else { "http" }),
            host: host.to_string(),
            creds,
            tokens: Mutex::new(HashMap::new()),
            chunk_size: 8 << 20,
        })
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    fn raw(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        auth: Option<&str>,
        body: &Body<'_>,
    ) -> Result<Response<ureq::Body>> {
        let err = |e: ureq::Error| ImageError::Registry {
            object: url.to_string(),
            status: None,
            reason: e.to_string(),
        };
        macro_rules! with_headers {
            ($b:expr) => {{
                let mut b = $b;
                for (k, v) in headers {
                    b = b.header(*k, v.as_str());
                }
                if let Some(a) = auth {
                    b = b.header("Authorization", a);
                }
                b
            }};
        }
        match method {
            "GET" => with_headers!(self.agent.get(url)).call().map_err(err),
            "HEAD" => with_headers!(self.agent.head(url)).call().map_err(err),
            "POST" | "PUT" | "PATCH" => {
                let b = match method {
                    "POST" => self.agent.post(url),
                    "PUT" => self.agent.put(url),
                    _ => self.agent.patch(url),
                };
                let b = with_headers!(b);
                match body {
                    Body::None => b.send(&[][..]).map_err(err),
                    Body::Bytes(bytes) => b.send(*bytes).map_err(err),
                }
            }
            other => Err(ImageError::Registry {
                object: url.to_string(),
                status: None,
                reason: format!("method {other} not used"),
            }),
        }
    }

    /// Sends a request with `scope`'s credentials, answering one 401.
    fn request(
        &self,
        method: &str,
        path: &str,
        scope: &str,
        headers: &[(&str, String)],
        body: Body<'_>,
    ) -> Result<Response<ureq::Body>> {
        let url = self.url(path);
        let cached = self.tokens.lock().ok().and_then(|t| t.get(scope).cloned());
        let resp = self.raw(method, &url, headers, cached.as_deref(), &body)?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let challenge = resp
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_challenge);
        let auth = match challenge {
            Some(Challenge::Basic) => match &self.creds {
                Some(c) => c.basic(),
                None => return Err(self.unauthorized(&url, "credentials required (berth login)")),
            },
            Some(Challenge::Bearer(params)) => self.token(&params, scope)?,
            None => return Err(self.unauthorized(&url, "401 without a usable challenge")),
        };
        if let Ok(mut t) = self.tokens.lock() {
            t.insert(scope.to_string(), auth.clone());
        }
        let resp = self.raw(method, &url, headers, Some(&auth), &body)?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            return Err(self.unauthorized(&url, "credentials refused"));
        }
        Ok(resp)
    }

    fn unauthorized(&self, url: &str, why: &str) -> ImageError {
        ImageError::Registry {
            object: url.to_string(),
            status: Some(401),
            reason: format!("unauthorized: {why}"),
        }
    }

    fn token(
        &self,
        params: &std::collections::BTreeMap<String, String>,
        scope: &str,
    ) -> Result<String> {
        let realm = &params["realm"];
        let mut url = format!("{realm}?scope={}", enc(scope));
        if let Some(s) = params.get("service") {
            url.push_str(&format!("&service={}", enc(s)));
        }
        let basic = self.creds.as_ref().map(Credentials::basic);
        let mut resp = self.raw("GET", &url, &[], basic.as_deref(), &Body::None)?;
        if !resp.status().is_success() {
            return Err(
                self.unauthorized(realm, &format!("token service answered {}", resp.status()))
            );
        }
        let bytes = read_small(&mut resp, realm)?;
        let v: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| ImageError::corrupt(realm.as_str(), e))?;
        let t = v["token"]
            .as_str()
            .or_else(|| v["access_token"].as_str())
            .ok_or_else(|| ImageError::corrupt(realm.as_str(), "token response without a token"))?;
        Ok(format!("Bearer {t}"))
    }

    /// Checks that the given credentials are accepted (for `login`).
    pub fn ping_authenticated(&self) -> Result<()> {
        let resp = self.request("GET", "/v2/", "registry:catalog:*", &[], Body::None)?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(status_error(&self.url("/v2/"), resp.status()))
        }
    }

    /// A manifest by tag or digest: (bytes, media type, digest).
    pub fn get_manifest(&self, repo: &str, reference: &str) -> Result<(Vec<u8>, String, Digest)> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let object = format!("{}/{repo}:{reference}", self.host);
        let mut resp = self.request(
            "GET",
            &path,
            &pull_scope(repo),
            &[("Accept", MANIFEST_ACCEPT.into())],
            Body::None,
        )?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Err(ImageError::NotFound(object));
        }
        if !resp.status().is_success() {
            return Err(status_error(&object, resp.status()));
        }
        let media_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(|s| s.split(';').next().unwrap_or(s).trim().to_string());
        let bytes = read_small(&mut resp, &object)?;
        let digest = Digest::of(&bytes);
        if let Some(named) = reference.strip_prefix("sha256:") {
            if named != digest.hex() {
                return Err(ImageError::corrupt(
                    object,
                    format!("manifest content has digest {digest}"),
                ));
            }
        }
        let from_body = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["mediaType"].as_str().map(str::to_string));
        let media_type = match (from_body, media_type) {
            (Some(b), _) => b,
            (None, Some(h)) if h != "application/json" => h,
            _ => "application/vnd.oci.image.manifest.v1+json".to_string(),
        };
        Ok((bytes, media_type, digest))
    }

    /// The v1 search API's answer for `query` (at most `limit` results):
    /// Docker Hub answers on index.docker.io, other registries on their
    /// own host. Sent without credentials, as docker's search is.
    pub fn search_v1(&self, query: &str, limit: usize) -> Result<Vec<u8>> {
        let base = if self.host == "docker.io" {
            "https://index.docker.io".to_owned()
        } else {
            self.base.clone()
        };
        let url = format!("{base}/v1/search?q={}&n={limit}", query_escape(query));
        let mut resp = self.raw("GET", &url, &[], None, &Body::None)?;
        if !resp.status().is_success() {
            return Err(status_error(&url, resp.status()));
        }
        read_small(&mut resp, &url)
    }

    /// Whether the registry has blob `d` in `repo`.
    pub fn blob_exists(&self, repo: &str, d: &Digest) -> Result<bool> {
        let path = format!("/v2/{repo}/blobs/{d}");
        let resp = self.request("HEAD", &path, &push_scope(repo), &[], Body::None)?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            s => Err(status_error(&format!("blob {d}"), s)),
        }
    }

    /// A reader over blob `d` (not yet verified: the caller's content
    /// store checks the digest).
    pub fn get_blob(&self, repo: &str, d: &Digest) -> Result<impl Read + Send + use<>> {
        let path = format!("/v2/{repo}/blobs/{d}");
        let resp = self.request("GET", &path, &pull_scope(repo), &[], Body::None)?;
        match resp.status() {
            s if s.is_success() => Ok(resp.into_body().into_reader()),
            StatusCode::NOT_FOUND => Err(ImageError::Missing {
                object: format!("blob {d}"),
                referenced_by: format!("{}/{repo}", self.host),
            }),
            s => Err(status_error(&format!("blob {d}"), s)),
        }
    }

    /// Uploads blob `d` from `r` in chunks; with `mount_from`, asks the
    /// registry to mount it from that repository first. Returns whether it
    /// was mounted rather than uploaded.
    pub fn push_blob(
        &self,
        repo: &str,
        d: &Digest,
        r: &mut dyn Read,
        mount_from: Option<&str>,
    ) -> Result<bool> {
        let scope = push_scope(repo);
        let object = format!("blob {d}");
        let start = match mount_from {
            Some(from) => format!("/v2/{repo}/blobs/uploads/?mount={d}&from={}", enc(from)),
            None => format!("/v2/{repo}/blobs/uploads/"),
        };
        let resp = self.request("POST", &start, &scope, &[], Body::None)?;
        if resp.status() == StatusCode::CREATED && mount_from.is_some() {
            return Ok(true);
        }
        if resp.status() != StatusCode::ACCEPTED {
            return Err(status_error(&object, resp.status()));
        }
        let mut location = self.location(&resp, &object)?;
        let mut offset = 0u64;
        let mut buf = vec![0u8; self.chunk_size];
        loop {
            let n = read_full(r, &mut buf).map_err(ImageError::io("reading", d.hex()))?;
            if n == 0 {
                break;
            }
            let headers = [
                ("Content-Type", "application/octet-stream".to_string()),
                (
                    "Content-Range",
                    format!("{offset}-{}", offset + n as u64 - 1),
                ),
            ];
            let resp =
                self.request("PATCH", &location, &scope, &headers, Body::Bytes(&buf[..n]))?;
            if resp.status() != StatusCode::ACCEPTED {
                return Err(status_error(&object, resp.status()));
            }
            location = self.location(&resp, &object)?;
            offset += n as u64;
        }
        let sep = if location.contains('?') { '&' } else { '?' };
        let done = format!("{location}{sep}digest={d}");
        let resp = self.request("PUT", &done, &scope, &[], Body::None)?;
        if resp.status() != StatusCode::CREATED {
            return Err(status_error(&object, resp.status()));
        }
        Ok(false)
    }

    /// Puts a manifest under `reference` (tag or digest); returns its digest.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        bytes: &[u8],
        media_type: &str,
    ) -> Result<Digest> {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let object = format!("{}/{repo}:{reference}", self.host);
        let resp = self.request(
            "PUT",
            &path,
            &push_scope(repo),
            &[("Content-Type", media_type.to_string())],
            Body::Bytes(bytes),
        )?;
        if resp.status() != StatusCode::CREATED {
            return Err(status_error(&object, resp.status()));
        }
        Ok(Digest::of(bytes))
    }

    fn location(&self, resp: &Response<ureq::Body>, object: &str) -> Result<String> {
        let loc = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ImageError::Registry {
                object: object.to_string(),
                status: Some(resp.status().as_u16()),
                reason: "upload answer without a Location".into(),
            })?;
        Ok(self.url(loc))
    }
}

fn pull_scope(repo: &str) -> String {
    format!("repository:{repo}:pull")
}

fn push_scope(repo: &str) -> String {
    format!("repository:{repo}:pull,push")
}

/// `s` percent-encoded for a query value.
fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn status_error(object: &str, s: StatusCode) -> ImageError {
    ImageError::Registry {
        object: object.to_string(),
        status: Some(s.as_u16()),
        reason: format!("registry answered {s}"),
    }
}

fn read_small(resp: &mut Response<ureq::Body>, object: &str) -> Result<Vec<u8>> {
    resp.body_mut()
        .with_config()
        .limit(16 << 20)
        .read_to_vec()
        .map_err(|e| ImageError::Registry {
            object: object.to_string(),
            status: None,
            reason: e.to_string(),
        })
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Percent-encodes a query value.
fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether a registry host is this machine (plain HTTP allowed, as docker does).
pub fn is_loopback(host: &str) -> bool {
    let name = host
        .strip_prefix('[')
        .and_then(|h| h.split_once(']').map(|(a, _)| a))
        .unwrap_or_else(|| host.rsplit_once(':').map_or(host, |(h, _)| h));
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
