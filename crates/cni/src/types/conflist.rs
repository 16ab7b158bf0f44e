//! A network configuration list (`.conflist`), or a single `.conf` read as a
//! list of one, as a runtime loads it.
//!
//! Each plugin's object is kept as raw JSON: the runtime only injects
//! `name`, `cniVersion`, `runtimeConfig` and `prevResult` into it, and must
//! pass the plugin's own fields through untouched.

use std::path::Path;

use serde::Deserialize;

use super::config::validate_network_name;
use super::decode::{decode_bytes, decode_value};
use super::error::CniError;
use super::version::CniVersion;

/// A loaded configuration list.
#[derive(Debug, Clone)]
pub struct NetConfList {
    /// `cniVersion` as written.
    pub cni_version: String,
    /// The version the client uses with this list (negotiated from
    /// `cniVersion`/`cniVersions`).
    pub version: CniVersion,
    pub name: String,
    pub disable_check: bool,
    pub disable_gc: bool,
    pub plugins: Vec<PluginConf>,
    /// The bytes the list was loaded from (kept in the result cache, as
    /// libcni does, so DEL and GC can run with the ADD-time configuration).
    pub bytes: Vec<u8>,
}

/// One plugin entry of a list.
#[derive(Debug, Clone)]
pub struct PluginConf {
    pub plugin_type: String,
    pub raw: serde_json::Map<String, serde_json::Value>,
}

impl PluginConf {
    /// Whether the plugin declared capability `name` (`"capabilities":
    /// {"portMappings": true}`).
    pub fn has_capability(&self, name: &str) -> bool {
        self.raw
            .get("capabilities")
            .and_then(|c| c.get(name))
            .and_then(|v| v.as_bool())
            .unwrap_or(false)
    }
}

