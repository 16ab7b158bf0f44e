//! Operations on a cgroup directory and everything below it: creating the
//! path, listing the processes, removing it. The same for v1 and v2.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::CgroupError;
use super::files;

/// Creates `dir` and its missing parents below `mountpoint`; returns the
/// directories that were created, outermost first (a caller may need to
/// initialise them, as v1 cpuset does).
pub(crate) fn create_dirs(mountpoint: &Path, dir: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    // A concurrent delete may remove a parent another container shared
    // between our look and our mkdir: start over a few times on ENOENT.
    let mut attempt = 0;
    loop {
        match create_dirs_once(mountpoint, dir) {
            Err(CgroupError::Create { source, .. })
                if source.kind() == io::ErrorKind::NotFound && attempt < 3 =>
            {
                attempt += 1;
            }
            other => return other,
        }
    }
}

fn create_dirs_once(mountpoint: &Path, dir: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    if dir == mountpoint {
        return Ok(Vec::new());
    }
    let mkdir = |d: &Path| match fs::create_dir(d) {
        // Another container may create a shared parent at the same time.
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(source) => Err(CgroupError::Create {
            path: d.to_owned(),
            source,
        }),
    };
    // The common case, a new directory under an existing parent, costs one
    // mkdir; only ENOENT (a missing parent) leads to the walk up.
    match mkdir(dir) {
        Ok(true) => return Ok(vec![dir.to_owned()]),
        Ok(false) => return Ok(Vec::new()),
        Err(CgroupError::Create { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut missing = vec![dir.to_owned()];
    let mut cur = dir.parent();
    while let Some(p) = cur {
        if p == mountpoint || p.exists() {
            break;
        }
        missing.push(p.to_owned());
        cur = p.parent();
    }
    missing.reverse();
    for d in &missing {
        mkdir(d)?;
    }
    Ok(missing)
}

/// Every cgroup directory at or below `dir`, deepest first.
fn subtree_deepest_first(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    collect(dir, &mut out);
    out
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                collect(&e.path(), out);
            }
        }
    }
    out.push(dir.to_owned());
}

/// Process ids in `dir` and every cgroup below it (a container may make its
/// own sub-cgroups).
pub(crate) fn pids(dir: &Path) -> Result<Vec<i32>, CgroupError> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut pids = Vec::new();
    for d in subtree_deepest_first(dir) {
        let Some(text) = files::read_opt(&d, "cgroup.procs")? else {
            continue;
        };
        for line in text.lines().filter(|l| !l.is_empty()) {
            let pid = line.trim().parse().map_err(|_| CgroupError::Parse {
                path: d.join("cgroup.procs"),
                reason: format!("{line:?} is not a pid"),
            })?;
            pids.push(pid);
        }
    }
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}

/// How long `remove` waits for exiting tasks to leave a cgroup: a killed
/// process stays a member until it is fully reaped by the kernel.
const REMOVE_RETRIES: u32 = 12;

/// Removes `dir` and every cgroup below it. A missing directory is success
/// (removal is idempotent). EBUSY is retried briefly with backoff, since
/// tasks that were just killed may not have left yet.
pub(crate) fn remove(dir: &Path) -> Result<(), Vec<(PathBuf, io::Error)>> {
    // The common case, an empty leaf, costs one rmdir; a cgroup that still
    // has sub-cgroups or tasks answers EBUSY and gets the full walk below.
    match fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    let mut failures = Vec::new();
    for d in subtree_deepest_first(dir) {
        let mut delay = Duration::from_millis(1);
        let mut attempt = 0;
        loop {
            match fs::remove_dir(&d) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < REMOVE_RETRIES => {
                    attempt += 1;
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_millis(100));
                }
                Err(e) => {
                    failures.push((d.clone(), e));
                    break;
                }
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn create_and_remove_plain_dirs() {
        // Plain directories behave like empty cgroups for these helpers.
        let tmp = tempfile::tempdir().unwrap();
        let leaf = tmp.path().join("a/b/c");
        let made = create_dirs(tmp.path(), &leaf).unwrap();
        assert_eq!(
            made,
            vec![tmp.path().join("a"), tmp.path().join("a/b"), leaf.clone()]
        );
        assert!(create_dirs(tmp.path(), &leaf).unwrap().is_empty());
        fs::create_dir(leaf.join("sub")).unwrap();
        assert_eq!(pids(&leaf).unwrap(), Vec::<i32>::new());
        remove(&tmp.path().join("a/b")).unwrap();
        assert!(!tmp.path().join("a/b").exists());
        assert!(tmp.path().join("a").exists());
        remove(&tmp.path().join("a/b")).unwrap();
    }

    #[test]
    fn pids_reads_subtree() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("sub")).unwrap();
        fs::write(tmp.path().join("cgroup.procs"), "5\n3\n").unwrap();
        fs::write(tmp.path().join("sub/cgroup.procs"), "9\n3\n").unwrap();
        assert_eq!(pids(tmp.path()).unwrap(), vec![3, 5, 9]);
        fs::write(tmp.path().join("sub/cgroup.procs"), "x\n").unwrap();
        assert!(pids(tmp.path()).is_err());
    }
}
