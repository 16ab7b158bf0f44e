//! The seccomp profile of a container: berth's default (the syscalls
//! Docker's default profile blocks, each unlocked by the capability that
//! unlocks it there, in denylist form: everything else is allowed), none
//! for `--privileged` or `--security-opt seccomp=unconfined`, or a profile
//! file in Docker's format (`--security-opt seccomp=PATH`; the client sends
//! its content), whose `includes`/`excludes` capability conditions are
//! evaluated here against the container's capabilities.

use serde_json::{json, Value};

use crate::error::{EngineError, Result};

/// (capability that unlocks them, syscalls). `None`: always blocked.
const BLOCKED: &[(Option<&str>, &[&str])] = &[
    (
        None,
        &[
            "add_key",
            "keyctl",
            "request_key",
            "kexec_load",
            "kexec_file_load",
            "create_module",
            "get_kernel_syms",
            "query_module",
            "nfsservctl",
            "swapon",
            "swapoff",
            "sysfs",
            "_sysctl",
            "uselib",
            "userfaultfd",
            "ustat",
            "vm86",
            "vm86old",
            "io_uring_setup",
            "io_uring_enter",
            "io_uring_register",
        ],
    ),
    (
        Some("CAP_SYS_ADMIN"),
        &[
            "bpf",
            "fanotify_init",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "fsopen",
            "fsconfig",
            "fsmount",
            "fspick",
            "name_to_handle_at",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "umount",
            "umount2",
            "unshare",
            "pivot_root",
        ],
    ),
    (Some("CAP_DAC_READ_SEARCH"), &["open_by_handle_at"]),
    (Some("CAP_SYS_BOOT"), &["reboot"]),
    (
        Some("CAP_SYS_MODULE"),
        &["init_module", "finit_module", "delete_module"],
    ),
    (Some("CAP_SYS_PACCT"), &["acct"]),
    (
        Some("CAP_SYS_PTRACE"),
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    (Some("CAP_SYS_RAWIO"), &["iopl", "ioperm"]),
    (
        Some("CAP_SYS_TIME"),
        &[
            "settimeofday",
            "stime",
            "clock_settime",
            "clock_settime64",
            "clock_adjtime",
            "clock_adjtime64",
        ],
    ),
    (Some("CAP_SYS_TTY_CONFIG"), &["vhangup"]),
    (
        Some("CAP_SYS_NICE"),
        &["get_mempolicy", "mbind", "set_mempolicy", "move_pages"],
    ),
    (Some("CAP_SYSLOG"), &["syslog"]),
];

/// berth's default profile for a container with `caps`.
pub fn default_profile(caps: &[String]) -> Value {
    let has = |c: &str| caps.iter().any(|x| x == c);
    let mut names: Vec<&str> = Vec::new();
    for (cap, calls) in BLOCKED {
        let unlocked = cap.is_some_and(has) || (cap == &Some("CAP_SYSLOG") && has("CAP_SYS_ADMIN"));
        if !unlocked {
            names.extend_from_slice(calls);
        }
    }
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{ "names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EPERM }],
    })
}

/// Docker's profile format to the OCI form, for a container with `caps`.
pub fn from_docker_profile(text: &str, caps: &[String]) -> Result<Value> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| EngineError::Invalid(format!("decoding seccomp profile failed: {e}")))?;
    let default = v["defaultAction"]
        .as_str()
        .ok_or_else(|| EngineError::Invalid("seccomp profile has no defaultAction".into()))?;
    let caps_ok = |cond: &Value, want: bool| -> bool {
        match cond["caps"].as_array() {
            None => true,
            Some(list) => {
                let any = list
                    .iter()
                    .filter_map(|c| c.as_str())
                    .any(|c| caps.iter().any(|x| x == c));
                any == want
            }
        }
    };
    let mut rules = Vec::new();
    for r in v["syscalls"].as_array().into_iter().flatten() {
        if !caps_ok(&r["includes"], true)
            || (r["excludes"]["caps"].is_array() && !caps_ok(&r["excludes"], false))
        {
            continue;
        }
        let mut names: Vec<Value> = r["names"].as_array().cloned().unwrap_or_default();
        if let Some(n) = r["name"].as_str() {
            names.push(json!(n));
        }
        let mut rule = json!({ "names": names, "action": r["action"] });
        if let Some(e) = r["errnoRet"].as_u64() {
            rule["errnoRet"] = json!(e);
        }
        if let Some(a) = r["args"].as_array().filter(|a| !a.is_empty()) {
            rule["args"] = json!(a);
        }
        rules.push(rule);
    }
    let mut out = json!({ "defaultAction": default, "syscalls": rules });
    if let Some(e) = v["defaultErrnoRet"].as_u64() {
        out["defaultErrnoRet"] = json!(e);
    }
    Ok(out)
}

/// The profile for `--security-opt` values (None: no filter).
pub fn for_container(
    security_opt: &[String],
    privileged: bool,
    caps: &[String],
) -> Result<Option<Value>> {
    let mut chosen: Option<&str> = None;
    for o in security_opt {
        if let Some(p) = o
            .strip_prefix("seccomp=")
            .or_else(|| o.strip_prefix("seccomp:"))
        {
            chosen = Some(p);
        }
    }
    match chosen {
        Some("unconfined") => Ok(None),
        _ if privileged => Ok(None),
        None | Some("builtin") | Some("") => Ok(Some(default_profile(caps))),
        Some(text) => from_docker_profile(text, caps).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked(p: &Value) -> Vec<String> {
        p["syscalls"][0]["names"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|n| n.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn capabilities_unlock_their_syscalls() {
        let default: Vec<String> = super::super::spec::DEFAULT_CAPS
            .iter()
            .map(|s| s.to_string())
            .collect();
        let b = blocked(&default_profile(&default));
        assert!(b.contains(&"mount".to_owned()) && b.contains(&"keyctl".to_owned()));
        let mut admin = default.clone();
        admin.push("CAP_SYS_ADMIN".into());
        let b = blocked(&default_profile(&admin));
        assert!(!b.contains(&"mount".to_owned()) && b.contains(&"keyctl".to_owned()));
    }

    #[test]
    fn options_choose_the_profile() {
        let caps = Vec::new();
        assert!(for_container(&["seccomp=unconfined".into()], false, &caps)
            .expect("opt")
            .is_none());
        assert!(for_container(&[], true, &caps).expect("opt").is_none());
        assert!(for_container(&[], false, &caps).expect("opt").is_some());
        let docker = r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,"syscalls":[
            {"names":["read"],"action":"SCMP_ACT_ALLOW"},
            {"names":["mount"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}}]}"#;
        let p = from_docker_profile(docker, &caps).expect("profile");
        assert_eq!(p["syscalls"].as_array().map(|a| a.len()), Some(1));
        assert!(for_container(&["seccomp={bad".into()], false, &caps).is_err());
    }
}
