//! Loading an OCI bundle: `config.json` parsed into oci-spec types, checked
//! against the spec and this runtime's limits, with `root.path` resolved.
//!
//! Everything here runs before any state is written, so a bad bundle is
//! refused with one precise line and leaves nothing behind.

mod normalize;
mod paths;
mod validate;

/// Limits of the accepted config (for `features`).
pub mod normalize_consts {
    pub use super::normalize::{MAX_MINOR, NAMESPACE_TYPES};
}

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

pub use paths::{clean_container_path, PathEscapes};

/// Why a bundle could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("bundle directory {0} does not exist")]
    NoBundle(PathBuf),
    #[error("bundle {0} has no config.json")]
    NoConfig(PathBuf),
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("malformed config.json: {0}")]
    Malformed(String),
    #[error("config.json: {0}")]
    Invalid(String),
    #[error("config.json: unknown namespace type {0:?}")]
    UnknownNamespace(String),
    #[error("config.json: {what} {path:?} escapes the rootfs")]
    Escapes { what: &'static str, path: String },
    #[error("rootfs {0} does not exist")]
    NoRootfs(PathBuf),
    #[error("rootfs {0} is not a directory")]
    RootfsNotDir(PathBuf),
}

/// A loaded, validated bundle.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Absolute, canonical bundle directory.
    pub dir: PathBuf,
    /// The parsed configuration (unknown capabilities already dropped).
    pub spec: Spec,
    /// Absolute, canonical rootfs directory.
    pub rootfs: PathBuf,
    /// Non-fatal remarks found while loading (e.g. ignored capabilities).
    pub warnings: Vec<String>,
}

impl Bundle {
    /// Loads `dir/config.json` and checks it.
    pub fn load(dir: &Path) -> Result<Bundle, BundleError> {
        let dir = fs::canonicalize(dir).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => BundleError::NoBundle(dir.to_path_buf()),
            _ => BundleError::Read {
                path: dir.to_path_buf(),
                source: e,
            },
        })?;
        let config_path = dir.join("config.json");
        let text = fs::read(&config_path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => BundleError::NoConfig(dir.clone()),
            _ => BundleError::Read {
                path: config_path.clone(),
                source: e,
            },
        })?;
        let (spec, warnings) = parse_config(&text)?;
        let rootfs = resolve_rootfs(&dir, &spec)?;
        validate::validate(&spec)?;
        Ok(Bundle {
            dir,
            spec,
            rootfs,
            warnings,
        })
    }
}

/// Parses config.json bytes: syntax first (so errors carry a line and
/// column), then the checks serde's derived errors would word poorly, then
/// the typed form.
pub fn parse_config(text: &[u8]) -> Result<(Spec, Vec<String>), BundleError> {
    let mut value: serde_json::Value =
        serde_json::from_slice(text).map_err(|e| BundleError::Malformed(e.to_string()))?;
    if !value.is_object() {
        return Err(BundleError::Malformed(
            "top level is not a JSON object".into(),
        ));
    }
    normalize::check_version(&value)?;
    normalize::check_namespaces(&value)?;
    normalize::drop_empty_namespace_paths(&mut value);
    let warnings = normalize::drop_unknown_capabilities(&mut value);
    let spec: Spec =
        serde_json::from_value(value).map_err(|e| BundleError::Malformed(e.to_string()))?;
    Ok((spec, warnings))
}

/// Checks a parsed config (the semantic checks of [`Bundle::load`]).
pub fn validate_spec(spec: &Spec) -> Result<(), BundleError> {
    validate::validate(spec)
}

fn resolve_rootfs(dir: &Path, spec: &Spec) -> Result<PathBuf, BundleError> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| BundleError::Invalid("no root (root.path is required)".into()))?;
    if root.path().as_os_str().is_empty() {
        return Err(BundleError::Invalid("root.path is empty".into()));
    }
    let path = dir.join(root.path());
    let canonical = fs::canonicalize(&path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => BundleError::NoRootfs(path.clone()),
        _ => BundleError::Read {
            path: path.clone(),
            source: e,
        },
    })?;
    if !canonical.is_dir() {
        return Err(BundleError::RootfsNotDir(path));
    }
    Ok(canonical)
}

#[cfg(test)]
mod tests;
