//! [`LeaseFiles`]: IPAM state as one small file per key in a directory, for
//! CNI plugins, which are one process per ADD or DEL.
//!
//! Why not redb here: a plugin process opens the store, makes one commit
//! and exits. redb's open and commit (multi-process mode) cost eight
//! `fdatasync`s per ADD and seven per DEL on this machine kind, ~1 ms each
//! on its virtio disk when it is quiet, more than all the netlink work of
//! an attach. What an ADD really needs is that the lease (address →
//! holder) is on disk before the plugin answers; everything else
//! [`super::Ipam`] keeps is rebuilt or tolerated after a crash:
//! - `…/ip/<address>` (the lease): durable when the commit returns, through
//!   the lease journal (`.journal`, see [`super::journal`]): one in-place
//!   block write and one `fdatasync` that commits no filesystem journal
//!   (a new file's `fsync` does, and waits there for every other writer's
//!   data: 8 ms and more on this shared machine);
//! - `…/owner/<container>/<ifname>` (which addresses an attachment holds;
//!   the file `…/owner/<container>@<ifname>`) and `…/last/<set>` (the
//!   round-robin position): written, not synced, rewritten in place. A
//!   crash may lose them; [`super::Ipam::release`] then finds the leases by
//!   scanning them, and a lost position only changes which free address
//!   comes next;
//! - deletions (DEL): not synced. A release lost in a crash leaves a lease
//!   held by a container that is gone (replayed from the journal after a
//!   reboot), which CNI GC releases; no address is ever handed out twice.
//!
//! A key is a path under the directory (`ipam/v1/net/ip/10.88.0.5`); a
//! [`Store::update`] holds an exclusive `flock` on `<dir>/.lock`, so
//! transactions are serialisable across threads and processes. Its writes
//! are applied at commit: a new key's file is created directly (until its
//! data is in, an empty file reads as absent), an existing one is replaced
//! by renaming a temporary file over it (readers see the old value or the
//! new, never half); each delete unlinks.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread::JoinHandle;

use berth_store::{Store, StoreError, Txn};

use super::journal::{self, Journal};

/// A [`Store`] of IPAM state in a directory, one file per key.
#[derive(Debug)]
pub struct LeaseFiles {
    root: PathBuf,
    /// Sync the journal on a thread started at commit (see
    /// [`LeaseFiles::open_background`]).
    background: bool,
    syncing: Mutex<Vec<JoinHandle<io::Result<()>>>>,
}

const LOCK: &str = ".lock";
const TMP: &str = ".tmp";
const JOURNAL: &str = ".journal";
/// The owner index (`…/owner/<container>/<ifname>`) is one directory of
/// files named `<container>@<ifname>`: a directory per container cost a
/// `mkdir` per ADD and an `rmdir` per DEL, each a filesystem journal
/// operation (0.3-1 ms on this disk when it is busy).
const OWNER: &str = "owner";
const JOIN: char = '@';

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Whether a key must be on disk when its commit returns: the leases.
fn durable(key: &str) -> bool {
    key.rsplit('/').nth(1) == Some("ip")
}

