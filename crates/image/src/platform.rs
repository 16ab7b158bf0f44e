//! Picking one manifest from an image index or manifest list: this host's
//! linux architecture, as docker and podman do without `--platform`.

use oci_spec::image::Descriptor;

use crate::error::{ImageError, Result};

/// The GOARCH name of this host.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// The descriptor for linux/<host arch>; `object` names the index.
pub fn choose<'a>(manifests: &'a [Descriptor], object: &str) -> Result<&'a Descriptor> {
    let want = host_arch();
    manifests
        .iter()
        .find(|d| {
            d.platform().as_ref().is_some_and(|p| {
                p.os().to_string() == "linux" && p.architecture().to_string() == want
            })
        })
        .ok_or_else(|| ImageError::NotFound(format!("{object}: no manifest for linux/{want}")))
}
