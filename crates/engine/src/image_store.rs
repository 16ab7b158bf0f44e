//! `berth-image`'s ImageStore behind the engine's [`Images`] seam, and
//! the image verbs of the API (load, list, inspect, tag, rmi, history),
//! translated into Docker's models and errors.

use std::collections::HashMap;

use berth_image::{ImageError, ImageStore, RemovedItem};
use bollard_stubs::models::{
    DriverData, ImageConfig, ImageDeleteResponseItem, ImageHistoryResponseItem, ImageInspect,
    ImageInspectRootFs, ImageSummary,
};

use crate::container::inspect::parse_time;
use crate::error::{EngineError, Result};
use crate::events::Event;
use crate::filters::Filters;
use crate::images::{ImageInfo, ImageRunConfig, Images};
use crate::Engine;

/// Docker's wording of image errors with its status codes.
pub fn map_err(e: ImageError) -> EngineError {
    match e {
        ImageError::NotFound(r) => EngineError::NotFound(format!("No such image: {r}")),
        ImageError::Ambiguous(r) => {
            EngineError::NotFound(format!("No such image: {r} (ambiguous id prefix)"))
        }
        e @ ImageError::InUse { .. } => EngineError::Conflict(e.to_string()),
        e @ ImageError::Conflict(_) => EngineError::Conflict(e.to_string()),
        e @ ImageError::InvalidReference(_) => EngineError::Invalid(e.to_string()),
        e @ ImageError::InvalidChange { .. } => EngineError::Invalid(e.to_string()),
        e @ ImageError::Unsafe { .. } => EngineError::Invalid(e.to_string()),
        e @ ImageError::Corrupt { .. } => EngineError::Invalid(e.to_string()),
        e @ ImageError::Missing { .. } => EngineError::Invalid(e.to_string()),
        e @ (ImageError::NoMatchingPlatform { .. } | ImageError::PlatformMismatch { .. }) => {
            EngineError::NotFound(e.to_string())
        }
        e => EngineError::Internal(e.to_string()),
    }
}

/// `busybox` -> `busybox:latest` (how Docker names a missing image).
fn with_tag(r: &str) -> String {
    let last = r.rsplit('/').next().unwrap_or(r);
    if r.contains('@') || last.contains(':') || r.starts_with("sha256:") {
        r.to_owned()
    } else {
        format!("{r}:latest")
    }
}

fn run_config(img: &berth_image::Image) -> ImageRunConfig {
    let Some(c) = img.config.config().as_ref() else {
        return ImageRunConfig::default();
    };
    ImageRunConfig {
        env: c.env().clone().unwrap_or_default(),
        cmd: c.cmd().clone().unwrap_or_default(),
        entrypoint: c.entrypoint().clone().unwrap_or_default(),
        working_dir: c.working_dir().clone().unwrap_or_default(),
        user: c.user().clone().unwrap_or_default(),
        volumes: c.volumes().clone().unwrap_or_default(),
        exposed_ports: c.exposed_ports().clone().unwrap_or_default(),
        labels: c.labels().clone().unwrap_or_default(),
        stop_signal: c.stop_signal().clone(),
        healthcheck: img
            .docker_config
            .healthcheck
            .as_ref()
            .and_then(|h| serde_json::to_value(h).ok())
            .and_then(|v| serde_json::from_value(v).ok()),
    }
}

impl Images for ImageStore {
    fn resolve(&self, reference: &str) -> Result<ImageInfo> {
        let img = ImageStore::resolve(self, reference).map_err(|e| match e {
            ImageError::NotFound(_) => {
                EngineError::NotFound(format!("No such image: {}", with_tag(reference)))
            }
            e => map_err(e),
        })?;
        let mut platform = format!("{}/{}", img.config.os(), img.config.architecture());
        if let Some(v) = img.config.variant() {
            platform.push('/');
            platform.push_str(v);
        }
        Ok(ImageInfo {
            id: img.id.clone(),
            config: run_config(&img),
            platform,
        })
    }
    fn create_rootfs(&self, container_id: &str, image_id: &str) -> Result<()> {
        ImageStore::create_rootfs(self, container_id, image_id)
            .map(|_| ())
            .map_err(map_err)
    }
    fn mount_rootfs(&self, container_id: &str) -> Result<std::path::PathBuf> {
        ImageStore::mount_rootfs(self, container_id).map_err(map_err)
    }
    fn unmount_rootfs(&self, container_id: &str) -> Result<()> {
        ImageStore::unmount_rootfs(self, container_id).map_err(map_err)
    }
    fn remove_rootfs(&self, container_id: &str) -> Result<()> {
        ImageStore::remove_rootfs(self, container_id).map_err(map_err)
    }
    fn rootfs_ids(&self) -> Result<Vec<String>> {
        ImageStore::rootfs_ids(self).map_err(map_err)
    }
    fn count(&self) -> usize {
        self.list().map(|l| l.len()).unwrap_or(0)
    }
}

