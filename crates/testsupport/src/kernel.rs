//! What the running kernel can do, checked at run time, and how a test skips
//! when it lacks something.
//!
//! The project's machine kind has no ipvlan, dummy or 802.1q and mounts a
//! hybrid cgroup v1/v2 layout; vmtest/ (`vmtest/ci.sh`) boots a stock Debian
//! kernel with all of them and a pure cgroup v2 hierarchy. A test that needs
//! such a feature:
//!
//! - is named `vm_<something>` (any part of its path containing `vm_`), so
//!   the VM harness picks it up: it runs only the tests whose name contains
//!   `vm_`;
//! - starts with [`require_link_kind!`] or [`require_cgroup_v2_pure!`]: on a
//!   kernel without the feature the test prints `SKIP: <test>: <why>` to the
//!   real stderr (visible even though libtest captures output) and returns;
//!   inside the VM ([`in_vm`], `VMTEST=1`) a missing feature panics instead,
//!   because the VM's kernel exists to have it.
//!
//! Link kinds are probed by creating one in a throwaway [`SandboxHost`], never
//! in the machine's root namespace, and the answer is cached per process.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Mutex, OnceLock};

use crate::sandbox::{SandboxError, SandboxHost};

/// Environment variable the VM guest sets (to `1`) for everything it runs.
pub const VM_ENV: &str = "VMTEST";

/// Errors from probing the kernel.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("probing link kind {kind}: {source}")]
    Sandbox {
        kind: String,
        #[source]
        source: SandboxError,
    },
    #[error(
        "probing link kind {kind}: `{cmd}` failed for another reason than a missing kind: {stderr}"
    )]
    Probe {
        kind: String,
        cmd: String,
        stderr: String,
    },
    #[error("link kind {0:?} is not a plain word")]
    BadKind(String),
    #[error("statfs {path}: {source}")]
    Statfs {
        path: &'static str,
        #[source]
        source: nix::Error,
    },
}

/// True inside the vmtest guest (`VMTEST=1`).
pub fn in_vm() -> bool {
    std::env::var_os(VM_ENV).is_some_and(|v| v == "1")
}

/// The running kernel's release (`uname -r`), for messages.
pub fn release() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_else(|_| "(unknown)".into())
}

/// Whether the kernel can create links of `kind` (the `type` word of `ip
/// link add`, e.g. `ipvlan`, `vlan`, `dummy`, `macvlan`, `vxlan`). `Ok(false)`
/// only when the kernel answers that it does not know the kind; any other
/// failure of the probe is an error, so a broken probe never passes for a
/// missing feature.
pub fn has_link_kind(kind: &str) -> Result<bool, KernelError> {
    Ok(probe_link_kind(kind)?.is_none())
}

/// `None` if `kind` can be created, else the kernel's answer (cached).
fn probe_link_kind(kind: &str) -> Result<Option<String>, KernelError> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<String>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(hit) = cache.lock().ok().and_then(|c| c.get(kind).cloned()) {
        return Ok(hit);
    }
    let answer = probe_uncached(kind)?;
    if let Ok(mut c) = cache.lock() {
        c.insert(kind.to_string(), answer.clone());
    }
    Ok(answer)
}

fn probe_uncached(kind: &str) -> Result<Option<String>, KernelError> {
    if kind.is_empty() || !kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(KernelError::BadKind(kind.to_string()));
    }
    let host = SandboxHost::new().map_err(|source| KernelError::Sandbox {
        kind: kind.to_string(),
        source,
    })?;
    // Kinds stacked on a lower device get a veth as parent: veth exists on
    // every kernel berth supports, while dummy does not.
    host.sh("ip link add probe-p0 type veth peer name probe-p1 && ip link set probe-p0 up")
        .map_err(|source| KernelError::Sandbox {
            kind: kind.to_string(),
            source,
        })?;
    let cmd = format!("ip link add {}", link_args(kind));
    let out = host
        .output(std::process::Command::new("sh").arg("-c").arg(&cmd))
        .map_err(|source| KernelError::Sandbox {
            kind: kind.to_string(),
            source,
        })?;
    if out.status.success() {
        return Ok(None);
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    // "Error: Unknown device type." is the kernel's extack for an rtnl kind
    // it has no ops for (and could not load); older iproute2 shows the bare
    // errno, EOPNOTSUPP.
    if stderr.contains("Unknown device type") || stderr.contains("Operation not supported") {
        Ok(Some(format!("`{cmd}` answered \"{stderr}\"")))
    } else {
        Err(KernelError::Probe {
            kind: kind.to_string(),
            cmd,
            stderr,
        })
    }
}

