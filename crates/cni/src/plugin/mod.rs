//! The plugin side of the protocol: read the `CNI_*` environment and the
//! stdin configuration, dispatch the verb, and write the result or the spec's
//! JSON error to stdout with the spec's exit status.
//!
//! Each berth plugin implements [`Plugin`]; [`run`] does everything common to
//! all of them (validation, version negotiation, VERSION, which verbs exist
//! in which version), the way libcni's `skel` package does for Go plugins.

use crate::types::{CmdArgs, CniError, CniResult, CniVersion, Command, ErrorCode, NetConf};

/// One parsed invocation.
#[derive(Debug, Clone)]
pub struct Request {
    pub args: CmdArgs,
    pub conf: NetConf,
    /// The configuration exactly as received, for delegation to IPAM.
    pub stdin: Vec<u8>,
}

impl Request {
    /// A request for unit tests: `command` for container `c1`, interface
    /// `eth0`, no netns, `CNI_ARGS` pairs `args`, stdin `conf`.
    #[cfg(test)]
    pub(crate) fn for_test(
        command: Command,
        conf: serde_json::Value,
        args: &[(&str, &str)],
    ) -> Request {
        let stdin = serde_json::to_vec(&conf).expect("json");
        Request {
            args: CmdArgs {
                command,
                container_id: "c1".into(),
                netns: None,
                ifname: "eth0".into(),
                args: args
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                path: Vec::new(),
            },
            conf: NetConf::parse(&stdin).expect("conf"),
            stdin,
        }
    }
}

/// A CNI plugin. `add` returns the result to print; the other verbs print
/// nothing on success.
pub trait Plugin {
    fn add(&self, req: &Request) -> Result<CniResult, CniError>;
    fn del(&self, req: &Request) -> Result<(), CniError>;
    fn check(&self, req: &Request) -> Result<(), CniError>;
    /// Readiness to accept ADDs; ready unless the plugin says otherwise.
    fn status(&self, _req: &Request) -> Result<(), CniError> {
        Ok(())
    }
    /// Drop state of attachments not in `cni.dev/valid-attachments`.
    fn gc(&self, _req: &Request) -> Result<(), CniError> {
        Ok(())
    }
}

/// What the process prints on stdout and exits with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: Vec<u8>,
    pub exit_code: i32,
}

/// Runs one invocation of `plugin` with the environment `get` and `stdin`.
pub fn run(plugin: &dyn Plugin, get: impl Fn(&str) -> Option<String>, stdin: &[u8]) -> Outcome {
    // The version to write an error in: the configuration's if it can be
    // read, otherwise the newest.
    let err_version = sniff_version(stdin).unwrap_or(CniVersion::LATEST);
    match dispatch(plugin, get, stdin) {
        Ok(stdout) => Outcome {
            stdout,
            exit_code: 0,
        },
        Err((e, v)) => {
            let v = v.unwrap_or(err_version);
            let mut stdout = serde_json::to_vec(&e.to_json(v)).unwrap_or_default();
            stdout.push(b'\n');
            Outcome {
                stdout,
                exit_code: 1,
            }
        }
    }
}

type DispatchError = (CniError, Option<CniVersion>);

fn dispatch(
    plugin: &dyn Plugin,
    get: impl Fn(&str) -> Option<String>,
    stdin: &[u8],
) -> Result<Vec<u8>, DispatchError> {
    let args = CmdArgs::from_env(get).map_err(|e| (e, None))?;
    if args.command == Command::Version {
        return version_answer(stdin).map_err(|e| (e, None));
    }
    let conf = NetConf::parse(stdin).map_err(|e| (e, None))?;
    let v = conf.version;
    let fail = |e: CniError| (e, Some(v));
    let needs = |ok: bool, min: &str| {
        if ok {
            Ok(())
        } else {
            Err(fail(CniError::new(
                ErrorCode::IncompatibleVersion,
                format!(
                    "{} needs cniVersion {min} or later, the configuration has {v}",
                    args.command
                ),
            )))
        }
    };
    match args.command {
        Command::Check => needs(v.has_check(), "0.4.0")?,
        Command::Status | Command::Gc => needs(v.has_status_and_gc(), "1.1.0")?,
        _ => {}
    }
    let req = Request {
        args,
        conf,
        stdin: stdin.to_vec(),
    };
    match req.args.command {
        Command::Add => {
            let r = plugin.add(&req).map_err(fail)?;
            let mut out = serde_json::to_vec(&r.to_json(v)).unwrap_or_default();
            out.push(b'\n');
            Ok(out)
        }
        Command::Del => plugin.del(&req).map(|_| Vec::new()).map_err(fail),
        Command::Check => plugin.check(&req).map(|_| Vec::new()).map_err(fail),
        Command::Status => plugin.status(&req).map(|_| Vec::new()).map_err(fail),
        Command::Gc => plugin.gc(&req).map(|_| Vec::new()).map_err(fail),
        Command::Version => Ok(Vec::new()), // answered above
    }
}