fn secs(t: &str) -> i64 {
    parse_time(t).map(|(s, _)| s).unwrap_or(0)
}

impl Engine {
    fn store(&self) -> Result<&ImageStore> {
        self.inner
            .image_store
            .as_ref()
            .ok_or_else(|| EngineError::NotImplemented("this daemon has no image store".into()))
    }

    /// Runs a blocking image operation off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine, &ImageStore) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let engine = self.clone();
        tokio::task::spawn_blocking(move || {
            let store = engine.store()?.clone();
            f(&engine, &store)
        })
        .await
        .map_err(|e| EngineError::Internal(e.to_string()))?
    }

    fn image_in_use(&self, id: &str) -> bool {
        self.list_records().iter().any(|r| r.image_id == id)
    }

    /// `POST /images/load`: "Loaded image: ..." lines as docker prints them.
    pub async fn image_load(&self, archive: Box<dyn std::io::Read + Send>) -> Result<Vec<String>> {
        self.blocking(move |e, s| {
            let loaded = s.load(archive).map_err(map_err)?;
            let mut lines = Vec::new();
            for l in loaded {
                e.inner.events.publish(Event::new("image", "load", &l.id));
                if l.repo_tags.is_empty() {
                    lines.push(format!("Loaded image ID: {}", l.id));
                }
                for t in l.repo_tags {
                    lines.push(format!("Loaded image: {t}"));
                }
            }
            Ok(lines)
        })
        .await
    }

    /// `GET /images/json`.
    pub async fn image_list(&self, all: bool, filters: Filters) -> Result<Vec<ImageSummary>> {
        filters.check_keys(&["dangling", "label", "reference", "before", "since", "until"])?;
        self.blocking(move |e, s| {
            let mut out = Vec::new();
            let images = s.list().map_err(map_err)?;
            let parents: std::collections::HashSet<String> =
                images.iter().map(|i| i.parent.clone()).collect();
            for img in images {
                let labels = run_config(&img).labels;
                let untagged = img.repo_tags.is_empty() && img.repo_digests.is_empty();
                let has_children = parents.contains(&img.id);
                // A build's step images (untagged parents of another
                // image) show only with `all`, as dockerd lists them.
                if untagged && has_children && !all {
                    continue;
                }
                // dangling=true: untagged heads; dangling=false: tagged only.
                let dangling = img.repo_tags.is_empty() && !has_children;
                let keep = filters.any("dangling", |d| {
                    if d == "true" || d == "1" {
                        dangling
                    } else {
                        !img.repo_tags.is_empty()
                    }
                }) && filters.labels_match("label", &labels)
                    && filters.any("reference", |r| {
                        img.repo_tags.iter().any(|t| {
                            t == r
                                || t.split(':').next() == Some(r)
                                || t.starts_with(&format!("{r}:"))
                        })
                    });
                if !keep {
                    continue;
                }
                let users = e
                    .list_records()
                    .iter()
                    .filter(|r| r.image_id == img.id)
                    .count();
                out.push(ImageSummary {
                    id: img.id.clone(),
                    parent_id: img.parent.clone(),
                    repo_tags: img.repo_tags.clone(),
                    repo_digests: img.repo_digests.clone(),
                    created: secs(&img.created),
                    size: img.size as i64,
                    shared_size: -1,
                    labels,
                    containers: users as i64,
                    manifests: None,
                    descriptor: None,
                });
            }
            out.sort_by_key(|i| std::cmp::Reverse(i.created));
            Ok(out)
        })
        .await
    }

    /// `GET /images/{name}/json`.
    /// The image's parent id (`commit`ed images; "" otherwise): the
    /// `Parent` of image inspect below API 1.52, which bollard-stubs'
    /// newer model no longer carries.
    pub async fn image_parent(&self, reference: String) -> Result<String> {
        self.blocking(move |_, s| {
            s.resolve(&reference)
                .map(|img| img.parent)
                .map_err(|e| match e {
                    ImageError::NotFound(_) => {
                        EngineError::NotFound(format!("No such image: {reference}"))
                    }
                    e => map_err(e),
                })
        })
        .await
    }

    pub async fn image_inspect(&self, reference: String) -> Result<ImageInspect> {
        self.blocking(move |_, s| {
            let img = s.resolve(&reference).map_err(|e| match e {
                ImageError::NotFound(_) => {
                    EngineError::NotFound(format!("No such image: {reference}"))
                }
                e => map_err(e),
            })?;
            let rc = run_config(&img);
            let cfg = &img.config;
            Ok(ImageInspect {
                id: Some(img.id.clone()),
                repo_tags: Some(img.repo_tags.clone()),
                repo_digests: Some(img.repo_digests.clone()),
                comment: Some(String::new()),
                created: Some(img.created.clone()),
                author: Some(cfg.author().clone().unwrap_or_default()),
                config: Some(ImageConfig {
                    user: Some(rc.user),
                    exposed_ports: Some(rc.exposed_ports).filter(|p| !p.is_empty()),
                    env: Some(rc.env),
                    cmd: Some(rc.cmd),
                    healthcheck: rc.healthcheck,
                    args_escaped: img.docker_config.args_escaped,
                    volumes: Some(rc.volumes).filter(|v| !v.is_empty()),
                    working_dir: Some(rc.working_dir),
                    entrypoint: Some(rc.entrypoint).filter(|e| !e.is_empty()),
                    on_build: img.docker_config.on_build.clone(),
                    labels: Some(rc.labels),
                    stop_signal: rc.stop_signal,
                    shell: img.docker_config.shell.clone(),
                }),
                architecture: Some(cfg.architecture().to_string()),
                variant: cfg.variant().clone(),
                os: Some(cfg.os().to_string()),
                os_version: cfg.os_version().clone(),
                size: Some(img.size as i64),
                graph_driver: Some(DriverData {
                    name: "overlay2".into(),
                    data: HashMap::new(),
                }),
                root_fs: Some(ImageInspectRootFs {
                    typ: "layers".into(),
                    layers: Some(img.layers.clone()),
                }),
                metadata: None,
                descriptor: None,
                manifests: None,
                identity: None,
            })
        })
        .await
    }

    /// `POST /images/{name}/tag`.
    pub async fn image_tag(&self, source: String, repo: String, tag: Option<String>) -> Result<()> {
        if repo.is_empty() {
            return Err(EngineError::Invalid(
                "repository name must have at least one component".into(),
            ));
        }
        let target = match tag.filter(|t| !t.is_empty()) {
            Some(t) => format!("{repo}:{t}"),
            None => repo,
        };
        self.blocking(move |e, s| {
            s.tag(&source, &target).map_err(map_err)?;
            let id = s.resolve(&target).map(|i| i.id).unwrap_or_default();
            e.inner
                .events
                .publish(Event::new("image", "tag", &id).attr("name", target.clone()));
            Ok(())
        })
        .await
    }

    /// `DELETE /images/{name}`.
    pub async fn image_remove(
        &self,
        reference: String,
        force: bool,
        prune: bool,
    ) -> Result<Vec<ImageDeleteResponseItem>> {
        self.blocking(move |e, s| {
            let in_use = |id: &str| e.image_in_use(id);
            let removed = s.remove(&reference, force, prune, &in_use).map_err(|err| match err {
                ImageError::NotFound(_) => EngineError::NotFound(format!("No such image: {reference}")),
                ImageError::InUse { image } => {
                    let user = e
                        .list_records()
                        .into_iter()
                        .find(|r| r.image_id == image)
                        .map(|r| r.short_id().to_owned())
                        .unwrap_or_default();
                    EngineError::Conflict(format!(
                        "conflict: unable to remove repository reference \"{reference}\" (must force) - container {user} is using its referenced image {}",
                        &image.trim_start_matches("sha256:")[..12.min(image.len())]
                    ))
                }
                other => map_err(other),
            })?;
            Ok(removed
                .into_iter()
                .map(|r| match r {
                    RemovedItem::Untagged(t) => {
                        e.inner.events.publish(Event::new("image", "untag", &t));
                        ImageDeleteResponseItem { untagged: Some(t), deleted: None }
                    }
                    RemovedItem::Deleted(id) => {
                        e.inner.events.publish(Event::new("image", "delete", &id));
                        ImageDeleteResponseItem { untagged: None, deleted: Some(id) }
                    }
                })
                .collect())
        })
        .await
    }

    /// `GET /images/{name}/history`.
    pub async fn image_history(&self, reference: String) -> Result<Vec<ImageHistoryResponseItem>> {
        self.blocking(move |_, s| {
            Ok(s.history(&reference)
                .map_err(map_err)?
                .into_iter()
                .map(|h| ImageHistoryResponseItem {
                    id: h.id,
                    created: secs(&h.created),
                    created_by: h.created_by,
                    tags: h.tags,
                    size: h.size as i64,
                    comment: h.comment,
                })
                .collect())
        })
        .await
    }
}

