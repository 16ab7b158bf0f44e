//! Reading the machine's state: `/proc`, cgroupfs, `/run/netns`, `nft`.
//!
//! Every reader tolerates things vanishing while it looks (a process that
//! exits between `readdir` and `readlink` is simply not there), since the
//! machine keeps running while a snapshot is taken.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{LeakError, MountEntry, NsIds, ProcessEntry};

/// Namespace kinds compared to decide whether a process is "namespaced away".
pub(super) const NS_KINDS: &[&str] = &["net", "mnt", "pid", "ipc", "uts"];

/// File names of executables that only tests run: a leftover one is a leak
/// even in the root namespaces.
const TEST_EXES: &[&str] = &["busybox", "runc", "crun"];

/// Inode of a namespace link such as `/proc/1/ns/net` -> `net:[4026531833]`.
pub(super) fn ns_inode(link: &Path) -> Option<u64> {
    let target = fs::read_link(link).ok()?;
    parse_ns_target(&target.to_string_lossy()).map(|(_, ino)| ino)
}

/// `net:[4026531833]` -> (`net`, 4026531833).
pub(super) fn parse_ns_target(s: &str) -> Option<(&str, u64)> {
    let (kind, rest) = s.split_once(":[")?;
    let ino = rest.strip_suffix(']')?.parse().ok()?;
    Some((kind, ino))
}

/// The namespaces of `/proc/<who>` (`self`, `thread-self` or a PID).
pub(super) fn ns_ids(who: &str) -> NsIds {
    let get = |kind: &str| ns_inode(&Path::new("/proc").join(who).join("ns").join(kind));
    NsIds {
        net: get("net"),
        mnt: get("mnt"),
        pid: get("pid"),
        ipc: get("ipc"),
        uts: get("uts"),
    }
}

/// Names of the network links in the calling thread's network namespace.
pub(super) fn links() -> Result<BTreeSet<String>, LeakError> {
    let path = "/proc/thread-self/net/dev";
    let text = fs::read_to_string(path).map_err(|error| LeakError::Read {
        path: path.into(),
        error,
    })?;
    Ok(parse_net_dev(&text))
}

/// Interface names from `/proc/net/dev` (two header lines, then `name: stats`).
pub(super) fn parse_net_dev(text: &str) -> BTreeSet<String> {
    text.lines()
        .skip(2)
        .filter_map(|l| l.split_once(':'))
        .map(|(name, _)| name.trim().to_owned())
        .filter(|n| !n.is_empty())
        .collect()
}

/// Mounts of the calling thread's mount namespace.
pub(super) fn mounts() -> Result<Vec<MountEntry>, LeakError> {
    let path = "/proc/thread-self/mountinfo";
    let text = fs::read_to_string(path).map_err(|error| LeakError::Read {
        path: path.into(),
        error,
    })?;
    Ok(parse_mountinfo(&text))
}

/// Parses mountinfo lines: `id parent maj:min root mountpoint opts [opt...] -
/// fstype source superopts`.
pub(super) fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split_whitespace().collect();
        let mut post = post.split_whitespace();
        let (Some(root), Some(mount_point)) = (pre.get(3), pre.get(4)) else {
            continue;
        };
        let fstype = post.next().unwrap_or_default();
        let source = post.next().unwrap_or_default();
        out.push(MountEntry {
            mount_point: unescape(mount_point),
            fstype: fstype.to_owned(),
            source: unescape(source),
            root: unescape(root),
        });
    }
    out.sort();
    out
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
pub(super) fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let d = &b[i + 1..i + 4];
            if d.iter().all(|c| (b'0'..=b'7').contains(c)) && d[0] <= b'3' {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every directory of every cgroup hierarchy mounted in this mount namespace
/// (v1 controllers and cgroup2 alike), as absolute paths.
pub(super) fn cgroups(mounts: &[MountEntry]) -> BTreeSet<PathBuf> {
    let mut roots: Vec<PathBuf> = mounts
        .iter()
        .filter(|m| m.fstype == "cgroup" || m.fstype == "cgroup2")
        .map(|m| PathBuf::from(&m.mount_point))
        .collect();
    roots.sort();
    roots.dedup();
    let mut out = BTreeSet::new();
    for root in roots {
        walk_dirs(&root, &mut out);
    }
    out
}

fn walk_dirs(dir: &Path, out: &mut BTreeSet<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        // file_type() does not follow symlinks: a link is never walked.
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            let p = e.path();
            walk_dirs(&p, out);
            out.insert(p);
        }
    }
}