/// The smallest valid `ip link add` arguments for `kind`.
fn link_args(kind: &str) -> String {
    match kind {
        "ipvlan" | "ipvtap" => format!("link probe-p0 name probe0 type {kind} mode l2"),
        "macvlan" | "macvtap" => format!("link probe-p0 name probe0 type {kind} mode bridge"),
        "vlan" | "8021q" => "link probe-p0 name probe0 type vlan id 10".into(),
        "vxlan" => "name probe0 type vxlan id 42 dstport 4789 dev probe-p0".into(),
        "geneve" => "name probe0 type geneve id 42 remote 192.0.2.1".into(),
        "vrf" => "name probe0 type vrf table 10".into(),
        "veth" => "name probe0 type veth peer name probe1".into(),
        other => format!("name probe0 type {other}"),
    }
}

/// Whether `/sys/fs/cgroup` is a pure cgroup v2 hierarchy (a cgroup2 mount
/// itself, not a tmpfs of v1 controllers with a v2 tree beside them), by
/// statfs magic.
pub fn cgroup_v2_pure() -> Result<bool, KernelError> {
    let path = "/sys/fs/cgroup";
    let fs =
        nix::sys::statfs::statfs(path).map_err(|source| KernelError::Statfs { path, source })?;
    Ok(fs.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

/// Why a test that needs link `kind` cannot run here, or `None` if it can.
/// Panics inside the VM (a missing kind there is a broken image) and when
/// the probe itself fails.
pub fn link_kind_missing(kind: &str) -> Option<String> {
    match probe_link_kind(kind) {
        Ok(None) => None,
        Ok(Some(answer)) => {
            if in_vm() {
                panic!(
                    "{VM_ENV}=1 but kernel {} has no {kind} links: {answer}",
                    release()
                );
            }
            Some(format!(
                "kernel {} has no {kind} link type ({answer}); this test runs in the VM harness (vmtest/ci.sh)",
                release()
            ))
        }
        Err(e) => panic!("{e}"),
    }
}

/// Why a test that needs a pure cgroup v2 hierarchy cannot run here, or
/// `None` if it can. Panics inside the VM, and when statfs fails.
pub fn cgroup_v2_pure_missing() -> Option<String> {
    match cgroup_v2_pure() {
        Ok(true) => None,
        Ok(false) => {
            if in_vm() {
                panic!("{VM_ENV}=1 but /sys/fs/cgroup is not a pure cgroup v2 hierarchy");
            }
            Some(format!(
                "/sys/fs/cgroup on kernel {} is not a pure cgroup v2 hierarchy (hybrid or v1 layout); this test runs in the VM harness (vmtest/ci.sh)",
                release()
            ))
        }
        Err(e) => panic!("{e}"),
    }
}

/// Why the v1 blkio controller here takes no weight, or `None` if it does:
/// `blkio.weight` (CFQ) or `blkio.bfq.weight` exist only while a block
/// device uses a weight-aware I/O scheduler (BFQ); with mq-deadline, as on
/// some machines of this kind, neither file exists, and runc fails a weight
/// just as berth does.
pub fn blkio_weight_missing() -> Option<String> {
    let d = std::path::Path::new("/sys/fs/cgroup/blkio");
    if d.join("blkio.weight").exists() || d.join("blkio.bfq.weight").exists() {
        return None;
    }
    let mut scheds: Vec<String> = std::fs::read_dir("/sys/block")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("queue/scheduler")).ok())
        .map(|s| s.trim().to_owned())
        .collect();
    scheds.sort();
    scheds.dedup();
    Some(format!(
        "the blkio controller has no weight file (no BFQ scheduler; block schedulers: {}); blkio weight checks skipped",
        scheds.join("; ")
    ))
}

/// Prints `SKIP: <test name>: <reason>` straight to the process's stderr.
/// libtest captures only the print macros, so this line shows up even for a
/// passing test. Use through [`skip!`](crate::skip).
pub fn report_skip(reason: &str) {
    let thread = std::thread::current();
    let name = match thread.name() {
        Some(n) if n != "main" => format!("{n}: "),
        _ => String::new(),
    };
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "SKIP: {name}{reason}");
}

/// Ends the current test (a function returning `()`) as skipped, printing
/// `SKIP: <test>: <reason>` (format arguments like `format!`).
#[macro_export]
macro_rules! skip {
    ($($arg:tt)+) => {{
        $crate::kernel::report_skip(&::std::format!($($arg)+));
        return;
    }};
}

