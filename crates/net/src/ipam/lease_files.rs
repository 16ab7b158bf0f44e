//! [`LeaseFiles`]: IPAM state as one small file per key in a directory, for
//! CNI plugins, which are one process per ADD or DEL.
//!
//! Why not redb here: a plugin process opens the store, makes one commit
//! and exits. redb's open and commit (multi-process mode) cost eight
//! `fdatasync`s per ADD and seven per DEL on this machine kind, ~1 ms each
//! on its virtio disk, more than all the netlink work of an attach. What an
//! ADD really needs is that the lease (address → holder) is on disk before
//! the plugin answers; that is one new small file, one `fdatasync` and one
//! directory `fsync`. Everything else [`super::Ipam`] keeps is rebuilt or
//! tolerated after a crash:
//! - `…/ip/<address>` (the lease): durable when the commit returns;
//! - `…/owner/<container>/<ifname>` (which addresses an attachment holds)
//!   and `…/last/<set>` (the round-robin position): written, not synced. A
//!   crash may lose them; [`super::Ipam::release`] then finds the leases by
//!   scanning them, and a lost position only changes which free address
//!   comes next;
//! - deletions (DEL): not synced. A release lost in a crash leaves a lease
//!   held by a container that is gone, which CNI GC releases; no address is
//!   ever handed out twice.
//!
//! A key is a path under the directory (`ipam/v1/net/ip/10.88.0.5`); a
//! [`Store::update`] holds an exclusive `flock` on `<dir>/.lock`, so
//! transactions are serialisable across threads and processes. Its writes
//! are applied at commit: each put is written to a temporary file and
//! renamed into place (readers see the old value or the new, never half),
//! each delete unlinks. A file cut short by a crash before its commit
//! returned (empty) reads as absent.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use berth_store::{Store, StoreError, Txn};

/// A [`Store`] of IPAM state in a directory, one file per key.
#[derive(Debug)]
pub struct LeaseFiles {
    root: PathBuf,
}

const LOCK: &str = ".lock";
const TMP: &str = ".tmp";

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
        Ok(LeaseFiles { root })
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
        let (dir_key, name_prefix) = match prefix.rfind('/') {
            Some(i) => (&prefix[..=i], &prefix[i + 1..]),
            None => ("", prefix),
        };
        let dir = self.root.join(dir_key.trim_end_matches('/'));
        let mut out = Vec::new();
        self.walk(&dir, dir_key, Some(name_prefix), &mut out)?;
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
            let child = format!("{key}{name}");
            let is_dir = entry.file_type().map_err(io_err("list", dir))?.is_dir();
            if is_dir {
                self.walk(&entry.path(), &format!("{child}/"), None, out)?;
            } else if let Some(v) = self.read(&child)? {
                out.push((child, v));
            }
        }
        Ok(())
    }

    /// Applies a committed transaction's writes; syncs the leases.
    fn apply(&self, writes: BTreeMap<String, Option<Vec<u8>>>) -> Result<(), StoreError> {
        let mut sync_dirs: Vec<PathBuf> = Vec::new();
        for (key, value) in writes {
            let path = self.path(&key)?;
            let Some(value) = value else {
                match fs::remove_file(&path) {
                    Ok(()) => {
                        // An attachment's owner directory goes with its last
                        // entry (else DELs would leave one per container).
                        if let Some(parent) = path.parent().filter(|p| *p != self.root) {
                            let _ = fs::remove_dir(parent);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err("delete", &path)(e)),
                }
                continue;
            };
            let sync = durable(&key);
            let parent = path.parent().unwrap_or(&self.root).to_path_buf();
            self.ensure_dir(&parent, sync, &mut sync_dirs)?;
            let tmp = self.root.join(TMP).join(tmp_name());
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(io_err("write", &tmp))?;
            let written = f.write_all(&value).map_err(io_err("write", &tmp));
            if let Err(e) =
                written.and_then(|()| fs::rename(&tmp, &path).map_err(io_err("rename", &path)))
            {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
            if sync {
                // After the rename, so that one journal commit carries the
                // data, its blocks and the new name together.
                f.sync_data().map_err(io_err("sync", &path))?;
                if !sync_dirs.contains(&parent) {
                    sync_dirs.push(parent);
                }
            }
        }
        for d in sync_dirs {
            File::open(&d)
                .and_then(|f| f.sync_all())
                .map_err(io_err("sync", &d))?;
        }
        Ok(())
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

    fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let mut existed = false;
        self.update(&mut |t| {
            existed = t.delete(key)?;
            Ok(())
        })?;
        Ok(existed)
    }

    fn list_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.scan(prefix)
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let mut swapped = false;
        self.update(&mut |t| {
            swapped = t.get(key)?.as_deref() == expected;
            if swapped {
                match new {
                    Some(v) => t.put(key, v)?,
                    None => {
                        t.delete(key)?;
                    }
                }
            }
            Ok(())
        })?;
        Ok(swapped)
    }

    fn update(
        &self,
        f: &mut dyn FnMut(&mut dyn Txn) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // Held until the writes are applied; closing the file unlocks.
        let _lock = self.lock()?;
        let mut txn = FileTxn {
            store: self,
            writes: BTreeMap::new(),
        };
        f(&mut txn)?;
        let writes = txn.writes;
        self.apply(writes)
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
        assert!(s.delete("a/owner/c1/eth0").expect("delete"));
        assert!(
            !d.path().join("a/owner/c1").exists(),
            "empty owner dir left"
        );
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
    fn bad_keys_and_cut_files_are_handled() {
        let d = tempfile::tempdir().expect("tmp");
        let s = LeaseFiles::open(d.path()).expect("open");
        for k in ["", "a//b", "a/../b", "a/.lock", "/abs"] {
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
