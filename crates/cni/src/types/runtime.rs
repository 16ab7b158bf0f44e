//! Per-container values a runtime passes: `runtimeConfig` (capabilities
//! `portMappings`, `ips`, `mac`), the `args.cni` convention, and the GC list
//! of still-valid attachments.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

/// The `runtimeConfig` keys berth understands; others are ignored, as the
/// conventions ask.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeConfig {
    #[serde(default, deserialize_with = "null_as_default")]
    pub port_mappings: Vec<PortMapping>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub ips: Vec<RequestedIp>,
    #[serde(default)]
    pub mac: Option<MacAddr>,
}

/// The `args` convention: `{"cni": {"ips": [...], "mac": "..."}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ConfArgs {
    #[serde(default)]
    pub cni: Option<ConfArgsCni>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ConfArgsCni {
    #[serde(default, deserialize_with = "null_as_default")]
    pub ips: Vec<RequestedIp>,
    #[serde(default)]
    pub mac: Option<MacAddr>,
}

/// One published port (capability `portMappings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    pub host_port: u16,
    pub container_port: u16,
    #[serde(default)]
    pub protocol: Protocol,
    /// Only traffic to this host address is forwarded; `""` or absent: any.
    #[serde(default, rename = "hostIP", deserialize_with = "empty_ip_as_none")]
    pub host_ip: Option<IpAddr>,
}

/// The transport of a published port: the firewall's own type (same
/// lowercase names as CNI's `portMappings`).
pub use berth_net::firewall::Protocol;

/// One attachment that GC must keep (`cni.dev/valid-attachments`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GcAttachment {
    #[serde(rename = "containerID")]
    pub container_id: String,
    pub ifname: String,
}

/// A static address asked for: `10.0.0.5/24` or plain `10.0.0.5` (only the
/// address counts; the prefix comes from the configured subnet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestedIp(pub IpAddr);

impl FromStr for RequestedIp {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let addr = s.split_once('/').map_or(s, |(a, _)| a);
        if let Some((_, prefix)) = s.split_once('/') {
            prefix
                .parse::<u8>()
                .map_err(|_| format!("{s:?} is not an IP address or CIDR"))?;
        }
        addr.parse()
            .map(RequestedIp)
            .map_err(|_| format!("{s:?} is not an IP address or CIDR"))
    }
}

impl<'de> Deserialize<'de> for RequestedIp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for RequestedIp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// An Ethernet address, written `aa:bb:cc:dd:ee:ff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl FromStr for MacAddr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?} is not a MAC address (aa:bb:cc:dd:ee:ff)");
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for b in out.iter_mut() {
            let p = parts.next().ok_or_else(bad)?;
            if p.len() != 2 {
                return Err(bad());
            }
            *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddr(out))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for MacAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Go runtimes write `null` for empty lists; treat it as empty.
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn empty_ip_as_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IpAddr>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("{s:?} is not an IP address"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_config_parses_conventions() {
        let rc: RuntimeConfig = serde_json::from_value(serde_json::json!({
            "portMappings": [
                {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
                {"hostPort": 53, "containerPort": 53, "protocol": "udp", "hostIP": "10.0.0.1"},
                {"hostPort": 81, "containerPort": 81, "hostIP": ""}
            ],
            "ips": ["10.0.0.5/24", "fd00::5"],
            "mac": "c2:11:22:33:44:55",
            "bandwidth": {"ingressRate": 1}
        }))
        .expect("parse");
        assert_eq!(rc.port_mappings.len(), 3);
        assert_eq!(rc.port_mappings[1].protocol, Protocol::Udp);
        assert_eq!(
            rc.port_mappings[1].host_ip,
            Some("10.0.0.1".parse().expect("ip"))
        );
        assert_eq!(rc.port_mappings[2].protocol, Protocol::Tcp);
        assert_eq!(rc.port_mappings[2].host_ip, None);
        assert_eq!(rc.ips[0].0, "10.0.0.5".parse::<IpAddr>().expect("ip"));
        assert_eq!(
            rc.mac.map(|m| m.to_string()).as_deref(),
            Some("c2:11:22:33:44:55")
        );
    }

    #[test]
    fn nulls_are_empty() {
        let rc: RuntimeConfig =
            serde_json::from_value(serde_json::json!({"portMappings": null, "ips": null}))
                .expect("parse");
        assert!(rc.port_mappings.is_empty());
    }

    #[test]
    fn bad_mac_and_port_rejected() {
        assert!("c2:11:22:33:44".parse::<MacAddr>().is_err());
        assert!("zz:11:22:33:44:55".parse::<MacAddr>().is_err());
        let r: Result<PortMapping, _> =
            serde_json::from_value(serde_json::json!({"hostPort": 70000, "containerPort": 80}));
        assert!(r.is_err());
    }
}
