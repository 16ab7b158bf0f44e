//! The embedded backend: one redb file shared by every berth process.
//!
//! redb (4.3+) supports several processes writing one file
//! ([`redb::ConcurrencyMode::MultiWriter`]): each process opens the file, and a
//! write transaction takes a byte-range lock, so concurrent writers from other
//! processes *wait* in `begin_write` rather than fail. Two things are still
//! ours to handle:
//! - creating the file: two processes that both find no file would race to
//!   initialise it, so opening is serialised by an `flock` on a sidecar
//!   `<file>.lock`, held only while opening;
//! - a process that opened the file in redb's default exclusive mode (an older
//!   berth, a debugging tool) makes our open fail with `DatabaseAlreadyOpen`:
//!   we retry with backoff for [`RedbStore::OPEN_TIMEOUT`] and then report
//!   [`StoreError::Busy`].

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use redb::{
    ConcurrencyMode, Database, DatabaseError, ReadableDatabase, ReadableTable, TableDefinition,
    TableError,
};

use crate::{Store, StoreError, Txn};

/// Where berth keeps its store unless told otherwise.
pub const DEFAULT_PATH: &str = "/var/lib/berth/store.redb";

const KV: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");

/// A [`Store`] in one redb file, safe to open from many processes at once.
pub struct RedbStore {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.path)
            .finish()
    }
}

impl RedbStore {
    /// How long [`RedbStore::open`] keeps retrying while another process
    /// holds the file exclusively.
    pub const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

    /// Opens (creating if needed, with its parent directories) the store
    /// file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let open_err = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                fs::create_dir_all(dir).map_err(open_err)?;
            }
        }
        let mut lock_name = path.clone().into_os_string();
        lock_name.push(".lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(PathBuf::from(lock_name))
            .map_err(open_err)?;
        lock.lock().map_err(open_err)?;
        let res = Self::open_locked(&path);
        // Closing the file would release the flock too; unlocking first lets
        // a waiting opener in as soon as we are done, and an unlock error
        // cannot change our outcome, so it is only logged.
        if let Err(e) = File::unlock(&lock) {
            tracing::debug!(error = %e, "unlocking store open lock");
        }
        res
    }

    /// Opens the store file `store.redb` inside `dir`.
    pub fn open_in_dir(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open(dir.as_ref().join("store.redb"))
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open_locked(path: &Path) -> Result<Self, StoreError> {
        let start = Instant::now();
        let mut delay = Duration::from_millis(2);
        loop {
            let res = Database::builder()
                .set_concurrency_mode(ConcurrencyMode::MultiWriter)
                .create(path);
            match res {
                Ok(db) => {
                    let store = RedbStore {
                        db,
                        path: path.to_path_buf(),
                    };
                    // No table set-up here: a write transaction's open_table
                    // creates it, and reads treat a missing table as empty.
                    // A write on every open cost several fsyncs per CNI call.
                    return Ok(store);
                }
                Err(DatabaseError::DatabaseAlreadyOpen) if start.elapsed() < Self::OPEN_TIMEOUT => {
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_millis(100));
                }
                Err(DatabaseError::DatabaseAlreadyOpen) => {
                    return Err(StoreError::Busy {
                        path: path.to_path_buf(),
                        waited_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
                    })
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&redb::ReadOnlyTable<&'static str, &'static [u8]>) -> Result<T, StoreError>,
        empty: T,
    ) -> Result<T, StoreError> {
        let txn = self.db.begin_read()?;
        match txn.open_table(KV) {
            Ok(table) => f(&table),
            Err(TableError::TableDoesNotExist(_)) => Ok(empty),
            Err(e) => Err(e.into()),
        }
    }
}

fn collect_prefix<T: ReadableTable<&'static str, &'static [u8]>>(
    table: &T,
    prefix: &str,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    let mut out = Vec::new();
    for item in table.range(prefix..)? {
        let (k, v) = item?;
        let key = k.value();
        if !key.starts_with(prefix) {
            break;
        }
        out.push((key.to_string(), v.value().to_vec()));
    }
    Ok(out)
}

struct RedbTxn<'a> {
    table: redb::Table<'a, &'static str, &'static [u8]>,
}

impl Txn for RedbTxn<'_> {
    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.table.get(key)?.map(|v| v.value().to_vec()))
    }
    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.table.insert(key, value)?;
        Ok(())
    }
    fn delete(&mut self, key: &str) -> Result<bool, StoreError> {
        Ok(self.table.remove(key)?.is_some())
    }
    fn list_prefix(&mut self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        collect_prefix(&self.table, prefix)
    }
}

impl Store for RedbStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|t| Ok(t.get(key)?.map(|v| v.value().to_vec())), None)
    }

    fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.update(&mut |t| t.put(key, value))
    }

    fn list_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.read(|t| collect_prefix(t, prefix), Vec::new())
    }

    fn update(
        &self,
        f: &mut dyn FnMut(&mut dyn Txn) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // begin_write blocks while another thread or process is writing.
        let wtxn = self.db.begin_write()?;
        {
            let table = wtxn.open_table(KV)?;
            let mut txn = RedbTxn { table };
            if let Err(e) = f(&mut txn) {
                drop(txn);
                wtxn.abort()?;
                return Err(e);
            }
        }
        wtxn.commit()?;
        Ok(())
    }
}
