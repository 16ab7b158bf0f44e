//! Picking one manifest from an image index or manifest list: this host's
//! linux architecture, as docker and podman do without `--platform`, or
//! the `os/arch[/variant]` asked for.

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

/// A wanted platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// GOARCH (`amd64`, `arm64`, ...).
    pub arch: String,
    /// `v8`, `v7`, ... when it matters.
    pub variant: Option<String>,
}

impl Platform {
    /// linux/<this host's arch>.
    pub fn host() -> Platform {
        Platform {
            os: "linux".into(),
            arch: host_arch().into(),
            variant: None,
        }
    }

    /// Parses `os/arch[/variant]` (`--platform`).
    pub fn parse(s: &str) -> Result<Platform> {
        let parts: Vec<&str> = s.split('/').collect();
        let ok =
            |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => Ok(Platform {
                os: os.to_string(),
                arch: arch.to_string(),
                variant: None,
            }),
            [os, arch, variant] if ok(os) && ok(arch) && ok(variant) => Ok(Platform {
                os: os.to_string(),
                arch: arch.to_string(),
                variant: Some(variant.to_string()),
            }),
            _ => Err(ImageError::InvalidReference(format!("platform {s:?}"))),
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// The descriptor for linux/<host arch>; `object` names the index.
pub fn choose<'a>(manifests: &'a [Descriptor], object: &str) -> Result<&'a Descriptor> {
    choose_for(manifests, &Platform::host(), object)
}

/// The descriptor for `want` (a variant, when asked, must match).
pub fn choose_for<'a>(
    manifests: &'a [Descriptor],
    want: &Platform,
    object: &str,
) -> Result<&'a Descriptor> {
    manifests
        .iter()
        .find(|d| {
            d.platform().as_ref().is_some_and(|p| {
                p.os().to_string() == want.os
                    && p.architecture().to_string() == want.arch
                    && want
                        .variant
                        .as_ref()
                        .is_none_or(|v| p.variant().as_ref() == Some(v))
            })
        })
        .ok_or_else(|| ImageError::NoMatchingPlatform {
            platform: want.to_string(),
            object: object.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse() {
        assert_eq!(
            Platform::parse("linux/arm64/v8")
                .map(|p| p.to_string())
                .ok()
                .as_deref(),
            Some("linux/arm64/v8")
        );
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("linux/../x").is_err());
    }
}