/// The VERSION answer: the asked-for version echoed when berth speaks it
/// (the newest otherwise) and the supported list.
fn version_answer(stdin: &[u8]) -> Result<Vec<u8>, CniError> {
    let asked = if stdin.iter().all(|b| b.is_ascii_whitespace()) {
        CniVersion::LATEST
    } else {
        let v: serde_json::Value = crate::types::decode::decode_bytes(stdin, "VERSION input")?;
        match v.get("cniVersion") {
            None => CniVersion::LATEST,
            Some(serde_json::Value::String(s)) => s.parse().unwrap_or(CniVersion::LATEST),
            Some(other) => {
                return Err(CniError::decode(format!(
                    "VERSION input: field `cniVersion`: expected a string, got {other}"
                )))
            }
        }
    };
    let mut out = serde_json::to_vec(&serde_json::json!({
        "cniVersion": asked.as_str(),
        "supportedVersions": CniVersion::supported_strings(),
    }))
    .unwrap_or_default();
    out.push(b'\n');
    Ok(out)
}

fn sniff_version(stdin: &[u8]) -> Option<CniVersion> {
    let v: serde_json::Value = serde_json::from_slice(stdin).ok()?;
    v.get("cniVersion")?.as_str()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Recorder {
        calls: RefCell<Vec<Command>>,
    }

    impl Plugin for Recorder {
        fn add(&self, req: &Request) -> Result<CniResult, CniError> {
            self.calls.borrow_mut().push(Command::Add);
            Ok(req.conf.prev_result.clone().unwrap_or_default())
        }
        fn del(&self, _req: &Request) -> Result<(), CniError> {
            self.calls.borrow_mut().push(Command::Del);
            Err(CniError::invalid_config("nope"))
        }
        fn check(&self, _req: &Request) -> Result<(), CniError> {
            self.calls.borrow_mut().push(Command::Check);
            Ok(())
        }
    }

    fn env(cmd: &str) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<&str, String> = [
            ("CNI_COMMAND", cmd.to_owned()),
            ("CNI_CONTAINERID", "c1".into()),
            ("CNI_NETNS", "/proc/self/ns/net".into()),
            ("CNI_IFNAME", "eth0".into()),
            ("CNI_PATH", "/nowhere".into()),
        ]
        .into_iter()
        .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn version_verb_lists_supported_versions() {
        let p = Recorder::default();
        let o = run(&p, env("VERSION"), br#"{"cniVersion":"0.4.0"}"#);
        assert_eq!(o.exit_code, 0);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(v["cniVersion"], "0.4.0");
        assert_eq!(
            v["supportedVersions"],
            serde_json::json!(["0.3.1", "0.4.0", "1.0.0", "1.1.0"])
        );
        assert!(p.calls.borrow().is_empty());
    }

    #[test]
    fn add_echoes_prev_result_in_the_asked_version() {
        let p = Recorder::default();
        let o = run(
            &p,
            env("ADD"),
            br#"{"cniVersion":"0.4.0","name":"n","type":"t","prevResult":{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.0.0.2/24"}]}}"#,
        );
        assert_eq!(o.exit_code, 0, "{}", String::from_utf8_lossy(&o.stdout));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(v["cniVersion"], "0.4.0");
        assert_eq!(v["ips"][0]["version"], "4");
    }

    #[test]
    fn errors_are_spec_json_with_nonzero_exit() {
        let p = Recorder::default();
        let o = run(
            &p,
            env("DEL"),
            br#"{"cniVersion":"1.0.0","name":"n","type":"t"}"#,
        );
        assert_eq!(o.exit_code, 1);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(v["code"], 7);
        assert_eq!(v["cniVersion"], "1.0.0");
        assert_eq!(v["msg"], "nope");
    }

    #[test]
    fn verbs_gated_by_version() {
        let p = Recorder::default();
        let o = run(
            &p,
            env("CHECK"),
            br#"{"cniVersion":"0.3.1","name":"n","type":"t"}"#,
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(v["code"], 1);
        let o = run(
            &p,
            env("GC"),
            br#"{"cniVersion":"1.0.0","name":"n","type":"t"}"#,
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(v["code"], 1);
        let o = run(
            &p,
            env("STATUS"),
            br#"{"cniVersion":"1.1.0","name":"n","type":"t"}"#,
        );
        assert_eq!(o.exit_code, 0);
        assert!(o.stdout.is_empty());
        assert!(p.calls.borrow().is_empty());
    }

    #[test]
    fn missing_env_and_bad_json_get_codes_4_and_6() {
        let p = Recorder::default();
        let o = run(&p, |_| None, b"{}");
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(v["code"], 4);
        assert!(v["msg"].as_str().unwrap_or("").contains("CNI_COMMAND"));
        let o = run(&p, env("ADD"), b"{bad");
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
        assert_eq!(v["code"], 6);
    }
}
