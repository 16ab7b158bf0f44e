//! Changing a running container's v1 device rules without a gap.
//!
//! Writing a rule list from the top starts with "deny all" (`a`), which
//! resets the cgroup: until the allow lines follow, the container cannot
//! open even /dev/null. For `update`, the current state (devices.list) and
//! the wanted one (the rules emulated as the kernel applies them) are
//! compared, and only the difference is written: a deny for each access the
//! container loses, an allow for each it gains. When the default itself
//! changes (allow-all to deny-all or back) there is no smaller way than the
//! full list, which is then written as at create.

use std::collections::BTreeMap;
use std::path::Path;

use super::super::device_rules::DeviceRule;
use super::super::error::CgroupError;
use super::super::files;
use super::devices::{apply, lines};

/// An exception's key as devices.list prints it: type, "major:minor".
type Key = (char, String);

/// A devices cgroup as the kernel keeps it: a default and the exceptions
/// to it (access letters per device).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct DevState {
    pub default_allow: bool,
    pub exceptions: BTreeMap<Key, String>,
}

fn merge(a: &str, b: &str) -> String {
    "rwm"
        .chars()
        .filter(|c| a.contains(*c) || b.contains(*c))
        .collect()
}

fn minus(a: &str, b: &str) -> String {
    a.chars().filter(|c| !b.contains(*c)).collect()
}

fn parse_line(line: &str) -> Option<(char, String, String)> {
    let mut it = line.split_whitespace();
    let t = it.next()?.chars().next()?;
    let dev = it.next().unwrap_or("*:*").to_owned();
    let access = it.next().unwrap_or("rwm").to_owned();
    Some((t, dev, access))
}

impl DevState {
    /// devices.list: "a *:* rwm" alone means allow-all; otherwise the
    /// lines are the allowed exceptions of a deny-all default.
    pub(crate) fn from_list(text: &str) -> DevState {
        let mut s = DevState::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match parse_line(line) {
                Some(('a', _, _)) => {
                    s.default_allow = true;
                    s.exceptions.clear();
                }
                Some((t, dev, access)) => {
                    s.exceptions.insert((t, dev), access);
                }
                None => {}
            }
        }
        s
    }

    /// The kernel's handling of one write (v1 devcgroup): `a` resets the
    /// default and drops every exception; a rule in the direction of the
    /// default removes access from the exception with exactly that key; a
    /// rule against it adds (merges) an exception.
    fn write(&mut self, allow: bool, line: &str) {
        let Some((t, dev, access)) = parse_line(line) else {
            return;
        };
        if t == 'a' {
            self.default_allow = allow;
            self.exceptions.clear();
            return;
        }
        let key = (t, dev);
        if allow != self.default_allow {
            let old = self.exceptions.get(&key).cloned().unwrap_or_default();
            self.exceptions.insert(key, merge(&old, &access));
        } else if let Some(old) = self.exceptions.get(&key).cloned() {
            let left = minus(&old, &access);
            if left.is_empty() {
                self.exceptions.remove(&key);
            } else {
                self.exceptions.insert(key, left);
            }
        }
    }

    /// The state `rules` leave, starting from `self`.
    pub(crate) fn after(&self, rules: &[DeviceRule]) -> DevState {
        let mut s = self.clone();
        for r in rules {
            for l in lines(r) {
                s.write(r.allow, &l);
            }
        }
        s
    }
}

/// The (allow?, line) writes that take a deny-all cgroup from `cur` to
/// `want` (both deny-all); None when the defaults differ.
pub(crate) fn diff(cur: &DevState, want: &DevState) -> Option<Vec<(bool, String)>> {
    if cur.default_allow || want.default_allow {
        return (cur == want).then(Vec::new);
    }
    let mut out = Vec::new();
    // Losses first: the container is never allowed more than either set.
    for ((t, dev), access) in &cur.exceptions {
        let kept = want
            .exceptions
            .get(&(*t, dev.clone()))
            .map_or("", String::as_str);
        let lost = minus(access, kept);
        if !lost.is_empty() {
            out.push((false, format!("{t} {dev} {lost}")));
        }
    }
    for ((t, dev), access) in &want.exceptions {
        let had = cur
            .exceptions
            .get(&(*t, dev.clone()))
            .map_or("", String::as_str);
        let gained = minus(access, had);
        if !gained.is_empty() {
            out.push((true, format!("{t} {dev} {gained}")));
        }
    }
    Some(out)
}

/// Replaces the device rules of the v1 cgroup `dir` by `rules` with the
/// fewest writes (see the module comment); returns how many lines were
/// written.
pub(crate) fn transition(dir: &Path, rules: &[DeviceRule]) -> Result<usize, CgroupError> {
    let cur = DevState::from_list(&files::read(dir, "devices.list")?);
    // The wanted state as the rules leave a cgroup (they start with a
    // reset in practice; from allow-all otherwise, as a new cgroup).
    let want = DevState {
        default_allow: true,
        exceptions: BTreeMap::new(),
    }
    .after(rules);
    match diff(&cur, &want) {
        Some(writes) => {
            let mut allow = files::ControlFile::new(dir, "devices.allow");
            let mut deny = files::ControlFile::new(dir, "devices.deny");
            for (is_allow, line) in &writes {
                if *is_allow {
                    allow.write(line)?;
                } else {
                    deny.write(line)?;
                }
            }
            Ok(writes.len())
        }
        None => {
            apply(Some(dir), rules)?;
            Ok(rules.iter().map(|r| lines(r).len()).sum())
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a panic is the failure report
mod tests {
    use super::super::super::device_rules::{Access, DeviceKind};
    use super::*;

    fn rule(
        allow: bool,
        kind: DeviceKind,
        major: Option<u32>,
        minor: Option<u32>,
        a: &str,
    ) -> DeviceRule {
        DeviceRule {
            allow,
            kind,
            major,
            minor,
            access: Access {
                read: a.contains('r'),
                write: a.contains('w'),
                mknod: a.contains('m'),
            },
        }
    }

    #[test]
    fn only_the_difference_is_written() {
        let cur = DevState::from_list("c 1:3 rwm\nc 1:5 rwm\nc 10:200 rwm\nb *:* m\nc *:* m\n");
        let rules = [
            rule(false, DeviceKind::All, None, None, "rwm"),
            rule(true, DeviceKind::Char, Some(1), Some(3), "rwm"),
            rule(true, DeviceKind::Char, Some(1), Some(5), "rw"),
            rule(true, DeviceKind::Char, Some(4), Some(1), "rw"),
            rule(true, DeviceKind::All, None, None, "m"),
        ];
        let want = DevState {
            default_allow: true,
            ..DevState::default()
        }
        .after(&rules);
        assert!(!want.default_allow);
        let w = diff(&cur, &want).unwrap();
        assert_eq!(
            w,
            vec![
                (false, "c 10:200 rwm".to_owned()),
                (false, "c 1:5 m".to_owned()),
                (true, "c 4:1 rw".to_owned()),
            ]
        );
        // Applying the writes to the current state gives the wanted one.
        let mut s = cur.clone();
        for (allow, l) in &w {
            s.write(*allow, l);
        }
        assert_eq!(s, want);
        // Nothing to do when nothing changes.
        assert_eq!(diff(&want, &want).unwrap(), vec![]);
    }

    #[test]
    fn a_changed_default_needs_the_full_list() {
        let cur = DevState::from_list("a *:* rwm\n");
        assert!(cur.default_allow);
        let want = cur.after(&[rule(false, DeviceKind::All, None, None, "rwm")]);
        assert!(diff(&cur, &want).is_none());
    }
}
