//! v1 devices controller: devices.allow / devices.deny, written in rule order.

use std::path::Path;

use super::super::device_rules::{DeviceKind, DeviceRule};
use super::super::error::CgroupError;
use super::super::files;

/// The kernel's line for a rule. Type 'a' makes the kernel ignore the rest of
/// the line and reset the whole cgroup, so a partial 'a' rule is split into
/// one for char and one for block devices.
pub(crate) fn lines(rule: &DeviceRule) -> Vec<String> {
    if rule.is_everything() {
        return vec!["a".to_owned()];
    }
    let num = |n: Option<u32>| n.map_or_else(|| "*".to_owned(), |v| v.to_string());
    let kinds: &[char] = match rule.kind {
        DeviceKind::All => &['c', 'b'],
        DeviceKind::Char => &['c'],
        DeviceKind::Block => &['b'],
    };
    kinds
        .iter()
        .map(|k| {
            format!(
                "{k} {}:{} {}",
                num(rule.major),
                num(rule.minor),
                rule.access
            )
        })
        .collect()
}

pub(crate) fn apply(dir: Option<&Path>, rules: &[DeviceRule]) -> Result<(), CgroupError> {
    if rules.is_empty() {
        return Ok(());
    }
    let dir = super::require(dir, "devices", "device access rules")?;
    let mut allow = files::ControlFile::new(dir, "devices.allow");
    let mut deny = files::ControlFile::new(dir, "devices.deny");
    for rule in rules {
        let file = if rule.allow { &mut allow } else { &mut deny };
        for line in lines(rule) {
            file.write(&line)?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a panic is the failure report
mod tests {
    use super::super::super::device_rules::Access;
    use super::*;

    #[test]
    fn rule_lines() {
        let all = DeviceRule {
            allow: false,
            kind: DeviceKind::All,
            major: None,
            minor: None,
            access: Access::ALL,
        };
        assert_eq!(lines(&all), vec!["a"]);
        let partial = DeviceRule {
            allow: true,
            kind: DeviceKind::All,
            major: None,
            minor: None,
            access: Access {
                read: false,
                write: false,
                mknod: true,
            },
        };
        assert_eq!(lines(&partial), vec!["c *:* m", "b *:* m"]);
        let null = DeviceRule {
            allow: true,
            kind: DeviceKind::Char,
            major: Some(1),
            minor: Some(3),
            access: Access::ALL,
        };
        assert_eq!(lines(&null), vec!["c 1:3 rwm"]);
    }
}