impl LeaseFiles {
    /// The store in `dir` (created if needed).
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let root = dir.as_ref().to_path_buf();
        fs::create_dir_all(root.join(TMP)).map_err(|source| StoreError::Open {
            path: root.clone(),
            source,
        })?;
        Ok(LeaseFiles {
            root,
            background: false,
            syncing: Mutex::new(Vec::new()),
        })
    }

    /// Like [`LeaseFiles::open`], but a commit returns once its leases are
    /// written, with their `fdatasync` running on a thread of its own, so
    /// that the caller's other work (an ADD's netlink requests) overlaps
    /// the wait for the disk. [`LeaseFiles::wait_durable`] must be called
    /// before anyone is told a lease exists. On tmpfs, where the sync costs
    /// nothing, commits sync in line.
    pub fn open_background(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let mut s = Self::open(dir)?;
        s.background = !on_tmpfs(&s.root);
        Ok(s)
    }

    /// Waits for the syncs [`LeaseFiles::open_background`] started: the
    /// leases committed so far are then on disk.
    pub fn wait_durable(&self) -> Result<(), StoreError> {
        let jobs: Vec<_> = self
            .syncing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .collect();
        let journal = self.root.join(JOURNAL);
        for job in jobs {
            match job.join() {
                Ok(r) => r.map_err(io_err("sync", &journal))?,
                Err(_) => {
                    return Err(StoreError::Io {
                        op: "sync",
                        path: journal,
                        source: io::Error::other("sync thread panicked"),
                    })
                }
            }
        }
        Ok(())
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        let ok = !key.is_empty()
            && key
                .split('/')
                .all(|s| !s.is_empty() && !s.starts_with('.') && !s.contains('\0'));
        if !ok {
            return Err(StoreError::BadKey(key.to_string()));
        }
        let segs: Vec<&str> = key.split('/').collect();
        let n = segs.len();
        if n >= 3 && segs[n - 3] == OWNER {
            if segs[n - 2].contains(JOIN) {
                return Err(StoreError::BadKey(key.to_string()));
            }
            let dir = self.root.join(segs[..n - 2].join("/"));
            return Ok(dir.join(format!("{}{JOIN}{}", segs[n - 2], segs[n - 1])));
        }
        Ok(self.root.join(key))
    }

    fn read(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path(key)?;
        match fs::read(&path) {
            Ok(v) if v.is_empty() => Ok(None),
            Ok(v) => Ok(Some(v)),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
                Ok(None)
            }
            Err(e) => Err(io_err("read", &path)(e)),
        }
    }

    /// Every file under `prefix`, in key order.
    fn scan(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let (mut dir_key, mut name_prefix) = match prefix.rfind('/') {
            Some(i) => (prefix[..=i].to_string(), prefix[i + 1..].to_string()),
            None => (String::new(), prefix.to_string()),
        };
        // `…/owner/<container>/` lives in `…/owner` as `<container>@…`.
        if let Some((parent, cid)) = dir_key.trim_end_matches('/').rsplit_once('/') {
            if parent.rsplit('/').next() == Some(OWNER) {
                name_prefix = format!("{cid}{JOIN}{name_prefix}");
                dir_key = format!("{parent}/");
            }
        }
        let dir = self.root.join(dir_key.trim_end_matches('/'));
        let mut out = Vec::new();
        self.walk(&dir, &dir_key, Some(&name_prefix), &mut out)?;
        out.sort();
        Ok(out)
    }

    fn walk(
        &self,
        dir: &Path,
        key: &str,
        name_prefix: Option<&str>,
        out: &mut Vec<(String, Vec<u8>)>,
    ) -> Result<(), StoreError> {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
                return Ok(())
            }
            Err(e) => return Err(io_err("list", dir)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io_err("list", dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') || name_prefix.is_some_and(|p| !name.starts_with(p)) {
                continue;
            }
            let in_owner = key.trim_end_matches('/').rsplit('/').next() == Some(OWNER);
            let child = match name.split_once(JOIN) {
                Some((cid, ifname)) if in_owner => format!("{key}{cid}/{ifname}"),
                _ => format!("{key}{name}"),
            };
            let is_dir = entry.file_type().map_err(io_err("list", dir))?.is_dir();
            if is_dir {
                self.walk(&entry.path(), &format!("{child}/"), None, out)?;
            } else if let Some(v) = self.read(&child)? {
                out.push((child, v));
            }
        }
        Ok(())
    }

    /// Applies a committed transaction's writes to the files, then makes
    /// its leases durable through the journal (one `fdatasync` of blocks
    /// the journal already has). A lease too large for a journal slot is
    /// synced as a file instead. All changes are made before the first
    /// sync: a metadata change made while a journal commit is running
    /// waits for it (ext4).
    fn apply(
        &self,
        journal: &mut Journal,
        writes: BTreeMap<String, Option<Vec<u8>>>,
    ) -> Result<(), StoreError> {
        let mut sync_dirs: Vec<PathBuf> = Vec::new();
        let mut sync_files: Vec<(File, PathBuf)> = Vec::new();
        let mut journaled: Vec<(&str, &[u8])> = Vec::new();
        for (key, value) in &writes {
            let path = self.path(key)?;
            let Some(value) = value else {
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err("delete", &path)(e)),
                }
                continue;
            };
            let by_file = durable(key) && !journal::fits(key, value);
            let parent = path.parent().unwrap_or(&self.root).to_path_buf();
            self.ensure_dir(&parent, by_file, &mut sync_dirs)?;
            let f = self.write_file(&path, value, !durable(key))?;
            if by_file {
                sync_files.push((f, path));
                if !sync_dirs.contains(&parent) {
                    sync_dirs.push(parent);
                }
            } else if durable(key) {
                journaled.push((key, value));
            }
        }
        if !journaled.is_empty() {
            if journal.full_for(journaled.len() as u64) {
                self.checkpoint(journal)?;
            }
            journal
                .write(&journaled)
                .map_err(io_err("write", journal.path()))?;
            self.sync_journal(journal)?;
        }
        sync_all(sync_files, sync_dirs)
    }

    /// `fdatasync`s the journal, here or (background) on a new thread.
    fn sync_journal(&self, journal: &Journal) -> Result<(), StoreError> {
        if self.background {
            if let Ok(f) = journal.file().try_clone() {
                let spawned = std::thread::Builder::new()
                    .name("berth-lease-sync".into())
                    .spawn(move || f.sync_data());
                if let Ok(job) = spawned {
                    self.syncing
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(job);
                    return Ok(());
                }
            }
        }
        journal
            .file()
            .sync_data()
            .map_err(io_err("sync", journal.path()))
    }

    /// Syncs the files the journal's records after its checkpoint name,
    /// then moves the checkpoint: their slots may be reused.
    fn checkpoint(&self, journal: &mut Journal) -> Result<(), StoreError> {
        let mut files = Vec::new();
        let mut dirs: Vec<PathBuf> = Vec::new();
        for r in journal.pending().map_err(io_err("read", journal.path()))? {
            let path = self.path(&r.key)?;
            match File::open(&path) {
                Ok(f) => files.push((f, path.clone())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err("sync", &path)(e)),
            }
            // The directories up to the root: a lease's directories may be
            // as new as the lease.
            let mut d = path.parent();
            while let Some(p) = d.filter(|p| p.starts_with(&self.root)) {
                if !dirs.iter().any(|x| x == p) {
                    dirs.push(p.to_path_buf());
                }
                d = p.parent();
            }
        }
        sync_all(files, dirs)?;
        journal.checkpoint().map_err(io_err("sync", journal.path()))
    }

    /// After a reboot: the journaled leases after the checkpoint are
    /// written again, in order (a file may have lost its data or its
    /// name), synced, and the checkpoint moves past them.
    fn replay(&self, journal: &mut Journal) -> Result<(), StoreError> {
        let records = journal.pending().map_err(io_err("read", journal.path()))?;
        tracing::info!(dir = %self.root.display(), records = records.len(), "replaying the lease journal after a reboot");
        for r in &records {
            let path = self.path(&r.key)?;
            if fs::read(&path).ok().as_deref() == Some(r.value.as_slice()) {
                continue;
            }
            let parent = path.parent().unwrap_or(&self.root).to_path_buf();
            let mut unused = Vec::new();
            self.ensure_dir(&parent, false, &mut unused)?;
            self.write_file(&path, &r.value, false)?;
        }
        self.checkpoint(journal)
    }

    /// Writes `value` as the file `path`: a new file directly (until its
    /// data is in, it reads as absent), an existing one by renaming a
    /// temporary file over it, so a reader sees the old value or the new.
    ///
    /// With `in_place` (keys that are not synced: the owner index, the
    /// round-robin position), an existing file is overwritten in place
    /// instead, padded with spaces to its old length: no new inode and no
    /// rename, each of which can wait for a running filesystem journal
    /// commit. Values are IPAM's JSON, for which trailing spaces are
    /// whitespace; a write of a few dozen bytes at offset 0 lies in one
    /// sector, which the disk writes whole or not at all.
    fn write_file(&self, path: &Path, value: &[u8], in_place: bool) -> Result<File, StoreError> {
        let fresh = OpenOptions::new().write(true).create_new(true).open(path);
        let (target, mut f) = match fresh {
            Ok(f) => (None, f),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && in_place => {
                return self.overwrite(path, value);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let tmp = self.root.join(TMP).join(tmp_name());
                let f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&tmp)
                    .map_err(io_err("write", &tmp))?;
                (Some(tmp), f)
            }
            Err(e) => return Err(io_err("write", path)(e)),
        };
        let written = f.write_all(value).map_err(io_err("write", path));
        let done = match &target {
            None => written,
            Some(tmp) => {
                written.and_then(|()| fs::rename(tmp, path).map_err(io_err("rename", path)))
            }
        };
        if let Err(e) = done {
            let _ = fs::remove_file(target.as_deref().unwrap_or(path));
            return Err(e);
        }
        Ok(f)
    }

    fn overwrite(&self, path: &Path, value: &[u8]) -> Result<File, StoreError> {
        use std::os::unix::fs::FileExt;
        let f = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io_err("write", path))?;
        let old = f.metadata().map_err(io_err("write", path))?.len();
        let mut padded = value.to_vec();
        if let Ok(old) = usize::try_from(old) {
            if old > padded.len() {
                padded.resize(old, b' ');
            }
        }
        f.write_all_at(&padded, 0).map_err(io_err("write", path))?;
        Ok(f)
    }

    /// Creates `dir` and missing ancestors; when `sync`, records the parents
    /// of the ones created, whose new entries must reach the disk too.
    fn ensure_dir(
        &self,
        dir: &Path,
        sync: bool,
        sync_dirs: &mut Vec<PathBuf>,
    ) -> Result<(), StoreError> {
        if dir.is_dir() {
            return Ok(());
        }
        let mut missing = Vec::new();
        let mut d = dir;
        while !d.is_dir() && d != self.root {
            missing.push(d.to_path_buf());
            match d.parent() {
                Some(p) => d = p,
                None => break,
            }
        }
        fs::create_dir_all(dir).map_err(io_err("create", dir))?;
        if sync {
            for m in missing {
                if let Some(p) = m.parent() {
                    if !sync_dirs.iter().any(|s| s == p) {
                        sync_dirs.push(p.to_path_buf());
                    }
                }
            }
        }
        Ok(())
    }

    fn lock(&self) -> Result<File, StoreError> {
        let path = self.root.join(LOCK);
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err("lock", &path))?;
        f.lock().map_err(io_err("lock", &path))?;
        Ok(f)
    }
}

