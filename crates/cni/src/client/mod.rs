//! The runtime side: run a configuration list's plugin chain for one
//! attachment, as libcni does.
//!
//! ADD runs the plugins in order, each getting the previous one's result as
//! `prevResult`, and caches the final result; a failed ADD is undone by DEL of
//! the whole chain in reverse. DEL runs in reverse with the cached result and
//! drops the cache entry; CHECK replays the cached result; GC deletes cached
//! attachments missing from the valid list and then sends GC (1.1.0) to every
//! plugin; STATUS asks every plugin.

pub mod cache;
pub mod exec;

use std::path::PathBuf;

use crate::types::{
    CniError, CniResult, CniVersion, Command, GcAttachment, NetConfList, PluginConf,
};
use cache::{CacheEntry, CacheError, ResultCache, CACHE_KIND};
use exec::{find_plugin, invoke, ExecError, InvokeEnv};

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error("{0}")]
    Config(CniError),
    #[error("plugin {plugin} {command}: {error}")]
    Output {
        plugin: String,
        command: Command,
        error: CniError,
    },
    #[error("{command} is not defined for cniVersion {version} of network {network}")]
    VerbUnsupported {
        command: Command,
        version: CniVersion,
        network: String,
    },
    #[error("no cached result for container {container_id} interface {ifname} on network {network}: was it added?")]
    NotAdded {
        network: String,
        container_id: String,
        ifname: String,
    },
    #[error("GC of network {network} failed: {}", errors.join("; "))]
    Gc {
        network: String,
        errors: Vec<String>,
    },
}

impl ClientError {
    /// The plugin's CNI error, when the failure was one.
    pub fn cni_error(&self) -> Option<&CniError> {
        match self {
            ClientError::Exec(ExecError::Plugin { error, .. }) => Some(error),
            ClientError::Output { error, .. } | ClientError::Config(error) => Some(error),
            _ => None,
        }
    }
}

/// One attachment: the container, its netns, the interface name inside, and
/// per-attachment arguments.
#[derive(Debug, Clone, Default)]
pub struct Attachment {
    pub container_id: String,
    pub netns: Option<PathBuf>,
    pub ifname: String,
    /// `CNI_ARGS`.
    pub args: Vec<(String, String)>,
    /// Capability arguments (`portMappings`, `ips`, `mac`, ...), passed as
    /// `runtimeConfig` to plugins that declared the capability.
    pub capability_args: serde_json::Map<String, serde_json::Value>,
}

/// A CNI client: where plugins live and where results are cached.
#[derive(Debug, Clone)]
pub struct CniClient {
    path: Vec<PathBuf>,
    cache: ResultCache,
}

impl CniClient {
    pub fn new(path: Vec<PathBuf>, cache_dir: impl Into<PathBuf>) -> CniClient {
        CniClient {
            path,
            cache: ResultCache::new(cache_dir),
        }
    }

    pub fn cache(&self) -> &ResultCache {
        &self.cache
    }

    fn env(&self, a: &Attachment) -> InvokeEnv {
        InvokeEnv {
            container_id: a.container_id.clone(),
            netns: a.netns.clone(),
            ifname: a.ifname.clone(),
            args: a.args.clone(),
            path: self.path.clone(),
        }
    }

    /// The JSON one plugin gets: its own object with the list's name and
    /// negotiated version, its capability arguments and `prevResult`.
    fn plugin_config(
        list: &NetConfList,
        plugin: &PluginConf,
        a: &Attachment,
        prev: Option<&CniResult>,
    ) -> serde_json::Value {
        let mut conf = plugin.raw.clone();
        conf.insert("name".into(), list.name.clone().into());
        conf.insert("cniVersion".into(), list.version.as_str().into());
        let mut rc = serde_json::Map::new();
        for (k, v) in &a.capability_args {
            if plugin.has_capability(k) {
                rc.insert(k.clone(), v.clone());
            }
        }
        if !rc.is_empty() {
            conf.insert("runtimeConfig".into(), rc.into());
        }
        if let Some(p) = prev {
            conf.insert("prevResult".into(), p.to_json(list.version));
        }
        serde_json::Value::Object(conf)
    }

