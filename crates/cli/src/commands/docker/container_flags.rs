//! Parsers for `run`/`create` flag values, each into the API's typed form
//! at the edge: published ports, mounts, env and label lists, restart
//! policies, ulimits, devices.

use std::collections::HashMap;

use anyhow::{anyhow, bail, Context};
use bollard_stubs::models::{
    DeviceMapping, Mount, MountBindOptions, MountBindOptionsPropagationEnum, MountTmpfsOptions,
    MountType, MountVolumeOptions, PortBinding, ResourcesUlimits, RestartPolicy,
    RestartPolicyNameEnum,
};

use super::output::units;

/// One `-p` flag: container port keys (`80/tcp`) with their host bindings.
pub fn parse_publish(spec: &str) -> anyhow::Result<Vec<(String, PortBinding)>> {
    let bad = || anyhow!("invalid port specification: {spec:?}");
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.to_ascii_lowercase()),
        None => (spec, "tcp".to_owned()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        bail!("invalid proto: {proto}");
    }
    let (ip, host, container) = if let Some(after) = rest.strip_prefix('[') {
        let (ip, tail) = after.split_once(']').ok_or_else(bad)?;
        let tail = tail.strip_prefix(':').ok_or_else(bad)?;
        let (h, c) = tail.split_once(':').ok_or_else(bad)?;
        (ip.to_owned(), h.to_owned(), c.to_owned())
    } else {
        let parts: Vec<&str> = rest.split(':').collect();
        match parts.as_slice() {
            [c] => (String::new(), String::new(), (*c).to_owned()),
            [h, c] => (String::new(), (*h).to_owned(), (*c).to_owned()),
            [ip, h, c] => ((*ip).to_owned(), (*h).to_owned(), (*c).to_owned()),
            _ => return Err(bad()),
        }
    };
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        bail!("invalid IP address: {ip}");
    }
    let (c_lo, c_hi) =
        parse_range(&container).with_context(|| format!("invalid containerPort: {container}"))?;
    let host_range = if host.is_empty() {
        None
    } else {
        Some(parse_range(&host).with_context(|| format!("invalid hostPort: {host}"))?)
    };
    let count = c_hi - c_lo + 1;
    let mut out = Vec::new();
    for i in 0..count {
        let host_port = match host_range {
            None => String::new(),
            Some((h_lo, h_hi)) if h_hi - h_lo + 1 == count => (h_lo + i).to_string(),
            // One container port to a host range: the daemon picks in it.
            Some((h_lo, h_hi)) if count == 1 => {
                if h_lo == h_hi {
                    h_lo.to_string()
                } else {
                    format!("{h_lo}-{h_hi}")
                }
            }
            Some(_) => bail!(
                "invalid ranges specified for container and host Ports: {container} and {host}"
            ),
        };
        out.push((
            format!("{}/{proto}", c_lo + i),
            PortBinding {
                host_ip: Some(ip.clone()),
                host_port: Some(host_port),
            },
        ));
    }
    Ok(out)
}

fn parse_range(s: &str) -> anyhow::Result<(u32, u32)> {
    let port = |p: &str| -> anyhow::Result<u32> {
        let n: u32 = p.trim().parse().map_err(|_| anyhow!("not a number"))?;
        if n == 0 || n > 65535 {
            bail!("out of range");
        }
        Ok(n)
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (port(a)?, port(b)?);
            if b < a {
                bail!("range end before start");
            }
            Ok((a, b))
        }
        None => {
            let p = port(s)?;
            Ok((p, p))
        }
    }
}

/// `--expose 80`, `--expose 8000-8010/udp`: exposed port keys.
pub fn parse_expose(spec: &str) -> anyhow::Result<Vec<String>> {
    let (ports, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let (lo, hi) =
        parse_range(ports).with_context(|| format!("invalid range format for --expose: {spec}"))?;
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

/// `-e K=V` as is; `-e K` takes K from the environment, or is dropped.
pub fn env_entry(spec: &str, lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    if spec.contains('=') {
        return Some(spec.to_owned());
    }
    lookup(spec).map(|v| format!("{spec}={v}"))
}

/// Lines of an env/label file: blank lines and `#` comments skipped.
pub fn file_lines(path: &str) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("open {path}"))?;
    Ok(text
        .lines()
        .map(|l| l.trim_start())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect())
}