/// Names in `/run/netns` (what `ip netns add` makes).
pub(super) fn named_netns() -> BTreeSet<String> {
    fs::read_dir("/run/netns")
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Every network namespace alive that this process can see: the one of each
/// task, each namespace fd a process holds, and each nsfs bind mount. Maps
/// the namespace inode to who holds it.
pub(super) fn netns(mounts: &[MountEntry]) -> BTreeMap<u64, Vec<String>> {
    let mut out: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut add = |ino: u64, holder: String| {
        let holders = out.entry(ino).or_default();
        if holders.len() < 4 && !holders.contains(&holder) {
            holders.push(holder);
        }
    };
    for m in mounts.iter().filter(|m| m.fstype == "nsfs") {
        if let Some(("net", ino)) = parse_ns_target(&m.root) {
            add(ino, format!("mount {}", m.mount_point));
        }
    }
    for pid in pids() {
        let base = PathBuf::from(format!("/proc/{pid}"));
        let comm = comm(pid);
        if let Ok(tasks) = fs::read_dir(base.join("task")) {
            for t in tasks.flatten() {
                if let Some(ino) = ns_inode(&t.path().join("ns/net")) {
                    add(ino, format!("pid {pid} ({comm})"));
                }
            }
        }
        if let Ok(fds) = fs::read_dir(base.join("fd")) {
            for fd in fds.flatten() {
                let Ok(target) = fs::read_link(fd.path()) else {
                    continue;
                };
                if let Some(("net", ino)) = parse_ns_target(&target.to_string_lossy()) {
                    add(ino, format!("fd of pid {pid} ({comm})"));
                }
            }
        }
    }
    out
}

/// nftables tables (`family name`) in the calling thread's network
/// namespace, or `None` when `nft` is not installed.
pub(super) fn nft_tables() -> Result<Option<BTreeSet<String>>, LeakError> {
    let out = match Command::new("nft")
        .args(["list", "tables"])
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(LeakError::Nft(source.to_string())),
    };
    if !out.status.success() {
        return Err(LeakError::Nft(format!(
            "`nft list tables` exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(Some(parse_nft_tables(&String::from_utf8_lossy(
        &out.stdout,
    ))))
}

/// `table inet filter` lines -> `inet filter`.
pub(super) fn parse_nft_tables(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("table "))
        .map(|t| t.trim().to_owned())
        .collect()
}

