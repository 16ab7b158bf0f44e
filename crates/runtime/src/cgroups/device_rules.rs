//! Device access rules (linux.resources.devices) parsed once into a form both
//! the v1 devices controller and the v2 eBPF program generator use.

use oci_spec::runtime::{Linux, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType};

use super::error::CgroupError;

/// Which devices a rule covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    All,
    Char,
    Block,
}

/// Access bits: read, write, mknod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub read: bool,
    pub write: bool,
    pub mknod: bool,
}

impl Access {
    pub const ALL: Access = Access {
        read: true,
        write: true,
        mknod: true,
    };

    fn parse(s: &str) -> Option<Access> {
        let mut a = Access {
            read: false,
            write: false,
            mknod: false,
        };
        for c in s.chars() {
            match c {
                'r' => a.read = true,
                'w' => a.write = true,
                'm' => a.mknod = true,
                _ => return None,
            }
        }
        Some(a)
    }

    pub fn is_all(&self) -> bool {
        *self == Access::ALL
    }
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (on, c) in [(self.read, 'r'), (self.write, 'w'), (self.mknod, 'm')] {
            if on {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// One validated rule; `None` major/minor mean "any".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRule {
    pub allow: bool,
    pub kind: DeviceKind,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: Access,
}

impl DeviceRule {
    /// True for a rule that covers every device with every access: it
    /// resets the default instead of adding an exception.
    pub fn is_everything(&self) -> bool {
        self.kind == DeviceKind::All
            && self.major.is_none()
            && self.minor.is_none()
            && self.access.is_all()
    }
}

fn number(what: &'static str, v: Option<i64>) -> Result<Option<u32>, CgroupError> {
    match v {
        None | Some(-1) => Ok(None),
        Some(n) => u32::try_from(n)
            .map(Some)
            .map_err(|_| CgroupError::InvalidValue {
                what,
                value: n.to_string(),
                reason: "must be -1 (any) or a device number".to_owned(),
            }),
    }
}

/// Validates the OCI rules as runc reads them: an access is required
/// (runc: "device access at N field cannot be empty"), and a rule of type
/// `a` is a total reset — allow or deny everything — whatever its numbers
/// and access say (as the v1 devices controller treats it, and runc's
/// emulator for both versions). FIFO ('p') rules are dropped: the device
/// cgroup does not govern FIFOs.
pub fn parse_rules(rules: &[LinuxDeviceCgroup]) -> Result<Vec<DeviceRule>, CgroupError> {
    let mut out = Vec::with_capacity(rules.len());
    for (i, r) in rules.iter().enumerate() {
        let kind = match r.typ().unwrap_or(LinuxDeviceType::A) {
            LinuxDeviceType::A => DeviceKind::All,
            LinuxDeviceType::C | LinuxDeviceType::U => DeviceKind::Char,
            LinuxDeviceType::B => DeviceKind::Block,
            LinuxDeviceType::P => continue,
        };
        let access_str = r.access().as_deref().unwrap_or("");
        if access_str.is_empty() {
            return Err(CgroupError::InvalidValue {
                what: "device access",
                value: format!("at {i}"),
                reason: "field cannot be empty".to_owned(),
            });
        }
        let access = Access::parse(access_str).ok_or_else(|| CgroupError::InvalidValue {
            what: "device access",
            value: format!("{access_str:?}"),
            reason: "only the letters r, w and m are allowed".to_owned(),
        })?;
        let (major, minor) = (
            number("device major", r.major())?,
            number("device minor", r.minor())?,
        );
        out.push(if kind == DeviceKind::All {
            DeviceRule {
                allow: r.allow(),
                kind,
                major: None,
                minor: None,
                access: Access::ALL,
            }
        } else {
            DeviceRule {
                allow: r.allow(),
                kind,
                major,
                minor,
                access,
            }
        });
    }
    Ok(out)
}

/// The device rules a container gets, in runc's order: the config's
/// `linux.resources.devices`, then an allow-rwm rule per `linux.devices`
/// entry (a device the runtime creates must be usable), then
/// [`default_allowed_devices`]. Later rules win, so the defaults cannot be
/// denied by the config, exactly as with runc.
pub fn effective_device_rules(linux: &Linux) -> Vec<LinuxDeviceCgroup> {
    let mut rules: Vec<LinuxDeviceCgroup> = linux
        .resources()
        .as_ref()
        .and_then(|r| r.devices().clone())
        .unwrap_or_default();
    rules.extend(
        linux
            .devices()
            .iter()
            .flatten()
            .map(LinuxDeviceCgroup::from),
    );
    rules.extend(default_allowed_devices());
    rules
}

/// The device rules runc adds after a config's own (mknod of anything, and
/// the standard /dev nodes), so a runtime can grant the same defaults. Not
/// /dev/console (5:1): that is the host's console; a container's console is
/// a pty (136:*).
pub fn default_allowed_devices() -> Vec<LinuxDeviceCgroup> {
    let rule = |typ: LinuxDeviceType, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut b = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(typ)
            .access(access.to_owned());
        if let Some(m) = major {
            b = b.major(m);
        }
        if let Some(m) = minor {
            b = b.minor(m);
        }
        b.build()
    };
    use LinuxDeviceType::{B, C};
    [
        (C, None, None, "m"),
        (B, None, None, "m"),
        (C, Some(1), Some(3), "rwm"),    // /dev/null
        (C, Some(1), Some(8), "rwm"),    // /dev/random
        (C, Some(1), Some(7), "rwm"),    // /dev/full
        (C, Some(5), Some(0), "rwm"),    // /dev/tty
        (C, Some(1), Some(5), "rwm"),    // /dev/zero
        (C, Some(1), Some(9), "rwm"),    // /dev/urandom
        (C, Some(136), None, "rwm"),     // /dev/pts/*
        (C, Some(5), Some(2), "rwm"),    // /dev/ptmx
        (C, Some(10), Some(200), "rwm"), // /dev/net/tun
    ]
    .into_iter()
    .filter_map(|(t, ma, mi, a)| rule(t, ma, mi, a).ok())
    .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a panic is the failure report
mod tests {
    use super::*;

    fn oci(
        allow: bool,
        typ: Option<LinuxDeviceType>,
        major: Option<i64>,
        minor: Option<i64>,
        access: Option<&str>,
    ) -> LinuxDeviceCgroup {
        let mut b = LinuxDeviceCgroupBuilder::default().allow(allow);
        if let Some(t) = typ {
            b = b.typ(t);
        }
        if let Some(m) = major {
            b = b.major(m);
        }
        if let Some(m) = minor {
            b = b.minor(m);
        }
        if let Some(a) = access {
            b = b.access(a.to_owned());
        }
        b.build().unwrap()
    }

    #[test]
    fn parses_and_validates() {
        let rules = parse_rules(&[
            oci(false, None, None, None, Some("rwm")),
            oci(true, Some(LinuxDeviceType::C), Some(1), Some(3), Some("rw")),
            oci(true, Some(LinuxDeviceType::P), None, None, None),
            oci(
                true,
                Some(LinuxDeviceType::B),
                Some(8),
                Some(-1),
                Some("rwm"),
            ),
            // A partial `a` rule is a total reset, as runc reads it.
            oci(false, Some(LinuxDeviceType::A), Some(1), None, Some("r")),
        ])
        .unwrap();
        assert_eq!(rules.len(), 4);
        assert!(rules[0].is_everything() && !rules[0].allow);
        assert_eq!(rules[1].kind, DeviceKind::Char);
        assert_eq!(rules[1].access.to_string(), "rw");
        assert_eq!(rules[2].minor, None);
        assert!(rules[2].access.is_all());
        assert!(rules[3].is_everything() && !rules[3].allow);
        let e = parse_rules(&[
            oci(true, None, None, None, Some("rwm")),
            oci(true, None, None, None, None),
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("at 1") && e.contains("cannot be empty"), "{e}");
        assert!(parse_rules(&[oci(true, None, None, None, Some("rx"))]).is_err());
        assert!(parse_rules(&[oci(true, None, Some(-5), None, None)]).is_err());
    }

    #[test]
    fn effective_rules_follow_runc_order() {
        let linux: Linux = serde_json::from_value(serde_json::json!({
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]
        }))
        .unwrap();
        let rules = parse_rules(&effective_device_rules(&linux)).unwrap();
        assert!(rules[0].is_everything() && !rules[0].allow);
        assert_eq!(
            (rules[1].major, rules[1].minor, rules[1].allow),
            (Some(10), Some(229), true)
        );
        assert!(rules[1].access.is_all());
        assert_eq!(rules.len(), 2 + default_allowed_devices().len());
        let bare = parse_rules(&effective_device_rules(&Linux::default())).unwrap();
        // Linux::default() carries no device rules of its own.
        assert_eq!(bare.len(), default_allowed_devices().len());
    }

    #[test]
    fn defaults_include_null_and_pts() {
        let d = parse_rules(&default_allowed_devices()).unwrap();
        assert!(d
            .iter()
            .any(|r| r.major == Some(1) && r.minor == Some(3) && r.access.is_all()));
        assert!(d.iter().any(|r| r.major == Some(136) && r.minor.is_none()));
        assert_eq!(d.len(), 11);
        assert!(!d.iter().any(|r| r.major == Some(5) && r.minor == Some(1)));
    }
}