/// `-l k=v` or `-l k` (empty value).
pub fn parse_labels(specs: &[String]) -> HashMap<String, String> {
    specs
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (l.clone(), String::new()),
        })
        .collect()
}

/// `--restart no|always|unless-stopped|on-failure[:N]`.
pub fn parse_restart(spec: &str) -> anyhow::Result<RestartPolicy> {
    let (name, count) = match spec.split_once(':') {
        Some((n, c)) => (n, Some(c)),
        None => (spec, None),
    };
    let name: RestartPolicyNameEnum = name
        .parse()
        .map_err(|_| anyhow!("invalid restart policy {spec:?}"))?;
    let maximum_retry_count = match count {
        None => None,
        Some(c) => {
            if name != RestartPolicyNameEnum::ON_FAILURE {
                bail!("maximum retry count cannot be used with restart policy '{spec}'");
            }
            Some(
                c.parse::<i64>()
                    .map_err(|_| anyhow!("maximum retry count must be an integer"))?,
            )
        }
    };
    Ok(RestartPolicy {
        name: Some(name),
        maximum_retry_count,
    })
}

/// `--ulimit nofile=1024[:2048]`.
pub fn parse_ulimit(spec: &str) -> anyhow::Result<ResourcesUlimits> {
    let (name, vals) = spec
        .split_once('=')
        .ok_or_else(|| anyhow!("invalid ulimit argument: {spec}"))?;
    let (soft, hard) = vals.split_once(':').unwrap_or((vals, vals));
    let num = |v: &str| {
        v.parse::<i64>()
            .map_err(|_| anyhow!("invalid ulimit argument: {spec}"))
    };
    let (soft, hard) = (num(soft)?, num(hard)?);
    if soft > hard {
        bail!("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}");
    }
    Ok(ResourcesUlimits {
        name: Some(name.to_owned()),
        soft: Some(soft),
        hard: Some(hard),
    })
}

/// `--device /dev/host[:/dev/ctr[:rwm]]`.
pub fn parse_device(spec: &str) -> anyhow::Result<DeviceMapping> {
    let parts: Vec<&str> = spec.split(':').collect();
    let perms_ok = |p: &str| !p.is_empty() && p.chars().all(|c| "rwm".contains(c));
    let (host, ctr, perms) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, p] if perms_ok(p) => (*h, *h, *p),
        [h, c] => (*h, *c, "rwm"),
        [h, c, p] if perms_ok(p) => (*h, *c, *p),
        _ => bail!("invalid device specification: {spec}"),
    };
    if !ctr.starts_with('/') {
        bail!("invalid device specification: {spec}");
    }
    Ok(DeviceMapping {
        path_on_host: Some(host.to_owned()),
        path_in_container: Some(ctr.to_owned()),
        cgroup_permissions: Some(perms.to_owned()),
    })
}

/// A `-v` flag: a bind or named volume goes to Binds as docker sends it;
/// a bare container path is an anonymous volume.
pub enum VolumeFlag {
    Bind(String),
    Anonymous(String),
}

pub fn parse_volume(spec: &str) -> anyhow::Result<VolumeFlag> {
    let parts: Vec<&str> = spec.split(':').collect();
    match parts.as_slice() {
        [p] if p.starts_with('/') => Ok(VolumeFlag::Anonymous((*p).to_owned())),
        [_, dst] | [_, dst, _] if dst.starts_with('/') => Ok(VolumeFlag::Bind(spec.to_owned())),
        _ => bail!("invalid volume specification: '{spec}'"),
    }
}