/// Entries directly in the temp directory.
pub(super) fn temp_entries(tmp: &Path) -> BTreeSet<PathBuf> {
    fs::read_dir(tmp)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

fn pids() -> Vec<i32> {
    fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

fn comm(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| c.trim().to_owned())
        .unwrap_or_default()
}

/// State letter (field 3) and start time (field 22, clock ticks since boot)
/// of `/proc/PID/stat`: with the PID, the start time names one process even
/// if the PID is reused later.
fn state_and_start(pid: i32) -> Option<(char, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm (field 2) may hold spaces and parentheses: split after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // After the state (field 3), field 22 is the 19th.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// Whether `exe` lies in a cargo target directory: cargo marks the root of
/// every target dir with a `CACHEDIR.TAG` that names cargo.
struct TargetDirs {
    cache: HashMap<PathBuf, bool>,
}

impl TargetDirs {
    fn contains(&mut self, exe: &Path) -> bool {
        exe.ancestors().skip(1).any(|dir| {
            if let Some(known) = self.cache.get(dir) {
                return *known;
            }
            let is_target = fs::read_to_string(dir.join("CACHEDIR.TAG"))
                .is_ok_and(|t| t.contains("created by cargo"));
            self.cache.insert(dir.to_path_buf(), is_target);
            is_target
        })
    }
}

/// Processes that tests may have left: in a namespace other than ours
/// (`ours`), or running a test-only executable (busybox, runc, crun, or
/// anything built into a cargo target dir). Skips this process itself.
pub(super) fn processes(ours: &NsIds) -> Vec<ProcessEntry> {
    let me = std::process::id() as i32;
    let mut targets = TargetDirs {
        cache: HashMap::new(),
    };
    let mut out = Vec::new();
    for pid in pids() {
        if pid == me {
            continue;
        }
        let theirs = ns_ids(&pid.to_string());
        let mut reasons: Vec<String> = NS_KINDS
            .iter()
            .filter(|kind| {
                let (a, b) = (ours.get(kind), theirs.get(kind));
                // Unreadable (kernel thread, exited, or not ours to see) is
                // not evidence of a different namespace.
                a.is_some() && b.is_some() && a != b
            })
            .map(|kind| format!("own {kind} ns"))
            .collect();
        let exe = fs::read_link(format!("/proc/{pid}/exe")).ok().map(|p| {
            let s = p.to_string_lossy();
            PathBuf::from(s.strip_suffix(" (deleted)").unwrap_or(&s))
        });
        if let Some(exe) = &exe {
            let name = exe.file_name().map(|n| n.to_string_lossy().into_owned());
            if name.as_deref().is_some_and(|n| TEST_EXES.contains(&n)) {
                reasons.push("runs a test-only executable".to_owned());
            } else if targets.contains(exe) {
                reasons.push("runs a binary from a cargo target dir".to_owned());
            }
        }
        if reasons.is_empty() {
            continue;
        }
        let Some((state, start_time)) = state_and_start(pid) else {
            continue;
        };
        // A zombie holds no namespace, mount or memory any more, only its
        // PID until its parent reaps it or exits; not a leak.
        if state == 'Z' {
            continue;
        }
        let cmdline = fs::read(format!("/proc/{pid}/cmdline"))
            .map(|raw| {
                raw.split(|b| *b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        out.push(ProcessEntry {
            pid,
            start_time,
            comm: comm(pid),
            exe: exe.map(|e| e.to_string_lossy().into_owned()),
            cmdline,
            netns: theirs.net,
            reasons,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev_names_skip_headers() {
        let text = "Inter-|   Receive\n face |bytes\n    lo: 1 2 3\n  eth0: 4 5\nveth-a@x: 1\n";
        let names: Vec<String> = parse_net_dev(text).into_iter().collect();
        assert_eq!(names, ["eth0", "lo", "veth-a@x"]);
    }

    #[test]
    fn mountinfo_lines_with_optional_fields_and_escapes() {
        let text = "36 35 98:0 /mnt1 /mnt/a\\040b rw,noatime master:1 - ext3 /dev/root rw\n\
                    50 27 0:4 net:[4026532300] /run/netns/x rw shared:5 - nsfs nsfs rw\n";
        let m = parse_mountinfo(text);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].mount_point, "/mnt/a b");
        assert_eq!(m[0].fstype, "ext3");
        assert_eq!(m[0].source, "/dev/root");
        assert_eq!(m[1].root, "net:[4026532300]");
        assert_eq!(parse_ns_target(&m[1].root), Some(("net", 4026532300)));
    }

    #[test]
    fn unescape_keeps_a_trailing_backslash() {
        assert_eq!(unescape("/end\\"), "/end\\");
        assert_eq!(unescape("/t\\011x"), "/t\tx");
    }

    #[test]
    fn nft_table_lines() {
        let t = parse_nft_tables("table inet filter\ntable ip nat\n");
        assert!(t.contains("inet filter") && t.contains("ip nat") && t.len() == 2);
    }

    #[test]
    fn this_process_has_a_start_time_and_namespaces() {
        let me = std::process::id() as i32;
        assert!(matches!(state_and_start(me), Some(('R' | 'S', t)) if t > 0));
        let ns = ns_ids("self");
        assert!(ns.net.is_some() && ns.mnt.is_some());
    }
}
