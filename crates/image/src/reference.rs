//! Image references with Docker's normalisation: `busybox` is
//! `docker.io/library/busybox:latest`, and the short ("familiar") form drops
//! `docker.io/` and `library/` again for display, as `docker images` does.

use std::fmt;

use crate::digest::Digest;
use crate::error::{ImageError, Result};

const DEFAULT_DOMAIN: &str = "docker.io";
const OFFICIAL_PREFIX: &str = "library/";
const DEFAULT_TAG: &str = "latest";

/// A parsed, normalised reference: `domain/path[:tag][@digest]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `docker.io`, `localhost:5000`, `quay.io`, ...
    pub domain: String,
    /// `library/busybox`, `user/app`, ...
    pub path: String,
    /// The tag; `latest` when neither tag nor digest was given.
    pub tag: Option<String>,
    /// `sha256:..` when given with `@`.
    pub digest: Option<Digest>,
}

impl Reference {
    /// Parses and normalises `s`.
    pub fn parse(s: &str) -> Result<Reference> {
        let invalid = || ImageError::InvalidReference(s.to_string());
        if s.is_empty() || s.len() > 255 + 128 + 72 {
            return Err(invalid());
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (r, Some(Digest::parse(d, s).map_err(|_| invalid())?)),
            None => (s, None),
        };
        // A tag is what follows the last ':' after the last '/' (a ':' before
        // it is a registry port).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let at = last_slash + i;
                (&rest[..at], Some(rest[at + 1..].to_string()))
            }
            None => (rest, None),
        };
        if let Some(t) = &tag {
            if !valid_tag(t) {
                return Err(invalid());
            }
        }
        let (domain, path) = split_domain(name);
        if !valid_domain(&domain) || !valid_path(&path) {
            return Err(invalid());
        }
        let tag = match (&tag, &digest) {
            (None, None) => Some(DEFAULT_TAG.to_string()),
            _ => tag,
        };
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// `docker.io/library/busybox`.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// `busybox` for docker.io/library/busybox, else as stored.
    pub fn familiar_repository(&self) -> String {
        familiar_name(&self.repository())
    }

    /// The full `repository:tag`, if this reference has a tag.
    pub fn tagged(&self) -> Option<String> {
        self.tag
            .as_ref()
            .map(|t| format!("{}:{t}", self.repository()))
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// `docker.io/library/busybox:latest` -> `busybox:latest`,
/// `docker.io/user/app:1` -> `user/app:1`, others unchanged.
pub fn familiar_name(full: &str) -> String {
    let Some(rest) = full.strip_prefix("docker.io/") else {
        return full.to_string();
    };
    match rest.strip_prefix(OFFICIAL_PREFIX) {
        Some(short) if !short.contains('/') => short.to_string(),
        _ => rest.to_string(),
    }
}

fn split_domain(name: &str) -> (String, String) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_string(), rest.to_string())
        }
        _ if name.contains('/') => (DEFAULT_DOMAIN.to_string(), name.to_string()),
        _ => (
            DEFAULT_DOMAIN.to_string(),
            format!("{OFFICIAL_PREFIX}{name}"),
        ),
    }
}

fn valid_tag(t: &str) -> bool {
    let mut b = t.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphanumeric() || c == b'_')
        && t.len() <= 128
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn valid_domain(d: &str) -> bool {
    !d.is_empty()
        && d.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b':' | b'[' | b']'))
}

/// Path components: lowercase alphanumerics separated by `.`, `_`, `__`
/// or runs of `-`, as distribution's grammar says.
fn valid_path(p: &str) -> bool {
    !p.is_empty()
        && p.split('/').all(|comp| {
            let bytes = comp.as_bytes();
            !comp.is_empty()
                && bytes[0].is_ascii_alphanumeric()
                && bytes[bytes.len() - 1].is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(c))
                && !comp.contains("...")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(s: &str) -> String {
        Reference::parse(s)
            .map(|r| r.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn short_names_normalise_as_docker_does() {
        assert_eq!(full("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(full("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(full("user/app"), "docker.io/user/app:latest");
        assert_eq!(full("localhost:5000/app:v1"), "localhost:5000/app:v1");
        assert_eq!(full("quay.io/a/b"), "quay.io/a/b:latest");
        assert_eq!(
            full("docker.io/library/busybox:latest"),
            "docker.io/library/busybox:latest"
        );
        let d = format!("sha256:{}", "1".repeat(64));
        assert_eq!(
            full(&format!("busybox@{d}")),
            format!("docker.io/library/busybox@{d}")
        );
    }

    #[test]
    fn familiar_form_drops_the_defaults() {
        assert_eq!(
            familiar_name("docker.io/library/busybox:latest"),
            "busybox:latest"
        );
        assert_eq!(familiar_name("docker.io/user/app:1"), "user/app:1");
        assert_eq!(
            familiar_name("localhost:5000/app:v1"),
            "localhost:5000/app:v1"
        );
    }

    #[test]
    fn bad_references_are_refused() {
        for bad in [
            "",
            "Busybox",
            "busybox:",
            "busybox:-x",
            "a//b",
            "busybox@sha256:12",
            "-a",
        ] {
            assert!(
                matches!(Reference::parse(bad), Err(ImageError::InvalidReference(_))),
                "{bad:?} accepted"
            );
        }
    }
}