/// Docker's change kinds in `/containers/{id}/changes`: 0 modified, 1 added, 2 deleted.
/// What start puts in every rootfs (mount points for /proc, /sys, /dev and
/// the bind-mounted /etc files). dockerd keeps these in a per-container
/// "init" layer below the container's own, so its diff never shows them.
const INIT_PATHS: &[&str] = &[
    "/dev/pts",
    "/dev/shm",
    "/dev/console",
    "/dev/mqueue",
    "/proc",
    "/sys",
    "/.dockerenv",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/hostname",
    "/etc/mtab",
];

/// `changes` without the init paths (added ones) and without /dev or /etc
/// when those were touched only by them.
fn without_init_paths(changes: Vec<berth_image::Change>) -> Vec<berth_image::Change> {
    let init = |c: &berth_image::Change| {
        c.kind == berth_image::ChangeKind::Added
            && INIT_PATHS
                .iter()
                .any(|p| c.path == *p || c.path.strip_prefix(p).is_some_and(|r| r.starts_with('/')))
    };
    let kept: Vec<_> = changes.into_iter().filter(|c| !init(c)).collect();
    let has_child = |dir: &str| {
        kept.iter()
            .any(|c| c.path.strip_prefix(dir).is_some_and(|r| r.starts_with('/')))
    };
    let lone_parent: Vec<bool> = kept
        .iter()
        .map(|c| (c.path == "/dev" || c.path == "/etc") && !has_child(&c.path))
        .collect();
    kept.into_iter()
        .zip(lone_parent)
        .filter(|(c, lone)| !(*lone && c.kind != berth_image::ChangeKind::Deleted))
        .map(|(c, _)| c)
        .collect()
}

