//! `create`: check the request, merge the image's defaults into the
//! config, resolve mounts, prepare the rootfs, record the container.

use bollard_stubs::models::{
    ContainerConfig, ContainerCreateBody, HostConfig, RestartPolicyNameEnum,
};

use super::record::{ContainerRecord, RunState};
use super::Entry;
use crate::error::{EngineError, Result};
use crate::events::Event;
use crate::images::ImageInfo;
use crate::network::NetworkMode;
use crate::{ids, lock, Engine};

/// What `create` returns (Docker's ContainerCreateResponse).
#[derive(Debug, Clone)]
pub struct Created {
    pub id: String,
    pub warnings: Vec<String>,
}

/// Sets KEY=VALUE in `env`, replacing KEY.
fn merge_env(base: &[String], over: &[String]) -> Vec<String> {
    let mut env: Vec<String> = base.to_vec();
    for kv in over {
        let key = kv.split('=').next().unwrap_or("");
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    env
}

/// The config as inspect shows it: the request with the image's defaults.
fn merged_config(body: &ContainerCreateBody, image: &ImageInfo) -> Result<ContainerConfig> {
    let v = serde_json::to_value(body)
        .map_err(|e| EngineError::Invalid(format!("invalid container config: {e}")))?;
    let mut cfg: ContainerConfig = serde_json::from_value(v)
        .map_err(|e| EngineError::Invalid(format!("invalid container config: {e}")))?;
    let ic = &image.config;
    cfg.env = Some(merge_env(&ic.env, cfg.env.as_deref().unwrap_or(&[])));
    let entry_given = cfg.entrypoint.as_ref().is_some_and(|e| !e.is_empty());
    if cfg.entrypoint.is_none() {
        cfg.entrypoint = Some(ic.entrypoint.clone()).filter(|e| !e.is_empty());
    }
    if cfg.cmd.as_ref().is_none_or(|c| c.is_empty()) && !entry_given {
        cfg.cmd = Some(ic.cmd.clone()).filter(|c| !c.is_empty());
    }
    if cfg.working_dir.as_ref().is_none_or(|w| w.is_empty()) {
        cfg.working_dir = Some(ic.working_dir.clone());
    }
    if cfg.user.as_ref().is_none_or(|u| u.is_empty()) {
        cfg.user = Some(ic.user.clone());
    }
    let mut labels = ic.labels.clone();
    labels.extend(cfg.labels.clone().unwrap_or_default());
    cfg.labels = Some(labels);
    cfg.healthcheck = super::health::merge(cfg.healthcheck.take(), ic.healthcheck.clone());
    if cfg.stop_signal.is_none() {
        cfg.stop_signal = ic.stop_signal.clone();
    }
    let mut volumes: Vec<String> = ic.volumes.clone();
    for v in cfg.volumes.iter().flatten() {
        if !volumes.contains(v) {
            volumes.push(v.clone());
        }
    }
    cfg.volumes = Some(volumes).filter(|v| !v.is_empty());
    let mut ports: Vec<String> = ic.exposed_ports.clone();
    for p in cfg.exposed_ports.iter().flatten() {
        if !ports.contains(p) {
            ports.push(p.clone());
        }
    }
    cfg.exposed_ports = Some(ports).filter(|p| !p.is_empty());
    cfg.hostname = Some(cfg.hostname.clone().unwrap_or_default());
    cfg.domainname = Some(cfg.domainname.clone().unwrap_or_default());
    for b in [
        &mut cfg.attach_stdin,
        &mut cfg.attach_stdout,
        &mut cfg.attach_stderr,
        &mut cfg.tty,
        &mut cfg.open_stdin,
        &mut cfg.stdin_once,
    ] {
        b.get_or_insert(false);
    }
    Ok(cfg)
}

fn check_host_config(hc: &HostConfig) -> Result<()> {
    if hc
        .log_config
        .as_ref()
        .and_then(|l| l.typ.as_deref())
        .is_some_and(|t| !matches!(t, "" | "json-file" | "none"))
    {
        return Err(EngineError::Invalid(format!(
            "logger: no log driver named '{}' is registered",
            hc.log_config
                .as_ref()
                .and_then(|l| l.typ.clone())
                .unwrap_or_default()
        )));
    }
    let policy = hc.restart_policy.as_ref().and_then(|p| p.name);
    let restarts = !matches!(
        policy,
        None | Some(RestartPolicyNameEnum::NO) | Some(RestartPolicyNameEnum::EMPTY)
    );
    if hc.auto_remove.unwrap_or(false) && restarts {
        return Err(EngineError::Invalid(
            "conflicting options: cannot specify both --restart and --rm".into(),
        ));
    }
    if let Some(p) = &hc.restart_policy {
        let retries = p.maximum_retry_count.unwrap_or(0);
        if retries < 0 {
            return Err(EngineError::Invalid(
                "invalid restart policy: maximum retry count cannot be negative".into(),
            ));
        }
        if retries > 0 && policy != Some(RestartPolicyNameEnum::ON_FAILURE) {
            return Err(EngineError::Invalid(
                "invalid restart policy: maximum retry count can only be used with 'on-failure'"
                    .into(),
            ));
        }
    }
    if hc.memory.is_some_and(|m| m > 0 && m < 6 * 1024 * 1024) {
        return Err(EngineError::Invalid(
            "Minimum memory limit allowed is 6MB".into(),
        ));
    }
    for (k, _) in hc.sysctls.iter().flatten() {
        if !(k.starts_with("net.") || k.starts_with("kernel.") || k.starts_with("fs.mqueue.")) {
            return Err(EngineError::Invalid(format!("sysctl '{k}' is not allowed")));
        }
    }
    for d in hc.devices.iter().flatten() {
        super::spec::host_device(d)?;
    }
    for (flag, mode, allowed) in [
        (
            "--pid",
            hc.pid_mode.as_deref(),
            &["", "host", "private"][..],
        ),
        (
            "--ipc",
            hc.ipc_mode.as_deref(),
            &["", "none", "host", "private", "shareable"][..],
        ),
        ("--uts", hc.uts_mode.as_deref(), &["", "host"][..]),
    ] {
        let joins = flag != "--uts" && mode.is_some_and(|m| m.starts_with("container:"));
        if let Some(m) = mode.filter(|m| !allowed.contains(m) && !joins) {
            return Err(EngineError::Invalid(format!("invalid {flag} mode: {m}")));
        }
    }
    let caps = super::spec::capabilities(
        hc.privileged.unwrap_or(false),
        hc.cap_add.as_deref().unwrap_or(&[]),
        hc.cap_drop.as_deref().unwrap_or(&[]),
    )?;
    super::seccomp::for_container(
        hc.security_opt.as_deref().unwrap_or(&[]),
        hc.privileged.unwrap_or(false),
        &caps,
    )?;
    super::spec::capabilities(
        hc.privileged.unwrap_or(false),
        hc.cap_add.as_deref().unwrap_or(&[]),
        hc.cap_drop.as_deref().unwrap_or(&[]),
    )?;
    Ok(())
}

impl Engine {
    /// `POST /containers/create`.
    pub async fn create(&self, name: Option<&str>, body: ContainerCreateBody) -> Result<Created> {
        self.create_for_platform(name, body, None).await
    }

    /// `POST /containers/create?platform=os/arch[/variant]`: as [`Self::create`],
    /// and the image must be for that platform (dockerd's 404 then makes
    /// the docker CLI pull the platform's image and try again).
    pub async fn create_for_platform(
        &self,
        name: Option<&str>,
        body: ContainerCreateBody,
        platform: Option<&str>,
    ) -> Result<Created> {
        let wanted = platform
            .filter(|p| !p.is_empty())
            .map(|p| {
                berth_image::platform::Platform::parse(p)
                    .map_err(|e| EngineError::Invalid(e.to_string()))
            })
            .transpose()?;
        let image_ref = body
            .image
            .clone()
            .filter(|i| !i.is_empty())
            .ok_or_else(|| EngineError::Invalid("config.Image must be specified".into()))?;
        let mut hc = body.host_config.clone().unwrap_or_default();
        check_host_config(&hc)?;
        // Unknown runtimes are refused here; the default is recorded, as
        // dockerd's inspect shows it.
        let runtime = hc.runtime.clone().unwrap_or_default();
        if let berth_runtime::Driver::Oci(cli) = self.inner.cfg.runtime_driver(&runtime)? {
            if which(&cli.path).is_none() {
                return Err(EngineError::Invalid(format!(
                    "error while looking up the specified runtime path: exec: \"{}\": executable file not found in $PATH",
                    cli.path.display()
                )));
            }
        }
        if runtime.is_empty() {
            hc.runtime = Some(self.inner.cfg.default_runtime.clone());
        }
        super::health::check(body.healthcheck.as_ref())?;
        // As dockerd would at start, but before anything is made: an
        // `--init` this daemon cannot honour creates nothing.
        if super::init::wanted(hc.init, self.inner.cfg.init_default) {
            self.inner.cfg.init_binary()?;
        }
        let mode = NetworkMode::parse(hc.network_mode.as_deref().unwrap_or("default"))?;
        let mode = match mode {
            // As dockerd: an unknown network fails the start, not the create
            // (the docker CLI would take a 404 here for a missing image).
            NetworkMode::Network(n) => {
                NetworkMode::Network(crate::network::known_network(self, &n).unwrap_or(n))
            }
            m => m,
        };
        crate::network::PortSpec::from_bindings(hc.port_bindings.as_ref())?;
        let mut networks = std::collections::BTreeMap::new();
        if let NetworkMode::Network(primary) = &mode {
            let asked = body
                .networking_config
                .as_ref()
                .and_then(|c| c.endpoints_config.clone())
                .unwrap_or_default();
            for (n, settings) in asked {
                let n = if n == "default" {
                    "bridge".to_owned()
                } else {
                    n
                };
                let n = crate::network::known_network(self, &n).unwrap_or(n);
                self.check_endpoint(&n, &settings)?;
                networks.insert(n, settings);
            }
            networks.entry(primary.clone()).or_default();
        }
        // `--network container:X` is looked up at start, as dockerd does (a
        // 404 here would make the docker CLI try to pull the image); a
        // `--pid`/`--ipc` donor must exist now.
        for m in [hc.pid_mode.as_deref(), hc.ipc_mode.as_deref()]
            .into_iter()
            .flatten()
        {
            if let Some(donor) = m.strip_prefix("container:") {
                self.lookup(donor)?;
            }
        }
        hc.network_mode = Some(match &mode {
            NetworkMode::Network(n) if n == "bridge" => "bridge".into(),
            m => m.name(),
        });
        let engine = self.clone();
        let r = image_ref.clone();
        let image = tokio::task::spawn_blocking(move || engine.inner.images.resolve(&r))
            .await
            .map_err(|e| EngineError::Internal(e.to_string()))??;
        if let Some(w) = &wanted {
            if !platform_matches(w, &image.platform) {
                return Err(EngineError::NotFound(
                    berth_image::ImageError::PlatformMismatch {
                        reference: image_ref.clone(),
                        wanted: w.to_string(),
                        actual: image.platform.clone(),
                    }
                    .to_string(),
                ));
            }
        }
        let config = merged_config(&body, &image)?;
        let mut command: Vec<String> = config.entrypoint.clone().unwrap_or_default();
        command.extend(config.cmd.clone().unwrap_or_default());
        if command.is_empty() {
            return Err(EngineError::Invalid("No command specified".into()));
        }

        let _names = self.inner.names.lock().await;
        let id = ids::new_id()?;
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                let n = n.strip_prefix('/').unwrap_or(n);
                if !ids::valid_name(n) {
                    return Err(EngineError::Invalid(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                if let Some(other) = self.id_by_name(n) {
                    return Err(EngineError::Conflict(format!(
                        "Conflict. The container name \"/{n}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                    )));
                }
                n.to_owned()
            }
            None => (0..)
                .map(|i| ids::generated_name(&id, i))
                .find(|n| self.id_by_name(n).is_none())
                .unwrap_or_else(|| id[..12].to_owned()),
        };
        let links = self.register_links(&name, &mode, hc.links.as_deref().unwrap_or(&[]))?;
        let mounts = self.resolve_mounts(&hc, config.volumes.as_deref().unwrap_or(&[]))?;
        let restart = hc.restart_policy.get_or_insert_with(Default::default);
        restart.name.get_or_insert(RestartPolicyNameEnum::NO);
        restart.maximum_retry_count.get_or_insert(0);
        let log = hc
            .log_config
            .get_or_insert_with(|| bollard_stubs::models::HostConfigLogConfig {
                typ: None,
                config: Some(Default::default()),
            });
        // The CLI sends an empty type for the daemon's default.
        if log.typ.as_ref().is_none_or(|t| t.is_empty()) {
            log.typ = Some("json-file".into());
        }
        log.config.get_or_insert_with(Default::default);
        let rec = ContainerRecord {
            id: id.clone(),
            name: name.clone(),
            created: berth_runtime::state::time::now_rfc3339(),
            image: image_ref.clone(),
            image_id: image.id.clone(),
            path: command[0].clone(),
            args: command[1..].to_vec(),
            config,
            host_config: hc,
            state: RunState {
                finished_at: "0001-01-01T00:00:00Z".into(),
                started_at: "0001-01-01T00:00:00Z".into(),
                ..RunState::default()
            },
            restart_count: 0,
            mounts,
            endpoints: Default::default(),
            netns: None,
            networks,
            links,
        };
        let dir = self.inner.cfg.container_dir(&id);
        std::fs::create_dir_all(&dir)
            .map_err(EngineError::io(format!("creating {}", dir.display())))?;
        // As in dockerd's init layer, a container that never ran already
        // has empty /etc/hostname, hosts and resolv.conf (archive reads
        // find them); start fills them.
        for f in ["hostname", "hosts", "resolv.conf"] {
            if let Err(e) = std::fs::write(dir.join(f), b"") {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(EngineError::io(format!("writing {f}"))(e));
            }
        }
        let engine = self.clone();
        let (cid, iid) = (id.clone(), image.id.clone());
        let made =
            tokio::task::spawn_blocking(move || engine.inner.images.create_rootfs(&cid, &iid))
                .await
                .map_err(|e| EngineError::Internal(e.to_string()))?;
        if made.is_ok() {
            crate::faults::crash_point("create:rootfs-made");
        }
        if let Err(e) = made.and_then(|()| self.persist(&rec)) {
            let _ = std::fs::remove_dir_all(&dir);
            let _ = self.inner.images.remove_rootfs(&id);
            return Err(e);
        }
        lock(&self.inner.containers).insert(id.clone(), Entry::new(rec));
        self.inner.events.publish(
            Event::new("container", "create", &id)
                .attr("name", name)
                .attr("image", image_ref),
        );
        Ok(Created {
            id,
            warnings: Vec::new(),
        })
    }
}

/// Whether an image of `actual` (`os/arch[/variant]`) is what `wanted`
/// asks for; a variant counts only when asked for.
/// The executable `p` names: a path, or a name looked up in $PATH.
fn which(p: &std::path::Path) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let exec = |c: &std::path::Path| {
        std::fs::metadata(c).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if p.components().count() > 1 {
        return exec(p).then(|| p.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(p))
        .find(|c| exec(c))
}

fn platform_matches(wanted: &berth_image::platform::Platform, actual: &str) -> bool {
    let mut parts = actual.split('/');
    let (os, arch, variant) = (parts.next(), parts.next(), parts.next());
    os == Some(wanted.os.as_str())
        && arch == Some(wanted.arch.as_str())
        && wanted.variant.as_deref().is_none_or(|v| variant == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::ImageRunConfig;

    fn image() -> ImageInfo {
        ImageInfo {
            id: "sha256:00".into(),
            config: ImageRunConfig {
                env: vec!["PATH=/bin".into(), "A=1".into()],
                cmd: vec!["sh".into()],
                working_dir: "/w".into(),
                ..ImageRunConfig::default()
            },
            platform: "linux/amd64".into(),
        }
    }

    #[test]
    fn image_defaults_fill_the_config() {
        let body = ContainerCreateBody {
            image: Some("busybox".into()),
            env: Some(vec!["A=2".into(), "B=3".into()]),
            ..Default::default()
        };
        let c = merged_config(&body, &image()).expect("config");
        assert_eq!(
            c.env,
            Some(vec!["PATH=/bin".into(), "A=2".into(), "B=3".into()])
        );
        assert_eq!(c.cmd, Some(vec!["sh".into()]));
        assert_eq!(c.working_dir.as_deref(), Some("/w"));
    }

    #[test]
    fn an_entrypoint_drops_the_image_cmd() {
        let body = ContainerCreateBody {
            image: Some("busybox".into()),
            entrypoint: Some(vec!["echo".into()]),
            ..Default::default()
        };
        let c = merged_config(&body, &image()).expect("config");
        assert_eq!(c.cmd, None);
    }

    #[test]
    fn rm_and_restart_conflict() {
        let hc = HostConfig {
            auto_remove: Some(true),
            restart_policy: Some(bollard_stubs::models::RestartPolicy {
                name: Some(RestartPolicyNameEnum::ALWAYS),
                maximum_retry_count: None,
            }),
            ..Default::default()
        };
        assert!(check_host_config(&hc).is_err());
    }

    #[test]
    fn platforms_match_as_docker_compares_them() {
        let p = |s: &str| berth_image::platform::Platform::parse(s).expect("platform");
        assert!(platform_matches(&p("linux/amd64"), "linux/amd64"));
        assert!(platform_matches(&p("linux/arm64"), "linux/arm64/v8"));
        assert!(!platform_matches(&p("linux/arm64/v8"), "linux/arm64"));
        assert!(!platform_matches(&p("linux/arm64"), "linux/amd64"));
        assert!(!platform_matches(&p("windows/amd64"), "linux/amd64"));
    }
}
