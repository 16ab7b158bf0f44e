//! A plugin's network configuration as it arrives on stdin.
//!
//! Parsed in two passes over the same JSON: [`NetConf`] holds the fields the
//! spec defines for every plugin, and each plugin decodes its own section
//! (bridge, macvlan, ...) from [`NetConf::raw`]. Unknown fields are ignored, as
//! the reference plugins do, but a known field of the wrong type is an error
//! that names it.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::decode::{decode_bytes, decode_value};
use super::error::CniError;
use super::result::{CniResult, Dns};
use super::runtime::{ConfArgs, GcAttachment, RuntimeConfig};
use super::version::CniVersion;

/// The well-known fields of one plugin's configuration.
#[derive(Debug, Clone)]
pub struct NetConf {
    /// The negotiated version (from `cniVersion`/`cniVersions`).
    pub version: CniVersion,
    pub name: String,
    pub plugin_type: String,
    pub capabilities: BTreeMap<String, bool>,
    pub ipam: Option<IpamSection>,
    pub dns: Dns,
    pub args: ConfArgs,
    pub ip_masq: bool,
    pub runtime_config: RuntimeConfig,
    /// The previous plugin's (or the last ADD's) result, when given.
    pub prev_result: Option<CniResult>,
    /// GC only: attachments to keep.
    pub valid_attachments: Vec<GcAttachment>,
    /// The whole object, for the plugin's own fields and for delegation.
    pub raw: serde_json::Map<String, serde_json::Value>,
}

/// The `ipam` section: its `type` (absent means no IPAM, allowed for
/// macvlan/ipvlan) and the rest for the IPAM plugin.
#[derive(Debug, Clone, Default)]
pub struct IpamSection {
    pub ipam_type: Option<String>,
    pub raw: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireNetConf {
    cni_version: Option<String>,
    #[serde(default)]
    cni_versions: Option<Vec<String>>,
    name: Option<String>,
    #[serde(rename = "type")]
    plugin_type: Option<String>,
    #[serde(default)]
    capabilities: Option<BTreeMap<String, bool>>,
    #[serde(default)]
    ipam: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    dns: Option<Dns>,
    #[serde(default)]
    args: Option<ConfArgs>,
    #[serde(default)]
    ip_masq: Option<bool>,
    #[serde(default)]
    runtime_config: Option<RuntimeConfig>,
    #[serde(default)]
    prev_result: Option<serde_json::Value>,
    #[serde(default, rename = "cni.dev/valid-attachments")]
    valid_attachments: Option<Vec<GcAttachment>>,
    /// libcni before 1.2.1 sent the list under this misspelt key too.
    #[serde(default, rename = "cni.dev/attachments")]
    attachments: Option<Vec<GcAttachment>>,
}

impl NetConf {
    /// Parses a plugin's stdin. Malformed JSON or a wrong-typed field is code
    /// 6; a missing or invalid required field is code 7; a version berth does
    /// not speak is code 1.
    pub fn parse(bytes: &[u8]) -> Result<NetConf, CniError> {
        let value: serde_json::Value = decode_bytes(bytes, "network config")?;
        let serde_json::Value::Object(raw) = value else {
            return Err(CniError::decode(
                "network config: expected a JSON object".to_owned(),
            ));
        };
        let w: WireNetConf =
            decode_value(&serde_json::Value::Object(raw.clone()), "network config")?;
        let cni_version = w.cni_version.ok_or_else(|| {
            CniError::invalid_config("network config: field `cniVersion` is required")
        })?;
        let version =
            CniVersion::negotiate(&cni_version, w.cni_versions.as_deref()).map_err(|e| {
                CniError::new(super::error::ErrorCode::IncompatibleVersion, e.to_string())
            })?;
        let name = w
            .name
            .ok_or_else(|| CniError::invalid_config("network config: field `name` is required"))?;
        validate_network_name(&name)?;
        let plugin_type = w
            .plugin_type
            .ok_or_else(|| CniError::invalid_config("network config: field `type` is required"))?;
        let ipam = match w.ipam {
            None => None,
            Some(map) => Some(IpamSection {
                ipam_type: match map.get("type") {
                    None => None,
                    Some(serde_json::Value::String(s)) if s.is_empty() => None,
                    Some(serde_json::Value::String(s)) => Some(s.clone()),
                    Some(other) => {
                        return Err(CniError::decode(format!(
                            "network config: field `ipam.type`: expected a string, got {other}"
                        )))
                    }
                },
                raw: map,
            }),
        };
        let prev_result = match w.prev_result {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(CniResult::from_json(
                &v,
                "network config: field `prevResult`",
            )?),
        };
        Ok(NetConf {
            version,
            name,
            plugin_type,
            capabilities: w.capabilities.unwrap_or_default(),
            ipam,
            dns: w.dns.unwrap_or_default(),
            args: w.args.unwrap_or_default(),
            ip_masq: w.ip_masq.unwrap_or(false),
            runtime_config: w.runtime_config.unwrap_or_default(),
            prev_result,
            valid_attachments: w.valid_attachments.or(w.attachments).unwrap_or_default(),
            raw,
        })
    }

