//! Pull and push through berth-image's registry client, with Docker's
//! JSON progress messages (`{"status","id","progressDetail"}`) sent to the
//! caller as they happen.

use std::sync::Arc;

use berth_image::progress::{Event as Progress, Phase, ProgressFn};
use berth_image::registry::{Credentials, RegistryOptions};
use berth_image::ImageError;
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
