//! Leak checks: what the root namespaces hold, before and after.
//!
//! A [`LeakSnapshot`] records, as seen from the calling process (which must
//! sit in the machine's root namespaces):
//!
//! - network links of the root network namespace,
//! - every network namespace alive (held by a task, an open fd or an nsfs
//!   bind mount) and the names in `/run/netns`,
//! - the mounts of the root mount namespace,
//! - every directory of every cgroup hierarchy (v1 controllers and cgroup2),
//! - nftables tables of the root network namespace (when `nft` exists),
//! - processes namespaced away from this one (net, mnt, pid, ipc or uts) or
//!   running a test-only executable (busybox, runc, crun, a cargo-built
//!   binary),
//! - entries directly in the temp directory.
//!
//! [`LeakSnapshot::diff`] lists what is new in the second snapshot — things
//! that appeared and are still there — each with a hint on how to remove it.
//! The `berth-leakcheck` binary wraps the same API for scripts.
//!
//! A snapshot sees the whole machine, so anything else running at the same
//! time (another test binary, another developer) shows up too; a test that
//! checks itself while others run narrows the result with [`Leaks::within`].

mod probe;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Why a snapshot could not be taken, saved, loaded or compared.
#[derive(Debug, thiserror::Error)]
pub enum LeakError {
    #[error("reading {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("listing nftables tables: {0}")]
    Nft(String),
    #[error(
        "the calling thread is in another {ns} namespace than its process: take snapshots from a thread that never entered a sandbox"
    )]
    ForeignThread { ns: &'static str },
    #[error("snapshots come from different namespaces (before net:[{before_net}] mnt:[{before_mnt}], after net:[{after_net}] mnt:[{after_mnt}])")]
    OriginMismatch {
        before_net: u64,
        before_mnt: u64,
        after_net: u64,
        after_mnt: u64,
    },
    #[error("writing snapshot {path}: {error}")]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("snapshot {path} is not valid: {error}")]
    Json {
        path: PathBuf,
        error: serde_json::Error,
    },
}

/// Namespace inodes of one process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NsIds {
    pub net: Option<u64>,
    pub mnt: Option<u64>,
    pub pid: Option<u64>,
    pub ipc: Option<u64>,
    pub uts: Option<u64>,
}

impl NsIds {
    fn get(&self, kind: &str) -> Option<u64> {
        match kind {
            "net" => self.net,
            "mnt" => self.mnt,
            "pid" => self.pid,
            "ipc" => self.ipc,
            "uts" => self.uts,
            _ => None,
        }
    }
}

/// One line of mountinfo, reduced to what identifies a mount.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MountEntry {
    pub mount_point: String,
    pub fstype: String,
    pub source: String,
    /// Root of the mount within its filesystem; `net:[INODE]` for a netns
    /// bind mount.
    pub root: String,
}

/// A process that tests may have left behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessEntry {
    pub pid: i32,
    /// Clock ticks since boot; with `pid` it survives PID reuse.
    pub start_time: u64,
    pub comm: String,
    pub exe: Option<String>,
    pub cmdline: String,
    pub netns: Option<u64>,
    /// Why it counts (`own net ns`, `runs a test-only executable`, ...).
    pub reasons: Vec<String>,
}

/// The state of the root namespaces at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeakSnapshot {
    /// Namespaces of the process that took the snapshot.
    pub origin: NsIds,
    pub links: BTreeSet<String>,
    /// Network namespace inode -> who holds it (a few examples).
    pub netns: BTreeMap<u64, Vec<String>>,
    pub named_netns: BTreeSet<String>,
    pub mounts: Vec<MountEntry>,
    pub cgroups: BTreeSet<PathBuf>,
    /// `None` when `nft` is not installed.
    pub nft_tables: Option<BTreeSet<String>>,
    pub processes: Vec<ProcessEntry>,
    pub temp_dir: PathBuf,
    pub temp_entries: BTreeSet<PathBuf>,
}

