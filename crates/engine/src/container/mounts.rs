//! The container's mounts from `-v`/Binds, `--mount`/Mounts, `--tmpfs`
//! and the image's VOLUMEs, resolved at create into [`MountRecord`]s.

use std::collections::HashMap;
use std::path::Path;

use bollard_stubs::models::{HostConfig, MountType};

use super::record::MountRecord;
use crate::error::{EngineError, Result};
use crate::Engine;

const PROPAGATIONS: &[&str] = &[
    "shared", "slave", "private", "rshared", "rslave", "rprivate",
];

/// One `-v src:dst[:opts]` entry.
fn parse_bind(spec: &str) -> Result<MountRecord> {
    let parts: Vec<&str> = spec.split(':').collect();
    let is_mode = |o: &str| {
        o.split(',').all(|o| {
            matches!(o, "ro" | "rw" | "z" | "Z" | "nocopy" | "copy") || PROPAGATIONS.contains(&o)
        })
    };
    let (src, dst, opts) = match parts.as_slice() {
        // A container path alone (or with a mode): an anonymous volume.
        [d] => ("", *d, ""),
        [d, o] if d.starts_with('/') && is_mode(o) => ("", *d, *o),
        [s, d] => (*s, *d, ""),
        [s, d, o] => (*s, *d, *o),
        _ => {
            return Err(EngineError::Invalid(format!(
                "invalid volume specification: '{spec}'"
            )))
        }
    };
    if !dst.starts_with('/') {
        return Err(EngineError::Invalid(format!(
            "invalid volume specification: '{spec}': invalid mount config: invalid mount path: '{dst}' mount path must be absolute"
        )));
    }
    let mut m = MountRecord {
        destination: dst.to_owned(),
        rw: true,
        ..MountRecord::default()
    };
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => m.rw = false,
            "rw" => m.rw = true,
            "z" | "Z" | "nocopy" | "copy" => {}
            p if PROPAGATIONS.contains(&p) => m.propagation = p.to_owned(),
            other => {
                return Err(EngineError::Invalid(format!(
                    "invalid volume specification: '{spec}': invalid mode: {other}"
                )))
            }
        }
    }
    if src.starts_with('/') {
        m.kind = "bind".into();
        m.source = src.to_owned();
    } else {
        m.kind = "volume".into();
        m.name = src.to_owned();
    }
    Ok(m)
}

