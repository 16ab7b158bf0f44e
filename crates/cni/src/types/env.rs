//! The `CNI_*` environment a plugin is invoked with.
//!
//! Which variables are required depends on the verb (DEL may omit
//! CNI_NETNS; VERSION needs none). Missing or invalid ones are reported
//! together in one code-4 error that names them all.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use super::config::is_cni_identifier;
use super::error::CniError;

/// A CNI verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Add,
    Del,
    Check,
    Status,
    Gc,
    Version,
}

impl Command {
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Add => "ADD",
            Command::Del => "DEL",
            Command::Check => "CHECK",
            Command::Status => "STATUS",
            Command::Gc => "GC",
            Command::Version => "VERSION",
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Command {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ADD" => Ok(Command::Add),
            "DEL" => Ok(Command::Del),
            "CHECK" => Ok(Command::Check),
            "STATUS" => Ok(Command::Status),
            "GC" => Ok(Command::Gc),
            "VERSION" => Ok(Command::Version),
            other => Err(format!("unknown CNI_COMMAND {other:?}")),
        }
    }
}

/// The validated invocation parameters.
#[derive(Debug, Clone)]
pub struct CmdArgs {
    pub command: Command,
    /// Present for ADD, DEL, CHECK.
    pub container_id: String,
    /// Required for ADD and CHECK; DEL may run without it.
    pub netns: Option<PathBuf>,
    /// Present for ADD, DEL, CHECK.
    pub ifname: String,
    /// `CNI_ARGS` as key/value pairs.
    pub args: Vec<(String, String)>,
    pub path: Vec<PathBuf>,
}

impl CmdArgs {
    /// Reads and validates the variables through `get` (the process
    /// environment in a plugin; a map in tests).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<CmdArgs, CniError> {
        let raw_cmd = get("CNI_COMMAND")
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                CniError::invalid_env("required environment variable CNI_COMMAND is not set")
            })?;
        let command: Command = raw_cmd
            .parse()
            .map_err(|e: String| CniError::invalid_env(format!("CNI_COMMAND: {e}")))?;
        let attach = matches!(command, Command::Add | Command::Del | Command::Check);
        let mut problems: Vec<String> = Vec::new();
        let nonempty = |k: &str| get(k).filter(|s| !s.is_empty());

        let container_id = nonempty("CNI_CONTAINERID");
        if attach {
            match &container_id {
                None => problems.push("CNI_CONTAINERID is not set".into()),
                Some(id) if !is_cni_identifier(id) => problems.push(format!(
                    "CNI_CONTAINERID {id:?} must start with a letter or digit and contain only letters, digits, '_', '.' and '-'"
                )),
                Some(_) => {}
            }
        }
        let netns = nonempty("CNI_NETNS").map(PathBuf::from);
        if matches!(command, Command::Add | Command::Check) && netns.is_none() {
            problems.push("CNI_NETNS is not set".into());
        }
        let ifname = nonempty("CNI_IFNAME");
        if attach {
            match &ifname {
                None => problems.push("CNI_IFNAME is not set".into()),
                Some(n) => {
                    if let Err(e) = validate_ifname(n) {
                        problems.push(format!("CNI_IFNAME {e}"));
                    }
                }
            }
        }
        let path = nonempty("CNI_PATH");
        if command != Command::Version && path.is_none() {
            problems.push("CNI_PATH is not set".into());
        }
        let args = match get("CNI_ARGS") {
            None => Vec::new(),
            Some(s) => parse_cni_args(&s).unwrap_or_else(|e| {
                problems.push(format!("CNI_ARGS {e}"));
                Vec::new()
            }),
        };
        if !problems.is_empty() {
            return Err(CniError::invalid_env(format!(
                "invalid environment for {command}: {}",
                problems.join("; ")
            )));
        }
        Ok(CmdArgs {
            command,
            container_id: container_id.unwrap_or_default(),
            netns,
            ifname: ifname.unwrap_or_default(),
            args,
            path: path
                .map(|p| {
                    std::env::split_paths(&p)
                        .filter(|d| !d.as_os_str().is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        })
    }

    /// The value of one `CNI_ARGS` key.
    pub fn arg(&self, key: &str) -> Option<&str> {
        self.args
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The spec's rules for a container interface name.
pub fn validate_ifname(n: &str) -> Result<(), String> {
    if n.is_empty() {
        return Err("is empty".into());
    }
    if n.len() > 15 {
        return Err(format!("{n:?} is longer than 15 bytes"));
    }
    if n == "." || n == ".." {
        return Err(format!("{n:?} is not a valid interface name"));
    }
    if n.chars().any(|c| c == '/' || c == ':' || c.is_whitespace()) {
        return Err(format!("{n:?} contains '/', ':' or whitespace"));
    }
    Ok(())
}

/// `CNI_ARGS`: `K=V;K2=V2`.
pub fn parse_cni_args(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for pair in s.split(';').filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("entry {pair:?} is not KEY=VALUE"))?;
        if k.is_empty() {
            return Err(format!("entry {pair:?} has an empty key"));
        }
        out.push((k.to_owned(), v.to_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn add_requires_all_and_names_missing() {
        let e = CmdArgs::from_env(env(&[("CNI_COMMAND", "ADD"), ("CNI_PATH", "/x")]))
            .expect_err("must fail");
        assert_eq!(e.code.as_u32(), 4);
        for v in ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"] {
            assert!(e.msg.contains(v), "{}", e.msg);
        }
    }

    #[test]
    fn del_allows_missing_netns() {
        let a = CmdArgs::from_env(env(&[
            ("CNI_COMMAND", "DEL"),
            ("CNI_CONTAINERID", "c1"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_PATH", "/a:/b"),
            ("CNI_ARGS", "IgnoreUnknown=1;IP=10.0.0.5"),
        ]))
        .expect("ok");
        assert!(a.netns.is_none());
        assert_eq!(a.path.len(), 2);
        assert_eq!(a.arg("IP"), Some("10.0.0.5"));
    }

    #[test]
    fn version_needs_nothing_else() {
        assert!(CmdArgs::from_env(env(&[("CNI_COMMAND", "VERSION")])).is_ok());
    }

    #[test]
    fn invalid_values_rejected() {
        let e = CmdArgs::from_env(env(&[
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "c1"),
            ("CNI_NETNS", "/x"),
            ("CNI_IFNAME", "a/b"),
            ("CNI_PATH", "/x"),
        ]))
        .expect_err("must fail");
        assert!(e.msg.contains("CNI_IFNAME"), "{}", e.msg);
        let e = CmdArgs::from_env(env(&[("CNI_COMMAND", "FOO")])).expect_err("must fail");
        assert!(e.msg.contains("CNI_COMMAND"), "{}", e.msg);
        assert!(validate_ifname("0123456789abcdef").is_err());
        assert!(parse_cni_args("a=b;c").is_err());
    }
}