impl LeakSnapshot {
    /// Takes a snapshot. Call it from a thread that never joined a sandbox.
    pub fn take() -> Result<LeakSnapshot, LeakError> {
        let origin = probe::ns_ids("self");
        let thread = probe::ns_ids("thread-self");
        if thread.net != origin.net {
            return Err(LeakError::ForeignThread { ns: "network" });
        }
        if thread.mnt != origin.mnt {
            return Err(LeakError::ForeignThread { ns: "mount" });
        }
        let mounts = probe::mounts()?;
        let temp_dir = std::env::temp_dir();
        Ok(LeakSnapshot {
            origin,
            links: probe::links()?,
            netns: probe::netns(&mounts),
            named_netns: probe::named_netns(),
            cgroups: probe::cgroups(&mounts),
            nft_tables: probe::nft_tables()?,
            processes: probe::processes(&origin),
            temp_entries: probe::temp_entries(&temp_dir),
            temp_dir,
            mounts,
        })
    }

    /// Writes the snapshot as JSON.
    pub fn save(&self, path: &Path) -> Result<(), LeakError> {
        let json = serde_json::to_vec_pretty(self).map_err(|error| LeakError::Json {
            path: path.to_path_buf(),
            error,
        })?;
        std::fs::write(path, json).map_err(|error| LeakError::Write {
            path: path.to_path_buf(),
            error,
        })
    }

    /// Reads a snapshot written by [`LeakSnapshot::save`].
    pub fn load(path: &Path) -> Result<LeakSnapshot, LeakError> {
        let text = std::fs::read(path).map_err(|error| LeakError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        serde_json::from_slice(&text).map_err(|error| LeakError::Json {
            path: path.to_path_buf(),
            error,
        })
    }

    /// Takes a snapshot now and lists what appeared since `self`.
    pub fn leaks_since(&self) -> Result<Leaks, LeakError> {
        Self::diff(self, &Self::take()?)
    }

    /// What `after` holds that `before` did not.
    pub fn diff(before: &LeakSnapshot, after: &LeakSnapshot) -> Result<Leaks, LeakError> {
        if before.origin.net != after.origin.net || before.origin.mnt != after.origin.mnt {
            return Err(LeakError::OriginMismatch {
                before_net: before.origin.net.unwrap_or_default(),
                before_mnt: before.origin.mnt.unwrap_or_default(),
                after_net: after.origin.net.unwrap_or_default(),
                after_mnt: after.origin.mnt.unwrap_or_default(),
            });
        }
        let mut items = Vec::new();
        for name in after.links.difference(&before.links) {
            items.push(Leak::Link { name: name.clone() });
        }
        for name in after.named_netns.difference(&before.named_netns) {
            items.push(Leak::NamedNetns { name: name.clone() });
        }
        for (inode, holders) in &after.netns {
            if !before.netns.contains_key(inode) {
                items.push(Leak::Netns {
                    inode: *inode,
                    holders: holders.clone(),
                });
            }
        }
        // Mounts can stack (the same entry twice): compare counts.
        let mut seen: BTreeMap<&MountEntry, usize> = BTreeMap::new();
        for m in &before.mounts {
            *seen.entry(m).or_default() += 1;
        }
        for m in &after.mounts {
            match seen.get_mut(m) {
                Some(n) if *n > 0 => *n -= 1,
                _ => items.push(Leak::Mount(m.clone())),
            }
        }
        let new_cgroups: BTreeSet<&PathBuf> = after.cgroups.difference(&before.cgroups).collect();
        for path in &new_cgroups {
            // A new cgroup's new children go with it: list only the top.
            let parent_new = path
                .parent()
                .is_some_and(|p| new_cgroups.contains(&p.to_path_buf()));
            if !parent_new {
                items.push(Leak::Cgroup {
                    path: (*path).clone(),
                });
            }
        }
        if let (Some(b), Some(a)) = (&before.nft_tables, &after.nft_tables) {
            for table in a.difference(b) {
                items.push(Leak::NftTable {
                    table: table.clone(),
                });
            }
        }
        let old: BTreeSet<(i32, u64)> = before
            .processes
            .iter()
            .map(|p| (p.pid, p.start_time))
            .collect();
        for p in &after.processes {
            if !old.contains(&(p.pid, p.start_time)) {
                items.push(Leak::Process(p.clone()));
            }
        }
        if before.temp_dir == after.temp_dir {
            for path in after.temp_entries.difference(&before.temp_entries) {
                items.push(Leak::TempEntry { path: path.clone() });
            }
        }
        Ok(Leaks { items })
    }
}

/// One thing left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leak {
    /// A link in the root network namespace.
    Link { name: String },
    /// A name in `/run/netns`.
    NamedNetns { name: String },
    /// A network namespace still alive.
    Netns { inode: u64, holders: Vec<String> },
    /// A mount in the root mount namespace.
    Mount(MountEntry),
    /// A cgroup directory (the topmost new one of a new subtree).
    Cgroup { path: PathBuf },
    /// An nftables table (`family name`) in the root network namespace.
    NftTable { table: String },
    /// A process still running.
    Process(ProcessEntry),
    /// An entry in the temp directory.
    TempEntry { path: PathBuf },
}