    fn run(
        &self,
        list: &NetConfList,
        plugin: &PluginConf,
        command: Command,
        a: &Attachment,
        prev: Option<&CniResult>,
    ) -> Result<Vec<u8>, ClientError> {
        let exe = find_plugin(&plugin.plugin_type, &self.path)?;
        let conf = Self::plugin_config(list, plugin, a, prev);
        let stdin = serde_json::to_vec(&conf).unwrap_or_default();
        tracing::debug!(plugin = %plugin.plugin_type, %command, container = %a.container_id, "invoking CNI plugin");
        Ok(invoke(&exe, command, &self.env(a), &stdin)?)
    }

    /// ADD through the chain. On failure every plugin gets a DEL (reverse
    /// order) so nothing is left behind, and the ADD error is returned.
    pub fn add(&self, list: &NetConfList, a: &Attachment) -> Result<CniResult, ClientError> {
        let mut prev: Option<CniResult> = None;
        for plugin in &list.plugins {
            let step = self
                .run(list, plugin, Command::Add, a, prev.as_ref())
                .and_then(|out| parse_result(&out, &plugin.plugin_type, Command::Add));
            match step {
                Ok(r) => prev = Some(r),
                Err(e) => {
                    self.undo_add(list, a, prev.as_ref());
                    return Err(e);
                }
            }
        }
        let result = prev.unwrap_or_default();
        let entry = CacheEntry {
            kind: CACHE_KIND.into(),
            container_id: a.container_id.clone(),
            config: list.bytes.clone(),
            if_name: a.ifname.clone(),
            network_name: list.name.clone(),
            netns: a.netns.as_ref().map(|p| p.display().to_string()),
            cni_args: a.args.clone(),
            capability_args: a.capability_args.clone(),
            result: Some(result.to_json(list.version)),
        };
        if let Err(e) = self.cache.put(&entry) {
            self.undo_add(list, a, Some(&result));
            return Err(e.into());
        }
        Ok(result)
    }

    fn undo_add(&self, list: &NetConfList, a: &Attachment, prev: Option<&CniResult>) {
        let prev = if list.version.has_check() { prev } else { None };
        for plugin in list.plugins.iter().rev() {
            if let Err(e) = self.run(list, plugin, Command::Del, a, prev) {
                tracing::warn!(plugin = %plugin.plugin_type, error = %e, "DEL after failed ADD failed");
            }
        }
    }

    /// DEL through the chain in reverse, with the cached result as
    /// `prevResult` when there is one; drops the cache entry on success.
    pub fn del(&self, list: &NetConfList, a: &Attachment) -> Result<(), ClientError> {
        let cached = self.cached_result(list, a)?;
        let prev = if list.version.has_check() {
            cached.as_ref()
        } else {
            None
        };
        for plugin in list.plugins.iter().rev() {
            self.run(list, plugin, Command::Del, a, prev)?;
        }
        self.cache.remove(&list.name, &a.container_id, &a.ifname)?;
        Ok(())
    }

    /// CHECK through the chain with the cached result.
    pub fn check(&self, list: &NetConfList, a: &Attachment) -> Result<(), ClientError> {
        if !list.version.has_check() {
            return Err(ClientError::VerbUnsupported {
                command: Command::Check,
                version: list.version,
                network: list.name.clone(),
            });
        }
        if list.disable_check {
            return Ok(());
        }
        let cached = self
            .cached_result(list, a)?
            .ok_or_else(|| ClientError::NotAdded {
                network: list.name.clone(),
                container_id: a.container_id.clone(),
                ifname: a.ifname.clone(),
            })?;
        for plugin in &list.plugins {
            self.run(list, plugin, Command::Check, a, Some(&cached))?;
        }
        Ok(())
    }

