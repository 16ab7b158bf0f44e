//! The ADD result, held in its 1.1 form and written in any supported version.
//!
//! 1.0.0 dropped the per-IP `version` field that 0.3.x/0.4.0 require, and
//! 1.1.0 added interface `mtu`/`socketPath`/`pciID` and route attributes.
//! berth keeps one in-memory form (1.1) and converts at the edge: `to_json`
//! writes a given version, `from_json` reads any of them (a `prevResult` or a
//! delegated plugin's output may come in either form).

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::decode::decode_value;
use super::error::CniError;
use super::version::CniVersion;

/// What ADD returns: the interfaces made, their addresses, routes and DNS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CniResult {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    #[serde(default, skip_serializing_if = "Dns::is_empty")]
    pub dns: Dns,
}

/// An interface a plugin created or configured.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Interface {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// The netns path for a container-side interface; absent on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_path: Option<String>,
    #[serde(default, rename = "pciID", skip_serializing_if = "Option::is_none")]
    pub pci_id: Option<String>,
}

/// An address assigned to an interface (`address` keeps its host bits:
/// `10.0.0.5/24`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpConfig {
    pub address: IpNet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// Index into `interfaces`; absent in an IPAM plugin's result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
}

/// A route to install in the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    pub dst: IpNet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advmss: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<u8>,
}

impl Route {
    pub fn new(dst: IpNet, gw: Option<IpAddr>) -> Route {
        Route {
            dst,
            gw,
            mtu: None,
            advmss: None,
            priority: None,
            table: None,
            scope: None,
        }
    }
}

/// DNS settings a network knows of (also the config's `dns` section).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dns {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl Dns {
    pub fn is_empty(&self) -> bool {
        self.nameservers.is_empty()
            && self.domain.is_none()
            && self.search.is_empty()
            && self.options.is_empty()
    }
}

impl CniResult {
    /// The result as the JSON a plugin prints for `version`.
    pub fn to_json(&self, version: CniVersion) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_else(|_| serde_json::json!({}));
        if let serde_json::Value::Object(map) = &mut v {
            map.insert(
                "cniVersion".into(),
                serde_json::Value::String(version.as_str().into()),
            );
        }
        if version.legacy_result() {
            downgrade_to_legacy(&mut v, self);
        } else if version == CniVersion::V1_0_0 {
            strip_1_1_fields(&mut v);
        }
        v
    }

    /// Reads a result of any supported version (the `cniVersion` inside, if
    /// any, is not trusted: the caller knows the version it asked for).
    pub fn from_json(value: &serde_json::Value, what: &str) -> Result<CniResult, CniError> {
        let mut v = value.clone();
        if let Some(ips) = v.get_mut("ips").and_then(|i| i.as_array_mut()) {
            for (i, ip) in ips.iter_mut().enumerate() {
                check_and_strip_ip_version(ip, i, what)?;
            }
        }
        if let serde_json::Value::Object(map) = &mut v {
            map.remove("cniVersion");
        }
        decode_value(&v, what)
    }

    /// The index of the interface named `name` with the given sandbox
    /// (`None`: a host interface).
    pub fn interface_index(&self, name: &str, sandbox: Option<&str>) -> Option<usize> {
        self.interfaces
            .iter()
            .position(|i| i.name == name && i.sandbox.as_deref() == sandbox)
    }
}

/// 0.3.x/0.4.0 need `version` on each IP and know nothing of 1.1's fields.
fn downgrade_to_legacy(v: &mut serde_json::Value, r: &CniResult) {
    strip_1_1_fields(v);
    if let Some(ips) = v.get_mut("ips").and_then(|i| i.as_array_mut()) {
        for (ip, cfg) in ips.iter_mut().zip(&r.ips) {
            let fam = if cfg.address.addr().is_ipv4() {
                "4"
            } else {
                "6"
            };
            ip["version"] = serde_json::Value::String(fam.into());
        }
    }
}

fn strip_1_1_fields(v: &mut serde_json::Value) {
    if let Some(ifs) = v.get_mut("interfaces").and_then(|i| i.as_array_mut()) {
        for i in ifs {
            if let Some(m) = i.as_object_mut() {
                for k in ["mtu", "socketPath", "pciID"] {
                    m.remove(k);
                }
            }
        }
    }
    if let Some(routes) = v.get_mut("routes").and_then(|r| r.as_array_mut()) {
        for r in routes {
            if let Some(m) = r.as_object_mut() {
                for k in ["mtu", "advmss", "priority", "table", "scope"] {
                    m.remove(k);
                }
            }
        }
    }
}