impl Leak {
    /// Whether this changes the root network namespace: never acceptable,
    /// whoever did it, so [`Leaks::within`] keeps these always.
    pub fn changes_root_netns(&self) -> bool {
        matches!(
            self,
            Leak::Link { .. } | Leak::NamedNetns { .. } | Leak::NftTable { .. }
        )
    }
}

impl fmt::Display for Leak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Leak::Link { name } => {
                let dev = name.split('@').next().unwrap_or(name);
                write!(f, "link {name} in the root netns  [remove: ip link del {dev}]")
            }
            Leak::NamedNetns { name } => {
                write!(f, "named netns /run/netns/{name}  [remove: ip netns del {name}]")
            }
            Leak::Netns { inode, holders } => {
                let hint = match holders.first() {
                    Some(h) if h.starts_with("mount ") => {
                        format!("umount {}", h.trim_start_matches("mount "))
                    }
                    Some(h) => format!("end the process ({h})"),
                    None => "end whatever holds it".to_owned(),
                };
                write!(
                    f,
                    "netns net:[{inode}] held by {}  [remove: {hint}]",
                    holders.join(", ")
                )
            }
            Leak::Mount(m) => write!(
                f,
                "mount {} ({} from {}, root {})  [remove: umount {}]",
                m.mount_point, m.fstype, m.source, m.root, m.mount_point
            ),
            Leak::Cgroup { path } => write!(
                f,
                "cgroup {}  [remove: kill the PIDs in its cgroup.procs, then rmdir it (children first)]",
                path.display()
            ),
            Leak::NftTable { table } => {
                write!(f, "nftables table {table} in the root netns  [remove: nft delete table {table}]")
            }
            Leak::Process(p) => write!(
                f,
                "process {} ({}) `{}` exe {}: {}  [remove: kill {}]",
                p.pid,
                p.comm,
                one_line(&p.cmdline, 100),
                p.exe.as_deref().unwrap_or("?"),
                p.reasons.join(", "),
                p.pid
            ),
            Leak::TempEntry { path } => {
                write!(f, "temp entry {}  [remove: rm -rf {}]", path.display(), path.display())
            }
        }
    }
}

/// `s` on one line (newlines as `; `), cut to about `max` characters.
fn one_line(s: &str, max: usize) -> String {
    let flat = s.split('\n').collect::<Vec<_>>().join("; ");
    match flat.char_indices().nth(max) {
        Some((cut, _)) => format!("{}...", &flat[..cut]),
        None => flat,
    }
}

/// What a test or a suite left behind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leaks {
    pub items: Vec<Leak>,
}

impl Leaks {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Leak> {
        self.items.iter()
    }

    /// Keeps only the leaks that `scope` can account for, plus every change
    /// to the root network namespace (those are never somebody else's
    /// business). For a test that checks itself while other tests run.
    pub fn within(self, scope: &Scope) -> Leaks {
        Leaks {
            items: self
                .items
                .into_iter()
                .filter(|l| l.changes_root_netns() || scope.accounts_for(l))
                .collect(),
        }
    }

    /// Panics with the list of leaks, if any.
    #[track_caller]
    pub fn assert_none(&self) {
        assert!(self.is_empty(), "{self}");
    }
}

impl fmt::Display for Leaks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.items.is_empty() {
            return write!(f, "no leaks");
        }
        writeln!(f, "{} leak(s):", self.items.len())?;
        for leak in &self.items {
            writeln!(f, "  - {leak}")?;
        }
        Ok(())
    }
}

