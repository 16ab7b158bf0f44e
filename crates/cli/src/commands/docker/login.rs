//! `login`/`logout`: credentials checked by the daemon (`/auth`) and kept
//! in Docker's config.json (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`) as base64 `user:password`, as docker stores
//! them without a credential helper.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use base64::Engine;
use bollard_stubs::models::AuthConfig;
use clap::Args;
use serde_json::{json, Value};

use super::Ctx;

/// Docker Hub's key in config.json, as docker writes it.
pub const DOCKER_HUB: &str = "https://index.docker.io/v1/";

#[derive(Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short = 'u', long)]
    username: Option<String>,
    /// Password
    #[arg(short = 'p', long)]
    password: Option<String>,
    /// Take the password from stdin
    #[arg(long = "password-stdin")]
    password_stdin: bool,
    server: Option<String>,
}

#[derive(Args)]
pub struct LogoutArgs {
    server: Option<String>,
}

pub fn config_path() -> PathBuf {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG") {
        return PathBuf::from(d).join("config.json");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".docker").join("config.json")
}

fn read_config(p: &Path) -> anyhow::Result<Value> {
    match std::fs::read(p) {
        Ok(b) if b.is_empty() => Ok(json!({})),
        Ok(b) => serde_json::from_slice(&b).with_context(|| format!("parsing {}", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(json!({})),
        Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
    }
}

/// Write atomically (temp file + rename) with mode 0600: it holds secrets.
fn write_config(p: &Path, v: &Value) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = p.with_extension("json.tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    std::io::Write::write_all(&mut f, serde_json::to_string_pretty(v)?.as_bytes())?;
    std::fs::rename(&tmp, p)?;
    Ok(())
}

/// A string setting of config.json (`psFormat`, `imagesFormat`, ...),
/// which docker uses when no `--format` is given.
pub fn config_string(config: &Path, key: &str) -> Option<String> {
    read_config(config)
        .ok()?
        .get(key)?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The key docker uses for a server: Docker Hub's URL or the host as given.
pub fn server_key(server: Option<&str>) -> String {
    match server {
        None | Some("docker.io") | Some("index.docker.io") | Some("registry-1.docker.io") => {
            DOCKER_HUB.to_owned()
        }
        Some(s) => s
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned(),
    }
}

/// Stored `(user, password)` for a registry, if any.
pub fn stored_credentials(config: &Path, registry: &str) -> Option<(String, String)> {
    let cfg = read_config(config).ok()?;
    let auth = cfg.get("auths")?.get(registry)?.get("auth")?.as_str()?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

/// The `X-Registry-Auth` header value (base64url JSON AuthConfig) for a
/// registry with stored credentials.
pub fn registry_auth_header(registry: &str) -> Option<String> {
    let (u, p) = stored_credentials(&config_path(), registry)?;
    let auth = AuthConfig {
        username: Some(u),
        password: Some(p),
        serveraddress: Some(registry.to_owned()),
    };
    let json = serde_json::to_vec(&auth).ok()?;
    Some(base64::engine::general_purpose::URL_SAFE.encode(json))
}

pub fn login(cx: &Ctx, a: LoginArgs) -> anyhow::Result<i32> {
    let key = server_key(a.server.as_deref());
    let username = match a.username {
        Some(u) => u,
        None => bail!(
            "Error: Cannot perform an interactive login from a non TTY device; use --username"
        ),
    };
    let password = if a.password_stdin {
        if a.password.is_some() {
            bail!("--password and --password-stdin are mutually exclusive");
        }
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    } else {
        match a.password {
            Some(p) => {
                eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
                p
            }
            None => bail!("Error: Cannot perform an interactive login from a non TTY device; use --password-stdin"),
        }
    };
    let auth = AuthConfig {
        username: Some(username.clone()),
        password: Some(password.clone()),
        serveraddress: Some(key.clone()),
    };
    let answer: Value = cx.client.post_json("/auth", &[], Some(&auth))?;
    store_credentials(&config_path(), &key, &username, &password)?;
    println!(
        "{}",
        answer
            .get("Status")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("Login Succeeded")
    );
    Ok(0)
}

pub fn logout(a: LogoutArgs) -> anyhow::Result<i32> {
    let key = server_key(a.server.as_deref());
    if remove_credentials(&config_path(), &key)? {
        println!("Removing login credentials for {key}");
    } else {
        println!("Not logged in to {key}");
    }
    Ok(0)
}

/// Record `user:password` for `key` in config.json, keeping its other keys.
pub fn store_credentials(
    config: &Path,
    key: &str,
    username: &str,
    password: &str,
) -> anyhow::Result<()> {
    let mut cfg = read_config(config)?;
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let obj = cfg
        .as_object_mut()
        .context("config.json is not a JSON object")?;
    let auths = obj.entry("auths").or_insert_with(|| json!({}));
    let auths = auths
        .as_object_mut()
        .context("config.json auths is not an object")?;
    auths.insert(key.to_owned(), json!({"auth": encoded}));
    write_config(config, &cfg)
}

/// Forget `key`'s credentials; false if there were none.
pub fn remove_credentials(config: &Path, key: &str) -> anyhow::Result<bool> {
    let mut cfg = read_config(config)?;
    let removed = cfg
        .get_mut("auths")
        .and_then(Value::as_object_mut)
        .and_then(|m| m.remove(key))
        .is_some();
    if removed {
        write_config(config, &cfg)?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_round_trip_in_docker_config() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("sub/config.json");
        std::fs::create_dir_all(cfg.parent().unwrap()).unwrap();
        std::fs::write(&cfg, r#"{"credsStore": "", "psFormat": "{{.ID}}"}"#).unwrap();
        store_credentials(&cfg, "localhost:5000", "alice", "s3:cret").unwrap();
        let v: Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
        // docker's form: base64 of user:password; other keys kept.
        assert_eq!(v["auths"]["localhost:5000"]["auth"], "YWxpY2U6czM6Y3JldA==");
        assert_eq!(v["psFormat"], "{{.ID}}");
        let mode = std::fs::metadata(&cfg).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            stored_credentials(&cfg, "localhost:5000"),
            Some(("alice".into(), "s3:cret".into()))
        );
        assert!(remove_credentials(&cfg, "localhost:5000").unwrap());
        assert!(!remove_credentials(&cfg, "localhost:5000").unwrap());
        assert_eq!(stored_credentials(&cfg, "localhost:5000"), None);
    }

    #[test]
    fn format_settings_come_from_config() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config.json");
        std::fs::write(
            &cfg,
            r#"{"psFormat": "table {{.Names}}", "imagesFormat": ""}"#,
        )
        .unwrap();
        assert_eq!(
            config_string(&cfg, "psFormat").as_deref(),
            Some("table {{.Names}}")
        );
        assert_eq!(config_string(&cfg, "imagesFormat"), None);
        assert_eq!(
            config_string(&dir.path().join("missing.json"), "psFormat"),
            None
        );
    }

    #[test]
    fn a_corrupt_config_is_an_error_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config.json");
        std::fs::write(&cfg, "{not json").unwrap();
        assert!(store_credentials(&cfg, "x", "u", "p").is_err());
        assert_eq!(std::fs::read_to_string(&cfg).unwrap(), "{not json");
    }

    #[test]
    fn server_keys_like_docker() {
        assert_eq!(server_key(None), DOCKER_HUB);
        assert_eq!(server_key(Some("docker.io")), DOCKER_HUB);
        assert_eq!(
            server_key(Some("https://localhost:5000/")),
            "localhost:5000"
        );
    }
}
