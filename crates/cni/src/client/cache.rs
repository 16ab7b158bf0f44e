//! The result cache, in libcni's layout and format.
//!
//! `<dir>/results/<network>-<containerID>-<ifname>` holds a `cniCacheV1`
//! record: the configuration list as it was at ADD (base64, like Go's
//! `[]byte`), the runtime parameters and the result. DEL and CHECK use it for
//! `prevResult`; GC uses it to find attachments to delete. Keeping libcni's
//! format means cnitool and berth can read each other's cache.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Why the cache could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cache {}: {msg}", path.display())]
    Corrupt { path: PathBuf, msg: String },
}

/// One cached attachment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheEntry {
    pub kind: String,
    pub container_id: String,
    #[serde(with = "base64_bytes")]
    pub config: Vec<u8>,
    pub if_name: String,
    pub network_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<String>,
    #[serde(default)]
    pub cni_args: Vec<(String, String)>,
    #[serde(default)]
    pub capability_args: serde_json::Map<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
}

pub const CACHE_KIND: &str = "cniCacheV1";

/// A cache rooted at a directory (libcni's default is /var/lib/cni).
#[derive(Debug, Clone)]
pub struct ResultCache {
    dir: PathBuf,
}

impl ResultCache {
    pub fn new(dir: impl Into<PathBuf>) -> ResultCache {
        ResultCache { dir: dir.into() }
    }

    fn results_dir(&self) -> PathBuf {
        self.dir.join("results")
    }

    fn path(&self, network: &str, container_id: &str, ifname: &str) -> PathBuf {
        self.results_dir()
            .join(format!("{network}-{container_id}-{ifname}"))
    }

    /// Writes an entry atomically (temp file + rename), so a crash never
    /// leaves half a record.
    pub fn put(&self, entry: &CacheEntry) -> Result<(), CacheError> {
        let dir = self.results_dir();
        std::fs::create_dir_all(&dir).map_err(|source| CacheError::Io {
            path: dir.clone(),
            source,
        })?;
        let path = self.path(&entry.network_name, &entry.container_id, &entry.if_name);
        let tmp = path.with_extension("tmp");
        let data = serde_json::to_vec(entry).map_err(|e| CacheError::Corrupt {
            path: path.clone(),
            msg: e.to_string(),
        })?;
        std::fs::write(&tmp, data).map_err(|source| CacheError::Io {
            path: tmp.clone(),
            source,
        })?;
        std::fs::rename(&tmp, &path).map_err(|source| CacheError::Io {
            path: path.clone(),
            source,
        })
    }

    /// The entry for an attachment, or `None` if nothing is cached.
    pub fn get(
        &self,
        network: &str,
        container_id: &str,
        ifname: &str,
    ) -> Result<Option<CacheEntry>, CacheError> {
        read_entry(&self.path(network, container_id, ifname))
    }

    /// Removes an entry; a missing one is fine (DEL is idempotent).
    pub fn remove(
        &self,
        network: &str,
        container_id: &str,
        ifname: &str,
    ) -> Result<(), CacheError> {
        let path = self.path(network, container_id, ifname);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(CacheError::Io { path, source }),
        }
    }

    /// Every entry of `network` (entries that cannot be read are skipped
    /// with a warning: one bad file must not stop GC).
    pub fn list(&self, network: &str) -> Result<Vec<CacheEntry>, CacheError> {
        self.entries(Some(network))
    }

    /// Every entry of every network (a runtime's repair after a crash
    /// looks for attachments of networks whose configuration is gone too).
    pub fn list_all(&self) -> Result<Vec<CacheEntry>, CacheError> {
        self.entries(None)
    }

    fn entries(&self, network: Option<&str>) -> Result<Vec<CacheEntry>, CacheError> {
        let dir = self.results_dir();
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(CacheError::Io { path: dir, source }),
        };
        let prefix = network.map(|n| format!("{n}-")).unwrap_or_default();
        let mut out = Vec::new();
        for ent in rd.flatten() {
            let name = ent.file_name().to_string_lossy().into_owned();
            if !name.starts_with(&prefix) || name.ends_with(".tmp") {
                continue;
            }
            match read_entry(&ent.path()) {
                Ok(Some(e)) if network.is_none_or(|n| e.network_name == n) => out.push(e),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "skipping unreadable cache entry"),
            }
        }
        out.sort_by(|a, b| {
            (&a.network_name, &a.container_id, &a.if_name).cmp(&(
                &b.network_name,
                &b.container_id,
                &b.if_name,
            ))
        });
        Ok(out)
    }
}

fn read_entry(path: &Path) -> Result<Option<CacheEntry>, CacheError> {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(CacheError::Io {
                path: path.to_owned(),
                source,
            })
        }
    };
    let entry: CacheEntry = serde_json::from_slice(&data).map_err(|e| CacheError::Corrupt {
        path: path.to_owned(),
        msg: e.to_string(),
    })?;
    if entry.kind != CACHE_KIND {
        return Err(CacheError::Corrupt {
            path: path.to_owned(),
            msg: format!("unknown kind {:?}", entry.kind),
        });
    }
    Ok(Some(entry))
}

/// Standard base64 (RFC 4648, padded), as Go encodes `[]byte` in JSON.
mod base64_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(data: &[u8]) -> String {
        let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
        for chunk in data.chunks(3) {
            let b = [
                chunk[0],
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    pub fn decode(s: &str) -> Result<Vec<u8>, String> {
        let s = s.trim_end_matches('=');
        let mut out = Vec::with_capacity(s.len() * 3 / 4);
        let mut acc: u32 = 0;
        let mut bits = 0;
        for c in s.bytes() {
            let v = ALPHABET
                .iter()
                .position(|&a| a == c)
                .ok_or_else(|| format!("invalid base64 character {:?}", c as char))?;
            acc = (acc << 6) | v as u32;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
                acc &= (1 << bits) - 1;
            }
        }
        Ok(out)
    }

    pub fn serialize<S: Serializer>(data: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(data))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        decode(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64_bytes::encode(plain.as_bytes()), enc);
            assert_eq!(base64_bytes::decode(enc).expect("decode"), plain.as_bytes());
        }
        assert!(base64_bytes::decode("a*b=").is_err());
    }

    #[test]
    fn put_get_list_remove() {
        let d = tempfile::tempdir().expect("tmp");
        let cache = ResultCache::new(d.path());
        let entry = CacheEntry {
            kind: CACHE_KIND.into(),
            container_id: "c1".into(),
            config: br#"{"name":"net"}"#.to_vec(),
            if_name: "eth0".into(),
            network_name: "net".into(),
            netns: Some("/run/netns/x".into()),
            cni_args: vec![("A".into(), "1".into())],
            capability_args: Default::default(),
            result: Some(serde_json::json!({"cniVersion":"1.0.0"})),
        };
        cache.put(&entry).expect("put");
        assert!(d.path().join("results/net-c1-eth0").exists());
        assert_eq!(
            cache.get("net", "c1", "eth0").expect("get"),
            Some(entry.clone())
        );
        // A network whose name is a prefix of another must not see its entries.
        assert!(cache.list("ne").expect("list").is_empty());
        assert_eq!(cache.list("net").expect("list").len(), 1);
        assert_eq!(cache.list_all().expect("list all"), vec![entry.clone()]);
        cache.remove("net", "c1", "eth0").expect("rm");
        cache.remove("net", "c1", "eth0").expect("rm twice");
        assert_eq!(cache.get("net", "c1", "eth0").expect("get"), None);
    }
}