/// What one test owns: the namespaces, processes, paths and cgroup names it
/// made. See [`Leaks::within`].
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Network namespace inodes.
    pub netns: Vec<u64>,
    pub pids: Vec<i32>,
    /// Paths (temp roots, state dirs): mounts and temp entries at or under
    /// them are the test's.
    pub paths: Vec<PathBuf>,
    /// Cgroup directory names (any path component).
    pub cgroup_names: Vec<String>,
}

impl Scope {
    /// Network namespace inode of `/proc/<pid>/ns/net`, for [`Scope::netns`].
    pub fn netns_of(pid: i32) -> Option<u64> {
        probe::ns_inode(Path::new(&format!("/proc/{pid}/ns/net")))
    }

    /// Everything a [`SandboxHost`](crate::SandboxHost) owns: its network
    /// namespace, its init, its temp root and its cgroup parent. Take it
    /// while the host is alive.
    pub fn of_sandbox(host: &crate::SandboxHost) -> Scope {
        Scope {
            netns: Self::netns_of(host.pid()).into_iter().collect(),
            pids: vec![host.pid()],
            paths: vec![host.root().to_path_buf()],
            cgroup_names: vec![host.cgroup_parent().to_owned()],
        }
    }

    fn under(&self, p: &Path) -> bool {
        self.paths.iter().any(|root| p.starts_with(root))
    }