impl Drop for LeaseFiles {
    fn drop(&mut self) {
        if let Err(e) = self.wait_durable() {
            tracing::warn!(error = %e, "syncing the lease journal");
        }
    }
}

/// Whether `dir` is on tmpfs (statfs), where syncing costs nothing.
fn on_tmpfs(dir: &Path) -> bool {
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statfs is plain data; all-zero is a valid value.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: statfs writes one statfs struct into st; c is NUL-terminated.
    let r = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    // f_type is a long with glibc, an unsigned long with musl (the
    // static berth-cni build); the magic fits either way.
    #[allow(clippy::unnecessary_cast)]
    let f_type = st.f_type as i64;
    r == 0 && f_type == TMPFS_MAGIC
}

/// `fdatasync`s `files`, then `fsync`s `dirs`.
fn sync_all(files: Vec<(File, PathBuf)>, dirs: Vec<PathBuf>) -> Result<(), StoreError> {
    for (f, path) in files {
        f.sync_data().map_err(io_err("sync", &path))?;
    }
    for d in dirs {
        File::open(&d)
            .and_then(|f| f.sync_all())
            .map_err(io_err("sync", &d))?;
    }
    Ok(())
}

/// A temporary file name unique to this process and call.
fn tmp_name() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

struct FileTxn<'a> {
    store: &'a LeaseFiles,
    writes: BTreeMap<String, Option<Vec<u8>>>,
}

