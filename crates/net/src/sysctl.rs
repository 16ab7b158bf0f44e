//! Per-namespace network sysctls via `/proc/sys/net`.
//!
//! `/proc/sys/net` shows the network namespace of the thread that opens the
//! file, so these functions act on the calling thread's namespace: call
//! them inside [`crate::NetNs::run_in`] to set another namespace's values.
//! (The mount namespace matters not: procfs resolves `net` per opener.)

use std::io;
use std::path::PathBuf;

/// Errors reading or writing a sysctl.
#[derive(Debug, thiserror::Error)]
pub enum SysctlError {
    /// The key is not a valid `net.` sysctl name.
    #[error("invalid sysctl key {0:?}")]
    InvalidKey(String),
    /// Reading or writing the proc file failed.
    #[error("sysctl {key}: {source}")]
    Io {
        /// The dotted key.
        key: String,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// The proc path of a dotted `net.*` key (`net.ipv4.ip_forward`). Interface
/// names may contain dots, so pass them through the typed helpers below
/// rather than building keys by hand.
fn path_of(parts: &[&str]) -> Result<PathBuf, SysctlError> {
    let key = parts.join(".");
    if parts.first() != Some(&"net")
        || parts
            .iter()
            .any(|p| p.is_empty() || p.contains('/') || *p == "..")
    {
        return Err(SysctlError::InvalidKey(key));
    }
    let mut p = PathBuf::from("/proc/sys");
    for part in parts {
        p.push(part);
    }
    Ok(p)
}

fn write_parts(parts: &[&str], value: &str) -> Result<(), SysctlError> {
    let path = path_of(parts)?;
    std::fs::write(&path, value).map_err(|source| SysctlError::Io {
        key: parts.join("."),
        source,
    })
}

fn read_parts(parts: &[&str]) -> Result<String, SysctlError> {
    let path = path_of(parts)?;
    std::fs::read_to_string(&path)
        .map(|s| s.trim().to_string())
        .map_err(|source| SysctlError::Io {
            key: parts.join("."),
            source,
        })
}

/// Writes a dotted `net.*` key, e.g. `set("net.ipv4.ip_forward", "1")`.
pub fn set(key: &str, value: &str) -> Result<(), SysctlError> {
    write_parts(&key.split('.').collect::<Vec<_>>(), value)
}

/// Reads a dotted `net.*` key.
pub fn get(key: &str) -> Result<String, SysctlError> {
    read_parts(&key.split('.').collect::<Vec<_>>())
}

fn flag(on: bool) -> &'static str {
    if on {
        "1"
    } else {
        "0"
    }
}

/// IPv4 forwarding for the whole namespace (`net.ipv4.ip_forward`).
pub fn set_ipv4_forwarding(on: bool) -> Result<(), SysctlError> {
    write_parts(&["net", "ipv4", "ip_forward"], flag(on))
}

/// IPv6 forwarding on every interface (`net.ipv6.conf.all.forwarding`).
pub fn set_ipv6_forwarding(on: bool) -> Result<(), SysctlError> {
    write_parts(&["net", "ipv6", "conf", "all", "forwarding"], flag(on))
}

/// Reverse-path filter mode of `ifname` (`all`/`default` allowed): 0 off,
/// 1 strict, 2 loose.
pub fn set_rp_filter(ifname: &str, mode: u8) -> Result<(), SysctlError> {
    write_parts(
        &["net", "ipv4", "conf", ifname, "rp_filter"],
        &mode.to_string(),
    )
}

/// Router advertisements acceptance of `ifname`: 0 off, 1 on unless
/// forwarding, 2 on even when forwarding.
pub fn set_accept_ra(ifname: &str, mode: u8) -> Result<(), SysctlError> {
    write_parts(
        &["net", "ipv6", "conf", ifname, "accept_ra"],
        &mode.to_string(),
    )
}

/// Turns IPv6 off (or on) for `ifname` (`all`/`default` allowed).
pub fn set_disable_ipv6(ifname: &str, disabled: bool) -> Result<(), SysctlError> {
    write_parts(
        &["net", "ipv6", "conf", ifname, "disable_ipv6"],
        flag(disabled),
    )
}

/// Lets `ifname` route packets addressed to 127.0.0.0/8 (needed to DNAT
/// published ports reached via localhost).
pub fn set_route_localnet(ifname: &str, on: bool) -> Result<(), SysctlError> {
    write_parts(&["net", "ipv4", "conf", ifname, "route_localnet"], flag(on))
}

/// Per-interface IPv4 forwarding (`net.ipv4.conf.<if>.forwarding`).
pub fn set_interface_forwarding(ifname: &str, on: bool) -> Result<(), SysctlError> {
    write_parts(&["net", "ipv4", "conf", ifname, "forwarding"], flag(on))
}

/// Whether IPv6 is available at all in this namespace (the kernel may be
/// built or booted without it).
pub fn ipv6_available() -> bool {
    std::path::Path::new("/proc/sys/net/ipv6").exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        assert!(path_of(&["net", "ipv4", "ip_forward"]).is_ok());
        assert!(path_of(&["kernel", "pid_max"]).is_err());
        assert!(path_of(&["net", "..", "x"]).is_err());
        assert!(path_of(&["net", "ipv4", "conf", "a/b", "rp_filter"]).is_err());
        assert_eq!(
            path_of(&["net", "ipv4", "conf", "eth0.10", "rp_filter"]).ok(),
            Some(PathBuf::from("/proc/sys/net/ipv4/conf/eth0.10/rp_filter"))
        );
    }
}