/// `--mount type=bind,source=..,target=..,readonly,...`.
pub fn parse_mount(spec: &str) -> anyhow::Result<Mount> {
    let mut m = Mount {
        typ: Some(MountType::VOLUME),
        ..Default::default()
    };
    let mut bind = MountBindOptions::default();
    let mut vol = MountVolumeOptions::default();
    let mut tmpfs = MountTmpfsOptions::default();
    let mut vol_labels: HashMap<String, String> = HashMap::new();
    for field in spec.split(',') {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let truthy = |v: Option<&str>| -> anyhow::Result<bool> {
            match v.map(str::to_ascii_lowercase).as_deref() {
                None | Some("1") | Some("true") => Ok(true),
                Some("0") | Some("false") => Ok(false),
                Some(o) => bail!("invalid value for {k}: {o}"),
            }
        };
        let need = |v: Option<&str>| {
            v.map(str::to_owned)
                .ok_or_else(|| anyhow!("invalid field '{field}' must be a key=value pair"))
        };
        match k.as_str() {
            "type" => {
                m.typ = Some(match need(v)?.as_str() {
                    "bind" => MountType::BIND,
                    "volume" => MountType::VOLUME,
                    "tmpfs" => MountType::TMPFS,
                    other => bail!("invalid mount type: {other}"),
                })
            }
            "source" | "src" => m.source = Some(need(v)?),
            "target" | "destination" | "dst" => m.target = Some(need(v)?),
            "readonly" | "ro" => m.read_only = Some(truthy(v)?),
            "bind-propagation" => {
                bind.propagation = Some(
                    need(v)?
                        .parse::<MountBindOptionsPropagationEnum>()
                        .map_err(|_| anyhow!("invalid bind propagation in {spec}"))?,
                )
            }
            "bind-nonrecursive" => bind.non_recursive = Some(truthy(v)?),
            "volume-nocopy" => vol.no_copy = Some(truthy(v)?),
            "volume-label" => {
                let (lk, lv) = need(v)?
                    .split_once('=')
                    .map(|(a, b)| (a.to_owned(), b.to_owned()))
                    .unwrap_or((need(v)?, String::new()));
                vol_labels.insert(lk, lv);
            }
            "tmpfs-size" => {
                tmpfs.size_bytes = Some(
                    units::ram_in_bytes(&need(v)?)
                        .ok_or_else(|| anyhow!("invalid tmpfs-size in {spec}"))?,
                )
            }
            "tmpfs-mode" => {
                tmpfs.mode = Some(
                    i64::from_str_radix(&need(v)?, 8)
                        .map_err(|_| anyhow!("invalid tmpfs-mode in {spec}"))?,
                )
            }
            "consistency" => m.consistency = Some(need(v)?),
            other => bail!("unexpected key '{other}' in '{field}'"),
        }
    }
    if m.target.is_none() {
        bail!("target is required");
    }
    match m.typ {
        Some(MountType::BIND) => {
            if m.source.is_none() {
                bail!("source is required when specifying bind mounts");
            }
            if bind != MountBindOptions::default() {
                m.bind_options = Some(bind);
            }
        }
        Some(MountType::VOLUME) => {
            if !vol_labels.is_empty() {
                vol.labels = Some(vol_labels);
            }
            if vol != MountVolumeOptions::default() {
                m.volume_options = Some(vol);
            }
        }
        Some(MountType::TMPFS) => {
            if m.source.is_some() {
                bail!("source is not supported for tmpfs mounts");
            }
            if tmpfs != MountTmpfsOptions::default() {
                m.tmpfs_options = Some(tmpfs);
            }
        }
        _ => {}
    }
    Ok(m)
}

/// `--security-opt seccomp=PATH` carries the profile's JSON, read here, as
/// docker's CLI does; other options pass as they are.
pub fn security_opt(spec: &str) -> anyhow::Result<String> {
    if let Some(path) = spec
        .strip_prefix("seccomp=")
        .or_else(|| spec.strip_prefix("seccomp:"))
    {
        if path != "unconfined" && path != "builtin" {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("opening seccomp profile ({path}) failed"))?;
            let v: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("parsing seccomp profile {path}"))?;
            return Ok(format!("seccomp={}", serde_json::to_string(&v)?));
        }
    }
    if spec == "no-new-privileges" {
        return Ok("no-new-privileges=true".into());
    }
    Ok(spec.to_owned())
}

