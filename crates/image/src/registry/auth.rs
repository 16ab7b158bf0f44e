//! Registry credentials: Docker's `config.json` (`auths.<host>.auth` =
//! base64 `user:password`), and the `WWW-Authenticate` challenges of the
//! distribution spec's token flow (Basic, or Bearer with realm, service
//! and scope).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::Value;

use crate::error::{ImageError, Result};

/// A user name and password (or identity token as password).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User.
    pub username: String,
    /// Password or token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// The `Authorization: Basic ..` value.
    pub fn basic(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// Docker's client config file, `$DOCKER_CONFIG/config.json` or
/// `~/.docker/config.json`.
pub fn docker_config_path() -> PathBuf {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG") {
        return PathBuf::from(d).join("config.json");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".docker").join("config.json")
}

/// Keys docker uses for a registry in `auths` (docker.io has a legacy URL).
pub(crate) fn auth_keys(registry: &str) -> Vec<String> {
    let mut keys = vec![
        registry.to_string(),
        format!("https://{registry}"),
        format!("http://{registry}"),
    ];
    if registry == "docker.io" || registry == "registry-1.docker.io" {
        keys.push("https://index.docker.io/v1/".into());
    }
    keys
}

/// The stored credentials for `registry` in the config at `path`, if any.
pub fn lookup(path: &Path, registry: &str) -> Result<Option<Credentials>> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ImageError::io("reading", path)(e)),
    };
    let v: Value = serde_json::from_slice(&text)
        .map_err(|e| ImageError::corrupt(path.display().to_string(), e))?;
    for k in auth_keys(registry) {
        let Some(auth) = v["auths"][&k]["auth"].as_str() else {
            continue;
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth)
            .map_err(|e| ImageError::corrupt(format!("{} auths.{k}", path.display()), e))?;
        let s = String::from_utf8_lossy(&decoded);
        if let Some((u, p)) = s.split_once(':') {
            return Ok(Some(Credentials {
                username: u.to_string(),
                password: p.to_string(),
            }));
        }
    }
    Ok(None)
}

/// Stores (or with `None` removes) `registry`'s credentials in the config
/// at `path`, keeping everything else in the file; written atomically with
/// mode 0600.
pub fn store(path: &Path, registry: &str, creds: Option<&Credentials>) -> Result<()> {
    let mut v: Value = match std::fs::read(path) {
        Ok(t) => serde_json::from_slice(&t)
            .map_err(|e| ImageError::corrupt(path.display().to_string(), e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Value::Object(Default::default()),
        Err(e) => return Err(ImageError::io("reading", path)(e)),
    };
    let obj = v
        .as_object_mut()
        .ok_or_else(|| ImageError::corrupt(path.display().to_string(), "not a JSON object"))?;
    let auths = obj
        .entry("auths")
        .or_insert_with(|| Value::Object(Default::default()));
    let auths = auths
        .as_object_mut()
        .ok_or_else(|| ImageError::corrupt(path.display().to_string(), "auths is not an object"))?;
    for k in auth_keys(registry) {
        auths.remove(&k);
    }
    if let Some(c) = creds {
        let raw = format!("{}:{}", c.username, c.password);
        auths.insert(
            registry.to_string(),
            serde_json::json!({"auth": base64::engine::general_purpose::STANDARD.encode(raw)}),
        );
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(ImageError::io("creating", dir))?;
    let tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(ImageError::io("creating a file in", dir))?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o600))
            .map_err(ImageError::io("chmod", tmp.path()))?;
    }
    let bytes =
        serde_json::to_vec_pretty(&v).map_err(|e| ImageError::corrupt("docker config", e))?;
    std::fs::write(tmp.path(), bytes).map_err(ImageError::io("writing", tmp.path()))?;
    tmp.persist(path)
        .map_err(|e| ImageError::io("writing", path)(e.error))?;
    Ok(())
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// Basic auth.
    Basic,
    /// A token from `realm`.
    Bearer(BTreeMap<String, String>),
}

/// Parses `Basic realm=".."` or `Bearer realm="..",service="..",scope=".."`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => {
            let mut params = BTreeMap::new();
            let mut s = rest.trim();
            while !s.is_empty() {
                let (k, after) = s.split_once('=')?;
                let k = k.trim().trim_start_matches(',').trim().to_ascii_lowercase();
                let after = after.trim_start();
                let (v, tail) = if let Some(q) = after.strip_prefix('"') {
                    let end = q.find('"')?;
                    (&q[..end], &q[end + 1..])
                } else {
                    let end = after.find(',').unwrap_or(after.len());
                    (&after[..end], &after[end..])
                };
                params.insert(k, v.to_string());
                s = tail.trim_start().trim_start_matches(',').trim_start();
            }
            params
                .contains_key("realm")
                .then_some(Challenge::Bearer(params))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        );
        let Some(Challenge::Bearer(p)) = c else {
            panic!("not bearer: {c:?}")
        };
        assert_eq!(p["realm"], "https://auth.docker.io/token");
        assert_eq!(p["scope"], "repository:library/busybox:pull");
        assert_eq!(
            parse_challenge(r#"Basic realm="basic-realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn credentials_round_trip_through_a_docker_config() -> Result<()> {
        let dir = tempfile::tempdir().map_err(ImageError::io("tempdir", "/tmp"))?;
        let p = dir.path().join("config.json");
        std::fs::write(&p, r#"{"credsStore":"x","auths":{}}"#)
            .map_err(ImageError::io("write", &p))?;
        let c = Credentials {
            username: "u".into(),
            password: "p:w".into(),
        };
        store(&p, "127.0.0.1:5000", Some(&c))?;
        assert_eq!(lookup(&p, "127.0.0.1:5000")?, Some(c));
        let v: Value =
            serde_json::from_slice(&std::fs::read(&p).map_err(ImageError::io("read", &p))?)
                .map_err(|e| ImageError::corrupt("x", e))?;
        assert_eq!(v["credsStore"], "x", "other settings kept");
        store(&p, "127.0.0.1:5000", None)?;
        assert_eq!(lookup(&p, "127.0.0.1:5000")?, None);
        Ok(())
    }
}
