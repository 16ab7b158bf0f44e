//! Pull and push through berth-image's registry client, with Docker's
//! JSON progress messages (`{"status","id","progressDetail"}`) sent to the
//! caller as they happen.

use std::sync::Arc;

use berth_image::progress::{Event as Progress, Phase, ProgressFn};
/// dockerd's search filters (`stars`, `is-official`, `is-automated`).
pub use berth_image::registry::search::SearchFilters;
/// A registry user and password (pulls, pushes, a build's FROM).
pub use berth_image::registry::Credentials;
use berth_image::registry::RegistryOptions;
use berth_image::ImageError;
use bollard_stubs::models::{
    DistributionInspect, ImageSearchResponseItem, OciDescriptor, OciPlatform,
};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::error::{EngineError, Result};
use crate::events::Event;
use crate::image_store::map_err;
use crate::Engine;

fn short(digest: &str) -> String {
    let hex = digest.trim_start_matches("sha256:");
    hex[..12.min(hex.len())].to_owned()
}

fn progress_message(e: &Progress) -> Value {
    let status = match e.phase {
        Phase::Download => "Downloading",
        Phase::Upload => "Pushing",
        Phase::Exists => "Layer already exists",
        Phase::Mounted => "Mounted from another repository",
        Phase::Unpack => "Extracting",
        Phase::Done => "Download complete",
    };
    let mut v = json!({ "status": status, "id": short(&e.digest) });
    if matches!(e.phase, Phase::Download | Phase::Upload | Phase::Unpack) {
        v["progressDetail"] = json!({ "current": e.current, "total": e.total.unwrap_or(0) });
    }
    v
}

/// The line a pull's progress starts with, as dockerd writes it: the tag
/// (else the digest) the reference names as `id` (`linux` for
/// `localhost:5000/hello-world:linux`, `latest` when it names neither)
/// and the repository's path on its registry. None for a reference that
/// does not parse (the pull then fails with its own error).
pub fn pull_started(reference: &str) -> Option<Value> {
    let r = berth_image::Reference::parse(reference).ok()?;
    let id = match (&r.tag, &r.digest) {
        (Some(t), _) => t.clone(),
        (None, Some(d)) => d.to_string(),
        (None, None) => "latest".to_owned(),
    };
    Some(json!({ "status": format!("Pulling from {}", r.path), "id": id }))
}

/// The registry host an AuthConfig's `serveraddress` names: docker.io for
/// none or Docker Hub's URLs, else the host of a URL or the name as given.
fn auth_host(server: &str) -> String {
    let s = server
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let s = s.split('/').next().unwrap_or("");
    match s {
        "" | "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".to_owned(),
        other => other.to_owned(),
    }
}

/// Registry errors with Docker's status codes.
fn registry_err(e: ImageError, reference: &str) -> EngineError {
    match e {
        e @ (ImageError::NoMatchingPlatform { .. } | ImageError::PlatformMismatch { .. }) => {
            EngineError::NotFound(e.to_string())
        }
        ImageError::NotFound(_) => EngineError::NotFound(format!(
            "pull access denied for {reference}, repository does not exist or may require 'docker login'"
        )),
        ImageError::Registry {
            status: Some(401) | Some(403),
            reason,
            ..
        } => EngineError::Invalid(format!("unauthorized: {reason}")),
        ImageError::Registry {
            status: Some(404),
            reason,
            ..
        } => EngineError::NotFound(reason),
        other => map_err(other),
    }
}

impl Engine {
    fn registry_options(
        &self,
        creds: Option<(String, String)>,
        tx: mpsc::UnboundedSender<Value>,
    ) -> RegistryOptions {
        RegistryOptions {
            insecure_registries: self.inner.cfg.insecure_registries.clone(),
            credentials: creds.map(|(username, password)| Credentials { username, password }),
            progress: Some(ProgressFn(Arc::new(move |e: &Progress| {
                let _ = tx.send(progress_message(e));
            }))),
            ..RegistryOptions::default()
        }
    }

    /// `POST /images/create?fromImage=[&platform=]`: progress messages go to `tx`; the
    /// result is the final status line.
    pub async fn image_pull(
        &self,
        reference: String,
        creds: Option<(String, String)>,
        platform: Option<String>,
        tx: mpsc::UnboundedSender<Value>,
    ) -> Result<String> {
        let mut opts = self.registry_options(creds, tx.clone());
        opts.platform = platform
            .filter(|p| !p.is_empty())
            .map(|p| {
                berth_image::platform::Platform::parse(&p)
                    .map_err(|e| EngineError::Invalid(e.to_string()))
            })
            .transpose()?;
        let r = reference.clone();
        let img = self
            .blocking_image(move |s| s.pull(&r, &opts).map_err(|e| registry_err(e, &r)))
            .await?;
        if let Some(d) = &img.manifest_digest {
            let _ = tx.send(json!({ "status": format!("Digest: {d}") }));
        }
        self.inner
            .events
            .publish(Event::new("image", "pull", &reference).attr("name", reference.clone()));
        Ok(format!("Status: Downloaded newer image for {reference}"))
    }