    /// Decodes this plugin's own section from the same JSON.
    pub fn section<T: serde::de::DeserializeOwned>(&self) -> Result<T, CniError> {
        decode_value(
            &serde_json::Value::Object(self.raw.clone()),
            "network config",
        )
    }
}

/// The spec: a network name starts with an alphanumeric character, followed
/// by alphanumerics, `_`, `.` or `-`.
pub fn validate_network_name(name: &str) -> Result<(), CniError> {
    if is_cni_identifier(name) {
        Ok(())
    } else {
        Err(CniError::invalid_config(format!(
            "network config: field `name`: {name:?} must start with a letter or digit and contain only letters, digits, '_', '.' and '-'"
        )))
    }
}

/// The shape the spec requires of network names and container IDs.
pub fn is_cni_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bridge_conf_with_prev_result() {
        let conf = NetConf::parse(
            br#"{"cniVersion":"1.0.0","name":"n1","type":"bridge","bridge":"br0",
                 "ipam":{"type":"host-local","subnet":"10.1.0.0/24"},
                 "prevResult":{"cniVersion":"1.0.0","ips":[{"address":"10.1.0.2/24"}]}}"#,
        )
        .expect("parse");
        assert_eq!(conf.version, CniVersion::V1_0_0);
        assert_eq!(conf.plugin_type, "bridge");
        assert_eq!(
            conf.ipam.as_ref().and_then(|i| i.ipam_type.as_deref()),
            Some("host-local")
        );
        assert_eq!(conf.prev_result.map(|r| r.ips.len()), Some(1));
        assert_eq!(conf.raw["bridge"], "br0");
    }

    #[test]
    fn errors_carry_the_right_codes() {
        let code = |s: &str| {
            NetConf::parse(s.as_bytes())
                .expect_err("must fail")
                .code
                .as_u32()
        };
        assert_eq!(code("{"), 6);
        assert_eq!(
            code(r#"{"cniVersion":"1.0.0","name":"n","type":"x","ipMasq":"yes"}"#),
            6
        );
        assert_eq!(code(r#"{"cniVersion":"0.2.0","name":"n","type":"x"}"#), 1);
        assert_eq!(code(r#"{"cniVersion":"1.0.0","type":"x"}"#), 7);
        assert_eq!(
            code(r#"{"cniVersion":"1.0.0","name":"-bad","type":"x"}"#),
            7
        );
        let e = NetConf::parse(br#"{"cniVersion":"1.0.0","name":"n","type":"x","ipMasq":"yes"}"#)
            .expect_err("must fail");
        assert!(e.msg.contains("ipMasq"), "{}", e.msg);
    }

    #[test]
    fn valid_attachments_read_from_either_key() {
        let conf = NetConf::parse(
            br#"{"cniVersion":"1.1.0","name":"n","type":"x",
                 "cni.dev/attachments":[{"containerID":"c1","ifname":"eth0"}]}"#,
        )
        .expect("parse");
        assert_eq!(conf.valid_attachments.len(), 1);
    }

    #[test]
    fn identifiers() {
        assert!(is_cni_identifier("abc-1.2_3"));
        assert!(!is_cni_identifier(""));
        assert!(!is_cni_identifier("_a"));
        assert!(!is_cni_identifier("a b"));
    }
}
