//! Finding and removing test cgroups in every mounted hierarchy.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Mount points of every cgroup (v1) and cgroup2 filesystem this process
/// sees, from `/proc/self/mountinfo`.
pub fn cgroup_mounts() -> Vec<PathBuf> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut mounts = Vec::new();
    for line in info.lines() {
        // Fields: id parent maj:min root mountpoint opts [optional...] - fstype source superopts
        let mut halves = line.splitn(2, " - ");
        let (Some(pre), Some(post)) = (halves.next(), halves.next()) else {
            continue;
        };
        let fstype = post.split_whitespace().next().unwrap_or("");
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        if let Some(mp) = pre.split_whitespace().nth(4) {
            let mp = PathBuf::from(unescape(mp));
            if !mounts.contains(&mp) {
                mounts.push(mp);
            }
        }
    }
    mounts
}

/// mountinfo escapes space, tab, newline and backslash as octal.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 4])
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
            {
                out.push(v as char);
                i += 4;
                continue;
            }
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

/// Removes `name` (a relative cgroup path) and everything below it from every
/// hierarchy, retrying while exiting tasks drain out of it.
pub fn remove_everywhere(name: &str, limit: Duration) {
    if name.is_empty() || name.contains("..") {
        return;
    }
    for mount in cgroup_mounts() {
        let dir = mount.join(name.trim_start_matches('/'));
        if dir.is_dir() {
            remove_tree(&dir, limit);
        }
    }
}

fn remove_tree(dir: &Path, limit: Duration) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&e.path(), limit);
            }
        }
    }
    let start = Instant::now();
    // A frozen cgroup keeps its (killed) tasks until thawed.
    let _ = std::fs::write(dir.join("freezer.state"), "THAWED");
    let _ = std::fs::write(dir.join("cgroup.freeze"), "0");
    while std::fs::remove_dir(dir).is_err() && dir.exists() && start.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_decodes_octal_space() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(unescape("/end\\"), "/end\\");
    }
}
