//! The instructions that only change the image config: ENV, LABEL, CMD,
//! ENTRYPOINT, USER, EXPOSE, VOLUME, STOPSIGNAL, SHELL, HEALTHCHECK,
//! ONBUILD, MAINTAINER. Their variables are expanded where docker expands
//! them; each becomes a cached step with an empty-layer history entry.

use serde_json::{json, Value};

use crate::dockerfile::words;
use crate::dockerfile::{Command, Health, Instruction, Kind};
use crate::error::{BuildError, Result};
use crate::executor::{config_of, nop, Executor, StageState};

/// The shell of a stage (SHELL, or `/bin/sh -c`).
pub(crate) fn shell_of(st: &StageState) -> Vec<String> {
    st.parts.config["config"]["Shell"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
}

/// A command as argv: exec form as is, shell form through the shell.
pub(crate) fn argv(st: &StageState, cmd: &Command) -> Vec<String> {
    match cmd {
        Command::Exec(l) => l.clone(),
        Command::Shell(s) => {
            let mut v = shell_of(st);
            v.push(s.clone());
            v
        }
    }
}

impl Executor<'_> {
    pub(crate) fn config_step(&mut self, st: &mut StageState, ins: &Instruction) -> Result<()> {
        let line = ins.line;
        let esc = self.escape;
        let vars = st.vars();
        let ex = |w: &str| -> Result<String> {
            words::expand(w, &vars, esc).map_err(|message| BuildError::Step { line, message })
        };
        let exall = |w: &str| -> Result<Vec<String>> {
            words::expand_all(w, &vars, esc).map_err(|message| BuildError::Step { line, message })
        };
        // The change to make, as (config key, value), computed up front so
        // it is also the cache key's description.
        let mut sets: Vec<(String, Value)> = Vec::new();
        let mut top: Vec<(String, Value)> = Vec::new();
        match &ins.kind {
            Kind::Env(pairs) => {
                let mut env: Vec<(String, String)> = crate::executor::env_of(&st.parts);
                for (k, v) in pairs {
                    let k = ex(k)?;
                    let v = ex(v)?;
                    env.retain(|(e, _)| *e != k);
                    env.push((k, v));
                }
                let list: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
                sets.push(("Env".into(), json!(list)));
            }
            Kind::Label(pairs) => {
                let mut labels = st.parts.config["config"]["Labels"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                for (k, v) in pairs {
                    labels.insert(ex(k)?, json!(ex(v)?));
                }
                sets.push(("Labels".into(), Value::Object(labels)));
            }
            Kind::Cmd(c) => {
                sets.push(("Cmd".into(), json!(argv(st, c))));
                st.cmd_set = true;
            }
            Kind::Entrypoint(c) => {
                let v = argv(st, c);
                sets.push(("Entrypoint".into(), json!(v)));
                if !st.cmd_set {
                    // A base image's CMD does not apply to a new ENTRYPOINT.
                    sets.push(("Cmd".into(), Value::Null));
                }
            }
            Kind::User(u) => {
                let u = ex(u)?;
                if u.is_empty() {
                    return Err(BuildError::Step {
                        line,
                        message: "USER requires an argument".into(),
                    });
                }
                sets.push(("User".into(), json!(u)));
            }
            Kind::Expose(ports) => {
                let mut map = st.parts.config["config"]["ExposedPorts"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                for p in ports {
                    for port in expose_ports(&ex(p)?)
                        .map_err(|message| BuildError::Step { line, message })?
                    {
                        map.insert(port, json!({}));
                    }
                }
                sets.push(("ExposedPorts".into(), Value::Object(map)));
            }
            Kind::Volume(vols) => {
                let mut map = st.parts.config["config"]["Volumes"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                for v in vols {
                    for one in exall(v)? {
                        if one.trim().is_empty() {
                            return Err(BuildError::Step {
                                line,
                                message: "VOLUME specified can not be an empty string".into(),
                            });
                        }
                        map.insert(one, json!({}));
                    }
                }
                sets.push(("Volumes".into(), Value::Object(map)));
            }
            Kind::Stopsignal(s) => {
                let s = ex(s)?;
                if berth_runtime::container::signal::parse(&s).is_none_or(|n| n == 0) {
                    return Err(BuildError::Step {
                        line,
                        message: format!("Invalid signal: {s}"),
                    });
                }
                sets.push(("StopSignal".into(), json!(s)));
            }
            Kind::Shell(l) => sets.push(("Shell".into(), json!(l))),
            Kind::Healthcheck(h) => {
                let v = match h {
                    Health::None => json!({ "Test": ["NONE"] }),
                    Health::Check {
                        test,
                        interval,
                        timeout,
                        start_period,
                        start_interval,
                        retries,
                    } => {
                        let test = match test {
                            Command::Exec(l) => {
                                let mut v = vec!["CMD".to_string()];
                                v.extend(l.iter().cloned());
                                v
                            }
                            Command::Shell(s) => vec!["CMD-SHELL".to_string(), s.clone()],
                        };
                        let mut v = json!({ "Test": test });
                        for (k, x) in [
                            ("Interval", interval),
                            ("Timeout", timeout),
                            ("StartPeriod", start_period),
                            ("StartInterval", start_interval),
                            ("Retries", retries),
                        ] {
                            if let Some(x) = x {
                                v[k] = json!(x);
                            }
                        }
                        v
                    }
                };
                sets.push(("Healthcheck".into(), v));
            }
            Kind::Onbuild(t) => {
                let mut list: Vec<Value> = st.parts.config["config"]["OnBuild"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let (w, rest) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
                list.push(json!(format!("{} {}", w.to_ascii_uppercase(), rest.trim())));
                sets.push(("OnBuild".into(), Value::Array(list)));
            }
            Kind::Maintainer(m) => top.push(("author".into(), json!(ex(m)?))),
            other => {
                return Err(BuildError::Step {
                    line,
                    message: format!("{} is not a config instruction", other.keyword()),
                })
            }
        }
        let desc = format!("{} {}", json!(sets), json!(top));
        let text = ins.text.clone();
        self.cached(st, &desc, move |_, parts| {
            let mut p = nop(parts, &text);
            let c = config_of(&mut p);
            for (k, v) in sets {
                if v.is_null() {
                    c.remove(&k);
                } else {
                    c.insert(k, v);
                }
            }
            if let Some(obj) = p.config.as_object_mut() {
                for (k, v) in top {
                    obj.insert(k, v);
                }
            }
            Ok(p)
        })
    }
}

/// EXPOSE's `80`, `80/udp`, `8000-8002/tcp` as `port/proto` keys.
fn expose_ports(s: &str) -> std::result::Result<Vec<String>, String> {
    let (ports, proto) = s.split_once('/').unwrap_or((s, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let bad = || format!("invalid containerPort: {ports}");
    let (a, b) = match ports.split_once('-') {
        Some((a, b)) => (
            a.parse::<u16>().map_err(|_| bad())?,
            b.parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let p = ports.parse::<u16>().map_err(|_| bad())?;
            (p, p)
        }
    };
    if b < a {
        return Err(bad());
    }
    Ok((a..=b).map(|p| format!("{p}/{proto}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expose_forms() {
        assert_eq!(expose_ports("80"), Ok(vec!["80/tcp".to_string()]));
        assert_eq!(
            expose_ports("53-54/UDP"),
            Ok(vec!["53/udp".to_string(), "54/udp".to_string()])
        );
        assert!(expose_ports("x").is_err());
        assert!(expose_ports("80/icmp").is_err());
    }
}
