//! The CNI networks of the config dir: every `.conflist`, `.conf` or
//! `.json` file (libcni's extensions), in file name order, the first file
//! of a name winning, as libcni and podman pick them. Read at each call
//! (a few small files), so a conflist dropped into the dir is a network at
//! once and one removed is gone.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use berth_cni::types::NetConfList;
use sha2::{Digest, Sha256};

use crate::network::NetworkInfo;

/// One network found in the config dir.
#[derive(Debug, Clone)]
pub(crate) struct Discovered {
    pub path: PathBuf,
    pub list: NetConfList,
    pub modified: SystemTime,
}

/// Scans a config dir, warning once per bad file (not at every `network ls`).
#[derive(Debug)]
pub(crate) struct ConfDir {
    dir: PathBuf,
    warned: Mutex<HashSet<(PathBuf, SystemTime)>>,
}

impl ConfDir {
    pub fn new(dir: PathBuf) -> ConfDir {
        ConfDir {
            dir,
            warned: Mutex::new(HashSet::new()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The networks, in file name order (a missing dir has none).
    pub fn scan(&self) -> Vec<Discovered> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("conflist" | "conf" | "json")
                ) && p.is_file()
            })
            .collect();
        files.sort();
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for path in files {
            let modified = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            match NetConfList::load(&path) {
                Ok(list) => {
                    if seen.insert(list.name.clone()) {
                        out.push(Discovered {
                            path,
                            list,
                            modified,
                        });
                    } else {
                        self.warn_once(&path, modified, "a file before it names the same network");
                    }
                }
                Err(e) => self.warn_once(&path, modified, &e.to_string()),
            }
        }
        out
    }

    fn warn_once(&self, path: &Path, modified: SystemTime, why: &str) {
        let mut w = self.warned.lock().unwrap_or_else(|p| p.into_inner());
        if w.insert((path.to_owned(), modified)) {
            tracing::warn!(file = %path.display(), "ignoring CNI config: {why}");
        }
    }
}

/// A CNI network's id: 64 hex digits, fixed per name, so it stays the
/// same across daemon restarts and edits of the file.
pub(crate) fn network_id(name: &str) -> String {
    Sha256::digest(format!("berth cni network {name}"))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A range's subnet and gateway (empty when the conflist names none).
type SubnetGateway = (String, String);

/// One address range of an IPAM section (`ranges[i][0]` or the legacy
/// top-level `subnet`/`gateway`).
fn range_of(v: &serde_json::Value) -> Option<SubnetGateway> {
    let subnet = v.get("subnet")?.as_str()?.parse::<ipnet::IpNet>().ok()?;
    let gateway = v
        .get("gateway")
        .and_then(|g| g.as_str())
        .unwrap_or_default()
        .to_owned();
    Some((subnet.to_string(), gateway))
}

/// The IPv4 and IPv6 (subnet, gateway) of a list, from the first plugin
/// with an `ipam` section (host-local's `ranges` or `subnet`); none when
/// the IPAM plugin is configured some other way (dhcp, static).
fn ipam_ranges(list: &NetConfList) -> (Option<SubnetGateway>, Option<SubnetGateway>) {
    let Some(ipam) = list.plugins.iter().find_map(|p| p.raw.get("ipam")) else {
        return (None, None);
    };
    let mut ranges: Vec<SubnetGateway> = Vec::new();
    if let Some(r) = range_of(ipam) {
        ranges.push(r);
    }
    for set in ipam
        .get("ranges")
        .and_then(|r| r.as_array())
        .into_iter()
        .flatten()
    {
        if let Some(r) = set.as_array().and_then(|s| s.first()).and_then(range_of) {
            ranges.push(r);
        }
    }
    let v6 = |r: &&SubnetGateway| r.0.contains(':');
    (
        ranges.iter().find(|r| !v6(r)).cloned(),
        ranges.iter().find(v6).cloned(),
    )
}

impl Discovered {
    /// The network as `docker network ls/inspect` shows it.
    pub fn info(&self) -> NetworkInfo {
        let (v4, v6) = ipam_ranges(&self.list);
        let since = self
            .modified
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let plugins: Vec<&str> = self
            .list
            .plugins
            .iter()
            .map(|p| p.plugin_type.as_str())
            .collect();
        let options = HashMap::from([
            (
                "berth.cni.conflist".to_owned(),
                self.path.display().to_string(),
            ),
            ("berth.cni.plugins".to_owned(), plugins.join(",")),
        ]);
        let (subnet, gateway) = v4.unwrap_or_default();
        let (subnet6, gateway6) = v6.unwrap_or_default();
        NetworkInfo {
            id: network_id(&self.list.name),
            name: self.list.name.clone(),
            driver: "cni".into(),
            created: crate::container::inspect::format_time(since.as_secs(), since.subsec_nanos()),
            subnet,
            gateway,
            internal: false,
            ip_range: String::new(),
            subnet6,
            gateway6,
            aux_addresses: HashMap::new(),
            attachable: false,
            labels: HashMap::new(),
            options,
        }
    }

    /// Whether a plugin of the chain declared capability `name`.
    pub fn has_capability(&self, name: &str) -> bool {
        self.list.plugins.iter().any(|p| p.has_capability(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, file: &str, text: &str) {
        std::fs::write(dir.join(file), text).expect("write");
    }

    #[test]
    fn scans_in_name_order_first_name_wins_bad_files_skipped() {
        let d = tempfile::tempdir().expect("tmp");
        write(
            d.path(),
            "10-a.conflist",
            r#"{"cniVersion":"1.0.0","name":"a","plugins":[{"type":"bridge",
                "ipam":{"type":"host-local","ranges":[[{"subnet":"10.1.0.0/24","gateway":"10.1.0.1"}],
                [{"subnet":"fd00::/64"}]]}},{"type":"portmap","capabilities":{"portMappings":true}}]}"#,
        );
        write(
            d.path(),
            "20-a.conflist",
            r#"{"cniVersion":"1.0.0","name":"a","plugins":[{"type":"ptp"}]}"#,
        );
        write(
            d.path(),
            "30-b.conf",
            r#"{"cniVersion":"0.4.0","name":"b","type":"bridge","ipam":{"type":"host-local","subnet":"10.2.0.0/16"}}"#,
        );
        write(d.path(), "40-bad.conflist", "{not json");
        write(d.path(), "README", "not a config");
        let nets = ConfDir::new(d.path().to_owned()).scan();
        let names: Vec<&str> = nets.iter().map(|n| n.list.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert!(nets[0].path.ends_with("10-a.conflist"));
        let a = nets[0].info();
        assert_eq!(a.driver, "cni");
        assert_eq!(
            (a.subnet.as_str(), a.gateway.as_str()),
            ("10.1.0.0/24", "10.1.0.1")
        );
        assert_eq!((a.subnet6.as_str(), a.gateway6.as_str()), ("fd00::/64", ""));
        assert_eq!(a.options["berth.cni.plugins"], "bridge,portmap");
        assert!(nets[0].has_capability("portMappings"));
        assert!(!nets[1].has_capability("portMappings"));
        let b = nets[1].info();
        assert_eq!((b.subnet.as_str(), b.gateway.as_str()), ("10.2.0.0/16", ""));
        assert_eq!(a.id, network_id("a"));
        assert_eq!(a.id.len(), 64);
        assert_ne!(a.id, b.id);
    }

    #[test]
    fn a_missing_dir_has_no_networks() {
        assert!(ConfDir::new("/nonexistent/berth-cni".into())
            .scan()
            .is_empty());
    }
}