/// `disableCheck` is a string in the spec and a bool in practice.
#[derive(Deserialize)]
#[serde(untagged)]
enum BoolOrString {
    Bool(bool),
    Str(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireList {
    cni_version: Option<String>,
    #[serde(default)]
    cni_versions: Option<Vec<String>>,
    name: Option<String>,
    #[serde(default)]
    disable_check: Option<BoolOrString>,
    #[serde(default, rename = "disableGC")]
    disable_gc: Option<BoolOrString>,
    plugins: Option<Vec<serde_json::Map<String, serde_json::Value>>>,
}

impl NetConfList {
    /// Loads a file: a list if it has `plugins`, otherwise a single
    /// configuration turned into a list of one (whatever the extension).
    pub fn load(path: &Path) -> Result<NetConfList, CniError> {
        let bytes = std::fs::read(path).map_err(|e| {
            CniError::new(
                super::error::ErrorCode::IoFailure,
                format!("reading {}: {e}", path.display()),
            )
        })?;
        NetConfList::from_bytes(&bytes)
    }

    /// Parses a list, or a single configuration as a list of one.
    pub fn from_bytes(bytes: &[u8]) -> Result<NetConfList, CniError> {
        let value: serde_json::Value = decode_bytes(bytes, "network config list")?;
        if value.get("plugins").is_none() && value.get("type").is_some() {
            return NetConfList::from_single(value, bytes);
        }
        let w: WireList = decode_value(&value, "network config list")?;
        let cni_version = w.cni_version.ok_or_else(|| {
            CniError::invalid_config("network config list: field `cniVersion` is required")
        })?;
        let version =
            CniVersion::negotiate(&cni_version, w.cni_versions.as_deref()).map_err(|e| {
                CniError::new(super::error::ErrorCode::IncompatibleVersion, e.to_string())
            })?;
        let name = w.name.ok_or_else(|| {
            CniError::invalid_config("network config list: field `name` is required")
        })?;
        validate_network_name(&name)?;
        let plugins = w.plugins.ok_or_else(|| {
            CniError::invalid_config("network config list: field `plugins` is required")
        })?;
        if plugins.is_empty() {
            return Err(CniError::invalid_config(
                "network config list: field `plugins` is empty",
            ));
        }
        let plugins = plugins
            .into_iter()
            .enumerate()
            .map(|(i, raw)| {
                let plugin_type = match raw.get("type") {
                    Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
                    Some(serde_json::Value::String(_)) | None => {
                        return Err(CniError::invalid_config(format!(
                            "network config list: field `plugins[{i}].type` is required"
                        )))
                    }
                    Some(other) => {
                        return Err(CniError::decode(format!(
                            "network config list: field `plugins[{i}].type`: expected a string, got {other}"
                        )))
                    }
                };
                validate_plugin_type(&plugin_type, i)?;
                Ok(PluginConf { plugin_type, raw })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(NetConfList {
            cni_version,
            version,
            name,
            disable_check: flag(w.disable_check, "disableCheck")?,
            disable_gc: flag(w.disable_gc, "disableGC")?,
            plugins,
            bytes: bytes.to_vec(),
        })
    }

    fn from_single(value: serde_json::Value, bytes: &[u8]) -> Result<NetConfList, CniError> {
        let serde_json::Value::Object(raw) = value else {
            return Err(CniError::decode("network config: expected a JSON object"));
        };
        let get_str = |k: &str| -> Result<String, CniError> {
            match raw.get(k) {
                Some(serde_json::Value::String(s)) => Ok(s.clone()),
                None => Err(CniError::invalid_config(format!(
                    "network config: field `{k}` is required"
                ))),
                Some(other) => Err(CniError::decode(format!(
                    "network config: field `{k}`: expected a string, got {other}"
                ))),
            }
        };
        let cni_version = get_str("cniVersion")?;
        let version = cni_version
            .parse()
            .map_err(|e: super::version::VersionError| {
                CniError::new(super::error::ErrorCode::IncompatibleVersion, e.to_string())
            })?;
        let name = get_str("name")?;
        validate_network_name(&name)?;
        let plugin_type = get_str("type")?;
        validate_plugin_type(&plugin_type, 0)?;
        Ok(NetConfList {
            cni_version,
            version,
            name,
            disable_check: false,
            disable_gc: false,
            plugins: vec![PluginConf { plugin_type, raw }],
            bytes: bytes.to_vec(),
        })
    }
}

/// A plugin type is a file name looked up on CNI_PATH: never a path.
fn validate_plugin_type(t: &str, index: usize) -> Result<(), CniError> {
    if t.contains('/') || t == "." || t == ".." {
        return Err(CniError::invalid_config(format!(
            "network config list: field `plugins[{index}].type`: {t:?} must be a plain file name"
        )));
    }
    Ok(())
}

fn flag(v: Option<BoolOrString>, field: &str) -> Result<bool, CniError> {
    match v {
        None => Ok(false),
        Some(BoolOrString::Bool(b)) => Ok(b),
        Some(BoolOrString::Str(s)) => match s.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" | "" => Ok(false),
            _ => Err(CniError::invalid_config(format!(
                "network config list: field `{field}`: {s:?} is neither true nor false"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_list_with_negotiated_version() {
        let l = NetConfList::from_bytes(
            br#"{"cniVersion":"1.0.0","cniVersions":["1.0.0","1.1.0"],"name":"n","disableCheck":"true",
                 "plugins":[{"type":"bridge","bridge":"br0"},{"type":"portmap","capabilities":{"portMappings":true}}]}"#,
        )
        .expect("parse");
        assert_eq!(l.version, CniVersion::V1_1_0);
        assert!(l.disable_check);
        assert_eq!(l.plugins.len(), 2);
        assert!(l.plugins[1].has_capability("portMappings"));
        assert!(!l.plugins[0].has_capability("portMappings"));
    }

    #[test]
    fn single_conf_becomes_list() {
        let l = NetConfList::from_bytes(br#"{"cniVersion":"0.4.0","name":"n","type":"bridge"}"#)
            .expect("parse");
        assert_eq!(l.plugins.len(), 1);
        assert_eq!(l.version, CniVersion::V0_4_0);
    }

    #[test]
    fn rejects_bad_lists() {
        let code = |s: &str| {
            NetConfList::from_bytes(s.as_bytes())
                .expect_err("must fail")
                .code
                .as_u32()
        };
        assert_eq!(code(r#"{"cniVersion":"1.0.0","name":"n","plugins":[]}"#), 7);
        assert_eq!(
            code(r#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"../x"}]}"#),
            7
        );
        assert_eq!(
            code(r#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":3}]}"#),
            6
        );
        assert_eq!(
            code(r#"{"cniVersion":"1.0.0","name":"n","plugins":"x"}"#),
            6
        );
    }
}
