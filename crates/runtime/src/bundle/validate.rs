//! Semantic checks on a typed config: what runtime-spec requires and what
//! this runtime needs to build the container safely.

use std::path::Path;

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::paths::clean_container_path;
use super::BundleError;

fn invalid(msg: impl Into<String>) -> BundleError {
    BundleError::Invalid(msg.into())
}

fn no_escape(what: &'static str, p: &Path) -> Result<(), BundleError> {
    clean_container_path(p)
        .map(|_| ())
        .map_err(|_| BundleError::Escapes {
            what,
            path: p.display().to_string(),
        })
}

/// Checks `spec`; the first problem found is the error.
pub fn validate(spec: &Spec) -> Result<(), BundleError> {
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| invalid("no process (process is required to create a container)"))?;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(invalid("process.args must not be empty"));
    }
    if !process.cwd().is_absolute() {
        return Err(invalid(format!(
            "process.cwd {:?} is not an absolute path",
            process.cwd().display().to_string()
        )));
    }
    no_escape("process.cwd", process.cwd())?;
    if let Some(rlimits) = process.rlimits() {
        let mut seen = Vec::new();
        for r in rlimits {
            if seen.contains(&r.typ()) {
                return Err(invalid(format!(
                    "rlimit {:?} is set more than once",
                    r.typ()
                )));
            }
            if r.soft() > r.hard() {
                return Err(invalid(format!(
                    "rlimit {:?}: soft limit {} is above hard limit {}",
                    r.typ(),
                    r.soft(),
                    r.hard()
                )));
            }
            seen.push(r.typ());
        }
    }

    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| invalid("no linux section (namespaces are required)"))?;
    let namespaces = linux.namespaces().clone().unwrap_or_default();
    let has = |t: LinuxNamespaceType| namespaces.iter().any(|n| n.typ() == t);
    for ns in &namespaces {
        if let Some(p) = ns.path() {
            if !p.is_absolute() {
                return Err(invalid(format!(
                    "namespace {} path {:?} is not absolute",
                    ns.typ(),
                    p.display().to_string()
                )));
            }
        }
    }
    if !has(LinuxNamespaceType::Mount) {
        // The container shares the runtime's mount namespace (runc's
        // rules for what cannot be done then).
        let listed = |l: &Option<Vec<String>>| l.as_ref().is_some_and(|v| !v.is_empty());
        if listed(linux.masked_paths()) || listed(linux.readonly_paths()) {
            return Err(invalid(
                "unable to restrict sys entries without a private MNT namespace",
            ));
        }
        if spec
            .root()
            .as_ref()
            .and_then(|r| r.readonly())
            .unwrap_or(false)
        {
            return Err(invalid(
                "root.readonly needs a private MNT namespace (it would remount the runtime's)",
            ));
        }
    }
    let has_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    let new_user = namespaces
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
    if has_maps && !has(LinuxNamespaceType::User) {
        return Err(invalid(
            "uidMappings/gidMappings are set without a user namespace",
        ));
    }
    if new_user
        && (linux.uid_mappings().as_ref().is_none_or(|m| m.is_empty())
            || linux.gid_mappings().as_ref().is_none_or(|m| m.is_empty()))
    {
        return Err(invalid(
            "a new user namespace needs both linux.uidMappings and linux.gidMappings",
        ));
    }
    if (spec.hostname().as_ref().is_some_and(|h| !h.is_empty())
        || spec.domainname().as_ref().is_some_and(|h| !h.is_empty()))
        && !has(LinuxNamespaceType::Uts)
    {
        return Err(invalid(
            "hostname/domainname are set without a UTS namespace",
        ));
    }
    if linux.time_offsets().as_ref().is_some_and(|t| !t.is_empty()) {
        let new_time = namespaces
            .iter()
            .any(|n| n.typ() == LinuxNamespaceType::Time && n.path().is_none());
        if !new_time {
            return Err(invalid("linux.timeOffsets need a new time namespace"));
        }
        for clock in linux.time_offsets().iter().flat_map(|t| t.keys()) {
            if clock != "monotonic" && clock != "boottime" {
                return Err(invalid(format!(
                    "linux.timeOffsets: unknown clock {clock:?} (monotonic or boottime)"
                )));
            }
        }
    }

    for m in spec.mounts().iter().flatten() {
        if m.destination().as_os_str().is_empty() {
            return Err(invalid("a mount has an empty destination"));
        }
        no_escape("mount destination", m.destination())?;
    }
    for d in linux.devices().iter().flatten() {
        no_escape("device path", d.path())?;
        if clean_container_path(d.path()).is_ok_and(|p| p == Path::new("/")) {
            return Err(invalid("a device has path /"));
        }
    }
    for p in linux.masked_paths().iter().flatten() {
        no_escape("masked path", Path::new(p))?;
    }
    for p in linux.readonly_paths().iter().flatten() {
        no_escape("readonly path", Path::new(p))?;
    }
    if let Some(prop) = linux.rootfs_propagation() {
        if crate::rootfs::options::propagation_flag(prop).is_none() && !prop.is_empty() {
            return Err(invalid(format!("unknown rootfsPropagation {prop:?}")));
        }
    }
    if let Some(sysctls) = linux.sysctl() {
        for key in sysctls.keys() {
            check_sysctl(key, &namespaces)?;
        }
    }
    if let Some(hooks) = spec.hooks() {
        #[allow(deprecated)]
        let all = [
            hooks.prestart(),
            hooks.create_runtime(),
            hooks.create_container(),
            hooks.start_container(),
            hooks.poststart(),
            hooks.poststop(),
        ];
        for h in all.into_iter().flatten().flatten() {
            if !h.path().is_absolute() {
                return Err(invalid(format!(
                    "hook path {:?} is not absolute",
                    h.path().display().to_string()
                )));
            }
            if h.timeout().is_some_and(|t| t <= 0) {
                return Err(invalid(format!(
                    "hook {}: timeout must be greater than zero",
                    h.path().display()
                )));
            }
        }
    }
    Ok(())
}

/// The IPC-namespaced sysctls (the set runc accepts).
const IPC_SYSCTLS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// A sysctl is allowed only when it lives in a namespace the container has
/// (runc's rule), so a container cannot change the host's kernel settings.
fn check_sysctl(
    key: &str,
    namespaces: &[oci_spec::runtime::LinuxNamespace],
) -> Result<(), BundleError> {
    let has = |t: LinuxNamespaceType| namespaces.iter().any(|n| n.typ() == t);
    if key.is_empty()
        || key.contains("..")
        || key.starts_with(['.', '/'])
        || key.split(['.', '/']).any(|c| c.is_empty())
    {
        return Err(invalid(format!("sysctl {key:?} is not a valid name")));
    }
    let norm = key.replace('/', ".");
    let ok = if IPC_SYSCTLS.contains(&norm.as_str()) || norm.starts_with("fs.mqueue.") {
        has(LinuxNamespaceType::Ipc)
    } else if norm.starts_with("net.") {
        has(LinuxNamespaceType::Network)
    } else if norm == "kernel.hostname" || norm == "kernel.domainname" {
        has(LinuxNamespaceType::Uts)
    } else {
        return Err(invalid(format!(
            "sysctl {key:?} is not in a namespace the container can own"
        )));
    };
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "sysctl {key:?} needs a namespace the config does not have"
        )))
    }
}