/// Skips the current test unless the kernel can create links of this kind
/// (e.g. `"ipvlan"`, `"vlan"`, `"dummy"`); fails it inside the VM.
#[macro_export]
macro_rules! require_link_kind {
    ($kind:expr) => {
        if let ::std::option::Option::Some(why) = $crate::kernel::link_kind_missing($kind) {
            $crate::skip!("{}", why);
        }
    };
}

/// Skips the current test unless `/sys/fs/cgroup` is pure cgroup v2; fails
/// it inside the VM.
#[macro_export]
macro_rules! require_cgroup_v2_pure {
    () => {
        if let ::std::option::Option::Some(why) = $crate::kernel::cgroup_v2_pure_missing() {
            $crate::skip!("{}", why);
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn veth_is_found_everywhere() {
        assert!(has_link_kind("veth").expect("probe veth"));
    }

    #[test]
    fn an_unknown_kind_is_reported_missing_not_as_an_error() {
        assert!(!has_link_kind("berthnosuchkind").expect("probe"));
    }

    #[test]
    fn a_kind_with_shell_characters_is_refused() {
        assert!(matches!(
            has_link_kind("dummy; reboot"),
            Err(KernelError::BadKind(_))
        ));
    }

    /// The VM harness's own proof: two ipvlan slaves of one veth parent, in
    /// two netns inside a sandbox host, ping each other in every mode.
    #[test]
    fn vm_ipvlan_modes_ping_between_namespaces() {
        require_link_kind!("ipvlan");
        let host = SandboxHost::new().expect("sandbox");
        for (i, mode) in ["l2", "l3", "l3s"].iter().enumerate() {
            let script = format!(
                "set -e
                 ip link add par{i} type veth peer name peer{i}
                 # both ends up: a veth without a live peer has no carrier,
                 # and ipvlan slaves take their parent's carrier
                 ip link set peer{i} up
                 ip link set par{i} up
                 for n in a b; do
                     ip netns add {mode}$n
                     ip -n {mode}$n link set lo up
                     ip link add link par{i} name iv{mode}$n type ipvlan mode {mode}
                     ip link set iv{mode}$n netns {mode}$n
                 done
                 ip -n {mode}a addr add 10.201.{i}.1/24 dev iv{mode}a
                 ip -n {mode}b addr add 10.201.{i}.2/24 dev iv{mode}b
                 ip -n {mode}a link set iv{mode}a up
                 ip -n {mode}b link set iv{mode}b up
                 ip -n {mode}a -d link show iv{mode}a | grep -q 'ipvlan  *mode {mode} '
                 ip netns exec {mode}a ping -c 1 -W 5 10.201.{i}.2
                 ip netns exec {mode}b ping -c 1 -W 5 10.201.{i}.1"
            );
            if let Err(e) = host.sh(&script) {
                panic!("ipvlan {mode}: {e}");
            }
        }
    }

    /// 802.1q sub-interfaces on both ends of a veth pass traffic.
    #[test]
    fn vm_vlan_over_veth_pings() {
        require_link_kind!("vlan");
        let host = SandboxHost::new().expect("sandbox");
        host.sh("set -e
             ip netns add va; ip netns add vb
             ip link add vA netns va type veth peer name vB netns vb
             ip -n va link set vA up; ip -n vb link set vB up
             ip -n va link add link vA name vA.100 type vlan id 100
             ip -n vb link add link vB name vB.100 type vlan id 100
             ip -n va addr add 10.202.0.1/24 dev vA.100
             ip -n vb addr add 10.202.0.2/24 dev vB.100
             ip -n va link set vA.100 up; ip -n vb link set vB.100 up
             ip -n va -d link show vA.100 | grep -q 'vlan protocol 802.1Q id 100'
             ip netns exec va ping -c 1 -W 5 10.202.0.2")
            .expect("vlan 100 over veth");
    }

    /// Pure cgroup v2 offers the controllers the runtime's v2 path uses.
    #[test]
    fn vm_cgroup_v2_pure_offers_controllers() {
        require_cgroup_v2_pure!();
        let ctl = std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
            .expect("read cgroup.controllers");
        for want in ["cpu", "memory", "pids", "io", "cpuset"] {
            assert!(
                ctl.split_whitespace().any(|c| c == want),
                "{want} missing from {ctl:?}"
            );
        }
    }
}
