//! The process environment as runc prepares it: each entry `NAME=VALUE`
//! (refused otherwise), duplicates removed keeping the last value at the
//! place of its last occurrence, and HOME from the container's
//! /etc/passwd when it is missing or empty.

use std::path::Path;

/// Why the environment was refused (runc's messages).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvError {
    #[error("invalid environment variable: missing '='")]
    NoEquals,
    #[error("invalid environment variable: name cannot be empty")]
    EmptyName,
}

/// Deduplicates `env` and adds HOME (`home()` is asked only when needed).
pub fn prepare(env: &[String], home: impl FnOnce() -> String) -> Result<Vec<String>, EnvError> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(env.len() + 1);
    let mut home_set = false;
    for kv in env.iter().rev() {
        let (key, value) = kv.split_once('=').ok_or(EnvError::NoEquals)?;
        if key.is_empty() {
            return Err(EnvError::EmptyName);
        }
        if !seen.insert(key) {
            continue;
        }
        if key == "HOME" {
            if value.is_empty() {
                // Replaced from /etc/passwd below.
                continue;
            }
            home_set = true;
        }
        out.push(kv.clone());
    }
    out.reverse();
    if !home_set {
        out.push(format!("HOME={}", home()));
    }
    Ok(out)
}

/// HOME for `uid` from the rootfs's /etc/passwd (the entry's field as it
/// is, even empty, as runc takes it), or `/` without an entry.
pub fn home_of(rootfs: &Path, uid: u32) -> String {
    let Ok(text) = std::fs::read_to_string(rootfs.join("etc/passwd")) else {
        return "/".into();
    };
    text.lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid)).then(|| f[5].to_owned())
        })
        .unwrap_or_else(|| "/".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn last_value_wins_once_in_place_of_the_last() {
        let got = prepare(&env(&["A=1", "B=2", "A=3", "HOME=/h"]), || "/x".into());
        assert_eq!(got, Ok(env(&["B=2", "A=3", "HOME=/h"])));
    }

    #[test]
    fn empty_or_missing_home_comes_from_passwd() {
        let got = prepare(&env(&["HOME=", "A=1"]), || "/root".into());
        assert_eq!(got, Ok(env(&["A=1", "HOME=/root"])));
        let got = prepare(&env(&["HOME=/a", "HOME="]), || "/root".into());
        assert_eq!(got, Ok(env(&["HOME=/root"])));
    }

    #[test]
    fn malformed_entries_are_refused() {
        assert_eq!(
            prepare(&env(&["A"]), || "/".into()),
            Err(EnvError::NoEquals)
        );
        assert_eq!(
            prepare(&env(&["=1"]), || "/".into()),
            Err(EnvError::EmptyName)
        );
    }

    #[test]
    fn home_from_passwd() -> std::io::Result<()> {
        let tmp = tempfile::tempdir()?;
        std::fs::create_dir(tmp.path().join("etc"))?;
        std::fs::write(
            tmp.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nweb:x:1000:1000::/srv/web:/bin/sh\n",
        )?;
        assert_eq!(home_of(tmp.path(), 0), "/root");
        assert_eq!(home_of(tmp.path(), 1000), "/srv/web");
        assert_eq!(home_of(tmp.path(), 5), "/");
        Ok(())
    }
}