    /// STATUS of every plugin (1.1.0; earlier versions have no STATUS and
    /// count as ready).
    pub fn status(&self, list: &NetConfList) -> Result<(), ClientError> {
        if !list.version.has_status_and_gc() {
            return Ok(());
        }
        let a = Attachment::default();
        for plugin in &list.plugins {
            self.run(list, plugin, Command::Status, &a, None)?;
        }
        Ok(())
    }

    /// GC: DEL every cached attachment of this network that is not in
    /// `valid`, then (1.1.0, unless `disableGC`) send GC with the valid list
    /// to every plugin so they drop leaked state the cache never knew of.
    /// Keeps going after a failure and reports all failures together.
    pub fn gc(&self, list: &NetConfList, valid: &[GcAttachment]) -> Result<(), ClientError> {
        let mut errors = Vec::new();
        for entry in self.cache.list(&list.name)? {
            let keep = valid
                .iter()
                .any(|v| v.container_id == entry.container_id && v.ifname == entry.if_name);
            if keep {
                continue;
            }
            let a = Attachment {
                container_id: entry.container_id.clone(),
                netns: entry.netns.as_ref().map(PathBuf::from),
                ifname: entry.if_name.clone(),
                args: entry.cni_args.clone(),
                capability_args: entry.capability_args.clone(),
            };
            // DEL with the configuration the attachment was made with.
            let cached_list =
                NetConfList::from_bytes(&entry.config).unwrap_or_else(|_| list.clone());
            if let Err(e) = self.del(&cached_list, &a) {
                errors.push(format!(
                    "DEL of stale attachment {}/{}: {e}",
                    entry.container_id, entry.if_name
                ));
            }
        }
        if list.version.has_status_and_gc() && !list.disable_gc {
            let valid_json = serde_json::to_value(valid).unwrap_or_default();
            let a = Attachment::default();
            for plugin in &list.plugins {
                let mut p = plugin.clone();
                p.raw
                    .insert("cni.dev/valid-attachments".into(), valid_json.clone());
                if let Err(e) = self.run(list, &p, Command::Gc, &a, None) {
                    errors.push(e.to_string());
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ClientError::Gc {
                network: list.name.clone(),
                errors,
            })
        }
    }

    /// The versions a plugin reports for `VERSION`.
    pub fn version_info(&self, plugin_type: &str) -> Result<Vec<String>, ClientError> {
        let exe = find_plugin(plugin_type, &self.path)?;
        let stdin = serde_json::json!({"cniVersion": CniVersion::LATEST.as_str()});
        let env = InvokeEnv {
            path: self.path.clone(),
            ..Default::default()
        };
        let out = invoke(&exe, Command::Version, &env, stdin.to_string().as_bytes())?;
        let v: serde_json::Value =
            serde_json::from_slice(&out).map_err(|e| ClientError::Output {
                plugin: plugin_type.to_owned(),
                command: Command::Version,
                error: CniError::decode(format!("VERSION output: {e}")),
            })?;
        Ok(v.get("supportedVersions")
            .and_then(|s| s.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The cached result of an attachment, if it was added.
    pub fn cached_result(
        &self,
        list: &NetConfList,
        a: &Attachment,
    ) -> Result<Option<CniResult>, ClientError> {
        let Some(entry) = self.cache.get(&list.name, &a.container_id, &a.ifname)? else {
            return Ok(None);
        };
        match entry.result {
            None => Ok(None),
            Some(v) => CniResult::from_json(&v, "cached result")
                .map(Some)
                .map_err(ClientError::Config),
        }
    }
}

fn parse_result(out: &[u8], plugin: &str, command: Command) -> Result<CniResult, ClientError> {
    let err = |error| ClientError::Output {
        plugin: plugin.to_owned(),
        command,
        error,
    };
    let v: serde_json::Value = serde_json::from_slice(out)
        .map_err(|e| err(CniError::decode(format!("result is not JSON: {e}"))))?;
    CniResult::from_json(&v, "result").map_err(err)
}