fn check_and_strip_ip_version(
    ip: &mut serde_json::Value,
    index: usize,
    what: &str,
) -> Result<(), CniError> {
    let Some(map) = ip.as_object_mut() else {
        return Ok(()); // the typed decode reports the wrong type
    };
    let Some(ver) = map.remove("version") else {
        return Ok(());
    };
    let fam = ver.as_str().ok_or_else(|| {
        CniError::decode(format!(
            "{what}: field `ips[{index}].version`: expected the string \"4\" or \"6\""
        ))
    })?;
    let is_v4 = map
        .get("address")
        .and_then(|a| a.as_str())
        .and_then(|a| a.parse::<IpNet>().ok())
        .map(|a| a.addr().is_ipv4());
    match (fam, is_v4) {
        ("4", Some(false)) | ("6", Some(true)) => Err(CniError::decode(format!(
            "{what}: field `ips[{index}].version`: \"{fam}\" does not match the address family"
        ))),
        ("4", _) | ("6", _) => Ok(()),
        (other, _) => Err(CniError::decode(format!(
            "{what}: field `ips[{index}].version`: {other:?} is neither \"4\" nor \"6\""
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CniResult {
        CniResult {
            interfaces: vec![
                Interface {
                    name: "cni0".into(),
                    mac: Some("00:11:22:33:44:55".into()),
                    ..Default::default()
                },
                Interface {
                    name: "eth0".into(),
                    mac: Some("99:88:77:66:55:44".into()),
                    mtu: Some(1500),
                    sandbox: Some("/run/netns/x".into()),
                    ..Default::default()
                },
            ],
            ips: vec![
                IpConfig {
                    address: "10.1.0.5/16".parse().expect("net"),
                    gateway: Some("10.1.0.1".parse().expect("ip")),
                    interface: Some(1),
                },
                IpConfig {
                    address: "fd00::5/64".parse().expect("net"),
                    gateway: None,
                    interface: Some(1),
                },
            ],
            routes: vec![Route {
                mtu: Some(1400),
                ..Route::new("0.0.0.0/0".parse().expect("net"), None)
            }],
            dns: Dns {
                nameservers: vec!["10.1.0.1".into()],
                ..Default::default()
            },
        }
    }

    #[test]
    fn v1_1_round_trip_keeps_everything() {
        let r = sample();
        let v = r.to_json(CniVersion::V1_1_0);
        assert_eq!(v["cniVersion"], "1.1.0");
        assert_eq!(v["interfaces"][1]["mtu"], 1500);
        assert!(v["ips"][0].get("version").is_none());
        assert_eq!(CniResult::from_json(&v, "result").expect("parse"), r);
    }

    #[test]
    fn legacy_form_has_ip_versions_and_no_1_1_fields() {
        let v = sample().to_json(CniVersion::V0_4_0);
        assert_eq!(v["ips"][0]["version"], "4");
        assert_eq!(v["ips"][1]["version"], "6");
        assert!(v["interfaces"][1].get("mtu").is_none());
        assert!(v["routes"][0].get("mtu").is_none());
        let back = CniResult::from_json(&v, "result").expect("parse");
        assert_eq!(back.ips, sample().ips);
    }

    #[test]
    fn v1_0_drops_1_1_fields() {
        let v = sample().to_json(CniVersion::V1_0_0);
        assert!(v["interfaces"][1].get("mtu").is_none());
        assert!(v["ips"][0].get("version").is_none());
    }

    #[test]
    fn mismatched_ip_version_is_rejected() {
        let v = serde_json::json!({"ips": [{"version": "6", "address": "10.0.0.1/24"}]});
        let e = CniResult::from_json(&v, "prevResult").expect_err("must fail");
        assert!(e.msg.contains("ips[0].version"), "{}", e.msg);
    }

    #[test]
    fn bad_address_names_field() {
        let v = serde_json::json!({"ips": [{"address": "10.0.0.300/24"}]});
        let e = CniResult::from_json(&v, "prevResult").expect_err("must fail");
        assert!(e.msg.contains("ips[0].address"), "{}", e.msg);
    }
}