    fn accounts_for(&self, leak: &Leak) -> bool {
        match leak {
            Leak::Netns { inode, .. } => self.netns.contains(inode),
            Leak::Process(p) => {
                self.pids.contains(&p.pid) || p.netns.is_some_and(|n| self.netns.contains(&n))
            }
            Leak::Mount(m) => {
                self.under(Path::new(&m.mount_point))
                    || self.under(Path::new(&m.source))
                    || probe::parse_ns_target(&m.root)
                        .is_some_and(|(_, ino)| self.netns.contains(&ino))
            }
            Leak::Cgroup { path } => path.components().any(|c| {
                self.cgroup_names
                    .iter()
                    .any(|n| c.as_os_str() == n.as_str())
            }),
            Leak::TempEntry { path } => self.under(path),
            Leak::Link { .. } | Leak::NamedNetns { .. } | Leak::NftTable { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty() -> LeakSnapshot {
        LeakSnapshot {
            origin: NsIds {
                net: Some(1),
                mnt: Some(2),
                ..NsIds::default()
            },
            links: ["lo", "eth0"].map(String::from).into(),
            netns: BTreeMap::from([(10, vec!["pid 1".to_owned()])]),
            named_netns: BTreeSet::new(),
            mounts: vec![],
            cgroups: ["/sys/fs/cgroup/pids/a"].map(PathBuf::from).into(),
            nft_tables: Some(BTreeSet::new()),
            processes: vec![],
            temp_dir: PathBuf::from("/tmp"),
            temp_entries: BTreeSet::new(),
        }
    }

    fn mount(mp: &str) -> MountEntry {
        MountEntry {
            mount_point: mp.to_owned(),
            fstype: "tmpfs".to_owned(),
            source: "tmpfs".to_owned(),
            root: "/".to_owned(),
        }
    }

    #[test]
    fn long_command_lines_print_on_one_line() {
        assert_eq!(one_line("sh -c a\nb", 100), "sh -c a; b");
        assert_eq!(one_line("ééé", 2), "éé...");
    }

    #[test]
    fn identical_snapshots_have_no_leaks() -> Result<(), LeakError> {
        let s = empty();
        assert!(LeakSnapshot::diff(&s, &s)?.is_empty());
        Ok(())
    }

    #[test]
    fn new_things_are_reported_and_gone_things_are_not() -> Result<(), LeakError> {
        let before = empty();
        let mut after = empty();
        after.links.remove("eth0");
        after.links.insert("veth0@if3".to_owned());
        after
            .netns
            .insert(11, vec!["mount /run/netns/x".to_owned()]);
        after.named_netns.insert("x".to_owned());
        after.mounts = vec![mount("/a"), mount("/a")];
        after.cgroups.insert("/sys/fs/cgroup/pids/a/b".into());
        after.cgroups.insert("/sys/fs/cgroup/pids/a/b/c".into());
        after.nft_tables = Some(["inet t".to_owned()].into());
        after.temp_entries.insert("/tmp/x".into());
        let leaks = LeakSnapshot::diff(&before, &after)?;
        let text = leaks.to_string();
        assert_eq!(leaks.len(), 8, "{text}");
        assert!(text.contains("ip link del veth0"), "{text}");
        assert!(text.contains("ip netns del x"), "{text}");
        assert!(text.contains("umount /run/netns/x"), "{text}");
        assert!(text.contains("nft delete table inet t"), "{text}");
        assert!(text.contains("cgroup /sys/fs/cgroup/pids/a/b "), "{text}");
        assert!(
            !text.contains("a/b/c"),
            "children of a new cgroup are implied: {text}"
        );
        assert!(
            !text.contains("link eth0"),
            "a link that went away is no leak: {text}"
        );
        Ok(())
    }

    #[test]
    fn stacked_mounts_count() -> Result<(), LeakError> {
        let mut before = empty();
        before.mounts = vec![mount("/a")];
        let mut after = before.clone();
        assert!(LeakSnapshot::diff(&before, &after)?.is_empty());
        after.mounts.push(mount("/a"));
        assert_eq!(LeakSnapshot::diff(&before, &after)?.len(), 1);
        Ok(())
    }

    #[test]
    fn a_reused_pid_is_a_new_process() -> Result<(), LeakError> {
        let p = ProcessEntry {
            pid: 42,
            start_time: 100,
            comm: "sleep".into(),
            exe: Some("/bin/busybox".into()),
            cmdline: "sleep 1000".into(),
            netns: Some(7),
            reasons: vec!["own net ns".into()],
        };
        let mut before = empty();
        before.processes = vec![p.clone()];
        let mut after = empty();
        after.processes = vec![ProcessEntry {
            start_time: 200,
            ..p.clone()
        }];
        let leaks = LeakSnapshot::diff(&before, &after)?;
        assert_eq!(leaks.len(), 1);
        assert!(leaks.to_string().contains("kill 42"));
        after.processes = vec![p];
        assert!(LeakSnapshot::diff(&before, &after)?.is_empty());
        Ok(())
    }

    #[test]
    fn snapshots_from_other_namespaces_do_not_compare() {
        let before = empty();
        let mut after = empty();
        after.origin.net = Some(99);
        assert!(matches!(
            LeakSnapshot::diff(&before, &after),
            Err(LeakError::OriginMismatch { .. })
        ));
    }

    #[test]
    fn scope_keeps_its_own_and_root_netns_changes() -> Result<(), LeakError> {
        let before = empty();
        let mut after = empty();
        after.links.insert("br0".into());
        after.netns.insert(11, vec![]);
        after.netns.insert(12, vec![]);
        after.mounts = vec![mount("/tmp/mine/x"), mount("/tmp/other")];
        after
            .cgroups
            .insert("/sys/fs/cgroup/pids/berth-test-1-0".into());
        after.cgroups.insert("/sys/fs/cgroup/pids/somebody".into());
        let scope = Scope {
            netns: vec![11],
            pids: vec![],
            paths: vec!["/tmp/mine".into()],
            cgroup_names: vec!["berth-test-1-0".into()],
        };
        let leaks = LeakSnapshot::diff(&before, &after)?.within(&scope);
        let text = leaks.to_string();
        assert_eq!(leaks.len(), 4, "{text}");
        assert!(text.contains("br0") && text.contains("net:[11]") && text.contains("/tmp/mine/x"));
        assert!(text.contains("berth-test-1-0") && !text.contains("somebody"));
        Ok(())
    }

    #[test]
    fn snapshot_round_trips_through_json() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("s.json");
        let s = empty();
        s.save(&path)?;
        assert_eq!(LeakSnapshot::load(&path)?, s);
        std::fs::write(&path, "{")?;
        assert!(matches!(
            LeakSnapshot::load(&path),
            Err(LeakError::Json { .. })
        ));
        Ok(())
    }
}
