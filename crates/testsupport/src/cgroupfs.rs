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
///
/// A relative cgroupsPath is resolved against the caller's own cgroup in each
/// hierarchy (as runc does), and a test process need not sit at a
/// hierarchy's root (a job runner may have placed it in, say,
/// `memory:/jobs/42`), so both the hierarchy's root and this process's own
/// cgroup in it are looked at.
pub fn remove_everywhere(name: &str, limit: Duration) {
    if name.is_empty() || name.contains("..") {
        return;
    }
    let own = own_cgroups();
    for (mount, controllers) in cgroup_mounts_with_controllers() {
        let rel = name.trim_start_matches('/');
        let mut dirs = vec![mount.join(rel)];
        if let Some(path) = own.get(&controllers) {
            let inner = mount.join(path.trim_start_matches('/')).join(rel);
            if !dirs.contains(&inner) {
                dirs.push(inner);
            }
        }
        for dir in dirs {
            if dir.is_dir() {
                remove_tree(&dir, limit);
            }
        }
    }
}

/// This process's cgroup per hierarchy, keyed by the hierarchy's sorted
/// controller list ("" for cgroup2), from `/proc/self/cgroup`.
fn own_cgroups() -> std::collections::HashMap<String, String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctl, path) = (f.next()?, f.next()?, f.next()?);
            Some((sorted_controllers(ctl), path.to_owned()))
        })
        .collect()
}

fn sorted_controllers(list: &str) -> String {
    let mut v: Vec<&str> = list.split(',').filter(|c| !c.is_empty()).collect();
    v.sort_unstable();
    v.join(",")
}

/// Like [`cgroup_mounts`], with each mount's controller list as
/// `/proc/self/cgroup` names it ("" for cgroup2).
fn cgroup_mounts_with_controllers() -> Vec<(PathBuf, String)> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, String)> = Vec::new();
    for line in info.lines() {
        let mut halves = line.splitn(2, " - ");
        let (Some(pre), Some(post)) = (halves.next(), halves.next()) else {
            continue;
        };
        let mut post = post.split_whitespace();
        let fstype = post.next().unwrap_or("");
        let superopts = post.nth(1).unwrap_or("");
        let controllers = match fstype {
            "cgroup2" => String::new(),
            "cgroup" => {
                let known: Vec<&str> = superopts
                    .split(',')
                    .filter(|o| {
                        !matches!(*o, "rw" | "ro" | "noprefix" | "clone_children" | "xattr")
                            && !o.starts_with("release_agent=")
                    })
                    .collect();
                sorted_controllers(&known.join(","))
            }
            _ => continue,
        };
        if let Some(mp) = pre.split_whitespace().nth(4) {
            let mp = PathBuf::from(unescape(mp));
            if !out.iter().any(|(m, _)| *m == mp) {
                out.push((mp, controllers));
            }
        }
    }
    out
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
    fn controller_lists_compare_sorted() {
        assert_eq!(sorted_controllers("cpuacct,cpu"), "cpu,cpuacct");
        assert_eq!(sorted_controllers(""), "");
        assert_eq!(sorted_controllers("name=systemd"), "name=systemd");
    }

    #[test]
    fn own_cgroups_name_every_hierarchy_of_this_process() {
        let own = own_cgroups();
        // Every hierarchy this process sees has an entry for it.
        for (_, ctl) in cgroup_mounts_with_controllers() {
            assert!(
                own.contains_key(&ctl),
                "no /proc/self/cgroup entry for {ctl:?}"
            );
        }
    }

    #[test]
    fn unescape_decodes_octal_space() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(unescape("/end\\"), "/end\\");
    }
}