fn change_kind(k: berth_image::ChangeKind) -> i64 {
    match k {
        berth_image::ChangeKind::Changed => 0,
        berth_image::ChangeKind::Added => 1,
        berth_image::ChangeKind::Deleted => 2,
    }
}

impl Engine {
    /// `GET /images/get` and `/images/{name}/get`: checks every name, then
    /// writes the docker-archive to `out` on a blocking thread.
    pub async fn image_save(
        &self,
        names: Vec<String>,
        out: Box<dyn std::io::Write + Send>,
    ) -> Result<tokio::task::JoinHandle<Result<()>>> {
        let store = self.store()?.clone();
        for n in &names {
            let s = store.clone();
            let n2 = n.clone();
            tokio::task::spawn_blocking(move || s.resolve(&n2))
                .await
                .map_err(|e| EngineError::Internal(e.to_string()))?
                .map_err(|_| EngineError::NotFound(format!("No such image: {n}")))?;
        }
        Ok(tokio::task::spawn_blocking(move || {
            store
                .save(&names, berth_image::ArchiveFormat::DockerArchive, out)
                .map_err(map_err)
        }))
    }

    /// `POST /images/prune`: (deleted items, bytes reclaimed).
    pub async fn image_prune(
        &self,
        dangling_only: bool,
    ) -> Result<(Vec<ImageDeleteResponseItem>, u64)> {
        self.blocking(move |e, s| {
            let in_use = |id: &str| e.image_in_use(id);
            let report = s.prune(dangling_only, &in_use).map_err(map_err)?;
            let items = report
                .removed
                .into_iter()
                .map(|r| match r {
                    RemovedItem::Untagged(t) => ImageDeleteResponseItem {
                        untagged: Some(t),
                        deleted: None,
                    },
                    RemovedItem::Deleted(id) => ImageDeleteResponseItem {
                        untagged: None,
                        deleted: Some(id),
                    },
                })
                .collect();
            Ok((items, report.space_reclaimed))
        })
        .await
    }