impl Txn for FileTxn<'_> {
    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self.writes.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.store.read(key),
        }
    }
    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.store.path(key)?;
        self.writes.insert(key.to_string(), Some(value.to_vec()));
        Ok(())
    }
    fn delete(&mut self, key: &str) -> Result<bool, StoreError> {
        let existed = self.get(key)?.is_some();
        self.writes.insert(key.to_string(), None);
        Ok(existed)
    }
    fn list_prefix(&mut self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let mut all: BTreeMap<String, Vec<u8>> = self.store.scan(prefix)?.into_iter().collect();
        for (k, v) in self.writes.range(prefix.to_string()..) {
            if !k.starts_with(prefix) {
                break;
            }
            match v {
                Some(v) => all.insert(k.clone(), v.clone()),
                None => all.remove(k),
            };
        }
        Ok(all.into_iter().collect())
    }
}

impl Store for LeaseFiles {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(key)
    }

    fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.update(&mut |t| t.put(key, value))
    }

    fn list_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.scan(prefix)
    }

    fn update(
        &self,
        f: &mut dyn FnMut(&mut dyn Txn) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // Held until the writes are applied; closing the file unlocks.
        let _lock = self.lock()?;
        let jpath = self.root.join(JOURNAL);
        let mut journal = Journal::open(&jpath).map_err(io_err("open", &jpath))?;
        if journal.needs_replay() {
            self.replay(&mut journal)?;
        }
        let mut txn = FileTxn {
            store: self,
            writes: BTreeMap::new(),
        };
        f(&mut txn)?;
        let writes = txn.writes;
        self.apply(&mut journal, writes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_files_and_transactions_see_their_own_writes() {
        let d = tempfile::tempdir().expect("tmp");
        let s = LeaseFiles::open(d.path()).expect("open");
        s.put("a/ip/10.0.0.2", b"x").expect("put");
        s.put("a/owner/c1/eth0", b"o").expect("put");
        assert_eq!(
            fs::read(d.path().join("a/ip/10.0.0.2")).expect("file"),
            b"x"
        );
        s.update(&mut |t| {
            t.put("a/ip/10.0.0.3", b"y")?;
            assert!(t.delete("a/ip/10.0.0.2")?);
            let keys: Vec<String> = t
                .list_prefix("a/ip/")?
                .into_iter()
                .map(|(k, _)| k)
                .collect();
            assert_eq!(keys, ["a/ip/10.0.0.3"]);
            Ok(())
        })
        .expect("update");
        let all: Vec<String> = s
            .list_prefix("a/")
            .expect("list")
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(all, ["a/ip/10.0.0.3", "a/owner/c1/eth0"]);
        assert!(d.path().join("a/owner/c1@eth0").is_file(), "one owner file");
        s.put("a/owner/c10/eth0", b"p").expect("put");
        let of = |p: &str| -> Vec<String> {
            s.list_prefix(p)
                .expect("list")
                .into_iter()
                .map(|(k, _)| k)
                .collect()
        };
        assert_eq!(of("a/owner/c1/"), ["a/owner/c1/eth0"]);
        assert_eq!(of("a/owner/c1"), ["a/owner/c1/eth0", "a/owner/c10/eth0"]);
        assert!(s.delete("a/owner/c1/eth0").expect("delete"));
        assert_eq!(of("a/owner/c1/"), Vec::<String>::new());
        // A failed transaction writes nothing.
        let r = s.update(&mut |t| {
            t.put("a/ip/10.0.0.4", b"z")?;
            Err(StoreError::Aborted)
        });
        assert!(r.is_err());
        assert_eq!(s.get("a/ip/10.0.0.4").expect("get"), None);
        // Only the lease keys are synced.
        assert!(durable("ipam/v1/n/ip/10.0.0.4") && !durable("ipam/v1/n/owner/c/eth0"));
    }

    #[test]
    fn leases_lost_in_a_power_cut_come_back_from_the_journal() {
        let d = tempfile::tempdir().expect("tmp");
        let s = LeaseFiles::open(d.path()).expect("open");
        s.put("n/ip/10.0.0.2", b"lease-a").expect("put");
        s.put("n/ip/10.0.0.3", b"lease-b").expect("put");
        s.put("n/last/0", b"hint").expect("put");
        // Same boot: the files are the truth, nothing is replayed.
        fs::remove_file(d.path().join("n/ip/10.0.0.3")).expect("rm");
        s.update(&mut |_| Ok(())).expect("update");
        assert_eq!(s.get("n/ip/10.0.0.3").expect("get"), None);
        // A power cut: one lease file lost its data, one its name, and the
        // next boot has another boot id (header bytes 16..52).
        fs::write(d.path().join("n/ip/10.0.0.2"), b"").expect("truncate");
        let j = OpenOptions::new()
            .write(true)
            .open(d.path().join(JOURNAL))
            .expect("journal");
        std::os::unix::fs::FileExt::write_all_at(&j, &[b'x'; 36], 16).expect("boot id");
        s.update(&mut |_| Ok(())).expect("update replays");
        assert_eq!(
            s.get("n/ip/10.0.0.2").expect("get").as_deref(),
            Some(&b"lease-a"[..])
        );
        assert_eq!(
            s.get("n/ip/10.0.0.3").expect("get").as_deref(),
            Some(&b"lease-b"[..])
        );
        // Replayed once: a release in this boot stays released.
        s.delete("n/ip/10.0.0.3").expect("delete");
        s.update(&mut |_| Ok(())).expect("update");
        assert_eq!(s.get("n/ip/10.0.0.3").expect("get"), None);
    }

    #[test]
    fn the_journal_ring_checkpoints_instead_of_overwriting() {
        let d = tempfile::tempdir().expect("tmp");
        let s = LeaseFiles::open(d.path()).expect("open");
        for i in 0..(journal::SLOTS + 5) {
            s.put(&format!("n/ip/{i}"), b"l").expect("put");
        }
        let j = Journal::open(&d.path().join(JOURNAL)).expect("journal");
        let pending = j.pending().expect("pending");
        assert!(
            !pending.is_empty() && (pending.len() as u64) < journal::SLOTS,
            "{} records after the checkpoint",
            pending.len()
        );
        assert_eq!(pending.last().map(|r| r.key.as_str()), Some("n/ip/2052"));
    }

    #[test]
    fn hints_are_rewritten_in_place_and_leases_replaced_whole() {
        use std::os::unix::fs::MetadataExt;
        let d = tempfile::tempdir().expect("tmp");
        let s = LeaseFiles::open(d.path()).expect("open");
        let ino = |k: &str| fs::metadata(d.path().join(k)).expect("meta").ino();
        s.put("n/last/0", br#""10.0.0.10""#).expect("put");
        let before = ino("n/last/0");
        s.put("n/last/0", br#""10.0.0.9""#).expect("put");
        assert_eq!(
            ino("n/last/0"),
            before,
            "the hint was not rewritten in place"
        );
        let v = s.get("n/last/0").expect("get").expect("value");
        assert_eq!(v, br#""10.0.0.9" "#);
        assert_eq!(
            serde_json::from_slice::<String>(&v).expect("still JSON"),
            "10.0.0.9"
        );
        s.put("n/ip/10.0.0.9", b"a").expect("put");
        let before = ino("n/ip/10.0.0.9");
        s.put("n/ip/10.0.0.9", b"b").expect("put");
        assert_ne!(
            ino("n/ip/10.0.0.9"),
            before,
            "a lease is replaced by rename"
        );
    }

    #[test]
    fn background_syncs_are_waited_for() {
        let d = tempfile::tempdir().expect("tmp");
        let s = LeaseFiles::open_background(d.path()).expect("open");
        s.put("n/ip/10.0.0.2", b"a").expect("put");
        s.put("n/ip/10.0.0.3", b"b").expect("put");
        let started = s.syncing.lock().map(|v| v.len()).unwrap_or(0);
        assert_eq!(started, if on_tmpfs(d.path()) { 0 } else { 2 });
        s.wait_durable().expect("durable");
        assert_eq!(s.syncing.lock().map(|v| v.len()).unwrap_or(9), 0);
        assert_eq!(
            s.get("n/ip/10.0.0.3").expect("get").as_deref(),
            Some(&b"b"[..])
        );
    }

    #[test]
    fn bad_keys_and_cut_files_are_handled() {
        let d = tempfile::tempdir().expect("tmp");
        let s = LeaseFiles::open(d.path()).expect("open");
        for k in ["", "a//b", "a/../b", "a/.lock", "/abs", "n/owner/c@1/eth0"] {
            assert!(
                matches!(s.put(k, b"v"), Err(StoreError::BadKey(_))),
                "{k:?}"
            );
        }
        fs::create_dir_all(d.path().join("n/ip")).expect("dir");
        fs::write(d.path().join("n/ip/10.0.0.9"), b"").expect("empty");
        assert_eq!(s.get("n/ip/10.0.0.9").expect("get"), None);
        assert!(s.list_prefix("n/").expect("list").is_empty());
    }
}
