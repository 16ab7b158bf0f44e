//! Checks made on the raw JSON before typed parsing: the ones where serde's
//! derived errors would be vague ("unknown variant") or where the spec asks
//! for leniency rather than an error.

use oci_spec::runtime::Capability;
use serde_json::Value;

use super::BundleError;

/// Newest runtime-spec minor version (of major 1) this runtime implements.
pub const MAX_MINOR: u64 = 3;

/// Accepts any 1.x version up to 1.[`MAX_MINOR`] (pre-release tags such as
/// `1.0.2-dev` included).
pub fn check_version(v: &Value) -> Result<(), BundleError> {
    let version = match v.get("ociVersion") {
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(BundleError::Invalid("ociVersion is not a string".into())),
        None => return Err(BundleError::Invalid("no ociVersion".into())),
    };
    let core = version.split(['-', '+']).next().unwrap_or("");
    let mut parts = core.split('.');
    let major = parts.next().and_then(|p| p.parse::<u64>().ok());
    let minor = parts.next().and_then(|p| p.parse::<u64>().ok());
    match (major, minor) {
        (Some(1), Some(minor)) if minor <= MAX_MINOR => Ok(()),
        (Some(1), Some(_)) => Err(BundleError::Invalid(format!(
            "ociVersion {version} is newer than the newest supported (1.{MAX_MINOR})"
        ))),
        (Some(_), Some(_)) => Err(BundleError::Invalid(format!(
            "ociVersion {version} is not supported (only 1.x)"
        ))),
        _ => Err(BundleError::Invalid(format!(
            "ociVersion {version:?} is not a semantic version"
        ))),
    }
}

/// The namespace type names of runtime-spec's config-linux.md.
pub const NAMESPACE_TYPES: &[&str] = &[
    "pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time",
];

/// A namespace entry with `"path": ""` means a new namespace, as if the
/// path were absent (runc reads it so; config-linux.md: "If a path is not
/// specified, the runtime MUST create a new ... namespace").
pub fn drop_empty_namespace_paths(v: &mut Value) {
    let Some(list) = v
        .pointer_mut("/linux/namespaces")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for ns in list.iter_mut().filter_map(Value::as_object_mut) {
        if ns.get("path").and_then(Value::as_str) == Some("") {
            ns.remove("path");
        }
    }
}

/// Unknown or repeated namespace types are errors (config-linux.md: "if a
/// namespace type is specified more than once ... the runtime MUST generate
/// an error").
pub fn check_namespaces(v: &Value) -> Result<(), BundleError> {
    let Some(list) = v.pointer("/linux/namespaces") else {
        return Ok(());
    };
    let Some(list) = list.as_array() else {
        return Err(BundleError::Invalid(
            "linux.namespaces is not an array".into(),
        ));
    };
    let mut seen: Vec<&str> = Vec::new();
    for ns in list {
        let ty = match ns.get("type") {
            Some(Value::String(s)) => s.as_str(),
            _ => {
                return Err(BundleError::Invalid(
                    "linux.namespaces entry without a string type".into(),
                ))
            }
        };
        if !NAMESPACE_TYPES.contains(&ty) {
            return Err(BundleError::UnknownNamespace(ty.to_owned()));
        }
        if seen.contains(&ty) {
            return Err(BundleError::Invalid(format!(
                "namespace type {ty:?} is listed more than once"
            )));
        }
        seen.push(ty);
    }
    Ok(())
}

/// Drops capability names this runtime does not know, with a warning each:
/// runc does the same, so configs written for newer kernels keep working.
pub fn drop_unknown_capabilities(v: &mut Value) -> Vec<String> {
    let mut warnings = Vec::new();
    let Some(caps) = v
        .pointer_mut("/process/capabilities")
        .and_then(Value::as_object_mut)
    else {
        return warnings;
    };
    for (set, names) in caps.iter_mut() {
        let Some(names) = names.as_array_mut() else {
            continue;
        };
        names.retain(|n| {
            let known = serde_json::from_value::<Capability>(n.clone()).is_ok();
            if !known {
                warnings.push(format!("ignoring unknown capability {n} in the {set} set"));
            }
            known
        });
    }
    warnings
}
