//! `--change` instructions (`docker import -c`, `docker commit -c`): the
//! Dockerfile instructions that only edit the config (CMD, ENTRYPOINT, ENV,
//! EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL, ONBUILD), applied to
//! the `config` object of an image config as JSON, so fields berth does not
//! model survive.

use serde_json::{json, Map, Value};

use crate::error::{ImageError, Result};

/// Applies every change in order to `config` (the config blob's `config` object).
pub fn apply(config: &mut Map<String, Value>, changes: &[String]) -> Result<()> {
    for c in changes {
        apply_one(config, c)?;
    }
    Ok(())
}

fn apply_one(config: &mut Map<String, Value>, change: &str) -> Result<()> {
    let bad = |why: &str| ImageError::InvalidChange {
        change: change.to_string(),
        reason: why.to_string(),
    };
    let change_t = change.trim();
    let (word, rest) = change_t
        .split_once(char::is_whitespace)
        .map(|(w, r)| (w, r.trim()))
        .unwrap_or((change_t, ""));
    if rest.is_empty() {
        return Err(bad("missing arguments"));
    }
    match word.to_ascii_uppercase().as_str() {
        "CMD" => {
            config.insert("Cmd".into(), json!(command(rest)));
        }
        "ENTRYPOINT" => {
            config.insert("Entrypoint".into(), json!(command(rest)));
        }
        "ENV" => {
            let pairs = key_values(rest).ok_or_else(|| bad("expected KEY=VALUE or KEY VALUE"))?;
            let env = config.entry("Env").or_insert_with(|| json!([]));
            let list = env
                .as_array_mut()
                .ok_or_else(|| bad("image Env is not a list"))?;
            for (k, v) in pairs {
                let prefix = format!("{k}=");
                list.retain(|e| !e.as_str().is_some_and(|s| s.starts_with(&prefix)));
                list.push(json!(format!("{k}={v}")));
            }
        }
        "LABEL" => {
            let pairs = key_values(rest).ok_or_else(|| bad("expected KEY=VALUE"))?;
            let labels = config.entry("Labels").or_insert_with(|| json!({}));
            if labels.is_null() {
                *labels = json!({});
            }
            let map = labels
                .as_object_mut()
                .ok_or_else(|| bad("image Labels is not a map"))?;
            for (k, v) in pairs {
                map.insert(k, json!(v));
            }
        }
        "EXPOSE" => {
            let ports = config.entry("ExposedPorts").or_insert_with(|| json!({}));
            if ports.is_null() {
                *ports = json!({});
            }
            let map = ports
                .as_object_mut()
                .ok_or_else(|| bad("image ExposedPorts is not a map"))?;
            for p in rest.split_whitespace() {
                let (num, proto) = p.split_once('/').unwrap_or((p, "tcp"));
                if num.parse::<u16>().is_err() || !matches!(proto, "tcp" | "udp" | "sctp") {
                    return Err(bad("expected PORT[/tcp|udp|sctp]"));
                }
                map.insert(format!("{num}/{proto}"), json!({}));
            }
        }
        "VOLUME" => {
            let vols = config.entry("Volumes").or_insert_with(|| json!({}));
            if vols.is_null() {
                *vols = json!({});
            }
            let map = vols
                .as_object_mut()
                .ok_or_else(|| bad("image Volumes is not a map"))?;
            let list = match serde_json::from_str::<Vec<String>>(rest) {
                Ok(l) => l,
                Err(_) => rest.split_whitespace().map(str::to_string).collect(),
            };
            for v in list {
                map.insert(v, json!({}));
            }
        }
        "USER" => {
            config.insert("User".into(), json!(rest));
        }
        "WORKDIR" => {
            let cur = config
                .get("WorkingDir")
                .and_then(Value::as_str)
                .unwrap_or("/");
            let dir = if rest.starts_with('/') {
                rest.to_string()
            } else {
                format!("{}/{rest}", cur.trim_end_matches('/'))
            };
            config.insert("WorkingDir".into(), json!(dir));
        }
        "STOPSIGNAL" => {
            config.insert("StopSignal".into(), json!(rest));
        }
        "ONBUILD" => {
            let list = config.entry("OnBuild").or_insert_with(|| json!([]));
            if list.is_null() {
                *list = json!([]);
            }
            list.as_array_mut()
                .ok_or_else(|| bad("image OnBuild is not a list"))?
                .push(json!(rest));
        }
        _ => return Err(bad("not an instruction --change accepts")),
    }
    Ok(())
}

/// Exec form (a JSON list) or shell form (`/bin/sh -c ...`).
fn command(rest: &str) -> Vec<String> {
    match serde_json::from_str::<Vec<String>>(rest) {
        Ok(v) => v,
        Err(_) => vec!["/bin/sh".into(), "-c".into(), rest.to_string()],
    }
}

/// `K=V K2="V 2"` or the legacy `K V with spaces`.
fn key_values(rest: &str) -> Option<Vec<(String, String)>> {
    let first = rest.split_whitespace().next()?;
    if !first.contains('=') {
        let (k, v) = rest.split_once(char::is_whitespace)?;
        return Some(vec![(k.to_string(), v.trim().to_string())]);
    }
    let mut out = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        for c in chars.by_ref() {
            if c == '=' {
                break;
            }
            key.push(c);
        }
        if key.is_empty() || key.contains(char::is_whitespace) {
            return None;
        }
        let mut val = String::new();
        let mut quote: Option<char> = None;
        while let Some(&c) = chars.peek() {
            chars.next();
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, c) if c.is_whitespace() => break,
                (_, '\\') => {
                    if let Some(n) = chars.next() {
                        val.push(n);
                    }
                }
                (_, c) => val.push(c),
            }
        }
        out.push((key, val));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_edit_the_config_as_docker_does() -> Result<()> {
        let mut c = Map::new();
        c.insert("Env".into(), json!(["PATH=/bin", "A=1"]));
        apply(
            &mut c,
            &[
                "CMD [\"sh\", \"-c\", \"echo hi\"]".into(),
                "ENTRYPOINT /init --flag".into(),
                "ENV A=2 B=\"two words\"".into(),
                "ENV C three words".into(),
                "EXPOSE 80 53/udp".into(),
                "LABEL team=infra".into(),
                "WORKDIR /srv".into(),
                "WORKDIR app".into(),
                "USER 1000:1000".into(),
                "VOLUME /data".into(),
                "STOPSIGNAL SIGINT".into(),
            ],
        )?;
        assert_eq!(c["Cmd"], json!(["sh", "-c", "echo hi"]));
        assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c", "/init --flag"]));
        assert_eq!(
            c["Env"],
            json!(["PATH=/bin", "A=2", "B=two words", "C=three words"])
        );
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(c["Labels"], json!({"team": "infra"}));
        assert_eq!(c["WorkingDir"], json!("/srv/app"));
        assert_eq!(c["User"], json!("1000:1000"));
        assert_eq!(c["Volumes"], json!({"/data": {}}));
        assert_eq!(c["StopSignal"], json!("SIGINT"));
        Ok(())
    }

    #[test]
    fn bad_changes_are_refused_by_name() {
        for bad in ["RUN echo", "CMD", "EXPOSE http", "ENV =x"] {
            let mut c = Map::new();
            assert!(
                matches!(
                    apply(&mut c, &[bad.into()]),
                    Err(ImageError::InvalidChange { .. })
                ),
                "{bad:?} accepted"
            );
        }
    }
}