    /// `POST /images/{name}/push`.
    pub async fn image_push(
        &self,
        reference: String,
        creds: Option<(String, String)>,
        tx: mpsc::UnboundedSender<Value>,
    ) -> Result<String> {
        let opts = self.registry_options(creds, tx.clone());
        let _ =
            tx.send(json!({ "status": format!("The push refers to repository [{reference}]") }));
        let r = reference.clone();
        let report = self
            .blocking_image(move |s| s.push(&r, &opts).map_err(|e| registry_err(e, &r)))
            .await?;
        self.inner
            .events
            .publish(Event::new("image", "push", &reference).attr("name", reference.clone()));
        Ok(format!("{}: digest: {}", reference, report.digest))
    }

    /// `POST /auth`: checks `creds` against `server` (a host, a URL, or
    /// empty for Docker Hub); nothing is stored (the client keeps them).
    pub async fn registry_auth(&self, server: &str, creds: Credentials) -> Result<()> {
        let host = auth_host(server);
        let opts = RegistryOptions {
            insecure_registries: self.inner.cfg.insecure_registries.clone(),
            credentials: Some(creds),
            ..RegistryOptions::default()
        };
        let h = host.clone();
        let checked = tokio::task::spawn_blocking(move || opts.client(&h)?.ping_authenticated())
            .await
            .map_err(|e| EngineError::Internal(e.to_string()))?;
        match checked {
            Ok(()) => Ok(()),
            Err(ImageError::Registry {
                status: Some(401) | Some(403),
                ..
            }) => Err(EngineError::Unauthorized(format!(
                "login attempt to {host} failed: unauthorized: incorrect username or password"
            ))),
            Err(e) => Err(map_err(e)),
        }
    }

    /// `GET /images/search`: `term`'s registry searched (at most `limit`
    /// results), filtered as dockerd filters them.
    pub async fn image_search(
        &self,
        term: String,
        limit: usize,
        filters: SearchFilters,
    ) -> Result<Vec<ImageSearchResponseItem>> {
        let (tx, _) = mpsc::unbounded_channel();
        let opts = self.registry_options(None, tx);
        let found = tokio::task::spawn_blocking(move || {
            berth_image::registry::search::search(&term, limit, &filters, &opts).map_err(map_err)
        })
        .await
        .map_err(|e| EngineError::Internal(e.to_string()))??;
        Ok(found
            .into_iter()
            .map(|r| ImageSearchResponseItem {
                name: Some(r.name),
                description: Some(r.description),
                star_count: Some(r.star_count),
                is_official: Some(r.is_official),
                is_automated: Some(r.is_automated),
            })
            .collect())
    }

    /// `GET /distribution/{name}/json`: what the registry has for
    /// `reference` (its manifest's descriptor and platforms), nothing
    /// pulled.
    pub async fn image_distribution(
        &self,
        reference: String,
        creds: Option<(String, String)>,
    ) -> Result<DistributionInspect> {
        let (tx, _) = mpsc::unbounded_channel();
        let opts = self.registry_options(creds, tx);
        let r = reference.clone();
        let d = self
            .blocking_image(move |_| {
                berth_image::registry::distribution::inspect(&r, &opts)
                    .map_err(|e| registry_err(e, &r))
            })
            .await?;
        Ok(DistributionInspect {
            descriptor: OciDescriptor {
                media_type: Some(d.media_type),
                digest: Some(d.digest.to_string()),
                size: Some(i64::try_from(d.size).unwrap_or(i64::MAX)),
                ..Default::default()
            },
            platforms: d
                .platforms
                .into_iter()
                .map(|p| OciPlatform {
                    architecture: Some(p.architecture),
                    os: Some(p.os),
                    os_version: p.os_version,
                    os_features: (!p.os_features.is_empty()).then_some(p.os_features),
                    variant: p.variant,
                })
                .collect(),
        })
    }

    async fn blocking_image<T: Send + 'static>(
        &self,
        f: impl FnOnce(&berth_image::ImageStore) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let store =
            self.inner.image_store.clone().ok_or_else(|| {
                EngineError::NotImplemented("this daemon has no image store".into())
            })?;
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| EngineError::Internal(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_starts_with_the_tag_the_reference_names() {
        assert_eq!(
            pull_started("localhost:5000/hello-world:linux"),
            Some(json!({ "status": "Pulling from hello-world", "id": "linux" }))
        );
        assert_eq!(
            pull_started("busybox"),
            Some(json!({ "status": "Pulling from library/busybox", "id": "latest" }))
        );
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            pull_started(&format!("127.0.0.1:5000/x/y@{d}")),
            Some(json!({ "status": "Pulling from x/y", "id": d }))
        );
        assert_eq!(pull_started("Bad:Ref:"), None);
    }

    #[test]
    fn auth_names_the_registry_host() {
        assert_eq!(auth_host(""), "docker.io");
        assert_eq!(auth_host("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(auth_host("localhost:5000"), "localhost:5000");
        assert_eq!(auth_host("http://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
    }
}