    /// `GET /containers/{id}/changes`: `[{"Path", "Kind"}]`.
    pub async fn container_changes(&self, name: &str) -> Result<Vec<serde_json::Value>> {
        let id = self.lookup(name)?.id();
        self.blocking(move |_, s| {
            let changes = s.diff(&id).map_err(map_err)?;
            Ok(without_init_paths(changes)
                .into_iter()
                .map(|c| serde_json::json!({ "Path": c.path, "Kind": change_kind(c.kind) }))
                .collect())
        })
        .await
    }

    /// `GET /containers/{id}/export`: the rootfs as a tar to `out`.
    pub async fn container_export(
        &self,
        name: &str,
        out: Box<dyn std::io::Write + Send>,
    ) -> Result<tokio::task::JoinHandle<Result<()>>> {
        let id = self.lookup(name)?.id();
        let store = self.store()?.clone();
        Ok(tokio::task::spawn_blocking(move || {
            store.export(&id, out).map_err(map_err)
        }))
    }

    /// `POST /commit`: a new image from the container's changes.
    pub async fn commit(
        &self,
        name: &str,
        reference: Option<String>,
        author: Option<String>,
        comment: Option<String>,
        changes: Vec<String>,
    ) -> Result<String> {
        let rec = self.lookup(name)?.record();
        self.blocking(move |e, s| {
            let patch = berth_image::ImageConfigPatch {
                author,
                comment,
                changes,
                config: None,
            };
            let img = s
                .commit(&rec.id, patch, reference.as_deref())
                .map_err(map_err)?;
            e.inner
                .events
                .publish(Event::new("container", "commit", &rec.id).attr("name", rec.name.clone()));
            Ok(img.id)
        })
        .await
    }
}

impl Engine {
    /// `POST /images/create?fromSrc=-`: a rootfs tar as a one-layer image.
    pub async fn image_import(
        &self,
        tar: Box<dyn std::io::Read + Send>,
        reference: Option<String>,
        changes: Vec<String>,
    ) -> Result<String> {
        self.blocking(move |e, s| {
            let img = s
                .import(tar, reference.as_deref(), &changes)
                .map_err(map_err)?;
            e.inner
                .events
                .publish(Event::new("image", "import", &img.id));
            Ok(img.id)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_image::{Change, ChangeKind};

    fn ch(path: &str, kind: ChangeKind) -> Change {
        Change {
            path: path.into(),
            kind,
        }
    }

    #[test]
    fn diff_leaves_out_what_start_put_in_the_rootfs() {
        let all = vec![
            ch("/dev", ChangeKind::Added),
            ch("/dev/pts", ChangeKind::Added),
            ch("/etc", ChangeKind::Changed),
            ch("/etc/hostname", ChangeKind::Added),
            ch("/etc/hosts", ChangeKind::Added),
            ch("/proc", ChangeKind::Added),
            ch("/test", ChangeKind::Added),
        ];
        let kept: Vec<_> = without_init_paths(all)
            .into_iter()
            .map(|c| c.path)
            .collect();
        assert_eq!(kept, vec!["/test"]);
        // A change of the container's own under /etc keeps /etc.
        let all = vec![
            ch("/etc", ChangeKind::Changed),
            ch("/etc/hosts", ChangeKind::Added),
            ch("/etc/motd", ChangeKind::Added),
            ch("/etc/hosts.allow", ChangeKind::Added),
        ];
        let kept: Vec<_> = without_init_paths(all)
            .into_iter()
            .map(|c| c.path)
            .collect();
        assert_eq!(kept, vec!["/etc", "/etc/motd", "/etc/hosts.allow"]);
    }
}