/// Go duration flags (`--health-interval 30s`) in nanoseconds.
pub fn duration_ns(flag: &str, v: &str) -> anyhow::Result<i64> {
    units::parse_go_duration(v)
        .map(|s| (s * 1e9) as i64)
        .ok_or_else(|| anyhow!("invalid argument {v:?} for {flag}: time: invalid duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(ip: &str, port: &str) -> PortBinding {
        PortBinding {
            host_ip: Some(ip.into()),
            host_port: Some(port.into()),
        }
    }

    #[test]
    fn publish_specs() {
        assert_eq!(
            parse_publish("80").unwrap(),
            vec![("80/tcp".into(), binding("", ""))]
        );
        assert_eq!(
            parse_publish("8080:80").unwrap(),
            vec![("80/tcp".into(), binding("", "8080"))]
        );
        assert_eq!(
            parse_publish("127.0.0.1:53:53/udp").unwrap(),
            vec![("53/udp".into(), binding("127.0.0.1", "53"))]
        );
        assert_eq!(
            parse_publish("[::1]:8080:80").unwrap(),
            vec![("80/tcp".into(), binding("::1", "8080"))]
        );
        let r = parse_publish("8000-8001:80-81").unwrap();
        assert_eq!(r[1], ("81/tcp".into(), binding("", "8001")));
        assert_eq!(
            parse_publish("8000-8010:80").unwrap(),
            vec![("80/tcp".into(), binding("", "8000-8010"))]
        );
    }

    #[test]
    fn bad_publish_specs_are_refused() {
        for bad in [
            "",
            "abc",
            "0:80",
            "70000:80",
            "1.2.3:80:80",
            "80/icmp",
            "8000-8002:80-81",
            "a:b:c:d",
        ] {
            assert!(parse_publish(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn env_from_process_environment() {
        let look = |k: &str| (k == "HOME").then(|| "/root".to_owned());
        assert_eq!(env_entry("A=b", look).as_deref(), Some("A=b"));
        assert_eq!(env_entry("HOME", look).as_deref(), Some("HOME=/root"));
        assert_eq!(env_entry("UNSET", look), None);
    }

    #[test]
    fn restart_policies() {
        let p = parse_restart("on-failure:3").unwrap();
        assert_eq!(p.name, Some(RestartPolicyNameEnum::ON_FAILURE));
        assert_eq!(p.maximum_retry_count, Some(3));
        assert_eq!(
            parse_restart("always").unwrap().name,
            Some(RestartPolicyNameEnum::ALWAYS)
        );
        assert!(parse_restart("always:3").is_err());
        assert!(parse_restart("sometimes").is_err());
    }

    #[test]
    fn ulimits_and_devices() {
        let u = parse_ulimit("nofile=1024:2048").unwrap();
        assert_eq!((u.soft, u.hard), (Some(1024), Some(2048)));
        assert!(parse_ulimit("nofile=10:5").is_err());
        assert!(parse_ulimit("nofile").is_err());
        let d = parse_device("/dev/fuse").unwrap();
        assert_eq!(d.path_in_container.as_deref(), Some("/dev/fuse"));
        assert_eq!(d.cgroup_permissions.as_deref(), Some("rwm"));
        let d = parse_device("/dev/a:/dev/b:r").unwrap();
        assert_eq!(
            (
                d.path_in_container.as_deref(),
                d.cgroup_permissions.as_deref()
            ),
            (Some("/dev/b"), Some("r"))
        );
        assert!(parse_device("/dev/a:relative").is_err());
    }

    #[test]
    fn volumes_and_mounts() {
        assert!(matches!(parse_volume("/data").unwrap(), VolumeFlag::Anonymous(p) if p == "/data"));
        assert!(matches!(
            parse_volume("vol:/data:ro").unwrap(),
            VolumeFlag::Bind(_)
        ));
        assert!(parse_volume("relative").is_err());
        let m = parse_mount("type=bind,source=/src,target=/dst,readonly,bind-propagation=rshared")
            .unwrap();
        assert_eq!(m.typ, Some(MountType::BIND));
        assert_eq!(m.read_only, Some(true));
        assert_eq!(
            m.bind_options.unwrap().propagation,
            Some(MountBindOptionsPropagationEnum::RSHARED)
        );
        let t = parse_mount("type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1770").unwrap();
        let o = t.tmpfs_options.unwrap();
        assert_eq!((o.size_bytes, o.mode), (Some(64 << 20), Some(0o1770)));
        assert!(parse_mount("type=bind,target=/x").is_err());
        assert!(parse_mount("type=volume,source=v").is_err());
        assert!(parse_mount("type=tmpfs,src=x,dst=/x").is_err());
        assert!(parse_mount("type=bind,src=/a,dst=/b,colour=red").is_err());
    }

    #[test]
    fn seccomp_profile_is_inlined() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.json");
        std::fs::write(&p, r#"{ "defaultAction": "SCMP_ACT_ALLOW" }"#).unwrap();
        let s = security_opt(&format!("seccomp={}", p.display())).unwrap();
        assert_eq!(s, r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW"}"#);
        assert_eq!(
            security_opt("seccomp=unconfined").unwrap(),
            "seccomp=unconfined"
        );
        assert!(security_opt("seccomp=/nonexistent.json").is_err());
    }
}