impl Engine {
    /// Resolves every mount of a new container; named and anonymous
    /// volumes are created. Destinations must be unique.
    pub(crate) fn resolve_mounts(
        &self,
        hc: &HostConfig,
        image_volumes: &[String],
    ) -> Result<Vec<MountRecord>> {
        let mut out: Vec<MountRecord> = Vec::new();
        for b in hc.binds.iter().flatten() {
            let m = parse_bind(b)?;
            if m.kind == "bind" && !Path::new(&m.source).exists() {
                // -v creates a missing host directory, as dockerd does.
                std::fs::create_dir_all(&m.source).map_err(EngineError::io(format!(
                    "creating bind source {}",
                    m.source
                )))?;
            }
            out.push(m);
        }
        for mnt in hc.mounts.iter().flatten() {
            let target = mnt.target.clone().unwrap_or_default();
            if !target.starts_with('/') {
                return Err(EngineError::Invalid(format!(
                    "invalid mount config: invalid mount path: '{target}' mount path must be absolute"
                )));
            }
            let src = mnt.source.clone().unwrap_or_default();
            let rw = !mnt.read_only.unwrap_or(false);
            let m = match mnt.typ {
                Some(MountType::BIND) => {
                    if !Path::new(&src).exists() {
                        return Err(EngineError::Invalid(format!(
                            "invalid mount config for type \"bind\": bind source path does not exist: {src}"
                        )));
                    }
                    MountRecord {
                        kind: "bind".into(),
                        source: src,
                        destination: target,
                        rw,
                        propagation: mnt
                            .bind_options
                            .as_ref()
                            .and_then(|b| b.propagation.map(|p| p.to_string()))
                            .filter(|p| !p.is_empty())
                            .unwrap_or_default(),
                        ..MountRecord::default()
                    }
                }
                Some(MountType::VOLUME) => {
                    let m = MountRecord {
                        kind: "volume".into(),
                        name: src,
                        destination: target,
                        rw,
                        subpath: mnt
                            .volume_options
                            .as_ref()
                            .and_then(|o| o.subpath.clone())
                            .unwrap_or_default(),
                        ..MountRecord::default()
                    };
                    super::subpath::check(&m)?;
                    m
                }
                Some(MountType::TMPFS) => {
                    let mut options = Vec::new();
                    if let Some(t) = &mnt.tmpfs_options {
                        if let Some(s) = t.size_bytes.filter(|s| *s > 0) {
                            options.push(format!("size={s}"));
                        }
                        if let Some(m) = t.mode.filter(|m| *m > 0) {
                            options.push(format!("mode={m:o}"));
                        }
                    }
                    MountRecord {
                        kind: "tmpfs".into(),
                        destination: target,
                        rw,
                        options,
                        ..MountRecord::default()
                    }
                }
                other => {
                    return Err(EngineError::Invalid(format!(
                        "mount type {:?} is not supported",
                        other.map(|t| t.to_string()).unwrap_or_default()
                    )))
                }
            };
            out.push(m);
        }
        for (dst, opts) in hc.tmpfs.clone().unwrap_or_default() {
            out.push(MountRecord {
                kind: "tmpfs".into(),
                destination: dst,
                rw: !opts.split(',').any(|o| o == "ro"),
                options: opts
                    .split(',')
                    .filter(|o| !o.is_empty() && *o != "ro" && *o != "rw")
                    .map(str::to_owned)
                    .collect(),
                ..MountRecord::default()
            });
        }
        for spec in hc.volumes_from.iter().flatten() {
            // NAME[:ro|:rw]: the other container's volumes and binds at
            // the same places; mounts of this container win.
            let (name, mode) = match spec.rsplit_once(':') {
                Some((n, m)) if m == "ro" || m == "rw" => (n, Some(m)),
                Some(_) => {
                    return Err(EngineError::Invalid(format!(
                        "invalid volumes-from mode: {spec}"
                    )))
                }
                None => (spec.as_str(), None),
            };
            let other = self.lookup(name)?.record();
            for m in other.mounts.iter().filter(|m| m.kind != "tmpfs") {
                if out.iter().any(|o| o.destination == m.destination) {
                    continue;
                }
                let mut m = m.clone();
                m.anonymous = false;
                if let Some(mode) = mode {
                    m.rw = mode == "rw";
                }
                out.push(m);
            }
        }
        for v in image_volumes {
            if !out.iter().any(|m| &m.destination == v) {
                out.push(MountRecord {
                    kind: "volume".into(),
                    destination: v.clone(),
                    rw: true,
                    anonymous: true,
                    ..MountRecord::default()
                });
            }
        }
        let mut seen = HashMap::new();
        for m in &out {
            if seen.insert(m.destination.clone(), ()).is_some() {
                return Err(EngineError::Invalid(format!(
                    "Duplicate mount point: {}",
                    m.destination
                )));
            }
        }
        for m in out.iter_mut().filter(|m| m.kind == "volume") {
            let anonymous = m.name.is_empty();
            let v = self.volume_create(
                Some(&m.name).filter(|n| !n.is_empty()).map(|s| s.as_str()),
                None,
                HashMap::new(),
                HashMap::new(),
                anonymous,
            )?;
            m.anonymous = anonymous;
            m.name = v.name.clone();
            m.source = self.volume_path(&v.name).to_string_lossy().into_owned();
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_container_path_is_an_anonymous_volume() {
        let m = parse_bind("/anon").expect("anon");
        assert_eq!(
            (
                m.kind.as_str(),
                m.name.as_str(),
                m.destination.as_str(),
                m.rw
            ),
            ("volume", "", "/anon", true)
        );
        let m = parse_bind("/anon:ro").expect("anon ro");
        assert_eq!(
            (m.kind.as_str(), m.destination.as_str(), m.rw),
            ("volume", "/anon", false)
        );
        assert!(parse_bind("relative").is_err());
    }

    #[test]
    fn binds_parse_like_docker() {
        let m = parse_bind("/src:/dst:ro,rshared").expect("bind");
        assert_eq!(
            (m.kind.as_str(), m.rw, m.propagation.as_str()),
            ("bind", false, "rshared")
        );
        let v = parse_bind("data:/data").expect("volume");
        assert_eq!((v.kind.as_str(), v.name.as_str()), ("volume", "data"));
        assert!(parse_bind("/a:rel").is_err());
        assert!(parse_bind("/a:/b:bogus").is_err());
        // dockerd's parser takes a lone container path as an anonymous
        // volume (see a_lone_container_path_is_an_anonymous_volume).
        assert_eq!(parse_bind("/a").expect("anon").kind, "volume");
    }
}
