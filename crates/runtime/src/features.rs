//! `features`: what this runtime implements, in runtime-spec's
//! features.md shape (as `runc features` prints it).

use serde_json::{json, Value};

use crate::bundle::normalize_consts::{MAX_MINOR, NAMESPACE_TYPES};

/// Mount options understood (flags, propagation, bind).
const MOUNT_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "lazytime",
    "loud",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "rbind",
    "relatime",
    "remount",
    "rprivate",
    "rshared",
    "rslave",
    "runbindable",
    "ro",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "tmpcopyup",
    "unbindable",
];

/// Capability names the kernel of this host knows.
fn capabilities() -> Vec<String> {
    let last = crate::security::caps::last_cap();
    caps::all()
        .into_iter()
        .filter(|c| u32::from(c.index()) <= last)
        .map(|c| c.to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The features document.
pub fn features() -> Value {
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": format!("1.{MAX_MINOR}.0"),
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": MOUNT_OPTIONS,
        "linux": {
            "namespaces": NAMESPACE_TYPES,
            "capabilities": capabilities(),
            "cgroup": { "v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": false },
            "seccomp": {
                "enabled": true,
                "actions": [
                    "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                    "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"
                ],
                "operators": [
                    "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                    "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"
                ],
                "archs": [native_arch()],
                "knownFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_LOG"],
                "supportedFlags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_LOG"]
            },
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false },
            "intelRdt": { "enabled": false },
            "mountExtensions": { "idmap": { "enabled": false } }
        },
        "annotations": {
            "io.berth.runtime.version": env!("CARGO_PKG_VERSION"),
            "io.berth.runtime.seccomp.compiler": "seccompiler"
        }
    })
}

fn native_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "SCMP_ARCH_X86_64",
        "aarch64" => "SCMP_ARCH_AARCH64",
        "riscv64" => "SCMP_ARCH_RISCV64",
        _ => "SCMP_ARCH_NATIVE",
    }
}

/// Config fields this runtime accepts but does not act on, one warning
/// each (LSMs are not present on this machine kind; RDT, memory policy
/// and net devices are not implemented).
pub fn ignored_fields(spec: &oci_spec::runtime::Spec) -> Vec<String> {
    let mut w = Vec::new();
    let mut note = |set: bool, field: &str| {
        if set {
            w.push(format!(
                "config.json: {field} is not supported by berth; ignored"
            ));
        }
    };
    if let Some(p) = spec.process() {
        note(
            p.apparmor_profile().as_ref().is_some_and(|s| !s.is_empty()),
            "process.apparmorProfile",
        );
        note(
            p.selinux_label().as_ref().is_some_and(|s| !s.is_empty()),
            "process.selinuxLabel",
        );
        note(p.exec_cpu_affinity().is_some(), "process.execCPUAffinity");
    }
    if let Some(l) = spec.linux() {
        note(
            l.mount_label().as_ref().is_some_and(|s| !s.is_empty()),
            "linux.mountLabel",
        );
        note(l.intel_rdt().is_some(), "linux.intelRdt");
        note(l.memory_policy().is_some(), "linux.memoryPolicy");
        note(
            l.net_devices().as_ref().is_some_and(|d| !d.is_empty()),
            "linux.netDevices",
        );
        note(
            l.personality()
                .as_ref()
                .and_then(|p| p.flags().as_ref())
                .is_some_and(|f| !f.is_empty()),
            "linux.personality.flags",
        );
    }
    w
}
